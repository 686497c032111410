"""Every branch of the lead queue with the real activities and PostgreSQL, on the dev server
(most steps here are refused by an update validator, which the time-skipping server answers
with "not found")."""

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.worker import Worker

from cli.leads import deliver
from domain.leads import (
    Assignment,
    Claim,
    Conversion,
    LeadBatch,
    MassReassignment,
    OpportunityUpdate,
    QueueStage,
    RuleInput,
    queue_process_id,
)
from tests.records_partners import (
    batch,
    enable_partner_management,
    history_text,
    lead_rows,
    new_partner,
    owners,
    queue_request,
)
from tests.workflows.harness import running_worker, start_process
from worker import WORKFLOWS, activities_for
from workflows.lead_queue import LeadQueue

CM = "cm-eva"


@pytest.fixture(autouse=True)
async def setting(pool, tmp_path, monkeypatch):
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(tmp_path))
    await enable_partner_management(pool)


async def open_queue(env, q, request):
    handle, answer = await start_process(
        env.client, q, LeadQueue, request, process_id=queue_process_id(request.queue_id)
    )
    assert not isinstance(answer, Exception), answer
    return handle


async def add(handle, rows, actor: str = "staff"):
    return await handle.execute_update(
        LeadQueue.add_leads, LeadBatch(actor=actor, batch=batch(rows))
    )


def queue_of(handle) -> str:
    return handle.id.removeprefix("lead-queue-")


def by_number(lead_ids) -> list[str]:
    return sorted(lead_ids, key=lambda i: int(i.removeprefix("L-")))


async def lead_ids(handle) -> list[str]:
    return by_number((await handle.query(LeadQueue.status)).leads)


async def refused(handle, update, arg) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(update, arg)
    return err.value.cause.message


def claim(user: str, lead_id: str) -> Claim:
    return Claim(actor=user, lead_id=lead_id)


# --- opening and leads arriving ---------------------------------------------------------------


async def test_a_queue_needs_active_partner_accounts(dev_env, pool):
    gone = await new_partner(pool, users=1)
    await pool.execute(
        "UPDATE partner_accounts SET status = 'inactive' WHERE partner_id = $1", gone.id
    )
    plain = await new_partner(pool, account=False)
    async with running_worker(dev_env.client, pool) as q:
        request = queue_request([gone, plain])
        handle, answer = await start_process(
            dev_env.client, q, LeadQueue, request, process_id=queue_process_id(request.queue_id)
        )
        result = await handle.result()
    assert result.stage == QueueStage.REFUSED
    message = answer.cause.message
    assert f"partner account {gone.id} is deactivated" in message
    assert f"{plain.id} is not a partner account" in message
    assert (
        await pool.fetchval("SELECT count(*) FROM lead_queues WHERE id = $1", request.queue_id) == 0
    )


async def test_leads_arrive_singly_and_in_bulk_and_the_same_lead_twice_is_one_lead(dev_env, pool):
    a = await new_partner(pool, users=1)
    rows = lead_rows(3)
    async with running_worker(dev_env.client, pool) as q:
        first = await open_queue(dev_env, q, queue_request([a]))
        other = await open_queue(dev_env, q, queue_request([a]))
        single = await add(first, rows[:1])
        assert "1 new" in single.message
        bulk = await add(first, [*rows, rows[1].model_copy(update={"name": "Same mail"})])
        assert "4 lead(s) received: 2 new" in bulk.message
        ids = await lead_ids(first)
        assert f"2 already in this queue ({ids[0]}, {ids[1]})" in bulk.message
        elsewhere = await add(other, rows[2:])
        assert f"already in another queue ({ids[2]} (queue " in elsewhere.message
        state = await first.query(LeadQueue.status)
    assert len(state.leads) == 3 and len(state.dedupe) == 3
    assert set(state.dedupe.values()) == set(ids)
    assert all("@" not in key for key in state.dedupe)  # hashes, not e-mail addresses
    assert (
        await pool.fetchval("SELECT count(*) FROM leads WHERE queue_id = $1", state.queue_id) == 3
    )
    emails = await pool.fetch("SELECT email FROM leads WHERE id = ANY($1::text[])", ids)
    assert sorted(r["email"] for r in emails) == sorted(r.email for r in rows)


async def test_lead_data_stays_out_of_temporal_history(dev_env, pool):
    a = await new_partner(pool, users=1)
    rows = lead_rows(2)
    async with running_worker(dev_env.client, pool) as q:
        handle = await open_queue(dev_env, q, queue_request([a]))
        await add(handle, rows)
        history = await history_text(handle)
    assert "2 lead(s) received" in history  # payloads are decoded: the checks see into them
    for row in rows:
        for value in (row.email, row.name, row.company, row.phone, row.source):
            assert value not in history


# --- claims -----------------------------------------------------------------------------------


async def test_first_come_first_served_and_once_claimed_no_other_partner_can(dev_env, pool):
    a, b = await new_partner(pool, users=2), await new_partner(pool, users=1)
    async with running_worker(dev_env.client, pool) as q:
        handle = await open_queue(dev_env, q, queue_request([a, b]))
        await add(handle, lead_rows(1))
        (lead,) = await lead_ids(handle)
        racers = [a.users[0], a.users[1], b.users[0]]
        results = await asyncio.gather(
            *(handle.execute_update(LeadQueue.claim_lead, claim(u, lead)) for u in racers),
            return_exceptions=True,
        )
        won = [u for u, r in zip(racers, results, strict=True) if not isinstance(r, BaseException)]
        assert len(won) == 1
        for r in results:
            if isinstance(r, BaseException):
                assert f"lead {lead} is already claimed by {won[0]}" in r.cause.message
        again = await handle.execute_update(LeadQueue.claim_lead, claim(won[0], lead))
        assert "already yours" in again.message
    assert await owners(pool, queue_of(handle)) == {lead: won[0]}


async def test_claim_refused_for_a_partner_not_eligible_for_the_queue(dev_env, pool):
    member = await new_partner(pool, users=1, invited=1)
    outsider = await new_partner(pool, users=1)
    async with running_worker(dev_env.client, pool) as q:
        handle = await open_queue(dev_env, q, queue_request([member]))
        await add(handle, lead_rows(1))
        (lead,) = await lead_ids(handle)
        assert "is not a user of any partner of this queue" in await refused(
            handle, LeadQueue.claim_lead, claim(outsider.users[0], lead)
        )
        assert "has not logged in yet" in await refused(
            handle, LeadQueue.claim_lead, claim(member.invited[0], lead)
        )
        assert "there is no lead L-0 in queue" in await refused(
            handle, LeadQueue.claim_lead, claim(member.users[0], "L-0")
        )
    assert await owners(pool, queue_of(handle)) == {}


async def test_the_claim_cap_counts_open_leads_and_conversion_frees_a_place(dev_env, pool):
    a = await new_partner(pool, users=2)
    async with running_worker(dev_env.client, pool) as q:
        handle = await open_queue(dev_env, q, queue_request([a], cap=2))
        await add(handle, lead_rows(3))
        first, second, third = await lead_ids(handle)
        await handle.execute_update(LeadQueue.claim_lead, claim(a.users[0], first))
        await handle.execute_update(LeadQueue.claim_lead, claim(a.users[1], second))
        message = await refused(handle, LeadQueue.claim_lead, claim(a.users[0], third))
        assert f"partner {a.id} is at the claim cap" in message and "2 open leads of 2" in message
        await handle.execute_update(
            LeadQueue.convert_lead, Conversion(actor=a.users[0], lead_id=first)
        )
        answer = await handle.execute_update(LeadQueue.claim_lead, claim(a.users[0], third))
        assert "holds 2 of 2 open leads" in answer.message
        queue_id = queue_of(handle)
    assert sorted((await owners(pool, queue_id)).values()) == sorted(
        [a.users[0], a.users[1], a.users[0]]
    )


# --- round-robin and assignment rules ---------------------------------------------------------


async def test_round_robin_gives_each_partner_its_turn_and_skips_those_at_the_cap(dev_env, pool):
    a, b, c = (
        await new_partner(pool, users=2),
        await new_partner(pool, users=1),
        await new_partner(pool, users=1),
    )
    async with running_worker(dev_env.client, pool) as q:
        handle = await open_queue(
            dev_env, q, queue_request([a, b, c], cap=3, routing="round-robin")
        )
        answer = await add(handle, lead_rows(6))
        assert "6 given round-robin" in answer.message
        ids = await lead_ids(handle)
        state = await handle.query(LeadQueue.status)
        order = [state.leads[i].owner for i in ids]
        assert order == [a.users[0], b.users[0], c.users[0], a.users[1], b.users[0], c.users[0]]
        # b and c take one more each, a one more: then all are at the cap of 3
        more = await add(handle, lead_rows(4))
        assert "3 given round-robin" in more.message and "1 wait" in more.message
        state = await handle.query(LeadQueue.status)
    held = {p.id: state.open_leads(p.id) for p in (a, b, c)}
    assert held == {a.id: 3, b.id: 3, c.id: 3}
    assert state.count("queued") == 1
    rows = await pool.fetch(
        "SELECT how, count(*) AS n FROM claims WHERE queue_id = $1"
        " AND ended_at IS NULL GROUP BY how",
        state.queue_id,
    )
    assert {r["how"]: r["n"] for r in rows} == {"round-robin": 9}
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM notifications WHERE process_id = $1"
            " AND template = 'leads_assigned'",
            handle.id,
        )
        == 4 + 3
    )


async def test_assignment_rules_first_match_wins_to_a_partner_or_a_queue(dev_env, pool):
    a, b = await new_partner(pool, users=1), await new_partner(pool, users=1)
    async with running_worker(dev_env.client, pool) as q:
        south = await open_queue(dev_env, q, queue_request([a]))
        handle = await open_queue(dev_env, q, queue_request([a, b]))
        south_id = (await south.query(LeadQueue.status)).queue_id

        async def rule(**fields):
            return await handle.execute_update(
                LeadQueue.add_assignment_rule, RuleInput(actor=CM, **fields)
            )

        await rule(country="DE", to_queue=south_id)
        await rule(product="Premium", to_partner=b.id)
        ordered = await rule(country="de", postal_prefix="80", to_partner=a.id, position=1)
        assert [n.split(":")[0] for n in ordered.notes] == ["1. rule 3", "2. rule 1", "3. rule 2"]
        await add(handle, lead_rows(1, country="DE", postal_code="80331", product="Premium"))
        await add(handle, lead_rows(1, country="DE", postal_code="10115", product="Premium"))
        await add(handle, lead_rows(1, country="FR", postal_code="75001", product="Premium"))
        last = await add(handle, lead_rows(1, country="FR", postal_code="75001", product="Basic"))
        assert "1 wait in the queue to be claimed" in last.message
        munich, berlin, paris, basic = await lead_ids(handle)
        state = await handle.query(LeadQueue.status)
        assert (state.leads[munich].owner, state.leads[munich].how) == (a.users[0], "rule")
        assert state.leads[berlin].status == "forwarded"
        assert state.leads[berlin].forwarded_to == south_id
        assert state.leads[paris].owner == b.users[0]
        assert state.leads[basic].status == "queued"
        south_state = await south.query(LeadQueue.status)
        assert berlin in south_state.leads and south_state.leads[berlin].status == "queued"
        # the forwarded lead is claimed in its new queue
        await south.execute_update(LeadQueue.claim_lead, claim(a.users[0], berlin))
        assert "add it to the queue first" in await refused(
            south, LeadQueue.add_assignment_rule, RuleInput(actor=CM, country="DE", to_partner=b.id)
        )
        assert "only a channel manager" in await refused(
            handle,
            LeadQueue.add_assignment_rule,
            RuleInput(actor=a.users[0], country="DE", to_partner=b.id),
        )
    assert await pool.fetchval("SELECT queue_id FROM leads WHERE id = $1", berlin) == south_id
    rules = await pool.fetch(
        "SELECT rule_id, position FROM assignment_rules WHERE queue_id = $1 ORDER BY position",
        state.queue_id,
    )
    assert [(r["rule_id"], r["position"]) for r in rules] == [(3, 1), (1, 2), (2, 3)]


# --- changes of owner by a channel manager ----------------------------------------------------


async def test_change_of_owner_with_and_without_the_notification(dev_env, pool):
    a, b = await new_partner(pool, users=1, invited=1), await new_partner(pool, users=1)
    async with running_worker(dev_env.client, pool) as q:
        handle = await open_queue(dev_env, q, queue_request([a, b], cap=1))
        await add(handle, lead_rows(3))
        first, second, third = await lead_ids(handle)
        await handle.execute_update(LeadQueue.claim_lead, claim(a.users[0], first))
        moved = await handle.execute_update(
            LeadQueue.assign_lead,
            Assignment(actor=CM, lead_id=first, to_user=b.users[0], notify=True),
        )
        assert "now belongs to" in moved.message and "notified by e-mail" in moved.message
        quiet = await handle.execute_update(
            LeadQueue.assign_lead, Assignment(actor=CM, lead_id=second, to_user=b.users[0])
        )
        assert "notified" not in quiet.message
        assert any("above the claim cap" in n for n in quiet.notes)  # a manager may exceed it
        assert (
            "already belongs"
            in (
                await handle.execute_update(
                    LeadQueue.assign_lead, Assignment(actor=CM, lead_id=second, to_user=b.users[0])
                )
            ).message
        )
        assert "has not logged in yet" in await refused(
            handle, LeadQueue.assign_lead, Assignment(actor=CM, lead_id=third, to_user=a.invited[0])
        )
        assert "only a channel manager" in await refused(
            handle,
            LeadQueue.assign_lead,
            Assignment(actor=a.users[0], lead_id=third, to_user=a.users[0]),
        )
        queue_id = queue_of(handle)
    assert await owners(pool, queue_id) == {first: b.users[0], second: b.users[0]}
    history = await pool.fetch(
        "SELECT user_id, how, ended_reason FROM claims WHERE lead_id = $1 ORDER BY id", first
    )
    assert [(r["user_id"], r["how"]) for r in history] == [
        (a.users[0], "claim"),
        (b.users[0], "assignment"),
    ]
    assert history[0]["ended_reason"] == f"owner changed by {CM}"
    notices = await pool.fetch(
        "SELECT recipient_id, payload FROM notifications"
        " WHERE process_id = $1 AND template = 'lead_owner_changed'",
        handle.id,
    )
    assert [(n["recipient_id"], n["payload"]["lead_ids"]) for n in notices] == [
        (b.users[0], [first])
    ]


async def test_mass_reassignment_moves_the_open_leads_and_keeps_converted_ones(dev_env, pool):
    a, b = await new_partner(pool, users=1), await new_partner(pool, users=1)
    async with running_worker(dev_env.client, pool) as q:
        handle = await open_queue(dev_env, q, queue_request([a, b]))
        await add(handle, lead_rows(4))
        ids = await lead_ids(handle)
        for lead in ids[:3]:
            await handle.execute_update(LeadQueue.claim_lead, claim(a.users[0], lead))
        await handle.execute_update(
            LeadQueue.convert_lead, Conversion(actor=a.users[0], lead_id=ids[0])
        )
        answer = await handle.execute_update(
            LeadQueue.reassign_leads,
            MassReassignment(
                actor=CM, from_user=a.users[0], lead_ids=[ids[3]], to_user=b.users[0], notify=True
            ),
        )
        assert answer.message.startswith(f"3 lead(s) now belong to {b.users[0]}")
        assert "notified by one e-mail" in answer.message
        assert "no open leads of" in await refused(
            handle,
            LeadQueue.reassign_leads,
            MassReassignment(actor=CM, from_user=a.users[0], to_user=b.users[0]),
        )
        queue_id = queue_of(handle)
    assert await owners(pool, queue_id) == {
        ids[0]: a.users[0],
        ids[1]: b.users[0],
        ids[2]: b.users[0],
        ids[3]: b.users[0],
    }
    (notice,) = await pool.fetch(
        "SELECT payload FROM notifications WHERE process_id = $1"
        " AND template = 'lead_owner_changed'",
        handle.id,
    )
    assert notice["payload"]["lead_ids"] == [ids[1], ids[2], ids[3]]


# --- conversion and the opportunity -----------------------------------------------------------


async def test_the_owner_converts_a_lead_and_keeps_the_opportunity_up_to_date(dev_env, pool):
    a, b = await new_partner(pool, users=1), await new_partner(pool, users=1)
    async with running_worker(dev_env.client, pool) as q:
        handle = await open_queue(dev_env, q, queue_request([a, b]))
        await add(handle, lead_rows(2))
        lead, other = await lead_ids(handle)
        assert "nobody has claimed it yet" in await refused(
            handle, LeadQueue.convert_lead, Conversion(actor=a.users[0], lead_id=lead)
        )
        await handle.execute_update(LeadQueue.claim_lead, claim(a.users[0], lead))
        assert f"it belongs to {a.users[0]}" in await refused(
            handle, LeadQueue.convert_lead, Conversion(actor=b.users[0], lead_id=lead)
        )
        converted = await handle.execute_update(
            LeadQueue.convert_lead,
            Conversion(actor=a.users[0], lead_id=lead, amount="12500", stage="qualification"),
        )
        opp = f"OPP-{lead}"
        assert f"converted to opportunity {opp}" in converted.message
        assert (
            "already opportunity"
            in (
                await handle.execute_update(
                    LeadQueue.convert_lead, Conversion(actor=a.users[0], lead_id=lead)
                )
            ).message
        )
        assert "is converted to opportunity" in await refused(
            handle, LeadQueue.assign_lead, Assignment(actor=CM, lead_id=lead, to_user=b.users[0])
        )
        close = (await handle.query(LeadQueue.status)).since.date() + timedelta(days=30)
        await handle.execute_update(
            LeadQueue.update_opportunity,
            OpportunityUpdate(
                actor=a.users[0], opportunity_id=opp, stage="proposal", close_date=close
            ),
        )
        assert "only its owner" in await refused(
            handle,
            LeadQueue.update_opportunity,
            OpportunityUpdate(actor=b.users[0], opportunity_id=opp, stage="negotiation"),
        )
        await handle.execute_update(
            LeadQueue.update_opportunity,
            OpportunityUpdate(
                actor=a.users[0], opportunity_id=opp, stage="closed-won", amount="14000"
            ),
        )
        assert "a closed opportunity no longer changes" in await refused(
            handle,
            LeadQueue.update_opportunity,
            OpportunityUpdate(actor=a.users[0], opportunity_id=opp, stage="negotiation"),
        )
        state = await handle.query(LeadQueue.status)
    assert state.leads[lead].status == "converted"
    assert state.leads[other].status == "queued"
    row = await pool.fetchrow("SELECT * FROM opportunities WHERE id = $1", opp)
    assert (row["stage"], str(row["amount"]), row["close_date"], row["owner_user_id"]) == (
        "closed-won",
        "14000.00",
        close,
        a.users[0],
    )
    assert await pool.fetchval("SELECT status FROM leads WHERE id = $1", lead) == "converted"
    actions = [
        r["action"]
        for r in await pool.fetch(
            "SELECT action FROM audit_log WHERE process_id = $1 AND step LIKE 'opportunity-%'"
            " ORDER BY id",
            handle.id,
        )
    ]
    assert actions == [f"opportunity {opp} updated"] * 2


# --- continue-as-new --------------------------------------------------------------------------


@asynccontextmanager
async def worker_with_short_sticky_wait(client, pool):
    """The dev server delays the first task of a run that continued as new less than a second
    after it started, and a step arriving in that delay can leave the task on the worker's
    sticky queue (server log "should have a build ID directive on versioned sticky queue")
    until the sticky schedule-to-start timeout, 10 s by default. Queues in production roll
    over after thousands of events, never within a second; here a short wait keeps the test
    quick."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=activities_for(pool),
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
    ):
        yield queue


async def test_continues_as_new_keeping_leads_and_keys_and_no_claim_is_lost(dev_env, pool):
    partners = [await new_partner(pool, users=2) for _ in range(3)]
    rows = lead_rows(12)
    async with worker_with_short_sticky_wait(dev_env.client, pool) as q:
        handle = await open_queue(dev_env, q, queue_request(partners, cap=4, rollover_after=80))
        await add(handle, rows)
        ids = await lead_ids(handle)
        users = [u for p in partners for u in p.users]
        outcomes: list[str] = []
        gate = asyncio.Semaphore(8)  # the server admits 10 steps in flight per workflow

        async def claim_one(user: str, lead: str) -> None:
            async with gate:
                try:
                    await deliver(
                        handle,
                        LeadQueue.claim_lead,
                        claim(user, lead),
                        update_id=f"claim-{user}-{lead}",
                    )
                    outcomes.append("claimed")
                except WorkflowUpdateFailedError as e:
                    outcomes.append(e.cause.message)

        # every user tries every lead, while the queue rolls over (a run holds ~80 events)
        await asyncio.gather(*(claim_one(u, lead) for lead in ids for u in users))
        state = await handle.query(LeadQueue.status)
        again = await add(handle, rows[:5])
    assert state.runs >= 2
    assert outcomes.count("claimed") == 12
    reasons = [o for o in outcomes if o != "claimed"]
    assert len(reasons) == len(ids) * len(users) - 12
    assert all(" is already claimed by " in r or "claim cap" in r for r in reasons)
    assert by_number(state.leads) == ids and len(state.dedupe) == 12
    assert {state.leads[i].owner for i in ids} <= set(users)
    assert "5 already in this queue" in again.message  # the dedupe keys came along
    assert await owners(pool, state.queue_id) == {i: state.leads[i].owner for i in ids}
    assert all(state.open_leads(p.id) == 4 for p in partners)
