"""What every starter command shares: exit codes, output (text or --json), the Temporal
connection (made only after the input was checked), starting a process and sending a step."""

import argparse
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

import config
from domain.steps import StaffStep, StepAnswer
from workflows.process import Process
from workflows.visibility import ACCOUNT_ID, PARTNER_ID, PROCESS_KIND, STAGE

OK, REFUSED, BAD_INPUT, NO_PROCESS, UNREACHABLE = 0, 1, 2, 3, 4


class Failure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class BadInput(ValueError):
    """Input that cannot be sent: exit 2, nothing reaches Temporal."""


# --- output ---------------------------------------------------------------------------------

def emit(args: argparse.Namespace, ok: bool, message: str, data: Any = None,
         label: str = "refused: ") -> None:
    if args.json:
        payload: dict[str, Any] = {"ok": ok, "message": message}
        if isinstance(data, BaseModel):
            payload["data"] = data.model_dump(mode="json")
        elif data is not None:
            payload["data"] = data
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(message if ok else f"{label}{message}")
        if isinstance(data, StepAnswer):
            for note in data.notes:
                print(f"  note: {note}")


# --- input ----------------------------------------------------------------------------------

def validated(model: type[BaseModel], **fields: Any) -> Any:
    try:
        return model(**fields)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
                             for err in e.errors())
        raise Failure(BAD_INPUT, problems) from None


def same_day_ref(*parts: Any) -> str:
    """Same request, same day -> same process id: a retried start is not doubled."""
    body = json.dumps([*parts, datetime.now(UTC).date().isoformat()], sort_keys=True,
                      default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:8]


# --- Temporal -------------------------------------------------------------------------------

async def temporal() -> Client:
    """Connect only once the input has been checked: bad input never reaches Temporal."""
    try:
        return await config.connect_temporal()
    except Exception as e:  # noqa: BLE001 - any connection failure reads the same to staff
        raise Failure(UNREACHABLE, f"cannot reach Temporal: {e}") from None


def failure_message(e: WorkflowUpdateFailedError) -> str:
    cause = e.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or e)


# An ended process id that may be started again, by the stage it ended in: a refused start
# wrote nothing and its refusal tells the user what to change. ANY_END: every ended one.
AGAIN_AFTER_REFUSAL = frozenset({"refused"})
ANY_END = None


async def start(args, workflow: Any, request: Any, *, process_id: str, kind: str,
                account_id: str | None, summary: str,
                again_after: frozenset[str] | None = AGAIN_AFTER_REFUSAL) -> int:
    """Starts a process and waits for its `started` answer: accepted, or refused and why.
    While it runs, the same id is answered by the running process ("already exists");
    once it has ended, it is started again (a new run, with step keys of its own) when it
    ended in a stage of `again_after` (None: any), else refused ("already exists")."""
    client = await temporal()
    attributes = [SearchAttributePair(PROCESS_KIND, kind)]
    if account_id:
        attributes.append(SearchAttributePair(ACCOUNT_ID, account_id))

    def operation(reuse: WorkflowIDReusePolicy) -> WithStartWorkflowOperation:
        return WithStartWorkflowOperation(
            workflow.run,
            request,
            id=process_id,
            task_queue=config.TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=reuse,
            static_summary=summary,
            search_attributes=TypedSearchAttributes(attributes),
        )

    # This start attempt's own update id: the SDK's retries of the call keep it (one answer);
    # a new command is a new request, answered by the run that runs now, never by an
    # earlier run of the same id.
    update_id = f"started-{uuid.uuid4().hex[:16]}"
    try:
        try:
            answer = await client.execute_update_with_start_workflow(
                workflow.started, id=update_id,
                start_workflow_operation=operation(WorkflowIDReusePolicy.REJECT_DUPLICATE))
        except WorkflowAlreadyStartedError:  # it has ended
            desc = await client.get_workflow_handle(process_id).describe()
            stage = desc.typed_search_attributes.get(STAGE) or desc.status.name.lower()
            if again_after is not ANY_END and stage not in again_after:
                raise Failure(REFUSED, f"{process_id} already exists and has ended (stage "
                              f"{stage}): the same request is not started twice; see "
                              f"`starter.py status {process_id}`, or pass --ref to start a "
                              "separate one") from None
            answer = await client.execute_update_with_start_workflow(
                workflow.started, id=update_id,
                start_workflow_operation=operation(WorkflowIDReusePolicy.ALLOW_DUPLICATE))
    except WorkflowUpdateFailedError as e:
        raise Failure(REFUSED, failure_message(e)) from None
    # rejected: started, but a step needs attention before the request could be checked
    emit(args, not answer.rejected, answer.message + f"\nprocess id: {process_id}",
         {"process_id": process_id, **answer.model_dump(mode="json")}, label="")
    return REFUSED if answer.rejected else OK


async def running_handle(process_id: str):
    handle = (await temporal()).get_workflow_handle(process_id)
    try:
        desc = await handle.describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Failure(NO_PROCESS, f"no process {process_id}; `starter.py list` shows "
                          "the processes") from None
        raise
    if desc.status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
        stage = desc.typed_search_attributes.get(STAGE) or desc.status.name.lower()
        raise Failure(NO_PROCESS, f"process {process_id} has ended ({stage}); "
                      "nothing can be sent to it")
    return handle


async def send(args, update: Any, step: BaseModel) -> int:
    """Sends a human step as an update: the validator's refusal comes back at once."""
    handle = await running_handle(args.process_id)
    # The SDK retries the call with this id, so a dropped connection never applies it twice;
    # --request-id makes a repeated command the same request too. Repeats of a step that
    # already happened are answered by the workflow without doing it again.
    update_id = args.request_id or f"{update.__name__}-{uuid.uuid4().hex[:12]}"
    try:
        answer: StepAnswer = await handle.execute_update(update, step, id=update_id)
    except WorkflowUpdateFailedError as e:
        raise Failure(REFUSED, failure_message(e)) from None
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Failure(NO_PROCESS, f"process {args.process_id} has ended") from None
        raise
    emit(args, not answer.rejected, answer.message, answer, label="")
    return REFUSED if answer.rejected else OK


async def cmd_retry(args) -> int:
    """Runs the step of a process that needs attention again (its cause fixed)."""
    return await send(args, Process.retry, validated(StaffStep, actor=args.actor))


# --- status and list, for every process -----------------------------------------------------

StatusFormatter = Callable[[dict], str]
FORMATTERS: dict[str, StatusFormatter] = {}


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


async def cmd_status(args) -> int:
    handle = (await temporal()).get_workflow_handle(args.process_id)
    try:
        desc = await handle.describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Failure(NO_PROCESS, f"no process {args.process_id}; `starter.py list` "
                          "shows the processes") from None
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
            raise Failure(NO_PROCESS, f"process {args.process_id} ended "
                          f"{desc.status.name.lower()}: see it in the Temporal UI") from None
        if e.status == RPCStatusCode.DEADLINE_EXCEEDED:
            raise Failure(UNREACHABLE, "no worker answered; is worker.py running?") from None
        raise
    formatter = FORMATTERS.get(status.get("kind", ""), generic_status)
    emit(args, True, formatter(status), status)
    return OK


async def cmd_list(args) -> int:
    clauses = ["ProcessKind IS NOT NULL"]
    for key, value in ((PROCESS_KIND, args.kind), (STAGE, args.stage),
                       (ACCOUNT_ID, args.account), (PARTNER_ID, args.partner)):
        if value:
            clauses.append(f"{key.name} = {json.dumps(value)}")
    if args.open:
        clauses.append("ExecutionStatus = 'Running'")
    rows = []
    async for wf in (await temporal()).list_workflows(" AND ".join(clauses), limit=args.limit):
        sa = wf.typed_search_attributes
        rows.append({
            "process_id": wf.id,
            "kind": sa.get(PROCESS_KIND),
            "stage": sa.get(STAGE),
            "account_id": sa.get(ACCOUNT_ID),
            "partner_id": sa.get(PARTNER_ID),
            "started": wf.start_time.isoformat(timespec="seconds"),
        })
    text = "\n".join(
        f"{r['process_id']:<50} {r['stage'] or '-':<30} account {r['account_id'] or '-'}"
        for r in rows
    ) or "no processes match"
    emit(args, True, text, rows)
    return OK


# --- building commands ----------------------------------------------------------------------

class Commands:
    """Adds subcommands that share --json/--as, and optionally a process id and --request-id."""

    def __init__(self, sub, common: argparse.ArgumentParser) -> None:
        self.sub, self.common = sub, common

    def add(self, name: str, help_: str, fn, *, process: bool = False, step: bool = False):
        c = self.sub.add_parser(name, help=help_, description=help_, parents=[self.common])
        c.set_defaults(fn=fn)
        if process:
            c.add_argument("process_id", help="the process id, as `list` shows it")
        if step:
            c.add_argument("--request-id",
                           help="make a repeated command the same request (applied once)")
        return c


def common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    common.add_argument("--as", dest="actor", default=os.environ.get("USER") or "staff",
                        help="who does this step (staff or partner user id; default $USER)")
    return common
