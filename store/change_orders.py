"""Reads and writes for change orders. Each write function runs inside `steps.once`."""

from datetime import date
from typing import Any

from domain import notices
from domain.account import MandatoryFields
from domain.catalogue import ProductKind
from domain.change_order import OrderDraft, PbxSnapshot
from domain.errors import Refused
from domain.licence import FlatSeat, reduction_cascade
from domain.order_lines import CatalogueItem, OrderLine, replan_fast_change
from store.notices import tell
from store.pbx import flat_totals, licence_totals, refuse_missing_pbx
from store.steps import open_ticket

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free


async def pbx_snapshot(conn: Conn, account_id: str, pbx_id: str, skus: list[str]) -> PbxSnapshot:
    row = await conn.fetchrow(
        "SELECT a.partner_id, p.active, a.phone <> '' AS has_phone, a.email <> '' AS has_email,"
        " a.invoice_email <> '' AS has_invoice_email"
        " FROM pbxs p JOIN accounts a ON a.id = p.account_id"
        " WHERE p.id = $1 AND a.id = $2",
        pbx_id,
        account_id,
    )
    if row is None:
        await refuse_missing_pbx(conn, account_id, pbx_id)
    licences = await licence_totals(conn, pbx_id)
    flats = await flat_totals(conn, pbx_id)
    # The SKUs asked for, in any case ("premium" is Premium); with one unknown, the whole
    # catalogue, so that the refusal can name the closest products.
    rows = await conn.fetch(
        "SELECT sku, name, kind, licence_type FROM catalogue"
        " WHERE lower(sku) = ANY(SELECT lower(s) FROM unnest($1::text[]) s)",
        skus,
    )
    if len({r["sku"].lower() for r in rows}) < len({s.lower() for s in skus}):
        rows = await conn.fetch("SELECT sku, name, kind, licence_type FROM catalogue")
    catalogue = {r["sku"]: CatalogueItem(**dict(r)) for r in rows}
    return PbxSnapshot(
        account_id=account_id,
        pbx_id=pbx_id,
        partner_id=row["partner_id"],
        active=row["active"],
        licences=licences,
        flats=flats,
        catalogue=catalogue,
        mandatory=MandatoryFields(
            phone=row["has_phone"], email=row["has_email"], invoice_email=row["has_invoice_email"]
        ),
    )


async def mandatory_fields(conn: Conn, account_id: str) -> MandatoryFields:
    row = await conn.fetchrow(
        "SELECT phone <> '' AS phone, email <> '' AS email, invoice_email <> '' AS invoice_email"
        " FROM accounts WHERE id = $1",
        account_id,
    )
    return MandatoryFields(**dict(row))


async def create_order(conn: Conn, process_id: str, step: str, o: OrderDraft) -> dict:
    await conn.execute(
        "INSERT INTO orders (id, process_id, kind, account_id, pbx_id, partner_id, quote_id,"
        " status, targets) VALUES ($1, $2, $3, $4, $5, $6, $7, 'awaiting_partner_confirmation',"
        " $8)",
        o.order_id,
        process_id,
        "fast_change" if o.kind == "fast-change-order" else "change_order",
        o.account_id,
        o.pbx_id,
        o.partner_id,
        o.quote_id,
        [t.model_dump(mode="json") for t in o.targets] if o.targets else None,
    )
    await _insert_lines(conn, o.order_id, o.lines)
    # The partner learns of the order in the same transaction that creates it.
    await tell(
        conn,
        notices.OrderAwaitingConfirmation(
            order_id=o.order_id,
            account_id=o.account_id,
            pbx_id=o.pbx_id,
            portal_path=notices.order_page(process_id),
        ),
        process_id=process_id,
        step=step,
        recipient_kind="partner",
        recipient_id=o.partner_id,
    )
    return {"order": o.order_id, "status": "awaiting_partner_confirmation", "lines": len(o.lines)}


async def _insert_lines(conn: Conn, order_id: str, lines: list[OrderLine]) -> None:
    await conn.executemany(
        "INSERT INTO order_lines (order_id, line_no, sku, kind, quantity, licence_type,"
        " start_date) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (order_id, n, ln.sku, ln.kind.value, ln.quantity, ln.licence_type, ln.start_date)
            for n, ln in enumerate(lines, 1)
        ],
    )


async def remind_partner(
    conn: Conn, process_id: str, step: str, order_id: str, partner_id: str, n: int
) -> dict:
    await tell(
        conn,
        notices.OrderConfirmationReminder(
            order_id=order_id, reminder=n, portal_path=notices.order_page(process_id)
        ),
        process_id=process_id,
        step=step,
        recipient_kind="partner",
        recipient_id=partner_id,
    )
    return {"order": order_id, "reminder": n}


async def _reduce_licences(conn: Conn, pbx_id: str, licence_type: str, seats: int) -> int:
    """Takes seats from the newest blocks first; returns the seats left of that type."""
    blocks = await conn.fetch(
        "SELECT id, quantity FROM licences WHERE pbx_id = $1 AND licence_type = $2"
        " AND quantity > 0 ORDER BY start_date DESC, id DESC FOR UPDATE",
        pbx_id,
        licence_type,
    )
    have = sum(b["quantity"] for b in blocks)
    if seats > have:
        raise Refused(f"cannot remove {seats} {licence_type} licences: the PBX has only {have}")
    left_to_take = seats
    for b in blocks:
        take = min(left_to_take, b["quantity"])
        if take:
            await conn.execute(
                "UPDATE licences SET quantity = quantity - $2 WHERE id = $1", b["id"], take
            )
            left_to_take -= take
    return have - seats


async def _cascade(
    conn: Conn, pbx_id: str, licence_type: str, licences_left: int, today: date
) -> tuple[int, list[str]]:
    rows = await conn.fetch(
        "SELECT f.id, f.start_date, coalesce(array_agg(d.number) FILTER (WHERE d.number IS NOT"
        " NULL AND d.status <> 'cancelled'), '{}') AS dids"
        " FROM pbx_products f JOIN catalogue c ON c.sku = f.sku AND c.kind = 'classound_flat'"
        " LEFT JOIN dids d ON d.flat_id = f.id"
        " WHERE f.pbx_id = $1 AND f.licence_type = $2 AND f.status = 'active'"
        " GROUP BY f.id, f.start_date",
        pbx_id,
        licence_type,
    )
    seats = [FlatSeat(id=r["id"], start_date=r["start_date"], dids=r["dids"]) for r in rows]
    cascade = reduction_cascade(seats, licences_left)
    if cascade.cancelled_flats:
        await conn.execute(
            "UPDATE pbx_products SET status = 'cancelled', cancelled_on = $2"
            " WHERE id = ANY($1::bigint[])",
            cascade.cancelled_flats,
            today,
        )
    return len(cascade.cancelled_flats), cascade.dids_to_cancel


async def apply_order(
    conn: Conn, process_id: str, step: str, actor: str, o: OrderDraft, today: date
) -> dict:
    status = await conn.fetchval("SELECT status FROM orders WHERE id = $1 FOR UPDATE", o.order_id)
    if status != "awaiting_partner_confirmation":
        raise Refused(f"order {o.order_id} is {status}, it cannot be applied")
    # One order at a time changes a PBX: the row lock makes a concurrent order on the same
    # PBX wait here until this one commits, so it plans against the licences this one left.
    await conn.execute("SELECT 1 FROM pbxs WHERE id = $1 FOR UPDATE", o.pbx_id)
    changes: list[str] = []
    replanned = bool(o.targets)
    if replanned:
        replan = replan_fast_change(o.targets, await licence_totals(conn, o.pbx_id), today)
        o = o.model_copy(update={"lines": replan.lines})
        changes = replan.changes
        await conn.execute("DELETE FROM order_lines WHERE order_id = $1", o.order_id)
        await _insert_lines(conn, o.order_id, o.lines)
    licence_starts: dict[str, date] = {}
    cancelled_flats = 0
    dids: list[str] = []
    records: list[str] = []
    # Licences first, so that flats can start with the licence they are linked to.
    ordered = sorted(enumerate(o.lines, 1), key=lambda e: e[1].kind != ProductKind.LICENCE)
    for line_no, ln in ordered:
        start = _start_of(ln, today, licence_starts)
        if ln.kind == ProductKind.LICENCE:
            assert ln.licence_type is not None
            if ln.quantity > 0:
                await conn.execute(
                    "INSERT INTO licences (pbx_id, licence_type, quantity, start_date, order_id)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    o.pbx_id,
                    ln.licence_type,
                    ln.quantity,
                    start,
                    o.order_id,
                )
                licence_starts[ln.licence_type] = start
                records.append(f"licence {ln.licence_type} +{ln.quantity} from {start}")
            else:
                left = await _reduce_licences(conn, o.pbx_id, ln.licence_type, -ln.quantity)
                records.append(f"licence {ln.licence_type} {ln.quantity} (now {left})")
                n, numbers = await _cascade(conn, o.pbx_id, ln.licence_type, left, today)
                cancelled_flats += n
                dids += numbers
        elif ln.kind == ProductKind.CLASSOUND_FLAT:
            await conn.executemany(
                "INSERT INTO pbx_products (pbx_id, sku, quantity, licence_type, start_date,"
                " order_id) VALUES ($1, $2, 1, $3, $4, $5)",
                [(o.pbx_id, ln.sku, ln.licence_type, start, o.order_id)] * ln.quantity,
            )
            records.append(f"{ln.sku} x{ln.quantity} ({ln.licence_type}) from {start}")
        else:
            await conn.execute(
                "INSERT INTO pbx_products (pbx_id, sku, quantity, start_date, order_id)"
                " VALUES ($1, $2, $3, $4, $5)",
                o.pbx_id,
                ln.sku,
                ln.quantity,
                start,
                o.order_id,
            )
            records.append(f"{ln.sku} x{ln.quantity} from {start}")
        await conn.execute(
            "UPDATE order_lines SET applied_start = $3 WHERE order_id = $1 AND line_no = $2",
            o.order_id,
            line_no,
            start,
        )
    await conn.execute(
        "UPDATE orders SET status = 'applied', confirmed_by = $2, confirmed_at = now()"
        " WHERE id = $1",
        o.order_id,
        actor,
    )
    ticket_id = None
    if dids:
        # DIDs are never cancelled with their flat: customer care does it, by hand.
        ticket_id = await open_ticket(
            conn,
            process_id=process_id,
            step=step,
            queue="customer_care",
            account_id=o.account_id,
            subject=f"Cancel DIDs after licence reduction on {o.pbx_id}",
            body="Order {} reduced licences; cancel these DIDs:\n{}".format(
                o.order_id, "\n".join(dids)
            ),
        )
        records.append(f"ticket {ticket_id}")
    await tell(
        conn,
        notices.OrderApplied(
            order_id=o.order_id,
            changes=changes or records,
            portal_path=notices.order_page(process_id),
        ),
        process_id=process_id,
        step=step,
        recipient_kind="partner",
        recipient_id=o.partner_id,
    )
    return {
        "records": records,
        "changes": changes,
        "lines": [ln.model_dump(mode="json") for ln in o.lines] if replanned else None,
        "cancelled_flats": cancelled_flats,
        "dids_to_cancel": len(dids),
        "ticket_id": ticket_id,
    }


def _start_of(ln: OrderLine, today: date, licence_starts: dict[str, date]) -> date:
    if ln.kind == ProductKind.CAPEX:
        return today
    if ln.kind == ProductKind.CLASSOUND_FLAT:
        return max(licence_starts.get(ln.licence_type or "", today), today)
    return ln.start_date or today


async def close(
    conn: Conn,
    process_id: str,
    step: str,
    status: str,
    reason: str,
    order_id: str | None,
    partner_id: str | None,
    quote_ids: list[str],
) -> dict:
    if order_id:
        # Checked under the row lock, in the step's transaction: an order is closed once, by
        # whichever step comes first (apply_order takes the same lock).
        now = await conn.fetchval("SELECT status FROM orders WHERE id = $1 FOR UPDATE", order_id)
        if now is not None and now != "awaiting_partner_confirmation":
            raise Refused(
                f"order {order_id} is already {now.replace('_', ' ')}; it is not {status} again"
            )
        await conn.execute(
            "UPDATE orders SET status = $2, closed_reason = $3 WHERE id = $1",
            order_id,
            status,
            reason,
        )
    if quote_ids:
        await conn.execute(
            "UPDATE quotes SET status = 'cancelled', is_primary = false"
            " WHERE id = ANY($1::text[]) AND status <> 'accepted'",
            quote_ids,
        )
    if order_id and partner_id:
        await tell(
            conn,
            notices.OrderClosed(
                status=status,
                order_id=order_id,
                reason=reason,
                portal_path=notices.order_page(process_id),
            ),
            process_id=process_id,
            step=step,
            recipient_kind="partner",
            recipient_id=partner_id,
        )
    return {"status": status, "order": order_id, "reason": reason}
