"""The rules of the human steps on leads (domain/leads/steps.py), as the store asks them with
the rows it read: who acts, claims and their refusals, the owner's answer, changes of owner,
conversion, the opportunity and the service level. Each refusal is worded once, here."""

import pytest

from domain.errors import Refused
from domain.leads import LeadStepRequest
from domain.leads import steps as rules
from domain.leads.steps import LeadFacts, QueueFacts, ReceiverFacts

QUEUE = QueueFacts(queue_id="q", channel_managers=["cm"], claim_cap=2, work_within_minutes=30)


def refusal(check, *args) -> str:
    with pytest.raises(Refused) as r:
        check(*args)
    return str(r.value)


def lead(status: str = "queued", owner: str | None = None, **more) -> LeadFacts:
    partner = owner[0] if owner else None  # A1 is a user of partner A
    return LeadFacts(
        lead_id="L1", queue_id="q", status=status, owner=owner, partner=partner, **more
    )


def receiver(user: str = "A1", account: str | None = "active", status: str = "active"):
    return ReceiverFacts(
        user_id=user,
        partner_id=user[0],
        account_status=account,
        user_partner=user[0],
        user_status=status,
    )


def step(kind: str, actor: str = "A1", **fields) -> LeadStepRequest:
    return LeadStepRequest(queue_id="q", kind=kind, actor=actor, **fields)


# --- who acts ---------------------------------------------------------------------------------


def test_a_channel_manager_acts_for_a_partner_user_and_changes_owners_as_themself():
    assert rules.acting_user(QUEUE, step("claim", lead_id="L1")) == "A1"
    assert rules.acting_user(QUEUE, step("claim", "cm", lead_id="L1", for_user="A1")) == "A1"
    assert rules.acting_user(QUEUE, step("assign", "cm", lead_id="L1", to_user="B1")) == "cm"
    message = "only a channel manager of queue q (cm) does this; A2 is not one"
    assert refusal(rules.acting_user, QUEUE, step("claim", "A2", lead_id="L1", for_user="A1")) == (
        message
    )
    assert refusal(rules.acting_user, QUEUE, step("assign", "A2", lead_id="L1", to_user="B1")) == (
        message
    )


@pytest.mark.parametrize(
    "facts, reason",
    [
        (receiver(), None),
        (receiver(account="inactive"), "partner account A is deactivated"),
        (receiver(account=None), "partner account A is deactivated"),
        (receiver(status="invited"), "A1 has not logged in yet"),
        (receiver(status="inactive"), "A1 is deactivated"),
        (
            ReceiverFacts(user_id="Z1", partner_id="A", account_status="active"),
            "Z1 is not a user of partner A",
        ),
    ],
)
def test_only_an_active_user_who_has_logged_in_receives_leads(facts, reason):
    assert rules.receiver_problem(facts) == reason


# --- claims -----------------------------------------------------------------------------------


def test_a_queued_lead_is_claimed_first_come_first_served():
    assert rules.check_claim(QUEUE, "L1", lead(), receiver(), held=1) == "ok"
    assert rules.check_claim(QUEUE, "L1", lead("owned", "A1"), receiver(), held=1) == "repeat"
    taken = refusal(rules.check_claim, QUEUE, "L1", lead("owned", "B1"), receiver(), 0)
    assert taken == "lead L1 is already claimed by B1 (B)"
    assert "already claimed by nobody" not in taken


@pytest.mark.parametrize(
    "found, who, held, reason",
    [
        (None, receiver(), 0, "there is no lead L1 in queue q"),
        (lead().model_copy(update={"queue_id": "south"}), receiver(), 0, "no lead L1 in queue q"),
        (lead(), receiver(status="invited"), 0, "A1 is not eligible for queue q: A1 has not"),
        (
            lead(),
            receiver(),
            2,
            "partner A is at the claim cap of queue q: 2 open leads of 2; convert one before "
            "claiming more",
        ),
    ],
)
def test_a_claim_is_refused(found, who, held, reason):
    assert reason in refusal(rules.check_claim, QUEUE, "L1", found, who, held)


def test_a_claim_names_the_service_level():
    words = rules.claimed(QUEUE, "L1", "A1", "A", 2)
    assert words.startswith("lead L1 is yours, A1: no other partner can claim it now (A holds 2")
    assert "within 30 minute(s), or it goes back to the queue" in words


# --- the owner's answer -----------------------------------------------------------------------


def test_only_the_owner_answers_and_an_accepted_lead_is_accepted_once():
    assert rules.check_owner_answer(lead("owned", "A1"), "A1", "accept") == "ok"
    assert rules.check_owner_answer(lead("accepted", "A1"), "A1", "accept") == "repeat"
    assert rules.check_owner_answer(lead("accepted", "A1"), "A1", "not-interested") == "ok"
    assert refusal(rules.check_owner_answer, lead("owned", "B1"), "A1", "accept") == (
        "only the owner answers for lead L1: it belongs to B1"
    )
    assert refusal(rules.check_owner_answer, lead(), "A1", "accept") == (
        "only the owner answers for lead L1: it is queued, owned by nobody"
    )


# --- changes of owner -------------------------------------------------------------------------


def test_a_change_of_owner_moves_the_leads_named_and_the_open_leads_of_a_user():
    r = step("reassign", "cm", from_user="A1", lead_ids=["L3", "L4"], to_user="B1")
    moving = rules.leads_to_move(r, ["L1", "L2", "L3"], {"L4": "B1", "L1": "A1"})
    assert moving == ["L3", "L1", "L2"]  # L4 is B1's already
    assign = step("assign", "cm", lead_id="L1", to_user="B1")
    assert rules.leads_to_move(assign, [], {"L1": "B1"}) == []  # a repeat: answered


def test_a_reassignment_with_nothing_to_move_is_refused():
    r = step("reassign", "cm", from_user="A1", to_user="B1")
    assert refusal(rules.leads_to_move, r, [], {}) == "no open leads of A1 to move to B1 in queue q"


def test_a_converted_lead_or_one_gone_elsewhere_keeps_its_owner():
    assert rules.why_not_moved(lead("owned", "A1"), "q") is None
    assert rules.why_not_moved(lead("converted", "A1"), "q") == "converted to an opportunity"
    assert rules.why_not_moved(None, "q") == "not in queue q"


def test_the_answer_to_a_change_of_owner_names_what_did_not_move_and_the_cap():
    r = step("reassign", "cm", from_user="A1", to_user="B1", notify=True)
    message, notes = rules.owners_changed(QUEUE, r, ["L1"], {"L2": "converted"}, "B", 3)
    assert message == "1 lead(s) now belong to B1: L1; notified by e-mail"
    assert notes[0] == "lead L2 unchanged: converted"
    assert "B now holds 3 open leads, above the claim cap of 2" in notes[1]
    assert refusal(rules.owners_changed, QUEUE, r, [], {"L2": "converted"}, "B", 0) == (
        "no lead changed owner: converted"
    )


# --- conversion and the opportunity -----------------------------------------------------------


def test_only_the_owner_converts_and_a_second_conversion_is_a_repeat():
    assert rules.check_conversion(lead("accepted", "A1"), "A1", None) == "ok"
    assert rules.check_conversion(lead("converted", "A1"), "A1", "A1") == "repeat"
    assert refusal(rules.check_conversion, lead("owned", "B1"), "A1", None) == (
        "only the owner converts lead L1: it is owned, owned by B1"
    )
    assert "owned by nobody" in refusal(rules.check_conversion, lead(), "A1", None)


@pytest.mark.parametrize(
    "owner, stage, actor, reason",
    [
        ("A1", "proposal", "A1", None),
        (None, None, "A1", "there is no opportunity OPP-L1"),
        ("A1", "proposal", "B1", "opportunity OPP-L1 belongs to A1"),
        ("A1", "closed-lost", "A1", "is closed-lost; a closed opportunity no longer changes"),
    ],
)
def test_the_owner_updates_the_opportunity_until_it_is_closed(owner, stage, actor, reason):
    if reason is None:
        rules.check_opportunity_update("OPP-L1", owner, stage, actor)
    else:
        assert reason in refusal(rules.check_opportunity_update, "OPP-L1", owner, stage, actor)


# --- the service level ------------------------------------------------------------------------


def test_only_a_lead_untouched_since_its_claim_is_recalled():
    assert rules.recall_due(lead("owned", "A1", claim_id=7), 7)
    assert not rules.recall_due(lead("accepted", "A1", claim_id=7), 7)
    assert not rules.recall_due(lead("owned", "B1", claim_id=8), 7)  # reassigned meanwhile
    assert rules.recalled("L1", "q", 30, True) == (
        "lead L1 went back to queue q: not worked within 30 minute(s)"
    )


# --- the queue's partners ---------------------------------------------------------------------


def test_a_queue_takes_active_partner_accounts_only_and_names_every_other():
    rules.check_members({"A": "active", "B": "active"})
    assert refusal(rules.check_members, {"A": "active", "Z": None, "C": "inactive"}) == (
        "Z is not a partner account; partner account C is deactivated"
    )
    assert str(rules.no_such_queue("south")) == "there is no lead queue south"
