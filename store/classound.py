"""Reads and writes for CLASSOUND orders (all their SQL). Each write function runs inside
`steps.once`, so it happens once per process step. Results are JSON (they are kept in the
audit log): dates and times as ISO strings."""

from datetime import date, datetime
from typing import Any

from domain.catalogue import LicenceType
from domain.classound import (
    BillingPlan,
    CarrierAnswerRecord,
    OrderPlacement,
    PortingSubmission,
)
from domain.documents import DocumentRef
from store.pbx import flat_totals, licence_totals
from store.steps import notify, open_ticket

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free

# Numbers in `dids` were entered by hand over the years ("+49 30 5550121"); compare digits.
_DIGITS_OF = "regexp_replace(number, '[^0-9+]', '', 'g')"
CARRIER_ROLE = "carrier-porting"  # the outbox recipient that hands requests to the carrier


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
        f"SELECT {_DIGITS_OF} AS n FROM dids WHERE status IN ('active', 'pending')"
        f" AND {_DIGITS_OF} = ANY($1::text[])"
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
    """The order, its numbers, and the reseller's ticket asking for the documents (seed 000
    §5: "Sobald eine Bestellung getätigt wurde, erhalten Sie ein Ticket ..."). Returns the
    ticket id."""
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
    await notify(
        conn,
        process_id=process_id,
        step=p.key.step,
        recipient_kind="partner",
        recipient_id=partner_id,
        template="classound_documents_requested",
        payload={"process_id": process_id, "ticket_id": ticket_id},
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
    await notify(
        conn,
        process_id=process_id,
        step=step,
        recipient_kind="partner",
        recipient_id=partner_id,
        template="classound_documents_reminder",
        payload={"process_id": process_id, "reminder": n, "waiting_for": waiting_for},
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


# --- the carrier ----------------------------------------------------------------------------


async def submit_porting(conn: Conn, process_id: str, s: PortingSubmission) -> dict:
    numbers = await conn.fetchval(
        "SELECT numbers FROM classound_orders WHERE process_id = $1", process_id
    )
    row = await conn.fetchrow(
        "INSERT INTO porting_requests (process_id, attempt, pbx_id, loa_document_id,"
        " invoice_document_id, numbers, submitted_by) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " RETURNING id, submitted_at",
        process_id,
        s.attempt,
        s.pbx_id,
        s.loa_document_id,
        s.invoice_document_id,
        numbers,
        s.key.actor,
    )
    await conn.execute(
        "UPDATE classound_orders SET status = 'porting_requested', confirmed_by = $2,"
        " confirmed_at = now() WHERE process_id = $1",
        process_id,
        s.key.actor,
    )
    # The outbox hands the request (numbers and documents, read from here) to the carrier.
    await notify(
        conn,
        process_id=process_id,
        step=s.key.step,
        recipient_kind="role",
        recipient_id=CARRIER_ROLE,
        template="porting_request",
        payload={"porting_request_id": row["id"], "pbx_id": s.pbx_id, "attempt": s.attempt},
    )
    return {
        "request_id": row["id"],
        "numbers": numbers,
        "submitted_at": row["submitted_at"].isoformat(),
    }  # kept in the audit log


async def chase_carrier(
    conn: Conn,
    process_id: str,
    step: str,
    account_id: str,
    pbx_id: str,
    attempt: int,
    days: int,
) -> dict:
    ticket_id = await open_ticket(
        conn,
        process_id=process_id,
        step=step,
        queue="customer_care",
        account_id=account_id,
        subject=f"No carrier answer for porting request {attempt} of {process_id}",
        body=(
            f"The old carrier has not answered the porting request for PBX {pbx_id} "
            f"within {days} days. Please chase the carrier and enter its answer with "
            f"starter.py carrier-answer {process_id} --porting-date YYYY-MM-DD "
            "(or --refused REASON)."
        ),
    )
    return {"ticket_id": ticket_id}


async def record_carrier_answer(conn: Conn, a: CarrierAnswerRecord) -> dict:
    process_id, step, attempt, refused = a.key.process_id, a.key.step, a.attempt, a.refused
    porting_date, account_id, partner_id = a.porting_date, a.account_id, a.partner_id
    status = "refused" if refused else "scheduled"
    await conn.execute(
        "UPDATE porting_requests SET status = $3, porting_date = $4, refusal_reason = $5,"
        " answered_at = now() WHERE process_id = $1 AND attempt = $2",
        process_id,
        attempt,
        status,
        porting_date,
        refused,
    )
    if refused:  # back with the reseller, with fresh deadlines
        await conn.execute(
            "UPDATE classound_orders SET status = 'carrier_refused', porting_date = NULL,"
            " escalates_at = $2, expires_at = $3 WHERE process_id = $1",
            process_id,
            a.escalates_at,
            a.expires_at,
        )
    else:
        await conn.execute(
            "UPDATE classound_orders SET status = 'porting_scheduled', porting_date = $2"
            " WHERE process_id = $1",
            process_id,
            porting_date,
        )
    ticket_id = None
    if refused:
        ticket_id = await open_ticket(
            conn,
            process_id=process_id,
            step=step,
            queue="reseller",
            account_id=account_id,
            subject=f"Porting refused by the carrier for {process_id}",
            body=(
                f"The old carrier refused porting request {attempt}: {refused}\n"
                "Fix the documents (upload a corrected LOA or last invoice with "
                f"starter.py upload {process_id} ...) and confirm the order again."
            ),
        )
    await notify(
        conn,
        process_id=process_id,
        step=step,
        recipient_kind="partner",
        recipient_id=partner_id,
        template="porting_refused" if refused else "porting_scheduled",
        payload={
            "process_id": process_id,
            "attempt": attempt,
            "porting_date": porting_date.isoformat() if porting_date else None,
            "ticket_id": ticket_id,
        },
    )
    return {"ticket_id": ticket_id}


# --- porting day ----------------------------------------------------------------------------


async def activate_numbers(
    conn: Conn, pbx_id: str, numbers: list[str], flat_of: dict[str, int]
) -> int:
    """The ported numbers become active DIDs of the PBX, each linked to its CLASSOUND-FLAT
    (`flat_of`; a number without one is linked to none). A row entered by hand earlier, in
    any spelling, is taken over."""
    flats = [flat_of.get(n) for n in numbers]
    taken = {
        r["n"]
        for r in await conn.fetch(
            f"UPDATE dids SET pbx_id = $1, status = 'active', flat_id = x.flat_id"
            f" FROM unnest($2::text[], $3::bigint[]) AS x(n, flat_id)"
            f" WHERE {_DIGITS_OF} = x.n RETURNING x.n AS n",
            pbx_id,
            numbers,
            flats,
        )
    }
    await conn.executemany(
        "INSERT INTO dids (number, pbx_id, status, flat_id) VALUES ($1, $2, 'active', $3)",
        [(n, pbx_id, f) for n, f in zip(numbers, flats, strict=True) if n not in taken],
    )
    return len(numbers)


async def add_flats(
    conn: Conn,
    process_id: str,
    pbx_id: str,
    sku: str,
    flats: dict[LicenceType, int],
    start: date,
) -> list[int]:
    """One flat per licence seat, as change orders book them; their ids in booking order."""
    rows = await conn.fetch(
        "INSERT INTO pbx_products (pbx_id, sku, quantity, licence_type, start_date, order_id)"
        " SELECT $1, $2, 1, t, $3, $4 FROM unnest($5::text[]) WITH ORDINALITY AS x(t, k)"
        " ORDER BY k RETURNING id",
        pbx_id,
        sku,
        start,
        process_id,
        [t.value for t, n in flats.items() for _ in range(n)],
    )
    return sorted(r["id"] for r in rows)


async def active_flat_ids(conn: Conn, pbx_id: str) -> list[int]:
    """The PBX's active CLASSOUND-FLATs, first booked first."""
    return [
        r["id"]
        for r in await conn.fetch(
            "SELECT f.id FROM pbx_products f JOIN catalogue c ON c.sku = f.sku"
            " AND c.kind = 'classound_flat' WHERE f.pbx_id = $1 AND f.status = 'active'"
            " ORDER BY f.start_date, f.id",
            pbx_id,
        )
    ]


async def record_billing_plans(
    conn: Conn, process_id: str, pbx_id: str, plans: list[BillingPlan], since: date
) -> None:
    await conn.executemany(
        "INSERT INTO classound_billing_plans (pbx_id, licence_type, plan,"
        " free_minutes_per_user, since, process_id) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (pbx_id, licence_type) DO UPDATE SET plan = EXCLUDED.plan,"
        " free_minutes_per_user = EXCLUDED.free_minutes_per_user, since = EXCLUDED.since,"
        " process_id = EXCLUDED.process_id"
        " WHERE (classound_billing_plans.plan, classound_billing_plans.free_minutes_per_user)"
        " IS DISTINCT FROM (EXCLUDED.plan, EXCLUDED.free_minutes_per_user)",
        [
            (pbx_id, p.licence_type.value, p.plan, p.free_minutes_per_user, since, process_id)
            for p in plans
        ],
    )


async def complete_order(
    conn: Conn,
    process_id: str,
    step: str,
    attempt: int,
    partner_id: str,
    activated_on: date,
    dids: int,
) -> None:
    await conn.execute(
        "UPDATE porting_requests SET status = 'completed' WHERE process_id = $1 AND attempt = $2",
        process_id,
        attempt,
    )
    await conn.execute(
        "UPDATE classound_orders SET status = 'active', activated_on = $2 WHERE process_id = $1",
        process_id,
        activated_on,
    )
    await conn.execute(
        "UPDATE tickets SET status = 'closed' WHERE process_id = $1 AND queue = 'reseller'",
        process_id,
    )
    await notify(
        conn,
        process_id=process_id,
        step=step,
        recipient_kind="partner",
        recipient_id=partner_id,
        template="classound_active",
        payload={"process_id": process_id, "dids": dids, "activated_on": activated_on.isoformat()},
    )


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
    await notify(
        conn,
        process_id=process_id,
        step=step,
        recipient_kind="partner",
        recipient_id=partner_id,
        template=f"classound_{status}",
        payload={"process_id": process_id, "reason": reason},
    )
    return {"status": status, "ticket_id": ticket_id}
