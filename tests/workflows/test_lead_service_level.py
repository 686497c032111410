"""The service level of claims decided at the door is durable: the queue's process keeps the
timer, so a claim not worked in time goes back to the queue even when no worker ran at the
moment it was due — at the worker's return. The dev server in real time (the time-skipping
server does not move its clock while a workflow task waits for a worker, which is the very
moment tested here), the shortest service level (one minute), real activities and
PostgreSQL.

The minute itself is not waited for: the claims are moved back in PostgreSQL to have been
made most of a minute ago, and the queue's process is carried on (as after a continue-as-new)
with a look due at once. That look reads the claims' due time from PostgreSQL and arms the
process's timer for it, as any look does; the worker then stops before the claim is due. That
the process opened with a service level looks by itself a minute later is in the replayed
history `lead_queue_router_service_level_recalled`."""

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from domain.leads import LeadBatch, LeadStepRequest, RouterRequest, queue_process_id
from store import lead_claims
from tests.records_partners import batch, enable_partner_management, lead_rows, new_partner
from tests.workflows.harness import WORKFLOWS, start_process
from worker import activities_for, workflow_runner
from workflows.lead_queue_router import LeadQueueRouter

CM = "cm-eva"
WAIT_FOR_WORKER = 60.0  # seconds a returning worker has to run the overdue look
DUE_IN = timedelta(seconds=8)  # the claims are due this long after the move back: the
# worker's look and its timer come first, and the worker stops before the claim is due
PAST_DUE = 3.0  # seconds past the due time the worker stays away


@pytest.fixture(autouse=True)
async def setting(pool, tmp_path, monkeypatch):
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(tmp_path))
    await enable_partner_management(pool)


@asynccontextmanager
async def worker_on(client, pool, task_queue: str):
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=activities_for(pool),
        workflow_runner=workflow_runner(),
    ):
        yield


async def status_of(pool, lead_id: str) -> str:
    return await pool.fetchval("SELECT status FROM leads WHERE id = $1", lead_id)


async def events_of(handle) -> list[EventType.ValueType]:
    return [e.event_type for e in (await handle.fetch_history()).events]


async def test_a_claim_due_while_the_worker_was_down_goes_back_when_it_returns(dev_env, pool):
    env = dev_env
    partner = await new_partner(pool, users=1)
    user = partner.users[0]
    task_queue = f"test-{uuid.uuid4().hex[:8]}"
    queue_id = f"q-{uuid.uuid4().hex[:6]}"
    request = RouterRequest(
        queue_id=queue_id,
        name=queue_id,
        channel_managers=[CM],
        partners=[partner.id],
        claim_cap=10,
        routing="claim",
        work_within_minutes=1,
        requested_by=CM,
    )
    async with worker_on(env.client, pool, task_queue):
        opened, answer = await start_process(
            env.client, task_queue, LeadQueueRouter, request, process_id=queue_process_id(queue_id)
        )
        assert not isinstance(answer, Exception), answer
        await opened.execute_update(
            LeadQueueRouter.add_leads, LeadBatch(actor="staff", batch=batch(lead_rows(2)))
        )
        leads = [
            r["id"]
            for r in await pool.fetch(
                "SELECT id FROM leads WHERE queue_id = $1 ORDER BY id", queue_id
            )
        ]
        for i, lead in enumerate(leads):
            done = await lead_claims.claim(
                pool,
                LeadStepRequest(queue_id=queue_id, kind="claim", actor=user, lead_id=lead),
                f"claim{i:04d}",
            )
            assert done.ok and "within 1 minute(s)" in done.message, done
        # the second is worked in time: accepted
        await pool.execute("UPDATE leads SET status = 'accepted' WHERE id = $1", leads[1])

        # most of the minute passed: the claims made so long ago that they are due shortly
        due = await pool.fetchval(
            "UPDATE claims SET started_at = started_at - (due_at - now()) + $2::interval,"
            " due_at = now() + $2::interval WHERE queue_id = $1 RETURNING due_at",
            queue_id,
            DUE_IN,
        )
        # the queue's process carried on with a look due at once: it reads the due time
        state = await opened.query(LeadQueueRouter.status)
        await opened.terminate("carried on with a look due now")
        handle = await env.client.start_workflow(
            LeadQueueRouter.run,
            request.model_copy(
                update={"carried": state.model_copy(update={"next_recall": state.since})}
            ),
            id=queue_process_id(queue_id),
            task_queue=task_queue,
        )
        async with asyncio.timeout(WAIT_FOR_WORKER):  # the look done, its timer armed
            while EventType.EVENT_TYPE_TIMER_STARTED not in await events_of(handle):
                await asyncio.sleep(0.1)  # a poll of the history, bounded by the timeout
        assert (await handle.query(LeadQueueRouter.status)).next_recall == due

    # no worker while the claim comes due: nothing can send it back
    now = await pool.fetchval("SELECT now()")
    assert now < due, "the worker stopped after the claim was due: the box was too slow"
    await asyncio.sleep((due - now).total_seconds() + PAST_DUE)  # the outage itself
    assert await status_of(pool, leads[0]) == "owned"
    assert EventType.EVENT_TYPE_TIMER_FIRED in await events_of(handle)  # due, no worker

    # the returning worker: a client of its own, as a restarted worker process has
    returning = await Client.connect(
        env.client.service_client.config.target_host,
        namespace=env.client.namespace,
        identity="the-returning-worker",
        data_converter=env.client.data_converter,
    )
    async with worker_on(returning, pool, task_queue):
        async with asyncio.timeout(WAIT_FOR_WORKER):
            while await status_of(pool, leads[0]) != "queued":
                await asyncio.sleep(0.2)  # a poll of PostgreSQL, bounded by the timeout
        state = await handle.query(LeadQueueRouter.status)

    assert await status_of(pool, leads[1]) == "accepted"
    assert state.received.get("recalled") == 1
    ended = await pool.fetchval(
        "SELECT ended_reason FROM claims WHERE lead_id = $1 ORDER BY id DESC LIMIT 1", leads[0]
    )
    assert ended == "not worked within 1 minute(s)"
    told = await pool.fetch(
        "SELECT recipient_id FROM notifications WHERE template = 'lead_recalled'"
        " AND process_id = $1",
        queue_process_id(queue_id),
    )
    assert sorted(r["recipient_id"] for r in told) == sorted([user, CM])
    await handle.terminate("test over")
