"""Moving a queue of the previous release (a `LeadQueue` process, every lead in its state) over
to LeadQueueRouter: the queue's rows in PostgreSQL — leads, owners by claim, rule and turn, an
opportunity, its partners and rules — are what the new process carries on with, under the same
id; the previous run is ended; steps go on as in any queue, the round-robin turn included."""

import uuid

import pytest
from temporalio import workflow
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.leads import LeadActivities
from cli.leads import legacy_queues, move_queue
from domain.leads import (
    AssignmentRule,
    LeadBatch,
    LeadReceipt,
    LeadStepWrite,
    QueueOpening,
    RouteConfig,
    RuleInput,
    RuleWrite,
    StepKey,
    Turn,
    queue_process_id,
)
from tests.records_partners import batch, enable_partner_management, lead_rows, new_partner, owners
from tests.workflows.test_lead_queue_router import CM, lead_ids_of, send_step, step
from worker import WORKFLOW_RUNNER, WORKFLOWS, activities_for
from workflows.lead_queue_router import LeadQueueRouter


@workflow.defn(name="LeadQueue", sandboxed=False)
class PreviousReleaseQueue:
    """A queue process of the previous release as the move meets it: running under the
    queue's id, its leads and owners already rows in PostgreSQL (that release wrote every
    step there too). Only this test knows the type."""

    @workflow.run
    async def run(self, queue_id: str) -> None:
        await workflow.wait_condition(lambda: False)


@pytest.fixture(autouse=True)
async def setting(pool, tmp_path, monkeypatch):
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(tmp_path))
    await enable_partner_management(pool)


def key(queue_id: str, step_name: str, actor: str = CM) -> StepKey:
    return StepKey(process_id=queue_process_id(queue_id), step=step_name, actor=actor)


async def previous_release_queue(pool, a, b) -> tuple[str, list[AssignmentRule]]:
    """A round-robin queue of partners A and B with two rules (Basic -> B, country FR -> A),
    six leads routed by rule and in turn, one of them claimed back and converted."""
    acts, env = LeadActivities(pool), ActivityEnvironment()
    queue_id = f"q-{uuid.uuid4().hex[:6]}"
    await env.run(
        acts.open_lead_queue,
        QueueOpening(
            key=key(queue_id, "open-queue"),
            queue_id=queue_id,
            name="Trade fair",
            channel_managers=[CM],
            partners=[a.id, b.id],
            claim_cap=10,
            routing="round-robin",
        ),
    )
    rules = [
        AssignmentRule(rule_id=1, product="Basic", to_partner=b.id),
        AssignmentRule(rule_id=2, country="FR", to_partner=a.id),
    ]
    for n, rule in enumerate(rules, 1):
        await env.run(
            acts.add_assignment_rule,
            RuleWrite(key=key(queue_id, f"rule-{n}"), queue_id=queue_id, rule=rule, position=n),
        )
    config = RouteConfig(
        queue_id=queue_id,
        claim_cap=10,
        routing="round-robin",
        partners=[a.id, b.id],
        rules=rules,
        turn=Turn(),
    )
    rows = [*lead_rows(4), *lead_rows(1, product="Basic", start=5), *lead_rows(1, start=6)]
    received = await env.run(
        acts.receive_lead_batch,
        LeadReceipt(key=key(queue_id, "import-1", "staff"), config=config, batch=batch(rows)),
    )
    assert received.given == {"round-robin": 5, "rule": 1}
    first = (await lead_ids_of(pool, queue_id))[0]
    owner = (await owners(pool, queue_id))[first]
    convert = step(queue_id, "convert", owner, lead_id=first)
    done = await env.run(
        acts.lead_step, LeadStepWrite(key=key(queue_id, "convert-1", owner), request=convert)
    )
    assert not done.refused, done.message
    return queue_id, rules


async def listed(client, queue_id: str) -> list[str]:
    """The running queues of the earlier design, once the server's list shows this one (each
    look is a round trip; the list follows the start within moments)."""
    found: list[str] = []
    for _ in range(200):
        found = await legacy_queues(client)
        if queue_id in found:
            break
    return found


async def test_a_queue_of_the_previous_release_moves_with_its_leads_owners_and_rules(dev_env, pool):
    a, b = await new_partner(pool, users=2), await new_partner(pool, users=1)
    queue_id, rules = await previous_release_queue(pool, a, b)
    before = await owners(pool, queue_id)
    client, q = dev_env.client, f"test-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=q,
        workflows=[*WORKFLOWS, PreviousReleaseQueue],
        activities=activities_for(pool),
        workflow_runner=WORKFLOW_RUNNER,
    ):
        previous = await client.start_workflow(
            PreviousReleaseQueue.run, queue_id, id=queue_process_id(queue_id), task_queue=q
        )
        assert queue_id in await listed(client, queue_id)  # what move-lead-queues moves
        moved = await move_queue(client, queue_id, CM, q)
        assert moved.startswith(f"lead queue {queue_id} moved: taken over from the earlier")
        assert "with 6 lead(s)" in moved
        ended = client.get_workflow_handle(previous.id, run_id=previous.result_run_id)
        assert (await ended.describe()).status == WorkflowExecutionStatus.TERMINATED
        queue = client.get_workflow_handle_for(LeadQueueRouter.run, queue_process_id(queue_id))
        state = await queue.query(LeadQueueRouter.status)
        assert (state.stage, state.name, state.channel_managers) == ("open", "Trade fair", [CM])
        assert (state.partners, state.rules, state.routing) == ([a.id, b.id], rules, "round-robin")
        assert set(state.rosters) == {a.id, b.id}

        # the owners are what they were, and the steps go on as in any queue
        assert await owners(pool, queue_id) == before
        converted = (await lead_ids_of(pool, queue_id))[0]
        again = step(queue_id, "convert", before[converted], lead_id=converted)
        assert "is already opportunity" in await send_step(client, q, again)
        taken = next(x for x, u in before.items() if u == b.users[0])
        refused = await send_step(client, q, step(queue_id, "claim", a.users[0], lead_id=taken))
        assert refused == f"refused: lead {taken} is already claimed by {b.users[0]} ({b.id})"
        answer = await queue.execute_update(
            LeadQueueRouter.add_assignment_rule,
            RuleInput(actor=CM, country="DK", to_partner=b.id),
        )
        assert answer.message.startswith("rule 3: country DK")  # numbers go on after its rules
        # round-robin goes on where the previous run left it: after B, A's next user
        last = await owners(pool, queue_id)
        await queue.execute_update(
            LeadQueueRouter.add_leads,
            LeadBatch(actor="staff", batch=batch(lead_rows(1, start=7))),
        )
        (new,) = set(await lead_ids_of(pool, queue_id)) - set(last)
        assert state.turn.last_partner == a.id
        assert (await owners(pool, queue_id))[new] == b.users[0]

        # moved once: a second move leaves it as it is
        assert "already a LeadQueueRouter, nothing to move" in await move_queue(
            client, queue_id, CM, q
        )
