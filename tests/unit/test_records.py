"""What the starter shows of records (domain/records.py, cli/records.py): a lead's card in a
queue's status, its age as people say it, the form of an invoice number."""

from datetime import UTC, datetime, timedelta

import pytest

from cli.leads import show_router
from cli.records import lead_card_words
from client.failures import BAD_INPUT, Failure
from domain.records import lead_age

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "ago, words",
    [
        (timedelta(seconds=30), "0 min"),
        (timedelta(minutes=59), "59 min"),
        (timedelta(hours=1), "1 h"),
        (timedelta(hours=47, minutes=59), "47 h"),
        (timedelta(days=2), "2 d"),
        (timedelta(days=40), "40 d"),
    ],
)
def test_a_leads_age_is_said_as_people_say_it(ago, words):
    assert lead_age(NOW - ago, NOW) == words


def test_a_lead_card_names_company_place_product_and_age():
    card = {
        "company": "Hafenlogistik GmbH",
        "country": "DE",
        "postal_code": "20457",
        "product": "Premium",
        "arrived": (NOW - timedelta(hours=3)).isoformat(),
    }
    assert lead_card_words(card, NOW) == "Hafenlogistik GmbH, DE 20457, Premium, 3 h"
    assert lead_card_words({**card, "country": "", "postal_code": "", "product": ""}, NOW) == (
        "Hafenlogistik GmbH, -, no product, 3 h"
    )
    assert lead_card_words(None, NOW) == ""


def test_the_queue_status_shows_each_leads_card():
    status = {
        "process_id": "lead-queue-fair-2026",
        "stage": "open",
        "since": NOW.isoformat(),
        "waiting_for": "leads, claims and changes",
        "queue_id": "fair-2026",
        "name": "Fair",
        "channel_managers": ["cm-eva"],
        "claim_cap": 5,
        "routing": "claim",
        "lead_cards": {
            "L-1": {
                "company": "Nordlys ApS",
                "country": "DK",
                "postal_code": "1050",
                "product": "Business",
                "arrived": NOW.isoformat(),
                "status": "queued",
            },
            "L-2": {
                "company": "Hafen GmbH",
                "country": "DE",
                "postal_code": "20457",
                "product": "Premium",
                "arrived": NOW.isoformat(),
                "status": "owned",
                "owner": "C-NORD-1",
                "partner": "P-NORDTEL",
            },
        },
    }
    text = show_router(status)
    assert "  lead:        L-1 queued  (Nordlys ApS, DK 1050, Business, " in text
    assert "L-2 owned C-NORD-1 (P-NORDTEL)  (Hafen GmbH" in text


def test_an_invoice_number_has_a_form():
    import starter

    with pytest.raises(Failure) as failure:
        starter.parser().parse_args(["invoice", "RE 1"])
    assert failure.value.code == BAD_INPUT
    assert str(failure.value).startswith("NUMBER: use the number printed on the invoice")
