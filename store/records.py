"""Reads for people (domain/records.py): lead cards, invoices, contacts. Read only: staff read
them straight from PostgreSQL through `reading`, never through a workflow."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from domain.records import (
    ContactCard,
    InvoiceLineView,
    InvoiceView,
    LeadCard,
    Records,
    RecordsLookup,
)
from store.db import connect

READER = "partnerflow_reader"  # store/migrations: SELECT on the records, no secret, no write
NEWEST_LEADS = 50  # what a queue's status shows of a queue that keeps no lead ids


@asynccontextmanager
async def reading(dsn: str, within: float = 10.0) -> AsyncIterator[asyncpg.Connection]:
    """A connection for reads only: a read-only transaction, under the reader role where the
    connection may take it (else read-only under its own). Nothing read this way can write."""
    conn = await asyncio.wait_for(connect(dsn), timeout=within)
    try:
        async with conn.transaction(readonly=True):
            if await conn.fetchval(
                "SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = $1",
                READER,
            ):
                await conn.execute(f"SET LOCAL ROLE {READER}")
            yield conn
    finally:
        await conn.close()


_CARD = (
    "SELECT l.id, l.company, l.country, l.postal_code, l.product, l.created_at AS arrived,"
    " l.status, coalesce(c.user_id, '') AS owner, coalesce(c.partner_id, '') AS partner"
    " FROM leads l LEFT JOIN claims c ON c.lead_id = l.id AND c.ended_at IS NULL"
)


async def lead_cards(conn: Any, queue_id: str, lead_ids: list[str]) -> Records:
    """The cards of the named leads (a lead keeps its id when it moves to another queue: found
    by id); without ids, the newest leads in the queue (its process keeps none: they are rows)."""
    if lead_ids:
        rows = await conn.fetch(_CARD + " WHERE l.id = ANY($1::text[])", lead_ids)
    else:
        rows = await conn.fetch(
            _CARD + " WHERE l.queue_id = $1 ORDER BY l.created_at DESC, l.id DESC LIMIT $2",
            queue_id,
            NEWEST_LEADS,
        )
        rows = list(reversed(rows))
    return Records(lead_cards=[LeadCard(**dict(r)) for r in rows])


async def invoices(conn: Any, number: str, partner_id: str | None) -> Records:
    rows = await conn.fetch(
        "SELECT i.id, i.number, i.partner_id, i.account_id, a.name AS account_name,"
        " i.contract_id, i.period, i.currency, i.total, i.issued_on, i.due_on, i.process_id"
        " FROM psa_invoices i JOIN accounts a ON a.id = i.account_id"
        " WHERE i.number = $1 AND ($2::text IS NULL OR i.partner_id = $2) ORDER BY i.partner_id",
        number,
        partner_id,
    )
    if not rows:
        whose = f" of partner {partner_id}" if partner_id else ""
        return Records(refused=f"no invoice {number}{whose}")
    found = []
    for r in rows:
        lines = await conn.fetch(
            "SELECT line_no, sku, name, quantity, unit_price, amount FROM psa_invoice_lines"
            " WHERE invoice_id = $1 ORDER BY line_no",
            r["id"],
        )
        found.append(
            InvoiceView(
                **{k: v for k, v in dict(r).items() if k != "id"},
                lines=[InvoiceLineView(**dict(ln)) for ln in lines],
            )
        )
    return Records(invoices=found)


async def contacts(conn: Any, account_id: str | None, partner_id: str | None) -> Records:
    if account_id and not await conn.fetchval("SELECT 1 FROM accounts WHERE id = $1", account_id):
        return Records(refused=f"unknown account {account_id!r}")
    if partner_id and not await conn.fetchval("SELECT 1 FROM partners WHERE id = $1", partner_id):
        return Records(refused=f"unknown partner {partner_id!r}")
    rows = await conn.fetch(
        "SELECT c.id, c.name, c.email, c.phone, c.account_id, c.partner_id,"
        " c.signing_authority, u.status AS partner_user"
        " FROM contacts c LEFT JOIN partner_users u ON u.id = c.id"
        " WHERE ($1::text IS NULL OR c.account_id = $1)"
        " AND ($2::text IS NULL OR c.partner_id = $2) ORDER BY c.id",
        account_id,
        partner_id,
    )
    return Records(contacts=[ContactCard(**dict(r)) for r in rows])


async def look_up(conn: Any, lookup: RecordsLookup) -> Records:
    """What a person asked to read."""
    if lookup.what == "lead-cards":
        return await lead_cards(conn, lookup.queue_id or "", lookup.lead_ids)
    if lookup.what == "invoice":
        return await invoices(conn, lookup.invoice_number or "", lookup.partner_id)
    return await contacts(conn, lookup.account_id, lookup.partner_id)
