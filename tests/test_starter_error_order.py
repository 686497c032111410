"""Errors in the order a person can act on them: with Temporal down, the starter says so
(exit 4) before it asks who you are, since naming yourself would not help."""

import subprocess
import sys

from tests.test_starter_output import ROOT, env


def test_an_unreachable_temporal_is_said_before_the_identity_question(tmp_path):
    environment = env(TEMPORAL_ADDRESS="127.0.0.1:1", PARTNERFLOW_DATA_DIR=str(tmp_path))
    del environment["PARTNERFLOW_ACTOR"]  # nobody named, no ./run to name anyone
    done = subprocess.run(
        [sys.executable, "starter.py", "list", "--open", "--wait", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )
    assert done.returncode == 4, (done.returncode, done.stdout)
    assert done.stdout.startswith("cannot reach Temporal at 127.0.0.1:1: "), done.stdout
    assert "who are you" not in done.stdout


def test_a_command_that_needs_no_temporal_asks_who_you_are_first(tmp_path):
    # `outbox` reads PostgreSQL only: Temporal being down says nothing to it
    environment = env(TEMPORAL_ADDRESS="127.0.0.1:1", PARTNERFLOW_DATA_DIR=str(tmp_path))
    del environment["PARTNERFLOW_ACTOR"]
    done = subprocess.run(
        [sys.executable, "starter.py", "outbox"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )
    assert done.returncode == 2 and "--as: who are you?" in done.stdout, done.stdout
