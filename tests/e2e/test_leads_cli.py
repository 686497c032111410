"""Partner onboarding and lead queues as channel managers and partner sellers use them:
worker.py and starter.py as subprocesses, the real dev server and PostgreSQL. And the proof
that claims are exactly-once: many partner users claim the same leads at once."""

import asyncio
import random
import uuid
from collections import Counter
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError

from client.failures import Failure
from client.processes import run_lead_step
from codec import parse_key_ring
from domain.leads import LeadBatch, LeadStepRequest, lead_step_process_id, queue_process_id
from store.leads import save_batch
from tests.e2e.cli import client_for, starter, worker
from tests.records_partners import (
    enable_partner_management,
    lead_rows,
    login_link_token,
    new_partner,
    owners,
    queue_request,
)
from tests.workflows.harness import start_process
from tests.workflows.test_lead_queue_router import lead_ids_of
from workflows.lead_queue_router import LeadQueueRouter

pytestmark = pytest.mark.e2e


async def test_from_partner_management_to_an_opportunity_through_the_starter(
    cli_env, pool, tmp_path
):
    await enable_partner_management(pool)  # the session database may have it already
    nordic = await new_partner(pool, contacts=1, account=False)
    other = await new_partner(pool, users=1)
    (anna,) = nordic.contacts
    queue = f"fair-{uuid.uuid4().hex[:6]}"
    password = tmp_path / "password"
    password.write_text("Fjord-Lynx-2026!\n")
    leads = tmp_path / "fair.csv"
    leads.write_text(
        "company,name,email,country,postal_code,product\n"
        "Acme,Jana Weber,jana@acme.example,DE,80331,Premium\n"
        "Delta,Luca Meier,luca@delta.example,CH,8001,Business\n"
        "Acme,Jana W.,JANA@acme.example,DE,80331,Premium\n"
    )

    async def ok(*args: str):
        answer = await starter(cli_env, *args)
        assert answer.code == 0, answer.text
        return answer.body

    async with worker(cli_env) as running:
        enabled, refused = await asyncio.gather(
            starter(cli_env, "enable-partner-management"),
            starter(cli_env, "disable-partner-management"),
        )
        assert enabled.code == 0 and "already enabled" in enabled.body["message"]
        assert refused.code == 1 and "irreversible" in refused.body["message"]

        await ok("create-partner-account", "--partner", nordic.id, "--channel-manager", "cm-eva")
        invited = await ok(
            "invite-partner-user", "--partner", nordic.id, "--contact", anna, "--as", "cm-eva"
        )
        assert "one-time link" in invited["message"]
        token = await login_link_token(
            pool,
            f"partner-account-{nordic.id}",
            anna,
            parse_key_ring(cli_env["PARTNERFLOW_ENCRYPTION_KEYS"]),
        )
        link = f"https://partners.example/first-login?user={anna}&token={token}"
        welcome = await ok(
            "partner-login",
            "--partner",
            nordic.id,
            "--user",
            anna,
            "--token",
            link,
            "--password-file",
            str(password),
        )
        assert welcome["message"].startswith(f"welcome, {anna}")

        opened = await ok(
            "open-lead-queue",
            "--queue",
            queue,
            "--name",
            "Trade fair",
            "--partner",
            nordic.id,
            "--partner",
            other.id,
            "--claim-cap",
            "2",
            "--as",
            "cm-eva",
        )
        assert opened["data"]["stage"] == "open"
        added = await ok("add-leads", "--queue", queue, "--file", str(leads))
        assert "3 lead(s) received: 2 new; 1 already in this queue" in added["message"]
        # the same file again (an import resumed): answered from the audit log, nothing twice
        leads_before = await pool.fetchval("SELECT count(*) FROM leads WHERE queue_id = $1", queue)
        again = await ok("add-leads", "--queue", queue, "--file", str(leads))
        assert again["message"].splitlines() == [
            "3 lead(s) received in 1 batch(es): 0 new, 0 duplicate(s) not added, 3 received "
            "before (this file, or this batch of it, was imported already): nothing added for "
            "them",
            "batch 1: 3 lead(s) already received before: 0 new",
        ]
        assert (again["data"]["new"], again["data"]["resumed"]) == (0, 3)
        assert (
            await pool.fetchval("SELECT count(*) FROM leads WHERE queue_id = $1", queue)
            == leads_before
        )
        documents = Path(cli_env["PARTNERFLOW_DATA_DIR"]) / "documents"
        assert not list(documents.rglob("*.json"))  # no file of leads left behind
        first, second = [
            r["id"]
            for r in await pool.fetch(
                "SELECT id FROM leads WHERE queue_id = $1 ORDER BY length(id), id", queue
            )
        ]
        # the partner user claims in the portal; here the channel manager, for her
        claimed = await ok(
            "claim-lead", "--queue", queue, "--lead", first, "--for", anna, "--as", "cm-eva"
        )
        assert f"lead {first} is yours" in claimed["message"]
        taken = await starter(
            cli_env,
            "claim-lead",
            "--queue",
            queue,
            "--lead",
            first,
            "--for",
            other.users[0],
            "--as",
            "cm-eva",
        )
        assert taken.code == 1 and f"already claimed by {anna}" in taken.body["message"]
        moved = await ok(
            "assign-lead",
            "--queue",
            queue,
            "--lead",
            second,
            "--to",
            anna,
            "--notify",
            "--as",
            "cm-eva",
        )
        assert "notified by e-mail" in moved["message"]
        await ok(
            "convert-lead",
            "--queue",
            queue,
            "--lead",
            first,
            "--amount",
            "12,500",
            "--close-date",
            "2027-03-31",
            "--for",
            anna,
            "--as",
            "cm-eva",
        )
        await ok(
            "update-opportunity",
            "--queue",
            queue,
            "--opportunity",
            f"OPP-{first}",
            "--stage",
            "proposal",
            "--for",
            anna,
            "--as",
            "cm-eva",
        )

        gone = await ok(
            "deactivate-partner-account",
            "--partner",
            nordic.id,
            "--reason",
            "contract ended",
            "--as",
            "cm-eva",
        )
        assert f"1 open lead(s) went back to their queue: {queue} (1)" in gone["message"]
        status = await ok("status", f"lead-queue-{queue}")
    # the queue's process keeps its settings, not its leads (PostgreSQL has them)
    assert status["data"]["design"] == "router" and "leads" not in status["data"]
    assert status["data"]["received"] == {"received": 3, "new": 2, "duplicates": 1}
    state = {
        r["id"]: r["status"]
        for r in await pool.fetch("SELECT id, status FROM leads WHERE queue_id = $1", queue)
    }
    assert state == {first: "converted", second: "queued"}
    assert await owners(pool, queue) == {first: anna}
    opp = await pool.fetchrow(
        "SELECT stage, amount FROM opportunities WHERE id = $1", f"OPP-{first}"
    )
    assert (opp["stage"], str(opp["amount"])) == ("proposal", "12500.00")
    # the login token and the password never reached the worker's logs
    log = "".join(running.lines)
    assert token not in log and "Fjord-Lynx-2026!" not in log
    assert "jana@acme.example" not in log


async def test_bad_input_is_refused_before_anything_is_sent(cli_env, tmp_path):
    weak = tmp_path / "weak"
    weak.write_text("short\n")
    bad = tmp_path / "leads.json"
    bad.write_text('[{"company": "Acme"}]')
    login, leads, rule, opportunity = await asyncio.gather(
        starter(
            cli_env,
            "partner-login",
            "--partner",
            "P-X",
            "--user",
            "C-1",
            "--token",
            "t",
            "--password-file",
            str(weak),
        ),
        starter(cli_env, "add-leads", "--queue", "q", "--file", str(bad)),
        starter(cli_env, "add-assignment-rule", "--queue", "q", "--to-partner", "P"),
        starter(cli_env, "update-opportunity", "--queue", "q", "--opportunity", "OPP-L-1"),
    )
    assert login.code == 2 and "at least 12 characters" in login.body["message"]
    assert leads.code == 2 and "row 1 lead: an e-mail or a phone number" in leads.body["message"]
    assert rule.code == 2 and "at least one of country" in rule.body["message"]
    assert opportunity.code == 2 and "at least one of stage" in opportunity.body["message"]


# --- the proof that claims are exactly-once ---------------------------------------------------

PARTNERS, USERS_EACH, LEADS, CAP, IN_FLIGHT = 5, 2, 10, 2, 8


async def test_claims_are_exactly_once_when_many_partners_claim_the_same_leads(
    cli_env, dev_env, pool
):
    """Every user of 5 partners (2 each), plus a user of a partner outside the queue and one
    who never logged in, tries to claim every one of 10 leads at once, in random order, with
    a claim cap of 2: capacity for exactly the 10 leads."""
    await enable_partner_management(pool)
    partners = [await new_partner(pool, users=USERS_EACH) for _ in range(PARTNERS - 1)]
    partners.append(await new_partner(pool, users=USERS_EACH, invited=1))
    outsider = await new_partner(pool, users=1)
    request = queue_request(partners, cap=CAP)
    client = await client_for(cli_env)
    async with worker(cli_env):
        handle, opened = await start_process(
            client,
            cli_env["PARTNERFLOW_TASK_QUEUE"],
            LeadQueueRouter,
            request,
            process_id=queue_process_id(request.queue_id),
        )
        assert opened.stage == "open"
        documents = Path(cli_env["PARTNERFLOW_DATA_DIR"]) / "documents"
        await handle.execute_update(
            LeadQueueRouter.add_leads,
            LeadBatch(actor="staff", batch=save_batch(documents, lead_rows(LEADS))),
        )
        leads = await lead_ids_of(pool, request.queue_id)
        users = [u for p in partners for u in p.users]
        claimants = users + [outsider.users[0], partners[-1].invited[0]]
        attempts = [(u, lead) for u in claimants for lead in leads]
        random.shuffle(attempts)
        gate = asyncio.Semaphore(IN_FLIGHT)
        answers: dict[tuple[str, str], str] = {}

        async def try_claim(user: str, lead: str) -> None:
            async with gate:
                claim = LeadStepRequest(
                    queue_id=request.queue_id, kind="claim", actor=user, lead_id=lead
                )
                process_id = lead_step_process_id(claim, uuid.uuid4().hex[:12])
                try:
                    await run_lead_step(
                        client, claim, process_id, task_queue=cli_env["PARTNERFLOW_TASK_QUEUE"]
                    )
                    answers[user, lead] = "claimed"
                except WorkflowUpdateFailedError as e:
                    answers[user, lead] = e.cause.message
                except Failure as f:
                    answers[user, lead] = str(f)

        await asyncio.gather(*(try_claim(u, lead) for u, lead in attempts))

    # every attempt got an answer: the claim, or a refusal with its reason
    assert len(answers) == len(attempts)
    won = {lead: user for (user, lead), a in answers.items() if a == "claimed"}
    kinds = Counter(kind_of(a) for a in answers.values())
    assert set(kinds) <= {"claimed", "already claimed", "at the cap", "not eligible"}
    assert kinds["claimed"] == LEADS == len(won)
    assert all(
        kind_of(answers[u, lead]) == "not eligible"
        for lead in leads
        for u in (outsider.users[0], partners[-1].invited[0])
    )
    # ... and PostgreSQL agrees: one owner per lead, the one who was told so; caps respected
    rows = await pool.fetch(
        "SELECT lead_id, user_id, partner_id, ended_at FROM claims WHERE queue_id = $1",
        request.queue_id,
    )
    assert all(r["ended_at"] is None for r in rows) and len(rows) == LEADS
    assert {r["lead_id"]: r["user_id"] for r in rows} == won
    per_partner = Counter(r["partner_id"] for r in rows)
    assert all(n <= CAP for n in per_partner.values()) and sum(per_partner.values()) == LEADS
    for (_, lead), answer in answers.items():
        if kind_of(answer) == "already claimed":
            assert f"already claimed by {won[lead]}" in answer  # named the real owner


def kind_of(answer: str) -> str:
    if answer == "claimed":
        return "claimed"
    if " is already claimed by " in answer:
        return "already claimed"
    if "is at the claim cap" in answer:
        return "at the cap"
    if "is not eligible for queue" in answer:
        return "not eligible"
    # the directory's words: a user of a partner outside the queue, or not active
    if "this lead queue is for" in answer or "who is invited, not active" in answer:
        return "not eligible"
    return answer
