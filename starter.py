"""partnerflow for staff: start a process, send a human step, look at processes.

Every command takes --json (machine-readable output) and --help. Exit codes:
0 done; 1 refused or rejected (the reason is printed); 2 bad input (nothing was sent);
3 no such process, or it has ended; 4 Temporal could not be reached."""

import argparse
import asyncio
import os
import sys

from temporalio.service import RPCError

from cli import accounts, change_orders, classound, leads, partners, psa, renegotiation
from cli.common import (
    BAD_INPUT,
    UNREACHABLE,
    BadInput,
    Commands,
    Failure,
    cmd_list,
    cmd_status,
    common_options,
    emit,
)

PROCESSES = [change_orders, classound, psa, partners, leads, renegotiation, accounts]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="starter.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    commands = Commands(sub, common_options())
    for process in PROCESSES:
        process.register(commands)
    commands.add("status", "stage, what it waits for, the records it touched", cmd_status,
                 process=True)
    c = commands.add("list", "processes, filtered through Temporal visibility", cmd_list)
    c.add_argument("--kind", help="process kind, e.g. fast-change-order, change-order")
    c.add_argument("--stage", help="e.g. awaiting-partner-confirmation")
    c.add_argument("--account")
    c.add_argument("--partner")
    c.add_argument("--open", action="store_true", help="only processes still running")
    c.add_argument("--limit", type=int, default=50)
    return p


async def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        return await args.fn(args)
    except BadInput as e:
        raise Failure(BAD_INPUT, str(e)) from None
    except RPCError as e:
        raise Failure(UNREACHABLE, f"Temporal answered with an error: {e.message}") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return asyncio.run(run(argv))
    except Failure as f:
        emit(argparse.Namespace(json="--json" in argv), False, str(f))
        return f.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The SDK's runtime can abort at interpreter exit (sdk-python #300, DESIGN.md).
    os._exit(code)
