"""The patching policy's worked example (README "Patching policy"): the invoicing run's
`numbering-seen-by-every-run` patch. Before it, a run waiting for the numbering review only
waited (no command); since, it also polls with a durable timer (new commands on that path).
The invoicing run auto-upgrades, so a run started before the change meets the new code.

- a run started on the code before the patch (the patch reported absent, exactly as that
  code behaved) is picked up by a worker with today's code, is reviewed and finishes there;
- the same history, and the one saved under the previous release, break the replay when
  the patch guard is taken away: CI catches an unpatched command change."""

import base64
import json
import uuid
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

from domain.psa import InvoicingRequest, InvoicingStage, NumberingReview
from tests.records_psa import new_partner, onboarded_clients
from tests.workflows.harness import start_process
from worker import WORKFLOWS, activities_for
from workflows.invoicing_run import SEES_OTHER_REVIEWS, InvoicingRun

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
SAVED_BEFORE_THE_PATCH = HISTORIES / "invoicing_run_reviewed_and_issued.json"


@contextmanager
def patch_reported(present: bool, monkeypatch):
    """The code as it was before the patch (`present=False`: the patch's else-branch, no
    marker written) or without its guard (`present=True`: the new branch for everyone)."""
    original = workflow.patched
    monkeypatch.setattr(
        workflow, "patched", lambda id: present if id == SEES_OTHER_REVIEWS else original(id)
    )
    try:
        yield
    finally:
        monkeypatch.setattr(workflow, "patched", original)


def patch_markers(history: dict) -> list[str]:
    found = []
    for event in history["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if marker and marker["markerName"] == "core_patch":
            data = marker["details"]["patch-data"]["payloads"][0]["data"]
            found.append(json.loads(base64.b64decode(data))["id"])
    return found


async def replay_failure(workflow_id: str, history: dict, monkeypatch, present: bool | None):
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    run = WorkflowHistory.from_json(workflow_id, history)
    if present is None:
        result = await replayer.replay_workflow(run, raise_on_replay_failure=False)
    else:
        with patch_reported(present, monkeypatch):
            result = await replayer.replay_workflow(run, raise_on_replay_failure=False)
    return result.replay_failure


async def test_a_run_started_before_the_patch_finishes_on_the_new_code(dev_env, pool, monkeypatch):
    client, queue = dev_env.client, f"test-{uuid.uuid4().hex[:8]}"
    partner = await new_partner(pool)
    await onboarded_clients(pool, partner, 2)

    def worker() -> Worker:  # a new worker: nothing cached, the run is replayed from history
        return Worker(
            client, task_queue=queue, workflows=WORKFLOWS, activities=activities_for(pool)
        )

    with patch_reported(False, monkeypatch):  # the previous release
        async with worker():
            handle, answer = await start_process(
                client,
                queue,
                InvoicingRun,
                InvoicingRequest(
                    partner_id=partner.id, period=date(2026, 3, 1), requested_by="staff"
                ),
                process_id=f"invoicing-run-{partner.id}-2026-03-{uuid.uuid4().hex[:4]}",
            )
            assert answer.stage == InvoicingStage.AWAITING_REVIEW, answer
    before = json.loads((await handle.fetch_history()).to_json())
    assert SEES_OTHER_REVIEWS not in patch_markers(before)

    async with worker():  # today's code
        reviewed = await handle.execute_update(
            InvoicingRun.review_numbering,
            NumberingReview(actor="anna", prefix="RE-", next_number=1000),
        )
        assert reviewed.message.endswith("the first invoice will be RE-001000")
        result = await handle.result()
    assert (result.stage, result.issued) == (InvoicingStage.ISSUED, 2)
    after = json.loads((await handle.fetch_history()).to_json())
    assert SEES_OTHER_REVIEWS not in patch_markers(after)  # it kept the old path to the end

    # The guard is what made that possible: without it, the run's history no longer replays.
    assert await replay_failure(handle.id, after, monkeypatch, present=None) is None
    failure = await replay_failure(handle.id, after, monkeypatch, present=True)
    assert failure is not None and "Nondeterminism" in str(failure), failure


async def test_the_history_saved_under_the_previous_release_needs_the_patch(monkeypatch):
    saved = json.loads(SAVED_BEFORE_THE_PATCH.read_text())
    assert SEES_OTHER_REVIEWS not in patch_markers(saved["history"])
    assert (
        await replay_failure(saved["workflow_id"], saved["history"], monkeypatch, present=None)
        is None
    )
    failure = await replay_failure(
        saved["workflow_id"], saved["history"], monkeypatch, present=True
    )
    assert failure is not None and "Nondeterminism" in str(failure), failure


@contextmanager
def patch_deprecated(monkeypatch):
    """Stage 2 of the policy: `workflow.deprecate_patch(id)` and only the new branch."""
    original = workflow.patched

    def deprecated(id: str) -> bool:
        if id != SEES_OTHER_REVIEWS:
            return original(id)
        workflow.deprecate_patch(id)
        return True

    monkeypatch.setattr(workflow, "patched", deprecated)
    try:
        yield
    finally:
        monkeypatch.setattr(workflow, "patched", original)


async def test_a_deprecated_patch_replays_what_ran_with_the_patch_not_what_ran_before(monkeypatch):
    """Why a patch stays `patched` until the processes started before it are gone: the
    deprecated form replays histories that took the patch, not those from before it."""
    with_patch = json.loads((HISTORIES / "invoicing_run_sees_another_runs_review.json").read_text())
    before = json.loads(SAVED_BEFORE_THE_PATCH.read_text())
    assert SEES_OTHER_REVIEWS in patch_markers(with_patch["history"])
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    with patch_deprecated(monkeypatch):
        ok = await replayer.replay_workflow(
            WorkflowHistory.from_json(with_patch["workflow_id"], with_patch["history"]),
            raise_on_replay_failure=False,
        )
        broken = await replayer.replay_workflow(
            WorkflowHistory.from_json(before["workflow_id"], before["history"]),
            raise_on_replay_failure=False,
        )
    assert ok.replay_failure is None, ok.replay_failure
    assert "Nondeterminism" in str(broken.replay_failure), broken.replay_failure
