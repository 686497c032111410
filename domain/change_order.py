"""Inputs, outputs and states of the two change-order processes. Everything that
crosses into Temporal history is one of these models; none carries personal data."""

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.account import MandatoryFields
from domain.catalogue import LicenceType, ProductKind
from domain.classound import DocumentView
from domain.errors import Refused
from domain.order_lines import (
    CatalogueItem,
    FastChangeLine,
    LicenceTarget,
    OrderLine,
    Plan,
    QuoteLine,
)
from domain.steps import Actor, Cancellation, StaffStep, StepAnswer, StepKey

__all__ = ["Cancellation", "StaffStep", "StepAnswer", "StepKey"]  # re-exported for callers


class ProcessKind(StrEnum):
    FAST_CHANGE = "fast-change-order"
    CHANGE_ORDER = "change-order"


class Stage(StrEnum):
    VALIDATING = "validating"
    REFUSED = "refused"
    QUOTE_DRAFT = "quote-draft"
    QUOTE_PRIMARY = "quote-primary"
    QUOTE_PUBLISHED = "quote-published"
    QUOTE_REJECTED = "quote-rejected"
    AWAITING_PARTNER = "awaiting-partner-confirmation"
    APPLYING = "applying"
    APPLIED = "applied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    DECLINED = "declined"  # by the partner, with a reason


FINAL_STAGES = {Stage.REFUSED, Stage.APPLIED, Stage.EXPIRED, Stage.CANCELLED, Stage.DECLINED}


# --- process inputs ----------------------------------------------------------------------


class FastChangeRequest(BaseModel):
    account_id: str = Field(min_length=1, max_length=64)
    pbx_id: str = Field(min_length=1, max_length=64)
    lines: list[FastChangeLine] = Field(min_length=1, max_length=50)
    requested_by: str = Actor


class ChangeOrderRequest(BaseModel):
    account_id: str = Field(min_length=1, max_length=64)
    pbx_id: str = Field(min_length=1, max_length=64)
    lines: list[QuoteLine] = Field(min_length=1, max_length=200)
    requested_by: str = Actor


# --- human steps ---------------------------------------------------------------------------


class QuoteStep(BaseModel):
    actor: str = Actor
    quote_id: str = Field(min_length=1, max_length=80)


class Revision(BaseModel):
    """The duplicate of the newest quote keeps every line; `lines` change a line of the same
    SKU (and linked licence) or add one, `remove` names lines to drop ("WP480G",
    "CLASSOUND-FLAT:Premium")."""

    actor: str = Actor
    lines: list[QuoteLine] = Field(default=[], max_length=200)
    remove: list[str] = Field(default=[], max_length=200)

    @model_validator(mode="after")
    def _something_changes(self) -> "Revision":
        if not self.lines and not self.remove:
            raise ValueError("give the lines that change (--line) or go (--remove)")
        return self


# --- what the processes report -------------------------------------------------------------


class QuoteView(BaseModel):
    quote_id: str
    version: int
    primary: bool = False
    published: bool = False
    status: Literal["draft", "published", "accepted", "rejected", "superseded", "cancelled"]
    rejection_reason: str | None = None
    lines: list[QuoteLine] = []  # as staff wrote them; a revision starts from these


class ProcessStatus(BaseModel):
    process_id: str
    kind: ProcessKind
    stage: Stage
    waiting_for: str
    since: datetime
    account_id: str
    pbx_id: str
    partner_id: str | None = None
    order_id: str | None = None
    quotes: list[QuoteView] = []
    lines: list[OrderLine] = []
    targets: list[LicenceTarget] = []  # fast change: the totals, planned again on apply
    changes: list[str] = []  # what applying the order changed, in words
    documents: list[DocumentView] = []  # LOA and last invoice, for CLASSOUND-FLAT lines
    missing: list[str] = []  # documents still missing before the order can be booked
    notes: list[str] = []
    records: list[str] = []
    reminders_sent: int = 0
    revision: int = 0

    @property
    def finished(self) -> bool:
        return self.stage in FINAL_STAGES

    @property
    def has_classound(self) -> bool:
        """An order with CLASSOUND needs the LOA and the last invoice."""
        return any(ln.kind is ProductKind.CLASSOUND_FLAT and ln.quantity > 0 for ln in self.lines)

    def quote(self, quote_id: str) -> QuoteView | None:
        return next((q for q in self.quotes if q.quote_id == quote_id), None)

    @property
    def current_quote(self) -> QuoteView | None:
        return self.quotes[-1] if self.quotes else None


# --- activity inputs and outputs -----------------------------------------------------------


class PbxLookup(BaseModel):
    account_id: str
    pbx_id: str
    skus: list[str]


class PbxSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_id: str
    pbx_id: str
    partner_id: str
    active: bool
    licences: dict[LicenceType, int]
    flats: dict[LicenceType, int] = {}  # active CLASSOUND-FLATs per linked licence type
    catalogue: dict[str, CatalogueItem]
    mandatory: MandatoryFields


def check_pbx_active(pbx: PbxSnapshot) -> None:
    if not pbx.active:
        raise Refused(
            f"PBX {pbx.pbx_id} is not active: change orders are only possible on an active "
            "PBX; book a new project instead"
        )


class QuoteDraft(BaseModel):
    key: StepKey
    quote_id: str
    account_id: str
    pbx_id: str
    version: int
    revises: str | None = None
    primary: bool = False
    lines: list[QuoteLine]
    notes: list[str] = []


class QuoteChange(BaseModel):
    key: StepKey
    quote_id: str
    pbx_id: str


class OrderDraft(BaseModel):
    order_id: str
    kind: ProcessKind
    account_id: str
    pbx_id: str
    partner_id: str
    quote_id: str | None = None
    lines: list[OrderLine]
    targets: list[LicenceTarget] = []  # fast change: `lines` are planned again from these


class QuoteCompletion(BaseModel):
    key: StepKey
    quote_id: str
    order: OrderDraft


class CompletionOutcome(BaseModel):
    accepted: bool
    reason: str | None = None


class NewOrder(BaseModel):
    key: StepKey
    order: OrderDraft


class FastChangeOpening(BaseModel):
    """A fast change order checked and created in one step: the PBX as it is,
    the plan against it, the order and the partner's notice, in one transaction."""

    key: StepKey
    lookup: PbxLookup
    lines: list[FastChangeLine]
    today: date
    order_id: str


class OpenedFastChange(BaseModel):
    pbx: PbxSnapshot
    plan: Plan


class ChangeOrderOpening(BaseModel):
    """A change order checked and its first quote saved in one step: the PBX as
    it is, the plan against it and quote v1, in one transaction."""

    key: StepKey
    lookup: PbxLookup
    lines: list[QuoteLine]
    today: date
    quote_id: str


class OpenedChangeOrder(BaseModel):
    pbx: PbxSnapshot
    plan: Plan


class PartnerReminder(BaseModel):
    key: StepKey
    order_id: str
    partner_id: str
    reminder_no: int


class OrderApplication(BaseModel):
    key: StepKey
    order: OrderDraft
    today: date


class AppliedOrder(BaseModel):
    records: list[str]
    changes: list[str] = []  # in words: "Premium 5 → 6", "Premium already 6: nothing to change"
    lines: list[OrderLine] | None = None  # the lines applied, where planned again on apply
    cancelled_flats: int = 0
    dids_to_cancel: int = 0
    ticket_id: int | None = None


class OrderDecline(BaseModel):
    key: StepKey
    order_id: str
    reason: str
    quote_ids: list[str] = []


class OrderClosure(BaseModel):
    key: StepKey
    status: Literal["cancelled", "expired"]
    reason: str
    order_id: str | None = None
    partner_id: str | None = None
    quote_ids: list[str] = []
