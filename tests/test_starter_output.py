"""What the starter prints when things around it fail: a reader that goes away
(`--json | head`) gets no BrokenPipe traceback, and an unreachable Temporal is said in words,
not as the transport's raw error."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "PARTNERFLOW_"))}
    e.update(PARTNERFLOW_ALLOW_PLAINTEXT="1", PARTNERFLOW_ACTOR="staff", **extra)
    return e


def test_a_reader_that_goes_away_gets_no_traceback(tmp_path):
    read, write = os.pipe()
    os.close(read)  # `| head` that has already gone
    try:
        done = subprocess.run(
            [
                sys.executable,
                "starter.py",
                "fast-change",
                "--account",
                "A B",
                "--pbx",
                "P",
                "--set",
                "Premium=1",
                "--json",
            ],
            cwd=ROOT,
            stdout=write,
            stderr=subprocess.PIPE,
            env=env(PARTNERFLOW_DATA_DIR=str(tmp_path)),
            timeout=60,
            text=True,
        )
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 2  # the outcome still tells: bad input


def test_an_unreachable_temporal_is_said_in_words(tmp_path):
    done = subprocess.run(
        [sys.executable, "starter.py", "status", "fast-change-order-ACME-1", "--wait", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env(TEMPORAL_ADDRESS="127.0.0.1:1", PARTNERFLOW_DATA_DIR=str(tmp_path)),
    )
    assert done.returncode == 4
    said = done.stdout.strip()
    assert said == (
        "cannot reach Temporal at 127.0.0.1:1: nothing listens there (connection "
        "refused): is the Temporal server running (./run starts one), and is "
        "TEMPORAL_ADDRESS right? Nothing was sent"
    ), said
    assert "tonic" not in said and "refused:" not in said


def test_without_a_temporal_address_the_starter_uses_the_run_of_this_clone(tmp_path):
    import config

    holder = config.claim_run(tmp_path)
    try:
        config.write_run_file(tmp_path, {"pid": os.getpid(), "temporal": "127.0.0.1:1"})
        done = subprocess.run(
            [sys.executable, "starter.py", "status", "fast-change-order-ACME-1", "--wait", "3"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env=env(PARTNERFLOW_DATA_DIR=str(tmp_path)),
        )
    finally:
        holder.close()
    assert done.returncode == 4 and "cannot reach Temporal at 127.0.0.1:1:" in done.stdout
