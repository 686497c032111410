"""partnerflow for staff: start a process, send a human step, look at processes.

Every command takes --json (machine-readable output) and --help. Exit codes:
0 done; 1 refused or rejected (the reason is printed); 2 bad input (nothing was sent);
3 no such process, or it has ended; 4 Temporal could not be reached."""

import argparse
import asyncio
import hashlib
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

import config
from domain.change_order import (
    Cancellation,
    ChangeOrderRequest,
    FastChangeRequest,
    ProcessKind,
    ProcessStatus,
    QuoteStep,
    Revision,
    StaffStep,
    Stage,
    StepAnswer,
)
from domain.line_syntax import LineSyntaxError, parse_fast_change_line, parse_quote_line
from domain.order_lines import QuoteLine
from workflows.change_order import ChangeOrder
from workflows.fast_change_order import FastChangeOrder
from workflows.visibility import ACCOUNT_ID, PARTNER_ID, PROCESS_KIND, STAGE

OK, REFUSED, BAD_INPUT, NO_PROCESS, UNREACHABLE = 0, 1, 2, 3, 4


class Failure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- output ---------------------------------------------------------------------------------

def emit(args: argparse.Namespace, ok: bool, message: str, data: Any = None) -> None:
    if args.json:
        payload = {"ok": ok, "message": message}
        if isinstance(data, BaseModel):
            payload["data"] = data.model_dump(mode="json")
        elif data is not None:
            payload["data"] = data
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(message if ok else f"refused: {message}")
        if isinstance(data, StepAnswer):
            for note in data.notes:
                print(f"  note: {note}")


def show_status(s: ProcessStatus) -> str:
    lines = [
        f"{s.process_id}",
        f"  kind:        {s.kind.value}",
        f"  stage:       {s.stage.value}",
        f"  waiting for: {s.waiting_for} (since {s.since:%Y-%m-%d %H:%M} UTC)",
        f"  account:     {s.account_id}   PBX: {s.pbx_id}   partner: {s.partner_id or '-'}",
    ]
    if s.order_id:
        lines.append(f"  order:       {s.order_id}   reminders sent: {s.reminders_sent}")
    for q in s.quotes:
        flags = ", ".join(f for f, on in (("primary", q.primary), ("published", q.published)) if on)
        why = f" - {q.rejection_reason}" if q.rejection_reason else ""
        lines.append(f"  quote:       {q.quote_id} v{q.version} {q.status}"
                     f"{' (' + flags + ')' if flags else ''}{why}")
    for ln in s.lines:
        start = f" from {ln.start_date}" if ln.start_date else ""
        link = f" ({ln.licence_type})" if ln.kind.value == "classound_flat" else ""
        lines.append(f"  line:        {ln.sku}{link} {ln.quantity:+d}{start}")
    for r in s.records:
        lines.append(f"  record:      {r}")
    for n in s.notes:
        lines.append(f"  note:        {n}")
    return "\n".join(lines)


# --- input ----------------------------------------------------------------------------------

def quote_lines(args: argparse.Namespace) -> list[QuoteLine]:
    lines = [parse_quote_line(text) for text in args.line or []]
    if args.lines:
        path = Path(args.lines)
        try:
            raw = json.loads(path.read_text())
        except OSError as e:
            raise LineSyntaxError(f"cannot read {path}: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise LineSyntaxError(f"{path} is not JSON: {e}") from None
        try:
            lines += TypeAdapter(list[QuoteLine]).validate_python(raw)
        except ValidationError as e:
            problems = "; ".join(
                f"line {err['loc'][0] + 1 if err['loc'] else '?'}"
                f"{' ' + str(err['loc'][1]) if len(err['loc']) > 1 else ''}: {err['msg']}"
                for err in e.errors()
            )
            raise LineSyntaxError(f"{path}: {problems}") from None
    if not lines:
        raise LineSyntaxError("give at least one --line (e.g. --line Premium=+3) or --lines FILE")
    return lines


def ref_for(kind: ProcessKind, account: str, pbx: str, lines: list[BaseModel]) -> str:
    """Same request, same day -> same process: a retried start is refused, not doubled."""
    body = json.dumps(
        [kind.value, account, pbx, [ln.model_dump(mode="json") for ln in lines],
         datetime.now(UTC).date().isoformat()],
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()[:8]


def validated(model: type[BaseModel], **fields: Any) -> Any:
    try:
        return model(**fields)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
                             for err in e.errors())
        raise Failure(BAD_INPUT, problems) from None


# --- commands -------------------------------------------------------------------------------

async def temporal() -> Client:
    """Connect only once the input has been checked: bad input never reaches Temporal."""
    try:
        return await config.connect_temporal()
    except Exception as e:  # noqa: BLE001 - any connection failure reads the same to staff
        raise Failure(UNREACHABLE, f"cannot reach Temporal: {e}") from None


async def start(args, workflow: Any, request: BaseModel, kind: ProcessKind,
                summary: str) -> int:
    client = await temporal()
    ref = args.ref or ref_for(kind, request.account_id, request.pbx_id, request.lines)
    process_id = f"{kind.value}-{request.account_id}-{ref}"
    start_op = WithStartWorkflowOperation(
        workflow.run,
        request,
        id=process_id,
        task_queue=config.TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        static_summary=summary,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(PROCESS_KIND, kind.value),
             SearchAttributePair(ACCOUNT_ID, request.account_id)]
        ),
    )
    try:
        answer = await client.execute_update_with_start_workflow(
            workflow.started, start_workflow_operation=start_op, id=f"started-{process_id}"
        )
    except WorkflowAlreadyStartedError:
        desc = await client.get_workflow_handle(process_id).describe()
        stage = desc.typed_search_attributes.get(STAGE) or "starting"
        raise Failure(REFUSED, f"{process_id} already exists (stage {stage}): the same request "
                      f"is not started twice; see `starter.py status {process_id}`, or pass "
                      "--ref to start a separate one") from None
    except WorkflowUpdateFailedError as e:
        raise Failure(REFUSED, failure_message(e)) from None
    emit(args, True, answer.message + f"\nprocess id: {process_id}",
         {"process_id": process_id, **answer.model_dump(mode="json")})
    return OK


async def cmd_fast_change(args) -> int:
    lines = [parse_fast_change_line(t) for t in args.set]
    request = validated(FastChangeRequest, account_id=args.account, pbx_id=args.pbx,
                        lines=lines, requested_by=args.actor)
    summary = f"Fast change order on PBX {args.pbx} of account {args.account}: " + ", ".join(
        f"{ln.sku}={ln.quantity}" for ln in lines)
    return await start(args, FastChangeOrder, request, ProcessKind.FAST_CHANGE, summary)


async def cmd_change_order(args) -> int:
    lines = quote_lines(args)
    request = validated(ChangeOrderRequest, account_id=args.account, pbx_id=args.pbx,
                        lines=lines, requested_by=args.actor)
    summary = f"Change order on PBX {args.pbx} of account {args.account}: {len(lines)} line(s)"
    return await start(args, ChangeOrder, request, ProcessKind.CHANGE_ORDER, summary)


def failure_message(e: WorkflowUpdateFailedError) -> str:
    cause = e.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or e)


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
    handle = await running_handle(args.process_id)
    # The SDK retries the call with this id, so a dropped connection never applies it twice;
    # pass --request-id to make a repeated command the same request, too.
    update_id = args.request_id or f"{update.__name__}-{uuid.uuid4().hex[:12]}"
    try:
        answer: StepAnswer = await handle.execute_update(update, step, id=update_id)
    except WorkflowUpdateFailedError as e:
        raise Failure(REFUSED, failure_message(e)) from None
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Failure(NO_PROCESS, f"process {args.process_id} has ended") from None
        raise
    emit(args, not answer.rejected, answer.message, answer)
    return REFUSED if answer.rejected else OK


async def cmd_quote_step(args) -> int:
    update = {"mark-primary": ChangeOrder.mark_primary, "publish": ChangeOrder.publish}[args.cmd]
    quote_id = args.quote
    if quote_id is None:
        handle = await running_handle(args.process_id)
        current = (await handle.query(ChangeOrder.status)).current_quote
        if current is None:
            raise Failure(REFUSED, "the process has no quote yet")
        quote_id = current.quote_id
    return await send(args, update, validated(QuoteStep, actor=args.actor,
                                                      quote_id=quote_id))


async def cmd_mark_complete(args) -> int:
    return await send(args, ChangeOrder.mark_complete,
                      validated(StaffStep, actor=args.actor))


async def cmd_revise(args) -> int:
    return await send(args, ChangeOrder.revise,
                      validated(Revision, actor=args.actor, lines=quote_lines(args)))


async def cmd_confirm(args) -> int:
    return await send(args, FastChangeOrder.confirm,
                      validated(StaffStep, actor=args.actor))


async def cmd_cancel(args) -> int:
    return await send(args, FastChangeOrder.cancel,
                      validated(Cancellation, actor=args.actor, reason=args.reason))


async def cmd_status(args) -> int:
    handle = (await temporal()).get_workflow_handle(args.process_id)
    try:
        status: ProcessStatus = await handle.query(FastChangeOrder.status)
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Failure(NO_PROCESS, f"no process {args.process_id}") from None
        raise
    emit(args, True, show_status(status), status)
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
        f"{r['process_id']:<50} {r['stage'] or '-':<30} account {r['account_id']}"
        for r in rows
    ) or "no processes match"
    emit(args, True, text, rows)
    return OK


# --- the command line -----------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="starter.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    common.add_argument("--as", dest="actor", default=os.environ.get("USER") or "staff",
                        help="who does this step (staff or partner user id; default $USER)")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def command(name: str, help_: str, fn, *, process: bool = False, step: bool = False):
        c = sub.add_parser(name, help=help_, description=help_, parents=[common])
        c.set_defaults(fn=fn)
        if process:
            c.add_argument("process_id", help="the process id, as `list` shows it")
        if step:
            c.add_argument("--request-id",
                           help="make a repeated command the same request (applied once)")
        return c

    def lines_args(c):
        c.add_argument("--line", action="append", metavar="SKU[:LICENCE]=CHANGE[@DATE]",
                       help="a quote line: Premium=+3, Basic=-2, WP480G=2@2026-12-01, "
                       "CLASSOUND-FLAT:Premium=2 (repeatable)")
        c.add_argument("--lines", metavar="FILE.json",
                       help='lines as JSON: [{"sku": "Premium", "quantity": 3, '
                       '"start_date": "2026-12-01"}, {"sku": "CLASSOUND-FLAT", '
                       '"licence": "Premium", "quantity": 2}]')

    c = command("fast-change", "start a fast change order: new licence totals, no quote",
                cmd_fast_change)
    c.add_argument("--account", required=True)
    c.add_argument("--pbx", required=True)
    c.add_argument("--set", action="append", required=True, metavar="LICENCE=TOTAL[@DATE]",
                   help="new total of a licence type, e.g. Premium=12 or "
                   "Premium=12@2026-12-01 (repeatable); reductions take effect at once")
    c.add_argument("--ref", help="your reference; default: same request, same day, same id")

    c = command("change-order", "start a change order: a quote for staff to publish",
                cmd_change_order)
    c.add_argument("--account", required=True)
    c.add_argument("--pbx", required=True)
    c.add_argument("--ref", help="your reference; default: same request, same day, same id")
    lines_args(c)

    c = command("mark-primary", "save & mark the quote as primary (one per project)",
                cmd_quote_step, process=True, step=True)
    c.add_argument("--quote", help="quote id (default: the newest quote)")
    c = command("publish", "submit proposal -> quick publish the primary quote",
                cmd_quote_step, process=True, step=True)
    c.add_argument("--quote", help="quote id (default: the newest quote)")
    command("mark-complete", "mark status as complete: accepted into an order, or rejected",
            cmd_mark_complete, process=True, step=True)
    c = command("revise", "duplicate the quote with changes; the copy becomes primary",
                cmd_revise, process=True, step=True)
    lines_args(c)
    command("confirm", "the partner confirms the order (Bestellung bestätigen)",
            cmd_confirm, process=True, step=True)
    c = command("cancel", "cancel a process whose order is not applied", cmd_cancel,
                process=True, step=True)
    c.add_argument("--reason", required=True)
    command("status", "stage, what it waits for, the records it touched", cmd_status,
            process=True)
    c = command("list", "processes, filtered through Temporal visibility", cmd_list)
    c.add_argument("--kind", choices=[k.value for k in ProcessKind])
    c.add_argument("--stage", choices=[s.value for s in Stage])
    c.add_argument("--account")
    c.add_argument("--partner")
    c.add_argument("--open", action="store_true", help="only processes still running")
    c.add_argument("--limit", type=int, default=50)
    return p


async def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        return await args.fn(args)
    except LineSyntaxError as e:
        raise Failure(BAD_INPUT, str(e)) from None
    except RPCError as e:
        raise Failure(UNREACHABLE, f"Temporal answered with an error: {e.message}") from None


def main(argv: list[str] | None = None) -> int:
    try:
        return asyncio.run(run(sys.argv[1:] if argv is None else argv))
    except Failure as f:
        ns = argparse.Namespace(json="--json" in (sys.argv if argv is None else argv))
        emit(ns, False, str(f))
        return f.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The SDK's runtime can abort at interpreter exit (sdk-python #300, DESIGN.md).
    os._exit(code)
