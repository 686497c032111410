"""Partner leads in a lead queue (SPEC §5; seed 003 "Se og opdatere dine leads", seed 004
"Affectation de prospects à des partenaires"). Pure rules and the models of the queue process.

Lead data (names, e-mails, phones) is personal data: it lives in PostgreSQL rows only. The
workflow knows a lead by its id, a dedupe key (a hash) and the non-personal routing fields
(country, postal code, product interest); `LeadRow` never crosses into Temporal."""

import csv
import hashlib
import io
import json
import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from domain.errors import Refused
from domain.partners import PartnerRoster, eligible_users, lead_refusal
from domain.steps import Actor, StepAnswer, StepKey

__all__ = ["StepAnswer", "StepKey"]  # re-exported for callers

Id = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")


class LeadKind(StrEnum):
    LEAD_QUEUE = "lead-queue"


class QueueStage(StrEnum):
    VALIDATING = "validating"
    REFUSED = "refused"
    OPEN = "open"


QUEUE_FINAL = frozenset({QueueStage.REFUSED})

# The error type of a step that reached a queue while it continues as new: not a refusal,
# the sender sends the step again (it reaches the next run).
ROLLING_OVER = "QueueRollingOver"

Routing = Literal["claim", "round-robin"]
LeadStatus = Literal["queued", "owned", "accepted", "converted", "forwarded"]
How = Literal["claim", "assignment", "rule", "round-robin"]

MAX_LEADS_PER_BATCH = 500  # the starter splits bigger files; keeps each payload small
# Issue 13 (queues of the LeadQueueRouter design): a file is checked whole before anything
# is sent, and refused whole beyond these limits; it then travels in batches of 5,000 (one
# step each, resumable).
MAX_LEADS_PER_FILE = 100_000
MAX_LEAD_FILE_BYTES = 64 * 1024 * 1024
IMPORT_BATCH = 5_000
MAX_WORK_WITHIN_MINUTES = 30 * 24 * 60
DEFAULT_CLAIM_CAP = 10

OPPORTUNITY_STAGES = (
    "prospecting",
    "qualification",
    "proposal",
    "negotiation",
    "closed-won",
    "closed-lost",
)
OpportunityStage = Literal[
    "prospecting", "qualification", "proposal", "negotiation", "closed-won", "closed-lost"
]
CLOSED = ("closed-won", "closed-lost")


def queue_process_id(queue_id: str) -> str:
    return f"{LeadKind.LEAD_QUEUE.value}-{queue_id}"


def opportunity_id(lead_id: str) -> str:
    return f"OPP-{lead_id}"


# --- a lead as it arrives: personal data, PostgreSQL only -------------------------------------

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FIELDS = ("company", "name", "email", "phone", "country", "postal_code", "product", "source")


class LeadRow(BaseModel):
    company: str = Field(min_length=1, max_length=200)
    name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254)
    phone: str = Field(default="", max_length=40)
    country: str = Field(default="", max_length=2)
    postal_code: str = Field(default="", max_length=12)
    product: str = Field(default="", max_length=64)
    source: str = Field(default="", max_length=100)

    @field_validator("*", mode="before")
    @classmethod
    def _strip(cls, v):
        return v.strip() if isinstance(v, str) else ("" if v is None else v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if v and not EMAIL.match(v):
            raise ValueError("not an e-mail address")
        return v.lower()

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        if v and not re.fullmatch(r"[A-Za-z]{2}", v):
            raise ValueError("a two-letter country code (DE, FR, DK)")
        return v.upper()

    @field_validator("postal_code")
    @classmethod
    def _postal(cls, v: str) -> str:
        return v.replace(" ", "").upper()

    @model_validator(mode="after")
    def _reachable(self) -> "LeadRow":
        if not self.email and not self.phone:
            raise ValueError("an e-mail or a phone number is needed to follow the lead up")
        return self


def dedupe_key(row: LeadRow) -> str:
    """The same person twice is one lead: the e-mail decides, else the phone digits with the
    company. Hashed, so that the key can live in workflow state without being personal data."""
    if row.email:
        identity = f"email:{row.email.lower()}"
    else:
        digits = re.sub(r"\D", "", row.phone)
        identity = f"phone:{digits}:{row.company.lower()}"
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def parse_lead_file(name: str, text: str) -> list[LeadRow]:
    """Leads from a .json file (a list of objects) or a .csv file (a header line naming the
    fields). Every problem is named with its row; nothing is accepted from a bad file."""
    if name.lower().endswith(".json"):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise Refused(f"{name} is not JSON: {e}") from None
        if isinstance(raw, dict):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
            raise Refused(
                f"{name}: expected a list of leads, e.g. "
                '[{"company": "Acme", "email": "x@acme.example", "country": "DE"}]'
            )
    elif name.lower().endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "company" not in reader.fieldnames:
            raise Refused(
                f"{name}: the first line must name the columns, with at least "
                f"company; known columns: {', '.join(FIELDS)}"
            )
        raw = list(reader)
    else:
        raise Refused(f"{name}: give a .json or .csv file")
    if not raw:
        raise Refused(f"{name} has no leads")
    rows, problems = [], []
    for n, item in enumerate(raw, 1):
        unknown = sorted(k for k in item if k not in FIELDS and k is not None)
        if unknown:
            problems.append(f"row {n}: unknown field(s) {', '.join(unknown)}")
            continue
        try:
            rows.append(LeadRow(**{k: v for k, v in item.items() if k in FIELDS}))
        except ValidationError as e:
            for err in e.errors():
                where = ".".join(str(x) for x in err["loc"]) or "lead"
                problems.append(f"row {n} {where}: {err['msg'].removeprefix('Value error, ')}")
    if problems:
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise Refused(f"{name}: {shown}{more}")
    return rows


def batches(rows: list, size: int = MAX_LEADS_PER_BATCH) -> list[list]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


# --- what the workflow knows of a lead --------------------------------------------------------


class LeadBatchRef(BaseModel):
    """A file of leads kept outside Temporal (store/leads.py): what travels instead."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0)
    leads: int = Field(gt=0, le=IMPORT_BATCH)


class LeadRouting(BaseModel):
    """The non-personal fields that assignment rules match on."""

    lead_id: str
    dedupe_key: str
    country: str = ""
    postal_code: str = ""
    product: str = ""


class LeadSlot(BaseModel):
    dedupe_key: str
    status: LeadStatus = "queued"
    owner: str | None = None  # a partner user
    partner: str | None = None
    how: How | None = None
    busy: str | None = None  # a step writing this lead right now (its step key)
    version: int = 0  # ownership changes so far; numbers the step keys
    opportunity_id: str | None = None
    opportunity_stage: OpportunityStage | None = None
    forwarded_to: str | None = None


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
    """Rules are tried in their order; the first that matches wins (seed 004)."""
    return next((r for r in rules if r.matches(lead)), None)


class Turn(BaseModel):
    """Where round-robin stands: the partner served last, and per partner its user served
    last."""

    last_partner: str | None = None
    last_user: dict[str, str] = {}


def next_in_turn(order: list[str], last: str | None, can_take) -> str | None:
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


# --- the queue process ------------------------------------------------------------------------


class QueueState(BaseModel):
    """The workflow's whole state, carried across continue-as-new: ids, owners, keys."""

    process_id: str
    kind: LeadKind = LeadKind.LEAD_QUEUE
    stage: QueueStage
    waiting_for: str
    since: datetime
    revision: int = 0
    account_id: str | None = None
    partner_id: str | None = None
    queue_id: str
    name: str
    channel_managers: list[str]
    claim_cap: int
    routing: Routing
    partners: list[str] = []  # in the order they joined: round-robin turns follow it
    rosters: dict[str, PartnerRoster] = {}
    rules: list[AssignmentRule] = []
    leads: dict[str, LeadSlot] = {}
    dedupe: dict[str, str] = {}  # dedupe key -> lead id
    turn: Turn = Turn()
    to_route: list[str] = []  # leads back in the queue, waiting for round-robin
    counters: dict[str, int] = {}  # numbers the step keys, across continue-as-new
    runs: int = 1
    notes: list[str] = []

    def count(self, status: LeadStatus) -> int:
        return sum(1 for s in self.leads.values() if s.status == status)

    def roster_of(self, user_id: str) -> PartnerRoster | None:
        return next((r for r in self.rosters.values() if user_id in r.users), None)

    def open_leads(self, partner_id: str) -> int:
        """What the claim cap counts: leads a partner holds in this queue, not yet converted
        (claimed, assigned, or being written)."""
        return sum(
            1 for s in self.leads.values() if s.partner == partner_id and s.status == "owned"
        )

    def next_number(self, counter: str) -> int:
        self.counters[counter] = self.counters.get(counter, 0) + 1
        return self.counters[counter]


class LeadQueueRequest(BaseModel):
    queue_id: str = Id
    name: str = Field(min_length=1, max_length=120)
    channel_managers: list[str] = Field(min_length=1, max_length=20)
    partners: list[str] = Field(default=[], max_length=200)
    claim_cap: int = Field(default=DEFAULT_CLAIM_CAP, ge=1, le=10_000)
    routing: Routing = "claim"
    requested_by: str = Actor
    rollover_after: int | None = Field(default=None, ge=20)  # history events; for tests
    carried: QueueState | None = None


# --- human steps ------------------------------------------------------------------------------


class LeadBatch(BaseModel):
    actor: str = Actor
    batch: LeadBatchRef


class Claim(BaseModel):
    actor: str = Actor  # the partner user
    lead_id: str = Id


class Assignment(BaseModel):
    actor: str = Actor  # a channel manager
    lead_id: str = Id
    to_user: str = Id
    notify: bool = False


class MassReassignment(BaseModel):
    actor: str = Actor
    from_user: str | None = Field(default=None, min_length=1, max_length=64)
    lead_ids: list[str] = Field(default=[], max_length=MAX_LEADS_PER_BATCH)
    to_user: str = Id
    notify: bool = False


class Conversion(BaseModel):
    actor: str = Actor  # the lead's owner
    lead_id: str = Id
    stage: OpportunityStage = "prospecting"
    amount: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    close_date: date | None = None


class OpportunityUpdate(BaseModel):
    actor: str = Actor
    opportunity_id: str = Id
    stage: OpportunityStage | None = None
    amount: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    close_date: date | None = None

    @model_validator(mode="after")
    def _something(self) -> "OpportunityUpdate":
        if self.stage is None and self.amount is None and self.close_date is None:
            raise ValueError("give at least one of stage, amount, close date")
        return self


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


class QueuePartners(BaseModel):
    actor: str = Actor
    partners: list[str] = Field(min_length=1, max_length=200)


# --- the rules of each step -------------------------------------------------------------------
# Each raises Refused with a reason a person can act on, or returns "repeat" when the step
# already happened (answered, not done again).


def _slot(q: QueueState, lead_id: str) -> LeadSlot:
    slot = q.leads.get(lead_id)
    if slot is None:
        raise Refused(f"there is no lead {lead_id} in queue {q.queue_id}")
    if slot.status == "forwarded":
        raise Refused(
            f"lead {lead_id} was moved to queue {slot.forwarded_to} by an assignment rule"
        )
    return slot


def _taken(lead_id: str, slot: LeadSlot) -> str:
    converted = (
        f", and converted to opportunity {slot.opportunity_id}"
        if slot.status == "converted"
        else ""
    )
    return f"lead {lead_id} is already claimed by {slot.owner} ({slot.partner}){converted}"


def check_claim(q: QueueState, user_id: str, lead_id: str) -> Literal["ok", "repeat"]:
    """First come, first served; once claimed, no other partner can claim it (seed 003)."""
    slot = _slot(q, lead_id)
    roster = q.roster_of(user_id)  # the queue knows the users of its partners only
    reason = lead_refusal(user_id, roster)
    if reason:
        raise Refused(f"{user_id} is not eligible for queue {q.queue_id}: {reason}")
    if slot.owner == user_id and slot.status in ("owned", "converted"):
        return "repeat"
    if slot.owner is not None or slot.status != "queued":
        raise Refused(_taken(lead_id, slot))
    if slot.busy:
        raise Refused(f"lead {lead_id} is being assigned right now; look again in a moment")
    held = q.open_leads(roster.partner_id)
    if held >= q.claim_cap:
        raise Refused(
            f"partner {roster.partner_id} is at the claim cap of queue {q.queue_id}: "
            f"{held} open leads of {q.claim_cap}; convert one before claiming more"
        )
    return "ok"


def check_channel_manager(q: QueueState, actor: str) -> None:
    if actor not in q.channel_managers:
        raise Refused(
            f"only a channel manager of queue {q.queue_id} "
            f"({', '.join(q.channel_managers)}) does this; {actor} is not one"
        )


def check_receiver(q: QueueState, user_id: str) -> PartnerRoster:
    """A lead's new owner: an active partner user who has logged in, of one of the queue's
    partners (seed 004: inactive users do not even appear in the owner list)."""
    roster = q.roster_of(user_id)
    reason = lead_refusal(user_id, roster)
    if roster is None:
        raise Refused(
            f"{user_id} cannot receive leads of queue {q.queue_id}: {reason} (add "
            "the partner to the queue first)"
        )
    if reason:
        raise Refused(f"{user_id} cannot receive leads: {reason}")
    return roster


def check_assignment(q: QueueState, a: Assignment) -> Literal["ok", "repeat"]:
    """Manual change of owner by a channel manager (seed 004 "Change Lead Owner")."""
    check_channel_manager(q, a.actor)
    slot = _slot(q, a.lead_id)
    check_receiver(q, a.to_user)
    if slot.status == "converted":
        raise Refused(
            f"lead {a.lead_id} is converted to opportunity {slot.opportunity_id}; "
            "its owner no longer changes"
        )
    if slot.busy:
        raise Refused(f"lead {a.lead_id} is being changed right now; try again in a moment")
    if slot.owner == a.to_user:
        return "repeat"
    return "ok"


def reassignment_selection(q: QueueState, r: MassReassignment) -> list[str]:
    """Mass reassignment (seed 004 « réaffecter des prospects en masse »): the open leads of
    `from_user` in this queue, and/or the leads named. Converted leads keep their owner."""
    check_channel_manager(q, r.actor)
    check_receiver(q, r.to_user)
    if r.from_user is None and not r.lead_ids:
        raise Refused("name the leads to reassign: a user whose open leads move, or lead ids")
    chosen: list[str] = []
    for lead_id in r.lead_ids:
        slot = _slot(q, lead_id)
        if slot.status == "converted":
            raise Refused(
                f"lead {lead_id} is converted to opportunity {slot.opportunity_id}; "
                "its owner no longer changes"
            )
        chosen.append(lead_id)
    if r.from_user is not None:
        chosen += [
            lead_id
            for lead_id, s in q.leads.items()
            if s.owner == r.from_user and s.status == "owned"
        ]
    chosen = [lead_id for lead_id in dict.fromkeys(chosen) if q.leads[lead_id].owner != r.to_user]
    busy = [lead_id for lead_id in chosen if q.leads[lead_id].busy]
    if busy:
        raise Refused(
            f"lead(s) {', '.join(busy)} are being changed right now; try again in a moment"
        )
    if not chosen:
        whose = f" of {r.from_user}" if r.from_user else ""
        raise Refused(f"no open leads{whose} to move to {r.to_user} in queue {q.queue_id}")
    return chosen


def check_conversion(q: QueueState, c: Conversion) -> Literal["ok", "repeat"]:
    """A lead far enough along becomes an opportunity, by its owner (seed 003)."""
    slot = _slot(q, c.lead_id)
    if slot.owner != c.actor:
        who = f"it belongs to {slot.owner}" if slot.owner else "nobody has claimed it yet"
        raise Refused(f"only the owner converts lead {c.lead_id}: {who}")
    if slot.status == "converted":
        return "repeat"
    if slot.busy:
        raise Refused(f"lead {c.lead_id} is being changed right now; try again in a moment")
    return "ok"


def opportunity_lead(q: QueueState, u: OpportunityUpdate) -> str:
    """The lead whose opportunity the partner updates ("Mine muligheder": their own only)."""
    lead_id = next((i for i, s in q.leads.items() if s.opportunity_id == u.opportunity_id), None)
    if lead_id is None:
        raise Refused(f"there is no opportunity {u.opportunity_id} in queue {q.queue_id}")
    slot = q.leads[lead_id]
    if slot.owner != u.actor:
        raise Refused(
            f"opportunity {u.opportunity_id} belongs to {slot.owner}; only its owner updates it"
        )
    if slot.opportunity_stage in CLOSED:
        raise Refused(
            f"opportunity {u.opportunity_id} is {slot.opportunity_stage}; a closed "
            "opportunity no longer changes"
        )
    return lead_id


def check_rule(q: QueueState, r: RuleInput) -> None:
    check_channel_manager(q, r.actor)
    if r.to_partner and r.to_partner not in q.partners:
        raise Refused(
            f"partner {r.to_partner} is not one of the partners of queue "
            f"{q.queue_id}; add it to the queue first"
        )
    if r.to_queue == q.queue_id:
        raise Refused("a rule of this queue cannot send leads to the same queue")
    if r.position is not None and r.position > len(q.rules) + 1:
        raise Refused(
            f"position {r.position}: the queue has {len(q.rules)} rule(s), so the "
            f"last position is {len(q.rules) + 1}"
        )


def with_rule(
    rules: list[AssignmentRule], rule: AssignmentRule, position: int | None
) -> list[AssignmentRule]:
    at = len(rules) if position is None else position - 1
    return [*rules[:at], rule, *rules[at:]]


# --- routing: assignment rules, then round-robin ----------------------------------------------


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


def plan_routing(
    q: QueueState, arrivals: list[LeadRouting | str], held: dict[str, int] | None = None
) -> RoutingPlan:
    """Who gets each arriving lead. New leads (`LeadRouting`) meet the assignment rules
    first: the first rule that matches sends the lead to its partner (to that partner's next
    user in turn) or to its queue. A lead no rule placed, or whose partner cannot take it now
    (no user logged in, or at the claim cap), goes round-robin over the queue's partners in
    a round-robin queue, and otherwise waits to be claimed. Leads coming back (ids) skip the
    rules: they were routed once. `held`: each partner's open leads in the queue, counted by
    the caller (the database, for a queue whose workflow keeps no leads)."""
    plan = RoutingPlan(turn=q.turn.model_copy(deep=True))
    held = {p: (held or {}).get(p, 0) if held is not None else q.open_leads(p) for p in q.partners}
    users = {p: eligible_users(q.rosters[p]) if p in q.rosters else [] for p in q.partners}

    def can_take(partner: str) -> bool:
        return bool(users.get(partner)) and held.get(partner, 0) < q.claim_cap

    def give(lead_id: str, partner: str, how, rule_id: int | None) -> None:
        user = next_in_turn(users[partner], plan.turn.last_user.get(partner), lambda u: True)
        assert user is not None
        plan.turn.last_user[partner] = user
        held[partner] += 1
        plan.owners.append(
            PlannedOwner(
                lead_id=lead_id, user_id=user, partner_id=partner, how=how, rule_id=rule_id
            )
        )

    unplaced: dict[int, list[str]] = {}
    for arrival in arrivals:
        lead_id = arrival if isinstance(arrival, str) else arrival.lead_id
        rule = None if isinstance(arrival, str) else first_matching_rule(q.rules, arrival)
        if rule is not None and rule.to_queue:
            plan.forwards.append(
                PlannedForward(lead_id=lead_id, to_queue=rule.to_queue, rule_id=rule.rule_id)
            )
            continue
        if rule is not None and rule.to_partner:
            if rule.to_partner in q.partners and can_take(rule.to_partner):
                give(lead_id, rule.to_partner, "rule", rule.rule_id)
                continue
            unplaced.setdefault(rule.rule_id, []).append(lead_id)
        if q.routing == "round-robin":
            partner = next_in_turn(q.partners, plan.turn.last_partner, can_take)
            if partner is not None:
                plan.turn.last_partner = partner
                give(lead_id, partner, "round-robin", None)
                continue
        plan.waiting.append(lead_id)
    for rule_id, lead_ids in unplaced.items():
        rule = next(r for r in q.rules if r.rule_id == rule_id)
        plan.notes.append(
            f"{len(lead_ids)} lead(s) matched rule {rule_id}, but partner {rule.to_partner} "
            "cannot take leads now (no user who has logged in, or at the claim cap): "
            + (
                "given round-robin instead"
                if q.routing == "round-robin"
                else "they wait in the queue to be claimed"
            )
        )
    if plan.waiting and q.routing == "round-robin":
        plan.notes.append(
            f"{len(plan.waiting)} lead(s) wait in the queue: no partner can take "
            "them now (no user who has logged in, or all at the claim cap)"
        )
    return plan


# --- activity inputs and outputs --------------------------------------------------------------


class QueueOpening(BaseModel):
    key: StepKey
    queue_id: str
    name: str
    channel_managers: list[str]
    partners: list[str]
    claim_cap: int
    routing: Routing
    work_within_minutes: int | None = None


class QueueMembers(BaseModel):
    key: StepKey
    queue_id: str
    partners: list[str]


class Rosters(BaseModel):
    rosters: list[PartnerRoster]


class LeadImport(BaseModel):
    key: StepKey
    queue_id: str
    batch: LeadBatchRef


class DuplicateLead(BaseModel):
    dedupe_key: str
    lead_id: str
    queue_id: str


class ImportedLeads(BaseModel):
    new: list[LeadRouting] = []
    duplicates: list[DuplicateLead] = []


class RoutingWrite(BaseModel):
    key: StepKey
    queue_id: str
    owners: list[PlannedOwner] = []
    forwards: list[PlannedForward] = []


class RoutingDone(BaseModel):
    owned: list[str] = []
    not_owned: dict[str, str] = {}  # lead id -> why (the user stopped being eligible)
    forwarded: list[LeadRouting] = []


class ClaimWrite(BaseModel):
    key: StepKey
    queue_id: str
    lead_id: str
    user_id: str
    partner_id: str
    claim_cap: int


class OwnerChange(BaseModel):
    key: StepKey
    queue_id: str
    lead_ids: list[str]
    to_user: str
    to_partner: str
    notify: bool


class OwnersChanged(BaseModel):
    changed: list[str] = []
    skipped: dict[str, str] = {}  # lead id -> why its owner did not change
    previous: dict[str, str] = {}  # lead id -> its owner before
    open_leads: int = 0  # the new owner's partner's open leads in the queue, after


class ConversionWrite(BaseModel):
    key: StepKey
    queue_id: str
    lead_id: str
    opportunity_id: str
    stage: OpportunityStage
    amount: Decimal | None = None
    close_date: date | None = None


class OpportunityWrite(BaseModel):
    key: StepKey
    opportunity_id: str
    stage: OpportunityStage | None = None
    amount: Decimal | None = None
    close_date: date | None = None


class RuleWrite(BaseModel):
    key: StepKey
    queue_id: str
    rule: AssignmentRule
    position: int  # 1-based, after insertion


class ForwardedLeads(BaseModel):
    """Signal from a queue whose rule sent leads here."""

    from_queue: str
    leads: list[LeadRouting]


# --- issue 13: queues whose workflow keeps no leads (LeadQueueRouter) -------------------------


class RouterState(BaseModel):
    """The queue workflow's whole state, carried across continue-as-new: its settings,
    partners, rules, round-robin turn and totals. Its size does not grow with the leads: they
    and their owners live in PostgreSQL only."""

    process_id: str
    kind: LeadKind = LeadKind.LEAD_QUEUE
    design: Literal["router"] = "router"
    stage: QueueStage
    waiting_for: str
    since: datetime
    revision: int = 0
    account_id: str | None = None
    partner_id: str | None = None
    queue_id: str
    name: str
    channel_managers: list[str]
    claim_cap: int
    routing: Routing
    work_within_minutes: int | None = None
    partners: list[str] = []
    rosters: dict[str, PartnerRoster] = {}
    rules: list[AssignmentRule] = []
    turn: Turn = Turn()
    to_route: list[str] = []  # leads back in a round-robin queue (bounded: given out at once)
    received: dict[str, int] = {}  # leads received, new, duplicates, given, forwarded
    counters: dict[str, int] = {}
    runs: int = 1
    notes: list[str] = []

    def next_number(self, counter: str) -> int:
        self.counters[counter] = self.counters.get(counter, 0) + 1
        return self.counters[counter]

    def roster_of(self, user_id: str) -> PartnerRoster | None:
        return next((r for r in self.rosters.values() if user_id in r.users), None)


class RouterRequest(BaseModel):
    queue_id: str = Id
    name: str = Field(min_length=1, max_length=120)
    channel_managers: list[str] = Field(min_length=1, max_length=20)
    partners: list[str] = Field(default=[], max_length=200)
    claim_cap: int = Field(default=DEFAULT_CLAIM_CAP, ge=1, le=10_000)
    routing: Routing = "claim"
    work_within_minutes: int | None = Field(default=None, ge=1, le=MAX_WORK_WITHIN_MINUTES)
    requested_by: str = Actor
    rollover_after: int | None = Field(default=None, ge=20)  # history events; for tests
    carried: RouterState | None = None


class RouteConfig(BaseModel):
    """What routing needs from the queue workflow (the rest it reads in PostgreSQL)."""

    queue_id: str
    claim_cap: int
    routing: Routing
    partners: list[str]
    rules: list[AssignmentRule]
    turn: Turn


class LeadReceipt(BaseModel):
    """A batch of a file: written, then routed (rules, round-robin) in one transaction."""

    key: StepKey
    config: RouteConfig
    batch: LeadBatchRef
    request_id: str = ""  # the update that sent it: its own retry is not a batch sent again


class LeadsBack(BaseModel):
    """Leads back in a round-robin queue, given out again (they skip the rules)."""

    key: StepKey
    config: RouteConfig
    lead_ids: list[str] = Field(max_length=IMPORT_BATCH)


class Received(BaseModel):
    received: int = 0
    new: int = 0
    duplicates: int = 0
    duplicates_here: list[str] = []  # the first few lead ids, to name them
    duplicates_elsewhere: list[str] = []  # "L-7 (queue q)"
    here: int = 0  # duplicates already in this queue (or twice in the file)
    elsewhere: int = 0
    given: dict[str, int] = {}  # how (rule, round-robin) -> leads
    given_shown: list[str] = []  # "L-7->C-1" for the first few
    forwarded: dict[str, list[LeadRouting]] = {}  # to queue -> leads
    not_owned: dict[str, str] = {}
    waiting: int = 0
    turn: Turn = Turn()
    notes: list[str] = []
    repeat: bool = False  # the batch was received before: this is its first answer again
    request_id: str = ""  # the update that first sent it


LeadStepKind = Literal[
    "claim", "accept", "not-interested", "assign", "reassign", "convert", "update-opportunity"
]
LEAD_STEP_KINDS = (
    "claim",
    "accept",
    "not-interested",
    "assign",
    "reassign",
    "convert",
    "update-opportunity",
)


class LeadStepRequest(BaseModel):
    """One human step on leads of a queue: its own short process (`lead-<kind>-...`), so that
    steps on different leads never wait for one another."""

    queue_id: str = Id
    kind: LeadStepKind
    actor: str = Actor
    lead_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$"
    )
    to_user: str | None = Field(default=None, min_length=1, max_length=64)
    from_user: str | None = Field(default=None, min_length=1, max_length=64)
    lead_ids: list[str] = Field(default=[], max_length=MAX_LEADS_PER_BATCH)
    notify: bool = False
    reason: str | None = Field(default=None, min_length=3, max_length=500)
    opportunity_id: str | None = Field(default=None, min_length=1, max_length=64)
    stage: OpportunityStage | None = None
    amount: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    close_date: date | None = None
    # A channel manager of the queue acting for this partner user (who phoned); the step is
    # the partner user's, recorded as the channel manager's (issue 10)
    for_user: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$"
    )

    @model_validator(mode="after")
    def _shape(self) -> "LeadStepRequest":
        if self.for_user and self.kind in ("assign", "reassign"):
            raise ValueError(f"{self.kind} is the channel manager's own step: no --for")
        needs_lead = self.kind in ("claim", "accept", "not-interested", "assign", "convert")
        if needs_lead and not self.lead_id:
            raise ValueError(f"{self.kind} names a lead")
        if self.kind in ("assign", "reassign") and not self.to_user:
            raise ValueError(f"{self.kind} names the new owner")
        if self.kind == "reassign" and not (self.from_user or self.lead_ids):
            raise ValueError(
                "name the leads to reassign: a user whose open leads move, or lead ids"
            )
        if self.kind == "not-interested" and not (self.reason or "").strip():
            raise ValueError("say why the lead is not of interest (--reason)")
        if self.kind == "update-opportunity":
            if not self.opportunity_id:
                raise ValueError("update-opportunity names the opportunity")
            if self.stage is None and self.amount is None and self.close_date is None:
                raise ValueError("give at least one of stage, amount, close date")
        return self


def lead_step_process_id(r: LeadStepRequest, request: str) -> str:
    """`lead-claim-L-17-<request>`: one process per step sent (the request id makes a command
    sent again the same step)."""
    subject = r.lead_id or r.opportunity_id or r.queue_id
    return f"lead-{r.kind}-{subject}-{request}"[:200]


class LeadStepWrite(BaseModel):
    key: StepKey
    request: LeadStepRequest


class LeadStepDone(BaseModel):
    message: str
    refused: bool = False  # the step was refused: `message` says why; nothing was written
    notes: list[str] = []
    returned: list[str] = []  # leads back in the queue (round-robin gives them out again)
    claim_id: int | None = None  # the claim that the service level watches
    work_within_minutes: int | None = None


class LeadRecall(BaseModel):
    key: StepKey
    queue_id: str
    lead_id: str
    claim_id: int
    minutes: int


class LeadStepStatus(BaseModel):
    process_id: str
    kind: str = "lead-step"
    stage: Literal["in-progress", "done", "refused", "watching", "recalled"] = "in-progress"
    waiting_for: str = "the step is being written"
    since: datetime | None = None
    queue_id: str
    lead_id: str | None = None
    step: str
    message: str = ""
    notes: list[str] = []
    revision: int = 0
    account_id: str | None = None
    partner_id: str | None = None


class LeadsReturned(BaseModel):
    """Signal from a lead step: leads back in the queue (not interested, service level)."""

    lead_ids: list[str]
