"""CLASSOUND activation and number porting: the rules, the timing of the wait for the
reseller and the carrier, and the models of the process's input, human steps and status.
The activities' inputs and outputs are in domain/classound_steps.py, the billing plan per
licence in domain/classound_billing.py. No model carries a phone number: numbers travel as
a `NumberListRef`, documents as a `DocumentRef`."""

import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from domain.catalogue import LicenceType
from domain.documents import DocumentKind, DocumentRef
from domain.errors import Refused
from domain.porting_numbers import NumberListRef
from domain.steps import Actor


class ProcessKind(StrEnum):
    CLASSOUND_ORDER = "classound-order"


class Stage(StrEnum):
    VALIDATING = "validating"
    REFUSED = "refused"
    AWAITING_DOCUMENTS = "awaiting-documents"  # LOA and/or last invoice missing
    AWAITING_CONFIRMATION = "awaiting-confirmation"  # both there: "Bestellung bestätigen"
    CARRIER_REFUSED = "carrier-refused"  # back with the reseller: fix documents, resubmit
    PORTING_REQUESTED = "porting-requested"  # waiting for the carrier's porting date
    PORTING_SCHEDULED = "porting-scheduled"  # a durable timer until the porting date
    ACTIVATING = "activating"
    ACTIVE = "active"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


FINAL_STAGES = frozenset({Stage.REFUSED, Stage.ACTIVE, Stage.EXPIRED, Stage.CANCELLED})
# While the reseller owes us something, documents can change and the deadlines run.
RESELLER_STAGES = frozenset(
    {Stage.AWAITING_DOCUMENTS, Stage.AWAITING_CONFIRMATION, Stage.CARRIER_REFUSED}
)
CARRIER_STAGES = frozenset({Stage.PORTING_REQUESTED, Stage.PORTING_SCHEDULED})


# --- the wait for the reseller (our choice; docs/processes.md "Process rules") ---------------

REMIND_EVERY = timedelta(days=3)
ESCALATE_AFTER = timedelta(days=10)  # a customer-care ticket: someone calls the reseller
EXPIRES_AFTER = timedelta(days=30)
CARRIER_ANSWER_DUE = timedelta(days=10)  # then customer care chases the carrier, once
MAX_EXTENSION_DAYS = 60  # per `extend`; staff may extend again
PORTING_HORIZON = timedelta(days=365)

ResellerEvent = Literal["reminder", "escalation", "expiry"]


def deadlines(since: datetime, extended: timedelta) -> tuple[datetime, datetime]:
    """(escalation, expiry) of a wait for the reseller that began at `since`."""
    return since + ESCALATE_AFTER + extended, since + EXPIRES_AFTER + extended


def next_reseller_event(
    since: datetime, reminders_sent: int, escalated: bool, extended: timedelta = timedelta(0)
) -> tuple[ResellerEvent, datetime]:
    """The next thing that happens while the reseller's documents or confirmation are
    outstanding. Reminders keep their rhythm from `since`; an extension moves the escalation
    (if it has not happened) and the expiry. On a tie expiry wins, then escalation."""
    escalation, expiry = deadlines(since, extended)
    candidates: list[tuple[datetime, int, ResellerEvent]] = [(expiry, 0, "expiry")]
    if not escalated and escalation < expiry:
        candidates.append((escalation, 1, "escalation"))
    reminder = since + REMIND_EVERY * (reminders_sent + 1)
    if reminder < expiry:
        candidates.append((reminder, 2, "reminder"))
    at, _, event = min(candidates)
    return event, at


# --- what is ordered ------------------------------------------------------------------------


def flats_to_order(
    pbx_id: str,
    requested: dict[LicenceType, int],
    licences: dict[LicenceType, int],
    existing_flats: dict[LicenceType, int],
    existing_customer: bool,
) -> dict[LicenceType, int]:
    """The CLASSOUND-FLATs an order adds: one per licence seat at most (flats already on the
    PBX count). A new activation without `--flat` books a flat for every licence seat; a
    "Classound ordering" (existing customer) adds only the flats it names."""
    has_classound = sum(existing_flats.values()) > 0
    if existing_customer and not has_classound:
        raise Refused(
            f"PBX {pbx_id} has no CLASSOUND yet: order a CLASSOUND activation "
            "(without --existing-customer)"
        )
    if not existing_customer and has_classound:
        raise Refused(
            f"PBX {pbx_id} already uses CLASSOUND ({sum(existing_flats.values())} "
            "flat(s)): use Classound ordering (--existing-customer) for more services"
        )
    free = {t: licences.get(t, 0) - existing_flats.get(t, 0) for t in LicenceType}
    if not requested and not existing_customer:
        requested = {t: n for t, n in free.items() if n > 0}
        if not requested:
            raise Refused(
                f"PBX {pbx_id} has no licence without a CLASSOUND-FLAT; CLASSOUND is "
                "booked per licence: add licences first"
            )
    for licence, n in requested.items():
        if n > free[licence]:
            raise Refused(
                f"{n} CLASSOUND-FLAT(s) on {licence.value}: PBX {pbx_id} has "
                f"{licences.get(licence, 0)} {licence.value} licence(s), "
                f"{existing_flats.get(licence, 0)} of them with a flat already (one flat per "
                "licence)"
            )
    return {t: n for t, n in requested.items() if n > 0}


def numbers_per_flat(numbers: list[str], flat_ids: list[int]) -> dict[str, int]:
    """Which CLASSOUND-FLAT each ported number belongs to, so that a licence reduction that
    cancels a flat lists its DIDs for customer care. The order does not say
    which number serves which seat, so: in the order of the number list, in runs as even
    as possible (the longer runs first, like SQL's ntile), the first run to the first flat
    booked. The reduction cascade cancels the newest flats first, so the first numbers of
    the list (usually the main number) stay longest. No flat: no link."""
    if not flat_ids:
        return {}
    per_flat, longer = divmod(len(numbers), len(flat_ids))
    linked, at = {}, 0
    for k, flat_id in enumerate(flat_ids):
        run = per_flat + (1 if k < longer else 0)
        for number in numbers[at : at + run]:
            linked[number] = flat_id
        at += run
    return linked


_FLAT = re.compile(r"^\s*([A-Za-z]+)\s*=\s*\+?(\d+)\s*$")


def parse_flats(texts: list[str]) -> dict[LicenceType, int]:
    """`Premium=5` per licence type, as staff write them on the command line."""
    flats: dict[LicenceType, int] = {}
    names = ", ".join(t.value for t in LicenceType)
    for text in texts:
        m = _FLAT.match(text)
        if not m:
            raise ValueError(f"cannot read --flat {text!r}; write it like Premium=5")
        licence = next((t for t in LicenceType if t.value.lower() == m[1].lower()), None)
        if licence is None:
            raise ValueError(f"--flat {text!r}: {m[1]!r} is not a licence type ({names})")
        if licence in flats:
            raise ValueError(f"--flat {text!r}: {licence.value} is given twice")
        if int(m[2]) < 1:
            raise ValueError(f"--flat {text!r}: at least one flat")
        flats[licence] = int(m[2])
    return flats


# --- the carrier ----------------------------------------------------------------------------


def check_porting_date(porting_date: date, today: date) -> None:
    if porting_date < today:
        raise Refused(
            f"porting date {porting_date} is in the past (today is {today}); give "
            "the date the carrier confirmed"
        )
    if porting_date > today + PORTING_HORIZON:
        raise Refused(
            f"porting date {porting_date} is more than a year ahead; check the carrier's answer"
        )


_DATES = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}\.\d{1,2}\.\d{2,4}\b")
_DIGITS = re.compile(r"\d{7,}")


def check_no_phone_number(text: str, what: str) -> None:
    """Free text shown to ops (current details, tickets, history) must not carry a phone
    number: a run of 7+ digits, with spaces, dashes, slashes and brackets ignored (dates
    excepted), is refused."""
    if _DIGITS.search(re.sub(r"[\s()/-]", "", _DATES.sub(" ", text))):
        raise Refused(
            f"the {what} seems to contain a phone or customer number; leave numbers "
            "out (say e.g. 'line 3 of the number list'): the text is shown to ops"
        )


# --- process input and human steps ----------------------------------------------------------

FlatCount = Field(ge=1, le=10_000)


class ClassoundRequest(BaseModel):
    account_id: str = Field(min_length=1, max_length=64)
    pbx_id: str = Field(min_length=1, max_length=64)
    existing_customer: bool = False  # "Classound ordering": numbers onto existing flats
    flats: dict[LicenceType, int] = {}
    numbers: NumberListRef
    requested_by: str = Actor

    @model_validator(mode="after")
    def _flat_counts(self) -> "ClassoundRequest":
        for licence, n in self.flats.items():
            if not 1 <= n <= 10_000:
                raise ValueError(f"flats for {licence.value}: between 1 and 10000")
        return self


class DocumentUpload(BaseModel):
    actor: str = Actor
    document: DocumentRef


class Extension(BaseModel):
    actor: str = Actor
    days: int = Field(ge=1, le=MAX_EXTENSION_DAYS)


class CarrierAnswer(BaseModel):
    """What the old carrier answered to the porting request: a date, or a refusal."""

    actor: str = Actor
    porting_date: date | None = None
    refused: str | None = Field(default=None, min_length=3, max_length=300)

    @model_validator(mode="after")
    def _one_answer(self) -> "CarrierAnswer":
        if (self.porting_date is None) == (self.refused is None):
            raise ValueError("give either a porting date or the carrier's refusal reason")
        return self


# --- what the process reports ---------------------------------------------------------------


class DocumentView(BaseModel):
    document_id: int
    kind: DocumentKind
    file_name: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class PortingAttempt(BaseModel):
    attempt: int
    request_id: int
    submitted_by: str
    submitted_at: datetime
    porting_date: date | None = None
    refused: str | None = None
    chase_ticket: int | None = None


class ClassoundStatus(BaseModel):
    process_id: str
    kind: ProcessKind = ProcessKind.CLASSOUND_ORDER
    stage: Stage
    waiting_for: str
    since: datetime
    revision: int = 0
    account_id: str
    pbx_id: str
    partner_id: str | None = None
    existing_customer: bool = False
    numbers: int = 0  # how many numbers are ported; the numbers stay in PostgreSQL
    flats: dict[LicenceType, int] = {}
    documents: list[DocumentView] = []  # the newest of each kind
    missing: list[str] = []
    uploads: int = 0
    ticket_id: int | None = None  # the reseller's ticket asking for the documents
    reminders_sent: int = 0
    escalation_ticket: int | None = None
    escalates_at: datetime | None = None
    expires_at: datetime | None = None
    extended_days: int = 0
    attempts: list[PortingAttempt] = []
    porting_date: date | None = None
    billing: list[str] = []
    records: list[str] = []
    notes: list[str] = []

    @property
    def finished(self) -> bool:
        return self.stage in FINAL_STAGES

    def document(self, kind: DocumentKind) -> DocumentView | None:
        return next((d for d in self.documents if d.kind == kind), None)

    @property
    def attempt(self) -> PortingAttempt | None:
        return self.attempts[-1] if self.attempts else None
