"""Records the histories that tests/test_replay.py replays. Run it when a workflow changes
on purpose (and keep old histories that running processes may still have):

    .venv/bin/python -m tests.histories.record

Each history is a real run on the time-skipping server with the real activities."""

import asyncio
import json
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import asyncpg
import pgserver
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.change_order import (
    Cancellation,
    ChangeOrderRequest,
    FastChangeRequest,
    QuoteStep,
    Revision,
    StaffStep,
)
from store.db import create_pool, migrate
from tests.records import load_catalogue, new_account, set_account_field
from tests.workflows.harness import (
    fast_lines,
    outcome,
    quote_lines,
    running_worker,
    start_process,
)
from workflows.change_order import ChangeOrder
from workflows.fast_change_order import FastChangeOrder
from workflows.visibility import ALL as SEARCH_ATTRIBUTES

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
STAFF, PARTNER = StaffStep(actor="staff"), StaffStep(actor="partner-user")


async def save(handle, name: str) -> None:
    history = await handle.fetch_history()
    # The workflow id is part of what replays: ids of quotes and orders derive from it.
    saved = {"workflow_id": handle.id, "history": json.loads(history.to_json())}
    (HERE / f"{name}.json").write_text(json.dumps(saved, indent=1))
    print(f"saved {name}.json ({len(history.events)} events)")


async def fast_change_applied_after_reminder(env, pool, q) -> None:
    acc = await new_account(pool, licences={"Premium": 3},
                            flats=[("Premium", ["+4930999"]), ("Premium", ["+4930998"])])
    handle, _ = await start_process(env.client, q, FastChangeOrder, FastChangeRequest(
        account_id=acc.id, pbx_id=acc.pbx_id, lines=fast_lines(Premium=1, Business=2),
        requested_by="staff"))
    await env.sleep(timedelta(days=2, hours=1))
    await handle.execute_update(FastChangeOrder.confirm, PARTNER)
    await outcome(env, handle)
    await save(handle, "fast_change_applied_after_reminder")


async def fast_change_expired(env, pool, q) -> None:
    acc = await new_account(pool, licences={"Basic": 1})
    handle, _ = await start_process(env.client, q, FastChangeOrder, FastChangeRequest(
        account_id=acc.id, pbx_id=acc.pbx_id, lines=fast_lines(Basic=2), requested_by="staff"))
    await outcome(env, handle)
    await save(handle, "fast_change_expired")


async def fast_change_refused(env, pool, q) -> None:
    acc = await new_account(pool, licences={"Basic": 1}, active=False)
    handle, _ = await start_process(env.client, q, FastChangeOrder, FastChangeRequest(
        account_id=acc.id, pbx_id=acc.pbx_id, lines=fast_lines(Basic=2), requested_by="staff"))
    await outcome(env, handle)
    await save(handle, "fast_change_refused")


async def change_order_rejected_revised_applied(env, pool, q) -> None:
    acc = await new_account(pool, licences={"Premium": 2}, missing=("invoice_email",))
    handle, _ = await start_process(env.client, q, ChangeOrder, ChangeOrderRequest(
        account_id=acc.id, pbx_id=acc.pbx_id, requested_by="staff",
        lines=quote_lines(("Premium", 2), ("WP480G", 1), ("CLASSOUND-FLAT", 1, "Premium"))))
    v1 = (await handle.query(ChangeOrder.status)).current_quote.quote_id
    await handle.execute_update(ChangeOrder.mark_primary, QuoteStep(actor="staff", quote_id=v1))
    await handle.execute_update(ChangeOrder.publish, QuoteStep(actor="staff", quote_id=v1))
    await handle.execute_update(ChangeOrder.mark_complete, STAFF)  # rejected
    await set_account_field(pool, acc.id, "invoice_email", "ap@test.example")
    await handle.execute_update(ChangeOrder.revise, Revision(
        actor="staff", lines=quote_lines(("Premium", 3), ("SVC-INSTALL", 1))))
    v2 = (await handle.query(ChangeOrder.status)).current_quote.quote_id
    await handle.execute_update(ChangeOrder.publish, QuoteStep(actor="staff", quote_id=v2))
    await handle.execute_update(ChangeOrder.mark_complete, STAFF)
    await handle.execute_update(ChangeOrder.confirm, PARTNER)
    await outcome(env, handle)
    await save(handle, "change_order_rejected_revised_applied")


async def change_order_cancelled(env, pool, q) -> None:
    acc = await new_account(pool, licences={"Basic": 2})
    handle, _ = await start_process(env.client, q, ChangeOrder, ChangeOrderRequest(
        account_id=acc.id, pbx_id=acc.pbx_id, requested_by="staff",
        lines=quote_lines(("Basic", -1))))
    await handle.execute_update(ChangeOrder.cancel,
                                Cancellation(actor="staff", reason="customer withdrew"))
    await outcome(env, handle)
    await save(handle, "change_order_cancelled")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = pgserver.get_server(tmp, cleanup_mode="stop")
        dsn = server.get_uri()
        await migrate(dsn)
        pool = await create_pool(dsn)
        conn = await asyncpg.connect(dsn)
        await load_catalogue(conn)
        await conn.close()
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(BIN / "temporal-test-server"),
            data_converter=pydantic_data_converter)
        from tests.conftest import register_search_attributes
        await register_search_attributes(env.client, SEARCH_ATTRIBUTES)
        # Durable timers need the time-skipping server; updates that run activities in their
        # handler are recorded on the dev server, whose histories are what production writes.
        dev = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(BIN / "temporal"),
            data_converter=pydantic_data_converter, search_attributes=SEARCH_ATTRIBUTES)
        async with running_worker(env.client, pool) as q:
            for record in (fast_change_applied_after_reminder, fast_change_expired,
                           fast_change_refused):
                await record(env, pool, q)
        async with running_worker(dev.client, pool) as q:
            for record in (change_order_rejected_revised_applied, change_order_cancelled):
                await record(dev, pool, q)
        await dev.shutdown()
        await env.shutdown()
        await pool.close()
        server.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)
