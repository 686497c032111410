"""Service-desk tickets, their time entries and sales items of PSA clients:
tickets are created, answered, resolved and closed whether or not the client has billing
information; their time can be approved, and sales items made for or moved to a client,
only once it has. The store enforces those gates (migration 004); this module holds the
ticket life cycle and the shape of each change staff make."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from domain.errors import Refused
from domain.ids import BIGINT_MAX
from domain.steps import Actor, StepKey

Id = Field(ge=1, le=BIGINT_MAX)  # a PostgreSQL bigint, as the starter's forms take it
ClientId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")


class TicketStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    RESOLVED = "resolved"
    CLOSED = "closed"


TICKET_ACTIONS = {
    "answer-ticket": TicketStatus.ANSWERED,
    "resolve-ticket": TicketStatus.RESOLVED,
    "close-ticket": TicketStatus.CLOSED,
}


def next_ticket_status(ticket_id: int, current: TicketStatus, operation: str) -> TicketStatus:
    """Answering a resolved ticket reopens the conversation (answered); a closed ticket takes
    nothing more; resolving needs an unresolved ticket."""
    target = TICKET_ACTIONS[operation]
    if current == TicketStatus.CLOSED:
        raise Refused(f"ticket {ticket_id} is closed; open a new ticket")
    if target == TicketStatus.RESOLVED and current == TicketStatus.RESOLVED:
        raise Refused(f"ticket {ticket_id} is already resolved")
    return target


def time_can_be_logged(ticket_id: int, current: TicketStatus) -> None:
    if current == TicketStatus.CLOSED:
        raise Refused(f"ticket {ticket_id} is closed; time cannot be logged on it any more")


# --- the changes staff make (starter commands) ----------------------------------------------


class CreateTicket(BaseModel):
    operation: Literal["create-ticket"] = "create-ticket"
    account_id: str = ClientId
    subject: str = Field(min_length=1, max_length=200)
    text: str = Field(default="", max_length=5000)


class TicketAction(BaseModel):
    operation: Literal["answer-ticket", "resolve-ticket", "close-ticket"]
    ticket_id: int = Id
    text: str = Field(default="", max_length=5000)

    @model_validator(mode="after")
    def _answer_has_text(self) -> "TicketAction":
        if self.operation == "answer-ticket" and not self.text.strip():
            raise ValueError("an answer needs its text")
        return self


class LogTime(BaseModel):
    operation: Literal["log-time"] = "log-time"
    ticket_id: int = Id
    minutes: int = Field(ge=1, le=24 * 60)
    work_date: date
    note: str = Field(default="", max_length=500)


class ApproveTime(BaseModel):
    operation: Literal["approve-time"] = "approve-time"
    time_entry_id: int = Id


class CreateSalesItem(BaseModel):
    operation: Literal["create-sales-item"] = "create-sales-item"
    account_id: str = ClientId
    description: str = Field(min_length=1, max_length=200)
    quantity: int = Field(ge=1, le=100_000)
    unit_price: Decimal = Field(ge=0, le=1_000_000, max_digits=9, decimal_places=2)


class MoveSalesItem(BaseModel):
    operation: Literal["move-sales-item"] = "move-sales-item"
    sales_item_id: int = Id
    account_id: str = ClientId  # the client it moves to


RecordOperation = Annotated[
    CreateTicket | TicketAction | LogTime | ApproveTime | CreateSalesItem | MoveSalesItem,
    Field(discriminator="operation"),
]


def named_account(
    change: CreateTicket | TicketAction | LogTime | ApproveTime | CreateSalesItem | MoveSalesItem,
) -> str | None:
    """The client a change names itself (creating a ticket or a sales item, moving one);
    a change of a ticket or a time entry names none: the store finds it by the record."""
    if isinstance(change, CreateTicket | CreateSalesItem | MoveSalesItem):
        return change.account_id
    return None


class RecordChangeRequest(BaseModel):
    actor: str = Actor
    change: RecordOperation


class RecordChangeStep(BaseModel):
    key: StepKey
    change: RecordOperation


class RecordStage(StrEnum):
    DONE = "done"
    REFUSED = "refused"


class RecordChanged(BaseModel):
    """What the store did: the record, its client, and a sentence for staff."""

    record_id: int
    account_id: str
    message: str


class RecordChangeResult(BaseModel):
    process_id: str
    kind: str = "record-change"
    stage: RecordStage
    message: str
    operation: str
    record_id: int | None = None
    account_id: str | None = None
    at: datetime | None = None
