"""The edge, as a user meets it: ids, numbers and files checked
before anything is started; worker and starter refuse to run without a key ring unless
plaintext is chosen explicitly (and say so loudly); an encrypting worker refuses plaintext.
worker.py and starter.py run as subprocesses against the dev server and PostgreSQL."""

import asyncio
import json
import sys

import pytest

from tests.e2e.cli import ROOT, client_for, starter, worker
from tests.records import new_account

pytestmark = pytest.mark.e2e

NO_KEYS = ("PARTNERFLOW_ENCRYPTION_KEYS",)


def without_keys(env: dict[str, str], **extra: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in NO_KEYS} | extra


async def run(
    env: dict[str, str], script: str, *args: str, timeout: float = 60
) -> tuple[int | None, str, str]:
    """Runs a script to its end (killed after `timeout`: returncode None)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / script),
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        return None, out.decode(), err.decode()
    return proc.returncode, out.decode(), err.decode()


async def workflows_on_queue(env: dict[str, str], expected: str) -> list[str]:
    """Every workflow ever started on this test's task queue, once visibility shows
    `expected` (visibility is eventually consistent: a good start tells us it caught up)."""
    client = await client_for(env)
    query = f"TaskQueue = '{env['PARTNERFLOW_TASK_QUEUE']}'"
    for _ in range(100):
        found = [wf.id async for wf in client.list_workflows(query)]
        if expected in found:
            return found
        await asyncio.sleep(0.1)  # polling visibility, bounded
    raise AssertionError(f"{expected} never showed in visibility")


# --- item 6: input checked before any workflow exists ---------------------------------------


async def test_bad_ids_and_numbers_exit_2_and_nothing_is_started(cli_env, pool):
    acc = await new_account(pool, licences={"Premium": 1})
    fast = ["fast-change", "--account", acc.id, "--pbx", acc.pbx_id, "--set", "Premium=2"]
    bad = [
        (
            [
                "fast-change",
                "--account",
                "ACME'; DROP TABLE accounts;--",
                "--pbx",
                acc.pbx_id,
                "--set",
                "Premium=2",
            ],
            "--account",
        ),
        (
            ["fast-change", "--account", acc.id, "--pbx", acc.pbx_id + "\n", "--set", "Premium=2"],
            "--pbx",
        ),
        (
            ["fast-change", "--account", "ÄCME", "--pbx", acc.pbx_id, "--set", "Premium=2"],
            "--account",
        ),
        ([*fast, "--ref", "x' OR '1'='1"], "--ref"),
        ([*fast, "--ref", "r" * 1200], "--ref"),  # was exit 4: id too long for Temporal
        (
            [
                "renegotiate",
                "--ticket",
                "99999999999999999999",
                "--company",
                acc.id,
                "--licences",
                "3",
                "--price",
                "390",
                "--contact",
                "C-1",
                "--original-contract",
                "K-1",
            ],
            "--ticket",
        ),  # was an int64 DataError retried for ever
        (["onboard", "--account", "ACME\u202e"], "--account"),
        (["create-partner-account", "--partner", "P-<script>"], "--partner"),
        (["open-lead-queue", "--queue", "fair 2026", "--partner", acc.partner_id], "--queue"),
        (["confirm", "fast-change-order-ACME-1\nx"], "PROCESS_ID"),
    ]
    async with worker(cli_env):
        for argv, option in bad:
            answer = await starter(cli_env, *argv)
            assert answer.code == 2, (argv, answer.text)
            assert answer.body["message"].startswith(f"{option}: "), answer.text
        good = await starter(cli_env, *fast)
        assert good.code == 0, good.text
        started = good.body["data"]["process_id"]
        assert await workflows_on_queue(cli_env, started) == [started]
    message = (await starter(cli_env, *bad[0][0])).body["message"]
    assert message == "--account: use letters, digits and - (at most 40), e.g. ACME"


async def test_a_file_that_is_not_utf8_is_refused_naming_the_encoding(cli_env, tmp_path):
    leads = tmp_path / "leads.csv"
    leads.write_bytes(
        "company,email,country\nMüller GmbH,info@mueller.example,DE\n".encode("latin-1")
    )
    answer = await starter(cli_env, "add-leads", "--queue", "fair-2026", "--file", str(leads))
    assert answer.code == 2, answer.text
    assert answer.body["message"] == (
        f'{leads} is not UTF-8 text (byte 0xFC on line 2): save it as UTF-8 (e.g. "CSV '
        'UTF-8" in a spreadsheet) and try again'
    )
    numbers = tmp_path / "numbers.txt"
    numbers.write_bytes("# Nummern für Müller\n+49 30 5550100\n".encode("latin-1"))
    answer = await starter(
        cli_env,
        "classound-order",
        "--account",
        "ACME",
        "--pbx",
        "PBX-ACME",
        "--numbers",
        str(numbers),
    )
    assert (
        answer.code == 2 and "is not UTF-8 text (byte 0xFC on line 1)" in answer.body["message"]
    ), answer.text


# --- item 5: encryption fails closed --------------------------------------------------------


async def test_without_a_key_ring_worker_and_starter_refuse_to_run(cli_env):
    env = without_keys(cli_env)
    code, _, err = await run(env, "worker.py", timeout=30)
    assert code not in (0, None), err  # None: it ran instead of refusing
    assert "refusing to start: no key ring: set PARTNERFLOW_ENCRYPTION_KEYS" in err
    assert "PARTNERFLOW_ALLOW_PLAINTEXT=1" in err

    code, out, _ = await run(env, "starter.py", "list", "--json")
    assert code == 7
    message = json.loads(out)["message"]
    assert message.startswith("no key ring: set PARTNERFLOW_ENCRYPTION_KEYS")
    assert "PARTNERFLOW_ALLOW_PLAINTEXT=1" in message


async def test_plaintext_chosen_explicitly_runs_and_warns_loudly(cli_env, pool):
    env = without_keys(cli_env, PARTNERFLOW_ALLOW_PLAINTEXT="1")
    acc = await new_account(pool, licences={"Premium": 1})
    async with worker(env) as running:
        code, out, err = await run(
            env,
            "starter.py",
            "fast-change",
            "--account",
            acc.id,
            "--pbx",
            acc.pbx_id,
            "--set",
            "Premium=2",
            "--json",
        )
        assert code == 0, out + err
        assert "warning: PARTNERFLOW_ALLOW_PLAINTEXT=1: Temporal payloads are NOT encrypted" in err
    warned = [json.loads(ln) for ln in running.lines if "PAYLOADS NOT ENCRYPTED" in ln]
    assert warned and warned[0]["level"] == "warning", running.lines[:5]


async def test_an_encrypting_worker_refuses_plaintext_starts_and_steps(cli_env, pool):
    plain = without_keys(cli_env, PARTNERFLOW_ALLOW_PLAINTEXT="1")
    acc = await new_account(pool, licences={"Premium": 1})
    other = await new_account(pool, licences={"Premium": 1})
    async with worker(cli_env):
        refused = await starter(
            plain, "fast-change", "--account", acc.id, "--pbx", acc.pbx_id, "--set", "Premium=2"
        )
        assert refused.code == 7, refused.text
        assert "unencrypted payload was refused" in refused.body["message"]
        assert "PARTNERFLOW_ENCRYPTION_KEYS" in refused.body["message"]

        started = await starter(
            cli_env,
            "fast-change",
            "--account",
            other.id,
            "--pbx",
            other.pbx_id,
            "--set",
            "Premium=2",
        )
        assert started.code == 0, started.text
        pid = started.body["data"]["process_id"]
        step = await starter(plain, "confirm", pid, "--as", "partner-dee")
        assert step.code == 7 and "unencrypted payload was refused" in step.body["message"]
        status = await starter(cli_env, "status", pid)
        assert status.body["data"]["stage"] == "awaiting-partner-confirmation"
    # Nothing of the plaintext start was written.
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE account_id = $1", acc.id) == 0
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE account_id = $1", other.id) == 1


# --- item 4, the starter's side: it never waits silently ------------------------------------


async def test_without_a_worker_the_starter_says_why_it_waits_and_gives_up(cli_env, pool):
    acc = await new_account(pool, licences={"Premium": 1})
    code, out, err = await run(
        cli_env,
        "starter.py",
        "fast-change",
        "--account",
        acc.id,
        "--pbx",
        acc.pbx_id,
        "--set",
        "Premium=2",
        "--wait",
        "4",  # the first notice comes after 3 s
        "--json",
    )
    assert code == 6, out + err
    queue = cli_env["PARTNERFLOW_TASK_QUEUE"]
    assert f"no worker polls task queue '{queue}'" in err.splitlines()[0]
    assert err.startswith("waiting ")
    message = json.loads(out)["message"]
    assert message.startswith(
        f"gave up after 4 s without an answer from process fast-change-order-{acc.id}-"
    )
    assert "Traceback" not in out + err
    assert "running the same command again joins the same request" in message
