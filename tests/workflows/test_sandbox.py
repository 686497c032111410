"""Production runs every workflow in the sandbox with its determinism checks, and the tests
run them in the very same one (worker.workflow_runner): a workflow that reads the clock or
draws at random fails its workflow task instead of running on."""

import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from tests.workflows.stand_ins import DrawsAtRandom, ReadsTheClock
from worker import workflow_runner


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


def test_the_workflow_code_is_not_passed_through():
    """Only what is not workflow code is imported once, outside the sandbox."""
    passed = workflow_runner().restrictions.passthrough_modules
    assert not {"workflows", "workflows.process", "workflows.order_process"} & passed
    assert {"domain", "pydantic"} <= passed
