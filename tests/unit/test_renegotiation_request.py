"""What makes a renegotiation request refusable before anything is written."""

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.errors import Refused
from domain.renegotiation import plan_renegotiation
from domain.renegotiation_models import (
    Change,
    ContactFacts,
    ContractFacts,
    RenegotiationFacts,
    RenegotiationRequest,
    Route,
    TicketFacts,
)

TODAY = date(2026, 3, 10)


def request(**changes) -> RenegotiationRequest:
    fields = dict(
        ticket_id=7,
        account_id="ACC",
        contact_id="C-1",
        original_contract_id="K-1",
        licences=12,
        price=Decimal("450"),
        requested_by="kari",
    )
    fields.update(changes)
    return RenegotiationRequest(**fields)


def facts(ticket=None, contact=None, contract=None, **changes) -> RenegotiationFacts:
    return RenegotiationFacts(
        company_found=changes.get("company_found", True),
        partner_id="P-1",
        ticket=TicketFacts(account_id=None, status="open") if ticket is None else ticket,
        contact=ContactFacts(account_id="ACC", can_sign=True, has_email=True, has_phone=True)
        if contact is None
        else contact,
        contract=ContractFacts(
            account_id="ACC",
            status="signed",
            licences=15,
            price=Decimal("500.00"),
            signed_on=date(2024, 5, 2),
            originally_signed_on=date(2023, 5, 2),
        )
        if contract is None
        else contract,
    )


def refusal(req, f) -> str:
    with pytest.raises(Refused) as err:
        plan_renegotiation(req, f, TODAY)
    return str(err.value)


def test_a_reduction_is_planned_with_its_route_and_the_original_signing():
    plan = plan_renegotiation(request(licences=12), facts(), TODAY)
    assert (plan.licences_before, plan.price_before) == (15, Decimal("500.00"))
    assert plan.change is Change.REDUCTION and plan.route is Route.CSC  # 20 %
    assert plan.originally_signed_on == date(2023, 5, 2)  # the first signing of the chain


def test_an_increase_and_a_new_price_only():
    assert plan_renegotiation(request(licences=16), facts(), TODAY).change is Change.INCREASE
    price_only = plan_renegotiation(request(licences=15), facts(), TODAY)
    assert price_only.change is Change.PRICE_ONLY and price_only.route is None


def test_the_ticket_may_already_be_linked_to_the_company():
    linked = facts(ticket=TicketFacts(account_id="ACC", status="open"))
    assert plan_renegotiation(request(), linked, TODAY).licences_before == 15


def test_unknown_company():
    assert refusal(request(), facts(company_found=False)) == "unknown company 'ACC'"


def test_every_problem_is_named_at_once():
    f = RenegotiationFacts(company_found=True, ticket=None, contact=None, contract=None)
    reason = refusal(request(agreed_start=date(2026, 3, 9)), f)
    assert reason == (
        "no ticket 7; no contact C-1; no contract K-1; "
        "the agreed start date 2026-03-09 is in the past"
    )


@pytest.mark.parametrize(
    "ticket, expected",
    [
        (TicketFacts(account_id="OTHER", status="open"), "ticket 7 belongs to company OTHER"),
        (TicketFacts(account_id=None, status="closed"), "ticket 7 is closed"),
        (
            TicketFacts(
                account_id="ACC", status="Sendt kontrakt", renegotiation="renegotiation-ACC-1"
            ),
            "ticket 7 is already being renegotiated in renegotiation-ACC-1",
        ),
    ],
)
def test_ticket_refusals(ticket, expected):
    assert expected in refusal(request(), facts(ticket=ticket))


@pytest.mark.parametrize(
    "contact, expected",
    [
        (
            ContactFacts(account_id="OTHER", can_sign=True, has_email=True, has_phone=True),
            "contact C-1 is not a contact of company ACC",
        ),
        (
            ContactFacts(account_id="ACC", can_sign=False, has_email=True, has_phone=True),
            "contact C-1 has no signing authority (signaturrett)",
        ),
        (
            ContactFacts(account_id="ACC", can_sign=True, has_email=False, has_phone=True),
            "contact C-1 has no e-mail: the contract is sent by e-mail and SMS",
        ),
        (
            ContactFacts(account_id="ACC", can_sign=True, has_email=False, has_phone=False),
            "contact C-1 has no e-mail and no mobile phone",
        ),
    ],
)
def test_contact_refusals(contact, expected):
    assert expected in refusal(request(), facts(contact=contact))


def contract(**changes) -> ContractFacts:
    fields = dict(
        account_id="ACC",
        status="signed",
        licences=15,
        price=Decimal("500"),
        signed_on=date(2024, 5, 2),
        originally_signed_on=date(2024, 5, 2),
    )
    fields.update(changes)
    return ContractFacts(**fields)


@pytest.mark.parametrize(
    "k, expected",
    [
        (contract(account_id="OTHER"), "contract K-1 is not a contract of company ACC"),
        (
            contract(status="superseded", superseded_by="contract-ACC-2"),
            "contract K-1 is superseded by contract-ACC-2; renegotiate that one",
        ),
        (contract(status="sent", signed_on=None), "contract K-1 is sent: only a signed contract"),
        (
            contract(renegotiation="renegotiation-ACC-9"),
            "contract K-1 is already being renegotiated in renegotiation-ACC-9",
        ),
        (
            contract(licences=12, price=Decimal("450.00")),
            "nothing to renegotiate: contract K-1 already has 12 licences at 450.00 NOK",
        ),
    ],
)
def test_contract_refusals(k, expected):
    assert expected in refusal(request(), facts(contract=k))


def test_an_agreed_start_today_or_later_is_fine():
    assert plan_renegotiation(request(agreed_start=TODAY), facts(), TODAY)
    assert "in the past" in refusal(request(agreed_start=date(2026, 3, 9)), facts())


@pytest.mark.parametrize(
    "field, value",
    [
        ("licences", 0),
        ("price", Decimal("0")),
        ("price", Decimal("1.234")),
        ("ticket_id", 0),
        ("requested_by", "kari nordmann"),
    ],
)
def test_request_fields_are_checked_before_anything_is_sent(field, value):
    with pytest.raises(ValidationError):
        request(**{field: value})
