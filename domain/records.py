"""Reads for people: what the starter shows without SQL. The starter reads them from
PostgreSQL in a read-only transaction under the reader role (store/records.py `reading`):
a read is not a process, so it starts no workflow.

- the cards of a lead queue's leads: company, country, postal code, product, arrival, so that
  a partner can tell what to claim (the queue's own state holds ids only);
- an invoice by its number, with its lines;
- the contacts of an account or of a partner (partner users among them)."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

Id = Field(min_length=1, max_length=200)


class RecordsLookup(BaseModel):
    what: Literal["lead-cards", "invoice", "contacts"]
    queue_id: str | None = None
    lead_ids: list[str] = Field(default=[], max_length=500)
    invoice_number: str | None = None
    partner_id: str | None = None
    account_id: str | None = None


class LeadCard(BaseModel):
    id: str
    company: str
    country: str
    postal_code: str
    product: str
    arrived: datetime
    status: str = ""
    owner: str = ""  # the current owner's user id, if any
    partner: str = ""


class InvoiceLineView(BaseModel):
    line_no: int
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    amount: Decimal


class InvoiceView(BaseModel):
    number: str
    partner_id: str
    account_id: str
    account_name: str
    contract_id: str
    period: date
    currency: str
    total: Decimal
    issued_on: date
    due_on: date
    process_id: str
    lines: list[InvoiceLineView] = []


class ContactCard(BaseModel):
    id: str
    name: str
    email: str
    phone: str
    account_id: str | None = None
    partner_id: str | None = None
    signing_authority: bool = False
    partner_user: str | None = None  # invited / active / inactive, for a partner's contact


class Records(BaseModel):
    lead_cards: list[LeadCard] = []
    invoices: list[InvoiceView] = []
    contacts: list[ContactCard] = []
    refused: str | None = None


def lead_age(arrived: datetime, now: datetime) -> str:
    """How long a lead has waited, as people say it: 45 min, 5 h, 3 d."""
    minutes = max(0, int((now - arrived).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"
