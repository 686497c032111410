"""Saved histories replay against the current workflow code: a change that would break
processes already running fails here (use workflow.patched for such changes)."""

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def workflow_type(history: Path) -> str:
    first = json.loads(history.read_text())["history"]["events"][0]
    return first["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]


def test_every_workflow_has_a_saved_history():
    recorded = {workflow_type(h) for h in HISTORIES}
    assert recorded == {wf.__temporal_workflow_definition.name for wf in WORKFLOWS}


@pytest.mark.parametrize("history", HISTORIES, ids=[h.stem for h in HISTORIES])
async def test_history_replays(history: Path):
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    saved = json.loads(history.read_text())
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json(saved["workflow_id"], saved["history"]),
        raise_on_replay_failure=False,
    )
    assert result.replay_failure is None, result.replay_failure
