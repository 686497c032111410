"""The starter never waits silently (issue 16, item 4): while a process does not answer, it
says why (an activity keeps failing: its error; no worker polls), and gives up after the
stated wait with exit 6, never a traceback. A real dev server and worker."""

import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import config
from cli import common
from cli.common import NO_ANSWER, Failure, answered, begin_command


@activity.defn
async def write_step() -> None:
    raise ConnectionRefusedError("connect call failed ('127.0.0.1', 5432)")


@workflow.defn
class Waiting:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update
    async def step(self) -> str:
        await workflow.execute_activity(
            write_step, start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50),
                                     backoff_coefficient=1.0))
        return "done"


async def test_a_stuck_step_is_explained_while_waiting_and_given_up(dev_env, monkeypatch,
                                                                     capsys):
    queue = f"waits-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(config, "TASK_QUEUE", queue)
    client = dev_env.client
    begin_command(4.0)
    async with Worker(client, task_queue=queue, workflows=[Waiting], activities=[write_step],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        handle = await client.start_workflow(Waiting.run, id=f"waiting-{queue}",
                                             task_queue=queue)
        with pytest.raises(Failure) as failure:
            await answered(client, handle.id, f"process {handle.id}",
                           handle.execute_update(Waiting.step, id="step-1"), resend="step-1")
        await handle.terminate()
    assert failure.value.code == NO_ANSWER
    message = str(failure.value)
    assert message.startswith(f"gave up after 4 s without an answer from process {handle.id}: "
                              "step write_step has been tried ")
    assert "last error: ConnectionRefusedError: connect call failed ('127.0.0.1', 5432)" in message
    assert "with --request-id step-1 is the same request" in message
    waiting = capsys.readouterr().err.splitlines()
    assert waiting and waiting[0].startswith(f"waiting 3 s for process {handle.id}: step "
                                             "write_step has been tried")


async def test_no_worker_is_named_as_the_reason(dev_env, monkeypatch):
    queue = f"nobody-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(config, "TASK_QUEUE", queue)
    why = await common.diagnosis(dev_env.client, "no-such-process")
    assert why == (f"no worker polls task queue '{queue}' (is worker.py running, with the "
                   "same PARTNERFLOW_TASK_QUEUE?)")
