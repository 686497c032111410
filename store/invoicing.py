"""Reads and writes of the invoicing run: the invoice-numbering
settings staff review, and issuing invoices.

Numbers are allocated in the database: the partner's counter row is locked FOR UPDATE in
the same transaction that inserts the invoices and moves the counter on. A second run at
the same moment waits for the lock, then finds those contracts invoiced; an aborted
transaction takes its numbers back with it. So numbers are gapless and never reused, and
migration 004 checks both at commit (UNIQUE numbers, UNIQUE (contract, period), each
number's predecessor exists, the counter never goes back)."""

from datetime import date, timedelta
from typing import Any

from domain.errors import Refused
from domain.invoicing import (
    NumberingSettings,
    invoice_number,
    last_day,
    period_label,
    review_conflicts,
    review_refusal,
)

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free


SETTINGS = "prefix, next_number, format, confirmed_by, confirmed_at, first_number"


async def numbering(conn: Conn, partner_id: str) -> NumberingSettings:
    """The partner's reviewed settings, or the defaults offered for the first review."""
    if await conn.fetchval("SELECT 1 FROM partners WHERE id = $1", partner_id) is None:
        raise Refused(f"unknown partner {partner_id!r}")
    row = await conn.fetchrow(
        f"SELECT {SETTINGS} FROM psa_invoice_numbering WHERE partner_id = $1", partner_id
    )
    return NumberingSettings(**dict(row)) if row else NumberingSettings()


async def confirm_numbering(
    conn: Conn, partner_id: str, prefix: str, next_number: int, fmt: str, actor: str
) -> dict:
    """The first review fixes the settings. A later one (another run, perhaps at the same
    moment) changes nothing: the same settings are answered "already reviewed", other
    settings are refused with the reason (nothing written)."""
    row = await conn.fetchrow(
        "INSERT INTO psa_invoice_numbering (partner_id, prefix, next_number, format,"
        " first_number, confirmed_by) VALUES ($1, $2, $3, $4, $3, $5)"
        f" ON CONFLICT (partner_id) DO NOTHING RETURNING {SETTINGS}",
        partner_id,
        prefix,
        next_number,
        fmt,
        actor,
    )
    by_this_review = row is not None
    if row is None:
        row = await conn.fetchrow(
            f"SELECT {SETTINGS} FROM psa_invoice_numbering WHERE partner_id = $1", partner_id
        )
    settings = NumberingSettings(**dict(row))
    if not by_this_review:
        conflicts = review_conflicts(settings, prefix, next_number, fmt)
        if conflicts:
            raise Refused(review_refusal(partner_id, settings, conflicts))
    return {"settings": settings.model_dump(mode="json"), "by_this_review": by_this_review}


async def period_invoices(conn: Conn, partner_id: str, period: date) -> dict:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM psa_invoices WHERE partner_id = $1 AND period = $2)"
        "   AS invoices,"
        " (SELECT count(*) FROM psa_contracts c JOIN accounts a ON a.id = c.account_id"
        "   WHERE a.partner_id = $1 AND c.status = 'active' AND c.start_date <= $3"
        "   AND (c.end_date IS NULL OR c.end_date >= $2)) AS contracts_billed,"
        " (SELECT next_number FROM psa_invoice_numbering WHERE partner_id = $1) AS next_number",
        partner_id,
        period,
        last_day(period),
    )
    return dict(row)


async def issue_invoices(
    conn: Conn, process_id: str, partner_id: str, period: date, issued_on: date, limit: int
) -> dict:
    """Up to `limit` invoices for active contracts of the period that have none yet, each
    for the whole month at the contract's prices, due after the client's payment terms."""
    n = await conn.fetchrow(
        f"SELECT {SETTINGS} FROM psa_invoice_numbering WHERE partner_id = $1 FOR UPDATE", partner_id
    )
    if n is None:
        raise Refused(
            f"the invoice numbering of partner {partner_id} has not been reviewed: "
            "no invoice is issued before staff confirm it"
        )
    settings = NumberingSettings(**dict(n))
    # Chosen under the counter's lock, so two runs never pick the same contract.
    contracts = await conn.fetch(
        "SELECT c.id, c.account_id, c.currency, b.payment_terms_days"
        " FROM psa_contracts c JOIN accounts a ON a.id = c.account_id AND a.partner_id = $1"
        " JOIN psa_billing_information b ON b.account_id = c.account_id"
        " WHERE c.status = 'active' AND c.start_date <= $3"
        " AND (c.end_date IS NULL OR c.end_date >= $2)"
        " AND NOT EXISTS (SELECT 1 FROM psa_invoices i WHERE i.contract_id = c.id"
        "                 AND i.period = $2)"
        " ORDER BY c.id LIMIT $4",
        partner_id,
        period,
        last_day(period),
        limit,
    )
    if not contracts:
        return {"issued": 0, "numbers": [], "full": False}
    ids = [c["id"] for c in contracts]
    parts: dict[str, list] = {i: [] for i in ids}
    for p in await conn.fetch(
        "SELECT contract_id, sku, name, quantity, unit_price FROM psa_contract_parts"
        " WHERE contract_id = ANY($1) ORDER BY contract_id, line_no",
        ids,
    ):
        parts[p["contract_id"]].append(p)

    first = settings.next_number
    seqs = list(range(first, first + len(contracts)))
    numbers = [invoice_number(settings, s, period) for s in seqs]
    totals = [sum((p["quantity"] * p["unit_price"] for p in parts[c["id"]]), 0) for c in contracts]
    invoice_ids = await conn.fetch(
        "INSERT INTO psa_invoices (partner_id, sequence_no, number, contract_id, account_id,"
        " period, currency, total, issued_on, due_on, process_id)"
        " SELECT $1, s, n, c, a, $2, cur, t, $3, d, $4"
        " FROM unnest($5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[],"
        "             $10::numeric[], $11::date[]) AS x(s, n, c, a, cur, t, d)"
        " RETURNING id, contract_id",
        partner_id,
        period,
        issued_on,
        process_id,
        seqs,
        numbers,
        ids,
        [c["account_id"] for c in contracts],
        [c["currency"] for c in contracts],
        totals,
        [issued_on + timedelta(days=c["payment_terms_days"]) for c in contracts],
    )
    invoice_of = {r["contract_id"]: r["id"] for r in invoice_ids}
    await conn.executemany(
        "INSERT INTO psa_invoice_lines (invoice_id, line_no, sku, name, quantity, unit_price,"
        " amount) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (
                invoice_of[cid],
                k,
                p["sku"],
                p["name"],
                p["quantity"],
                p["unit_price"],
                p["quantity"] * p["unit_price"],
            )
            for cid in ids
            for k, p in enumerate(parts[cid], 1)
        ],
    )
    await conn.execute(
        "UPDATE psa_invoice_numbering SET next_number = $2 WHERE partner_id = $1",
        partner_id,
        first + len(contracts),
    )
    return {
        "issued": len(contracts),
        "numbers": [numbers[0], numbers[-1]],
        "full": len(contracts) == limit,
        "period": period_label(period),
    }
