"""Whom a work list item waits for (the permission of the step that moves it on), oldest
first, and commands that paste into a shell."""

from datetime import UTC, datetime, timedelta

from domain import inbox
from domain.account import MandatoryFields

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NONE = MandatoryFields(phone=False, email=True, invoice_email=False)
ALL = MandatoryFields(phone=True, email=True, invoice_email=True)


def items() -> list[inbox.Item]:
    return [
        inbox.ready_to_confirm("classound-order-DELTA-1", "DELTA", "P-ALPCOM", T0 + timedelta(1)),
        inbox.quote_rejected("change-order-BERGMANN-1", "BERGMANN", T0, "phone missing", NONE),
        inbox.signature_due("renegotiation-1", "K-1", "AVO", T0, T0 + timedelta(days=3)),
        inbox.lead_due_back("lead-queue-fair", "fair", "L-7", "C-NORD-1", T0, T0),
        inbox.lead_due_back("lead-queue-other", "other", "L-8", "C-NORD-1", T0, T0),
        inbox.needs_attention("fast-change-order-ACME-1", "fast-change-order", T0 + timedelta(2)),
        inbox.confirmation_due("fast-change-order-X-1", "order-X-1", "X", "P-N", T0),
    ]


def test_each_item_waits_for_whoever_may_take_its_next_step():
    by_kind = {i.waits: i.roles for i in items()}
    assert by_kind[inbox.Waits.QUOTE_REJECTED] == ["sales_ops"]
    assert by_kind[inbox.Waits.READY_TO_CONFIRM] == ["sales_ops"]
    assert by_kind[inbox.Waits.SIGNATURE_DUE] == ["csc", "customer_care"]
    assert by_kind[inbox.Waits.LEAD_DUE_BACK] == ["channel_manager"]
    assert by_kind[inbox.Waits.NEEDS_ATTENTION] == ["any staff"]
    assert by_kind[inbox.Waits.CONFIRMATION_DUE] == ["sales_ops"]


def test_a_list_is_oldest_first_and_only_what_waits_for_me():
    sales = inbox.waiting_for(items(), ["sales_ops"], [])
    assert [i.process_id for i in sales] == [
        "change-order-BERGMANN-1",
        "fast-change-order-X-1",
        "classound-order-DELTA-1",
        "fast-change-order-ACME-1",
    ]
    # a channel manager sees the leads of their own queues only
    cm = inbox.waiting_for(items(), ["channel_manager"], ["fair"])
    assert [i.process_id for i in cm] == ["lead-queue-fair", "fast-change-order-ACME-1"]
    # an admin sees everything
    assert len(inbox.waiting_for(items(), ["admin"], [])) == len(items())


def test_the_next_command_pastes_into_a_shell():
    fields = inbox.quote_rejected("change-order-X-1", "X", T0, "", NONE)
    assert fields.next == (
        "starter.py update-account --account X --phone PHONE --invoice-email EMAIL, "
        "then starter.py mark-complete change-order-X-1"
    )
    document = inbox.quote_rejected("change-order-X-1", "X", T0, "LOA missing", ALL)
    assert document.next == (
        "starter.py status change-order-X-1 says what is missing, "
        "then starter.py mark-complete change-order-X-1"
    )
    lead = inbox.lead_due_back("lead-queue-q", "q; rm -rf ~", "L-1", "u", T0, T0)
    assert "--queue 'q; rm -rf ~'" in lead.next


def test_an_order_is_due_ten_days_after_its_wait_began_and_listed_a_week_before():
    item = inbox.confirmation_due("fast-change-order-X-1", "order-X-1", "X", "P-N", T0)
    assert item.due == T0 + timedelta(days=10)
    # listed once its expiry is a week away or less: waiting since three days or more
    assert inbox.confirmation_waits_since(T0) == T0 - timedelta(days=3)


def test_a_roles_list_is_for_those_who_hold_it_and_admins():
    assert inbox.role_refusal("ops-ben", "sales_ops", ["sales_ops"]) is None
    assert inbox.role_refusal("admin-ida", "finance", ["admin"]) is None
    assert inbox.role_refusal("ops-ben", None, ["sales_ops"]) is None
    assert inbox.role_refusal("fin-finn", "sales_ops", ["finance"]) == (
        "--role sales_ops: fin-finn does not hold it (holds: finance)"
    )
