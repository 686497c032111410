"""The rows behind the work list (store/inbox.py) on the real PostgreSQL with the demo data:
what is due within a week is listed, what is due later or already closed is not. Read as
staff read it, through the read-only reader."""

from datetime import UTC, date, datetime, timedelta

import asyncpg

from domain.inbox import Waits
from store import inbox
from store.records import reading

NOW = datetime.now(UTC)


async def given_records(conn: asyncpg.Connection) -> None:
    # orders waiting for the partner: one expires in 5 days, one in 9
    for pid, age in (("fast-change-order-ACME-soon", 5), ("fast-change-order-ACME-later", 1)):
        await conn.execute(
            "INSERT INTO orders (id, process_id, kind, account_id, pbx_id, partner_id, status,"
            " created_at) VALUES ($1, $2, 'fast_change', 'ACME', 'PBX-ACME', 'P-NORDTEL',"
            " 'awaiting_partner_confirmation', $3)",
            f"order-{pid}",
            pid,
            NOW - timedelta(days=age),
        )
    # CLASSOUND orders waiting for the reseller: one expires in 3 days, one in 20
    for pid, days in (("classound-order-ACME-soon", 3), ("classound-order-ACME-later", 20)):
        await conn.execute(
            "INSERT INTO classound_orders (process_id, kind, account_id, pbx_id, partner_id,"
            " numbers, status, requested_by, created_at, expires_at) VALUES ($1, 'ordering',"
            " 'ACME', 'PBX-ACME', 'P-NORDTEL', 1, 'awaiting_reseller', 'ops-ben', $2, $3)",
            pid,
            NOW - timedelta(days=27),
            NOW + timedelta(days=days),
        )
    # contracts sent for signature: one due in 2 days, one in 30; one of a closed deal
    for n, (pid, days, deal) in enumerate(
        (
            ("renegotiation-ACME-soon", 2, "open"),
            ("renegotiation-ACME-later", 30, "open"),
            ("renegotiation-ACME-lost", 1, "lost"),
        )
    ):
        await conn.execute(
            "INSERT INTO deals (id, process_id, account_id, name, pipeline, stage, deal_type,"
            " close_date, meeting_booker, owner, delivery_start_date, currency, amount,"
            " contact_email, status) VALUES ($1, $2, 'ACME', 'd', 'p', 's', 't', $3, 'b', 'o',"
            " $3, 'NOK', 1, 'x@acme.example', $4)",
            f"D-{n}",
            pid,
            date.today(),
            deal,
        )
        await conn.execute(
            "INSERT INTO contracts (id, process_id, account_id, deal_id, template, licences,"
            " price, status, sent_at, signing_deadline) VALUES ($1, $2, 'ACME', $3, 't', 1, 1,"
            " 'sent', $4, $5)",
            f"K-{n}",
            pid,
            f"D-{n}",
            NOW - timedelta(days=5),
            (NOW + timedelta(days=days)).date(),
        )
    # a lead claimed 30 minutes ago in a queue that wants it worked within the hour
    await conn.execute(
        "INSERT INTO partner_accounts (partner_id, channel_manager, process_id, created_by)"
        " VALUES ('P-NORDTEL', 'cm-eva', 'partner-account-P-NORDTEL', 'cm-eva')"
    )
    await conn.execute(
        "INSERT INTO contacts (id, partner_id, name) VALUES ('C-NORD-9', 'P-NORDTEL', 'Nils')"
    )
    await conn.execute(
        "INSERT INTO partner_users (id, partner_id, invited_by) VALUES"
        " ('C-NORD-9', 'P-NORDTEL', 'cm-eva')"
    )
    await conn.execute(
        "INSERT INTO lead_queues (id, name, channel_managers, claim_cap, routing, process_id,"
        " opened_by, work_within_minutes) VALUES ('fair', 'Fair', '{cm-eva}', 5, 'claim',"
        " 'lead-queue-fair', 'cm-eva', 60)"
    )
    lead = await conn.fetchval(
        "INSERT INTO leads (dedupe_key, company, queue_id, status, process_id, step) VALUES"
        " ('k1', 'Acme', 'fair', 'owned', 'lead-queue-fair', 's') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO claims (lead_id, queue_id, user_id, partner_id, how, by_actor, process_id,"
        " step, started_at) VALUES ($1, 'fair', 'C-NORD-9', 'P-NORDTEL', 'claim', 'C-NORD-9',"
        " 'lead-step-1', 's', $2)",
        lead,
        NOW - timedelta(minutes=30),
    )


async def test_what_is_due_within_a_week_is_listed_and_nothing_else(demo_db):
    conn = await asyncpg.connect(demo_db)
    try:
        await given_records(conn)
    finally:
        await conn.close()
    async with reading(demo_db) as conn:
        items = await inbox.waiting(conn, NOW)
        queues = await inbox.queues_managed_by(conn, "cm-eva")
    listed = {(i.waits, i.process_id) for i in items}
    assert {
        (Waits.CONFIRMATION_DUE, "fast-change-order-ACME-soon"),
        (Waits.DEADLINE, "classound-order-ACME-soon"),
        (Waits.SIGNATURE_DUE, "renegotiation-ACME-soon"),
        (Waits.LEAD_DUE_BACK, "lead-queue-fair"),
    } <= listed, listed
    for later in (
        "fast-change-order-ACME-later",
        "classound-order-ACME-later",
        "renegotiation-ACME-later",
        "renegotiation-ACME-lost",
    ):
        assert later not in {pid for _, pid in listed}
    lead = next(i for i in items if i.waits == Waits.LEAD_DUE_BACK)
    assert lead.due is not None and lead.due - NOW < timedelta(minutes=31)
    assert lead.queue_id == "fair" and queues == ["fair"]
    order = next(i for i in items if i.process_id == "fast-change-order-ACME-soon")
    assert order.due is not None and timedelta(days=4) < order.due - NOW < timedelta(days=6)
