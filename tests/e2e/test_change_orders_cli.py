"""Both change-order processes end to end as staff and partners use them: the real dev
server, the real PostgreSQL, worker.py and starter.py as subprocesses."""

import asyncio
import json
import signal

import pytest

from tests.e2e.cli import starter, worker
from tests.records import licence_totals, new_account, set_account_field
from tests.records_classound import pdf_bytes, png_bytes

pytestmark = pytest.mark.e2e


async def listed(cli_env, *filters: str) -> list[str]:
    """Temporal visibility is eventually consistent: ask until the answer settles (10 s)."""
    ids: list[str] = []
    for _ in range(50):
        ids = [r["process_id"] for r in (await starter(cli_env, "list", *filters)).body["data"]]
        if ids:
            return ids
        await asyncio.sleep(0.2)
    return ids


async def test_fast_change_order_from_start_to_applied(cli_env, pool):
    acc = await new_account(pool, licences={"Premium": 5, "Basic": 4})
    async with worker(cli_env) as running:
        started = await starter(
            cli_env,
            "fast-change",
            "--account",
            acc.id,
            "--pbx",
            acc.pbx_id,
            "--set",
            "Premium=7",
            "--set",
            "Basic=2",
        )
        assert started.code == 0, started.text
        process_id = started.body["data"]["process_id"]
        assert started.body["data"]["stage"] == "awaiting-partner-confirmation"

        status = await starter(cli_env, "status", process_id)
        assert status.body["data"]["stage"] == "awaiting-partner-confirmation"
        assert status.body["data"]["partner_id"] == acc.partner_id
        assert await listed(
            cli_env, "--account", acc.id, "--stage", "awaiting-partner-confirmation"
        ) == [process_id]

        again = await starter(
            cli_env,
            "fast-change",
            "--account",
            acc.id,
            "--pbx",
            acc.pbx_id,
            "--set",
            "Premium=7",
            "--set",
            "Basic=2",
        )
        assert again.body["data"]["process_id"] == process_id  # the same request, not doubled

        confirmed = await starter(cli_env, "confirm", process_id, "--as", "partner-anna")
        assert confirmed.code == 0, confirmed.text
        assert confirmed.body["data"]["stage"] == "applied"
        late = await starter(cli_env, "confirm", process_id, "--as", "partner-anna")
        assert late.code == 3 and "has ended" in late.body["message"]
        assert await running.stop(signal.SIGTERM) == 0  # a graceful shutdown

    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 7, "Basic": 2}
    order = await pool.fetchrow("SELECT * FROM orders WHERE process_id = $1", process_id)
    assert (order["status"], order["confirmed_by"]) == ("applied", "partner-anna")
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE account_id = $1", acc.id) == 1


async def test_change_order_rejected_fixed_and_applied(cli_env, pool, tmp_path):
    acc = await new_account(pool, licences={"Premium": 2}, missing=("email", "invoice_email"))
    lines = tmp_path / "lines.json"
    lines.write_text(
        json.dumps(
            [
                {"sku": "Premium", "quantity": 2},
                {"sku": "CLASSOUND-FLAT", "licence": "Premium", "quantity": 1},
            ]
        )
    )
    async with worker(cli_env):
        started = await starter(
            cli_env,
            "change-order",
            "--account",
            acc.id,
            "--pbx",
            acc.pbx_id,
            "--lines",
            str(lines),
            "--line",
            "WP480G=1",
        )
        assert started.code == 0, started.text
        pid = started.body["data"]["process_id"]
        assert (await starter(cli_env, "publish", pid)).code == 1  # not primary yet
        assert (await starter(cli_env, "mark-primary", pid)).code == 0
        assert (await starter(cli_env, "publish", pid)).code == 0

        # CLASSOUND-FLAT on the quote: booked only with the LOA and the last invoice
        no_documents = await starter(cli_env, "mark-complete", pid)
        assert no_documents.code == 1
        assert "waiting for: LOA, last invoice" in no_documents.body["message"]
        loa, invoice = tmp_path / "LOA.pdf", tmp_path / "invoice.png"
        loa.write_bytes(pdf_bytes())
        invoice.write_bytes(png_bytes())
        for kind, path in (("loa", loa), ("last-invoice", invoice)):
            uploaded = await starter(cli_env, "upload", pid, "--kind", kind, "--file", str(path))
            assert uploaded.code == 0, uploaded.text

        rejected = await starter(cli_env, "mark-complete", pid)
        assert rejected.code == 1
        assert "e-mail, invoice e-mail" in rejected.body["message"]
        await set_account_field(pool, acc.id, "email", "it@test.example")
        await set_account_field(pool, acc.id, "invoice_email", "ap@test.example")
        # the duplicate keeps the CLASSOUND-FLAT; Premium changes, the phone goes
        revised = await starter(
            cli_env, "revise", pid, "--line", "Premium=+3", "--remove", "WP480G"
        )
        assert revised.code == 0, revised.text
        assert revised.body["data"]["notes"][:2] == ["removed WP480G +1", "Premium +2 → +3"]
        assert (await starter(cli_env, "publish", pid)).code == 0
        accepted = await starter(cli_env, "mark-complete", pid)
        assert accepted.code == 0, accepted.text
        assert (await starter(cli_env, "confirm", pid, "--as", "partner-bo")).code == 0
        status = await starter(cli_env, "status", pid)

    assert status.body["data"]["stage"] == "applied"
    assert [d["kind"] for d in status.body["data"]["documents"]] == ["loa", "last-invoice"]
    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 5}
    skus = sorted(
        r["sku"]
        for r in await pool.fetch(
            "SELECT sku FROM pbx_products WHERE pbx_id = $1 AND status = 'active'", acc.pbx_id
        )
    )
    assert skus == ["CLASSOUND-FLAT"]


async def test_two_overlapping_fast_change_orders_to_the_same_total(cli_env, pool):
    acc = await new_account(pool, licences={"Premium": 5})
    async with worker(cli_env):
        pids = []
        for ref in ("first", "second"):
            started = await starter(
                cli_env,
                "fast-change",
                "--account",
                acc.id,
                "--pbx",
                acc.pbx_id,
                "--set",
                "Premium=6",
                "--ref",
                ref,
            )
            assert started.code == 0, started.text
            pids.append(started.body["data"]["process_id"])
        answers = [await starter(cli_env, "confirm", pid, "--as", "partner-di") for pid in pids]
    assert [a.code for a in answers] == [0, 0]
    assert "Premium 5 → 6" in answers[0].body["message"]
    assert "Premium already 6: nothing to change" in answers[1].body["message"]
    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 6}


async def test_bad_input_is_refused_before_anything_is_sent(cli_env, pool, tmp_path):
    acc = await new_account(pool, licences={"Premium": 2})
    bad_line = await starter(
        cli_env, "fast-change", "--account", acc.id, "--pbx", acc.pbx_id, "--set", "Premium=+2"
    )
    assert bad_line.code == 2 and "give the new total" in bad_line.body["message"]
    bad_file = tmp_path / "lines.json"
    bad_file.write_text(json.dumps([{"sku": "Premium", "quantity": "many"}]))
    refused = await starter(
        cli_env, "change-order", "--account", acc.id, "--pbx", acc.pbx_id, "--lines", str(bad_file)
    )
    assert refused.code == 2 and "line 1 quantity" in refused.body["message"]
    unknown = await starter(cli_env, "mark-complete", "change-order-NOPE-123")
    assert unknown.code == 3 and "no process" in unknown.body["message"]
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE process_id LIKE $1", f"%{acc.id}%"
        )
        == 0
    )


async def test_refused_start_says_why(cli_env, pool):
    acc = await new_account(pool, licences={"Basic": 2}, active=False)
    async with worker(cli_env):
        refused = await starter(
            cli_env, "fast-change", "--account", acc.id, "--pbx", acc.pbx_id, "--set", "Basic=3"
        )
    assert refused.code == 1
    assert f"PBX {acc.pbx_id} is not active" in refused.body["message"]


async def test_worker_killed_mid_process_then_restarted_completes_once(cli_env, pool):
    acc = await new_account(
        pool,
        licences={"Business": 3},
        flats=[("Business", ["+4970111"]), ("Business", ["+4970222"])],
    )
    async with worker(cli_env) as first:
        started = await starter(
            cli_env, "fast-change", "--account", acc.id, "--pbx", acc.pbx_id, "--set", "Business=1"
        )
        pid = started.body["data"]["process_id"]
        assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
    # The partner confirms while no worker runs; the step waits in Temporal.
    confirming = asyncio.create_task(starter(cli_env, "confirm", pid, "--as", "partner-cy"))
    async with worker(cli_env):
        confirmed = await confirming
    assert confirmed.code == 0, confirmed.text
    # a finished process's status is read without any worker running
    assert (await starter(cli_env, "status", pid)).body["data"]["stage"] == "applied"
    assert await licence_totals(pool, acc.pbx_id) == {"Business": 1}
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE account_id = $1", acc.id) == 1
    assert await pool.fetchval("SELECT count(*) FROM tickets WHERE process_id = $1", pid) == 1
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM pbx_products WHERE pbx_id = $1 AND status = 'cancelled'",
            acc.pbx_id,
        )
        == 1
    )
