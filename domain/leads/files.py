"""Leads as they arrive: rows of a file, checked whole, and the same person twice as one lead.

Lead data (names, e-mails, phones) is personal data: it lives in PostgreSQL rows only. The
workflows know a lead by its id, a dedupe key (a hash) and the non-personal routing fields;
`LeadRow` never crosses into Temporal."""

import csv
import hashlib
import io
import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from domain.errors import Refused

MAX_LEADS_PER_BATCH = 500  # leads named in one step on leads (mass reassignment)
# A file is checked whole before anything is sent, and refused whole beyond these limits; it
# then travels in batches of 5,000 (one step each, resumable).
MAX_LEADS_PER_FILE = 100_000
MAX_LEAD_FILE_BYTES = 64 * 1024 * 1024
IMPORT_BATCH = 5_000

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FIELDS = ("company", "name", "email", "phone", "country", "postal_code", "product", "source")
PROBLEMS_SHOWN = 10


class LeadRow(BaseModel):
    company: str = Field(min_length=1, max_length=200)
    name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254)
    phone: str = Field(default="", max_length=40)
    country: str = Field(default="", max_length=2)
    postal_code: str = Field(default="", max_length=12)
    product: str = Field(default="", max_length=64)
    source: str = Field(default="", max_length=100)

    @field_validator("*", mode="before")
    @classmethod
    def _strip(cls, v: Any) -> Any:
        return v.strip() if isinstance(v, str) else ("" if v is None else v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if v and not EMAIL.match(v):
            raise ValueError("not an e-mail address")
        return v.lower()

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        if v and not re.fullmatch(r"[A-Za-z]{2}", v):
            raise ValueError("a two-letter country code (DE, FR, DK)")
        return v.upper()

    @field_validator("postal_code")
    @classmethod
    def _postal(cls, v: str) -> str:
        return v.replace(" ", "").upper()

    @model_validator(mode="after")
    def _reachable(self) -> "LeadRow":
        if not self.email and not self.phone:
            raise ValueError("an e-mail or a phone number is needed to follow the lead up")
        return self


def dedupe_key(row: LeadRow) -> str:
    """The same person twice is one lead: the e-mail decides, else the phone digits with the
    company. Hashed, so that the key can live in workflow state without being personal data."""
    if row.email:
        identity = f"email:{row.email.lower()}"
    else:
        digits = re.sub(r"\D", "", row.phone)
        identity = f"phone:{digits}:{row.company.lower()}"
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def _json_items(name: str, text: str) -> list[dict]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise Refused(f"{name} is not JSON: {e}") from None
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise Refused(
            f"{name}: expected a list of leads, e.g. "
            '[{"company": "Acme", "email": "x@acme.example", "country": "DE"}]'
        )
    return raw


def _csv_items(name: str, text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "company" not in reader.fieldnames:
        raise Refused(
            f"{name}: the first line must name the columns, with at least "
            f"company; known columns: {', '.join(FIELDS)}"
        )
    return list(reader)


def _row_problems(n: int, item: dict) -> tuple[LeadRow | None, list[str]]:
    unknown = sorted(k for k in item if k not in FIELDS and k is not None)
    if unknown:
        return None, [f"row {n}: unknown field(s) {', '.join(unknown)}"]
    try:
        return LeadRow(**{k: v for k, v in item.items() if k in FIELDS}), []
    except ValidationError as e:
        return None, [
            f"row {n} {'.'.join(str(x) for x in err['loc']) or 'lead'}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in e.errors()
        ]


def parse_lead_file(name: str, text: str) -> list[LeadRow]:
    """Leads from a .json file (a list of objects) or a .csv file (a header line naming the
    fields). Every problem is named with its row; nothing is accepted from a bad file."""
    if name.lower().endswith(".json"):
        raw = _json_items(name, text)
    elif name.lower().endswith(".csv"):
        raw = _csv_items(name, text)
    else:
        raise Refused(f"{name}: give a .json or .csv file")
    if not raw:
        raise Refused(f"{name} has no leads")
    rows: list[LeadRow] = []
    problems: list[str] = []
    for n, item in enumerate(raw, 1):
        row, found = _row_problems(n, item)
        problems += found
        if row is not None:
            rows.append(row)
    if problems:
        shown = "; ".join(problems[:PROBLEMS_SHOWN])
        more = (
            f" (and {len(problems) - PROBLEMS_SHOWN} more)"
            if len(problems) > PROBLEMS_SHOWN
            else ""
        )
        raise Refused(f"{name}: {shown}{more}")
    return rows


T = TypeVar("T")


def batches(rows: list[T], size: int = MAX_LEADS_PER_BATCH) -> list[list[T]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


class LeadBatchRef(BaseModel):
    """A file of leads kept outside Temporal (store/leads.py): what travels instead."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0)
    leads: int = Field(gt=0, le=IMPORT_BATCH)
