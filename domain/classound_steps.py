"""The inputs and outputs of the CLASSOUND order's activities: what crosses Temporal history
between the workflow and the store. No phone number among them: numbers travel as a
`NumberListRef`, documents as a `DocumentRef`."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from domain.catalogue import LicenceType
from domain.classound_billing import BillingPlan
from domain.documents import DocumentRef
from domain.porting_numbers import NumberListRef
from domain.steps import StepKey


class OrderPlacement(BaseModel):
    key: StepKey
    account_id: str
    pbx_id: str
    existing_customer: bool
    flats: dict[LicenceType, int]
    numbers: NumberListRef
    escalates_at: datetime
    expires_at: datetime


class PlacedOrder(BaseModel):
    partner_id: str
    flats: dict[LicenceType, int]
    numbers: int
    ticket_id: int


class DocumentRecord(BaseModel):
    key: StepKey
    document: DocumentRef


class RecordedDocument(BaseModel):
    document_id: int
    already: bool = False  # the same file is already the current one of its kind
    uploaded_at: datetime


class ResellerReminder(BaseModel):
    key: StepKey
    partner_id: str
    reminder_no: int
    waiting_for: str


class Escalation(BaseModel):
    key: StepKey
    account_id: str
    pbx_id: str
    waiting_for: str
    days: int


class DeadlineChange(BaseModel):
    key: StepKey
    days: int
    escalates_at: datetime
    expires_at: datetime


class PortingSubmission(BaseModel):
    key: StepKey
    attempt: int
    pbx_id: str
    partner_id: str
    loa_document_id: int
    invoice_document_id: int


class SubmittedPorting(BaseModel):
    request_id: int
    numbers: int


class CarrierChase(BaseModel):
    key: StepKey
    account_id: str
    pbx_id: str
    attempt: int
    days: int


class CarrierAnswerRecord(BaseModel):
    key: StepKey
    attempt: int
    account_id: str
    partner_id: str
    porting_date: date | None = None
    refused: str | None = None
    # after a refusal the reseller has a new period with fresh deadlines
    escalates_at: datetime | None = None
    expires_at: datetime | None = None


class Activation(BaseModel):
    key: StepKey
    attempt: int
    account_id: str
    pbx_id: str
    partner_id: str
    flats: dict[LicenceType, int]
    porting_date: date


class Activated(BaseModel):
    dids: int
    flats: dict[LicenceType, int]
    plans: list[BillingPlan]
    records: list[str]
    notes: list[str] = []


class ClassoundClosure(BaseModel):
    key: StepKey
    status: Literal["cancelled", "expired"]
    reason: str
    account_id: str
    pbx_id: str
    partner_id: str
    withdraw_attempt: int | None = None  # a porting request the carrier has: withdraw it
