"""The lead queue's process (workflows/lead_queue_router.py): its request, its state and the
inputs and outputs of its steps. Its state is the queue's settings, partners, rules and
round-robin turn; the leads and their owners live in PostgreSQL only."""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from domain.errors import Refused
from domain.leads.files import IMPORT_BATCH, LeadBatchRef
from domain.leads.requests import Id
from domain.leads.routing import AssignmentRule, LeadRouting, RouteConfig, Routing, Turn
from domain.leads.steps import SHOWN, check_channel_manager
from domain.partners import PartnerRoster
from domain.steps import Actor, StepKey

MAX_WORK_WITHIN_MINUTES = 30 * 24 * 60
DEFAULT_CLAIM_CAP = 10

# The error type of a step that reached a queue while it continues as new: not a refusal,
# the sender sends the step again (it reaches the next run).
ROLLING_OVER = "QueueRollingOver"


class LeadKind(StrEnum):
    LEAD_QUEUE = "lead-queue"


class QueueStage(StrEnum):
    VALIDATING = "validating"
    REFUSED = "refused"
    OPEN = "open"


QUEUE_FINAL = frozenset({QueueStage.REFUSED})


def queue_process_id(queue_id: str) -> str:
    return f"{LeadKind.LEAD_QUEUE.value}-{queue_id}"


class RouterState(BaseModel):
    """The queue workflow's whole state, carried across continue-as-new: its settings,
    partners, rules, round-robin turn and totals. Its size does not grow with the leads: they
    and their owners live in PostgreSQL only."""

    process_id: str
    kind: LeadKind = LeadKind.LEAD_QUEUE
    design: Literal["router"] = "router"  # the starter shows a queue's newest leads by it
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
    # With a service level: when this process next looks for claims not worked in time
    # (claims are decided at the door and tell no one; see `next_recall_after`)
    next_recall: datetime | None = None

    def next_number(self, counter: str) -> int:
        self.counters[counter] = self.counters.get(counter, 0) + 1
        return self.counters[counter]

    def roster_of(self, user_id: str) -> PartnerRoster | None:
        return next((r for r in self.rosters.values() if user_id in r.users), None)

    def new_partners(self, actor: str, partners: list[str]) -> list[str]:
        """A channel manager of the queue adds partners; those already in it are not new."""
        check_channel_manager(self.queue_id, self.channel_managers, actor)
        new = [x for x in dict.fromkeys(partners) if x not in self.partners]
        if not new:
            raise Refused(f"{', '.join(partners)} already in queue {self.queue_id}")
        return new

    def check_adds_leads(self, actor: str) -> None:
        """Leads are added by the vendor's staff, never by a partner user."""
        if self.roster_of(actor) is not None:
            raise Refused(f"{actor} is a partner user; leads are added by the vendor's staff")

    def carry_on(self, got: "QueueSettings") -> None:
        """A queue of the earlier design, as PostgreSQL has it: its settings, partners, rules
        and turn; rule numbers go on after its last rule."""
        self.name, self.channel_managers = got.name, got.channel_managers
        self.claim_cap, self.routing = got.claim_cap, got.routing
        self.work_within_minutes = got.work_within_minutes
        self.partners, self.rules, self.turn = got.partners, got.rules, got.turn
        self.rosters = {r.partner_id: r for r in got.rosters}
        self.counters["rule"] = got.last_rule
        self.notes.append(f"taken over from the earlier design with {got.leads} lead(s)")

    def route_config(self) -> RouteConfig:
        return RouteConfig(
            queue_id=self.queue_id,
            claim_cap=self.claim_cap,
            routing=self.routing,
            partners=self.partners,
            rules=self.rules,
            turn=self.turn,
        )


class RouterRequest(BaseModel):
    """Opens a queue; or, with `take_over`, carries on a queue opened by the earlier design
    (a process of type `LeadQueue` that kept every lead in its state): its settings, partners
    and rules are read from PostgreSQL, where its leads and owners already are."""

    queue_id: str = Id
    name: str | None = Field(default=None, min_length=1, max_length=120)
    channel_managers: list[str] = Field(default=[], max_length=20)
    partners: list[str] = Field(default=[], max_length=200)
    claim_cap: int = Field(default=DEFAULT_CLAIM_CAP, ge=1, le=10_000)
    routing: Routing = "claim"
    work_within_minutes: int | None = Field(default=None, ge=1, le=MAX_WORK_WITHIN_MINUTES)
    requested_by: str = Actor
    take_over: bool = False
    rollover_after: int | None = Field(default=None, ge=20)  # history events; for tests
    carried: RouterState | None = None

    @model_validator(mode="after")
    def _opened_here(self) -> "RouterRequest":
        if not self.take_over and not (self.name and self.channel_managers):
            raise ValueError("a queue opened here has a name and at least one channel manager")
        return self


# --- steps on the queue -----------------------------------------------------------------------


class LeadBatch(BaseModel):
    actor: str = Actor
    batch: LeadBatchRef


class QueuePartners(BaseModel):
    actor: str = Actor
    partners: list[str] = Field(min_length=1, max_length=200)


class ForwardedLeads(BaseModel):
    """Signal from a queue whose rule sent leads here."""

    from_queue: str
    leads: list[LeadRouting]


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


class QueueTakeOver(BaseModel):
    key: StepKey
    queue_id: str


class QueueSettings(BaseModel):
    """A queue as PostgreSQL has it: what a process taking it over carries on with."""

    name: str
    channel_managers: list[str]
    claim_cap: int
    routing: Routing
    work_within_minutes: int | None = None
    partners: list[str] = []
    rosters: list[PartnerRoster] = []
    rules: list[AssignmentRule] = []
    last_rule: int = 0  # rule numbers go on from here
    turn: Turn = Turn()
    leads: int = 0


class QueueMembers(BaseModel):
    key: StepKey
    queue_id: str
    partners: list[str]


class Rosters(BaseModel):
    rosters: list[PartnerRoster]


class RuleWrite(BaseModel):
    key: StepKey
    queue_id: str
    rule: AssignmentRule
    position: int  # 1-based, after insertion


class LeadReceipt(BaseModel):
    """A batch of a file: written, then routed (rules, round-robin) in one transaction."""

    key: StepKey
    config: RouteConfig
    batch: LeadBatchRef
    request_id: str = ""  # the update that sent it: its own retry is not a batch sent again


RECALL_AT_ONCE = 500  # claims sent back to the queue in one step
RECALL_SOONEST = timedelta(seconds=1)  # the shortest wait between two looks


def next_recall_after(now: datetime, minutes: int, next_due: datetime | None) -> datetime:
    """When the queue's process next looks for claims due. A claim made after this look is
    due no sooner than `minutes` from now, so with none pending the process sleeps that long
    and still misses none; a claim already due (one locked by a step at the last look) is
    looked at again soon."""
    if next_due is None:
        return now + timedelta(minutes=minutes)
    return max(next_due, now + RECALL_SOONEST)


class RecallDue(BaseModel):
    """The service level of a queue: its claims due by `as_of` (the process's time) and
    still not worked go back to the queue."""

    key: StepKey
    queue_id: str
    minutes: int
    as_of: datetime
    limit: int = RECALL_AT_ONCE


class Recalled(BaseModel):
    returned: list[str] = []
    next_due: datetime | None = None  # the earliest claim still watched


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


# --- what a queue says ------------------------------------------------------------------------


def waiting_words(s: RouterState) -> str:
    """What the queue waits for, as ops see it."""
    how = "round-robin, then claims" if s.routing == "round-robin" else "claims"
    sla = (
        f", leads to be worked within {s.work_within_minutes} minute(s) of their claim"
        if s.work_within_minutes
        else ""
    )
    got = s.received
    return (
        f"queue {s.queue_id}: leads wait for {how}; {got.get('new', 0)} lead(s) "
        f"received ({got.get('duplicates', 0)} duplicate(s) not added); "
        f"{len(s.partners)} partner(s), claim cap {s.claim_cap}{sla}"
    )


def received_notes(d: Received) -> list[str]:
    return d.notes + [
        f"lead {x} was not given: {why}; it waits in the queue" for x, why in d.not_owned.items()
    ]


def received_words(d: Received) -> str:
    """The answer to a batch of leads: new, duplicates (named), given, sent on, waiting."""
    parts = [f"{d.received} lead(s) received: {d.new} new"]
    for n, ids, where in (
        (d.here, d.duplicates_here, "this queue"),
        (d.elsewhere, d.duplicates_elsewhere, "another queue"),
    ):
        if n:
            more = f" and {n - len(ids)} more" if n > len(ids) else ""
            parts.append(f"{n} already in {where} ({', '.join(ids)}{more})")
    if d.given.get("rule"):
        parts.append(f"{d.given['rule']} given by assignment rule")
    if d.given.get("round-robin"):
        parts.append(
            f"{d.given['round-robin']} given round-robin ({', '.join(d.given_shown[:SHOWN])})"
        )
    if d.forwarded:
        moved = sum(len(v) for v in d.forwarded.values())
        parts.append(f"{moved} sent to queue(s) {', '.join(sorted(d.forwarded))} by rule")
    if d.waiting:
        parts.append(f"{d.waiting} wait in the queue to be claimed")
    return "; ".join(parts)
