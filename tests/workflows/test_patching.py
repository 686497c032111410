"""The patching policy for the first change after release 1.0, stage by stage, on a
stand-in process (the lifecycle of temporalio/samples-python `patching/`):

1. 1.0: the process as it is (a wait, here a timer, then the end);
2. the change ships behind `if workflow.patched(ID): new else: old`: runs started on 1.0
   replay on the old branch, new runs take the new one and record the marker;
3. once no run from before the change is left (the 1.0 histories are retired), the branch
   becomes `workflow.deprecate_patch(ID)` and the new code alone;
4. once no run with the plain marker is left, the deprecation call goes too.

Each stage must replay the histories of the stage before it, and only those: removing a
step too early breaks the replay of runs that may still be waiting (CI catches it here and
in tests/test_replay.py)."""

import uuid

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

from tests.workflows.stand_ins import POLICY, Deprecated, NewOnly, Patched, Release10
from worker import workflow_runner


async def history_of(env, cls: type) -> WorkflowHistory:
    queue = f"test-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client, task_queue=queue, workflows=[cls], workflow_runner=workflow_runner()
    ):
        handle = await env.client.start_workflow(
            POLICY, id=f"patching-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        await handle.result()
    return await handle.fetch_history()


async def replays(cls: type, history: WorkflowHistory) -> bool:
    replayer = Replayer(
        workflows=[cls], data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    return result.replay_failure is None


async def test_each_stage_replays_the_stage_before_and_not_the_one_before_that(time_env):
    release_10 = await history_of(time_env, Release10)
    patched = await history_of(time_env, Patched)
    deprecated = await history_of(time_env, Deprecated)

    # the change without its guard breaks the runs started on 1.0
    assert not await replays(NewOnly, release_10)
    # stage 2: both the 1.0 runs and its own
    assert await replays(Patched, release_10)
    assert await replays(Patched, patched)
    # stage 3: only after the 1.0 runs are gone
    assert await replays(Deprecated, patched)
    assert not await replays(Deprecated, release_10)
    # stage 4: only after the runs with the plain marker are gone
    assert await replays(NewOnly, deprecated)
    assert not await replays(NewOnly, patched)
