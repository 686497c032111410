"""PSA end to end as staff use it: worker.py and starter.py as subprocesses against the dev
server and PostgreSQL. The gates, a client onboarded step by step, the first invoicing
run with its numbering review, and a campaign over a few hundred clients."""

import asyncio

import pytest

from tests.e2e.cli import client_for, starter, worker
from tests.records_psa import new_client, new_clients, new_partner

pytestmark = pytest.mark.e2e


async def test_gates_onboarding_and_first_invoicing_run(cli_env, pool, dev_env):
    partner, client = await new_client(pool, licences={"Premium": 3, "Basic": 1})
    _, elsewhere = await new_client(pool, partner)  # no billing information
    async with worker(cli_env):
        # Tickets need no billing information; approving their time and sales items do.
        ticket = await starter(
            cli_env, "create-ticket", "--account", client, "--subject", "Phones ring twice"
        )
        assert ticket.code == 0, ticket.text
        ticket_id = str(ticket.body["data"]["record_id"])
        entry = await starter(cli_env, "log-time", "--ticket", ticket_id, "--minutes", "45")
        assert entry.code == 0 and "can be approved once" in entry.body["message"]
        entry_id = str(entry.body["data"]["record_id"])
        approve = await starter(cli_env, "approve-time", entry_id, "--as", "lead-carla")
        assert approve.code == 1
        assert approve.body["message"] == (
            f"client {client} has no billing information: the "
            "time of its tickets cannot be approved until it is "
            "provided"
        )
        item = await starter(
            cli_env,
            "create-sales-item",
            "--account",
            client,
            "--description",
            "Headsets",
            "--quantity",
            "2",
            "--price",
            "49",
        )
        assert item.code == 1 and "a sales item cannot be created for it" in item.body["message"]

        started = await starter(cli_env, "onboard", "--account", client)
        assert started.code == 0, started.text
        pid = started.body["data"]["process_id"]
        assert started.body["data"]["stage"] == "awaiting-billing-information"
        twice = await starter(cli_env, "onboard", "--account", client)
        assert twice.body["data"]["process_id"] == pid  # one onboarding per client
        bad = await starter(
            cli_env,
            "billing-info",
            pid,
            "--legal-name",
            "Muster GmbH",
            "--street",
            "Hafenstr. 1",
            "--postal-code",
            "2045",
            "--country",
            "DE",
            "--billing-email",
            "rechnung",
            "--currency",
            "EUR",
            "--payment-terms",
            "30",
            "--tax-id",
            "DE123456789",
        )
        assert bad.code == 1
        assert bad.body["message"] == (
            "billing information refused: address: postal code is not a postal code of DE; "
            "address: city missing; billing e-mail: not an e-mail address"
        )
        good = await starter(
            cli_env,
            "billing-info",
            pid,
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
        assert good.code == 0, good.text
        assert good.body["data"]["stage"] == "awaiting-contract-terms"

        assert (await starter(cli_env, "approve-time", entry_id)).code == 0
        item = await starter(
            cli_env,
            "create-sales-item",
            "--account",
            client,
            "--description",
            "Headsets",
            "--price",
            "49",
        )
        assert item.code == 0, item.text
        moved = await starter(
            cli_env, "move-sales-item", str(item.body["data"]["record_id"]), "--to", elsewhere
        )
        assert moved.code == 1 and "cannot be moved to it" in moved.body["message"]

        terms = await starter(
            cli_env, "contract-terms", pid, "--start", "2026-06-01", "--payment", "bank-transfer"
        )
        assert terms.body["data"]["stage"] == "awaiting-price-confirmation", terms.text
        assert terms.body["data"]["notes"] == [
            "still lacks: staff confirmation of the contract part prices"
        ]
        parts = (await (await client_for(cli_env)).get_workflow_handle(pid).query("status"))[
            "parts"
        ]
        assert [(p["sku"], p["quantity"], p["unit_price"]) for p in parts] == [
            ("Basic", 1, "9.90"),
            ("Premium", 3, "19.90"),
        ]
        assert (await starter(cli_env, "change-parts", pid, "--price", "Premium=18,50")).code == 0
        # --add adds (the README's example shape); another price for the same part is refused
        added = await starter(cli_env, "change-parts", pid, "--add", "Basic=1@9.90")
        assert added.code == 0, added.text
        assert added.body["message"].startswith(
            "contract parts changed: Basic x1 -> x2; 2 part(s), EUR 75.30 a month (was EUR 65.40)"
        )
        assert added.body["data"]["notes"][:2] == [
            "parts before: Basic x1 at 9.90, Premium x3 at 18.50",
            "parts after:  Basic x2 at 9.90, Premium x3 at 18.50",
        ]
        dearer = await starter(cli_env, "change-parts", pid, "--add", "Premium=1@25")
        assert dearer.code == 1 and "would bill one part at two prices" in dearer.body["message"]
        onboarded = await starter(cli_env, "confirm-contract", pid)
        assert onboarded.code == 0 and onboarded.body["data"]["stage"] == "onboarded"

        run = await starter(cli_env, "invoice-run", "--partner", partner.id, "--period", "2026-06")
        assert run.body["data"]["stage"] == "awaiting-numbering-review", run.text
        run_id = run.body["data"]["process_id"]
        assert run_id == f"invoicing-run-{partner.id}-2026-06"
        reviewed = await starter(
            cli_env,
            "review-numbering",
            run_id,
            "--prefix",
            "RE-",
            "--format",
            "{prefix}{year}{month}-{number:04}",
        )
        assert reviewed.code == 0, reviewed.text
        assert reviewed.body["message"].endswith("the first invoice will be RE-202606-0001")
        status = await (await client_for(cli_env)).get_workflow_handle(run_id).result()
    assert (status["stage"], status["issued"], status["first_number"]) == (
        "issued",
        1,
        "RE-202606-0001",
    )
    invoice = await pool.fetchrow("SELECT * FROM psa_invoices WHERE partner_id = $1", partner.id)
    assert (invoice["total"], invoice["due_on"] - invoice["issued_on"]).__repr__() == (
        "(Decimal('75.30'), datetime.timedelta(days=14))"
    )
    approved = await pool.fetchrow(
        "SELECT status, approved_by FROM psa_time_entries WHERE id = $1", int(entry_id)
    )
    assert tuple(approved) == ("approved", "staff-e2e")


async def test_campaign_of_a_hundred_clients_in_three_runs_and_again(cli_env, pool, dev_env):
    partner = await new_partner(pool)
    await new_clients(pool, partner, 100, licences={"Essential": 4})
    async with worker(cli_env):
        first = await starter(
            cli_env,
            "onboard-all",
            "--partner",
            partner.id,
            "--batch-size",
            "40",
            "--window",
            "20",
            "--poll",
            "0.2",
        )
        assert first.code == 0, first.text
        p = first.body["data"]["progress"]
        assert (p["total"], p["handled"], p["started"], p["already_onboarding"], p["runs"]) == (
            100,
            100,
            100,
            0,
            3,
        )
        assert first.body["message"] == (
            f"onboarding-campaign-{partner.id} done: 100 of 100 clients handled: 100 "
            "onboarding started, 0 already onboarding"
        )

        # Run again: every client is onboarding now, none is started twice.
        again = await starter(cli_env, "onboard-all", "--partner", partner.id, "--poll", "0.2")
        p = again.body["data"]["progress"]
        assert (p["handled"], p["started"], p["already_onboarding"]) == (100, 0, 100)

        query = (
            f'ProcessKind = "client-onboarding" AND PartnerId = "{partner.id}" AND '
            'Stage = "awaiting-billing-information"'
        )
        for _ in range(100):  # visibility is eventually consistent
            waiting = (await dev_env.client.count_workflows(query)).count
            if waiting == 100:
                break
            await asyncio.sleep(0.1)
    assert waiting == 100
