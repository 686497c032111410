"""partnerflow for staff: start a process, send a human step, look at processes.

Every command takes --json (machine-readable output), --wait SECONDS and --help. Exit codes:
0 done; 1 refused or rejected (the reason is printed); 2 bad input (nothing was sent);
3 no such process, or it has ended; 4 Temporal could not be reached (nothing was sent);
5 busy, try again (nothing was applied); 6 no answer in time (it may still be carried out:
see `status`); 7 not set up (no key ring, credentials); 8 Temporal or the worker failed."""

import argparse
import asyncio
import os
import sys
from typing import Any, TextIO

import config
from cli import (
    accounts,
    change_orders,
    classound,
    inbox,
    leads,
    outbox,
    partners,
    people,
    psa,
    records,
    renegotiation,
    staff_keys,
)
from cli.common import (
    Commands,
    Parser,
    begin_command,
    common_options,
    emit,
    output_to,
    reader_gone,
    temporal,
)
from cli.forms import CODE, NAME, whole
from cli.status import cmd_list, cmd_retry, cmd_status, whole_process_id
from cli.who import check_staff, identity
from client.failures import (
    BAD_INPUT,
    BUSY,
    FAILED,
    NO_ANSWER,
    NO_PROCESS,
    OK,
    REFUSED,
    SETUP,
    UNREACHABLE,
    Failure,
    failure_of,
)

LABELS = {
    REFUSED: "refused: ",
    BAD_INPUT: "bad input: ",
    NO_PROCESS: "",
    UNREACHABLE: "",
    BUSY: "busy: ",
    NO_ANSWER: "no answer: ",
    SETUP: "not set up: ",
    FAILED: "failed: ",
}
# The commands by process, in the order `starter.py` alone lists them.
PROCESSES = [
    ("change orders (fast and quote based)", change_orders),
    ("CLASSOUND orders and number porting", classound),
    ("PSA: client onboarding, invoicing, service desk", psa),
    ("partner accounts", partners),
    ("lead queues, leads and opportunities", leads),
    ("renegotiations", renegotiation),
    ("customer accounts", accounts),
    ("records: invoices, contacts", records),
    ("e-mail and SMS", outbox),
    ("the people directory", people),
    ("staff members' signing keys", staff_keys),
]
EVERY_PROCESS = "every process"
# Commands that need no Temporal: they read or write PostgreSQL (`inbox` without Temporal
# shows what the records say and names what it left out).
DATABASE_ONLY = frozenset({"cli.outbox", "cli.people", "cli.inbox", "cli.staff_keys"})


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="starter.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    commands = Commands(sub, common_options())
    groups: list[tuple[str, list[str]]] = []
    for title, process in PROCESSES:
        before = set(sub.choices)
        process.register(commands)
        groups.append((title, [name for name in sub.choices if name not in before]))
    before = set(sub.choices)
    commands.add(
        "status", "stage, what it waits for, the records it touched", cmd_status, process=True
    )
    commands.add(
        "retry",
        "run the step of a process that needs attention again, once its "
        "cause is fixed (`list --stage needs-attention` finds them)",
        cmd_retry,
        process=True,
        step=True,
    )
    c = commands.add("list", "processes, filtered through Temporal visibility", cmd_list)
    c.add_argument("--kind", type=NAME, help="process kind, e.g. fast-change-order")
    c.add_argument("--stage", type=NAME, help="e.g. awaiting-partner-confirmation")
    c.add_argument("--account", type=CODE)
    c.add_argument("--partner", type=CODE)
    c.add_argument("--open", action="store_true", help="only processes still running")
    c.add_argument("--limit", type=whole(1, 1000), default=50)
    inbox.register(commands)
    groups.insert(0, (EVERY_PROCESS, [name for name in sub.choices if name not in before]))
    p.epilog = command_list(sub, groups)
    return p


def command_list(sub: Any, groups: list[tuple[str, list[str]]]) -> str:
    """The commands grouped by process, each with what it does: what `starter.py` alone
    prints, and the end of --help."""
    said = {a.dest: a.help or "" for a in sub._choices_actions}
    lines = ["commands (`starter.py COMMAND --help` for its options):"]
    for title, names in groups:
        lines += ["", f"{title}:"]
        lines += [f"  {name:<27} {said.get(name, '')}" for name in names]
    return "\n".join(lines)


async def run(argv: list[str], settings: config.Settings | None = None) -> int:
    """Runs one command with the settings main() read (None: the environment's); every
    failure leaves as a Failure (exit code and words)."""
    settings = settings or config.Settings.from_environment()
    p = parser()
    if not [a for a in argv if not a.startswith("-")] and not {"-h", "--help"} & set(argv):
        # `starter.py` alone: what it can do
        emit(argparse.Namespace(json="--json" in argv), True, p.epilog or "")
        return OK
    args = p.parse_args(argv)
    begin_command(args.wait, settings)
    await first_what_can_be_acted_on(args, settings)
    try:
        config.use_business_zones(settings)
        await check_staff(args, settings)
        if getattr(args, "process_arg", False):
            args.process_id = await whole_process_id(args.process_id)
        return await args.fn(args)
    except BrokenPipeError:
        raise  # the reader went away: nothing to tell it (main)
    except Exception as e:  # noqa: BLE001 - every error gets its exit code and words
        if settings.debug:
            raise
        raise failure_of(e, getattr(args, "process_id", None)) from None


async def first_what_can_be_acted_on(args: argparse.Namespace, settings: config.Settings) -> None:
    """Who acts, unless Temporal cannot be reached: a command that needs Temporal says that
    first (exit 4), since naming yourself would not help while it is down."""
    try:
        identity(args, settings)
    except Failure:
        if args.fn.__module__ not in DATABASE_ONLY:
            try:
                await temporal()
            except Failure as down:
                if down.code == UNREACHABLE:
                    raise down from None
        raise


async def command(argv: list[str], settings: config.Settings, out: TextIO | None = None) -> int:
    """One command and its exit code, its answer on `out` (None: stdout): what main() runs,
    and what the tests run in their own process."""
    output_to(out)
    try:
        return await run(argv, settings)
    except Failure as f:
        emit(argparse.Namespace(json="--json" in argv), False, str(f), label=LABELS.get(f.code, ""))
        return f.code
    except BrokenPipeError:  # e.g. `--json | head`: the command was carried out
        reader_gone()
        return 0


def main(argv: list[str] | None = None, settings: config.Settings | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return asyncio.run(command(argv, settings or config.Settings.from_environment()))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        reader_gone()
    sys.stderr.flush()
    # The SDK's runtime can abort at interpreter exit (sdk-python #300, DESIGN.md).
    os._exit(code)
