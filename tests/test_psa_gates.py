"""The PSA rules that hold at all times, against the real PostgreSQL: whatever writes (the
store's functions, an activity, or plain SQL from a script), a client without billing
information gets no approved time and no sales item; contracts become active only fully
priced; invoices are gapless, never reused, never deleted."""

from datetime import date

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.psa import PsaActivities
from domain.errors import Refused
from domain.service_desk import (
    ApproveTime,
    CreateSalesItem,
    CreateTicket,
    LogTime,
    MoveSalesItem,
    RecordChangeStep,
    TicketAction,
)
from domain.steps import StepKey
from store import service_desk as desk
from store.psa import GATE, gates_refuse
from tests.records_psa import give_active_contract, give_billing_information, new_client


async def write(pool, fn, *args):
    """One store write in its own transaction, as a step runs it."""
    async with gates_refuse(), pool.acquire() as conn, conn.transaction():
        return await fn(conn, *args)


async def refused(pool, fn, *args) -> str:
    with pytest.raises(Refused) as e:
        await write(pool, fn, *args)
    return str(e.value)


async def sql_refused(pool, sql: str, *args) -> str:
    """Plain SQL past the store: the database itself refuses."""
    with pytest.raises(Exception) as e:
        await pool.execute(sql, *args)
    return f"{getattr(e.value, 'sqlstate', '')} {e.value}"


async def test_tickets_go_their_whole_way_without_billing_information(pool):
    _, client = await new_client(pool)
    ticket = await write(
        pool,
        desk.create_ticket,
        "p1",
        "anna",
        CreateTicket(account_id=client, subject="Phones down", text="help"),
    )
    for op, status in (
        ("answer-ticket", "answered"),
        ("resolve-ticket", "resolved"),
        ("close-ticket", "closed"),
    ):
        done = await write(
            pool,
            desk.act_on_ticket,
            "anna",
            TicketAction(operation=op, ticket_id=ticket.record_id, text="ok"),
        )
        assert done.message == f"ticket {ticket.record_id} {status}"
    assert (
        await pool.fetchval("SELECT status FROM psa_tickets WHERE id = $1", ticket.record_id)
        == "closed"
    )
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM psa_ticket_messages WHERE ticket_id = $1", ticket.record_id
        )
        == 4
    )
    assert "is closed" in await refused(
        pool,
        desk.act_on_ticket,
        "anna",
        TicketAction(operation="answer-ticket", ticket_id=ticket.record_id, text="again?"),
    )


async def test_time_is_logged_but_approved_only_once_billing_information_exists(pool):
    _, client = await new_client(pool)
    _, other = await new_client(pool)
    await give_billing_information(pool, other)
    ticket = await write(
        pool, desk.create_ticket, "p2", "anna", CreateTicket(account_id=client, subject="Voicemail")
    )
    entry = await write(
        pool,
        desk.log_time,
        "p2",
        "ben",
        LogTime(ticket_id=ticket.record_id, minutes=45, work_date=date(2026, 3, 2)),
    )
    assert "can be approved once client" in entry.message

    reason = await refused(
        pool, desk.approve_time, "carla", ApproveTime(time_entry_id=entry.record_id)
    )
    assert reason == (
        f"client {client} has no billing information: the time of its tickets "
        "cannot be approved until it is provided"
    )
    # Past the store: plain SQL, even pointing the entry at another client's billing.
    for sql in (
        "UPDATE psa_time_entries SET status = 'approved', approved_at = now(),"
        " approved_by = 'x' WHERE id = $1",
        "UPDATE psa_time_entries SET status = 'approved', approved_at = now(),"
        f" approved_by = 'x', billed_account_id = '{other}' WHERE id = $1",
    ):
        assert (await sql_refused(pool, sql, entry.record_id)).startswith(GATE)
    assert (
        await sql_refused(
            pool,
            "INSERT INTO psa_time_entries (ticket_id, minutes, work_date, process_id,"
            " logged_by, status, approved_at, billed_account_id) VALUES ($1, 5, '2026-03-02',"
            " 'x', 'x', 'approved', now(), $2)",
            ticket.record_id,
            other,
        )
    ).startswith(GATE)
    assert (
        await pool.fetchval(
            "SELECT status FROM psa_time_entries WHERE ticket_id = $1", ticket.record_id
        )
        == "logged"
    )

    await give_billing_information(pool, client)
    approved = await write(
        pool, desk.approve_time, "carla", ApproveTime(time_entry_id=entry.record_id)
    )
    assert approved.message == f"time entry {entry.record_id} approved"
    row = await pool.fetchrow("SELECT * FROM psa_time_entries WHERE id = $1", entry.record_id)
    assert (row["status"], row["approved_by"], row["billed_account_id"]) == (
        "approved",
        "carla",
        client,
    )
    again = await write(pool, desk.approve_time, "dora", ApproveTime(time_entry_id=entry.record_id))
    assert again.message.endswith("already approved by carla")
    # The billing information now backs an approval: it cannot be deleted, nor undone.
    assert "foreign key" in await sql_refused(
        pool, "DELETE FROM psa_billing_information WHERE account_id = $1", client
    )
    assert (
        await sql_refused(
            pool,
            "UPDATE psa_time_entries SET status = 'logged',"
            " approved_at = NULL, billed_account_id = NULL WHERE id = $1",
            entry.record_id,
        )
    ).startswith(GATE)


async def test_sales_items_only_for_clients_with_billing_information(pool):
    _, without = await new_client(pool)
    _, with_billing = await new_client(pool)
    _, second = await new_client(pool)
    for c in (with_billing, second):
        await give_billing_information(pool, c)
    item = CreateSalesItem(
        account_id=without, description="Headsets", quantity=3, unit_price="49.00"
    )
    assert await refused(pool, desk.create_sales_item, "p3", "anna", item) == (
        f"client {without} has no billing information: a sales item cannot be created for it"
    )
    assert (
        await sql_refused(
            pool,
            "INSERT INTO psa_sales_items (account_id, description, quantity, unit_price,"
            " process_id, created_by) VALUES ($1, 'x', 1, 1, 'x', 'x')",
            without,
        )
    ).startswith(GATE)

    made = await write(
        pool,
        desk.create_sales_item,
        "p3",
        "anna",
        item.model_copy(update={"account_id": with_billing}),
    )
    assert await refused(
        pool,
        desk.move_sales_item,
        "anna",
        MoveSalesItem(sales_item_id=made.record_id, account_id=without),
    ) == (f"client {without} has no billing information: a sales item cannot be moved to it")
    assert (
        await sql_refused(
            pool,
            "UPDATE psa_sales_items SET account_id = $2 WHERE id = $1",
            made.record_id,
            without,
        )
    ).startswith(GATE)
    moved = await write(
        pool,
        desk.move_sales_item,
        "anna",
        MoveSalesItem(sales_item_id=made.record_id, account_id=second),
    )
    assert moved.message == (
        f"sales item {made.record_id} moved from client {with_billing} to client {second}"
    )
    assert (
        await pool.fetchval("SELECT account_id FROM psa_sales_items WHERE id = $1", made.record_id)
        == second
    )


async def test_the_activity_turns_a_gate_into_a_refusal_and_writes_nothing(pool):
    _, client = await new_client(pool)
    env, acts = ActivityEnvironment(), PsaActivities(pool)
    step = RecordChangeStep(
        key=StepKey(
            process_id=f"record-change-gate-{client}", step="create-sales-item", actor="anna"
        ),
        change=CreateSalesItem(account_id=client, description="x", quantity=1, unit_price=1),
    )
    with pytest.raises(ApplicationError) as e:
        await env.run(acts.change_record, step)
    assert e.value.type == "Refused" and e.value.non_retryable
    assert "has no billing information" in e.value.message
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE process_id = $1", step.key.process_id
        )
        == 0
    )  # a refused step may be sent again
    await give_billing_information(pool, client)
    first = await env.run(acts.change_record, step)
    assert await env.run(acts.change_record, step) == first  # the same step, written once
    assert (
        await pool.fetchval("SELECT count(*) FROM psa_sales_items WHERE account_id = $1", client)
        == 1
    )


async def test_unknown_records_are_refused_by_name(pool):
    assert await refused(
        pool, desk.create_ticket, "p", "a", CreateTicket(account_id="NOBODY", subject="x")
    ) == ("unknown client 'NOBODY'")
    assert await refused(
        pool,
        desk.log_time,
        "p",
        "a",
        LogTime(ticket_id=2**40, minutes=1, work_date=date(2026, 1, 1)),
    ) == (f"no ticket {2**40}")


async def test_a_contract_becomes_active_only_fully_priced_and_then_its_parts_freeze(pool):
    _, client = await new_client(pool)
    await give_billing_information(pool, client)
    draft = await give_active_contract(pool, client, [("Premium", 3, "19.90")], status="draft")
    await pool.execute(
        "UPDATE psa_contract_parts SET unit_price = NULL WHERE contract_id = $1", draft
    )
    activate = "UPDATE psa_contracts SET status = 'active', activated_at = now() WHERE id = $1"
    assert "no price yet for Premium" in await sql_refused(pool, activate, draft)
    await pool.execute("DELETE FROM psa_contract_parts WHERE contract_id = $1", draft)
    assert "it has no parts" in await sql_refused(pool, activate, draft)
    await pool.execute(
        "INSERT INTO psa_contract_parts (contract_id, line_no, sku, name,"
        " quantity, unit_price, source) VALUES ($1, 1, 'Basic', 'Basic', 2,"
        " 9.90, 'assigned')",
        draft,
    )
    await pool.execute(activate, draft)
    assert "its parts can no longer change" in await sql_refused(
        pool, "UPDATE psa_contract_parts SET unit_price = 1 WHERE contract_id = $1", draft
    )


async def test_no_contract_without_billing_information(pool):
    _, client = await new_client(pool)
    assert "foreign key" in await sql_refused(
        pool,
        "INSERT INTO psa_contracts (id, process_id, account_id, currency, payment_method,"
        " start_date) VALUES ('c-' || $1, 'x', $1, 'EUR', 'bank-transfer', '2026-01-01')",
        client,
    )


async def test_invoices_need_reviewed_numbering_no_gaps_no_reuse_no_deletion(pool):
    partner, client = await new_client(pool)
    await give_billing_information(pool, client)
    contract = await give_active_contract(pool, client, [("Basic", 1, "9.90")])
    insert = (
        "INSERT INTO psa_invoices (partner_id, sequence_no, number, contract_id,"
        " account_id, period, currency, total, issued_on, due_on, process_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, 'EUR', 9.90, '2026-01-05', '2026-02-04', 't')"
    )
    args = (partner.id, 1, "INV-1", contract, client, date(2026, 1, 1))
    assert "foreign key" in await sql_refused(pool, insert, *args)  # numbering not reviewed

    await pool.execute(
        "INSERT INTO psa_invoice_numbering (partner_id, prefix, next_number,"
        " format, first_number, confirmed_by) VALUES ($1, 'INV-', 5,"
        " '{prefix}{number}', 5, 't')",
        partner.id,
    )
    assert "not allocated from its counter" in await sql_refused(pool, insert, *args)

    async with pool.acquire() as conn:
        with pytest.raises(Exception, match="would leave a gap"):
            async with conn.transaction():  # number 6 while 5 was never issued
                await conn.execute(
                    "UPDATE psa_invoice_numbering SET next_number = 7 WHERE partner_id = $1",
                    partner.id,
                )
                await conn.execute(
                    insert, partner.id, 6, "INV-6", contract, client, date(2026, 1, 1)
                )
        async with conn.transaction():
            await conn.execute(insert, partner.id, 5, "INV-5", contract, client, date(2026, 1, 1))
            await conn.execute(
                "UPDATE psa_invoice_numbering SET next_number = 6 WHERE partner_id = $1", partner.id
            )
    assert "never reused" in await sql_refused(
        pool, "UPDATE psa_invoice_numbering SET next_number = 5 WHERE partner_id = $1", partner.id
    )
    assert "never changed or deleted" in await sql_refused(
        pool, "DELETE FROM psa_invoices WHERE partner_id = $1", partner.id
    )
    assert "not changed afterwards" in await sql_refused(
        pool, "UPDATE psa_invoice_numbering SET prefix = 'X' WHERE partner_id = $1", partner.id
    )
