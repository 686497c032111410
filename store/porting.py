"""Reads and writes of number porting for CLASSOUND orders: the request to the old carrier,
its answer, and porting day (the numbers become DIDs of the PBX, the flats and billing plans
are booked). Each write runs inside `steps.once`, like the rest of the order's
(store/classound.py); results are JSON for the audit log."""

from datetime import date
from typing import Any

from domain import notices
from domain.catalogue import LicenceType
from domain.classound_billing import BillingPlan
from domain.classound_steps import CarrierAnswerRecord, PortingSubmission
from store.classound import DIGITS_OF
from store.notices import tell
from store.steps import open_ticket

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free

CARRIER_ROLE = "carrier-porting"  # the outbox recipient that hands requests to the carrier


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
    await tell(
        conn,
        notices.PortingRequest(porting_request_id=row["id"], pbx_id=s.pbx_id, attempt=s.attempt),
        process_id=process_id,
        step=s.key.step,
        recipient_kind="role",
        recipient_id=CARRIER_ROLE,
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
    await tell(
        conn,
        notices.PortingAnswered(
            refused=bool(refused),
            process_id=process_id,
            attempt=attempt,
            porting_date=porting_date.isoformat() if porting_date else None,
            portal_path=notices.documents_page(process_id),
        ),
        process_id=process_id,
        step=step,
        recipient_kind="partner",
        recipient_id=partner_id,
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
            f" WHERE {DIGITS_OF} = x.n RETURNING x.n AS n",
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
    numbers: list[str],
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
    await tell(
        conn,
        notices.ClassoundActive(
            process_id=process_id,
            dids=numbers,
            activated_on=activated_on.isoformat(),
            portal_path=notices.documents_page(process_id),
        ),
        process_id=process_id,
        step=step,
        recipient_kind="partner",
        recipient_id=partner_id,
    )
