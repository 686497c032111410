"""What the benchmarks share: a throwaway PostgreSQL, the real dev server kept off stdout,
result and progress lines, and leaving the process safely."""

import asyncio
import os
import shutil
import sys
import tempfile
import traceback
import uuid
from pathlib import Path

import asyncpg
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from workflows.visibility import ALL as SEARCH_ATTRIBUTES

BIN = Path(sys.executable).parent


class Postgres:
    """DATABASE_URL -> a fresh database on that server (dropped at the end);
    else an embedded pgserver in a temp dir (deleted at the end)."""

    def __init__(self) -> None:
        self.server = None
        self.tmp: str | None = None
        self.admin_dsn = ""
        self.name = f"partnerflow_bench_{uuid.uuid4().hex[:8]}"
        self.dsn = ""

    async def start(self) -> str:
        self.admin_dsn = os.environ.get("DATABASE_URL", "")
        if not self.admin_dsn:
            import pgserver

            self.tmp = tempfile.mkdtemp(prefix="partnerflow-bench-pg-")
            self.server = await asyncio.to_thread(
                pgserver.get_server, self.tmp, cleanup_mode="delete")
            self.admin_dsn = self.server.get_uri()
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await conn.close()
        base, _, query = self.admin_dsn.partition("?")
        self.dsn = base.rsplit("/", 1)[0] + f"/{self.name}" + (f"?{query}" if query else "")
        return self.dsn

    async def stop(self) -> None:
        if self.server is not None:
            await asyncio.to_thread(self.server.cleanup)
            if self.tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)
            return
        if self.dsn:
            conn = await asyncpg.connect(self.admin_dsn)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            finally:
                await conn.close()


async def start_dev_server() -> WorkflowEnvironment:
    """The dev server prints a banner on its stdout: spawn it with our stderr as its stdout,
    so that a benchmark's stdout carries only the results."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        return await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(BIN / "temporal"),
            data_converter=pydantic_data_converter, search_attributes=SEARCH_ATTRIBUTES,
            ui=False, dev_server_log_level="error")
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def say(line: str = "") -> None:
    """A result line, on stdout."""
    print(line, flush=True)


def progress(line: str) -> None:
    """Progress and diagnostics, on stderr: stdout carries only the results."""
    print(line, file=sys.stderr, flush=True)


def run(main) -> None:
    """Runs `main() -> exit code` and leaves with os._exit: the SDK runtime can crash the
    interpreter at exit after a clean stop (sdk-python #300, DESIGN.md)."""
    code = 1
    try:
        code = main()
    except SystemExit as e:  # argparse: --help, bad arguments
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except BaseException:  # noqa: BLE001 - os._exit below would swallow the traceback
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
