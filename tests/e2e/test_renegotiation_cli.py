"""The Dealbuilder renegotiation end to end as staff use it: the real dev server, the real
PostgreSQL, worker.py and starter.py as subprocesses."""

from datetime import date, timedelta

import pytest

from tests.e2e.cli import starter, worker
from tests.records_renegotiation import access_count, new_company, outbox

pytestmark = pytest.mark.e2e


def renegotiate(co, licences: int, price: str, *extra: str) -> list[str]:
    return [
        "renegotiate",
        "--ticket",
        str(co.ticket_id),
        "--company",
        co.id,
        "--licences",
        str(licences),
        "--price",
        price,
        "--contact",
        co.contact_id,
        "--original-contract",
        co.contract_id,
        *extra,
    ]


async def test_renegotiation_from_ticket_to_signed_contract(cli_env, pool):
    env = cli_env | {"PARTNERFLOW_SALES_REGISTRATION_ADDRESS": "salgsregistrering@test.example"}
    co = await new_company(pool, licences=10, price="500", signed_on=date.today() - timedelta(400))
    async with worker(env):
        started = await starter(env, *renegotiate(co, 12, "475,50"), "--as", "kari")
        assert started.code == 0, started.text
        pid = started.body["data"]["process_id"]
        assert pid.startswith(f"renegotiation-{co.id}-")
        assert started.body["data"]["stage"] == "awaiting-signature"
        again = await starter(env, *renegotiate(co, 12, "475,50"), "--as", "kari")
        assert again.body["data"]["process_id"] == pid  # the same request, not doubled

        status = await starter(env, "status", pid)
        assert status.code == 0 and status.body["data"]["stage"] == "awaiting-signature"
        contract_id = status.body["data"]["contract_id"]

        signed = await starter(env, "contract-signed", pid, "--as", "kari")
        assert signed.code == 0, signed.text
        assert signed.body["data"]["stage"] == "signed"
        late = await starter(env, "contract-signed", pid, "--as", "kari")
        assert late.code == 3
        assert late.body["message"] == (
            "the process has ended (signed): the contract was "
            "already recorded as signed; nothing was done again"
        )

    deal = await pool.fetchrow("SELECT * FROM deals WHERE process_id = $1", pid)
    assert (
        deal["name"],
        deal["pipeline"],
        deal["deal_type"],
        deal["stage"],
        deal["owner"],
        deal["meeting_booker"],
        deal["amount"],
        deal["currency"],
    ) == (
        f"{co.name} - REFORHANDLING",
        "Assist",
        "Tilleggslisenser / reforhandling",
        "Avsluttet vunnet",
        "kari",
        "kari",
        12,
        "NOK",
    )
    k = await pool.fetchrow("SELECT * FROM contracts WHERE id = $1", contract_id)
    assert (
        k["template"],
        k["status"],
        k["licences"],
        str(k["price"]),
        k["sender"],
        k["booker"],
    ) == (
        "Reforhandling av avtale om Avonova Assist",
        "signed",
        12,
        "475.50",
        "user non human",
        "kundesenter",
    )
    t = await pool.fetchrow("SELECT * FROM tickets WHERE id = $1", co.ticket_id)
    assert (t["subject"], t["status"], t["queue"]) == (
        f"Reforhandling - {co.name}",
        "Sendt kontrakt",
        "invoice_service",
    )
    assert "licences: 12 (was 10)" in t["body"]
    assert await outbox(pool, pid) == [
        ("contact", co.contact_id, "contract_for_signing_email"),
        ("contact", co.contact_id, "contract_for_signing_sms"),
        ("role", "salgsregistrering@test.example", "renegotiation_increase_for_sales_credit"),
    ]
    assert await access_count(pool, co.id) == 12
    assert await pool.fetchval("SELECT count(*) FROM deals WHERE account_id = $1", co.id) == 1


async def test_extended_then_cancelled_and_signing_it_is_refused(cli_env, pool):
    co = await new_company(pool, licences=30)
    async with worker(cli_env):
        started = await starter(cli_env, *renegotiate(co, 20, "450"))
        assert started.code == 0, started.text
        pid = started.body["data"]["process_id"]
        first = (await starter(cli_env, "status", pid)).body["data"]["signing_deadline"]

        extended = await starter(cli_env, "extend-signing-deadline", pid, "--days", "3")
        assert extended.code == 0, extended.text
        moved = date.fromisoformat(first) + timedelta(days=3)
        assert f"extended to {moved}" in extended.body["message"]
        too_long = await starter(cli_env, "extend-signing-deadline", pid, "--days", "45")
        assert too_long.code == 2  # bad input: nothing was sent

        cancelled = await starter(
            cli_env, "cancel-renegotiation", pid, "--reason", "kunden valgte å beholde avtalen"
        )
        assert cancelled.code == 0, cancelled.text
        signed = await starter(cli_env, "contract-signed", pid)

    assert signed.code == 3
    assert signed.body["message"] == (
        "the process has ended (cancelled): a cancelled renegotiation cannot be signed; its "
        "contract was withdrawn. Start a new renegotiation if the customer still wants the "
        "change"
    )
    deal = await pool.fetchrow(
        "SELECT stage, status, closed_reason FROM deals WHERE process_id = $1", pid
    )
    assert tuple(deal) == ("Avsluttet tapt", "lost", "kunden valgte å beholde avtalen")
    k = await pool.fetchrow(
        "SELECT status, signing_deadline FROM contracts WHERE process_id = $1", pid
    )
    assert (k["status"], k["signing_deadline"]) == ("cancelled", moved)
    t = await pool.fetchrow("SELECT status, closed_reason FROM tickets WHERE id = $1", co.ticket_id)
    assert tuple(t) == ("closed", "kunden valgte å beholde avtalen")
    assert [n[2] for n in await outbox(pool, pid)] == [
        "contract_for_signing_email",
        "contract_for_signing_sms",
        "contract_signing_deadline_extended",
    ]
    assert await access_count(pool, co.id) == 30
    original = await pool.fetchval("SELECT status FROM contracts WHERE id = $1", co.contract_id)
    assert original == "signed"
