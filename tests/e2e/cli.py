"""Drive partnerflow as a user does: worker.py as a process of its own, starter.py's commands
in this process (each with the settings of its environment, its own connection and output:
what `python starter.py` runs, without its seconds of imports)."""

import asyncio
import io
import json
import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog
from temporalio.client import Client

import config
import starter as starter_py
from codec import (
    EncryptionCodec,
    client_interceptors,
    data_converter,
    new_key_entry,
    parse_key_ring,
)
from codec.signing import load_signer, new_key_file
from tests.e2e.forked import spawn

ROOT = Path(__file__).resolve().parents[2]


def environment(temporal_address: str, database_url: str, task_queue: str) -> dict[str, str]:
    env = dict(os.environ)
    data_dir = Path(tempfile.mkdtemp(prefix="partnerflow-e2e-"))
    # The worker's own key (it enrols it at start), which may sign for anyone: the starter
    # of these tests acts as many people. Per-person keys: tests/workflows/test_staff_keys.py.
    worker_key = data_dir / "staff-keys" / "worker.key"
    new_key_file(worker_key)
    env.update(
        TEMPORAL_ADDRESS=temporal_address,
        TEMPORAL_NAMESPACE="default",
        DATABASE_URL=database_url,
        PARTNERFLOW_TASK_QUEUE=task_queue,
        USER="staff-e2e",
        PARTNERFLOW_ACTOR="staff-e2e",  # a test staff member (tests/people.py)
        # any free port: several workers may run at once
        PARTNERFLOW_METRICS_ADDRESS="127.0.0.1:0",
        PARTNERFLOW_HEALTH_PORT="0",
        # not the developer's .data (its key ring, its documents)
        PARTNERFLOW_DATA_DIR=str(data_dir),
        # nor their home: a staff key a command makes (~/.config/partnerflow) stays here
        HOME=str(data_dir / "home"),
        PARTNERFLOW_WORKER_KEY=str(worker_key),
        PARTNERFLOW_STAFF_KEY=str(worker_key),
        # worker and starter refuse to run without a key ring (fail closed)
        PARTNERFLOW_ENCRYPTION_KEYS=new_key_entry("e2e"),
    )
    for name in (
        "PARTNERFLOW_ALLOW_PLAINTEXT",
        "PARTNERFLOW_ACCEPT_PLAINTEXT_HISTORY",
        "PARTNERFLOW_STARTER_WAIT",
    ):
        env.pop(name, None)
    return env


async def client_for(env: dict[str, str]) -> Client:
    """A Temporal client with the key ring of `env`: reads what worker.py wrote."""
    codec = EncryptionCodec(parse_key_ring(env["PARTNERFLOW_ENCRYPTION_KEYS"]))
    codec.signer = load_signer(Path(env["PARTNERFLOW_STAFF_KEY"]))
    return await Client.connect(
        env["TEMPORAL_ADDRESS"],
        namespace=env["TEMPORAL_NAMESPACE"],
        data_converter=data_converter(codec),
        interceptors=client_interceptors(codec),  # its steps carry their facts
    )


@dataclass
class Answer:
    code: int
    body: dict
    text: str


_environ: dict = {"users": 0, "env": None, "saved": None, "logs": None}


@contextmanager
def environment_of(env: dict[str, str]) -> Iterator[None]:
    """os.environ as `env` while commands of that environment run here: below the settings
    the starter is given, the key ring and Temporal's own settings are read from it. Commands
    run at once share one environment. What a command sets for its whole process (the
    environment, the log configuration) is undone after it."""
    if _environ["users"] and _environ["env"] != env:
        raise AssertionError("starter commands of two environments at once")
    if not _environ["users"]:
        # a command may configure the logs as its process's own (`staff` quiets them): undone
        _environ.update(env=dict(env), saved=dict(os.environ), logs=structlog.get_config())
        os.environ.clear()
        os.environ.update(env)
    _environ["users"] += 1
    try:
        yield
    finally:
        _environ["users"] -= 1
        if not _environ["users"]:
            os.environ.clear()
            os.environ.update(_environ["saved"])
            structlog.configure(**_environ["logs"])


async def starter(env: dict[str, str], *args: str) -> Answer:
    """`starter.py ARGS --json` in this process: the exit code and the printed JSON."""
    out = io.StringIO()
    argv = [*args, "--json"]
    with environment_of(env):
        settings = config.Settings.from_environment(env)
        # a task of its own: the command's context (connection, wait, output) stays its own
        task = asyncio.create_task(starter_py.command(argv, settings, out))
        code = await asyncio.wait_for(task, timeout=120)
    text = out.getvalue()
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        raise AssertionError(f"starter {args} printed no JSON (exit {code}):\n{text}") from None
    return Answer(code, body, text)


class WorkerProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    async def started(self) -> None:
        """Reads the worker's log until it says it polls; fails if it exits first."""
        while True:
            line = await asyncio.wait_for(self.proc.stderr.readline(), timeout=60)
            if not line:
                raise AssertionError("worker.py exited before it started:\n" + "".join(self.lines))
            self.lines.append(line.decode())
            if "worker started" in self.lines[-1]:
                asyncio.get_running_loop().create_task(self._drain())
                return

    async def _drain(self) -> None:
        while line := await self.proc.stderr.readline():
            self.lines.append(line.decode())

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), timeout=60)


@asynccontextmanager
async def worker(env: dict[str, str]):
    # forked from a pre-started interpreter that imported worker.py (tests/e2e/forked.py): a
    # process of its own, without the seconds of imports each
    proc = await spawn(
        env,
        [str(ROOT / "worker.py")],
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    w = WorkerProcess(proc)
    try:
        await w.started()
        yield w
    finally:
        await w.stop()
