"""Billing information of a PSA client: every bad field named, values never repeated."""

import pytest

from domain.billing_information import (
    CURRENCIES,
    PAYMENT_TERMS_MAX_DAYS,
    billing_information_problems,
    normalised,
    normalised_tax_id,
    refusal_reason,
)
from tests.records_psa import billing


def test_complete_billing_information_has_no_problems():
    assert billing_information_problems(billing()) == []


def test_everything_empty_names_every_field_once():
    problems = billing_information_problems(
        billing(
            legal_name="",
            street="",
            postal_code="",
            city="",
            country="",
            billing_email="",
            currency="",
            payment_terms_days=None,
            tax_id="",
        )
    )
    fields = [p.split(":")[0] for p in problems]
    assert fields == [
        "legal name",
        "address",
        "address",
        "address",
        "address",
        "billing e-mail",
        "currency",
        "payment terms",
        "tax id",
    ]
    assert "street missing" in problems[1] and "country missing" in problems[2]


def test_the_refusal_lists_each_problem_and_never_the_e_mail():
    info = billing(billing_email="rechnung(at)muster.example", currency="EUT")
    reason = refusal_reason(billing_information_problems(info))
    assert reason.startswith("billing information refused: ")
    assert "billing e-mail: not an e-mail address" in reason
    assert "currency: 'EUT' is not one we invoice in" in reason
    assert "rechnung" not in reason


@pytest.mark.parametrize("email", ["a@b.de", "first.last+tag@sub.example.co.uk"])
def test_plain_e_mail_addresses_pass(email):
    assert billing_information_problems(billing(billing_email=email)) == []


@pytest.mark.parametrize("email", ["no-at.example", "a@b", "a b@c.de", "a@@c.de", "@c.de"])
def test_broken_e_mail_addresses_are_refused(email):
    assert billing_information_problems(billing(billing_email=email)) == [
        "billing e-mail: not an e-mail address"
    ]


@pytest.mark.parametrize("currency", CURRENCIES)
def test_every_listed_iso_4217_currency_passes(currency):
    assert billing_information_problems(billing(currency=currency.lower())) == []


@pytest.mark.parametrize("currency", ["EURO", "XXX", "BTC", "E"])
def test_currencies_outside_the_list_are_refused_and_the_list_is_given(currency):
    (problem,) = billing_information_problems(billing(currency=currency))
    assert problem.startswith("currency:") and "EUR, CHF" in problem


@pytest.mark.parametrize(
    ("days", "ok"),
    [
        (0, True),
        (30, True),
        (PAYMENT_TERMS_MAX_DAYS, True),
        (-1, False),
        (PAYMENT_TERMS_MAX_DAYS + 1, False),
    ],
)
def test_payment_terms_from_zero_to_ninety_days(days, ok):
    assert (billing_information_problems(billing(payment_terms_days=days)) == []) is ok


@pytest.mark.parametrize(
    "tax_id",
    [
        "DE123456789",
        "de 123 456 789",
        "ATU12345678",
        "CHE-123.456.789 MWST",
        "CHE123456789",
        "NL123456789B01",
        "FRXX123456789",
        "GB123456789",
        "SE556677889901",
        "NO123456789MVA",
        "IT12345678901",
        "PL1234567890",
        "BE0123456789",
        "HR12345678901",  # HR: generic shape
    ],
)
def test_vat_numbers_in_their_country_format_pass(tax_id):
    assert billing_information_problems(billing(tax_id=tax_id)) == []


@pytest.mark.parametrize(
    ("tax_id", "words"),
    [
        ("DE12345678", "DE and 9 digits"),
        ("AT12345678", "ATU and 8 digits"),
        ("CHE12345678", "CHE and 9 digits"),
        ("NL123456789", "NL, 9 digits, B and 2 digits"),
        ("SE556677889900", "ending in 01"),
    ],
)
def test_vat_numbers_off_their_country_format_say_the_format(tax_id, words):
    (problem,) = billing_information_problems(billing(tax_id=tax_id))
    assert problem.startswith(f"tax id: not a {tax_id[:2]} VAT number") and words in problem


@pytest.mark.parametrize("tax_id", ["123456789", "D1", "XY1"])
def test_tax_ids_without_a_country_prefix_are_refused(tax_id):
    (problem,) = billing_information_problems(billing(tax_id=tax_id))
    assert problem.startswith("tax id: not a VAT number")


@pytest.mark.parametrize(
    ("country", "postal_code", "ok"),
    [
        ("DE", "20457", True),
        ("DE", "2045", False),
        ("CH", "8001", True),
        ("AT", "10101", False),
        ("NL", "1011 AB", True),
        ("SE", "114 55", True),
        ("PL", "00-950", True),
        ("IE", "D02 X285", True),
        ("GB", "SW1A 1AA", True),
        ("GB", "!", False),
    ],
)
def test_postal_codes_of_known_countries_are_checked(country, postal_code, ok):
    info = billing(country=country, postal_code=postal_code)
    assert (billing_information_problems(info) == []) is ok


def test_an_unknown_country_code_is_refused_without_checking_the_postal_code():
    assert billing_information_problems(billing(country="Germany")) == [
        "address: country must be an ISO 3166 code such as DE, AT or CH"
    ]


def test_normalised_trims_and_upper_cases_codes():
    info = normalised(
        billing(
            legal_name="  Muster   GmbH ", country=" de", currency="eur ", tax_id="de 123.456-789"
        )
    )
    assert (info.legal_name, info.country, info.currency, info.tax_id) == (
        "Muster GmbH",
        "DE",
        "EUR",
        "DE123456789",
    )
    assert normalised_tax_id("CHE-123.456.789 MWST") == "CHE123456789MWST"
