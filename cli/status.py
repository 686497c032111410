"""The commands for every process: its status, the list of processes, and retrying the step
of one that needs attention."""

import argparse
import json
from datetime import timedelta

from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from cli.common import FORMATTERS, diagnosis, emit, send, temporal, with_extras
from cli.forms import validated
from client.failures import (
    BAD_INPUT,
    NO_ANSWER,
    NO_PROCESS,
    OK,
    UNREACHABLE,
    Failure,
    rpc_failure,
)
from client.processes import ended_stage
from domain.steps import StaffStep
from workflows.process import Process
from workflows.visibility import ACCOUNT_ID, PARTNER_ID, PROCESS_KIND, STAGE

CANDIDATES_SHOWN = 10


async def whole_process_id(given: str) -> str:
    """A process id, or a unique start of one (`change-order-BERGMANN-53` for
    `change-order-BERGMANN-537af060`), as Temporal's list knows it. A start that fits several
    is refused with them listed; one that fits none stays as given (a process started a moment
    ago may not be listed yet), and the command says whether it exists."""
    found: list[str] = []
    query = f"WorkflowId STARTS_WITH {json.dumps(given)}"
    try:
        client = await temporal()
    except Failure as down:
        if down.code != UNREACHABLE:
            raise
        # nothing to look up: the command checks its input first, then says Temporal is down
        return given
    try:
        async for wf in client.list_workflows(query, limit=100):
            if wf.id == given:
                return given
            if wf.id not in found:
                found.append(wf.id)
    except RPCError as e:
        if e.status != RPCStatusCode.INVALID_ARGUMENT:
            raise
        return given  # a visibility store without STARTS_WITH: whole ids only
    if found and await exists(given):
        return given  # itself, started a moment ago: not listed yet
    if len(found) == 1:
        return found[0]
    if found:
        shown = "\n  ".join(sorted(found)[:CANDIDATES_SHOWN])
        more = (
            f"\n  ... and {len(found) - CANDIDATES_SHOWN} more"
            if len(found) > CANDIDATES_SHOWN
            else ""
        )
        raise Failure(
            BAD_INPUT,
            f"{given!r} starts {len(found)} process ids; give more of the one you mean:"
            f"\n  {shown}{more}",
        )
    return given


async def exists(process_id: str) -> bool:
    try:
        await (await temporal()).get_workflow_handle(process_id).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def cmd_retry(args: argparse.Namespace) -> int:
    """Runs the step of a process that needs attention again (its cause fixed)."""
    return await send(args, Process.retry, validated(StaffStep, actor=args.actor))


def generic_status(s: dict) -> str:
    lines = [s.get("process_id", "?")]
    for key, value in s.items():
        if key in ("process_id", "revision") or value in (None, [], {}):
            continue
        if isinstance(value, list):
            for item in value:
                lines.append(f"  {key + ':':<13}{item}")
        else:
            lines.append(f"  {key + ':':<13}{value}")
    return "\n".join(lines)


async def cmd_status(args: argparse.Namespace) -> int:
    handle = (await temporal()).get_workflow_handle(args.process_id)
    try:
        desc = await handle.describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Failure(
                NO_PROCESS, f"no process {args.process_id}; `starter.py list` shows the processes"
            ) from None
        raise
    closed = desc.status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
    try:
        if desc.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED:
            # A finished process's result is its final status: no worker needed to read it.
            status: dict = await handle.result()
        else:
            status = await handle.query("status", rpc_timeout=timedelta(seconds=15))
    except RPCError as e:
        if closed:
            raise Failure(
                NO_PROCESS,
                f"process {args.process_id} ended {ended_stage(desc)}: see it in the Temporal UI",
            ) from None
        if e.status == RPCStatusCode.DEADLINE_EXCEEDED:
            why = await diagnosis(await temporal(), args.process_id)
            raise Failure(
                NO_ANSWER, f"no worker answered the status query in 15 s: {why}"
            ) from None
        raise rpc_failure(e, args.process_id) from None
    status = await with_extras(status)
    formatter = FORMATTERS.get(status.get("kind", ""), generic_status)
    emit(args, True, formatter(status), status)
    return OK


async def cmd_list(args: argparse.Namespace) -> int:
    clauses = ["ProcessKind IS NOT NULL"]
    for key, value in (
        (PROCESS_KIND, args.kind),
        (STAGE, args.stage),
        (ACCOUNT_ID, args.account),
        (PARTNER_ID, args.partner),
    ):
        if value:
            clauses.append(f"{key.name} = {json.dumps(value)}")
    if args.open:
        clauses.append("ExecutionStatus = 'Running'")
    rows = []
    async for wf in (await temporal()).list_workflows(" AND ".join(clauses), limit=args.limit):
        sa = wf.typed_search_attributes
        rows.append(
            {
                "process_id": wf.id,
                "kind": sa.get(PROCESS_KIND),
                "stage": sa.get(STAGE),
                "account_id": sa.get(ACCOUNT_ID),
                "partner_id": sa.get(PARTNER_ID),
                "started": wf.start_time.isoformat(timespec="seconds"),
            }
        )
    text = table(rows) if rows else "no processes match"
    emit(args, True, text, rows)
    return OK


def table(rows: list[dict]) -> str:
    """Process id, stage, account and partner in columns as wide as their longest value:
    a long id moves the columns, never breaks them."""
    columns = ("process_id", "stage", "account_id", "partner_id")
    heads = ("PROCESS", "STAGE", "ACCOUNT", "PARTNER")
    cells = [[str(r.get(c) or "-") for c in columns] for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in cells)) for i, h in enumerate(heads)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [list(heads), *cells]
    )
