"""Starting a process id again, as staff do: every answer comes from the
run that is there now, never from an earlier run of the same id, and a run started again
under an old id writes its own steps. worker.py and starter.py as subprocesses."""

import pytest

from tests.e2e.cli import starter, worker
from tests.records import licence_totals, new_account
from tests.records_partners import enable_partner_management, tag
from tests.records_psa import new_client

pytestmark = pytest.mark.e2e


async def test_a_refused_partner_account_is_created_with_the_name_it_asked_for(cli_env, pool):
    await enable_partner_management(pool)
    partner = f"P-NEW{tag()}"
    async with worker(cli_env):
        refused = await starter(
            cli_env, "create-partner-account", "--partner", partner, "--channel-manager", "cm-eva"
        )
        assert refused.code == 1
        assert "give its name (--name)" in refused.body["message"]
        created = await starter(
            cli_env,
            "create-partner-account",
            "--partner",
            partner,
            "--channel-manager",
            "cm-eva",
            "--name",
            "New Partner ApS",
        )
        assert created.code == 0, created.text
        assert created.body["data"]["process_id"] == f"partner-account-{partner}"
    row = await pool.fetchrow(
        "SELECT channel_manager, status FROM partner_accounts WHERE partner_id = $1", partner
    )
    assert (row["channel_manager"], row["status"]) == ("cm-eva", "active")


async def test_an_ended_order_is_not_answered_by_its_old_run(cli_env, pool):
    acc = await new_account(pool, licences={"Premium": 5})
    order = ("fast-change", "--account", acc.id, "--pbx", acc.pbx_id, "--set", "Premium=6")
    async with worker(cli_env):
        started = await starter(cli_env, *order)
        assert started.code == 0, started.text
        pid = started.body["data"]["process_id"]
        again = await starter(cli_env, *order)  # while it runs: the same process answers
        assert (again.code, again.body["data"]["process_id"]) == (0, pid)
        cancelled = await starter(cli_env, "cancel", pid, "--reason", "wrong PBX")
        assert cancelled.code == 0, cancelled.text

        after = await starter(cli_env, *order)
        assert after.code == 1, after.text
        assert after.body["message"].startswith(
            f"{pid} already exists and has ended (stage cancelled)"
        )
        status = await starter(cli_env, "status", pid)
    assert status.body["data"]["stage"] == "cancelled"
    # the answer to the start while it ran says so, rather than "started"
    assert again.body["message"].startswith(f"{pid} already exists: waiting for")
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE account_id = $1", acc.id) == 1


async def test_a_refused_start_is_started_again_once_the_cause_is_fixed(cli_env, pool):
    acc = await new_account(pool, licences={"Basic": 2}, active=False)
    order = ("fast-change", "--account", acc.id, "--pbx", acc.pbx_id, "--set", "Basic=3")
    async with worker(cli_env):
        refused = await starter(cli_env, *order)
        assert refused.code == 1
        assert f"PBX {acc.pbx_id} is not active" in refused.body["message"]
        await pool.execute("UPDATE pbxs SET active = true WHERE id = $1", acc.pbx_id)
        started = await starter(cli_env, *order)
        assert started.code == 0, started.text
        assert started.body["data"]["stage"] == "awaiting-partner-confirmation"
        pid = started.body["data"]["process_id"]
        confirmed = await starter(cli_env, "confirm", pid, "--as", "partner-anna")
        assert confirmed.code == 0, confirmed.text
    assert await licence_totals(pool, acc.pbx_id) == {"Basic": 3}
    assert await pool.fetchval("SELECT status FROM orders WHERE process_id = $1", pid) == "applied"


async def test_an_onboarding_cancelled_and_started_again_has_its_contract_confirmed(
    cli_env, pool, dev_env
):
    _, client = await new_client(pool, licences={"Premium": 2})
    billing = (
        "--legal-name",
        "Muster GmbH",
        "--street",
        "Hafenstr. 1",
        "--postal-code",
        "20457",
        "--city",
        "Hamburg",
        "--country",
        "DE",
        "--billing-email",
        "rechnung@muster.example",
        "--currency",
        "EUR",
        "--payment-terms",
        "14",
        "--tax-id",
        "DE123456789",
    )
    terms = ("--start", "2026-06-01", "--payment", "bank-transfer")
    async with worker(cli_env):
        first = await starter(cli_env, "onboard", "--account", client)
        assert first.code == 0, first.text
        pid = first.body["data"]["process_id"]
        assert (await starter(cli_env, "billing-info", pid, *billing)).code == 0
        drafted = await starter(cli_env, "contract-terms", pid, *terms)
        assert drafted.body["data"]["stage"] == "awaiting-price-confirmation", drafted.text
        cancelled = await starter(cli_env, "cancel", pid, "--reason", "client paused")
        assert cancelled.code == 0, cancelled.text

        second = await starter(cli_env, "onboard", "--account", client)
        assert second.code == 0, second.text
        assert second.body["data"]["process_id"] == pid
        assert second.body["data"]["stage"] == "awaiting-contract-terms"  # billing info kept
        redrafted = await starter(cli_env, "contract-terms", pid, *terms)
        assert redrafted.body["data"]["stage"] == "awaiting-price-confirmation", redrafted.text
        confirmed = await starter(cli_env, "confirm-contract", pid)
        assert confirmed.code == 0, confirmed.text
        assert confirmed.body["data"]["stage"] == "onboarded"
    contracts = await pool.fetch(
        "SELECT status FROM psa_contracts WHERE account_id = $1 ORDER BY created_at", client
    )
    assert [c["status"] for c in contracts] == ["cancelled", "active"]
    runs = await pool.fetch(
        "SELECT DISTINCT run FROM audit_log WHERE process_id = $1 AND step = 'draft-contract'", pid
    )
    assert len(runs) == 2  # each run drafted its own contract
