"""The account changes staff make: every bad field named at once with its expected form, an
update that must change something, and the sentence staff read (field names, no values)."""

import pytest

from domain.accounts import (
    AccountCard,
    AccountChanged,
    InvalidFields,
    NewPipeline,
    UpdateAccount,
    change_message,
    checked,
)
from domain.errors import Refused

PIPELINE = dict(
    account_id="NEWCO",
    name="NewCo  GmbH",
    partner_id="P-NORDTEL",
    phone="0049 30 1234567",
    email="info@newco.example",
    invoice_email="rechnung@newco.example",
    project_id="PBX-NEWCO",
    project_name="NewCo Berlin",
    contact_id="C-NEWCO-1",
    contact_name="Nina Neu",
)


def test_a_pipeline_is_stored_in_normalised_form():
    p = checked(NewPipeline(**PIPELINE))
    assert (p.name, p.phone, p.contact_email, p.contact_phone) == (
        "NewCo GmbH",
        "+49 30 1234567",
        "",
        "",
    )


def test_every_bad_field_is_named_at_once():
    with pytest.raises(InvalidFields) as refused:
        checked(
            NewPipeline(
                **{
                    **PIPELINE,
                    "phone": "030 1234567",
                    "invoice_email": "rechnung",
                    "contact_email": "nina@",
                    "contact_phone": "  ",
                }
            )
        )
    assert list(refused.value.problems) == ["phone", "invoice_email", "contact_email"]
    assert str(refused.value).startswith("phone: no country code")
    assert "; invoice e-mail: not an e-mail address" in str(refused.value)


def test_an_update_changes_only_what_is_given_and_must_give_something():
    u = checked(UpdateAccount(account_id="BERGMANN", phone="+49 30 1234567"))
    assert (u.phone, u.email, u.invoice_email, u.name) == ("+49 30 1234567", None, None, None)
    with pytest.raises(Refused, match="nothing to change"):
        checked(UpdateAccount(account_id="BERGMANN"))
    with pytest.raises(InvalidFields, match="invoice e-mail: empty"):
        checked(UpdateAccount(account_id="BERGMANN", invoice_email=" "))  # never emptied


def test_the_answer_names_fields_and_what_is_still_missing():
    done = AccountChanged(
        account_id="BERGMANN",
        partner_id="P-NORDTEL",
        changed=["phone"],
        unchanged=["email"],
        missing=["invoice e-mail"],
    )
    assert change_message("update-account", done) == (
        "account BERGMANN: phone changed (e-mail already so); still missing: invoice e-mail "
        "(quotes are rejected until they are filled in)"
    )
    done = AccountChanged(
        account_id="BERGMANN", partner_id="P-NORDTEL", changed=["phone", "invoice_email"]
    )
    assert change_message("update-account", done) == (
        "account BERGMANN: phone, invoice e-mail changed; the mandatory phone, e-mail and "
        "invoice e-mail are filled in"
    )
    same = AccountChanged(account_id="X", partner_id="P", unchanged=["phone"])
    assert change_message("update-account", same).startswith("account X: nothing changed")


def test_the_card_says_which_mandatory_fields_are_missing():
    card = AccountCard(
        id="BERGMANN",
        name="Bergmann",
        partner_id="P",
        partner_name="Partner",
        phone="",
        email="info@bergmann.example",
        invoice_email="",
    )
    assert card.missing() == ["phone", "invoice e-mail"]
