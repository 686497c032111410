"""The lead queue's rules for leads arriving: rows of a file, dedupe keys, assignment rules and
round-robin. The rules of the steps on leads are tests/unit/test_lead_steps.py's."""

import json

import pytest
from pydantic import ValidationError

from domain.errors import Refused
from domain.leads import (
    AssignmentRule,
    LeadRouting,
    LeadRow,
    RouteConfig,
    RouterState,
    RoutingPlan,
    RuleInput,
    Turn,
    batches,
    check_rule,
    dedupe_key,
    first_matching_rule,
    next_in_turn,
    parse_lead_file,
    plan_routing,
    with_rule,
)
from domain.partners import PartnerRoster

# Partners A (users A1, A2 active, A3 invited) and B (B1 active); C is deactivated.
ROSTERS = {
    "A": PartnerRoster(
        partner_id="A",
        version=1,
        active=True,
        users={"A1": "active", "A2": "active", "A3": "invited"},
    ),
    "B": PartnerRoster(partner_id="B", version=1, active=True, users={"B1": "active"}),
    "C": PartnerRoster(partner_id="C", version=2, active=False, users={"C1": "inactive"}),
}


def config(
    cap: int = 2, routing: str = "claim", rules: list | None = None, turn: Turn | None = None
) -> RouteConfig:
    return RouteConfig(
        queue_id="q",
        claim_cap=cap,
        routing=routing,
        partners=["A", "B", "C"],
        rules=rules or [],
        turn=turn or Turn(),
    )


def plan(cfg: RouteConfig, arrivals: list, held: dict[str, int] | None = None) -> RoutingPlan:
    return plan_routing(cfg, ROSTERS, held or {}, arrivals)


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
    assert reason in refusal(check_rule, "q", ["cm"], ["A", "B", "C"], [], r)


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
    done = plan(config(cap=10, routing="round-robin"), [lead(f"L{i}") for i in range(1, 7)])
    assert [(o.lead_id, o.user_id) for o in done.owners] == [
        ("L1", "A1"),
        ("L2", "B1"),
        ("L3", "A2"),
        ("L4", "B1"),
        ("L5", "A1"),
        ("L6", "B1"),
    ]
    assert done.turn == Turn(last_partner="B", last_user={"A": "A1", "B": "B1"})
    assert not done.waiting


def test_round_robin_continues_where_it_stopped_and_skips_partners_at_the_cap():
    cfg = config(cap=1, routing="round-robin", turn=Turn(last_partner="A", last_user={"A": "A1"}))
    done = plan(cfg, ["L1", "L2"], held={"B": 1})
    assert [(o.lead_id, o.user_id) for o in done.owners] == [("L1", "A2")]  # B is at its cap
    assert done.waiting == ["L2"]
    assert "1 lead(s) wait in the queue: no partner can take them now" in done.notes[0]


def test_rules_come_first_then_round_robin_and_returned_leads_skip_the_rules():
    rules = [
        AssignmentRule(rule_id=1, country="FR", to_queue="paris"),
        AssignmentRule(rule_id=2, product="Premium", to_partner="B"),
    ]
    done = plan(
        config(cap=10, routing="round-robin", rules=rules),
        [lead("L1", country="FR"), lead("L2"), lead("L3", product="Basic")],
    )
    assert [(f.lead_id, f.to_queue) for f in done.forwards] == [("L1", "paris")]
    back = plan(config(cap=10, routing="round-robin", rules=rules, turn=done.turn), ["L4"])
    assert [(o.lead_id, o.user_id, o.how, o.rule_id) for o in done.owners + back.owners] == [
        ("L2", "B1", "rule", 2),
        ("L3", "A1", "round-robin", None),
        ("L4", "B1", "round-robin", None),
    ]


def test_a_rule_whose_partner_cannot_take_the_lead_falls_back_to_the_queue():
    rules = [AssignmentRule(rule_id=1, country="DE", to_partner="B")]
    done = plan(config(cap=1, rules=rules), [lead("L1")], held={"B": 1})
    assert done.owners == [] and done.waiting == ["L1"]
    assert "partner B cannot take leads now" in done.notes[0]
    assert "wait in the queue to be claimed" in done.notes[0]
    done = plan(config(cap=1, routing="round-robin", rules=rules), [lead("L1")], held={"B": 1})
    assert [(o.user_id, o.how) for o in done.owners] == [("A1", "round-robin")]
    assert "given round-robin instead" in done.notes[0]


def test_in_a_claim_queue_new_leads_wait_to_be_claimed():
    done = plan(config(), [lead("L1"), lead("L2")])
    assert done.owners == [] and done.waiting == ["L1", "L2"] and done.notes == []


# --- the queue's partners and who adds leads --------------------------------------------------


def test_a_channel_manager_adds_partners_not_in_the_queue_yet():
    state = RouterState(
        process_id="lead-queue-q",
        stage="open",
        waiting_for="",
        since="2026-11-23T09:30:00Z",
        queue_id="q",
        name="Q",
        channel_managers=["cm"],
        claim_cap=2,
        routing="claim",
        partners=["A", "B"],
        rosters=ROSTERS,
    )
    assert state.new_partners("cm", ["B", "D", "D"]) == ["D"]
    assert refusal(state.new_partners, "cm", ["A", "B"]) == "A, B already in queue q"
    assert "only a channel manager of queue q" in refusal(state.new_partners, "A1", ["D"])
    state.check_adds_leads("staff")
    assert refusal(state.check_adds_leads, "A1") == (
        "A1 is a partner user; leads are added by the vendor's staff"
    )


def test_a_rule_as_it_is_kept():
    r = RuleInput(actor="cm", country="de", postal_prefix="80", to_partner="A")
    assert r.rule(3) == AssignmentRule(rule_id=3, country="DE", postal_prefix="80", to_partner="A")
