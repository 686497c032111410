"""`./run` (python -m devstack) as a user starts it, on free ports and a data folder of its own:
a killed worker comes back, a dead Temporal server stops everything with its name, Ctrl-C
stops everything, and nothing it starts listens beyond 127.0.0.1."""

import asyncio
import os
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psutil  # comes with pgserver (the embedded PostgreSQL of ./run and the tests)
import pytest

from devstack import ensure_database
from devstack.ports import PORT_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


class Run:
    """python -m devstack with its output read line by line as it comes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.seen = 0

    async def expect(self, pattern: str, timeout: float = 120) -> re.Match:
        """The next line (after those already matched) that matches `pattern`."""
        async with asyncio.timeout(timeout):
            while True:
                while self.seen < len(self.lines):
                    line = self.lines[self.seen]
                    self.seen += 1
                    found = re.search(pattern, line)
                    if found:
                        return found
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError(
                        f"./run ended (exit {await self.proc.wait()}) before "
                        f"{pattern!r}:\n" + "".join(self.lines[-40:])
                    )
                self.lines.append(raw.decode(errors="replace"))

    async def drain(self) -> None:
        self.lines += [
            raw.decode(errors="replace")
            for raw in (await self.proc.stdout.read()).splitlines(keepends=True)
        ]

    def tree(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)


@asynccontextmanager
async def running(postgres_admin_dsn: str, folder: Path) -> AsyncIterator[tuple[Run, list]]:
    """python -m devstack on a database and a data folder of its own, and everything it
    started gone afterwards."""
    dsn = await ensure_database(postgres_admin_dsn, f"pf_devstack_{uuid.uuid4().hex[:8]}")
    env = dict(
        os.environ,
        DATABASE_URL=dsn,
        PARTNERFLOW_DATA_DIR=str(folder / "data"),
        PARTNERFLOW_DOCUMENTS_DIR=str(folder / "data" / "documents"),
        LOG_LEVEL="INFO",
        **{variable: "0" for variable, _ in PORT_SETTINGS.values()},
    )
    env.pop("PARTNERFLOW_ENCRYPTION_KEYS", None)
    env.pop("PARTNERFLOW_ACTOR", None)  # ./run names its own identity (ops-anna) for the starter
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devstack",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    run = Run(proc)
    started: list[psutil.Process] = []
    try:
        yield run, started
    finally:
        # Nothing left behind, whatever the test saw: the children first (they hold the
        # output pipe, which asyncio's wait() waits for), then the run command.
        if proc.returncode is None:
            started += run.tree()
        for p in started:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.wait(), 30)


@pytest.fixture
async def devstack(postgres_admin_dsn, tmp_path):
    async with running(postgres_admin_dsn, tmp_path) as (run, started):
        yield run, started


def listening(processes: list[psutil.Process]) -> dict[int, str]:
    """port -> address of every listening TCP socket of these processes."""
    found = {}
    for p in processes:
        try:
            for c in p.net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN:
                    found[c.laddr.port] = c.laddr.ip
        except psutil.NoSuchProcess:
            pass
    return found


def gone(p: psutil.Process) -> bool:
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def up(run: Run) -> tuple[int, dict[str, int]]:
    """Waits for the banner and the worker's own "worker started"; the worker's pid and the
    ports the banner printed."""
    pid = int((await run.expect(r"^worker started \(pid (\d+)\)")).group(1))
    ports = {}
    for name, pattern in [
        ("ui", r"Temporal UI\s+http://localhost:(\d+)"),
        ("temporal", r"Temporal\s+127\.0\.0\.1:(\d+)"),
        ("codec", r"Codec server\s+http://localhost:(\d+)"),
        (
            "worker",
            r"metrics http://127\.0\.0\.1:(\d+)/metrics, "
            r"readiness http://127\.0\.0\.1:(\d+)/readyz",
        ),
        ("portal", r"Partner portal\s+http://localhost:(\d+)"),
    ]:
        found = await run.expect(pattern)
        ports[name] = int(found.group(1))
        if name == "worker":
            ports["health"] = int(found.group(2))
    await run.expect(r"^Ctrl-C stops everything")  # the whole banner read
    # the banner comes once every part answers: the worker polls already, the portal answers
    assert '"event": "worker started"' in "".join(run.lines)
    await portal_answers(f"http://localhost:{ports['portal']}")
    return pid, ports


async def portal_answers(portal: str) -> None:
    """The portal starts beside the worker: its login page answers within 30 s."""
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"{portal}/login")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)  # polling the page itself, with a deadline
    raise AssertionError("the portal did not answer within 30 s")


async def test_a_killed_worker_comes_back_and_ctrl_c_stops_everything(devstack, tmp_path):
    run, started = devstack
    pid, ports = await up(run)
    tree = run.tree()
    started += tree
    temporal = next(p for p in tree if "start-dev" in " ".join(p.cmdline()))

    # the links the worker e-mails point to the portal (up() waited for it to answer)
    portal = f"http://localhost:{ports['portal']}"
    worker_env = psutil.Process(pid).environ()
    assert worker_env["PARTNERFLOW_PARTNER_PORTAL_URL"] == portal
    assert worker_env["PARTNERFLOW_SIGNING_URL"] == portal

    sockets = listening([psutil.Process(run.proc.pid), *tree])
    assert {
        ports["ui"],
        ports["temporal"],
        ports["codec"],
        ports["worker"],
        ports["health"],
        ports["portal"],
    } <= set(sockets), (ports, sockets)
    assert set(sockets.values()) == {"127.0.0.1"}, sockets

    os.kill(pid, signal.SIGKILL)
    await run.expect(r"the worker was killed \(SIGKILL\) after [\d.]+ s; restarting it in 1 s")
    new_pid = int((await run.expect(r"the worker restarted \(pid (\d+), restart 1\)")).group(1))
    assert new_pid != pid
    await run.expect(r"\"event\": \"worker started\"")
    assert temporal.is_running() and not gone(temporal)  # the server was left alone
    started += run.tree()

    run.proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(run.proc.wait(), 90) == 0
    await run.drain()
    assert (
        "stopping: worker, portal, reconciliation job, codec server, Temporal, PostgreSQL"
        in "".join(run.lines)
    )
    assert run.lines[-1].strip() == "partnerflow stopped."
    assert not (tmp_path / "data" / "run.json").exists()
    assert all(gone(p) for p in started), [p for p in started if not gone(p)]


async def test_a_dead_temporal_server_is_named_and_everything_stops(devstack):
    run, started = devstack
    await up(run)
    tree = run.tree()
    started += tree
    temporal = next(p for p in tree if "start-dev" in " ".join(p.cmdline()))
    temporal.kill()
    await run.expect(
        r"the Temporal dev server was killed \(SIGKILL\); see .*temporal\.log\. "
        r"Stopping everything cleanly"
    )
    assert await asyncio.wait_for(run.proc.wait(), 90) == 1
    assert all(gone(p) for p in started), [p for p in started if not gone(p)]


async def test_every_server_listens_on_loopback_and_no_command_line_holds_the_codec_token(
    devstack, tmp_path
):
    """docs/security.md "Hardening": each server ./run starts (Temporal's frontend, UI, HTTP API and
    metrics, the codec server, the worker's metrics and health, the mail catcher and the
    messages page) binds 127.0.0.1; and the codec token, which opens every decrypted payload,
    is in no process's command line (`ps` shows those to every user of the machine)."""
    run, started = devstack
    await up(run)
    text = "".join(run.lines)
    expected = {
        int(p)
        for p in re.findall(
            r"(?:localhost|127\.0\.0\.1):(\d+)|HTTP API (\d+)|server metrics (\d+)", text
        )
        for p in p
        if p
    }
    tree = [psutil.Process(run.proc.pid), *run.tree()]
    started += tree[1:]
    sockets = {}
    for p in tree:
        for c in p.net_connections(kind="inet"):
            if c.status == psutil.CONN_LISTEN:
                sockets.setdefault(c.laddr.ip, set()).add(c.laddr.port)
    assert set(sockets) == {"127.0.0.1"}, sockets  # no 0.0.0.0, no ::
    assert len(expected) >= 9 and expected <= sockets["127.0.0.1"], (expected, sockets)

    # the reconciliation job runs under ./run too (docs/security.md "Hardening"): a first
    # pass at once
    assert any("reconcile" in p.cmdline() for p in tree[1:]), [p.cmdline() for p in tree]
    if '"event": "reconciliation pass"' not in "".join(run.lines):  # may come before "up"
        await run.expect(r"\"event\": \"reconciliation pass\"", timeout=60)

    token = (tmp_path / "data" / "codec-token").read_text().strip()
    assert len(token) >= 16
    for p in psutil.process_iter():
        try:
            assert token not in " ".join(p.cmdline()), p.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    # the UI is given a codec endpoint with no secret in it (the browser's cookie authorises)
    (endpoint,) = [
        p.cmdline()[p.cmdline().index("--ui-codec-endpoint") + 1]
        for p in tree[1:]
        if "--ui-codec-endpoint" in p.cmdline()
    ]
    assert re.fullmatch(r"http://localhost:\d+/codec", endpoint), endpoint
    assert not (tmp_path / "data" / "codec-endpoint").exists()
    # local data only its user reads: the Temporal database, logs, the run and key files
    data = tmp_path / "data"
    for path in data.iterdir():
        if path.is_file():
            assert path.stat().st_mode & 0o077 == 0, path
