"""`temporal workflow terminate` of a business process is answered by the
reconciliation job (ops/reconcile.py): the terminated order is closed in PostgreSQL once, with an
audit row naming who terminated it and a notice to ops; a running one is left alone. On the
real dev server, with a database of its own (the job looks at every open record)."""

import asyncio
import os
import uuid
from pathlib import Path

import pytest

from domain.change_order import FastChangeRequest, Stage
from domain.order_lines import FastChangeLine
from ops import reconcile
from store.db import create_pool
from tests.conftest import new_database
from tests.e2e.forked import spawn
from tests.records import load_catalogue, new_account
from tests.workflows.harness import running_worker, start_process
from workflows.fast_change_order import FastChangeOrder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def own_dsn(postgres_admin_dsn):
    return await new_database(postgres_admin_dsn, "pf_reconcile")


@pytest.fixture
async def own_pool(own_dsn):
    pool = await create_pool(own_dsn, max_size=4)
    async with pool.acquire() as conn:
        await load_catalogue(conn)
    yield pool
    await pool.close()


async def order_of(pool, process_id: str):
    return await pool.fetchrow(
        "SELECT status, closed_reason FROM orders WHERE process_id = $1", process_id
    )


async def test_a_terminated_order_is_closed_once_and_a_running_one_is_left_alone(dev_env, own_pool):
    pool, client = own_pool, dev_env.client
    acc = await new_account(pool, licences={"Premium": 5})
    request = FastChangeRequest(
        account_id=acc.id,
        pbx_id=acc.pbx_id,
        requested_by="staff",
        lines=[FastChangeLine(sku="Premium", quantity=7)],
    )
    async with running_worker(client, pool) as q:
        ended, answer = await start_process(client, q, FastChangeOrder, request)
        assert answer.stage == Stage.AWAITING_PARTNER
        running, answer = await start_process(
            client,
            q,
            FastChangeOrder,
            request.model_copy(update={"lines": [FastChangeLine(sku="Premium", quantity=6)]}),
        )
        assert answer.stage == Stage.AWAITING_PARTNER
        reason = f"duplicate {uuid.uuid4().hex[:6]}"
        await ended.terminate(reason=reason)
        assert (await order_of(pool, ended.id))["status"] == "awaiting_partner_confirmation"

        first = await reconcile.reconcile(pool, client)
        second = await reconcile.reconcile(pool, client)  # nothing more to do

        assert [c["process_id"] for c in first] == [ended.id] and second == []
        order = await order_of(pool, ended.id)
        assert order["status"] == "cancelled"
        assert order["closed_reason"].startswith(
            f"closed by reconciliation: workflow terminated by {client.identity}"
        )
        assert order["closed_reason"].endswith(f"({reason})")
        assert (await order_of(pool, running.id))["status"] == "awaiting_partner_confirmation"
    audit = await pool.fetch(
        "SELECT actor, action, run FROM audit_log WHERE process_id = $1"
        " AND step = 'reconcile-close'",
        ended.id,
    )
    assert [(a["actor"], a["action"]) for a in audit] == [
        ("reconciliation", order["closed_reason"])
    ]
    assert audit[0]["run"] == ended.first_execution_run_id
    notices = await pool.fetch(
        "SELECT recipient_kind, recipient_id, template, payload"
        " FROM notifications WHERE process_id = $1"
        " AND step = 'reconcile-close'",
        ended.id,
    )
    assert [(n["recipient_kind"], n["recipient_id"], n["template"]) for n in notices] == [
        ("role", "ops", "process_closed_by_reconciliation")
    ]
    order_id = await pool.fetchval("SELECT id FROM orders WHERE process_id = $1", ended.id)
    assert notices[0]["payload"]["records"] == [f"order {order_id}"]


async def test_records_of_a_workflow_temporal_does_not_know_are_closed(dev_env, own_pool):
    """Deleted, or past the namespace's retention: nothing will ever close them."""
    pool = own_pool
    acc = await new_account(pool)
    process_id = f"fast-change-order-{acc.id}-gone"
    await pool.execute(
        "INSERT INTO orders (id, process_id, kind, account_id, pbx_id, partner_id, status)"
        " VALUES ($1, $2, 'fast_change', $3, $4, $5, 'awaiting_partner_confirmation')",
        f"O-{uuid.uuid4().hex[:8]}",
        process_id,
        acc.id,
        acc.pbx_id,
        acc.partner_id,
    )
    ticket = await pool.fetchval(
        "INSERT INTO tickets (process_id, step, queue, account_id, subject, body)"
        " VALUES ($1, 'ask-reseller', 'reseller', $2, 'LOA', 'please') RETURNING id",
        process_id,
        acc.id,
    )
    (closed,) = await reconcile.reconcile(pool, dev_env.client)
    assert closed["reason"] == "closed by reconciliation: workflow not found in Temporal"
    assert (await order_of(pool, process_id))["status"] == "cancelled"
    assert closed["records"][-1] == f"ticket {ticket}"
    assert await pool.fetchval("SELECT status FROM tickets WHERE id = $1", ticket) == "closed"


async def test_the_command_compose_and_run_start_closes_and_then_finds_nothing(
    dev_env, own_pool, own_dsn
):
    """`python -m store reconcile` as compose's `reconcile` service and ./run start it (with
    --every), one pass: what it closed, then nothing."""
    pool = own_pool
    acc = await new_account(pool)
    process_id = f"fast-change-order-{acc.id}-cli"
    await pool.execute(
        "INSERT INTO orders (id, process_id, kind, account_id, pbx_id, partner_id, status)"
        " VALUES ($1, $2, 'fast_change', $3, $4, $5, 'awaiting_partner_confirmation')",
        f"O-{uuid.uuid4().hex[:8]}",
        process_id,
        acc.id,
        acc.pbx_id,
        acc.partner_id,
    )
    env = dict(
        os.environ,
        DATABASE_URL=own_dsn,
        PARTNERFLOW_ALLOW_PLAINTEXT="1",
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        TEMPORAL_NAMESPACE="default",
        LOG_LEVEL="WARNING",
    )
    env.pop("PARTNERFLOW_ENCRYPTION_KEYS", None)

    async def run() -> str:
        # a process of its own, forked from the pre-started interpreter (tests/e2e/forked.py)
        proc = await spawn(
            env,
            ["-m", "store", "reconcile"],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        return out.decode()

    first = await run()
    assert f"{process_id}: order O-" in first and "workflow not found in Temporal" in first
    assert (await run()).strip().endswith("nothing to close")
    assert (await order_of(pool, process_id))["status"] == "cancelled"
