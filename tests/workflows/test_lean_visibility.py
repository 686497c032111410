"""A fast change order writes its search attributes only when a value changes
(kind and account given at start are not written again, the partner id goes with the first
stage, the few milliseconds of `applying` are not written) and does not cancel its reminder
timer when the partner confirms - yet ops see the same attributes at each wait and at the
end. On the real dev server (visibility as in production)."""

import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.converter import PayloadConverter

from domain.change_order import FastChangeRequest, StaffStep, Stage
from tests.records import new_account
from tests.workflows.harness import fast_lines, running_worker
from workflows.fast_change_order import FastChangeOrder
from workflows.visibility import ACCOUNT_ID, PARTNER_ID, PROCESS_KIND, STAGE

KIND = "fast-change-order"


def upserts(history) -> list[dict]:
    """The search attributes each upsert event wrote, decoded (TemporalChangeVersion, the
    SDK's own record of patches, left out should a later change add one)."""
    out = []
    conv = PayloadConverter.default
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes
            written = {
                k: conv.from_payload(v)
                for k, v in fields.indexed_fields.items()
                if k != "TemporalChangeVersion"
            }
            if written:
                out.append(written)
    return out


async def _confirmed_order(dev_env, pool):
    """A fast change order started as the starter starts it and confirmed: (account, the
    update answer at start, its description waiting and at the end, its history)."""
    acc = await new_account(pool, licences={"Premium": 5})
    request = FastChangeRequest(
        account_id=acc.id, pbx_id=acc.pbx_id, lines=fast_lines(Premium=7), requested_by="staff"
    )
    async with running_worker(dev_env.client, pool) as q:
        process_id = f"{KIND}-{acc.id}-{uuid.uuid4().hex[:8]}"
        op = WithStartWorkflowOperation(  # as the starter starts it: kind and account given
            FastChangeOrder.run,
            request,
            id=process_id,
            task_queue=q,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(PROCESS_KIND, KIND), SearchAttributePair(ACCOUNT_ID, acc.id)]
            ),
        )
        answer = await dev_env.client.execute_update_with_start_workflow(
            FastChangeOrder.started, start_workflow_operation=op
        )
        handle = await op.workflow_handle()
        waiting = (await handle.describe()).typed_search_attributes
        await handle.execute_update(FastChangeOrder.confirm, StaffStep(actor="partner-user"))
        assert (await handle.result()).stage == Stage.APPLIED
        return acc, answer, waiting, await handle.describe(), await handle.fetch_history()


async def test_attributes_written_once_each_and_no_timer_cancelled(dev_env, pool):
    acc, answer, waiting, ended, history = await _confirmed_order(dev_env, pool)
    assert answer.stage == Stage.AWAITING_PARTNER
    assert {k.name: waiting.get(k) for k in (PROCESS_KIND, ACCOUNT_ID, PARTNER_ID, STAGE)} == {
        "ProcessKind": KIND,
        "AccountId": acc.id,
        "PartnerId": acc.partner_id,
        "Stage": Stage.AWAITING_PARTNER.value,
    }
    assert ended.typed_search_attributes.get(STAGE) == Stage.APPLIED.value
    assert ended.typed_search_attributes.get(PARTNER_ID) == acc.partner_id
    assert upserts(history) == [
        {"PartnerId": acc.partner_id, "Stage": Stage.AWAITING_PARTNER.value},
        {"Stage": Stage.APPLIED.value},
    ]
    types = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_TIMER_STARTED in types  # the reminder is still set ...
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in types  # ... and left to end with the run


def markers(history) -> list[str]:
    """What each marker event records: a patch by its id, a local activity by its type."""
    conv = PayloadConverter.default
    out = []
    for e in history.events:
        if e.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
            continue
        attrs = e.marker_recorded_event_attributes
        if attrs.marker_name == "core_patch":
            out.append("patch " + conv.from_payload(attrs.details["patch-data"].payloads[0])["id"])
        else:
            data = conv.from_payload(attrs.details["data"].payloads[0])
            out.append(f"local activity {data['activity_type']}")
    return out


async def test_a_run_records_no_patch_marker_and_asks_the_directory_in_its_steps(dev_env, pool):
    """Release 1.0 has one path per process: a run records no patch marker (each would cost a
    TemporalChangeVersion upsert, a visibility write). The start's and the confirmation's
    permissions are checked in those steps' own transactions (tests/workflows/
    test_permissions.py: refused starts and confirmations), so the workflow runs no local
    activity to ask the directory first."""
    _, _, _, _, history = await _confirmed_order(dev_env, pool)
    assert markers(history) == []
