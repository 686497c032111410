"""Where an arriving lead goes: assignment rules (first match wins: to a partner or to another
queue), then round-robin over the partners that can take it (in a round-robin queue), else it
waits to be claimed."""

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from domain.errors import Refused
from domain.leads.steps import check_channel_manager
from domain.partners import PartnerRoster, eligible_users
from domain.steps import Actor

Routing = Literal["claim", "round-robin"]


class LeadRouting(BaseModel):
    """The non-personal fields that assignment rules match on."""

    lead_id: str
    dedupe_key: str
    country: str = ""
    postal_code: str = ""
    product: str = ""


class AssignmentRule(BaseModel):
    rule_id: int
    country: str | None = None
    postal_prefix: str | None = None
    product: str | None = None
    to_partner: str | None = None
    to_queue: str | None = None

    def matches(self, lead: LeadRouting) -> bool:
        if self.country and lead.country.upper() != self.country.upper():
            return False
        if self.postal_prefix and not lead.postal_code.upper().startswith(
            self.postal_prefix.replace(" ", "").upper()
        ):
            return False
        return not (self.product and lead.product.lower() != self.product.lower())

    def describe(self) -> str:
        when = [
            f"{k.replace('_', ' ')} {v}"
            for k, v in (
                ("country", self.country),
                ("postal_prefix", self.postal_prefix),
                ("product", self.product),
            )
            if v
        ]
        target = f"partner {self.to_partner}" if self.to_partner else f"queue {self.to_queue}"
        return f"rule {self.rule_id}: {' and '.join(when)} -> {target}"


def first_matching_rule(rules: list[AssignmentRule], lead: LeadRouting) -> AssignmentRule | None:
    """Rules are tried in their order; the first that matches wins."""
    return next((r for r in rules if r.matches(lead)), None)


class RuleInput(BaseModel):
    actor: str = Actor
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    postal_prefix: str | None = Field(default=None, min_length=1, max_length=12)
    product: str | None = Field(default=None, min_length=1, max_length=64)
    to_partner: str | None = Field(default=None, min_length=1, max_length=64)
    to_queue: str | None = Field(default=None, min_length=1, max_length=64)
    position: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _shape(self) -> "RuleInput":
        if not (self.country or self.postal_prefix or self.product):
            raise ValueError(
                "a rule matches on at least one of country, postal code prefix, product interest"
            )
        if bool(self.to_partner) == bool(self.to_queue):
            raise ValueError("a rule sends leads to a partner or to a queue (one of them)")
        return self

    def rule(self, rule_id: int) -> AssignmentRule:
        return AssignmentRule(
            rule_id=rule_id,
            country=self.country.upper() if self.country else None,
            postal_prefix=self.postal_prefix,
            product=self.product,
            to_partner=self.to_partner,
            to_queue=self.to_queue,
        )


def check_rule(
    queue_id: str,
    channel_managers: list[str],
    partners: list[str],
    rules: list[AssignmentRule],
    r: RuleInput,
) -> None:
    check_channel_manager(queue_id, channel_managers, r.actor)
    if r.to_partner and r.to_partner not in partners:
        raise Refused(
            f"partner {r.to_partner} is not one of the partners of queue "
            f"{queue_id}; add it to the queue first"
        )
    if r.to_queue == queue_id:
        raise Refused("a rule of this queue cannot send leads to the same queue")
    if r.position is not None and r.position > len(rules) + 1:
        raise Refused(
            f"position {r.position}: the queue has {len(rules)} rule(s), so the "
            f"last position is {len(rules) + 1}"
        )


def with_rule(
    rules: list[AssignmentRule], rule: AssignmentRule, position: int | None
) -> list[AssignmentRule]:
    at = len(rules) if position is None else position - 1
    return [*rules[:at], rule, *rules[at:]]


# --- round-robin ------------------------------------------------------------------------------


class Turn(BaseModel):
    """Where round-robin stands: the partner served last, and per partner its user served
    last."""

    last_partner: str | None = None
    last_user: dict[str, str] = {}


def next_in_turn(order: list[str], last: str | None, can_take: Callable[[str], bool]) -> str | None:
    """The first in `order` after `last` (wrapping round) that `can_take`: everybody gets
    their turn before anybody gets a second one."""
    if not order:
        return None
    start = order.index(last) + 1 if last in order else 0
    for i in range(len(order)):
        candidate = order[(start + i) % len(order)]
        if can_take(candidate):
            return candidate
    return None


class RouteConfig(BaseModel):
    """What routing needs from the queue workflow (the rest the store reads in PostgreSQL)."""

    queue_id: str
    claim_cap: int
    routing: Routing
    partners: list[str]
    rules: list[AssignmentRule]
    turn: Turn


class PlannedOwner(BaseModel):
    lead_id: str
    user_id: str
    partner_id: str
    how: Literal["rule", "round-robin"]
    rule_id: int | None = None


class PlannedForward(BaseModel):
    lead_id: str
    to_queue: str
    rule_id: int


class RoutingPlan(BaseModel):
    owners: list[PlannedOwner] = []
    forwards: list[PlannedForward] = []
    waiting: list[str] = []
    turn: Turn = Turn()
    notes: list[str] = []


class _Planner:
    """One plan in the making: who can take a lead now, and the turns so far."""

    def __init__(
        self, config: RouteConfig, rosters: dict[str, PartnerRoster], held: dict[str, int]
    ) -> None:
        self.config = config
        self.plan = RoutingPlan(turn=config.turn.model_copy(deep=True))
        self.held = {p: held.get(p, 0) for p in config.partners}
        self.users = {
            p: eligible_users(rosters[p]) if p in rosters else [] for p in config.partners
        }
        self.unplaced: dict[int, list[str]] = {}

    def can_take(self, partner: str) -> bool:
        return bool(self.users.get(partner)) and self.held.get(partner, 0) < self.config.claim_cap

    def give(
        self, lead_id: str, partner: str, how: Literal["rule", "round-robin"], rule_id: int | None
    ) -> None:
        turn = self.plan.turn
        user = next_in_turn(self.users[partner], turn.last_user.get(partner), lambda u: True)
        assert user is not None  # can_take: the partner has users
        turn.last_user[partner] = user
        self.held[partner] += 1
        self.plan.owners.append(
            PlannedOwner(
                lead_id=lead_id, user_id=user, partner_id=partner, how=how, rule_id=rule_id
            )
        )

    def by_rule(self, lead_id: str, rule: AssignmentRule) -> bool:
        """True if the rule placed the lead; else it is noted and goes on to round-robin."""
        if rule.to_queue:
            self.plan.forwards.append(
                PlannedForward(lead_id=lead_id, to_queue=rule.to_queue, rule_id=rule.rule_id)
            )
            return True
        partner = rule.to_partner
        if partner and partner in self.config.partners and self.can_take(partner):
            self.give(lead_id, partner, "rule", rule.rule_id)
            return True
        self.unplaced.setdefault(rule.rule_id, []).append(lead_id)
        return False

    def in_turn(self, lead_id: str) -> None:
        if self.config.routing == "round-robin":
            partner = next_in_turn(self.config.partners, self.plan.turn.last_partner, self.can_take)
            if partner is not None:
                self.plan.turn.last_partner = partner
                self.give(lead_id, partner, "round-robin", None)
                return
        self.plan.waiting.append(lead_id)

    def notes(self) -> list[str]:
        round_robin = self.config.routing == "round-robin"
        notes = []
        for rule_id, lead_ids in self.unplaced.items():
            rule = next(r for r in self.config.rules if r.rule_id == rule_id)
            notes.append(
                f"{len(lead_ids)} lead(s) matched rule {rule_id}, but partner {rule.to_partner} "
                "cannot take leads now (no user who has logged in, or at the claim cap): "
                + (
                    "given round-robin instead"
                    if round_robin
                    else "they wait in the queue to be claimed"
                )
            )
        if self.plan.waiting and round_robin:
            notes.append(
                f"{len(self.plan.waiting)} lead(s) wait in the queue: no partner can take "
                "them now (no user who has logged in, or all at the claim cap)"
            )
        return notes


def plan_routing(
    config: RouteConfig,
    rosters: dict[str, PartnerRoster],
    held: dict[str, int],
    arrivals: list[LeadRouting] | list[str],
) -> RoutingPlan:
    """Who gets each arriving lead. New leads (`LeadRouting`) meet the assignment rules
    first: the first rule that matches sends the lead to its partner (to that partner's next
    user in turn) or to its queue. A lead no rule placed, or whose partner cannot take it now
    (no user logged in, or at the claim cap), goes round-robin over the queue's partners in
    a round-robin queue, and otherwise waits to be claimed. Leads coming back (ids) skip the
    rules: they were routed once. `held`: each partner's open leads in the queue."""
    planner = _Planner(config, rosters, held)
    for arrival in arrivals:
        if isinstance(arrival, str):
            planner.in_turn(arrival)
            continue
        rule = first_matching_rule(config.rules, arrival)
        if rule is None or not planner.by_rule(arrival.lead_id, rule):
            planner.in_turn(arrival.lead_id)
    planner.plan.notes = planner.notes()
    return planner.plan
