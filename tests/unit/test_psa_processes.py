"""What a client still lacks, campaign progress in words, the ticket life cycle."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.catalogue import ProductKind
from domain.contracts import AssignedService, ContractPart, ContractTerms, PaymentMethod
from domain.errors import Refused
from domain.psa import (
    CampaignProgress,
    OnboardingStage,
    OnboardingStatus,
    contract_needed,
    onboarding_id,
    progress_line,
    what_client_lacks,
)
from domain.service_desk import (
    RecordChangeRequest,
    TicketAction,
    TicketStatus,
    next_ticket_status,
    time_can_be_logged,
)

TERMS = ContractTerms(start_date=date(2026, 1, 1), payment_method=PaymentMethod.BANK_TRANSFER)


def status(**fields) -> OnboardingStatus:
    return OnboardingStatus(
        process_id="client-onboarding-X",
        stage=OnboardingStage.LOADING,
        waiting_for="",
        since=datetime(2026, 1, 1, tzinfo=UTC),
        account_id="X",
        **fields,
    )


def test_a_new_client_lacks_everything():
    assert what_client_lacks(status()) == [
        "billing information",
        "contract terms (payment details, contract period)",
        "a contract with parts for its services",
    ]


def test_without_services_only_billing_information_is_lacking():
    assert what_client_lacks(status(contract_needed=False)) == ["billing information"]
    assert what_client_lacks(status(contract_needed=False, billing_information=True)) == []


def test_a_drafted_contract_lacks_prices_and_the_confirmation():
    parts = [
        ContractPart(sku="Basic", name="Basic", quantity=1, unit_price=None),
        ContractPart(sku="Premium", name="Premium", quantity=1, unit_price=Decimal(1)),
    ]
    assert what_client_lacks(
        status(billing_information=True, terms=TERMS, contract_id="c", parts=parts)
    ) == ["prices for contract parts Basic", "staff confirmation of the contract part prices"]
    assert (
        what_client_lacks(
            status(
                billing_information=True,
                terms=TERMS,
                contract_id="c",
                parts=parts,
                contract_active=True,
            )
        )
        == []
    )


def test_a_contract_is_needed_only_for_recurring_services():
    hardware = AssignedService(sku="WP480G", name="x", kind=ProductKind.CAPEX, quantity=3)
    flat = AssignedService(
        sku="CLASSOUND-FLAT", name="x", kind=ProductKind.CLASSOUND_FLAT, quantity=1
    )
    assert not contract_needed([hardware])
    assert contract_needed([hardware, flat])


def test_one_onboarding_per_client():
    assert onboarding_id("ACME") == "client-onboarding-ACME"


def test_campaign_progress_in_words():
    p = CampaignProgress(total=5000, handled=312, started=300, already_onboarding=12)
    assert progress_line(p) == (
        "312 of 5000 clients handled: 300 onboarding started, 12 already onboarding"
    )
    # clients onboarded meanwhile drop out: when done, the total is what was handled
    assert progress_line(p, done=True).startswith("312 of 312 clients")
    assert progress_line(CampaignProgress(total=2, handled=3)).startswith("3 of 3")


@pytest.mark.parametrize(
    ("current", "operation", "after"),
    [
        (TicketStatus.OPEN, "answer-ticket", TicketStatus.ANSWERED),
        (TicketStatus.RESOLVED, "answer-ticket", TicketStatus.ANSWERED),
        (TicketStatus.ANSWERED, "resolve-ticket", TicketStatus.RESOLVED),
        (TicketStatus.OPEN, "close-ticket", TicketStatus.CLOSED),
        (TicketStatus.RESOLVED, "close-ticket", TicketStatus.CLOSED),
    ],
)
def test_ticket_life_cycle(current, operation, after):
    assert next_ticket_status(7, current, operation) == after


@pytest.mark.parametrize(
    ("current", "operation", "reason"),
    [
        (TicketStatus.CLOSED, "answer-ticket", "ticket 7 is closed"),
        (TicketStatus.CLOSED, "close-ticket", "ticket 7 is closed"),
        (TicketStatus.RESOLVED, "resolve-ticket", "ticket 7 is already resolved"),
    ],
)
def test_ticket_steps_refused(current, operation, reason):
    with pytest.raises(Refused, match=reason):
        next_ticket_status(7, current, operation)


def test_no_time_on_a_closed_ticket():
    time_can_be_logged(7, TicketStatus.RESOLVED)
    with pytest.raises(Refused, match="closed"):
        time_can_be_logged(7, TicketStatus.CLOSED)


def test_an_answer_needs_its_text():
    with pytest.raises(ValidationError, match="an answer needs its text"):
        TicketAction(operation="answer-ticket", ticket_id=1, text="  ")
    TicketAction(operation="close-ticket", ticket_id=1)


def test_record_changes_are_told_apart_by_their_operation():
    r = RecordChangeRequest(
        actor="anna",
        change={"operation": "move-sales-item", "sales_item_id": 3, "account_id": "ACME"},
    )
    assert type(r.change).__name__ == "MoveSalesItem"
    with pytest.raises(ValidationError):
        RecordChangeRequest(actor="anna", change={"operation": "delete-ticket", "ticket_id": 1})
