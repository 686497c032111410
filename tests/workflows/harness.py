"""Run the real workflows and activities against a test server, on a task queue of their own."""

import uuid
from contextlib import asynccontextmanager
from datetime import date

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from domain.business_time import Family, business_today
from domain.change_order import ChangeOrderRequest, FastChangeRequest, StepAnswer
from domain.order_lines import FastChangeLine, QuoteLine
from worker import activities_for, workflow_classes, workflow_runner

WORKFLOWS = workflow_classes()  # an unversioned worker's, as the tests run


@asynccontextmanager
async def running_worker(client: Client, pool, replace: list = ()):
    """A worker with the real activities, but for those in `replace` (same activity name)."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    replaced = {fn.__temporal_activity_definition.name for fn in replace}
    activities = [
        fn for fn in activities_for(pool) if fn.__temporal_activity_definition.name not in replaced
    ]
    async with Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=[*activities, *replace],
        workflow_runner=workflow_runner(),  # the sandbox as in production
    ):
        yield queue


def fast_lines(**totals: int) -> list[FastChangeLine]:
    return [FastChangeLine(sku=sku, quantity=q) for sku, q in totals.items()]


def quote_lines(*specs: tuple) -> list[QuoteLine]:
    """("Premium", 3), ("CLASSOUND-FLAT", 2, "Premium"), ("WP480G", 1, None, date(...))"""
    out = []
    for spec in specs:
        sku, qty, *rest = spec
        licence = rest[0] if rest else None
        start: date | None = rest[1] if len(rest) > 1 else None
        out.append(QuoteLine(sku=sku, quantity=qty, licence=licence, start_date=start))
    return out


async def start_process(
    client: Client, queue: str, workflow, request, process_id: str | None = None
) -> tuple[WorkflowHandle, StepAnswer | Exception]:
    """Starts as the starter does (update-with-start of `started`); returns the handle and
    the `started` answer, or the exception that refused it."""
    if process_id is None:
        kind = (
            "fast-change-order"
            if isinstance(request, FastChangeRequest)
            else (
                "change-order"
                if isinstance(request, ChangeOrderRequest)
                else workflow.__temporal_workflow_definition.name
            )
        )
        account = getattr(request, "account_id", "x")
        process_id = f"{kind}-{account}-{uuid.uuid4().hex[:8]}"
    op = WithStartWorkflowOperation(
        workflow.run,
        request,
        id=process_id,
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    try:
        answer = await client.execute_update_with_start_workflow(
            workflow.started, start_workflow_operation=op
        )
    except Exception as e:  # noqa: BLE001 - the test inspects it
        answer = e
    return await op.workflow_handle(), answer


async def outcome(env, handle: WorkflowHandle):
    """The process's final status. On the time-skipping server, time runs ahead while we
    wait (durable timers fire at once), as it does for handles from `start_workflow`."""
    if not env.supports_time_skipping:
        return await handle.result()
    async with env.time_skipping_unlocked():
        return await handle.result()


async def server_today(env, family: Family = Family.CHANGE_ORDERS) -> date:
    """Today as the workflows of `family` see it (their business day, not the UTC day): the
    test server's clock runs ahead as tests skip time."""
    return business_today(await env.get_current_time(), family)
