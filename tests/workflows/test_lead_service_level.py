"""The service level of claims decided at the door is durable: the queue's process keeps the
timer, so a claim not worked in time goes back to the queue even when no worker ran at the
moment it was due — at the worker's return. The dev server in real time (the time-skipping
server does not move its clock while a workflow task waits for a worker, which is the very
moment tested here), the shortest service level (one minute), real activities and
PostgreSQL."""

import asyncio
import uuid
from contextlib import asynccontextmanager

import pytest
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
PAST_DUE = 5.0  # seconds past the due time the worker stays away


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
        handle, answer = await start_process(
            env.client, task_queue, LeadQueueRouter, request, process_id=queue_process_id(queue_id)
        )
        assert not isinstance(answer, Exception), answer
        await handle.execute_update(
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

    # no worker while the claim comes due: nothing can send it back
    due = await pool.fetchval("SELECT due_at FROM claims WHERE lead_id = $1", leads[0])
    now = await pool.fetchval("SELECT now()")
    await asyncio.sleep((due - now).total_seconds() + PAST_DUE)  # the outage itself
    assert await status_of(pool, leads[0]) == "owned"

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
