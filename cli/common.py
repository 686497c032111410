"""What every starter command shares: exit codes, output (text or --json), the forms of ids
and numbers (checked by argparse, before anything is sent), the Temporal connection (made only
after the input was checked), starting a process, sending a step, and turning every failure
into its exit code and words, never a traceback."""

import argparse
import asyncio
import hashlib
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.api.enums.v1 import TaskQueueType, WorkflowExecutionStatus
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

import config
from codec import PLAINTEXT_REFUSED
from domain import ids
from domain.business_time import Family, business_today
from domain.steps import StaffStep, StepAnswer
from workflows.process import Process
from workflows.visibility import ACCOUNT_ID, PARTNER_ID, PROCESS_KIND, STAGE

# Exit codes (README "Exit codes"): what happened, and so what the person can do next.
OK = 0  # done
REFUSED = 1  # refused or rejected by the process; the reason is printed
BAD_INPUT = 2  # bad input: nothing was sent
NO_PROCESS = 3  # no such process, or it has ended
UNREACHABLE = 4  # Temporal could not be reached: nothing was sent
BUSY = 5  # Temporal or the process is busy (e.g. too many steps in flight): try again
NO_ANSWER = 6  # sent, but no answer in time (worker down, process stuck): see `status`
SETUP = 7  # not set up to run: no key ring, bad credentials, no permission
FAILED = 8  # Temporal or the worker failed on the request (e.g. a failed workflow task)

# How long the starter waits for a process to answer a start or a step before giving up.
WAIT_ENV = "PARTNERFLOW_STARTER_WAIT"
DEFAULT_WAIT = 60.0
FIRST_NOTICE = 3.0  # seconds of silence before the first "waiting ..." line
NOTICE_EVERY = 10.0


class Failure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class BadInput(ValueError):
    """Input that cannot be sent: exit 2, nothing reaches Temporal."""


class Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as exit 2 with the option's name and the expected
    form, in the output the command was asked for (text or --json)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)  # stderr: --json output stays one JSON document
        raise Failure(BAD_INPUT, message.removeprefix("argument "))


# --- output ---------------------------------------------------------------------------------


def reader_gone() -> None:
    """The reader of our output went away (`--json | head`): the rest goes nowhere, and the
    command still ends with its own exit code, without a BrokenPipe traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def emit(
    args: argparse.Namespace, ok: bool, message: str, data: Any = None, label: str = "refused: "
) -> None:
    try:
        _emit(args, ok, message, data, label)
        sys.stdout.flush()
    except BrokenPipeError:
        reader_gone()


def _emit(args: argparse.Namespace, ok: bool, message: str, data: Any, label: str) -> None:
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


def id_of(form: ids.Form) -> Callable[[str], str]:
    """An argparse type: the id if it has the form, else exit 2 naming the form."""

    def parse(text: str) -> str:
        if not form.matches(text):
            raise argparse.ArgumentTypeError(ids.expected(form))
        return text

    return parse


CODE, USER, NAME = id_of(ids.CODE), id_of(ids.USER), id_of(ids.NAME)
PROCESS_ID, REQUEST_ID, QUOTE_ID = id_of(ids.PROCESS), id_of(ids.REQUEST), id_of(ids.QUOTE)


def whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            return ids.number(text, low, high)
        except ids.IdError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


RECORD_NUMBER = whole(1, ids.BIGINT_MAX)  # tickets, time entries, sales items (bigint)


def read_text(path: Path | str, what: str | None = None) -> str:
    """A text file people made (lead lists, number lists, quote lines): UTF-8, with or
    without a BOM. Anything else is exit 2 naming the file and the encoding expected."""
    path = Path(path)
    name = what or str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BadInput(f"cannot read {name}: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise BadInput(
            f"{name} is not UTF-8 text (byte 0x{data[e.start]:02X} on line {line}): "
            'save it as UTF-8 (e.g. "CSV UTF-8" in a spreadsheet) and try again'
        ) from None


DATE_FORM = "use YYYY-MM-DD, e.g. 2026-12-31"


def a_date(text: str) -> date:
    """An argparse type: a date as YYYY-MM-DD, else exit 2 naming the option and the form."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{DATE_FORM} (not {text!r})") from None


DATE = a_date

# The option a person typed for a field of our requests (one mapping for every command): a
# refusal of a request model names the option, never the field. A field not listed is named
# `--field-name`, which is its option wherever the names agree.
OPTION_OF = {
    "agreed_start": "--start-date",
    "account_id": "--account",
    "pbx_id": "--pbx",
    "partner_id": "--partner",
    "contact_id": "--contact",
    "ticket_id": "--ticket",
    "original_contract_id": "--original-contract",
    "queue_id": "--queue",
    "lead_id": "--lead",
    "opportunity_id": "--opportunity",
    "time_entry_id": "ENTRY",
    "sales_item_id": "ITEM",
    "quote_id": "--quote",
    "work_date": "--date",
    "start_date": "--start",
    "end_date": "--end",
    "porting_date": "--porting-date",
    "actor": "--as",
    "requested_by": "--as",
    "channel_manager": "--channel-manager",
    "unit_price": "--price",
    "billing_email": "--billing-email",
    "tax_id": "--tax-id",
    "payment_terms_days": "--payment-terms",
    "legal_name": "--legal-name",
    "postal_code": "--postal-code",
    "invoice_email": "--invoice-email",
    "lines": "--line",
}


def option_of(loc: tuple) -> str:
    """The option of a pydantic error location: its last field name (`change.log-time.minutes`
    is --minutes), or the repeated option and its position (`lines.1.sku` is --line 2)."""
    for i, part in enumerate(loc):
        if isinstance(part, int) and i and loc[i - 1] in OPTION_OF:
            return f"{OPTION_OF[loc[i - 1]]} {part + 1}"
    names = [part for part in loc if isinstance(part, str)]
    field = names[-1] if names else "value"
    return OPTION_OF.get(field, "--" + field.replace("_", "-"))


def in_words(err: dict) -> str:
    """What to type instead, for one pydantic error."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    shown = (
        f" (not {value!r})"
        if isinstance(value, str | int | float) and len(str(value)) <= 40
        else ""
    )
    if kind.startswith(("date_", "datetime_")):
        return f"{DATE_FORM}{shown}"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"use a whole number, e.g. 30{shown}"
    if kind.startswith(("decimal_", "float_")) and "max" not in kind:
        return f"use an amount, e.g. 19.90{shown}"
    if kind == "decimal_max_places":
        return f"use at most {ctx.get('decimal_places')} decimal places{shown}"
    if kind in ("greater_than_equal", "greater_than"):
        return (
            f"use {ctx['ge']} or more{shown}"
            if "ge" in ctx
            else f"use more than {ctx.get('gt')}{shown}"
        )
    if kind in ("less_than_equal", "less_than"):
        return (
            f"use at most {ctx['le']}{shown}"
            if "le" in ctx
            else f"use less than {ctx.get('lt')}{shown}"
        )
    if kind == "string_too_short":
        return (
            "must not be empty"
            if ctx.get("min_length") == 1
            else f"use at least {ctx.get('min_length')} characters"
        )
    if kind == "string_too_long":
        return f"use at most {ctx.get('max_length')} characters"
    if kind == "missing":
        return "is required"
    if kind in ("enum", "literal_error"):
        return f"use {ctx.get('expected', 'one of the values --help lists')}{shown}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return str(err["msg"])


def validated(model: type[BaseModel], **fields: Any) -> Any:
    """The request model, or exit 2 naming each bad option and the form expected."""
    try:
        return model(**fields)
    except ValidationError as e:
        problems = "; ".join(
            dict.fromkeys(f"{option_of(err['loc'])}: {in_words(err)}" for err in e.errors())
        )
        raise Failure(BAD_INPUT, problems) from None


def same_day_ref(*parts: Any, family: Family, now: datetime | None = None) -> str:
    """Same request, same business day (of the process family) -> same process id: a
    retried start is not doubled."""
    today = business_today(now or datetime.now(UTC), family)
    body = json.dumps([*parts, today.isoformat()], sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:8]


# --- Temporal -------------------------------------------------------------------------------


async def temporal() -> Client:
    """Connect only once the input has been checked: bad input never reaches Temporal.
    Without a key ring (and without PARTNERFLOW_ALLOW_PLAINTEXT=1) nothing is sent. One
    connection per command."""
    client = _client.get()
    if client is not None:
        return client
    client = await _connect()
    _client.set(client)
    return client


async def _connect() -> Client:
    try:
        codec = config.encryption_codec()
    except config.NotConfigured as e:
        raise Failure(SETUP, str(e)) from None
    if codec is None:
        print(f"warning: {config.PLAINTEXT_WARNING}", file=sys.stderr)
    if not any(
        os.environ.get(name)
        for name in ("TEMPORAL_ADDRESS", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE")
    ):
        # Nothing chosen: the Temporal of the ./run running in this clone, on whatever port.
        address = (config.running_stack() or {}).get("temporal")
        if address:
            os.environ["TEMPORAL_ADDRESS"] = address
    try:
        return await asyncio.wait_for(config.connect_temporal(), connect_wait())
    except TimeoutError:
        raise Failure(
            UNREACHABLE,
            f"cannot reach Temporal at {temporal_address()}: no answer "
            f"in {connect_wait():.0f} s; nothing was sent",
        ) from None
    except Exception as e:  # noqa: BLE001 - any connection failure reads the same to staff
        raise Failure(
            UNREACHABLE,
            f"cannot reach Temporal at {temporal_address()}: {connect_error_in_words(e)}",
        ) from None


def connect_error_in_words(e: BaseException) -> str:
    """The transport's error (`tonic::transport::Error(... ConnectionRefused ...)`) as what it
    means and what to check; the raw text only with PARTNERFLOW_DEBUG=1."""
    raw = str(e)
    lower = raw.lower()
    check = (
        "is the Temporal server running (./run starts one), and is TEMPORAL_ADDRESS "
        "right? Nothing was sent"
    )
    if "connection refused" in lower or "connectionrefused" in lower:
        why = "nothing listens there (connection refused)"
    elif "dns" in lower or "lookup" in lower or "name or service not known" in lower:
        why = "the host name is not known"
        check = "check TEMPORAL_ADDRESS. Nothing was sent"
    elif "tls" in lower or "certificate" in lower or "handshake" in lower:
        why = "the TLS handshake failed"
        check = (
            "check the TEMPORAL_TLS* settings or TEMPORAL_API_KEY (Temporal Cloud). "
            "Nothing was sent"
        )
    elif "timed out" in lower or "deadline" in lower:
        why = "no answer in time"
    else:
        why = "the connection failed"
    detail = f" [{first_line(e)}]" if os.environ.get("PARTNERFLOW_DEBUG") else ""
    return f"{why}: {check}{detail}"


def temporal_address() -> str:
    return os.environ.get("TEMPORAL_ADDRESS") or config.DEFAULT_TEMPORAL_ADDRESS


def connect_wait() -> float:
    return min(starter_wait(), 20.0)


def starter_wait() -> float:
    """--wait, else PARTNERFLOW_STARTER_WAIT, else 60 s (set in `answered`'s caller)."""
    chosen = _wait.get()
    if chosen is not None:
        return chosen
    text = os.environ.get(WAIT_ENV, "").strip()
    try:
        return float(text) if text else DEFAULT_WAIT
    except ValueError:
        raise Failure(BAD_INPUT, f"{WAIT_ENV}={text!r}: give seconds, e.g. 60") from None


def first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]


_wait: ContextVar[float | None] = ContextVar("wait", default=None)
_client: ContextVar[Client | None] = ContextVar("client", default=None)
T = TypeVar("T")


async def answered(
    client: Client, process_id: str, what: str, request: Awaitable[T], *, resend: str | None = None
) -> T:
    """Waits for a process to answer `request` (a start or a step). While it is silent, says
    every few seconds that it waits and why (no worker polls the task queue; an activity
    keeps failing, e.g. the database is down; the process needs attention); gives up after
    the wait (--wait, PARTNERFLOW_STARTER_WAIT, default 60 s) with exit 6."""
    task = asyncio.ensure_future(request)
    loop = asyncio.get_running_loop()
    began = loop.time()
    limit = starter_wait()
    notice_at = FIRST_NOTICE
    why = ""
    try:
        while True:
            left = limit - (loop.time() - began)
            if left <= 0:
                break
            done, _ = await asyncio.wait(
                {task}, timeout=min(left, notice_at - (loop.time() - began))
            )
            if done:
                try:
                    return task.result()
                except RPCError as e:
                    if e.status == RPCStatusCode.NOT_FOUND and "closing workflow" in e.message:
                        raise await ended_before_answering(client, process_id) from None
                    raise
            waited = loop.time() - began
            if waited >= notice_at and waited < limit:
                why = await diagnosis(client, process_id)
                print(f"waiting {waited:.0f} s for {what}: {why}", file=sys.stderr, flush=True)
                notice_at = waited + NOTICE_EVERY
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)  # retrieved: no stray warning
    why = why or await diagnosis(client, process_id)
    again = (
        f"running the same command again with --request-id {resend} is the same "
        "request (applied once)"
        if resend
        else "running the same command again joins the same request"
    )
    raise Failure(
        NO_ANSWER,
        f"gave up after {limit:.0f} s without an answer from {what}: "
        f"{why}. The request was sent and may still be carried out: check "
        f"`starter.py status {process_id}`; {again}",
    )


async def ended_before_answering(client: Client, process_id: str) -> Failure:
    """The process closed while the request waited (e.g. it failed at once): why."""
    try:
        await client.get_workflow_handle(process_id).result(
            follow_runs=False, rpc_timeout=timedelta(seconds=10)
        )
    except WorkflowFailureError as e:
        cause = e.cause
        if isinstance(cause, ApplicationError) and cause.type == PLAINTEXT_REFUSED:
            return Failure(SETUP, cause.message)
        return Failure(
            FAILED, f"process {process_id} failed before it answered: {first_line(cause or e)}"
        )
    except Exception as e:  # noqa: BLE001 - the reason is a courtesy; the fact is known
        return Failure(
            NO_PROCESS,
            f"process {process_id} ended before it answered "
            f"({first_line(e)}); see `starter.py status {process_id}`",
        )
    return Failure(
        NO_PROCESS,
        f"process {process_id} ended before it answered; see `starter.py status {process_id}`",
    )


async def diagnosis(client: Client, process_id: str) -> str:
    """Why a process may be silent, in words: never raises."""
    reasons: list[str] = []
    workers: list[str] = []
    try:
        workers = await workers_polling(client)
        if not workers:
            reasons.append(
                f"no worker polls task queue '{config.TASK_QUEUE}' (is worker.py "
                "running, with the same PARTNERFLOW_TASK_QUEUE?)"
            )
    except Exception as e:  # noqa: BLE001 - a diagnosis must not fail the command
        reasons.append(f"cannot ask Temporal about the workers ({first_line(e)})")
    try:
        desc = await client.get_workflow_handle(process_id).describe(
            rpc_timeout=timedelta(seconds=5)
        )
        stage = desc.typed_search_attributes.get(STAGE)
        if stage == "needs-attention":
            reasons.append(f"the process needs attention (see `starter.py status {process_id}`)")
        raw = desc.raw_description
        for activity in raw.pending_activities:
            if activity.attempt > 1:
                last = ""
                if activity.HasField("last_failure"):
                    err = await client.data_converter.decode_failure(activity.last_failure)
                    last = f"; last error: {first_line(err)}"
                reasons.append(
                    f"step {activity.activity_type.name} has been tried "
                    f"{activity.attempt} times (is the database reachable?){last}"
                )
        task = raw.pending_workflow_task
        if raw.HasField("pending_workflow_task") and task.attempt > 1:
            reasons.append(
                f"the worker fails the process's workflow task (attempt "
                f"{task.attempt}): see the worker's log or the Temporal UI"
            )
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            reasons.append(f"cannot describe the process ({e.message})")
    except Exception as e:  # noqa: BLE001
        reasons.append(f"cannot describe the process ({first_line(e)})")
    return "; ".join(reasons) or (
        f"{len(workers)} worker(s) poll ({', '.join(workers[:3])}), "
        "but the process has not answered yet"
    )


async def workers_polling(client: Client) -> list[str]:
    """The workers (pid@host) that polled the task queue for workflow tasks in the last
    minutes: Temporal keeps the pollers it saw recently (describe_task_queue)."""
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=config.TASK_QUEUE),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=timedelta(seconds=5),
    )
    return sorted({p.identity or "?" for p in resp.pollers})


def rpc_failure(e: RPCError, process_id: str | None = None) -> Failure:
    """Every error Temporal answers with, as its own exit code and words."""
    message = e.message or str(e)
    lower = message.lower()
    status = e.status
    if status == RPCStatusCode.NOT_FOUND:
        what = f"process {process_id}" if process_id else "it"
        return Failure(NO_PROCESS, f"no such process, or it has ended: {what} ({message})")
    if status == RPCStatusCode.RESOURCE_EXHAUSTED:
        if "in-flight" in lower or "update" in lower:
            return Failure(
                BUSY,
                "busy, try again: the process has too many steps in progress "
                f"(Temporal's limit of in-flight updates); nothing was applied "
                f"({message})",
            )
        return Failure(BUSY, f"busy, try again: Temporal limits requests right now ({message})")
    if status == RPCStatusCode.INVALID_ARGUMENT:
        if "length" in lower and ("exceed" in lower or "too long" in lower):
            return Failure(
                BAD_INPUT, f"an id is too long for Temporal ({message}); nothing was started"
            )
        return Failure(BAD_INPUT, f"Temporal refused the request as invalid: {message}")
    if status == RPCStatusCode.ALREADY_EXISTS:
        return Failure(REFUSED, f"already exists: {message}")
    if status in (RPCStatusCode.UNAVAILABLE,):
        return Failure(UNREACHABLE, f"Temporal is unreachable: {message}")
    if status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
        return Failure(NO_ANSWER, f"no answer in time: {message}")
    if status in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
        return Failure(
            SETUP,
            f"Temporal refused our credentials or namespace ({message}): "
            "check TEMPORAL_API_KEY / TLS settings and TEMPORAL_NAMESPACE",
        )
    if "workflow task" in lower:
        return Failure(
            FAILED,
            f"the worker failed on the process's workflow task ({message}): "
            "see the worker's log or the Temporal UI",
        )
    return Failure(
        FAILED, f"Temporal failed the request ({status.name if status else '?'}): {message}"
    )


def failure_of(e: BaseException, process_id: str | None = None) -> Failure:
    """Any exception from a command, as an exit code and words (never a traceback)."""
    if isinstance(e, Failure):
        return e
    if isinstance(e, BadInput):
        return Failure(BAD_INPUT, str(e))
    if isinstance(e, RPCError):
        return rpc_failure(e, process_id)
    if isinstance(e, WorkflowUpdateRPCTimeoutOrCancelledError | RPCTimeoutOrCancelledError):
        return Failure(
            NO_ANSWER,
            "no answer in time from Temporal; the request may still be "
            "carried out: check `starter.py status`",
        )
    if isinstance(e, WorkflowFailureError):
        return Failure(
            FAILED, f"the process failed: {first_line(e.cause or e)}; see the Temporal UI"
        )
    if isinstance(e, config.NotConfigured):
        return Failure(SETUP, str(e))
    if isinstance(e, ApplicationError) and e.type == PLAINTEXT_REFUSED:
        return Failure(SETUP, e.message)
    return Failure(
        FAILED,
        f"unexpected error: {type(e).__name__}: {first_line(e)} (set "
        "PARTNERFLOW_DEBUG=1 for the traceback)",
    )


def failure_message(e: WorkflowUpdateFailedError) -> str:
    cause = e.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or e)


# An ended process id that may be started again, by the stage it ended in: a refused start
# wrote nothing and its refusal tells the user what to change. ANY_END: every ended one.
AGAIN_AFTER_REFUSAL = frozenset({"refused"})
ANY_END = None


def update_failure(e: WorkflowUpdateFailedError) -> Failure:
    """A step the process did not take: refused by it (exit 1), or refused because it came
    unencrypted to a worker that encrypts (exit 7: a setup problem, not a business one)."""
    cause = e.cause
    if isinstance(cause, ApplicationError) and cause.type == PLAINTEXT_REFUSED:
        return Failure(SETUP, cause.message)
    return Failure(REFUSED, failure_message(e))


async def start(
    args,
    workflow: Any,
    request: Any,
    *,
    process_id: str,
    kind: str,
    account_id: str | None,
    summary: str,
    again_after: frozenset[str] | None = AGAIN_AFTER_REFUSAL,
) -> int:
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
            answer = await answered(
                client,
                process_id,
                f"process {process_id}",
                client.execute_update_with_start_workflow(
                    workflow.started,
                    id=update_id,
                    start_workflow_operation=operation(WorkflowIDReusePolicy.REJECT_DUPLICATE),
                ),
            )
        except WorkflowAlreadyStartedError:  # it has ended
            desc = await client.get_workflow_handle(process_id).describe()
            stage = desc.typed_search_attributes.get(STAGE) or desc.status.name.lower()
            if again_after is not ANY_END and stage not in again_after:
                raise Failure(
                    REFUSED,
                    f"{process_id} already exists and has ended (stage "
                    f"{stage}): the same request is not started twice; see "
                    f"`starter.py status {process_id}`, or pass --ref to start a "
                    "separate one",
                ) from None
            answer = await answered(
                client,
                process_id,
                f"process {process_id}",
                client.execute_update_with_start_workflow(
                    workflow.started,
                    id=update_id,
                    start_workflow_operation=operation(WorkflowIDReusePolicy.ALLOW_DUPLICATE),
                ),
            )
    except WorkflowUpdateFailedError as e:
        raise update_failure(e) from None
    # rejected: started, but a step needs attention before the request could be checked
    emit(
        args,
        not answer.rejected,
        answer.message + f"\nprocess id: {process_id}",
        {"process_id": process_id, **answer.model_dump(mode="json")},
        label="",
    )
    return REFUSED if answer.rejected else OK


async def running_handle(process_id: str):
    handle = (await temporal()).get_workflow_handle(process_id)
    try:
        desc = await handle.describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Failure(
                NO_PROCESS, f"no process {process_id}; `starter.py list` shows the processes"
            ) from None
        raise rpc_failure(e, process_id) from None
    if desc.status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
        stage = desc.typed_search_attributes.get(STAGE) or desc.status.name.lower()
        raise Failure(
            NO_PROCESS, f"process {process_id} has ended ({stage}); nothing can be sent to it"
        )
    return handle


async def send(args, update: Any, step: BaseModel) -> int:
    """Sends a human step as an update: the validator's refusal comes back at once."""
    handle = await running_handle(args.process_id)
    # The SDK retries the call with this id, so a dropped connection never applies it twice;
    # --request-id makes a repeated command the same request too. Repeats of a step that
    # already happened are answered by the workflow without doing it again.
    update_id = args.request_id or f"{update.__name__}-{uuid.uuid4().hex[:12]}"
    try:
        answer: StepAnswer = await answered(
            await temporal(),
            args.process_id,
            f"process {args.process_id}",
            handle.execute_update(update, step, id=update_id),
            resend=update_id,
        )
    except WorkflowUpdateFailedError as e:
        raise update_failure(e) from None
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Failure(NO_PROCESS, f"process {args.process_id} has ended") from None
        raise rpc_failure(e, args.process_id) from None
    emit(args, not answer.rejected, answer.message, answer, label="")
    return REFUSED if answer.rejected else OK


async def cmd_retry(args) -> int:
    """Runs the step of a process that needs attention again (its cause fixed)."""
    return await send(args, Process.retry, validated(StaffStep, actor=args.actor))


# --- status and list, for every process -----------------------------------------------------

StatusFormatter = Callable[[dict], str]
FORMATTERS: dict[str, StatusFormatter] = {}
# Per process kind: records to show beside its status, read through RecordsRead.
EXTRAS: dict[str, Callable[[dict], Awaitable[dict]]] = {}
EXTRAS_WAIT = 10.0


def waiting_line(s: Any) -> str:
    """What a process waits for, said once: "waiting for: LOA" (never "waiting for: waiting
    for: LOA"); an ended process waits for nothing, its outcome is shown instead."""
    text = s.waiting_for.removeprefix("waiting for: ")
    since = f"(since {s.since:%Y-%m-%d %H:%M} UTC)"
    if text.startswith("nothing: "):
        return f"  outcome:     {text.removeprefix('nothing: ')} {since}"
    return f"  waiting for: {text} {since}"


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
                f"process {args.process_id} ended "
                f"{desc.status.name.lower()}: see it in the Temporal UI",
            ) from None
        if e.status == RPCStatusCode.DEADLINE_EXCEEDED:
            why = await diagnosis(await temporal(), args.process_id)
            raise Failure(
                NO_ANSWER, f"no worker answered the status query in 15 s: {why}"
            ) from None
        raise rpc_failure(e, args.process_id) from None
    extra = EXTRAS.get(status.get("kind", ""))
    if extra is not None:  # what the process does not hold, read for people (lead cards)
        # A courtesy: the status itself is shown even when the records cannot be read soon.
        token = _wait.set(min(starter_wait(), EXTRAS_WAIT))
        try:
            status = {**status, **await extra(status)}
        except Exception as e:  # noqa: BLE001 - never fails the status it decorates
            print(f"note: shown without the records' details: {failure_of(e)}", file=sys.stderr)
        finally:
            _wait.reset(token)
    formatter = FORMATTERS.get(status.get("kind", ""), generic_status)
    emit(args, True, formatter(status), status)
    return OK


async def cmd_list(args) -> int:
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
    text = (
        "\n".join(
            f"{r['process_id']:<50} {r['stage'] or '-':<30} account {r['account_id'] or '-'}"
            for r in rows
        )
        or "no processes match"
    )
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
            c.add_argument(
                "process_id",
                metavar="PROCESS_ID",
                type=PROCESS_ID,
                help="the process id, as `list` shows it",
            )
        if step:
            c.add_argument(
                "--request-id",
                type=REQUEST_ID,
                help="make a repeated command the same request (applied once)",
            )
        return c


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 1 <= value <= 86_400:
        raise argparse.ArgumentTypeError("give seconds from 1 to 86400, e.g. 60")
    return value


def begin_command(wait: float | None) -> None:
    """Each command: its own --wait, its own connection."""
    _wait.set(wait)
    _client.set(None)


def common_options() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    common.add_argument(
        "--as",
        dest="actor",
        default=None,
        type=USER,
        help="who does this step: your staff id in the people directory "
        f"(default ${config.ACTOR_ENV}, or ./run's identity)",
    )
    common.add_argument(
        "--wait",
        type=seconds,
        metavar="SECONDS",
        help="how long to wait for the process to answer before giving up "
        f"(exit {NO_ANSWER}); default ${WAIT_ENV} or {DEFAULT_WAIT:.0f}",
    )
    return common


# --- who acts (issue 10) --------------------------------------------------------------------


def identity(args: argparse.Namespace) -> None:
    """`--as`, else the configured identity; without either nothing is sent (exit 2)."""
    if getattr(args, "actor", "unset") is None:
        args.actor = config.default_actor()
        if args.actor is None:
            raise Failure(
                BAD_INPUT,
                f"--as: who are you? pass --as with your staff id, or set "
                f"{config.ACTOR_ENV} (the people directory's id, e.g. ops-anna)",
            )
        try:
            args.actor = USER(args.actor)
        except argparse.ArgumentTypeError as e:
            raise Failure(BAD_INPUT, f"{config.ACTOR_ENV}: {e}") from None


def database_dsn() -> str | None:
    """PostgreSQL for the commands that read it: DATABASE_URL, else ./run's."""
    dsn = os.environ.get("DATABASE_URL")
    local = config.DATA_DIR / "database-url"  # written by ./run
    if not dsn and local.exists():
        dsn = local.read_text().strip()
    return dsn or (config.running_stack() or {}).get("database_url")


async def check_staff(args: argparse.Namespace) -> None:
    """The starter is the staff's tool: `--as` names an active staff member of the directory.
    A partner user's id or a name nobody knows is refused here (exit 1), before anything is
    sent, and logged. Where the starter has no database to ask (staff reaching only Temporal),
    the workflow and the store decide on the step as they always do."""
    from store import people
    from store.db import connect

    dsn = database_dsn()
    if not dsn:
        return
    try:
        conn = await asyncio.wait_for(connect(dsn), timeout=5)
    except Exception:  # noqa: BLE001 - the workflow and the store still decide
        return
    try:
        who = await people.person(conn, args.actor)
        reason = None
        if who is None:
            reason = (
                f"--as {args.actor}: not in the people directory; staff act under their "
                "own id (`starter.py staff list`; an admin adds staff)"
            )
        elif who.staff_status == "deactivated":
            reason = f"--as {args.actor}: deactivated in the people directory"
        elif not who.active_staff and who.partner_id:
            reason = (
                f"--as {args.actor}: a user of partner {who.partner_id}, not staff; "
                "partners act through the partner portal, staff for a partner under "
                "their own id"
            )
        elif not who.active_staff:
            reason = (
                f"--as {args.actor}: a customer's signer, not staff; customers sign on "
                "the signing page"
            )
        if reason is not None:
            await people.record_refusal(
                conn,
                actor=args.actor,
                permission=f"starter.{args.cmd}",
                process_id=getattr(args, "process_id", None) or "-",
                reason=reason,
                checked_in="starter",
                quiet=True,
            )
            raise Failure(REFUSED, reason)
    finally:
        await conn.close()
