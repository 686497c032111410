"""The starter's edge on a real dev server: it never waits
silently — while a process does not answer it says why (an activity keeps failing: its error;
no worker polls) and gives up after the stated wait with exit 6 — and each error Temporal
answers with keeps its meaning (busy, id too long, not found, unreachable ...), never a
traceback."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage
from temporalio.api.update.v1 import Input, Meta, Request, WaitPolicy
from temporalio.api.workflowservice.v1 import UpdateWorkflowExecutionRequest
from temporalio.common import RetryPolicy
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from cli import common
from cli.common import answered, begin_command
from client.failures import (
    BAD_INPUT,
    BUSY,
    FAILED,
    NO_ANSWER,
    NO_PROCESS,
    SETUP,
    UNREACHABLE,
    Failure,
    failure_of,
)


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
            write_step,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=50), backoff_coefficient=1.0
            ),
        )
        return "done"


async def test_a_stuck_step_is_explained_while_waiting_and_given_up(dev_env, monkeypatch, capsys):
    queue = f"waits-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PARTNERFLOW_TASK_QUEUE", queue)
    client = dev_env.client
    begin_command(4.0)
    async with Worker(
        client,
        task_queue=queue,
        workflows=[Waiting],
        activities=[write_step],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(Waiting.run, id=f"waiting-{queue}", task_queue=queue)
        with pytest.raises(Failure) as failure:
            await answered(
                client,
                handle.id,
                f"process {handle.id}",
                handle.execute_update(Waiting.step, id="step-1"),
                resend="step-1",
            )
        await handle.terminate()
    assert failure.value.code == NO_ANSWER
    message = str(failure.value)
    assert message.startswith(
        f"gave up after 4 s without an answer from process {handle.id}: "
        "step write_step has been tried "
    )
    assert "last error: ConnectionRefusedError: connect call failed ('127.0.0.1', 5432)" in message
    assert "with --request-id step-1 is the same request" in message
    waiting = capsys.readouterr().err.splitlines()
    assert waiting and waiting[0].startswith(
        f"waiting 3 s for process {handle.id}: step write_step has been tried"
    )


async def test_no_worker_is_named_as_the_reason(dev_env, monkeypatch):
    queue = f"nobody-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PARTNERFLOW_TASK_QUEUE", queue)
    why = await common.diagnosis(dev_env.client, "no-such-process")
    assert why == (
        f"no worker polls task queue '{queue}' (is worker.py running, with the "
        "same PARTNERFLOW_TASK_QUEUE?)"
    )


# --- Temporal's own errors, each with its exit code and words -------------------------------


ACCEPTED = UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED


@workflow.defn
class Holding:
    """Every update waits until released: updates pile up in flight."""

    def __init__(self) -> None:
        self.release = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.release)

    @workflow.update
    async def step(self) -> str:
        await workflow.wait_condition(lambda: self.release)
        return "done"


async def test_the_in_flight_update_limit_is_busy_try_again(dev_env):
    queue = f"busy-{uuid.uuid4().hex[:8]}"
    client = dev_env.client
    async with Worker(
        client, task_queue=queue, workflows=[Holding], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        handle = await client.start_workflow(Holding.run, id=f"holding-{queue}", task_queue=queue)

        async def step(n: int) -> None:
            # The update as the client sends it, without the SDK's own retries of a refusal
            # (they wait ever longer, 13 s and more here, and end in this same error).
            await client.workflow_service.update_workflow_execution(
                UpdateWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=handle.id),
                    wait_policy=WaitPolicy(lifecycle_stage=ACCEPTED),
                    request=Request(
                        meta=Meta(update_id=f"s{n}", identity=client.identity),
                        input=Input(name="step"),
                    ),
                ),
                retry=False,
            )

        waiting = [asyncio.ensure_future(step(n)) for n in range(12)]
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_EXCEPTION, timeout=30)
        errors = [t.exception() for t in done if t.exception() is not None]
        await handle.terminate()
        await asyncio.gather(*waiting, return_exceptions=True)
    assert errors and isinstance(errors[0], RPCError), errors
    failure = failure_of(errors[0], handle.id)
    assert failure.code == BUSY
    assert str(failure).startswith(
        "busy, try again: the process has too many steps in "
        "progress (Temporal's limit of in-flight updates); nothing "
        "was applied"
    )


async def test_an_id_too_long_for_temporal_is_bad_input_not_unreachable(dev_env):
    with pytest.raises(RPCError) as err:
        await dev_env.client.start_workflow("Nothing", id="x" * 1100, task_queue="nobody")
    failure = failure_of(err.value)
    assert failure.code == BAD_INPUT
    assert str(failure).startswith("an id is too long for Temporal")


@pytest.mark.parametrize(
    "status, message, code",
    [
        (RPCStatusCode.NOT_FOUND, "workflow not found", NO_PROCESS),
        (RPCStatusCode.UNAVAILABLE, "connection refused", UNREACHABLE),
        (RPCStatusCode.PERMISSION_DENIED, "Request unauthorized.", SETUP),
        (RPCStatusCode.DEADLINE_EXCEEDED, "context deadline exceeded", NO_ANSWER),
        (RPCStatusCode.INTERNAL, "workflow task failed: nondeterminism", FAILED),
    ],
)
def test_each_rpc_error_keeps_its_meaning(status, message, code):
    assert failure_of(RPCError(message, status, b"")).code == code


def test_an_unexpected_error_is_words_not_a_traceback():
    failure = failure_of(KeyError("surprise"))
    assert failure.code == FAILED
    assert str(failure) == (
        "unexpected error: KeyError: 'surprise' (set PARTNERFLOW_DEBUG=1 for the traceback)"
    )
