"""The reconciliation job (docs/security.md "Hardening"): records of a process whose workflow
ended without closing them — `temporal workflow terminate`, a cancel that could not close
them, a timeout, a failure, or a workflow no longer in Temporal — are closed in PostgreSQL,
with an audit row saying why and who ("closed by reconciliation: workflow terminated by
ops-anna@host (duplicate)") and a notice to ops through the outbox. Idempotent: one step per
process (store/reconcile.py).

    python -m store reconcile               # one pass; prints what it closed
    python -m store reconcile --every 300   # a pass every 5 minutes (compose, ./run)

It asks Temporal about each process that has open records; a running process is left alone.
Reads DATABASE_URL and TEMPORAL_* as the worker does."""

import asyncio
from collections import Counter
from typing import Any

import structlog
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.reconcile import MISSING, closes, ended, reason
from store import reconcile as records

log = structlog.get_logger("partnerflow.reconcile")


async def workflow_end(client: Client, workflow_id: str) -> tuple[str | None, str, str, str]:
    """(status name or None when there is no such workflow, the first run id of its chain,
    who terminated or cancelled it, the reason given)."""
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return MISSING, "", "", ""
        raise
    status = described.status.name if described.status else "RUNNING"
    info = described.raw_description.workflow_execution_info
    run = info.first_run_id or described.run_id
    identity = why = ""
    if status in ("TERMINATED", "CANCELED"):
        identity, why = await who_ended(client, workflow_id, described.run_id)
    return status, run, identity, why


async def who_ended(client: Client, workflow_id: str, run_id: str | None) -> tuple[str, str]:
    """(identity, reason) of the terminate or cancel request (plain fields of its event, not
    payloads), read from the end of the history: a terminate is its last event; a cancel
    request comes a few events before the end (the cleanup's steps follow it)."""
    token = b""
    for _ in range(5):
        page = await client.workflow_service.get_workflow_execution_history_reverse(
            GetWorkflowExecutionHistoryReverseRequest(
                namespace=client.namespace,
                maximum_page_size=100,
                execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id or ""),
                next_page_token=token,
            )
        )
        for event in page.history.events:
            if event.HasField("workflow_execution_terminated_event_attributes"):
                terminated = event.workflow_execution_terminated_event_attributes
                return terminated.identity, terminated.reason
            if event.HasField("workflow_execution_cancel_requested_event_attributes"):
                cancelled = event.workflow_execution_cancel_requested_event_attributes
                return cancelled.identity, cancelled.cause
        token = page.next_page_token
        if not token:
            break
    return "", ""


async def reconcile(pool: Any, client: Client) -> list[dict]:
    """One pass: what it closed, per process."""
    async with pool.acquire() as conn:
        open_ = await records.open_records(conn)
    closed = []
    for process_id in sorted({r.process_id for r in open_}):
        status, run, identity, why = await workflow_end(client, process_id)
        if not closes(status):
            continue
        result = await records.close_process(pool, process_id, run, reason(status, identity, why))
        if result.get("records"):
            log.warning(
                "records closed by reconciliation",
                process_id=process_id,
                records=result["records"],
                reason=result["reason"],
            )
            closed.append({"process_id": process_id, "ended": ended(status), **result})
    log.info(
        "reconciliation pass",
        processes_with_open_records=len({r.process_id for r in open_}),
        closed=len(closed),
        **{f"closed_{end}": n for end, n in sorted(Counter(c["ended"] for c in closed).items())},
    )
    return closed


async def run_every(pool: Any, client: Client, seconds: float, stop: asyncio.Event) -> None:
    """A pass every `seconds` until `stop`; a pass that fails (PostgreSQL or Temporal away)
    is logged and the next one tries again."""
    while not stop.is_set():
        try:
            await reconcile(pool, client)
        except Exception as e:  # noqa: BLE001 - the next pass tries again
            log.warning("reconciliation pass failed", error=f"{type(e).__name__}: {e}")
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except TimeoutError:
            pass
