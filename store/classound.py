"""Reads and writes for CLASSOUND orders (all their SQL). Each write function runs inside
`steps.once`, so it happens once per process step. Results are JSON (they are kept in the
audit log): dates and times as ISO strings."""

from datetime import datetime
from typing import Any

from domain import notices
from domain.catalogue import LicenceType
from domain.classound_steps import OrderPlacement
from domain.documents import DocumentRef
from store.notices import tell
from store.pbx import flat_totals, licence_totals
from store.steps import open_ticket

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free

# Numbers in `dids` were entered by hand over the years ("+49 30 5550121"); compare digits.
DIGITS_OF = "regexp_replace(number, '[^0-9+]', '', 'g')"


# --- reads ----------------------------------------------------------------------------------


async def pbx_state(conn: Conn, account_id: str, pbx_id: str) -> dict | None:
    """Partner, activity, licences and active CLASSOUND-FLATs of the account's PBX; None if
    the account has no such PBX."""
    row = await conn.fetchrow(
        "SELECT a.partner_id, p.active FROM pbxs p JOIN accounts a ON a.id = p.account_id"
        " WHERE p.id = $1 AND a.id = $2",
        pbx_id,
        account_id,
    )
    if row is None:
        return None
    return {
        "partner_id": row["partner_id"],
        "active": row["active"],
        "licences": await licence_totals(conn, pbx_id),
        "flats": await flat_totals(conn, pbx_id),
    }


async def flat_sku(conn: Conn) -> str | None:
    return await conn.fetchval(
        "SELECT sku FROM catalogue WHERE kind = 'classound_flat' ORDER BY sku LIMIT 1"
    )


async def numbers_in_use(conn: Conn, numbers: list[str], process_id: str) -> list[int]:
    """Positions (1-based, in `numbers`) of numbers already live on a PBX or being ported by
    another open CLASSOUND order."""
    rows = await conn.fetch(
        f"SELECT {DIGITS_OF} AS n FROM dids WHERE status IN ('active', 'pending')"
        f" AND {DIGITS_OF} = ANY($1::text[])"
        " UNION SELECT n.number FROM classound_numbers n"
        " JOIN classound_orders o ON o.process_id = n.process_id"
        " WHERE n.number = ANY($1::text[]) AND n.process_id <> $2"
        " AND o.status NOT IN ('active', 'expired', 'cancelled')",
        numbers,
        process_id,
    )
    taken = {r["n"] for r in rows}
    return [i for i, n in enumerate(numbers, 1) if n in taken]


async def numbers_of(conn: Conn, process_id: str) -> list[str]:
    return [
        r["number"]
        for r in await conn.fetch(
            "SELECT number FROM classound_numbers WHERE process_id = $1 ORDER BY position",
            process_id,
        )
    ]


# --- placing the order ----------------------------------------------------------------------


async def create_order(
    conn: Conn,
    p: OrderPlacement,
    *,
    partner_id: str,
    flats: dict[LicenceType, int],
    numbers: list[str],
) -> int:
    """The order, its numbers, and the reseller's ticket asking for the documents (once an
    order is placed, the reseller gets a ticket: "Sobald eine Bestellung getätigt wurde,
    erhalten Sie ein Ticket ..."). Returns the ticket id."""
    process_id = p.key.process_id
    await conn.execute(
        "INSERT INTO classound_orders (process_id, kind, account_id, pbx_id, partner_id, flats,"
        " numbers, status, requested_by, escalates_at, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, 'awaiting_reseller', $8, $9, $10)",
        process_id,
        "ordering" if p.existing_customer else "activation",
        p.account_id,
        p.pbx_id,
        partner_id,
        {t.value: n for t, n in flats.items()},
        len(numbers),
        p.key.actor,
        p.escalates_at,
        p.expires_at,
    )
    await conn.executemany(
        "INSERT INTO classound_numbers (process_id, position, number) VALUES ($1, $2, $3)",
        [(process_id, i, n) for i, n in enumerate(numbers, 1)],
    )
    what = "Classound ordering" if p.existing_customer else "CLASSOUND activation"
    ticket_id = await open_ticket(
        conn,
        process_id=process_id,
        step=p.key.step,
        queue="reseller",
        account_id=p.account_id,
        subject=f"{what} {process_id}: upload the signed LOA and the last invoice",
        body=(
            f"Your {what} for PBX {p.pbx_id} ports {len(numbers)} number(s) from the old "
            "carrier. Please upload the signed letter of authorisation (LOA) and the last "
            "invoice of the old carrier (PDF, PNG or JPEG, up to 10 MB each):\n"
            f"  starter.py upload {process_id} --kind loa --file LOA.pdf\n"
            f"  starter.py upload {process_id} --kind last-invoice --file INVOICE.pdf\n"
            f"then confirm the order: starter.py confirm {process_id}\n"
            f"Without both documents the order cannot be confirmed; it expires on "
            f"{p.expires_at:%Y-%m-%d}."
        ),
    )
    await conn.execute(
        "UPDATE classound_orders SET ticket_id = $2 WHERE process_id = $1", process_id, ticket_id
    )
    await tell(
        conn,
        notices.DocumentsRequested(
            process_id=process_id, portal_path=notices.documents_page(process_id)
        ),
        process_id=process_id,
        step=p.key.step,
        recipient_kind="partner",
        recipient_id=partner_id,
    )
    return ticket_id


# --- documents ------------------------------------------------------------------------------


async def record_document(
    conn: Conn, process_id: str, ref: DocumentRef, uploaded_by: str, storage_path: str
) -> dict:
    """The newest upload of a kind is the current one. The same bytes again: if they are the
    current file, nothing changes ("already uploaded"); if an older one, it is current again."""
    existing = await conn.fetchrow(
        "SELECT id, is_current, uploaded_at FROM documents"
        " WHERE process_id = $1 AND kind = $2 AND sha256 = $3 FOR UPDATE",
        process_id,
        ref.kind.value,
        ref.sha256,
    )
    if existing is not None and existing["is_current"]:
        return {
            "document_id": existing["id"],
            "already": True,
            "uploaded_at": existing["uploaded_at"].isoformat(),
        }
    await conn.execute(
        "UPDATE documents SET is_current = false WHERE process_id = $1 AND kind = $2"
        " AND is_current",
        process_id,
        ref.kind.value,
    )
    if existing is not None:
        row = await conn.fetchrow(
            "UPDATE documents SET is_current = true, uploaded_at = now(), uploaded_by = $2,"
            " file_name = $3 WHERE id = $1 RETURNING id, uploaded_at",
            existing["id"],
            uploaded_by,
            ref.file_name,
        )
    else:
        row = await conn.fetchrow(
            "INSERT INTO documents (process_id, kind, file_name, content_type, size, sha256,"
            " storage_path, uploaded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " RETURNING id, uploaded_at",
            process_id,
            ref.kind.value,
            ref.file_name,
            ref.content_type,
            ref.size,
            ref.sha256,
            storage_path,
            uploaded_by,
        )
    return {
        "document_id": row["id"],
        "already": False,
        "uploaded_at": row["uploaded_at"].isoformat(),
    }


# --- the wait for the reseller --------------------------------------------------------------


async def remind_reseller(
    conn: Conn, process_id: str, step: str, partner_id: str, n: int, waiting_for: str
) -> dict:
    await tell(
        conn,
        notices.DocumentsReminder(
            process_id=process_id,
            reminder=n,
            waiting_for=waiting_for,
            portal_path=notices.documents_page(process_id),
        ),
        process_id=process_id,
        step=step,
        recipient_kind="partner",
        recipient_id=partner_id,
    )
    return {"reminder": n}


async def escalate(
    conn: Conn,
    process_id: str,
    step: str,
    account_id: str,
    pbx_id: str,
    waiting_for: str,
    days: int,
) -> dict:
    ticket_id = await open_ticket(
        conn,
        process_id=process_id,
        step=step,
        queue="customer_care",
        account_id=account_id,
        subject=f"CLASSOUND order {process_id} stuck for {days} days",
        body=(
            f"The CLASSOUND order for PBX {pbx_id} is still {waiting_for} after {days} "
            "days. Please call the reseller; the order expires if nothing happens."
        ),
    )
    return {"ticket_id": ticket_id}


async def move_deadlines(
    conn: Conn, process_id: str, escalates_at: datetime, expires_at: datetime, days: int
) -> dict:
    await conn.execute(
        "UPDATE classound_orders SET escalates_at = $2, expires_at = $3 WHERE process_id = $1",
        process_id,
        escalates_at,
        expires_at,
    )
    return {"extended_days": days, "expires_at": expires_at.isoformat()}


# --- ending without porting -----------------------------------------------------------------


async def close(
    conn: Conn,
    process_id: str,
    step: str,
    status: str,
    reason: str,
    account_id: str,
    pbx_id: str,
    partner_id: str,
    withdraw_attempt: int | None,
) -> dict:
    await conn.execute(
        "UPDATE classound_orders SET status = $2, closed_reason = $3 WHERE process_id = $1",
        process_id,
        status,
        reason,
    )
    await conn.execute(
        "UPDATE tickets SET status = 'closed' WHERE process_id = $1 AND queue = 'reseller'",
        process_id,
    )
    ticket_id = None
    if withdraw_attempt is not None:
        withdrawn = await conn.fetchval(
            "UPDATE porting_requests SET status = 'withdrawn' WHERE process_id = $1"
            " AND attempt = $2 AND status IN ('submitted', 'scheduled') RETURNING id",
            process_id,
            withdraw_attempt,
        )
        if withdrawn is not None:
            ticket_id = await open_ticket(
                conn,
                process_id=process_id,
                step=step,
                queue="customer_care",
                account_id=account_id,
                subject=f"Withdraw porting request {withdrawn} at the carrier",
                body=(
                    f"CLASSOUND order {process_id} for PBX {pbx_id} was {status}: {reason}\n"
                    f"The carrier has porting request {withdrawn}; withdraw it."
                ),
            )
    await tell(
        conn,
        notices.ClassoundClosed(
            status=status,
            process_id=process_id,
            reason=reason,
            portal_path=notices.documents_page(process_id),
        ),
        process_id=process_id,
        step=step,
        recipient_kind="partner",
        recipient_id=partner_id,
    )
    return {"status": status, "ticket_id": ticket_id}
