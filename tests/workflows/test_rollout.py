"""Continue-as-new onto the current worker version (workflows/rollout.py) on an unversioned
worker, as ./run and the tests run it. The versioned path: tests/e2e/test_rolling_upgrade.py."""

import uuid
from datetime import timedelta

from temporalio.worker import Worker

from tests.workflows.stand_ins import Chain
from worker import workflow_runner


async def test_unversioned_workers_continue_as_new_as_before(dev_env):
    """The server refuses a continue-as-new versioning behaviour from an unversioned worker
    ("versioning behavior cannot be specified without deployment options"): the process
    would be stuck at its continue-as-new, its workflow task retried for ever."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    async with Worker(
        dev_env.client, task_queue=queue, workflows=[Chain], workflow_runner=workflow_runner()
    ):
        result = await dev_env.client.execute_workflow(
            Chain.run,
            0,
            id=f"chain-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=20),
        )
    assert result == 2
