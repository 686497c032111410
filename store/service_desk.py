"""Service-desk tickets, time entries and sales items of PSA clients. The billing-information
gates are migration 004's (foreign keys and triggers): these functions need not repeat
them, and nothing written past them (a script, psql) escapes them either."""

from typing import Any

from domain.errors import Refused
from domain.service_desk import (
    ApproveTime,
    CreateSalesItem,
    CreateTicket,
    LogTime,
    MoveSalesItem,
    RecordChanged,
    TicketAction,
    TicketStatus,
    next_ticket_status,
    time_can_be_logged,
)

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free

MESSAGE_KIND = {
    "answer-ticket": "answer",
    "resolve-ticket": "resolution",
    "close-ticket": "closing",
}


async def _client_exists(conn: Conn, account_id: str) -> None:
    if await conn.fetchval("SELECT 1 FROM accounts WHERE id = $1", account_id) is None:
        raise Refused(f"unknown client {account_id!r}")


async def _has_billing_information(conn: Conn, account_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM psa_billing_information WHERE account_id = $1", account_id
        )
    )


async def create_ticket(conn: Conn, process_id: str, actor: str, c: CreateTicket) -> RecordChanged:
    await _client_exists(conn, c.account_id)
    ticket_id = await conn.fetchval(
        "INSERT INTO psa_tickets (account_id, subject, process_id, created_by)"
        " VALUES ($1, $2, $3, $4) RETURNING id",
        c.account_id,
        c.subject,
        process_id,
        actor,
    )
    if c.text:
        await conn.execute(
            "INSERT INTO psa_ticket_messages (ticket_id, kind, author, text)"
            " VALUES ($1, 'request', $2, $3)",
            ticket_id,
            actor,
            c.text,
        )
    return RecordChanged(
        record_id=ticket_id,
        account_id=c.account_id,
        message=f"ticket {ticket_id} created for client {c.account_id}",
    )


async def _ticket(conn: Conn, ticket_id: int, lock: str) -> tuple[TicketStatus, str]:
    row = await conn.fetchrow(
        f"SELECT status, account_id FROM psa_tickets WHERE id = $1 FOR {lock}", ticket_id
    )
    if row is None:
        raise Refused(f"no ticket {ticket_id}")
    return TicketStatus(row["status"]), row["account_id"]


async def act_on_ticket(conn: Conn, actor: str, c: TicketAction) -> RecordChanged:
    current, account_id = await _ticket(conn, c.ticket_id, "UPDATE")
    status = next_ticket_status(c.ticket_id, current, c.operation)
    await conn.execute(
        "UPDATE psa_tickets SET status = $2, updated_at = now() WHERE id = $1",
        c.ticket_id,
        status.value,
    )
    if c.text:
        await conn.execute(
            "INSERT INTO psa_ticket_messages (ticket_id, kind, author, text)"
            " VALUES ($1, $2, $3, $4)",
            c.ticket_id,
            MESSAGE_KIND[c.operation],
            actor,
            c.text,
        )
    return RecordChanged(
        record_id=c.ticket_id, account_id=account_id, message=f"ticket {c.ticket_id} {status.value}"
    )


async def log_time(conn: Conn, process_id: str, actor: str, c: LogTime) -> RecordChanged:
    current, account_id = await _ticket(conn, c.ticket_id, "SHARE")
    time_can_be_logged(c.ticket_id, current)
    entry_id = await conn.fetchval(
        "INSERT INTO psa_time_entries (ticket_id, minutes, work_date, note, process_id,"
        " logged_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        c.ticket_id,
        c.minutes,
        c.work_date,
        c.note,
        process_id,
        actor,
    )
    message = f"{c.minutes} min logged on ticket {c.ticket_id} (time entry {entry_id})"
    if not await _has_billing_information(conn, account_id):
        message += f"; it can be approved once client {account_id} has billing information"
    return RecordChanged(record_id=entry_id, account_id=account_id, message=message)


async def approve_time(conn: Conn, actor: str, c: ApproveTime) -> RecordChanged:
    row = await conn.fetchrow(
        "SELECT e.status, e.approved_by, t.account_id FROM psa_time_entries e"
        " JOIN psa_tickets t ON t.id = e.ticket_id WHERE e.id = $1 FOR UPDATE OF e",
        c.time_entry_id,
    )
    if row is None:
        raise Refused(f"no time entry {c.time_entry_id}")
    if row["status"] == "approved":
        return RecordChanged(
            record_id=c.time_entry_id,
            account_id=row["account_id"],
            message=f"time entry {c.time_entry_id} was already approved by {row['approved_by']}",
        )
    # The gate (no billing information, no approval) is migration 004's trigger.
    await conn.execute(
        "UPDATE psa_time_entries SET status = 'approved', approved_by = $2, approved_at = now()"
        " WHERE id = $1",
        c.time_entry_id,
        actor,
    )
    return RecordChanged(
        record_id=c.time_entry_id,
        account_id=row["account_id"],
        message=f"time entry {c.time_entry_id} approved",
    )


async def create_sales_item(
    conn: Conn, process_id: str, actor: str, c: CreateSalesItem
) -> RecordChanged:
    await _client_exists(conn, c.account_id)
    item_id = await conn.fetchval(
        "INSERT INTO psa_sales_items (account_id, description, quantity, unit_price,"
        " process_id, created_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        c.account_id,
        c.description,
        c.quantity,
        c.unit_price,
        process_id,
        actor,
    )
    return RecordChanged(
        record_id=item_id,
        account_id=c.account_id,
        message=f"sales item {item_id} created for client {c.account_id}",
    )


async def move_sales_item(conn: Conn, actor: str, c: MoveSalesItem) -> RecordChanged:
    current = await conn.fetchval(
        "SELECT account_id FROM psa_sales_items WHERE id = $1 FOR UPDATE", c.sales_item_id
    )
    if current is None:
        raise Refused(f"no sales item {c.sales_item_id}")
    if current == c.account_id:
        return RecordChanged(
            record_id=c.sales_item_id,
            account_id=current,
            message=f"sales item {c.sales_item_id} already belongs to client {current}",
        )
    await _client_exists(conn, c.account_id)
    await conn.execute(
        "UPDATE psa_sales_items SET account_id = $2, moved_by = $3, moved_at = now() WHERE id = $1",
        c.sales_item_id,
        c.account_id,
        actor,
    )
    return RecordChanged(
        record_id=c.sales_item_id,
        account_id=c.account_id,
        message=f"sales item {c.sales_item_id} moved from client {current} "
        f"to client {c.account_id}",
    )


async def change_record(conn: Conn, process_id: str, actor: str, change: Any) -> dict:
    """One staff change of a ticket, time entry or sales item; the result as audit detail."""
    match change:
        case CreateTicket():
            done = await create_ticket(conn, process_id, actor, change)
        case TicketAction():
            done = await act_on_ticket(conn, actor, change)
        case LogTime():
            done = await log_time(conn, process_id, actor, change)
        case ApproveTime():
            done = await approve_time(conn, actor, change)
        case CreateSalesItem():
            done = await create_sales_item(conn, process_id, actor, change)
        case MoveSalesItem():
            done = await move_sales_item(conn, actor, change)
        case _:
            raise Refused(f"unknown change {change!r}")
    return done.model_dump(mode="json")
