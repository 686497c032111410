"""How `./run` watches what it started: a worker, codec server, portal or reconciliation
job that exits is restarted with back-off; a server that dies (Temporal, the embedded
PostgreSQL) stops everything, naming it and its log. The decision is pure (unit-tested); the
loop polls the children."""

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 30.0
    healthy_after: float = 60.0  # a child that ran this long starts the back-off afresh


@dataclass(frozen=True)
class Decision:
    restart: bool
    delay: float  # seconds before the restart
    message: str


def exit_words(code: int | None) -> str:
    if code is None:
        return "is gone"
    if code < 0:
        try:
            return f"was killed ({signal.Signals(-code).name})"
        except ValueError:
            return f"was killed (signal {-code})"
    return f"exited (code {code})"


def after_exit(
    name: str,
    code: int | None,
    ran_for: float,
    previous_delay: float | None,
    *,
    restartable: bool,
    log: str | None = None,
    policy: RestartPolicy = RestartPolicy(),
) -> Decision:
    """A restartable child (the worker, the codec server) comes back after a delay that
    doubles while it keeps crashing soon after its start, up to a cap. A server (Temporal,
    PostgreSQL) is not restarted: everything stops, naming it and its log."""
    where = f"; see {log}" if log else ""
    if code == os.EX_CONFIG:  # it refused to start, naming the setting: the same would fail
        where = f" (its settings need a fix: see the line above{f' and {log}' if log else ''})"
    if not restartable or code == os.EX_CONFIG:
        return Decision(
            False,
            0.0,
            f"{name} {exit_words(code)}{where}. Stopping everything "
            "cleanly; the state is kept in the data folder: ./run again continues "
            "from there.",
        )
    if previous_delay is None or ran_for >= policy.healthy_after:
        delay = policy.first_delay
    else:
        delay = min(previous_delay * policy.factor, policy.max_delay)
    return Decision(
        True,
        delay,
        f"{name} {exit_words(code)} after {ran_for:.1f} s{where}; "
        f"restarting it in {delay:g} s. Processes wait in Temporal meanwhile: "
        "nothing is lost.",
    )


@dataclass
class Child:
    """A process the run command started and watches."""

    name: str
    spawn: Callable[[], subprocess.Popen]
    restartable: bool
    log: str | None = None
    proc: subprocess.Popen | None = None
    started: float = 0.0
    delay: float | None = None  # the last back-off
    restart_at: float | None = None
    restarts: int = 0

    def start(self) -> subprocess.Popen:
        self.proc = proc = self.spawn()
        self.started = time.monotonic()
        self.restart_at = None
        return proc

    def exit_code(self) -> int | None:
        """None while it runs."""
        return self.proc.poll() if self.proc is not None else None


@dataclass
class Watched:
    """A server the run command did not spawn itself but depends on (embedded PostgreSQL)."""

    name: str
    alive: Callable[[], bool]
    log: str | None = None


async def supervise(
    children: list[Child],
    watched: list[Watched],
    stopping: asyncio.Event,
    policy: RestartPolicy = RestartPolicy(),
    poll: float = 0.2,
) -> int:
    """Until Ctrl-C (0) or a server dies (1): restart what may be restarted."""
    while not stopping.is_set():
        now = time.monotonic()
        for c in children:
            if c.restart_at is not None:
                if now >= c.restart_at:
                    proc = c.start()
                    c.restarts += 1
                    print(f"{c.name} restarted (pid {proc.pid}, restart {c.restarts})")
                continue
            code = c.exit_code()
            if code is None:
                continue
            d = after_exit(
                c.name,
                code,
                now - c.started,
                c.delay,
                restartable=c.restartable,
                log=c.log,
                policy=policy,
            )
            print(d.message)
            if not d.restart:
                return 1
            c.delay, c.restart_at = d.delay, now + d.delay
        for w in watched:
            if not w.alive():
                print(after_exit(w.name, None, 0, None, restartable=False, log=w.log).message)
                return 1
        try:
            await asyncio.wait_for(stopping.wait(), poll)
        except TimeoutError:
            pass
    return 0


def stop(proc: subprocess.Popen | None, name: str) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in 40 s; killing it")
        proc.kill()
        proc.wait()
