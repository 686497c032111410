"""PostgreSQL as the arbiter of lead ownership, without Temporal: activities run twice (or
four at once) leave one set of rows, a double owner is impossible, and the claim cap holds
under concurrent claims."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.leads import LeadActivities
from activities.partners import PartnerActivities
from domain.leads import (
    LeadReceipt,
    LeadStepRequest,
    LeadStepWrite,
    QueueOpening,
    RouteConfig,
    Turn,
)
from domain.partners import InvitationWrite
from domain.steps import StepKey
from tests.records_partners import batch, enable_partner_management, lead_rows, new_partner


@pytest.fixture(autouse=True)
async def setting(pool, tmp_path, monkeypatch):
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(tmp_path))
    await enable_partner_management(pool)


def key(process_id: str, step: str, actor: str = "t") -> StepKey:
    return StepKey(process_id=process_id, step=step, actor=actor)


async def queue_with_leads(pool, partners, n: int, cap: int = 10) -> tuple[str, list[str]]:
    acts, env = LeadActivities(pool), ActivityEnvironment()
    queue_id = f"q-{uuid.uuid4().hex[:6]}"
    process_id = f"lead-queue-{queue_id}"
    await env.run(
        acts.open_lead_queue,
        QueueOpening(
            key=key(process_id, "open-queue"),
            queue_id=queue_id,
            name=queue_id,
            channel_managers=["cm"],
            partners=[p.id for p in partners],
            claim_cap=cap,
            routing="claim",
        ),
    )
    await env.run(acts.receive_lead_batch, receipt(queue_id, "import-1", lead_rows(n), cap))
    rows = await pool.fetch("SELECT id FROM leads WHERE queue_id = $1 ORDER BY id", queue_id)
    return queue_id, [r["id"] for r in rows]


def receipt(queue_id: str, step: str, rows, cap: int = 10) -> LeadReceipt:
    return LeadReceipt(
        key=key(f"lead-queue-{queue_id}", step),
        config=RouteConfig(
            queue_id=queue_id, claim_cap=cap, routing="claim", partners=[], rules=[], turn=Turn()
        ),
        batch=batch(rows),
    )


def claim_write(queue_id: str, lead_id: str, user: str, request: str) -> LeadStepWrite:
    return LeadStepWrite(
        key=key(f"lead-claim-{lead_id}-{request}", "claim", user),
        request=LeadStepRequest(queue_id=queue_id, kind="claim", actor=user, lead_id=lead_id),
    )


async def current_claims(pool, queue_id: str) -> list:
    return await pool.fetch(
        "SELECT lead_id, user_id FROM claims WHERE queue_id = $1 AND ended_at IS NULL", queue_id
    )


async def test_a_claim_run_twice_or_four_times_at_once_is_one_claim(pool):
    a = await new_partner(pool, users=1)
    queue_id, (lead,) = await queue_with_leads(pool, [a], 1)
    acts = LeadActivities(pool)
    write = claim_write(queue_id, lead, a.users[0], "r1")
    first = await ActivityEnvironment().run(acts.lead_step, write)
    again = await asyncio.gather(
        *(ActivityEnvironment().run(acts.lead_step, write) for _ in range(4))
    )
    assert all(x == first for x in again) and not first.refused
    assert [tuple(r) for r in await current_claims(pool, queue_id)] == [(lead, a.users[0])]


async def test_importing_a_file_twice_adds_its_leads_once(pool):
    a = await new_partner(pool, users=1)
    queue_id, ids = await queue_with_leads(pool, [a], 3)
    rows = lead_rows(2)
    acts, env = LeadActivities(pool), ActivityEnvironment()
    step = receipt(queue_id, "import-2", rows)
    first = await env.run(acts.receive_lead_batch, step)
    again = await env.run(acts.receive_lead_batch, step)  # the file is gone: the stored answer
    assert again == first.model_copy(update={"repeat": True}) and first.new == 2
    assert await pool.fetchval("SELECT count(*) FROM leads WHERE queue_id = $1", queue_id) == 5


async def test_racing_claims_on_one_lead_leave_one_owner_and_a_reason_for_the_others(pool):
    a, b = await new_partner(pool, users=2), await new_partner(pool, users=2)
    queue_id, (lead,) = await queue_with_leads(pool, [a, b], 1)
    acts = LeadActivities(pool)
    racers = [u for p in (a, b) for u in p.users]
    results = await asyncio.gather(
        *(
            ActivityEnvironment().run(acts.lead_step, claim_write(queue_id, lead, u, u))
            for u in racers
        )
    )
    refusals = [r.message for r in results if r.refused]
    assert len(refusals) == 3
    (owner,) = await current_claims(pool, queue_id)
    assert all(f"lead {lead} is already claimed by {owner['user_id']}" in r for r in refusals), (
        refusals
    )


async def test_the_claim_cap_holds_when_one_partner_claims_many_leads_at_once(pool):
    a = await new_partner(pool, users=2)
    queue_id, ids = await queue_with_leads(pool, [a], 6, cap=2)
    acts = LeadActivities(pool)
    results = await asyncio.gather(
        *(
            ActivityEnvironment().run(
                acts.lead_step, claim_write(queue_id, lead, a.users[n % 2], "r1")
            )
            for n, lead in enumerate(ids)
        )
    )
    refusals = [r.message for r in results if r.refused]
    assert len(refusals) == 4 and all("at the claim cap" in r for r in refusals)
    assert len(await current_claims(pool, queue_id)) == 2


async def test_the_database_makes_a_double_owner_impossible(pool):
    a, b = await new_partner(pool, users=1), await new_partner(pool, users=1)
    queue_id, (lead,) = await queue_with_leads(pool, [a, b], 1)
    await ActivityEnvironment().run(
        LeadActivities(pool).lead_step, claim_write(queue_id, lead, a.users[0], "r1")
    )
    with pytest.raises(asyncpg.UniqueViolationError, match="claims_one_owner_per_lead"):
        await pool.execute(
            "INSERT INTO claims (lead_id, queue_id, user_id, partner_id, how, by_actor,"
            " process_id, step) VALUES ($1, $2, $3, $4, 'claim', 'x', 'x', 'x')",
            lead,
            queue_id,
            b.users[0],
            b.id,
        )


async def test_an_invitation_twice_sends_one_login_e_mail(pool):
    p = await new_partner(pool, contacts=1)
    write = InvitationWrite(
        key=key(f"partner-account-{p.id}", "invite-1", "cm"),
        partner_id=p.id,
        contact_id=p.contacts[0],
        expires_at=datetime.now(UTC) + timedelta(days=7),
    )
    acts = PartnerActivities(pool)
    outcomes = await asyncio.gather(
        *(ActivityEnvironment().run(acts.invite_partner_user, write) for _ in range(3))
    )
    assert all(o == outcomes[0] for o in outcomes)
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM notifications WHERE recipient_id = $1", p.contacts[0]
        )
        == 1
    )
    assert (
        await pool.fetchval("SELECT invitations FROM partner_users WHERE id = $1", p.contacts[0])
        == 1
    )
