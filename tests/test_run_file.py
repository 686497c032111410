"""While `./run` runs, a clone knows it: a second `./run` in the same clone says it
is already running and where, instead of dying on taken ports, and the tools of the clone
(`python -m store outbox`) find its database without DATABASE_URL."""

import os
import subprocess
import sys
from pathlib import Path

import config

ROOT = Path(__file__).resolve().parents[1]


def clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PARTNERFLOW_DATA_DIR"] = str(data_dir)
    return env


def test_a_second_run_in_the_same_clone_says_it_is_running_and_where(tmp_path):
    running = config.claim_run(tmp_path)  # the first ./run holds the clone
    assert running is not None
    try:
        config.write_run_file(
            tmp_path,
            {"pid": 4242, "temporal_ui": "http://localhost:8233", "temporal": "127.0.0.1:7233"},
        )
        second = subprocess.run(
            [sys.executable, "-m", "devstack"],
            cwd=ROOT,
            timeout=60,
            env=clean_env(tmp_path),
            capture_output=True,
            text=True,
        )
    finally:
        running.close()
    assert second.returncode == 1, second.stdout + second.stderr
    said = second.stdout + second.stderr
    assert "already running in this clone (pid 4242" in said
    assert "http://localhost:8233" in said and "127.0.0.1:7233" in said
    assert "Traceback" not in said and "address already in use" not in said.lower()


def test_the_run_file_counts_only_while_run_holds_the_clone(tmp_path):
    holder = config.claim_run(tmp_path)
    config.write_run_file(tmp_path, {"pid": 1, "database_url": "postgresql:///x"})
    assert config.running_stack(tmp_path)["database_url"] == "postgresql:///x"
    assert config.claim_run(tmp_path) is None  # one ./run per clone
    holder.close()  # ./run ended (or was killed): its file says nothing any more
    assert config.running_stack(tmp_path) is None


async def test_store_tools_find_the_database_of_the_running_stack(tmp_path, database_url):
    holder = config.claim_run(tmp_path)
    try:
        config.write_run_file(tmp_path, {"pid": os.getpid(), "database_url": database_url})
        found = subprocess.run(
            [sys.executable, "-m", "store", "outbox"],
            cwd=ROOT,
            timeout=60,
            env=clean_env(tmp_path),
            capture_output=True,
            text=True,
        )
    finally:
        holder.close()
    assert found.returncode == 0, found.stderr
    assert "DATABASE_URL is not set" not in found.stderr
    # without a running ./run: the same words as before, naming both ways out
    alone = subprocess.run(
        [sys.executable, "-m", "store", "outbox"],
        cwd=ROOT,
        timeout=60,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert alone.returncode != 0 and "DATABASE_URL is not set" in alone.stderr


def test_the_banners_examples_act_as_staff_not_as_a_partner_user():
    """The starter refuses a partner user's id as --as: the banner's examples act
    as ./run's staff identity, and any --as they name is demo staff."""
    import re

    from devstack.banner import banner
    from devstack.ports import Ports
    from store import demo

    text = banner(
        Ports(*range(7233, 7233 + len(Ports.__dataclass_fields__))),
        "postgresql:///partnerflow",
        ROOT / ".data",
        embedded=True,
    )
    assert "starter.py confirm" in text
    assert set(re.findall(r"--as (\S+)", text)) <= {s[0] for s in demo.STAFF}
    assert not [c[0] for c in demo.PARTNER_CONTACTS if f"--as {c[0]}" in text]


def test_a_taken_port_is_named_with_its_variable_before_anything_starts(tmp_path):
    """./run checks every port first: a taken one is named with its variable and its holder,
    it exits 1 without a traceback, and leaves no run file behind."""
    import socket

    from devstack.ports import PORT_SETTINGS

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        env = clean_env(tmp_path) | {variable: "0" for variable, _ in PORT_SETTINGS.values()}
        env["PARTNERFLOW_METRICS_PORT"] = str(port)
        run = subprocess.run(
            [sys.executable, "-m", "devstack"],
            cwd=ROOT,
            timeout=60,
            env=env,
            capture_output=True,
            text=True,
        )
    said = run.stdout + run.stderr
    assert run.returncode == 1, said
    assert f"port {port} (PARTNERFLOW_METRICS_PORT) is taken by " in run.stderr
    assert f"(pid {os.getpid()})" in run.stderr  # this test holds it
    assert "Traceback" not in said and "is running" not in said
    assert not (tmp_path / config.RUN_FILE).exists()
    assert not (tmp_path / "pg").exists()  # nothing started


def test_two_port_variables_with_one_port_are_named(tmp_path):
    env = clean_env(tmp_path) | {
        "PARTNERFLOW_HEALTH_PORT": "18555",
        "PARTNERFLOW_MESSAGES_PORT": "18555",
    }
    run = subprocess.run(
        [sys.executable, "-m", "devstack"],
        cwd=ROOT,
        timeout=60,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert "port 18555 is given twice: PARTNERFLOW_HEALTH_PORT and PARTNERFLOW_MESSAGES_PORT" in (
        run.stderr
    )


def test_another_login_link_for_the_running_stack(tmp_path):
    """`python -m devstack link`: a fresh one-time link to the running ./run's UI, made from
    the codec token only its user can read; without a running ./run, a sentence."""
    from urllib.parse import parse_qs, urlsplit

    from ops.identity import OneTimeLinks

    def link() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "devstack", "link"],
            cwd=ROOT,
            timeout=60,
            env=clean_env(tmp_path),
            capture_output=True,
            text=True,
        )

    token = "a-codec-token-of-enough-length"
    (tmp_path / "codec-token").write_text(token)
    alone = link()
    assert alone.returncode == 1 and "not running" in alone.stderr
    holder = config.claim_run(tmp_path)
    try:
        config.write_run_file(tmp_path, {"pid": 1, "temporal_ui": "http://localhost:18233"})
        made = link()
    finally:
        holder.close()
    assert made.returncode == 0, made.stderr
    url = urlsplit(made.stdout.strip())
    assert (url.netloc, url.path) == ("localhost:18233", "/codec/login")
    query = parse_qs(url.query)
    assert query["next"] == ["/partnerflow/ready"] and token not in made.stdout
    assert OneTimeLinks(token).redeem(query["once"][0])
