"""What the benchmarks share: a throwaway PostgreSQL, the real dev server kept off stdout,
a lead queue's import, the load average, result and progress lines, and leaving the process
safely."""

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

from store.db import migrate
from tests.people import add_test_staff
from workflows.visibility import ALL as SEARCH_ATTRIBUTES

# who the benches act as: staff of the people directory with every role, so that the
# permission check runs as in production (and "bench-partner" is staff confirming for a partner)
BENCH_STAFF = ["bench", "bench-staff", "bench-partner", "cm-bench", "staff"]


async def migrate_with_staff(dsn: str) -> None:
    """The migrations, then the benches' staff in the people directory."""
    await migrate(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await add_test_staff(conn, BENCH_STAFF)
    finally:
        await conn.close()


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
                pgserver.get_server, self.tmp, cleanup_mode="delete"
            )
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


async def start_dev_server(
    db_filename: str | None = None, sqlite_pragmas: list[str] = ()
) -> WorkflowEnvironment:
    """The dev server prints a banner on its stdout: spawn it with our stderr as its stdout,
    so that a benchmark's stdout carries only the results."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        return await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(BIN / "temporal"),
            data_converter=pydantic_data_converter,
            search_attributes=SEARCH_ATTRIBUTES,
            ui=False,
            dev_server_log_level="error",
            dev_server_database_filename=db_filename,
            dev_server_extra_args=[a for p in sqlite_pragmas for a in ("--sqlite-pragma", p)],
        )
    finally:
        os.dup2(saved, 1)
        os.close(saved)


async def import_leads(handle, queue_id: str, rows: list, documents: Path) -> None:
    """The leads into the queue's process as the starter sends them: batches of 5,000, each
    an update naming its file (removed once read, or here if the step failed)."""
    from cli.leads import deliver
    from domain.leads import IMPORT_BATCH, LeadBatch, batches
    from store.leads import forget_batch, save_batch
    from workflows.lead_queue_router import LeadQueueRouter

    for chunk in batches(rows, IMPORT_BATCH):
        ref = save_batch(documents, chunk)
        try:
            await deliver(
                handle,
                LeadQueueRouter.add_leads,
                LeadBatch(actor="bench", batch=ref),
                update_id=f"add_leads-{queue_id}-{ref.sha256[:32]}",
            )
        finally:
            forget_batch(documents, ref)


def load_average() -> list[float]:
    """The box's 1, 5 and 15 minute load: every figure is read beside it."""
    return [round(x, 2) for x in os.getloadavg()]


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


class CpuMeter:
    """CPU seconds (user + system, from /proc through psutil) used by this process (the
    worker and the clients of an in-process benchmark), the Temporal dev server and the
    PostgreSQL of `pg_dir` (postmaster and backends), and by any extra pids (worker
    processes). `take()` returns what each used since the previous take."""

    def __init__(self, pg_dir: str | None = None, extra: dict[str, int] | None = None) -> None:
        import psutil

        self.psutil = psutil
        self.pg_dir = pg_dir
        self.extra = dict(extra or {})
        self.last: dict[int, float] = {}
        self.take()

    def _groups(self) -> dict[str, list]:
        ps = self.psutil
        me = ps.Process()
        groups: dict[str, list] = {"bench process": [me], "temporal server": [], "postgres": []}
        for child in me.children(recursive=True):
            try:
                name = child.name()
            except ps.Error:
                continue
            if name.startswith("temporal"):
                groups["temporal server"].append(child)
        if self.pg_dir:
            for p in ps.process_iter(["name", "cmdline"]):
                if p.info["name"] == "postgres" and self.pg_dir in " ".join(
                    p.info["cmdline"] or []
                ):
                    groups["postgres"] = [p, *p.children(recursive=True)]
                    break
        for name, pid in self.extra.items():
            try:
                groups[name] = [ps.Process(pid)]
            except ps.Error:
                groups[name] = []
        return groups

    def take(self) -> dict[str, float]:
        used: dict[str, float] = {}
        now: dict[int, float] = {}
        for name, procs in self._groups().items():
            total = 0.0
            for p in procs:
                try:
                    t = p.cpu_times()
                except self.psutil.Error:
                    continue
                cpu = t.user + t.system
                now[p.pid] = cpu
                total += cpu - self.last.get(p.pid, 0.0)
            used[name] = total
        self.last = now
        return used


class WorkerProcess:
    """bench/worker_proc.py as a child process, with settings given as environment."""

    def __init__(self, dsn: str, address: str, queue: str, **settings: str) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "TEMPORAL_ADDRESS": address,
            "PARTNERFLOW_TASK_QUEUE": queue,
            **settings,
        }
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> int:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).parent / "worker_proc.py"),
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
        )
        line = await asyncio.wait_for(self.proc.stdout.readline(), 120)
        if not line.startswith(b"ready"):
            raise RuntimeError(f"worker did not start: {line!r}")
        return self.proc.pid

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        self.proc = None
