"""The portal's language choice and local formats."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from portal.app import parse_amount
from portal.i18n import Words, from_accept_language, language_of


def test_a_user_reads_its_own_language_else_the_wildix_seeds_german_else_english(monkeypatch):
    monkeypatch.delenv("PARTNERFLOW_PORTAL_LANGUAGE", raising=False)
    assert language_of("en") == "en"
    assert language_of(None) == "de"  # the demo's Wildix partners have none: German
    assert language_of("fr") == "en"  # a language the portal does not speak: English
    monkeypatch.setenv("PARTNERFLOW_PORTAL_LANGUAGE", "en")
    assert language_of(None) == "en"


def test_before_login_the_browser_chooses_among_the_portals_languages(monkeypatch):
    monkeypatch.delenv("PARTNERFLOW_PORTAL_LANGUAGE", raising=False)
    assert from_accept_language("fr-CH, de;q=0.8, en;q=0.5") == "de"
    assert from_accept_language("en-US,en;q=0.9") == "en"
    assert from_accept_language("") == "de"


def test_dates_times_and_amounts_in_local_format():
    de, en = Words("de"), Words("en")
    assert (
        de.date(date(2027, 1, 29)) == "29.01.2027" and en.date(date(2027, 1, 29)) == "29 Jan 2027"
    )
    assert de.amount(Decimal("12500.5")) == "12.500,50"
    assert en.amount(Decimal("12500.5")) == "12,500.50"
    # Berlin time: 23:30 UTC on 1 December is 00:30 on 2 December
    assert de.datetime(datetime(2026, 12, 1, 23, 30, tzinfo=UTC)) == "02.12.2026, 00:30:00"


def test_a_missing_translation_shows_english_never_a_key():
    assert Words("de")("Log in") == "Anmelden"
    assert Words("de")("Something new {x}", x=1) == "Something new 1"


@pytest.mark.parametrize(
    "text, language, value",
    [
        ("12.500,50", "de", "12500.50"),
        ("12500", "de", "12500"),
        ("12,500.50", "en", "12500.50"),
        ("12500.5", "en", "12500.5"),
    ],
)
def test_amounts_as_people_type_them(text, language, value):
    assert parse_amount(text, language) == Decimal(value)


@pytest.mark.parametrize("text", ["-5", "1,234", "abc", "1.005"])
def test_amounts_that_are_refused(text):
    with pytest.raises((ValueError, ArithmeticError)):
        parse_amount(text, "en" if text != "1,234" else "de")
