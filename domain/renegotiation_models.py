"""The renegotiation's models that cross into Temporal history: its stages and routes, the
request and what the store knows of it, the signer's steps on the signing page, the status
the process reports, and the activities' inputs and outputs. The rules that use them are in
domain/renegotiation.py. No personal data: contacts travel as ids."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.steps import Actor, StaffStep, StepKey


class ProcessKind(StrEnum):
    RENEGOTIATION = "renegotiation"


class Stage(StrEnum):
    VALIDATING = "validating"
    REFUSED = "refused"
    PREPARING = "preparing-contract"
    AWAITING_SIGNATURE = "awaiting-signature"
    AWAITING_DECISION = "awaiting-decision"  # the signing deadline passed: extend or cancel
    APPLYING = "applying-signature"
    SIGNED = "signed"
    CANCELLED = "cancelled"
    DECLINED = "declined"  # the customer declined the contract on the signing page


FINAL_STAGES = {Stage.REFUSED, Stage.SIGNED, Stage.CANCELLED, Stage.DECLINED}


class Route(StrEnum):
    """Who handles a reduction (the product's routine for reductions); the ticket queue."""

    INVOICE_SERVICE = "invoice_service"
    CSC = "csc"


ROUTE_IN_WORDS = {Route.INVOICE_SERVICE: "invoice service", Route.CSC: "CSC"}


class Change(StrEnum):
    REDUCTION = "reduction"
    INCREASE = "increase"
    PRICE_ONLY = "price only"


# --- the request and what the store knows about it ------------------------------------------

Price = Field(gt=0, max_digits=12, decimal_places=2)


class RenegotiationRequest(BaseModel):
    """Started from a ticket: the new licence count and price, an agreed start if any, the
    contact with signing authority and the contract being renegotiated."""

    ticket_id: int = Field(gt=0)
    account_id: str = Field(min_length=1, max_length=64)
    contact_id: str = Field(min_length=1, max_length=64)
    original_contract_id: str = Field(min_length=1, max_length=80)
    licences: int = Field(ge=1, le=100_000)
    price: Decimal = Price  # per licence, NOK
    agreed_start: date | None = None
    requested_by: str = Actor


class TicketFacts(BaseModel):
    account_id: str | None
    status: str
    renegotiation: str | None = None  # the process already renegotiating from this ticket


class ContactFacts(BaseModel):
    """Whether the contact can be sent a contract: flags only, never the e-mail or phone."""

    account_id: str | None  # None: a partner's contact, not a customer's
    can_sign: bool
    has_email: bool
    has_phone: bool


class ContractFacts(BaseModel):
    account_id: str
    status: str
    licences: int
    price: Decimal
    signed_on: date | None
    originally_signed_on: date | None  # the first contract of the chain it renegotiates
    superseded_by: str | None = None
    renegotiation: str | None = None  # the process already renegotiating it


class RenegotiationFacts(BaseModel):
    company_found: bool
    partner_id: str | None = None
    ticket: TicketFacts | None = None
    contact: ContactFacts | None = None
    contract: ContractFacts | None = None


class RenegotiationPlan(BaseModel):
    licences_before: int
    price_before: Decimal
    originally_signed_on: date
    change: Change
    route: Route | None


# --- the signer's steps ----------------------------------------------------------------------

MAX_DECLINE_REASON = 1000


class SigningEvidence(BaseModel):
    """What the signing page saw when the signer signed or declined: kept in
    contract_signing_evidence by the step that records the decision. It crosses Temporal's
    history encrypted like every payload (codec/); the name and the network data are the
    signer's own, given to sign."""

    contact_id: str = Actor
    typed_name: str | None = Field(default=None, max_length=200)
    document_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    language: str = Field(pattern=r"^[a-z]{2}$")
    ip: str = Field(min_length=1, max_length=64)
    user_agent: str = Field(max_length=500)
    decided_at: datetime


class SignerStep(StaffStep):
    """`contract-signed`: staff record a signature made elsewhere (no evidence), or the
    signing page records the signer's own (actor = the signer's contact id, evidence)."""

    evidence: SigningEvidence | None = None


class Declination(BaseModel):
    """The signer declines the contract on the signing page, with a reason."""

    actor: str = Actor
    reason: str = Field(min_length=3, max_length=MAX_DECLINE_REASON)
    evidence: SigningEvidence


# --- what the process reports ---------------------------------------------------------------


class RenegotiationStatus(BaseModel):
    process_id: str
    kind: ProcessKind = ProcessKind.RENEGOTIATION
    stage: Stage
    waiting_for: str
    since: datetime
    revision: int = 0
    account_id: str
    partner_id: str | None = None
    ticket_id: int
    contact_id: str
    original_contract_id: str
    deal_id: str | None = None
    contract_id: str | None = None
    owner: str
    licences_before: int | None = None
    licences_after: int
    price_before: Decimal | None = None
    price_after: Decimal
    agreed_start: date | None = None
    change: Change | None = None
    route: Route | None = None
    originally_signed_on: date | None = None
    close_date: date | None = None
    sent_on: date | None = None
    delivery_start: date | None = None
    signing_deadline: date | None = None
    reminders_sent: int = 0
    deadlines_passed: int = 0
    extensions: int = 0
    signed_by: str | None = None
    signed_on: date | None = None
    credits_sales: bool | None = None
    cancelled_reason: str | None = None
    declined_reason: str | None = None
    declined_on: date | None = None
    notes: list[str] = []
    records: list[str] = []

    @property
    def finished(self) -> bool:
        return self.stage in FINAL_STAGES


# --- activity inputs and outputs ------------------------------------------------------------


class Case(BaseModel):
    """The ids and numbers every write of one renegotiation needs."""

    ticket_id: int
    account_id: str
    contact_id: str
    original_contract_id: str
    deal_id: str
    contract_id: str
    owner: str
    licences_before: int
    licences_after: int
    price_before: Decimal
    price_after: Decimal
    originally_signed_on: date


class CaseStep(BaseModel):
    """One write of a renegotiation on the (Oslo) day `today`."""

    key: StepKey
    case: Case
    today: date


class DealStep(CaseStep):
    close_date: date
    delivery_start: date


class SendingStep(CaseStep):
    deadline: date
    delivery_start: date


class DeadlineStep(CaseStep):
    deadline: date
    number: int = 0  # which reminder, or which extension


class ClosingStep(CaseStep):
    reason: str


class SignatureStep(CaseStep):
    delivery_start: date
    route: Route | None = None
    csc_ticket_id: int | None = None
    evidence: SigningEvidence | None = None  # on record-signature, when signed on the page


class DeclineStep(CaseStep):
    reason: str
    evidence: SigningEvidence


class StepResult(BaseModel):
    records: list[str] = []
    ticket_id: int | None = None
