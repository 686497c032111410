"""What every starter command shares: exit codes, output (text or --json), the common
options, the command's settings and Temporal connection (made only after the input was
checked), and the client's start and step as a command prints them. The requests themselves
are the client's (client/), shared with the portal; the forms of ids and numbers are in
cli/forms.py."""

import argparse
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TextIO, TypeVar

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle

import config
from cli.forms import (
    PROCESS_ID,
    REQUEST_ID,
    USER,
)
from cli.terminal import harmless
from client.connection import connect
from client.failures import (
    BAD_INPUT,
    NO_ANSWER,
    OK,
    REFUSED,
    Failure,
    failure_of,
)
from client.processes import AGAIN_AFTER_REFUSAL, Processes
from domain.steps import StepAnswer

# How long the starter waits for a process to answer a start or a step before giving up.
WAIT_ENV = "PARTNERFLOW_STARTER_WAIT"
DEFAULT_WAIT = 60.0


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


# Where this command's answer goes: stdout, or the stream a caller running the command in its
# own process hands in (the tests).
_out: ContextVar[TextIO | None] = ContextVar("out", default=None)


def output_to(stream: TextIO | None) -> None:
    _out.set(stream)


def emit(
    args: argparse.Namespace, ok: bool, message: str, data: Any = None, label: str = "refused: "
) -> None:
    out = _out.get() or sys.stdout
    try:
        _emit(out, args, ok, message, data, label)
        out.flush()
    except BrokenPipeError:
        reader_gone()


def _emit(
    out: TextIO, args: argparse.Namespace, ok: bool, message: str, data: Any, label: str
) -> None:
    if args.json:
        payload: dict[str, Any] = {"ok": ok, "message": message}
        if isinstance(data, BaseModel):
            payload["data"] = data.model_dump(mode="json")
        elif data is not None:
            payload["data"] = data
        print(json.dumps(payload, indent=2, default=str), file=out)
    else:
        # Text goes through `harmless` here, once for every printer: names and reasons in it
        # come from outside data.
        print(harmless(message if ok else f"{label}{message}"), file=out)
        if isinstance(data, StepAnswer):
            for note in data.notes:
                print(harmless(f"  note: {note}"), file=out)


def to_stderr(line: str) -> None:
    print(harmless(line), file=sys.stderr, flush=True)


# --- the command's settings and connection ---------------------------------------------------

_settings: ContextVar[config.Settings | None] = ContextVar("settings", default=None)
_wait: ContextVar[float | None] = ContextVar("wait", default=None)
_client: ContextVar[Client | None] = ContextVar("client", default=None)
_actor: ContextVar[str | None] = ContextVar("actor", default=None)
T = TypeVar("T")


def begin_command(wait: float | None, settings: config.Settings | None = None) -> None:
    """Each command: the settings its main() read (None: the environment's, read when first
    needed), its own --wait, its own connection."""
    _settings.set(settings)
    _wait.set(wait)
    _client.set(None)
    _actor.set(None)


def acting_as(actor: str | None) -> None:
    """Who this command acts as: its steps are signed with that person's own key."""
    _actor.set(actor)


def settings() -> config.Settings:
    chosen = _settings.get()
    if chosen is None:
        chosen = config.Settings.from_environment()
        _settings.set(chosen)
    return chosen


def starter_wait() -> float:
    """--wait, else PARTNERFLOW_STARTER_WAIT, else 60 s."""
    chosen = _wait.get()
    if chosen is not None:
        return chosen
    text = settings().starter_wait
    try:
        return float(text) if text else DEFAULT_WAIT
    except ValueError:
        raise Failure(BAD_INPUT, f"{WAIT_ENV}={text!r}: give seconds, e.g. 60") from None


def connect_wait() -> float:
    return min(starter_wait(), 20.0)


async def temporal() -> Client:
    """Connect only once the input has been checked: bad input never reaches Temporal.
    Without a key ring (and without PARTNERFLOW_ALLOW_PLAINTEXT=1) nothing is sent. One
    connection per command."""
    client = _client.get()
    if client is None:
        warn = lambda text: to_stderr(f"warning: {text}")  # noqa: E731
        client = await connect(settings(), within=connect_wait(), warn=warn, actor=_actor.get())
        _client.set(client)
    return client


def processes(client: Client) -> Processes:
    """The client's requests with this command's wait, saying on stderr why it waits."""
    return Processes(client, settings().task_queue, starter_wait(), notice=to_stderr)


async def answered(
    client: Client, process_id: str, what: str, request: Awaitable[T], *, resend: str | None = None
) -> T:
    """The answer to a start or a step; while the process is silent, says every few seconds
    why; gives up after --wait (exit 6)."""
    return await processes(client).answered(process_id, what, request, resend=resend)


async def diagnosis(client: Client, process_id: str) -> str:
    return await processes(client).diagnosis(process_id)


async def start(
    args: argparse.Namespace,
    workflow: Any,
    request: Any,
    *,
    process_id: str,
    kind: str,
    account_id: str | None,
    summary: str,
    again_after: frozenset[str] | None = AGAIN_AFTER_REFUSAL,
) -> int:
    """Starts a process (client.processes) and prints its answer with the process id."""
    answer = await processes(await temporal()).start(
        workflow,
        request,
        process_id=process_id,
        kind=kind,
        account_id=account_id,
        summary=summary,
        again_after=again_after,
    )
    # rejected: started, but a step needs attention before the request could be checked
    emit(
        args,
        not answer.rejected,
        answer.message + f"\nprocess id: {process_id}",
        {"process_id": process_id, **answer.model_dump(mode="json")},
        label="",
    )
    return REFUSED if answer.rejected else OK


async def running_handle(process_id: str) -> WorkflowHandle[Any, Any]:
    return await processes(await temporal()).running_handle(process_id)


async def send(args: argparse.Namespace, update: Any, step: BaseModel) -> int:
    """Sends a human step as an update: the validator's refusal comes back at once.
    --request-id makes a repeated command the same request (applied once)."""
    update_id = args.request_id or f"{update.__name__}-{uuid.uuid4().hex[:12]}"
    answer = await processes(await temporal()).send(
        args.process_id, update, step, update_id, resend=update_id
    )
    emit(args, not answer.rejected, answer.message, answer, label="")
    return REFUSED if answer.rejected else OK


# --- status formatting, per process kind ------------------------------------------------------

StatusFormatter = Callable[[dict], str]
FORMATTERS: dict[str, StatusFormatter] = {}
# Per process kind: records to show beside its status, read from PostgreSQL (cli/records.py).
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


async def with_extras(status: dict) -> dict:
    """The status with the records its kind shows beside it (lead cards), read within a
    short wait; without them (and a note) when they cannot be read soon."""
    extra = EXTRAS.get(status.get("kind", ""))
    if extra is None:
        return status
    token = _wait.set(min(starter_wait(), EXTRAS_WAIT))
    try:
        return {**status, **await extra(status)}
    except Exception as e:  # noqa: BLE001 - never fails the status it decorates
        to_stderr(f"note: shown without the records' details: {failure_of(e)}")
        return status
    finally:
        _wait.reset(token)


# --- building commands ----------------------------------------------------------------------


class Commands:
    """Adds subcommands that share --json/--as, and optionally a process id and --request-id."""

    def __init__(self, sub: Any, common: argparse.ArgumentParser) -> None:
        self.sub, self.common = sub, common

    def add(self, name: str, help_: str, fn: Any, *, process: bool = False, step: bool = False):
        c = self.sub.add_parser(name, help=help_, description=help_, parents=[self.common])
        c.set_defaults(fn=fn, process_arg=process)
        if process:
            c.add_argument(
                "process_id",
                metavar="PROCESS_ID",
                type=PROCESS_ID,
                help="the process id, as `list` or `inbox` shows it, or a unique start of it",
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


def database_dsn() -> str | None:
    """PostgreSQL for the commands that read it: DATABASE_URL, else ./run's."""
    return settings().database_dsn()
