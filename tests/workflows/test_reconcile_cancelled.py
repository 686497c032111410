"""A run cancelled in Temporal whose records were still being written when its cancel step
ran (the order committed just after it) ends CANCELED with the order open: the
reconciliation finds it, closes it once with who cancelled it and why, and counts it. On the
real dev server, with a database of its own (the job looks at every open record)."""

import asyncio
import uuid

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from activities.change_orders import ChangeOrderActivities
from domain.change_order import FastChangeOpening, FastChangeRequest, OpenedFastChange
from domain.order_lines import FastChangeLine
from ops import reconcile
from tests.records import new_account
from tests.workflows.harness import running_worker, start_process
from tests.workflows.test_reconcile import order_of, own_dsn, own_pool  # noqa: F401 - fixtures
from workflows.fast_change_order import FastChangeOrder


async def test_a_cancelled_run_whose_order_committed_after_its_cancel_is_closed_once(
    dev_env,
    own_pool,  # noqa: F811 - the fixture
):
    pool, client = own_pool, dev_env.client
    acc = await new_account(pool, licences={"Premium": 5})
    real = ChangeOrderActivities(pool)
    entered, release, committed = asyncio.Event(), asyncio.Event(), asyncio.Event()

    @activity.defn(name="open_fast_change")
    async def open_held(o: FastChangeOpening) -> OpenedFastChange:
        entered.set()
        await release.wait()  # the workflow's cancel runs meanwhile
        try:
            return await real.open_fast_change(o)
        finally:
            committed.set()

    request = FastChangeRequest(
        account_id=acc.id,
        pbx_id=acc.pbx_id,
        requested_by="staff",
        lines=[FastChangeLine(sku="Premium", quantity=7)],
    )
    why = f"wrong PBX {uuid.uuid4().hex[:6]}"
    async with running_worker(client, pool, replace=[open_held]) as q:
        process_id = f"fast-change-order-{acc.id}-{uuid.uuid4().hex[:8]}"
        starting = asyncio.create_task(
            start_process(client, q, FastChangeOrder, request, process_id=process_id)
        )
        await entered.wait()
        handle = client.get_workflow_handle(process_id)
        await handle.cancel(reason=why)
        try:
            await handle.result()
        except WorkflowFailureError:
            pass
        assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
        release.set()
        await committed.wait()
        await starting
    assert (await order_of(pool, handle.id))["status"] == "awaiting_partner_confirmation"

    first = await reconcile.reconcile(pool, client)
    second = await reconcile.reconcile(pool, client)

    assert [(c["process_id"], c["ended"]) for c in first] == [(handle.id, "cancelled")]
    assert second == []
    order = await order_of(pool, handle.id)
    assert order["status"] == "cancelled"
    assert order["closed_reason"] == (
        f"closed by reconciliation: workflow cancelled by {client.identity} ({why})"
    )
