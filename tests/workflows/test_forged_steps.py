"""Steps bound to their process and their kind: every input accepted in a few real histories,
copied out by someone who reaches Temporal but holds no key ring, and sent to other
processes, as other steps, again under a new update id and as new starts, is refused before
anything is written, each attempt one security_log row; the processes go on working.

On the dev server (the time-skipping server answers a rejected update with "not found")."""

import asyncio
import uuid
from dataclasses import dataclass

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import RawValue, WorkflowIDConflictPolicy
from temporalio.worker import Worker

from codec import (
    EncryptionCodec,
    client_interceptors,
    data_converter,
    new_key_entry,
    parse_key_ring,
)
from codec.binding import STEP_REFUSED
from domain.change_order import Cancellation, QuoteStep, StaffStep, Stage
from domain.leads import LeadBatch, LeadsReturned, queue_process_id
from store.people import record_refusal
from tests.records import new_account
from tests.records_partners import batch, enable_partner_management, lead_rows, new_partner
from tests.workflows.harness import WORKFLOWS, fast_lines, quote_lines
from tests.workflows.test_change_order import request as change_request
from tests.workflows.test_fast_change_order import request as fast_request
from tests.workflows.test_lead_queue_router import lead_ids_of, router_request
from worker import activities_for, refusals_written, workflow_runner
from workflows.change_order import ChangeOrder
from workflows.fast_change_order import FastChangeOrder
from workflows.lead_queue_router import LeadQueueRouter

# The steps of each process that take an input, as an attacker would name them.
STEPS = {
    "ChangeOrder": ["mark_primary", "publish", "mark_complete", "confirm", "cancel"],
    "FastChangeOrder": ["confirm", "cancel"],
}


@dataclass
class Accepted:
    process_id: str
    workflow: str
    step: str  # "start" or the update's name
    payload: Payload


async def accepted_inputs(attacker: Client, process_id: str) -> list[Accepted]:
    """Every start and update input the process's history holds (as `temporal workflow
    show -o json` gives them)."""
    found = []
    workflow = ""
    async for event in attacker.get_workflow_handle(process_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            attrs = event.workflow_execution_started_event_attributes
            workflow = attrs.workflow_type.name
            found += [Accepted(process_id, workflow, "start", p) for p in attrs.input.payloads]
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            found += [
                Accepted(process_id, workflow, request.input.name, p)
                for p in request.input.args.payloads
            ]
    return found


async def refusal_rows(pool, process_ids: list[str]) -> list:
    return await pool.fetch(
        "SELECT * FROM security_log WHERE process_id = ANY($1) AND refusal_key IS NOT NULL",
        process_ids,
    )


async def rows_when_written(pool, process_ids: list[str], expected: int) -> list:
    """The refusal rows once the worker has written `expected` of them (written beside the
    workflow, so they may follow the refusal by a few milliseconds), or what there is after
    20 s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while len(rows := await refusal_rows(pool, process_ids)) < expected:
        if loop.time() > deadline:
            break
        await asyncio.sleep(0.05)
    return rows


@pytest.fixture
async def keyed(dev_env):
    """A client with a key ring (the starter's, the worker's) and one without (the attacker,
    who reaches Temporal only)."""
    codec = EncryptionCodec(parse_key_ring(new_key_entry("t1")))
    target = dev_env.client.service_client.config.target_host
    namespace = dev_env.client.namespace
    client = await Client.connect(
        target,
        namespace=namespace,
        data_converter=data_converter(codec),
        interceptors=client_interceptors(codec),
    )
    attacker = await Client.connect(target, namespace=namespace)
    return client, attacker


async def start(client: Client, queue: str, workflow, request) -> WorkflowHandle:
    """Started as the starter does (update-with-start of `started`), with the key ring."""
    if workflow is LeadQueueRouter:
        process_id = queue_process_id(request.queue_id)
    else:
        kind = "change-order" if workflow is ChangeOrder else "fast-change-order"
        process_id = f"{kind}-{request.account_id}-{uuid.uuid4().hex[:8]}"
    op = WithStartWorkflowOperation(
        workflow.run,
        request,
        id=process_id,
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    await asyncio.wait_for(
        client.execute_update_with_start_workflow(workflow.started, start_workflow_operation=op),
        30,
    )
    return op._workflow_handle.result()  # type: ignore[attr-defined]


async def test_inputs_copied_from_histories_are_refused_everywhere_and_logged(dev_env, pool, keyed):
    client, attacker = keyed
    queue = f"test-{uuid.uuid4().hex[:8]}"
    accounts = [await new_account(pool, licences={"Premium": 2}) for _ in range(4)]
    async with (
        refusals_written(pool),
        Worker(
            client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activities=activities_for(pool),
            workflow_runner=workflow_runner(),
        ),
    ):
        # Real histories: two change orders with a quote marked primary and published, a
        # fast change order confirmed (ended), one waiting for its partner.
        orders = []
        for acc in accounts[:2]:
            handle = await start(
                client, queue, ChangeOrder, change_request(acc, quote_lines(("Premium", 1)))
            )
            quote_id = (await handle.query(ChangeOrder.status)).current_quote.quote_id
            step = QuoteStep(actor="staff", quote_id=quote_id)
            await handle.execute_update(ChangeOrder.mark_primary, step)
            await handle.execute_update(ChangeOrder.publish, step)
            orders.append(handle)
        confirmed = await start(
            client, queue, FastChangeOrder, fast_request(accounts[2], fast_lines(Premium=3))
        )
        await confirmed.execute_update(FastChangeOrder.confirm, StaffStep(actor="staff"))
        assert (await confirmed.result()).stage == Stage.APPLIED
        waiting = await start(
            client, queue, FastChangeOrder, fast_request(accounts[3], fast_lines(Premium=4))
        )
        running = [*orders, waiting]
        copied = []
        for handle in [*orders, confirmed, waiting]:
            copied += await accepted_inputs(attacker, handle.id)
        assert {c.step for c in copied} == {"start", "mark_primary", "publish", "confirm"}
        assert len(copied) == 9
        before = {h.id: (await h.query("status"))["revision"] for h in running}

        # Each copied input to every running process (its own too), as every step that
        # takes an input, under a new update id.
        attempts, accepted = 0, []
        for c in copied:
            for target in running:
                kind = (await target.describe()).workflow_type
                for step in STEPS[kind]:
                    attempts += 1
                    try:
                        await attacker.get_workflow_handle(target.id).execute_update(
                            step, RawValue(c.payload), id=f"forged-{uuid.uuid4().hex[:8]}"
                        )
                        accepted.append((c, target.id, step))
                    except WorkflowUpdateFailedError as e:
                        assert "refused" in str(e.cause), e.cause
        assert accepted == []

        # Each copied input as the start of a new process of its kind.
        starts = []
        for c in copied:
            new_id = f"forged-start-{uuid.uuid4().hex[:8]}"
            handle = await attacker.start_workflow(
                c.workflow, RawValue(c.payload), id=new_id, task_queue=queue
            )
            starts.append(new_id)
            with pytest.raises(WorkflowFailureError) as failed:
                await asyncio.wait_for(handle.result(), 30)
            assert STEP_REFUSED in repr(failed.value.cause) or "refused" in str(failed.value.cause)

        rows = await rows_when_written(
            pool, [h.id for h in running] + starts, attempts + len(starts)
        )
        assert len(rows) == attempts + len(starts)
        assert {r["checked_in"] for r in rows} == {"workflow"}

        # Nothing changed, nothing was written for the forged starts, and the processes go
        # on: the waiting order is confirmed by its partner.
        after = {h.id: (await h.query("status"))["revision"] for h in running}
        assert after == before
        written = await pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE process_id = ANY($1)", starts
        )
        assert written == 0
        answer = await waiting.execute_update(FastChangeOrder.confirm, StaffStep(actor="staff"))
        assert answer.stage == Stage.APPLIED
        for handle in orders:
            desc = await handle.describe()
            assert desc.raw_description.pending_workflow_task.attempt <= 1
            await handle.execute_update(
                ChangeOrder.cancel, Cancellation(actor="staff", reason="the test is over")
            )


async def signals_in(attacker: Client, process_id: str) -> list[tuple[str, Payload]]:
    found = []
    async for event in attacker.get_workflow_handle(process_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attrs = event.workflow_execution_signaled_event_attributes
            found += [(attrs.signal_name, p) for p in attrs.input.payloads]
    return found


async def test_a_copied_signal_is_ignored_and_logged_and_the_queue_goes_on(
    dev_env, pool, keyed, tmp_path, monkeypatch
):
    """A signal a queue took (leads given back), sent again, as another signal, or to
    another queue is dropped (a signal has no answer), logged once each, and the queue
    keeps working."""
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(tmp_path))
    await enable_partner_management(pool)
    client, attacker = keyed
    queue = f"test-{uuid.uuid4().hex[:8]}"
    partner = await new_partner(pool, users=1)
    async with (
        refusals_written(pool),
        Worker(
            client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activities=activities_for(pool),
            workflow_runner=workflow_runner(),
        ),
    ):
        routers = []
        for _ in range(2):
            request = router_request([partner])
            handle = await start(client, queue, LeadQueueRouter, request)
            await handle.execute_update(
                LeadQueueRouter.add_leads, LeadBatch(actor="staff", batch=batch(lead_rows(1)))
            )
            routers.append((handle, request))
        (first, request), (other, _) = routers
        (lead,) = await lead_ids_of(pool, request.queue_id)
        # A signal the queue took (as a lead step sends it when its lead comes back).
        await first.signal(LeadQueueRouter.leads_returned, LeadsReturned(lead_ids=[lead]))
        (signal,) = [s for s in await signals_in(attacker, first.id) if s[0] == "leads_returned"]
        before = {h.id: await h.query("status") for h, _ in routers}

        attempts = [
            (first.id, "leads_returned"),  # again
            (first.id, "leads_forwarded"),  # as another signal
            (first.id, "partner_roster_changed"),
            (other.id, "leads_returned"),  # to another queue
        ]
        for target, name in attempts:
            await attacker.get_workflow_handle(target).signal(name, RawValue(signal[1]))
        rows = await rows_when_written(pool, [h.id for h, _ in routers], len(attempts))
        assert len(rows) == len(attempts)
        assert {r["checked_in"] for r in rows} == {"workflow"}
        # The queues go on (a step after the signals is answered: they were taken, dropped).
        await other.execute_update(
            LeadQueueRouter.add_leads, LeadBatch(actor="staff", batch=batch(lead_rows(1)))
        )
        after = {h.id: await h.query("status") for h, _ in routers}
        assert after[first.id] == before[first.id]
        assert after[other.id] != before[other.id]  # its new lead


async def test_a_refusal_reported_again_is_one_row(pool):
    """A history replayed reads its forged input again and reports the same refusal."""
    async with pool.acquire() as conn:
        for _ in range(2):
            await record_refusal(
                conn,
                actor="unknown",
                permission="ChangeOrder.confirm",
                process_id="change-order-X-1",
                reason="sealed for another process",
                checked_in="workflow",
                quiet=True,
                key=f"same-{id(conn)}",
            )
        count = await conn.fetchval(
            "SELECT count(*) FROM security_log WHERE refusal_key = $1", f"same-{id(conn)}"
        )
    assert count == 1
