"""What the starter shows without SQL (domain/records.py): an invoice by its number, the
contacts of an account or a partner, and the cards of a lead queue's leads (company, country,
postal code, product, age) beside its status. Read through the RecordsRead workflow: the
starter has no database access."""

import argparse
import re
import uuid
from datetime import UTC, datetime

from cli.common import Commands, answered, emit, settings, temporal
from cli.forms import CODE
from client.failures import OK, REFUSED, Failure
from domain.records import Records, RecordsLookup, lead_age
from workflows.accounts import READ_DEADLINE
from workflows.records import RecordsRead

_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,99}$")


def invoice_number(text: str) -> str:
    """An argparse type: an invoice number as printed on it (RE-2026-01000)."""
    if not _NUMBER.match(text):
        raise argparse.ArgumentTypeError(
            "use the number printed on the invoice, e.g. "
            "RE-2026-01000 (letters, digits, . _ : / # -)"
        )
    return text


async def read(lookup: RecordsLookup, what: str) -> Records:
    client = await temporal()
    read_id = f"records-{lookup.what}-{uuid.uuid4().hex[:12]}"
    found: Records = await answered(
        client,
        read_id,
        what,
        client.execute_workflow(
            RecordsRead.run,
            lookup,
            id=read_id,
            task_queue=settings().task_queue,
            execution_timeout=READ_DEADLINE,
            static_summary=f"read {what}",
        ),
    )
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
