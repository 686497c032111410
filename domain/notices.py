"""What each kind of message carries: one model per notification kind, built by the step that
writes the outbox row and read by its template (relay/templates/<language>/<kind>.j2). The
step and the template share the model, so a field a template reads is a field the step must
give, of the type the template expects (a list of numbers is a list, not a count).

Partner notices carry `portal_path`, the page of their item in the partner portal; the relay
makes it a link through the portal's login (`/login?next=<path>`), so an e-mail leads to its
order, documents, lead or opportunity."""

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict


class Notice(BaseModel):
    """A message's payload. `kind` is the template; `payload()` what the outbox row keeps."""

    model_config = ConfigDict(frozen=True)
    kind: ClassVar[str]

    @property
    def template(self) -> str:
        return self.kind

    def payload(self) -> dict:
        return self.model_dump(mode="json")


# --- where a partner's item is in the portal -------------------------------------------------


def order_page(process_id: str) -> str:
    """The order's card on the orders page (the portal names each card by its process)."""
    return f"/orders#order-{process_id}"


def documents_page(process_id: str) -> str:
    return f"/documents#documents-{process_id}"


def my_leads_page(lead_id: str | None = None) -> str:
    return f"/my-leads#lead-{lead_id}" if lead_id else "/my-leads"


def lead_inbox_page() -> str:
    """The leads of the partner's queues that no one holds (a recalled lead is back there)."""
    return "/leads"


def opportunity_page(opportunity_id: str) -> str:
    return f"/opportunities#opp-{opportunity_id}"


# --- change orders ---------------------------------------------------------------------------


class OrderAwaitingConfirmation(Notice):
    kind = "order_awaiting_confirmation"
    order_id: str
    account_id: str
    pbx_id: str
    portal_path: str


class OrderConfirmationReminder(Notice):
    kind = "order_confirmation_reminder"
    order_id: str
    reminder: int
    portal_path: str


class OrderApplied(Notice):
    kind = "order_applied"
    order_id: str
    changes: list[str]
    portal_path: str


class OrderClosed(Notice):
    """Cancelled by staff, or expired unconfirmed."""

    status: str  # cancelled, expired
    order_id: str
    reason: str
    portal_path: str

    @property
    def template(self) -> str:
        return f"order_{self.status}"


class OrderDeclined(Notice):
    """To staff: a partner declined an order in the portal, with its reason."""

    kind = "order_declined"
    order_id: str
    account_id: str
    partner_id: str
    declined_by: str
    reason: str


# --- CLASSOUND orders and porting --------------------------------------------------------------


class DocumentsRequested(Notice):
    kind = "classound_documents_requested"
    process_id: str
    portal_path: str


class DocumentsReminder(Notice):
    kind = "classound_documents_reminder"
    process_id: str
    reminder: int
    waiting_for: str
    portal_path: str


class PortingRequest(Notice):
    """To the old carrier's porting desk (a team address)."""

    kind = "porting_request"
    porting_request_id: int
    pbx_id: str
    attempt: int


class PortingAnswered(Notice):
    """The old carrier's answer, told to the partner: a porting date, or a refusal."""

    refused: bool
    process_id: str
    attempt: int
    porting_date: str | None
    portal_path: str

    @property
    def template(self) -> str:
        return "porting_refused" if self.refused else "porting_scheduled"


class ClassoundActive(Notice):
    kind = "classound_active"
    process_id: str
    dids: list[str]  # the numbers now live, as the partner knows them
    activated_on: str
    portal_path: str


class ClassoundClosed(Notice):
    status: str  # cancelled, expired
    process_id: str
    reason: str
    portal_path: str

    @property
    def template(self) -> str:
        return f"classound_{self.status}"


# --- renegotiation and the customer's contract ---------------------------------------------------


class ContractForSigning(Notice):
    """The contract's e-mail and SMS (the link travels apart, as the row's secret)."""

    channel: Literal["email", "sms"]
    contract_id: str
    signing_deadline: str

    @property
    def template(self) -> str:
        return f"contract_for_signing_{self.channel}"


class SigningReminder(Notice):
    kind = "contract_signing_reminder"
    contract_id: str
    reminder: int
    signing_deadline: str


class SigningDeadlineExtended(Notice):
    kind = "contract_signing_deadline_extended"
    contract_id: str
    signing_deadline: str


class SigningDeadlinePassed(Notice):
    kind = "renegotiation_signing_deadline_passed"
    process_id: str
    ticket_id: int
    contract_id: str
    signing_deadline: str


class IncreaseForSalesCredit(Notice):
    kind = "renegotiation_increase_for_sales_credit"
    account_id: str
    deal_id: str
    contract_id: str
    licences_before: int
    licences_after: int
    originally_signed_on: str
    signed_on: str


class ContractDeclined(Notice):
    """To customer care: the customer declined on the signing page."""

    kind = "renegotiation_contract_declined"
    process_id: str
    ticket_id: int
    contract_id: str
    account_id: str
    declined_on: str
    reason: str


class ContractSignedReceipt(Notice):
    """To the customer who signed: the signed contract, its evidence certificate the PDF's
    last page (the relay attaches it, made from the records when it sends)."""

    kind = "contract_signed_receipt"
    contract_id: str
    company: str
    signed_at: str  # ISO 8601 with its offset
    reader_language: str  # the one the signer chose on the page
    attach_signed_contract: bool = True


class ContractDeclinedReceipt(Notice):
    """To the customer who declined: their decline, confirmed."""

    kind = "contract_declined_receipt"
    contract_id: str
    company: str
    declined_at: str
    reason: str
    reader_language: str


# --- partner users and leads -------------------------------------------------------------------


class PartnerUserLogin(Notice):
    """The invitation: the user id to log in with and until when the link works."""

    kind = "partner_user_login"
    partner_id: str
    partner_name: str
    user_id: str
    expires_at: str  # ISO 8601 with its offset; the template shows it in the reader's zone


class LeadsAssigned(Notice):
    kind = "leads_assigned"
    queue_id: str
    lead_ids: list[str]
    portal_path: str


class LeadOwnerChanged(Notice):
    kind = "lead_owner_changed"
    queue_id: str
    lead_ids: list[str]
    by: str
    portal_path: str


class LeadRecalled(Notice):
    """To the user who held the lead and to the queue's channel managers."""

    kind = "lead_recalled"
    queue_id: str
    lead_id: str
    user_id: str
    partner_id: str | None
    work_within_minutes: int
    portal_path: str


class LeadNotInterested(Notice):
    kind = "lead_not_interested"
    queue_id: str
    lead_id: str
    user_id: str
    partner_id: str | None
    reason: str


class PasswordReset(Notice):
    """A partner user asked for a new password (the link travels apart, as the row's secret)."""

    kind = "password_reset"
    user_id: str
    expires_at: str


# --- operations ----------------------------------------------------------------------------------


class ClosedByReconciliation(Notice):
    kind = "process_closed_by_reconciliation"
    records: list[str]
    reason: str
