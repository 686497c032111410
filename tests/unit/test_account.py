"""The mandatory account fields that make a quote rejectable (domain/account.py)."""

import pytest

from domain.account import MandatoryFields, missing_mandatory_fields, rejection_reason


def fields(phone: bool = True, email: bool = True, invoice_email: bool = True) -> MandatoryFields:
    return MandatoryFields(phone=phone, email=email, invoice_email=invoice_email)


def test_nothing_missing_when_all_fields_filled():
    assert missing_mandatory_fields(fields()) == []


def test_no_rejection_reason_when_all_fields_filled():
    assert rejection_reason(fields()) is None


@pytest.mark.parametrize(
    ("empty", "label"),
    [("phone", "phone"), ("email", "e-mail"), ("invoice_email", "invoice e-mail")],
)
def test_a_single_empty_field_is_named_in_staff_words(empty, label):
    assert missing_mandatory_fields(fields(**{empty: False})) == [label]


@pytest.mark.parametrize(
    ("empty", "label"),
    [("phone", "phone"), ("email", "e-mail"), ("invoice_email", "invoice e-mail")],
)
def test_rejection_reason_names_the_single_empty_field(empty, label):
    reason = rejection_reason(fields(**{empty: False}))
    assert reason is not None
    assert f"missing its mandatory {label};" in reason


def test_all_empty_fields_are_listed_in_a_fixed_order():
    assert missing_mandatory_fields(fields(False, False, False)) == [
        "phone",
        "e-mail",
        "invoice e-mail",
    ]


def test_rejection_reason_names_every_empty_field():
    reason = rejection_reason(fields(False, False, False))
    assert reason is not None
    assert "mandatory phone, e-mail, invoice e-mail;" in reason


def test_rejection_reason_leaves_out_filled_fields():
    reason = rejection_reason(fields(phone=True, email=False, invoice_email=False))
    assert reason is not None
    assert "phone" not in reason
    assert "mandatory e-mail, invoice e-mail;" in reason


def test_rejection_reason_tells_staff_what_to_do():
    reason = rejection_reason(fields(phone=False))
    assert reason is not None
    assert "fill it in on the account (`starter.py update-account --phone …`)" in reason
    assert "mark the quote complete again" in reason


def test_rejection_reason_for_several_fields_names_each_option():
    reason = rejection_reason(fields(phone=False, invoice_email=False))
    assert (
        "fill them in on the account (`starter.py update-account --phone … --invoice-email …`)"
    ) in reason


def test_mandatory_fields_carry_no_values_only_flags():
    assert set(MandatoryFields.model_fields) == {"phone", "email", "invoice_email"}
