"""The tests' forked commands (tests/e2e/forked.py) answer as plain `python starter.py ...`
processes do: the same exit code, stdout and stderr, stdin on a pipe, their own environment,
signals to their own pid. No Temporal needed: the address given is closed."""

import asyncio
import signal
import sys

import pytest

from tests.e2e.cli import ROOT, environment
from tests.e2e.forked import Forked, spawn

PIPE = asyncio.subprocess.PIPE


def env_without_keys() -> dict[str, str]:
    env = environment("127.0.0.1:1", "postgresql://127.0.0.1:1/none", "forked")
    del env["PARTNERFLOW_ENCRYPTION_KEYS"]
    return env


async def both(env: dict[str, str], argv: list[str], input: bytes | None = None):
    forked = await spawn(env, argv, stdin=PIPE, stdout=PIPE, stderr=PIPE)
    plain = await asyncio.create_subprocess_exec(
        sys.executable, *argv, cwd=ROOT, env=env, stdin=PIPE, stdout=PIPE, stderr=PIPE
    )
    answers = []
    for proc in (forked, plain):
        out, err = await asyncio.wait_for(proc.communicate(input), 60)
        answers.append((proc.returncode, out.decode(), err.decode()))
    assert isinstance(forked, Forked)  # not the fallback to a plain process
    return answers


@pytest.mark.parametrize(
    "args, code",
    [
        (["list", "--json"], 4),  # Temporal unreachable
        (["fast-change", "--account", "acme!", "--pbx", "x"], 2),  # bad input, nothing sent
        (["partner-login", "--help"], 0),
    ],
)
async def test_a_forked_starter_answers_as_a_plain_process(args, code):
    env = environment("127.0.0.1:1", "postgresql://127.0.0.1:1/none", "forked")
    forked, plain = await both(env, [str(ROOT / "starter.py"), *args])
    assert forked == plain
    assert forked[0] == code


async def test_each_environment_is_its_own_and_python_m_store_runs_as_written():
    # the same command without a key ring: not set up (7), alternating with one that has it
    forked, plain = await both(env_without_keys(), [str(ROOT / "starter.py"), "list"])
    assert forked == plain and forked[0] == 7, forked
    forked, plain = await both(
        env_without_keys() | {"PARTNERFLOW_ALLOW_PLAINTEXT": "1"},
        [str(ROOT / "starter.py"), "list"],
    )
    assert forked == plain and forked[0] == 4, forked
    forked, plain = await both(env_without_keys(), ["-m", "store", "nonsense"])
    assert forked == plain and forked[0] == 1 and "usage: python -m store" in forked[2]


async def test_a_signal_reaches_the_forked_process_and_its_exit_says_so():
    env = environment("127.0.0.1:1", "postgresql://127.0.0.1:1/none", "forked")
    # partner-login reads the new password from stdin: it waits until the signal
    proc = await spawn(
        env,
        [
            str(ROOT / "starter.py"),
            "partner-login",
            "--partner",
            "P-NORDTEL",
            "--user",
            "C-NORD-1",
            "--token",
            "x",
        ],
        stdin=PIPE,
        stdout=PIPE,
        stderr=PIPE,
    )
    assert isinstance(proc, Forked) and proc.returncode is None
    proc.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(proc.wait(), 30) == -signal.SIGKILL
