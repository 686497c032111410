"""Moving a queue of the previous release (a `LeadQueue` process, every lead in its state) over
to LeadQueueRouter: the queue's rows in PostgreSQL — leads, owners by claim, rule and turn, an
opportunity, its partners and rules — are what the new process carries on with, under the same
id; the previous run is ended; steps go on as in any queue, the round-robin turn included. And
the changes of owner a channel manager makes in any queue, one lead or many."""

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
    Turn,
    queue_process_id,
)
from domain.steps import StepKey
from tests.records_partners import (
    batch,
    enable_partner_management,
    lead_rows,
    new_partner,
    owners,
    queue_request,
)
from tests.workflows.harness import running_worker, start_process
from tests.workflows.test_lead_queue_router import CM, lead_ids_of, send_step, step
from worker import activities_for, workflow_classes, workflow_runner
from workflows.lead_queue_router import LeadQueueRouter

WORKFLOWS = workflow_classes()  # an unversioned worker's, as the tests run


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
        workflow_runner=workflow_runner(),
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


# --- changes of owner by a channel manager, in any queue --------------------------------------


async def test_a_change_of_owner_one_lead_or_many_with_and_without_the_notification(dev_env, pool):
    a = await new_partner(pool, users=1, invited=1)
    b = await new_partner(pool, users=1)
    request = queue_request([a, b], cap=1)
    client = dev_env.client
    async with running_worker(client, pool) as q:
        await start_process(
            client, q, LeadQueueRouter, request, process_id=queue_process_id(request.queue_id)
        )
        queue = client.get_workflow_handle_for(
            LeadQueueRouter.run, queue_process_id(request.queue_id)
        )
        await queue.execute_update(
            LeadQueueRouter.add_leads, LeadBatch(actor="staff", batch=batch(lead_rows(4)))
        )
        first, second, third, fourth = await lead_ids_of(pool, request.queue_id)

        async def send(kind: str, actor: str = CM, **fields) -> str:
            return await send_step(client, q, step(request.queue_id, kind, actor, **fields))

        assert "is yours" in await send("claim", a.users[0], lead_id=first)
        assert "is yours" in await send("claim", b.users[0], lead_id=fourth)
        moved = await send("assign", lead_id=first, to_user=b.users[0], notify=True)
        assert moved == f"1 lead(s) now belong to {b.users[0]}: {first}; notified by e-mail"
        assert "already belongs" in await send("assign", lead_id=first, to_user=b.users[0])
        refused = await send("assign", lead_id=third, to_user=a.invited[0])
        assert refused == (
            f"refused: {a.invited[0]} cannot receive leads: {a.invited[0]} has not logged in yet"
        )
        # a mass reassignment: the open leads of one user and the leads named; a converted
        # lead keeps its owner; a channel manager may take a partner over its claim cap
        assert "is yours" in await send("claim", a.users[0], lead_id=second)
        assert "converted" in await send("convert", b.users[0], lead_id=fourth)
        many = await send(
            "reassign", from_user=b.users[0], lead_ids=[second, fourth], to_user=a.users[0]
        )
        assert many == f"1 lead(s) now belong to {a.users[0]}: {first}"
        nothing = await send("reassign", from_user=b.users[0], to_user=a.users[0])
        assert nothing == (
            f"refused: no open leads of {b.users[0]} to move to {a.users[0]} in queue "
            f"{request.queue_id}"
        )
    assert await owners(pool, request.queue_id) == {
        first: a.users[0],
        second: a.users[0],
        fourth: b.users[0],
    }
    history = await pool.fetch(
        "SELECT user_id, how, ended_reason FROM claims WHERE lead_id = $1 ORDER BY id", first
    )
    assert [(r["user_id"], r["how"]) for r in history] == [
        (a.users[0], "claim"),
        (b.users[0], "assignment"),
        (a.users[0], "assignment"),
    ]
    assert history[0]["ended_reason"] == f"owner changed by {CM}"
    notices = await pool.fetch(
        "SELECT recipient_id, payload FROM notifications WHERE template = 'lead_owner_changed'"
        " AND payload->>'queue_id' = $1",
        request.queue_id,
    )
    assert [(n["recipient_id"], n["payload"]["lead_ids"]) for n in notices] == [
        (b.users[0], [first])
    ]
