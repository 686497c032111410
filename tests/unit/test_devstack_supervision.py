"""`./run` supervises what it starts: the pure decision, the ports, and the loop itself with
small stand-in processes."""

import asyncio
import signal
import subprocess
import sys

import pytest

from devstack.banner import without_password
from devstack.ports import ports_from
from devstack.supervision import (
    Child,
    RestartPolicy,
    Watched,
    after_exit,
    exit_words,
    supervise,
)

POLICY = RestartPolicy(first_delay=1, factor=2, max_delay=30, healthy_after=60)


def test_a_crashed_worker_is_restarted_with_a_doubling_delay_up_to_the_cap():
    delays, previous = [], None
    for _ in range(7):
        d = after_exit(
            "the worker", 1, ran_for=2.0, previous_delay=previous, restartable=True, policy=POLICY
        )
        assert d.restart
        delays.append(d.delay)
        previous = d.delay
    assert delays == [1, 2, 4, 8, 16, 30, 30]


def test_a_worker_that_ran_a_while_starts_the_back_off_afresh():
    d = after_exit(
        "the worker", -9, ran_for=60.0, previous_delay=30, restartable=True, policy=POLICY
    )
    assert (d.restart, d.delay) == (True, 1)
    d = after_exit(
        "the worker", -9, ran_for=59.9, previous_delay=30, restartable=True, policy=POLICY
    )
    assert (d.restart, d.delay) == (True, 30)


def test_the_terminal_is_told_what_happened_and_what_comes_next():
    d = after_exit(
        "the worker",
        -signal.SIGKILL,
        ran_for=12.34,
        previous_delay=None,
        restartable=True,
        policy=POLICY,
    )
    assert d.message == (
        "the worker was killed (SIGKILL) after 12.3 s; restarting it in 1 s. "
        "Processes wait in Temporal meanwhile: nothing is lost."
    )


def test_a_dead_server_is_named_with_its_log_and_everything_stops():
    d = after_exit(
        "the Temporal dev server",
        1,
        ran_for=300,
        previous_delay=None,
        restartable=False,
        log=".data/temporal.log",
        policy=POLICY,
    )
    assert not d.restart
    assert d.message.startswith(
        "the Temporal dev server exited (code 1); see "
        ".data/temporal.log. Stopping everything cleanly"
    )


def test_exit_words():
    assert exit_words(0) == "exited (code 0)"
    assert exit_words(-15) == "was killed (SIGTERM)"
    assert exit_words(-200) == "was killed (signal 200)"
    assert exit_words(None) == "is gone"


def test_ports_zero_means_a_free_port_and_bad_values_are_named():
    ports = ports_from({"PARTNERFLOW_TEMPORAL_PORT": "0", "PARTNERFLOW_UI_PORT": "18233"})
    assert ports.ui == 18233 and ports.codec == 8234 and ports.health == 8081
    assert 0 < ports.temporal < 65536 and 0 < ports.temporal_http < 65536
    with pytest.raises(SystemExit, match="PARTNERFLOW_CODEC_PORT='x'"):
        ports_from({"PARTNERFLOW_CODEC_PORT": "x"})
    with pytest.raises(SystemExit, match="PARTNERFLOW_HEALTH_PORT=70000"):
        ports_from({"PARTNERFLOW_HEALTH_PORT": "70000"})


def test_a_database_password_is_not_printed():
    assert without_password("postgresql://app:s3cret@db:5432/pf") == (
        "postgresql://app:***@db:5432/pf"
    )
    assert without_password("postgresql://app@db/pf") == "postgresql://app@db/pf"


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


async def wait_until(condition, what: str, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def test_the_loop_restarts_a_killed_child_and_stops_on_ctrl_c(capsys):
    fast = RestartPolicy(first_delay=0.1, factor=2, max_delay=1, healthy_after=60)
    worker = Child("the worker", sleeper, restartable=True)
    worker.start()
    first = worker.proc
    stopping = asyncio.Event()
    loop = asyncio.create_task(supervise([worker], [], stopping, fast, poll=0.02))
    try:
        first.kill()
        await wait_until(lambda: worker.restarts == 1, "a restart")
        assert worker.proc is not first and worker.proc.poll() is None
        worker.proc.kill()
        await wait_until(lambda: worker.restarts == 2, "a second restart")
        assert worker.delay == pytest.approx(0.2)  # crashed again soon: twice the delay
        stopping.set()
        assert await loop == 0
    finally:
        worker.proc.kill()
        worker.proc.wait()
    out = capsys.readouterr().out
    assert "the worker was killed (SIGKILL) after" in out
    assert "restarting it in 0.1 s" in out and "restarting it in 0.2 s" in out
    assert f"the worker restarted (pid {worker.proc.pid}, restart 2)" in out


async def test_the_loop_ends_with_1_when_a_server_dies(capsys):
    temporal = Child("the Temporal dev server", sleeper, restartable=False, log="t.log")
    worker = Child("the worker", sleeper, restartable=True)
    temporal.start()
    worker.start()
    try:
        loop = asyncio.create_task(supervise([worker, temporal], [], asyncio.Event(), poll=0.02))
        temporal.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(loop, 20) == 1
        assert worker.proc.poll() is None  # stopping the rest is the caller's, in order
    finally:
        for c in (worker, temporal):
            c.proc.kill()
            c.proc.wait()
    assert "the Temporal dev server was killed (SIGTERM); see t.log. Stopping everything" in (
        capsys.readouterr().out
    )


async def test_a_watched_server_that_is_gone_ends_the_loop(capsys):
    alive = [True]
    loop = asyncio.create_task(
        supervise(
            [],
            [Watched("the embedded PostgreSQL", lambda: alive[0], log="pg/log")],
            asyncio.Event(),
            poll=0.02,
        )
    )
    alive[0] = False
    assert await asyncio.wait_for(loop, 20) == 1
    assert "the embedded PostgreSQL is gone; see pg/log." in capsys.readouterr().out


def test_settings_given_as_0_each_get_a_port_of_their_own(monkeypatch):
    """The OS may hand out the port it gave a moment ago (the probe's socket is closed); two
    settings given as 0 must still not get the same one, nor a port another setting names."""
    from devstack import ports as module

    # the OS's answers: a port another setting names, then each port twice or three times
    handed_out = iter([18233, 40000, 40000, 40001, 40001, 40001, 40002, *range(40002, 40020)])
    monkeypatch.setattr(module, "free_port", lambda: next(handed_out))
    every = {variable: "0" for variable, _ in module.PORT_SETTINGS.values()}
    chosen = ports_from(
        {**every, "PARTNERFLOW_UI_PORT": "18233", "PARTNERFLOW_PORTAL_PORT": "8040"}
    )
    picked = [getattr(chosen, name) for name in module.PORT_SETTINGS]
    assert len(set(picked)) == len(picked)
    assert (chosen.ui, chosen.portal) == (18233, 8040)
