"""Reads and writes of a change order's quotes: saved (a revision supersedes the one it
revises), marked primary (one per project), published, rejected or accepted. Each write
runs inside `steps.once`, like the rest of the change order's (store/change_orders.py)."""

from typing import Any

from domain.change_order import QuoteDraft
from domain.errors import Refused

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free


async def save_quote(conn: Conn, q: QuoteDraft) -> dict:
    if q.primary:
        await _clear_primary(conn, q.pbx_id)
    if q.revises:
        await conn.execute(
            "UPDATE quotes SET status = 'superseded' WHERE id = $1 AND status <> 'rejected'",
            q.revises,
        )
    await conn.execute(
        "INSERT INTO quotes (id, process_id, account_id, pbx_id, version, revises, is_primary,"
        " notes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        q.quote_id,
        q.key.process_id,
        q.account_id,
        q.pbx_id,
        q.version,
        q.revises,
        q.primary,
        q.notes,
    )
    await conn.executemany(
        "INSERT INTO quote_lines (quote_id, line_no, sku, quantity, licence_type, start_date)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [
            (q.quote_id, n, ln.sku, ln.quantity, ln.licence, ln.start_date)
            for n, ln in enumerate(q.lines, 1)
        ],
    )
    return {"quote": q.quote_id, "version": q.version, "primary": q.primary, "lines": len(q.lines)}


async def _clear_primary(conn: Conn, pbx_id: str) -> None:
    await conn.execute(
        "UPDATE quotes SET is_primary = false WHERE pbx_id = $1 AND is_primary", pbx_id
    )


async def mark_primary(conn: Conn, quote_id: str, pbx_id: str) -> dict:
    previous = await conn.fetchval(
        "SELECT id FROM quotes WHERE pbx_id = $1 AND is_primary AND id <> $2", pbx_id, quote_id
    )
    await _clear_primary(conn, pbx_id)
    await conn.execute("UPDATE quotes SET is_primary = true WHERE id = $1", quote_id)
    return {"quote": quote_id, "primary": True, "no_longer_primary": previous}


async def publish(conn: Conn, quote_id: str) -> dict:
    primary = await conn.fetchrow(
        "SELECT q.id FROM quotes q JOIN quotes mine ON mine.pbx_id = q.pbx_id"
        " WHERE mine.id = $1 AND q.is_primary",
        quote_id,
    )
    if primary is None or primary["id"] != quote_id:
        other = f" ({primary['id']} is)" if primary else ""
        raise Refused(
            f"quote {quote_id} is no longer the primary quote of its project{other}; "
            "mark it primary again before publishing"
        )
    await conn.execute(
        "UPDATE quotes SET published_at = now(), status = 'published' WHERE id = $1", quote_id
    )
    return {"quote": quote_id, "published": True}


async def reject_quote(conn: Conn, quote_id: str, reason: str) -> dict:
    await conn.execute(
        "UPDATE quotes SET status = 'rejected', rejection_reason = $2 WHERE id = $1",
        quote_id,
        reason,
    )
    return {"quote": quote_id, "status": "rejected", "reason": reason}


async def accept_quote(conn: Conn, quote_id: str) -> None:
    await conn.execute(
        "UPDATE quotes SET status = 'accepted', rejection_reason = NULL WHERE id = $1", quote_id
    )
