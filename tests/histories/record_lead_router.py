"""Records the histories of the lead queues (LeadQueueRouter, LeadStep) that
tests/test_replay.py replays, a queue taken over from the previous release among them.

    .venv/bin/python -m tests.histories.record_lead_router [service-level]

With `service-level`, only the queue whose service level sends back claims decided at the
door (the others are left as recorded).
"""

import asyncio
import os
import sys
import tempfile
import uuid
from datetime import timedelta

from client.processes import run_lead_step
from domain.leads import (
    LeadBatch,
    LeadsReturned,
    LeadStepRequest,
    QueuePartners,
    RouterRequest,
    RuleInput,
    lead_step_process_id,
    queue_process_id,
)
from store import lead_claims
from tests.histories.recording import recording, save
from tests.records_partners import batch, lead_rows, new_partner, tag
from tests.workflows.harness import running_worker, start_process
from tests.workflows.test_lead_queue import previous_release_queue
from workflows.lead_queue_router import LeadQueueRouter
from workflows.lead_step import LeadStep

CM = "cm-eva"


def request(partners, **kw) -> RouterRequest:
    queue_id = f"q-{tag().lower()}"
    return RouterRequest(
        queue_id=queue_id,
        name=f"Queue {queue_id}",
        channel_managers=[CM],
        partners=[p.id for p in partners],
        requested_by=CM,
        **kw,
    )


async def router(env, pool, q) -> None:
    """Round-robin with a rule, a lead given back (rerouted), a partner added."""
    a, b, c = [await new_partner(pool, users=2) for _ in range(3)]
    r = request([a, b], routing="round-robin", claim_cap=5)
    queue, _ = await start_process(
        env.client, q, LeadQueueRouter, r, process_id=queue_process_id(r.queue_id)
    )
    await queue.execute_update(
        LeadQueueRouter.add_assignment_rule,
        RuleInput(actor=CM, product="Business", to_partner=b.id),
    )
    await queue.execute_update(
        LeadQueueRouter.add_leads,
        LeadBatch(actor="staff", batch=batch(lead_rows(3) + lead_rows(1, product="Business"))),
    )
    owned = await pool.fetchrow(
        "SELECT lead_id, user_id FROM claims WHERE queue_id = $1"
        " AND ended_at IS NULL ORDER BY lead_id LIMIT 1",
        r.queue_id,
    )
    back = LeadStepRequest(
        queue_id=r.queue_id,
        kind="not-interested",
        actor=owned["user_id"],
        lead_id=owned["lead_id"],
        reason="no budget this year",
    )
    pid = lead_step_process_id(back, "record")
    await run_lead_step(env.client, back, pid, task_queue=q)
    step = env.client.get_workflow_handle(pid)
    await step.result()
    # as a recall by the service level (or a deactivation) tells it: given out again
    await queue.signal(LeadQueueRouter.leads_returned, LeadsReturned(lead_ids=[owned["lead_id"]]))
    for _ in range(200):
        if (
            await pool.fetchval("SELECT status FROM leads WHERE id = $1", owned["lead_id"])
            == "owned"
        ):
            break
        await asyncio.sleep(0.05)
    await queue.execute_update(
        LeadQueueRouter.add_queue_partners, QueuePartners(actor=CM, partners=[c.id])
    )
    await save(queue, "lead_queue_router_rule_round_robin_given_back")
    await save(step, "lead_step_not_interested")


async def steps(env, pool, q) -> None:
    """A claim refused; a claim watched by the service level and recalled."""
    p = await new_partner(pool, users=1, invited=1)
    r = request([p], work_within_minutes=30)
    queue, _ = await start_process(
        env.client, q, LeadQueueRouter, r, process_id=queue_process_id(r.queue_id)
    )
    await queue.execute_update(
        LeadQueueRouter.add_leads, LeadBatch(actor="staff", batch=batch(lead_rows(1)))
    )
    lead = await pool.fetchval("SELECT id FROM leads WHERE queue_id = $1", r.queue_id)
    for actor, name in (
        (p.invited[0], "lead_step_claim_refused"),
        (p.users[0], "lead_step_claim_not_worked_recalled"),
    ):
        claim = LeadStepRequest(queue_id=r.queue_id, kind="claim", actor=actor, lead_id=lead)
        handle = await env.client.start_workflow(
            LeadStep.run, claim, id=lead_step_process_id(claim, uuid.uuid4().hex[:8]), task_queue=q
        )
        try:
            await handle.execute_update(LeadStep.answer)
        except Exception:  # noqa: BLE001 - the refusal is what is recorded
            pass
        await handle.result()  # time skips: the service level's timer fires at once
        await save(handle, name)


async def taken_over(env, pool, q) -> None:
    """A queue of the previous release (its rows: leads by rule and in turn, an opportunity,
    two rules) carried on; a rule and a lead added after."""
    a, b = await new_partner(pool, users=2), await new_partner(pool, users=1)
    queue_id, _ = await previous_release_queue(pool, a, b)
    r = RouterRequest(queue_id=queue_id, take_over=True, requested_by=CM)
    queue, _ = await start_process(
        env.client, q, LeadQueueRouter, r, process_id=queue_process_id(queue_id)
    )
    await queue.execute_update(
        LeadQueueRouter.add_assignment_rule, RuleInput(actor=CM, country="DK", to_partner=b.id)
    )
    await queue.execute_update(
        LeadQueueRouter.add_leads, LeadBatch(actor="staff", batch=batch(lead_rows(1, start=7)))
    )
    await save(queue, "lead_queue_router_taken_over_rule_lead_in_turn")


async def service_level(env, pool, q) -> None:
    """Two claims decided at the door in a queue with a service level, neither worked: the
    queue's process looks when they are due and sends both back in one step."""
    p = await new_partner(pool, users=1)
    r = request([p], work_within_minutes=30)
    queue, _ = await start_process(
        env.client, q, LeadQueueRouter, r, process_id=queue_process_id(r.queue_id)
    )
    await queue.execute_update(
        LeadQueueRouter.add_leads, LeadBatch(actor="staff", batch=batch(lead_rows(2)))
    )
    for row in await pool.fetch("SELECT id FROM leads WHERE queue_id = $1", r.queue_id):
        claim = LeadStepRequest(
            queue_id=r.queue_id, kind="claim", actor=p.users[0], lead_id=row["id"]
        )
        assert (await lead_claims.claim(pool, claim, uuid.uuid4().hex[:12])).ok
    await env.sleep(timedelta(minutes=61))
    async with asyncio.timeout(60):
        while (await queue.query(LeadQueueRouter.status)).received.get("recalled") != 2:
            await asyncio.sleep(0.2)  # the worker runs the looks the skipped time made due
    await save(queue, "lead_queue_router_service_level_recalled")


async def main() -> None:
    os.environ.setdefault("PARTNERFLOW_DOCUMENTS_DIR", tempfile.mkdtemp())
    async with recording() as r:
        await r.pool.execute(
            "INSERT INTO partner_management (enabled_by, process_id)"
            " VALUES ('recorder', 'recorder') ON CONFLICT DO NOTHING"
        )
        if sys.argv[1:] == ["service-level"]:
            async with running_worker(r.time_env.client, r.pool) as q:
                await service_level(r.time_env, r.pool, q)
            return
        async with running_worker(r.dev_env.client, r.pool) as q:
            await router(r.dev_env, r.pool, q)
            await taken_over(r.dev_env, r.pool, q)
        async with running_worker(r.time_env.client, r.pool) as q:
            await steps(r.time_env, r.pool, q)
            await service_level(r.time_env, r.pool, q)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
