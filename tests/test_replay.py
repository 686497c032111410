"""Saved histories replay against the current workflow code: a change that would break
processes already running fails here (use workflow.patched for such changes, see
tests/workflows/test_patching.py).

Replay alone does not look at activity inputs, yet exactly-once rests on them: a retried
activity of a running process finds its audit row only if the step keys the code schedules
are the ones in its history. So each replay also collects the step keys in the inputs of
the activities the code schedules, and compares their step names with those in the saved
history's ActivityTaskScheduled events (names only: the run in the key differs by design)."""

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartActivityInput,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from worker import workflow_classes, workflow_runner

WORKFLOWS = workflow_classes()  # an unversioned worker's, as the tests run


HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))

Scheduled = tuple[str, list[str]]  # activity type, step names in its input


def workflow_type(history: Path) -> str:
    first = json.loads(history.read_text())["history"]["events"][0]
    return first["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]


def step_names(value: Any) -> list[str]:
    """The `step` of every step key (a dict with process_id, step and actor) in `value`."""
    if isinstance(value, dict):
        if {"process_id", "step", "actor"} <= value.keys():
            return [value["step"]]
        return [name for v in value.values() for name in step_names(v)]
    if isinstance(value, list):
        return [name for v in value for name in step_names(v)]
    return []


def saved_steps(saved: dict) -> list[Scheduled]:
    out = []
    for event in saved["history"]["events"]:
        scheduled = event.get("activityTaskScheduledEventAttributes")
        if scheduled:
            args = [
                json.loads(base64.b64decode(p["data"]))
                for p in scheduled.get("input", {}).get("payloads", [])
            ]
            out.append((scheduled["activityType"]["name"], step_names(args)))
    return out


class StepKeyRecorder(Interceptor):
    """Collects what the workflow code schedules while it replays."""

    def __init__(self) -> None:
        self.scheduled: list[Scheduled] = []

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput):
        scheduled = self.scheduled

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle:
                args = [
                    a.model_dump(mode="json") if isinstance(a, BaseModel) else a for a in input.args
                ]
                scheduled.append((input.activity, step_names(args)))
                return super().start_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


async def replay(history: Path, **options) -> tuple[Any, list[Scheduled], list[Scheduled]]:
    recorder = StepKeyRecorder()
    options.setdefault("workflow_runner", workflow_runner())  # the sandbox as in production
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        interceptors=[recorder],
        **options,
    )
    saved = json.loads(history.read_text())
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json(saved["workflow_id"], saved["history"]),
        raise_on_replay_failure=False,
    )
    return result, saved_steps(saved), recorder.scheduled


def test_every_workflow_has_a_saved_history():
    recorded = {workflow_type(h) for h in HISTORIES}
    assert recorded == {wf.__temporal_workflow_definition.name for wf in WORKFLOWS}


@pytest.mark.parametrize("history", HISTORIES, ids=[h.stem for h in HISTORIES])
async def test_history_replays(history: Path):
    result, saved, replayed = await replay(history)
    assert result.replay_failure is None, result.replay_failure
    # A history may end while the process waits: the code may schedule more after it.
    assert replayed[: len(saved)] == saved, (
        "the step keys scheduled differ from the history's: a retried activity of a running "
        "process would write its step again"
    )


async def test_a_renamed_step_key_fails_the_replay(monkeypatch):
    """The guard above, proven: rename one step (as a refactoring might) and it fails."""
    from workflows.process import Process

    original = Process._key

    def renamed(self, step: str, actor: str = "partnerflow"):
        return original(self, "apply" if step == "apply-order" else step, actor)

    monkeypatch.setattr(Process, "_key", renamed)
    history = Path(__file__).parent / "histories" / "fast_change_applied_after_reminder.json"
    # unsandboxed, so that the workflow code sees the renamed key
    result, saved, replayed = await replay(history, workflow_runner=UnsandboxedWorkflowRunner())
    assert result.replay_failure is None  # replay alone does not notice
    assert ("apply_order", ["apply-order"]) in saved
    assert ("apply_order", ["apply"]) in replayed
    assert replayed[: len(saved)] != saved
