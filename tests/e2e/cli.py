"""Drive partnerflow as a user does: worker.py and starter.py as subprocesses."""

import asyncio
import json
import os
import signal
import tempfile
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from codec import EncryptionCodec, data_converter, new_key_entry, parse_key_ring
from tests.e2e.forked import spawn

ROOT = Path(__file__).resolve().parents[2]


def environment(temporal_address: str, database_url: str, task_queue: str) -> dict[str, str]:
    env = dict(os.environ)
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
        PARTNERFLOW_DATA_DIR=tempfile.mkdtemp(prefix="partnerflow-e2e-"),
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
    return await Client.connect(
        env["TEMPORAL_ADDRESS"],
        namespace=env["TEMPORAL_NAMESPACE"],
        data_converter=data_converter(codec),
    )


@dataclass
class Answer:
    code: int
    body: dict
    text: str


async def starter(env: dict[str, str], *args: str) -> Answer:
    # forked from a pre-started interpreter of this environment (tests/e2e/forked.py)
    proc = await spawn(
        env,
        [str(ROOT / "starter.py"), *args, "--json"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    text = out.decode()
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        raise AssertionError(
            f"starter {args} printed no JSON (exit {proc.returncode}):\n{text}\n{err.decode()}"
        ) from None
    return Answer(proc.returncode, body, text)


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
    # forked from a pre-started interpreter of this environment (tests/e2e/forked.py)
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
