"""Production runs every workflow in the sandbox with its determinism checks, and the tests
run them in the very same one (worker.workflow_runner): a workflow that reads the clock or
draws at random fails its workflow task instead of running on."""

import ast
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from tests.workflows.stand_ins import DrawsAtRandom, ReadsTheClock
from worker import KERNEL, workflow_runner

ROOT = Path(__file__).resolve().parents[2]


async def first_task_failure(client, workflow) -> str:
    """Runs `workflow` on a worker with worker.py's runner until its first workflow task
    fails; that failure's message (the server retries such a task; the run is ended)."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=queue, workflows=[workflow], workflow_runner=workflow_runner()
    ):
        handle = await client.start_workflow(
            workflow.run, id=f"sandbox-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        try:
            async for event in handle.fetch_history_events(wait_new_event=True):
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    return event.workflow_task_failed_event_attributes.failure.message
                assert event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
        finally:
            await handle.terminate("test over")
    raise AssertionError("the history ended without a failed workflow task")


@pytest.mark.parametrize(
    ("workflow", "says"),
    [
        (ReadsTheClock, "Cannot access datetime.datetime.now"),
        (DrawsAtRandom, "Cannot access random.random"),
    ],
)
async def test_a_workflow_that_reads_the_clock_or_draws_at_random_fails(dev_env, workflow, says):
    assert says in await first_task_failure(dev_env.client, workflow)


def test_each_process_is_imported_afresh_and_only_the_shared_kernel_is_passed_through():
    """A process's own module (its run: the procedure) is imported afresh for every run, under
    the sandbox's checks; imported once are what is not workflow code and the kernel every
    process shares."""
    passed = workflow_runner().restrictions.passthrough_modules
    processes = {
        f"workflows.{f.stem}"
        for f in (ROOT / "workflows").glob("*.py")
        if "@workflow.defn" in f.read_text()
    } - set(KERNEL)
    assert "workflows.fast_change_order" in processes and "workflows.process" not in processes
    assert not ({"workflows"} | processes) & passed
    assert {"domain", "pydantic", *KERNEL} <= passed


@pytest.mark.parametrize("module", KERNEL)
def test_the_kernel_keeps_no_state_between_runs(module):
    """Imported once, the kernel is shared by every run: nothing at its module or class level
    may be a list, dict or set another run could see changed."""
    tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())
    mutable = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)
    bodies = [tree.body] + [c.body for c in tree.body if isinstance(c, ast.ClassDef)]
    shared = [
        ast.unparse(n)
        for body in bodies
        for n in body
        if isinstance(n, ast.Assign | ast.AnnAssign)
        and (
            isinstance(n.value, mutable)
            or (
                isinstance(n.value, ast.Call)
                and isinstance(n.value.func, ast.Name)
                and n.value.func.id in ("list", "dict", "set", "defaultdict")
            )
        )
    ]
    assert shared == []
