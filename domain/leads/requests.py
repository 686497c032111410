"""A human step on leads as it is sent (`LeadStepRequest`), and what its short process
(workflows/lead_step.py) writes, answers and shows."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from domain.leads.files import MAX_LEADS_PER_BATCH
from domain.steps import Actor, StepKey

Id = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")

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
OWNER_CHANGES = ("assign", "reassign")  # a channel manager's own steps
NAMES_A_LEAD = ("claim", "accept", "not-interested", "assign", "convert")


def opportunity_id(lead_id: str) -> str:
    return f"OPP-{lead_id}"


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
    # A channel manager of the queue acting for this partner user (who phoned): the step is
    # the partner user's, recorded as the channel manager's
    for_user: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$"
    )

    @model_validator(mode="after")
    def _shape(self) -> "LeadStepRequest":
        if self.for_user and self.kind in OWNER_CHANGES:
            raise ValueError(f"{self.kind} is the channel manager's own step: no --for")
        if self.kind in NAMES_A_LEAD and not self.lead_id:
            raise ValueError(f"{self.kind} names a lead")
        if self.kind in OWNER_CHANGES and not self.to_user:
            raise ValueError(f"{self.kind} names the new owner")
        if self.kind == "reassign" and not (self.from_user or self.lead_ids):
            raise ValueError(
                "name the leads to reassign: a user whose open leads move, or lead ids"
            )
        if self.kind == "not-interested" and not (self.reason or "").strip():
            raise ValueError("say why the lead is not of interest (--reason)")
        if self.kind == "update-opportunity":
            self._opportunity_shape()
        return self

    def _opportunity_shape(self) -> None:
        if not self.opportunity_id:
            raise ValueError("update-opportunity names the opportunity")
        if self.stage is None and self.amount is None and self.close_date is None:
            raise ValueError("give at least one of stage, amount, close date")


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
    code: str = ""  # the answer as a code and values (domain.steps.StepAnswer)
    params: dict[str, str | int] = {}


class LeadRecall(BaseModel):
    key: StepKey
    queue_id: str
    lead_id: str
    claim_id: int
    minutes: int


LeadStepStage = Literal["in-progress", "done", "refused", "watching", "recalled"]


class LeadStepStatus(BaseModel):
    process_id: str
    kind: str = "lead-step"
    stage: LeadStepStage = "in-progress"
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
