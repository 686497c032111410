"""Inputs, outputs and states of the PSA processes: client onboarding,
the onboarding campaign over all existing clients, and the invoicing run. Everything that
crosses into Temporal history is one of these models. None carries the billing e-mail or
address except the billing-information step itself (payloads are encrypted, see docs/security.md
"Personal data"); the status staff and ops see says *whether* it exists, not what it is."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.billing_information import BillingInformation
from domain.contracts import (
    RECURRING_KINDS,
    AssignedService,
    ContractPart,
    ContractTerms,
    PartChange,
    unpriced,
)
from domain.invoicing import NumberingSettings
from domain.steps import Actor, StepKey

AccountId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")


class ProcessKind(StrEnum):
    CLIENT_ONBOARDING = "client-onboarding"
    ONBOARDING_CAMPAIGN = "onboarding-campaign"
    INVOICING_RUN = "invoicing-run"
    RECORD_CHANGE = "record-change"


def onboarding_id(account_id: str) -> str:
    """One onboarding per client: the campaign and staff starting it by hand meet here."""
    return f"{ProcessKind.CLIENT_ONBOARDING.value}-{account_id}"


# --- client onboarding ----------------------------------------------------------------------


class OnboardingStage(StrEnum):
    LOADING = "loading"
    REFUSED = "refused"
    AWAITING_BILLING = "awaiting-billing-information"
    AWAITING_TERMS = "awaiting-contract-terms"
    AWAITING_PRICES = "awaiting-price-confirmation"
    ONBOARDED = "onboarded"
    CANCELLED = "cancelled"


ONBOARDING_FINAL = frozenset(
    {OnboardingStage.REFUSED, OnboardingStage.ONBOARDED, OnboardingStage.CANCELLED}
)


class OnboardingRequest(BaseModel):
    account_id: str = AccountId
    requested_by: str = Actor
    campaign_id: str | None = Field(default=None, max_length=100)


class BillingInformationStep(BaseModel):
    actor: str = Actor
    info: BillingInformation


class ContractTermsStep(BaseModel):
    actor: str = Actor
    terms: ContractTerms


class PartChangesStep(BaseModel):
    actor: str = Actor
    changes: list[PartChange] = Field(min_length=1, max_length=50)


class OnboardingStatus(BaseModel):
    process_id: str
    kind: ProcessKind = ProcessKind.CLIENT_ONBOARDING
    stage: OnboardingStage
    waiting_for: str
    since: datetime
    revision: int = 0
    account_id: str
    partner_id: str | None = None
    campaign_id: str | None = None
    billing_information: bool = False  # whether it exists; never its content
    currency: str | None = None
    contract_needed: bool = True  # False: the client has no recurring services
    terms: ContractTerms | None = None
    contract_id: str | None = None
    contract_active: bool = False
    parts: list[ContractPart] = []
    monthly_total: Decimal | None = None
    lacks: list[str] = []
    notes: list[str] = []

    @property
    def finished(self) -> bool:
        return self.stage in ONBOARDING_FINAL


def what_client_lacks(s: OnboardingStatus) -> list[str]:
    """What stands between the client and being onboarded, in staff words."""
    lacks = []
    if not s.billing_information:
        lacks.append("billing information")
    if s.contract_needed and not s.contract_active:
        if s.terms is None:
            lacks.append("contract terms (payment details, contract period)")
        if s.contract_id is None:
            lacks.append("a contract with parts for its services")
        else:
            missing = unpriced(s.parts)
            if missing:
                lacks.append(f"prices for contract parts {', '.join(missing)}")
            elif not s.parts:
                lacks.append("contract parts")
            lacks.append("staff confirmation of the contract part prices")
    return lacks


def contract_needed(services: list[AssignedService]) -> bool:
    """Contracts are asked for only where services are assigned to the client."""
    return any(s.kind in RECURRING_KINDS and s.quantity > 0 for s in services)


# activity inputs and outputs


class ClientLookup(BaseModel):
    account_id: str


class ClientSnapshot(BaseModel):
    account_id: str
    partner_id: str
    has_billing_information: bool
    currency: str | None = None
    active_contract_id: str | None = None
    services: list[AssignedService] = []


class BillingInformationSave(BaseModel):
    key: StepKey
    account_id: str
    info: BillingInformation


class BillingSaved(BaseModel):
    saved: bool  # False: it already existed (made elsewhere meanwhile); nothing written
    currency: str


class ContractDraft(BaseModel):
    key: StepKey
    contract_id: str
    account_id: str
    terms: ContractTerms


class DraftedContract(BaseModel):
    contract_id: str
    currency: str
    parts: list[ContractPart]


class TermsChange(BaseModel):
    key: StepKey
    contract_id: str
    terms: ContractTerms


class PartsChange(BaseModel):
    """The store applies the changes to the parts it holds, under the contract's lock."""

    key: StepKey
    contract_id: str
    changes: list[PartChange]


class ContractActivation(BaseModel):
    key: StepKey
    contract_id: str


class OnboardingClosure(BaseModel):
    key: StepKey
    contract_id: str | None
    reason: str


# --- onboarding campaign --------------------------------------------------------------------


class CampaignStage(StrEnum):
    STARTING = "starting-onboardings"
    DONE = "done"


class CampaignProgress(BaseModel):
    """Carried from run to run across continue-as-new."""

    total: int = 0  # clients lacking billing information or a contract when it began
    handled: int = 0
    started: int = 0  # onboardings started by this campaign (they now wait for staff)
    already_onboarding: int = 0  # an onboarding of the client was running: skipped
    cursor: str = ""  # the last client id handled; the next page starts after it
    runs: int = 1
    began: datetime | None = None


class CampaignRequest(BaseModel):
    partner_id: str | None = Field(default=None, max_length=64)
    requested_by: str = Actor
    batch_size: int = Field(default=250, ge=1, le=1000)  # clients per run
    window: int = Field(default=25, ge=1, le=200)  # onboardings being started at once
    progress: CampaignProgress | None = None


class CampaignStatus(BaseModel):
    process_id: str
    kind: ProcessKind = ProcessKind.ONBOARDING_CAMPAIGN
    stage: CampaignStage
    waiting_for: str
    since: datetime
    revision: int = 0
    account_id: str | None = None
    partner_id: str | None = None
    progress: CampaignProgress
    notes: list[str] = []

    @property
    def finished(self) -> bool:
        return self.stage == CampaignStage.DONE


def progress_line(p: CampaignProgress, done: bool = False) -> str:
    """ "312 of 5000 clients handled: 300 onboarding started, 12 already onboarding". The
    total is counted when the campaign begins; clients onboarded meanwhile drop out."""
    total = p.handled if done else max(p.total, p.handled)
    return (
        f"{p.handled} of {total} clients handled: {p.started} onboarding started, "
        f"{p.already_onboarding} already onboarding"
    )


class ClientPage(BaseModel):
    partner_id: str | None
    after: str
    limit: int


class CampaignScope(BaseModel):
    partner_id: str | None


# --- invoicing run --------------------------------------------------------------------------


class InvoicingStage(StrEnum):
    LOADING = "loading"
    REFUSED = "refused"
    AWAITING_REVIEW = "awaiting-numbering-review"
    ISSUING = "issuing"
    ISSUED = "issued"


INVOICING_FINAL = frozenset({InvoicingStage.REFUSED, InvoicingStage.ISSUED})


class InvoicingRequest(BaseModel):
    partner_id: str = AccountId
    period: date  # the first day of the month billed
    requested_by: str = Actor
    batch_size: int = Field(default=100, ge=1, le=1000)


class NumberingReview(BaseModel):
    """Staff confirm the numbering settings, changing any of them on the way."""

    actor: str = Actor
    prefix: str | None = Field(default=None, max_length=40)
    next_number: int | None = Field(default=None, ge=-(10**12), le=10**12)
    format: str | None = Field(default=None, max_length=80)


class InvoicingStatus(BaseModel):
    process_id: str
    kind: ProcessKind = ProcessKind.INVOICING_RUN
    stage: InvoicingStage
    waiting_for: str
    since: datetime
    revision: int = 0
    account_id: str | None = None
    partner_id: str
    period: str
    numbering: NumberingSettings | None = None
    next_invoice_number: str | None = None
    issued: int = 0
    first_number: str | None = None
    last_number: str | None = None
    already_issued: int = 0
    batches: int = 0
    notes: list[str] = []

    @property
    def finished(self) -> bool:
        return self.stage in INVOICING_FINAL


class NumberingLookup(BaseModel):
    partner_id: str


class NumberingConfirmation(BaseModel):
    key: StepKey
    partner_id: str
    prefix: str
    next_number: int
    format: str


class ConfirmedNumbering(BaseModel):
    settings: NumberingSettings
    by_this_review: bool  # False: another run's review confirmed them first


class InvoiceBatch(BaseModel):
    key: StepKey
    partner_id: str
    period: date
    issued_on: date
    limit: int


class IssuedBatch(BaseModel):
    issued: int
    numbers: list[str] = []  # first and last of the batch
    full: bool = False  # as many as asked for: there may be more


class PeriodLookup(BaseModel):
    partner_id: str
    period: date


class PeriodInvoices(BaseModel):
    invoices: int  # for this partner and period, by any run
    contracts_billed: int  # active contracts the period bills
    next_number: int  # of the partner's counter, after this run
