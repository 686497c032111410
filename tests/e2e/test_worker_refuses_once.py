"""A worker that cannot run as configured — a bad setting, a taken metrics or health port, a
database it cannot reach at start — ends once: one line naming the reason and the variable,
no traceback, exit code 78 (EX_CONFIG), which `./run`'s supervisor does not restart (the same
settings would fail the same way): it stops everything, naming the worker, instead of a
restart loop."""

import asyncio
import os
import socket
import subprocess
import sys

import pytest

from devstack.supervision import Child, RestartPolicy, supervise
from tests.e2e.cli import ROOT
from tests.e2e.test_edge_cli import run

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def own_ports(env: dict[str, str]) -> dict[str, str]:
    return env | {
        "PARTNERFLOW_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "PARTNERFLOW_HEALTH_HOST": "127.0.0.1",
        "PARTNERFLOW_HEALTH_PORT": str(free_port()),
    }


async def refused(env: dict[str, str]) -> str:
    """worker.py's refusal: exit 78, its one line (no traceback)."""
    code, _, err = await run(env, "worker.py", timeout=90)
    assert code == os.EX_CONFIG, err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if "refusing to start" in ln]
    assert len(lines) == 1, err
    return lines[0]


async def test_a_bad_setting_is_named_once(cli_env):
    line = await refused(own_ports(cli_env) | {"PARTNERFLOW_HEALTH_PORT": "eighty"})
    assert line == (
        "worker.py: refusing to start: PARTNERFLOW_HEALTH_PORT='eighty': a port number is needed"
    )


@pytest.mark.parametrize("variable", ["PARTNERFLOW_METRICS_ADDRESS", "PARTNERFLOW_HEALTH_PORT"])
async def test_a_taken_port_is_named_with_its_variable(cli_env, variable):
    env = own_ports(cli_env)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        if variable == "PARTNERFLOW_METRICS_ADDRESS":
            env[variable] = f"127.0.0.1:{port}"
        else:
            env[variable] = str(port)
        line = await refused(env)
    assert line == (
        f"worker.py: refusing to start: port {port} on 127.0.0.1 is taken by another process "
        f"({variable}): stop it, or set another port"
    )


async def test_a_database_it_cannot_reach_is_named_without_its_password(cli_env):
    nowhere = f"postgresql://pf:s3cret@127.0.0.1:{free_port()}/partnerflow"
    line = await refused(own_ports(cli_env) | {"DATABASE_URL": nowhere})
    assert line.startswith(
        "worker.py: refusing to start: cannot reach the database at "
        f"127.0.0.1:{nowhere.rsplit(':', 1)[1].split('/')[0]}/partnerflow (DATABASE_URL): "
    )
    assert "s3cret" not in line


async def test_the_supervisor_does_not_restart_a_worker_that_refused_to_start(cli_env, capsys):
    env = own_ports(cli_env) | {"PARTNERFLOW_HEALTH_PORT": "eighty"}
    worker = Child(
        "the worker",
        lambda: subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            env=env,
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        ),
        restartable=True,
    )
    worker.start()
    fast = RestartPolicy(first_delay=0.1, factor=2, max_delay=1, healthy_after=60)
    try:
        code = await asyncio.wait_for(supervise([worker], [], asyncio.Event(), fast, poll=0.05), 90)
    finally:
        if worker.proc is not None and worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait()
    assert (code, worker.restarts) == (1, 0)
    out = capsys.readouterr().out
    assert "the worker exited (code 78) (its settings need a fix: see the line above)" in out
    assert "restarting" not in out
