"""Phone numbers and e-mail addresses of accounts and contacts: the stored form, and a
refusal that says which form is expected without repeating the value."""

import pytest

from domain.contact_details import normalise_email, normalise_name, normalise_phone


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("+49 30 1234567", "+49 30 1234567"),
        ("  +41 44 555 02 00 ", "+41 44 555 02 00"),
        ("+49 (0)30 123-4567", "+49 30 123 4567"),  # the trunk prefix in brackets is dropped
        ("0049 30 1234567", "+49 30 1234567"),  # 00 is the international prefix
        ("+49/30/1234567", "+49 30 1234567"),
        ("+1 (212) 555.0100", "+1 212 555 0100"),
        ("+1234567", "+1234567"),  # 7 digits: the shortest
        ("+123456789012345", "+123456789012345"),  # 15 digits: the longest E.164 allows
    ],
)
def test_international_numbers_are_stored_in_one_form(typed, stored):
    assert normalise_phone(typed) == stored


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "empty"),
        ("030 1234567", "no country code (it must start with + or 00)"),
        ("41 44 5550200", "no country code"),
        ("+49 30 1234567 ext 12", "only digits, spaces and - . / ( ) may follow the +"),
        ("+49 30 12345６7", "only digits"),  # a full-width digit
        ("+", "no digits after the +"),
        ("+0 30 1234567", "a country code never starts with 0"),
        ("+123456", "6 digits; an international number has 7 to 15"),
        ("+1234567890123456", "16 digits; an international number has 7 to 15"),
        ("+49 " + "1" * 40, "longer than 40 characters"),
    ],
)
def test_other_numbers_are_refused_with_the_expected_form(typed, says):
    with pytest.raises(ValueError) as refused:
        normalise_phone(typed)
    message = str(refused.value)
    assert says in message
    assert message.endswith("e.g. +49 30 1234567") or message.endswith("no letters)")
    if len(typed) > 4:
        assert typed.strip() not in message  # never the value itself


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("rechnung@bergmann.example", "rechnung@bergmann.example"),
        ("  Info@Bergmann.EXAMPLE ", "info@bergmann.example"),  # as email-validator normalises
        ("a.b+invoices@sub.company.co.uk", "a.b+invoices@sub.company.co.uk"),
    ],
)
def test_e_mail_addresses_are_stored_normalised(typed, stored):
    assert normalise_email(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "rechnung",
        "rechnung@bergmann",
        "a@@b.example",
        "a b@c.example",
        "a@b.test",
        "müller@bäcker.example",
        "a@-b.example",
        "a@" + "b" * 250 + ".example",
    ],
)
def test_other_e_mail_addresses_are_refused_with_the_expected_form(typed):
    with pytest.raises(ValueError) as refused:
        normalise_email(typed)
    assert str(refused.value).endswith("expected an e-mail address like name@company.example")


def test_names_are_one_printable_line():
    assert normalise_name("  NewCo   GmbH ") == "NewCo GmbH"
    for bad in ("", "X", "a" * 201, "NewCo\x00GmbH"):
        with pytest.raises(ValueError):
            normalise_name(bad)
