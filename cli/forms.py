"""The forms of what staff type: ids and numbers (checked by argparse, before anything is
sent), dates, text files, and a request model's refusal named by the option typed."""

import argparse
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from client.failures import BAD_INPUT, BadInput, Failure
from domain import ids
from domain.business_time import Family, business_today


def id_of(form: ids.Form) -> Callable[[str], str]:
    """An argparse type: the id if it has the form, else exit 2 naming the form."""

    def parse(text: str) -> str:
        if not form.matches(text):
            raise argparse.ArgumentTypeError(ids.expected(form))
        return text

    return parse


CODE, USER, NAME = id_of(ids.CODE), id_of(ids.USER), id_of(ids.NAME)
PROCESS_ID, REQUEST_ID, QUOTE_ID = id_of(ids.PROCESS), id_of(ids.REQUEST), id_of(ids.QUOTE)


def whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            return ids.number(text, low, high)
        except ids.IdError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


RECORD_NUMBER = whole(1, ids.BIGINT_MAX)  # tickets, time entries, sales items (bigint)


def read_text(path: Path | str, what: str | None = None) -> str:
    """A text file people made (lead lists, number lists, quote lines): UTF-8, with or
    without a BOM. Anything else is exit 2 naming the file and the encoding expected."""
    path = Path(path)
    name = what or str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BadInput(f"cannot read {name}: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise BadInput(
            f"{name} is not UTF-8 text (byte 0x{data[e.start]:02X} on line {line}): "
            'save it as UTF-8 (e.g. "CSV UTF-8" in a spreadsheet) and try again'
        ) from None


DATE_FORM = "use YYYY-MM-DD, e.g. 2026-12-31"


def a_date(text: str) -> date:
    """An argparse type: a date as YYYY-MM-DD, else exit 2 naming the option and the form."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{DATE_FORM} (not {text!r})") from None


DATE = a_date

# The option a person typed for a field of our requests (one mapping for every command): a
# refusal of a request model names the option, never the field. A field not listed is named
# `--field-name`, which is its option wherever the names agree.
OPTION_OF = {
    "agreed_start": "--start-date",
    "account_id": "--account",
    "pbx_id": "--pbx",
    "partner_id": "--partner",
    "contact_id": "--contact",
    "ticket_id": "--ticket",
    "original_contract_id": "--original-contract",
    "queue_id": "--queue",
    "lead_id": "--lead",
    "opportunity_id": "--opportunity",
    "time_entry_id": "ENTRY",
    "sales_item_id": "ITEM",
    "quote_id": "--quote",
    "work_date": "--date",
    "start_date": "--start",
    "end_date": "--end",
    "porting_date": "--porting-date",
    "actor": "--as",
    "requested_by": "--as",
    "channel_manager": "--channel-manager",
    "unit_price": "--price",
    "billing_email": "--billing-email",
    "tax_id": "--tax-id",
    "payment_terms_days": "--payment-terms",
    "legal_name": "--legal-name",
    "postal_code": "--postal-code",
    "invoice_email": "--invoice-email",
    "lines": "--line",
}


def option_of(loc: tuple) -> str:
    """The option of a pydantic error location: its last field name (`change.log-time.minutes`
    is --minutes), or the repeated option and its position (`lines.1.sku` is --line 2)."""
    for i, part in enumerate(loc):
        if isinstance(part, int) and i and loc[i - 1] in OPTION_OF:
            return f"{OPTION_OF[loc[i - 1]]} {part + 1}"
    names = [part for part in loc if isinstance(part, str)]
    field = names[-1] if names else "value"
    return OPTION_OF.get(field, "--" + field.replace("_", "-"))


def in_words(err: ErrorDetails) -> str:
    """What to type instead, for one pydantic error."""
    kind, value = err["type"], err.get("input")
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    shown = (
        f" (not {value!r})"
        if isinstance(value, str | int | float) and len(str(value)) <= 40
        else ""
    )
    if kind.startswith(("date_", "datetime_")):
        return f"{DATE_FORM}{shown}"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"use a whole number, e.g. 30{shown}"
    if kind.startswith(("decimal_", "float_")) and "max" not in kind:
        return f"use an amount, e.g. 19.90{shown}"
    if kind == "decimal_max_places":
        return f"use at most {ctx.get('decimal_places')} decimal places{shown}"
    if kind in ("greater_than_equal", "greater_than"):
        return (
            f"use {ctx['ge']} or more{shown}"
            if "ge" in ctx
            else f"use more than {ctx.get('gt')}{shown}"
        )
    if kind in ("less_than_equal", "less_than"):
        return (
            f"use at most {ctx['le']}{shown}"
            if "le" in ctx
            else f"use less than {ctx.get('lt')}{shown}"
        )
    if kind == "string_too_short":
        return (
            "must not be empty"
            if ctx.get("min_length") == 1
            else f"use at least {ctx.get('min_length')} characters"
        )
    if kind == "string_too_long":
        return f"use at most {ctx.get('max_length')} characters"
    if kind == "missing":
        return "is required"
    if kind in ("enum", "literal_error"):
        return f"use {ctx.get('expected', 'one of the values --help lists')}{shown}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return str(err["msg"])


def validated(model: type[BaseModel], **fields: Any) -> Any:
    """The request model, or exit 2 naming each bad option and the form expected."""
    try:
        return model(**fields)
    except ValidationError as e:
        problems = "; ".join(
            dict.fromkeys(f"{option_of(err['loc'])}: {in_words(err)}" for err in e.errors())
        )
        raise Failure(BAD_INPUT, problems) from None


def same_day_ref(*parts: Any, family: Family, now: datetime | None = None) -> str:
    """Same request, same business day (of the process family) -> same process id: a
    retried start is not doubled."""
    today = business_today(now or datetime.now(UTC), family)
    body = json.dumps([*parts, today.isoformat()], sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:8]


def price(text: str, what: str) -> Decimal:
    """A price as staff type it (19.90 or 19,90), else exit 2 naming the option."""
    try:
        return Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        raise BadInput(f"{what}: {text!r} is not a price (e.g. 19.90)") from None
