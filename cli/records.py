"""What the starter shows without SQL (domain/records.py): an invoice by its number, the
contacts of an account or a partner, and the cards of a lead queue's leads (company, country,
postal code, product, age) beside its status. Read straight from PostgreSQL in a read-only
transaction under the reader role (store/records.py `reading`), never through a workflow: a
read is not a process, and Temporal's list holds only processes. Who reads is checked (and a
refusal logged) before, like every command (cli/who.py)."""

import argparse
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from cli.common import Commands, database_dsn, emit
from cli.forms import CODE
from client.failures import OK, REFUSED, SETUP, UNREACHABLE, Failure, first_line
from domain.records import Records, RecordsLookup, lead_age
from store import records as store

_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,99}$")


def invoice_number(text: str) -> str:
    """An argparse type: an invoice number as printed on it (RE-2026-01000)."""
    if not _NUMBER.match(text):
        raise argparse.ArgumentTypeError(
            "use the number printed on the invoice, e.g. "
            "RE-2026-01000 (letters, digits, . _ : / # -)"
        )
    return text


@asynccontextmanager
async def reading(what: str) -> AsyncIterator[Any]:
    """A read-only connection to the records, or why there is none in words."""
    dsn = database_dsn()
    if not dsn:
        raise Failure(
            SETUP,
            f"cannot read {what}: no records database; set DATABASE_URL (a login that is a "
            "member of partnerflow_reader is enough), or start ./run",
        )
    stack = AsyncExitStack()
    try:
        conn = await stack.enter_async_context(store.reading(dsn))
    except (OSError, TimeoutError) as e:
        where = urlsplit(dsn).netloc.rpartition("@")[2] or "DATABASE_URL"
        raise Failure(
            UNREACHABLE, f"cannot reach the records database at {where}: {first_line(e)}"
        ) from None
    except asyncpg.PostgresError as e:
        raise Failure(SETUP, f"the records database refused us: {first_line(e)}") from None
    async with stack:
        yield conn


async def read(lookup: RecordsLookup, what: str) -> Records:
    async with reading(what) as conn:
        found = await store.look_up(conn, lookup)
    if found.refused:
        raise Failure(REFUSED, found.refused)
    return found


async def lead_cards(status: dict) -> dict:
    """The company, country, postal code, product and arrival of a queue's leads come from
    their records: those the status names (queues of the earlier design), else the queue's
    newest."""
    ids = list(status.get("leads") or {})[-50:]
    if not ids and status.get("design") != "router":
        return {}
    found = await read(
        RecordsLookup(what="lead-cards", queue_id=status.get("queue_id"), lead_ids=ids),
        f"the leads of {status.get('queue_id')}",
    )
    return {"lead_cards": {c.id: c.model_dump(mode="json") for c in found.lead_cards}}


def lead_card_words(card: dict | None, now: datetime) -> str:
    """`Hafenlogistik GmbH, DE 20457, Premium, 3 h`: what a partner decides a claim on."""
    if not card:
        return ""
    arrived = datetime.fromisoformat(card["arrived"])
    place = " ".join(p for p in (card["country"], card["postal_code"]) if p) or "-"
    return (
        f"{card['company']}, {place}, {card['product'] or 'no product'}, {lead_age(arrived, now)}"
    )


def show_invoice(found: Records) -> str:
    out = []
    for inv in found.invoices:
        out += [
            f"invoice {inv.number}  (partner {inv.partner_id})",
            f"  client:      {inv.account_id} {inv.account_name}",
            f"  contract:    {inv.contract_id}, period {inv.period:%Y-%m}",
            f"  issued:      {inv.issued_on}, due {inv.due_on}",
            f"  total:       {inv.total} {inv.currency}",
        ]
        out += [
            f"  line {ln.line_no}:      {ln.sku} {ln.name} {ln.quantity} x {ln.unit_price}"
            f" = {ln.amount}"
            for ln in inv.lines
        ]
        out.append(f"  issued by:   {inv.process_id}")
    return "\n".join(out)


def show_contacts(found: Records) -> str:
    if not found.contacts:
        return "no contacts"
    out = []
    for c in found.contacts:
        of = f"account {c.account_id}" if c.account_id else f"partner {c.partner_id}"
        extra = [
            x
            for x in (
                "signs contracts" if c.signing_authority else "",
                f"partner user: {c.partner_user}" if c.partner_user else "",
            )
            if x
        ]
        reach = ", ".join(x for x in (c.email, c.phone) if x) or "no e-mail or phone"
        out.append(
            f"{c.id:<12} {c.name} ({of}): {reach}" + (f"; {'; '.join(extra)}" if extra else "")
        )
    return "\n".join(out)


async def cmd_invoice(args) -> int:
    found = await read(
        RecordsLookup(what="invoice", invoice_number=args.number, partner_id=args.partner),
        f"invoice {args.number}",
    )
    emit(args, True, show_invoice(found), found.model_dump(mode="json")["invoices"])
    return OK


async def cmd_contacts(args) -> int:
    if bool(args.account) == bool(args.partner):
        raise Failure(2, "give --account or --partner (one of them)")
    found = await read(
        RecordsLookup(what="contacts", account_id=args.account, partner_id=args.partner),
        f"the contacts of {args.account or args.partner}",
    )
    emit(args, True, show_contacts(found), found.model_dump(mode="json")["contacts"])
    return OK


def register(commands: Commands) -> None:
    c = commands.add(
        "invoice",
        "an issued invoice by its number: client, contract, period, lines, total",
        cmd_invoice,
    )
    c.add_argument(
        "number",
        metavar="NUMBER",
        type=invoice_number,
        help="as printed on the invoice, e.g. RE-2026-01000",
    )
    c.add_argument("--partner", type=CODE, help="the partner, where two use the same number")
    c = commands.add(
        "contacts",
        "the contacts of an account, or of a partner (and which of them are partner users)",
        cmd_contacts,
    )
    c.add_argument("--account", type=CODE)
    c.add_argument("--partner", type=CODE)


def now() -> datetime:
    return datetime.now(UTC)
