"""The lead queue's rules: leads arriving, dedupe keys, claims and their refusals, changes of
owner, conversion, assignment rules and round-robin."""

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from domain.errors import Refused
from domain.leads import (
    Assignment,
    AssignmentRule,
    Conversion,
    LeadRouting,
    LeadRow,
    LeadSlot,
    MassReassignment,
    OpportunityUpdate,
    QueueState,
    RuleInput,
    Turn,
    batches,
    check_assignment,
    check_claim,
    check_conversion,
    check_rule,
    dedupe_key,
    first_matching_rule,
    next_in_turn,
    opportunity_lead,
    parse_lead_file,
    plan_routing,
    reassignment_selection,
    with_rule,
)
from domain.partners import PartnerRoster

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def queue(cap: int = 2, routing: str = "claim", **leads: LeadSlot) -> QueueState:
    """Partners A (users A1, A2 active, A3 invited) and B (B1 active); C is deactivated."""
    return QueueState(
        process_id="lead-queue-q",
        stage="open",
        waiting_for="",
        since=NOW,
        queue_id="q",
        name="Q",
        channel_managers=["cm"],
        claim_cap=cap,
        routing=routing,
        partners=["A", "B", "C"],
        rosters={
            "A": PartnerRoster(
                partner_id="A",
                version=1,
                active=True,
                users={"A1": "active", "A2": "active", "A3": "invited"},
            ),
            "B": PartnerRoster(partner_id="B", version=1, active=True, users={"B1": "active"}),
            "C": PartnerRoster(partner_id="C", version=2, active=False, users={"C1": "inactive"}),
        },
        leads=dict(leads),
    )


def owned(user: str, partner: str, **more) -> LeadSlot:
    return LeadSlot(
        dedupe_key=f"k-{user}", status="owned", owner=user, partner=partner, how="claim", **more
    )


def free(**more) -> LeadSlot:
    return LeadSlot(dedupe_key="k", **more)


def refusal(check, *args) -> str:
    with pytest.raises(Refused) as r:
        check(*args)
    return str(r.value)


# --- a lead arriving --------------------------------------------------------------------------


def test_a_lead_row_is_normalised():
    row = LeadRow(
        company=" Acme ", email="Jana.Weber@ACME.example", country="de", postal_code="80 331"
    )
    assert (row.company, row.email, row.country, row.postal_code) == (
        "Acme",
        "jana.weber@acme.example",
        "DE",
        "80331",
    )


@pytest.mark.parametrize(
    "fields, problem",
    [
        ({"company": "Acme"}, "an e-mail or a phone number"),
        ({"company": "Acme", "email": "not-an-address"}, "not an e-mail address"),
        ({"company": "Acme", "phone": "1", "country": "DEU"}, "at most 2 characters"),
        ({"company": "Acme", "phone": "1", "country": "D1"}, "two-letter country code"),
        ({"company": "", "phone": "1"}, "at least 1 character"),
    ],
)
def test_a_lead_row_that_cannot_be_followed_up_is_refused(fields, problem):
    with pytest.raises(ValidationError, match=problem):
        LeadRow(**fields)


def test_the_same_person_twice_has_one_dedupe_key():
    a = LeadRow(company="Acme", email="jana@acme.example")
    b = LeadRow(company="Acme GmbH", email="JANA@acme.example", phone="+49 1")
    c = LeadRow(company="Acme", email="otto@acme.example")
    assert dedupe_key(a) == dedupe_key(b) != dedupe_key(c)
    assert len(dedupe_key(a)) == 32 and "jana" not in dedupe_key(a)


def test_without_an_e_mail_the_phone_digits_and_the_company_decide():
    one = LeadRow(company="Acme", phone="+49 (30) 123-45")
    same = LeadRow(company="ACME", phone="+4930 12345")
    other_company = LeadRow(company="Delta", phone="+49 30 12345")
    assert dedupe_key(one) == dedupe_key(same) != dedupe_key(other_company)


def test_leads_from_json_and_csv():
    listed = parse_lead_file(
        "fair.json",
        json.dumps(
            [
                {"company": "Acme", "email": "a@acme.example", "country": "DE"},
                {"company": "Delta", "phone": "+41 44 1", "product": "Premium"},
            ]
        ),
    )
    single = parse_lead_file("one.JSON", json.dumps({"company": "Solo", "phone": "1"}))
    csv = parse_lead_file(
        "fair.csv",
        "company,email,postal_code\nAcme,a@acme.example,80 331\nDelta,d@delta.example,\n",
    )
    assert [r.company for r in listed] == ["Acme", "Delta"]
    assert [r.company for r in single] == ["Solo"]
    assert [(r.company, r.postal_code) for r in csv] == [("Acme", "80331"), ("Delta", "")]


@pytest.mark.parametrize(
    "name, text, problem",
    [
        ("x.json", "[{", "is not JSON"),
        ("x.json", "[1, 2]", "expected a list of leads"),
        ("x.json", "[]", "has no leads"),
        ("x.txt", "company\nAcme", "give a .json or .csv file"),
        ("x.csv", "name,email\nJana,j@x.example", "the first line must name the columns"),
        ("x.json", '[{"company": "A", "phone": "1", "fax": "2"}]', "row 1: unknown field(s) fax"),
        (
            "x.json",
            '[{"company": "A", "phone": "1"}, {"company": "B"}]',
            "row 2 lead: an e-mail or a phone number",
        ),
        ("x.csv", "company,email\nA,a@x.example\nB,broken\n", "row 2 email: not an e-mail address"),
    ],
)
def test_a_bad_file_is_refused_naming_the_row(name, text, problem):
    assert problem in refusal(parse_lead_file, name, text)


def test_many_problems_are_summed_up():
    text = json.dumps([{"company": f"C{i}"} for i in range(12)])
    assert "(and 2 more)" in refusal(parse_lead_file, "x.json", text)


@pytest.mark.parametrize(
    "n, sizes", [(1, [1]), (500, [500]), (501, [500, 1]), (1200, [500, 500, 200])]
)
def test_big_files_go_in_batches_of_500(n, sizes):
    assert [len(b) for b in batches(list(range(n)))] == sizes


# --- claims -----------------------------------------------------------------------------------


def test_a_queued_lead_may_be_claimed_by_an_eligible_user():
    assert check_claim(queue(L1=free()), "A1", "L1") == "ok"


@pytest.mark.parametrize(
    "user, lead, reason",
    [
        ("A1", "L9", "there is no lead L9 in queue q"),
        ("Z1", "L1", "Z1 is not eligible for queue q: Z1 is not a user of any partner"),
        ("A3", "L1", "A3 is not eligible for queue q: A3 has not logged in yet"),
        ("C1", "L1", "C1 is not eligible for queue q: partner account C is deactivated"),
    ],
)
def test_a_claim_by_someone_not_eligible_is_refused(user, lead, reason):
    assert reason in refusal(check_claim, queue(L1=free()), user, lead)


def test_once_claimed_no_other_partner_can_claim_it():
    q = queue(
        L1=owned("B1", "B"),
        L2=owned("B1", "B", opportunity_id="OPP-L2").model_copy(update={"status": "converted"}),
    )
    assert refusal(check_claim, q, "A1", "L1") == "lead L1 is already claimed by B1 (B)"
    assert "and converted to opportunity OPP-L2" in refusal(check_claim, q, "A1", "L2")
    assert check_claim(q, "B1", "L1") == "repeat"


def test_a_lead_moved_by_a_rule_or_being_assigned_cannot_be_claimed():
    q = queue(L1=free(status="forwarded", forwarded_to="south"), L2=free(busy="route-1"))
    assert "was moved to queue south" in refusal(check_claim, q, "A1", "L1")
    assert "being assigned right now" in refusal(check_claim, q, "A1", "L2")


def test_the_claim_cap_counts_the_partners_open_leads_in_the_queue():
    below = queue(
        cap=2,
        L1=owned("A2", "A"),
        L2=owned("B1", "B"),
        L3=free(),
        L4=owned("A1", "A").model_copy(update={"status": "converted"}),
    )
    assert check_claim(below, "A1", "L3") == "ok"  # A holds 1 of 2 (converted ones not)
    at_cap = queue(cap=2, L1=owned("A2", "A"), L2=owned("A1", "A"), L3=free())
    assert refusal(check_claim, at_cap, "A1", "L3") == (
        "partner A is at the claim cap of queue q: 2 open leads of 2; convert one before "
        "claiming more"
    )


# --- changes of owner -------------------------------------------------------------------------


def assign(lead: str, to: str, actor: str = "cm") -> Assignment:
    return Assignment(actor=actor, lead_id=lead, to_user=to)


def test_a_channel_manager_changes_the_owner_to_an_eligible_user():
    q = queue(L1=owned("A1", "A"), L2=free())
    assert check_assignment(q, assign("L1", "B1")) == "ok"
    assert check_assignment(q, assign("L2", "A2")) == "ok"
    assert check_assignment(q, assign("L1", "A1")) == "repeat"


@pytest.mark.parametrize(
    "a, reason",
    [
        (assign("L1", "B1", actor="A1"), "only a channel manager of queue q (cm)"),
        (assign("L1", "A3"), "A3 cannot receive leads: A3 has not logged in yet"),
        (assign("L1", "Z1"), "Z1 cannot receive leads of queue q"),
        (assign("L2", "B1"), "L2 is converted to opportunity OPP-L2"),
        (assign("L3", "B1"), "being changed right now"),
    ],
)
def test_a_change_of_owner_is_refused(a, reason):
    q = queue(
        L1=owned("A1", "A"),
        L2=owned("A1", "A", opportunity_id="OPP-L2").model_copy(update={"status": "converted"}),
        L3=owned("A1", "A", busy="claim-L3-v1"),
    )
    assert reason in refusal(check_assignment, q, a)


def test_mass_reassignment_takes_the_open_leads_of_a_user_and_the_leads_named():
    q = queue(
        L1=owned("A1", "A"),
        L2=owned("A1", "A"),
        L3=free(),
        L4=owned("B1", "B"),
        L5=owned("A1", "A").model_copy(update={"status": "converted"}),
    )
    chosen = reassignment_selection(
        q, MassReassignment(actor="cm", from_user="A1", lead_ids=["L3", "L4"], to_user="B1")
    )
    assert chosen == ["L3", "L1", "L2"]  # L4 is B1's already, L5 is converted


@pytest.mark.parametrize(
    "r, reason",
    [
        (MassReassignment(actor="cm", to_user="B1"), "name the leads to reassign"),
        (MassReassignment(actor="cm", from_user="B1", to_user="A1"), "no open leads of B1"),
        (MassReassignment(actor="cm", lead_ids=["L5"], to_user="B1"), "is converted"),
        (MassReassignment(actor="cm", lead_ids=["L6"], to_user="B1"), "being changed right now"),
        (MassReassignment(actor="B1", from_user="A1", to_user="B1"), "only a channel manager"),
    ],
)
def test_mass_reassignment_refusals(r, reason):
    q = queue(
        L1=owned("A1", "A"),
        L5=owned("A1", "A", opportunity_id="OPP-L5").model_copy(update={"status": "converted"}),
        L6=owned("A1", "A", busy="claim"),
    )
    assert reason in refusal(reassignment_selection, q, r)


# --- conversion and the opportunity -----------------------------------------------------------


def test_only_the_owner_converts_and_a_second_conversion_is_a_repeat():
    q = queue(
        L1=owned("A1", "A"),
        L2=free(),
        L3=owned("A1", "A", opportunity_id="OPP-L3").model_copy(update={"status": "converted"}),
    )
    assert check_conversion(q, Conversion(actor="A1", lead_id="L1")) == "ok"
    assert check_conversion(q, Conversion(actor="A1", lead_id="L3")) == "repeat"
    assert "it belongs to A1" in refusal(check_conversion, q, Conversion(actor="A2", lead_id="L1"))
    assert "nobody has claimed it yet" in refusal(
        check_conversion, q, Conversion(actor="A1", lead_id="L2")
    )


def test_the_owner_updates_the_opportunity_until_it_is_closed():
    open_ = owned("A1", "A", opportunity_id="OPP-L1", opportunity_stage="proposal")
    closed = owned("A1", "A", opportunity_id="OPP-L2", opportunity_stage="closed-lost")
    q = queue(
        L1=open_.model_copy(update={"status": "converted"}),
        L2=closed.model_copy(update={"status": "converted"}),
    )
    assert (
        opportunity_lead(
            q, OpportunityUpdate(actor="A1", opportunity_id="OPP-L1", stage="negotiation")
        )
        == "L1"
    )
    assert "belongs to A1" in refusal(
        opportunity_lead,
        q,
        OpportunityUpdate(actor="B1", opportunity_id="OPP-L1", stage="negotiation"),
    )
    assert "is closed-lost" in refusal(
        opportunity_lead, q, OpportunityUpdate(actor="A1", opportunity_id="OPP-L2", amount=1)
    )
    assert "no opportunity OPP-L9" in refusal(
        opportunity_lead, q, OpportunityUpdate(actor="A1", opportunity_id="OPP-L9", amount=1)
    )


def test_an_opportunity_update_changes_something():
    with pytest.raises(ValidationError, match="at least one of stage, amount, close date"):
        OpportunityUpdate(actor="A1", opportunity_id="OPP-L1")


# --- assignment rules -------------------------------------------------------------------------


def lead(
    lead_id: str = "L1", country: str = "DE", postal: str = "80331", product: str = "Premium"
) -> LeadRouting:
    return LeadRouting(
        lead_id=lead_id,
        dedupe_key=f"k{lead_id}",
        country=country,
        postal_code=postal,
        product=product,
    )


@pytest.mark.parametrize(
    "rule, matches",
    [
        (AssignmentRule(rule_id=1, country="de", to_partner="A"), True),
        (AssignmentRule(rule_id=1, country="FR", to_partner="A"), False),
        (AssignmentRule(rule_id=1, postal_prefix="80 3", to_partner="A"), True),
        (AssignmentRule(rule_id=1, postal_prefix="81", to_partner="A"), False),
        (AssignmentRule(rule_id=1, product="premium", to_partner="A"), True),
        (AssignmentRule(rule_id=1, country="DE", product="Basic", to_partner="A"), False),
        (
            AssignmentRule(
                rule_id=1, country="DE", postal_prefix="80", product="Premium", to_queue="south"
            ),
            True,
        ),
    ],
)
def test_a_rule_matches_when_every_field_it_names_matches(rule, matches):
    assert rule.matches(lead()) is matches


def test_the_first_matching_rule_wins():
    broad = AssignmentRule(rule_id=1, country="DE", to_queue="germany")
    narrow = AssignmentRule(rule_id=2, postal_prefix="80", to_partner="A")
    assert first_matching_rule([broad, narrow], lead()) is broad
    assert first_matching_rule([narrow, broad], lead()) is narrow
    assert first_matching_rule([narrow], lead(postal="10115")) is None


def test_a_rule_is_inserted_at_its_position():
    r1, r2, r3 = (AssignmentRule(rule_id=i, country="DE", to_partner="A") for i in (1, 2, 3))
    assert [r.rule_id for r in with_rule([r1, r2], r3, None)] == [1, 2, 3]
    assert [r.rule_id for r in with_rule([r1, r2], r3, 1)] == [3, 1, 2]
    assert [r.rule_id for r in with_rule([r1, r2], r3, 3)] == [1, 2, 3]


@pytest.mark.parametrize(
    "fields, problem",
    [
        ({"to_partner": "A"}, "at least one of country, postal code prefix, product"),
        ({"country": "DE"}, "to a partner or to a queue"),
        ({"country": "DE", "to_partner": "A", "to_queue": "q2"}, "to a partner or to a queue"),
    ],
)
def test_a_rule_names_what_it_matches_and_one_target(fields, problem):
    with pytest.raises(ValidationError, match=problem):
        RuleInput(actor="cm", **fields)


@pytest.mark.parametrize(
    "r, reason",
    [
        (RuleInput(actor="A1", country="DE", to_partner="A"), "only a channel manager"),
        (RuleInput(actor="cm", country="DE", to_partner="Z"), "partner Z is not one of"),
        (RuleInput(actor="cm", country="DE", to_queue="q"), "cannot send leads to the same queue"),
        (RuleInput(actor="cm", country="DE", to_partner="A", position=2), "the last position is 1"),
    ],
)
def test_a_rule_is_refused(r, reason):
    assert reason in refusal(check_rule, queue(), r)


# --- round-robin ------------------------------------------------------------------------------


def test_next_in_turn_starts_after_the_last_and_wraps_round():
    order = ["A", "B", "C"]
    assert next_in_turn(order, None, lambda x: True) == "A"
    assert next_in_turn(order, "A", lambda x: True) == "B"
    assert next_in_turn(order, "C", lambda x: True) == "A"
    assert next_in_turn(order, "A", lambda x: x != "B") == "C"
    assert next_in_turn(order, "B", lambda x: x == "B") == "B"  # only B can: B again
    assert next_in_turn(order, "Z", lambda x: True) == "A"
    assert next_in_turn(order, "A", lambda x: False) is None
    assert next_in_turn([], None, lambda x: True) is None


def test_round_robin_gives_partners_their_turn_then_their_users_theirs():
    q = queue(cap=10, routing="round-robin")
    plan = plan_routing(q, [lead(f"L{i}") for i in range(1, 7)])
    assert [(o.lead_id, o.user_id) for o in plan.owners] == [
        ("L1", "A1"),
        ("L2", "B1"),
        ("L3", "A2"),
        ("L4", "B1"),
        ("L5", "A1"),
        ("L6", "B1"),
    ]
    assert plan.turn == Turn(last_partner="B", last_user={"A": "A1", "B": "B1"})
    assert not plan.waiting


def test_round_robin_continues_where_it_stopped_and_skips_partners_at_the_cap():
    q = queue(cap=1, routing="round-robin", L0=owned("B1", "B"))
    q.turn = Turn(last_partner="A", last_user={"A": "A1"})
    plan = plan_routing(q, ["L1", "L2"])
    assert [(o.lead_id, o.user_id) for o in plan.owners] == [("L1", "A2")]  # B is at its cap
    assert plan.waiting == ["L2"]
    assert "1 lead(s) wait in the queue: no partner can take them now" in plan.notes[0]


def test_rules_come_first_then_round_robin_and_returned_leads_skip_the_rules():
    q = queue(cap=10, routing="round-robin")
    q.rules = [
        AssignmentRule(rule_id=1, country="FR", to_queue="paris"),
        AssignmentRule(rule_id=2, product="Premium", to_partner="B"),
    ]
    plan = plan_routing(
        q, [lead("L1", country="FR"), lead("L2"), lead("L3", product="Basic"), "L4"]
    )
    assert [(f.lead_id, f.to_queue) for f in plan.forwards] == [("L1", "paris")]
    assert [(o.lead_id, o.user_id, o.how, o.rule_id) for o in plan.owners] == [
        ("L2", "B1", "rule", 2),
        ("L3", "A1", "round-robin", None),
        ("L4", "B1", "round-robin", None),
    ]


def test_a_rule_whose_partner_cannot_take_the_lead_falls_back_to_the_queue():
    claim_q = queue(cap=1, L0=owned("B1", "B"))
    claim_q.rules = [AssignmentRule(rule_id=1, country="DE", to_partner="B")]
    plan = plan_routing(claim_q, [lead("L1")])
    assert plan.owners == [] and plan.waiting == ["L1"]
    assert "partner B cannot take leads now" in plan.notes[0]
    assert "wait in the queue to be claimed" in plan.notes[0]
    rr_q = claim_q.model_copy(update={"routing": "round-robin"})
    plan = plan_routing(rr_q, [lead("L1")])
    assert [(o.user_id, o.how) for o in plan.owners] == [("A1", "round-robin")]
    assert "given round-robin instead" in plan.notes[0]


def test_in_a_claim_queue_new_leads_wait_to_be_claimed():
    plan = plan_routing(queue(), [lead("L1"), lead("L2")])
    assert plan.owners == [] and plan.waiting == ["L1", "L2"] and plan.notes == []
