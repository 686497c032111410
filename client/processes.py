"""Start a process, send it a step, and wait for its answer: the same for both doors.

A start is an update-with-start of the process's `started` update; a step is an update with
a stable id (the SDK's retries keep it, and a repeated request with the same id is applied
once). While a process is silent, `notice` hears every few seconds why (no worker polls, an
activity keeps failing, the process needs attention); after `wait` seconds the request
gives up with NO_ANSWER: it was sent and may still be carried out."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.api.enums.v1 import TaskQueueType, WorkflowExecutionStatus
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from client.failures import (
    FAILED,
    NO_ANSWER,
    NO_PROCESS,
    REFUSED,
    SETUP,
    Failure,
    first_line,
    rpc_failure,
    update_failure,
)
from codec import PLAINTEXT_REFUSED
from domain.leads import LeadStepRequest, LeadStepStatus
from domain.steps import StepAnswer
from workflows.lead_step import LeadStep
from workflows.visibility import ACCOUNT_ID, PROCESS_KIND, STAGE

FIRST_NOTICE = 3.0  # seconds of silence before the first "waiting ..." notice
NOTICE_EVERY = 10.0

# An ended process id that may be started again, by the stage it ended in: a refused start
# wrote nothing and its refusal tells the user what to change. ANY_END: every ended one.
AGAIN_AFTER_REFUSAL = frozenset({"refused"})
ANY_END = None

T = TypeVar("T")


def ended_stage(desc: Any) -> str:
    """The stage an ended process shows (its search attribute), else its status."""
    stage = desc.typed_search_attributes.get(STAGE)
    return str(stage or (desc.status.name.lower() if desc.status else "ended"))


@dataclass
class Processes:
    """The processes as one request of a door sees them: its client and task queue, how long
    it waits for an answer, and who hears that it waits (None: nobody)."""

    client: Client
    task_queue: str
    wait: float
    notice: Callable[[str], None] | None = None

    async def answered(
        self, process_id: str, what: str, request: Awaitable[T], *, resend: str | None = None
    ) -> T:
        """The answer to `request` (a start or a step), or NO_ANSWER after `wait` seconds."""
        task = asyncio.ensure_future(request)
        loop = asyncio.get_running_loop()
        began = loop.time()
        notice_at = FIRST_NOTICE
        why = ""
        try:
            while (left := self.wait - (loop.time() - began)) > 0:
                done, _ = await asyncio.wait(
                    {task}, timeout=min(left, notice_at - (loop.time() - began))
                )
                if done:
                    return await self._result(task, process_id)
                waited = loop.time() - began
                if waited >= notice_at and waited < self.wait:
                    if self.notice is not None:  # asked only where someone hears the answer
                        why = await self.diagnosis(process_id)
                        self.notice(f"waiting {waited:.0f} s for {what}: {why}")
                    notice_at = waited + NOTICE_EVERY
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)  # retrieved: no stray warning
        why = why or await self.diagnosis(process_id)
        again = (
            f"running the same command again with --request-id {resend} is the same "
            "request (applied once)"
            if resend
            else "running the same command again joins the same request"
        )
        raise Failure(
            NO_ANSWER,
            f"gave up after {self.wait:.0f} s without an answer from {what}: "
            f"{why}. The request was sent and may still be carried out: check "
            f"`starter.py status {process_id}`; {again}",
        )

    async def _result(self, task: "asyncio.Future[T]", process_id: str) -> T:
        try:
            return task.result()
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND and "closing workflow" in e.message:
                raise await ended_before_answering(self.client, process_id) from None
            raise

    async def diagnosis(self, process_id: str) -> str:
        return await diagnosis(self.client, process_id, self.task_queue)

    async def start(
        self,
        workflow: Any,
        request: Any,
        *,
        process_id: str,
        kind: str,
        account_id: str | None,
        summary: str,
        again_after: frozenset[str] | None = AGAIN_AFTER_REFUSAL,
    ) -> Any:
        """Starts a process and returns its `started` answer: accepted, or refused and why.
        While it runs, the same id is answered by the running process ("already exists");
        once it has ended, it is started again (a new run, with step keys of its own) when
        it ended in a stage of `again_after` (None: any), else refused."""
        attributes: list[SearchAttributePair[Any]] = [SearchAttributePair(PROCESS_KIND, kind)]
        if account_id:
            attributes.append(SearchAttributePair(ACCOUNT_ID, account_id))

        def operation(reuse: WorkflowIDReusePolicy) -> WithStartWorkflowOperation:
            return WithStartWorkflowOperation(
                workflow.run,
                request,
                id=process_id,
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=reuse,
                static_summary=summary,
                search_attributes=TypedSearchAttributes(attributes),
            )

        # This start attempt's own update id: the SDK's retries of the call keep it (one
        # answer); a new request is answered by the run that runs now, never by an earlier
        # run of the same id.
        update_id = f"started-{uuid.uuid4().hex[:16]}"

        def attempt(reuse: WorkflowIDReusePolicy) -> Awaitable[Any]:
            return self.answered(
                process_id,
                f"process {process_id}",
                self.client.execute_update_with_start_workflow(
                    workflow.started, id=update_id, start_workflow_operation=operation(reuse)
                ),
            )

        try:
            try:
                return await attempt(WorkflowIDReusePolicy.REJECT_DUPLICATE)
            except WorkflowAlreadyStartedError:  # it has ended
                desc = await self.client.get_workflow_handle(process_id).describe()
                stage = ended_stage(desc)
                if again_after is not ANY_END and stage not in again_after:
                    raise Failure(
                        REFUSED,
                        f"{process_id} already exists and has ended (stage "
                        f"{stage}): the same request is not started twice; see "
                        f"`starter.py status {process_id}`, or pass --ref to start a "
                        "separate one",
                    ) from None
                return await attempt(WorkflowIDReusePolicy.ALLOW_DUPLICATE)
        except WorkflowUpdateFailedError as e:
            raise update_failure(e) from None

    async def running_handle(self, process_id: str) -> WorkflowHandle[Any, Any]:
        """The handle of a running process, or NO_PROCESS (none, or it has ended)."""
        handle = self.client.get_workflow_handle(process_id)
        try:
            desc = await handle.describe()
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise Failure(
                    NO_PROCESS, f"no process {process_id}; `starter.py list` shows the processes"
                ) from None
            raise rpc_failure(e, process_id) from None
        if desc.status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
            raise Failure(
                NO_PROCESS,
                f"process {process_id} has ended ({ended_stage(desc)}); nothing can be sent to it",
            )
        return handle

    async def send(
        self,
        process_id: str,
        update: Any,
        step: Any,
        update_id: str,
        *,
        resend: str | None = None,
    ) -> StepAnswer:
        """Sends a human step as an update with a stable id: the SDK retries the call with
        it, so a dropped connection never applies it twice; a repeat of a step that already
        happened is answered by the process without doing it again. A refusal is REFUSED
        with the process's reason."""
        handle = await self.running_handle(process_id)
        try:
            return await self.answered(
                process_id,
                f"process {process_id}",
                handle.execute_update(update, step, id=update_id),
                resend=resend,
            )
        except WorkflowUpdateFailedError as e:
            raise update_failure(e) from None
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise Failure(NO_PROCESS, f"process {process_id} has ended") from None
            raise rpc_failure(e, process_id) from None

    async def lead_step(self, request: LeadStepRequest, process_id: str) -> StepAnswer:
        """A step on leads as its own short process (update-with-start of its `answer`):
        steps on different leads never wait for each other. The same process id is the same
        step: answered by the process, never done twice. A refusal raises
        WorkflowUpdateFailedError, as a step on a queue does; a step that ended refused
        before is REFUSED with its reason."""
        return await run_lead_step(self.client, request, process_id, self.task_queue)


async def run_lead_step(
    client: Client, request: LeadStepRequest, process_id: str, task_queue: str
) -> StepAnswer:
    """See Processes.lead_step."""
    op = WithStartWorkflowOperation(
        LeadStep.run,
        request,
        id=process_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=f"{request.kind} {request.lead_id or request.opportunity_id or ''} "
        f"in lead queue {request.queue_id}",
    )
    try:
        return await client.execute_update_with_start_workflow(
            LeadStep.answer, start_workflow_operation=op
        )
    except WorkflowAlreadyStartedError:  # the same step, already ended: its outcome
        done: LeadStepStatus = await client.get_workflow_handle_for(
            LeadStep.run, process_id
        ).result()
        if done.stage == "refused":
            raise Failure(REFUSED, done.message) from None
        return StepAnswer(message=done.message, stage=done.stage, notes=done.notes)


async def ended_before_answering(client: Client, process_id: str) -> Failure:
    """The process closed while the request waited (e.g. it failed at once): why."""
    try:
        await client.get_workflow_handle(process_id).result(
            follow_runs=False, rpc_timeout=timedelta(seconds=10)
        )
    except WorkflowFailureError as e:
        cause = e.cause
        if isinstance(cause, ApplicationError) and cause.type == PLAINTEXT_REFUSED:
            return Failure(SETUP, cause.message)
        return Failure(
            FAILED, f"process {process_id} failed before it answered: {first_line(cause or e)}"
        )
    except Exception as e:  # noqa: BLE001 - the reason is a courtesy; the fact is known
        return Failure(
            NO_PROCESS,
            f"process {process_id} ended before it answered "
            f"({first_line(e)}); see `starter.py status {process_id}`",
        )
    return Failure(
        NO_PROCESS,
        f"process {process_id} ended before it answered; see `starter.py status {process_id}`",
    )


async def diagnosis(client: Client, process_id: str, task_queue: str) -> str:
    """Why a process may be silent, in words: never raises."""
    reasons: list[str] = []
    workers: list[str] = []
    try:
        workers = await workers_polling(client, task_queue)
        if not workers:
            reasons.append(
                f"no worker polls task queue '{task_queue}' (is worker.py "
                "running, with the same PARTNERFLOW_TASK_QUEUE?)"
            )
    except Exception as e:  # noqa: BLE001 - a diagnosis must not fail the request
        reasons.append(f"cannot ask Temporal about the workers ({first_line(e)})")
    try:
        reasons += await _process_troubles(client, process_id)
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            reasons.append(f"cannot describe the process ({e.message})")
    except Exception as e:  # noqa: BLE001
        reasons.append(f"cannot describe the process ({first_line(e)})")
    return "; ".join(reasons) or (
        f"{len(workers)} worker(s) poll ({', '.join(workers[:3])}), "
        "but the process has not answered yet"
    )


async def _process_troubles(client: Client, process_id: str) -> list[str]:
    """What the process's description shows going wrong: needs attention, an activity
    retried, its workflow task failing."""
    reasons = []
    desc = await client.get_workflow_handle(process_id).describe(rpc_timeout=timedelta(seconds=5))
    if desc.typed_search_attributes.get(STAGE) == "needs-attention":
        reasons.append(f"the process needs attention (see `starter.py status {process_id}`)")
    raw = desc.raw_description
    for activity in raw.pending_activities:
        if activity.attempt > 1:
            last = ""
            if activity.HasField("last_failure"):
                err = await client.data_converter.decode_failure(activity.last_failure)
                last = f"; last error: {first_line(err)}"
            reasons.append(
                f"step {activity.activity_type.name} has been tried "
                f"{activity.attempt} times (is the database reachable?){last}"
            )
    task = raw.pending_workflow_task
    if raw.HasField("pending_workflow_task") and task.attempt > 1:
        reasons.append(
            f"the worker fails the process's workflow task (attempt "
            f"{task.attempt}): see the worker's log or the Temporal UI"
        )
    return reasons


async def workers_polling(client: Client, task_queue: str) -> list[str]:
    """The workers (pid@host) that polled the task queue for workflow tasks in the last
    minutes: Temporal keeps the pollers it saw recently (describe_task_queue)."""
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=timedelta(seconds=5),
    )
    return sorted({p.identity or "?" for p in resp.pollers})
