"""What every partnerflow process shares: its status in words for ops (stage search
attribute, current details), step keys for idempotent writes, activity calls with
summaries and one activity policy, the `started` answer for the starter, business
refusals, and "needs attention" (a step that cannot go on waits for staff to `retry` or
`cancel` it).

A process class is a `Process[State, Stage]`: it sets `kind` (a StrEnum) and
`final_stages`, and keeps `self.state`, a pydantic model with the fields of `ProcessState`.
A process that may be cancelled outside "needs attention" answers `cancel` through
`_cancel` and `_validate_cancel` (the `cancel` update itself is the kernel's).

A cancel from outside the starter (the Temporal UI, the `temporal` CLI, a batch) reaches
the process's `run`, wrapped by `closes_when_cancelled`: the process closes its records
through `_withdraw`, the same step a staff cancel writes, and then ends CANCELED."""

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    FailureError,
    TimeoutError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from activities.people import Authorization, PeopleActivities, Verdict
    from domain.errors import NOT_PERMITTED, REFUSED, Refused
    from domain.permissions import Facts, decide
    from domain.steps import BAD_DATA, Cancellation, StaffStep, StepAnswer, StepKey

# Workflow code: imported again in each run's sandbox (see worker.workflow_runner).
from workflows.visibility import ACCOUNT_ID, PARTNER_ID, PROCESS_KIND, STAGE

SYSTEM = "partnerflow"
# Who a cancel from outside the starter is recorded as: the workflow sees the request's
# reason, not the identity of whoever sent it (that is in the history's cancel event).
TEMPORAL = "Temporal"

# The activity policy of every process. An attempt may take 30 s; infrastructure errors
# (database or worker down) are retried with backoff, at most 12 attempts and 5 minutes in
# all; data the database rejects and business refusals are never retried (the activities
# raise them non-retryable). A step that still fails makes the process need attention.
ACTIVITY_TIMEOUT = timedelta(seconds=30)
ACTIVITY_DEADLINE = timedelta(minutes=5)
ACTIVITY_RETRIES = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=12,
)
NEEDS_ATTENTION = "needs-attention"  # the Stage search attribute while a step is stuck
ABANDONED = "Abandoned"
AUTHORIZE_TIMEOUT = timedelta(seconds=10)


async def authorize(permission: str, actor: str, facts: Facts) -> str | None:
    """Why `actor` may not do `permission` here (None: may), asked of the directory by a
    short local activity (no round trip to the server); the activity logs a refusal. The
    system's own name is refused for any human step without asking."""
    if actor == SYSTEM:
        return decide(permission, actor, None, facts)
    verdict: Verdict = await workflow.execute_local_activity_method(
        PeopleActivities.authorize,
        Authorization(
            permission=permission, actor=actor, process_id=workflow.info().workflow_id, facts=facts
        ),
        start_to_close_timeout=AUTHORIZE_TIMEOUT,
        schedule_to_close_timeout=ACTIVITY_DEADLINE,
        retry_policy=ACTIVITY_RETRIES,
        summary=f"may {actor} {permission}?",
    )
    return verdict.refused


def run_chain() -> str:
    """The step keys' run for a workflow that is not a Process (see Process._run_chain)."""
    return workflow.info().first_execution_run_id


def attention_reason(err: ActivityError) -> str:
    """Why a step cannot go on, in words for ops (no values from the payload)."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == BAD_DATA:
        return cause.message
    if isinstance(cause, TimeoutError):
        last = cause.cause
        why = f" (last error: {last.message})" if isinstance(last, FailureError) else ""
        kind = cause.type.name.lower() if cause.type is not None else "timeout"
        return f"no answer within {ACTIVITY_DEADLINE} ({kind}){why}"
    if isinstance(cause, FailureError):
        return f"failed {ACTIVITY_RETRIES.maximum_attempts} times: {cause.message}"
    return str(cause or err)


def cancelled_from_outside(err: BaseException) -> bool:
    """Whether `err` is this workflow's own cancellation (a cancel request from Temporal),
    rather than a failure of the step that was running."""
    return workflow.cancellation_reason() is not None and is_cancelled_exception(err)


def refusal(message: str, code: str = "", **params: str | int) -> ApplicationError:
    """A step refused for a business reason: the sender is told why, nothing is retried.
    `code` and `params`: the same reason for a reader in another language (the portal), as
    a step's answer carries them (domain.steps.StepAnswer)."""
    details = [{"code": code, "params": params}] if code else []
    return ApplicationError(message, *details, type=REFUSED, non_retryable=True)


def business_refusal(err: ActivityError) -> str | None:
    """The reason of any refusal by an activity: a business rule's or the directory's."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type in (REFUSED, NOT_PERMITTED):
        return cause.message
    return None


def permission_refusal(err: ActivityError) -> str | None:
    """The reason, where the directory refused the step's actor inside the step's
    transaction (store/steps.py once()): nothing was written."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == NOT_PERMITTED:
        return cause.message
    return None


def refused_reason(err: BaseException) -> str | None:
    """The reason of a refusal raised by a domain rule or an activity, else None."""
    if isinstance(err, Refused):
        return str(err)
    if isinstance(err, ActivityError):
        return business_refusal(err)
    return None


StageT = TypeVar("StageT", bound=StrEnum)


class ProcessState(Protocol[StageT]):
    """What the kernel reads and writes of a process's status model."""

    process_id: str
    stage: StageT
    waiting_for: str
    since: datetime
    revision: int
    notes: list[str]

    @property
    def account_id(self) -> str | None: ...

    @property
    def partner_id(self) -> str | None: ...


StateT = TypeVar("StateT", bound=ProcessState[Any])
ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")
ProcessT = TypeVar("ProcessT", bound="Process[Any, Any]")
# An activity method as the SDK takes it: unbound, one argument.
Activity = Callable[[Any, ArgT], Awaitable[ResultT]]


async def run_activity(activity: Activity[ArgT, ResultT], arg: ArgT, summary: str) -> ResultT:
    """One activity under the activity policy every process shares, the short lead steps
    included; `summary` is what ops read in the UI."""
    return await workflow.execute_activity_method(
        activity,
        arg,
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        schedule_to_close_timeout=ACTIVITY_DEADLINE,
        retry_policy=ACTIVITY_RETRIES,
        summary=summary[:200],
    )


def show_stage(stage: str, waiting_for: str, since: datetime) -> None:
    """The current details ops read on a process: its stage, what it waits for, since when."""
    workflow.set_current_details(f"{stage}: {waiting_for} (since {since:%Y-%m-%d %H:%M} UTC)")


class Process(Generic[StateT, StageT]):
    kind: ClassVar[StrEnum]
    final_stages: ClassVar[frozenset[StrEnum]]
    state: StateT
    # Order processes write a search attribute only when its value changes, hold the ids
    # back for the next stage, write no Stage for a step in flight and leave the partner's
    # timer to end with the run: each write is a visibility write on the server, and these
    # processes run by the thousand. The others write each value as they set it.
    lean_visibility: ClassVar[bool] = False

    def _init_process(self) -> None:
        self.validated = False
        self.refusal: str | None = None
        self._lock = asyncio.Lock()
        self._attention: str | None = None  # the reason while a step needs attention
        self._attention_step = ""
        self._decisions: list[tuple[str, str, str]] = []  # (retry|cancel, actor, reason)
        self._abandoned = False
        self._cancelled_in_temporal = False
        self._starts = 0
        # actor -> the permission last granted to them, and the facts it was granted on
        self._granted: dict[str, tuple[str, Facts]] = {}
        # search attribute updates not yet written
        self._pending: dict[str, SearchAttributeUpdate[Any]] = {}

    @property
    def ref(self) -> str:
        """The workflow id without its kind: what record ids of this process derive from."""
        return self.state.process_id.removeprefix(f"{self.kind.value}-")

    @property
    def finished(self) -> bool:
        return self.state.stage in self.final_stages or self._abandoned

    # --- ops visibility ---------------------------------------------------------------------

    def _upsert(self, updates: list[SearchAttributeUpdate[Any]], *, now: bool = True) -> None:
        """Writes search attributes. A lean process writes only the values that differ from
        what it already shows (given at start or written before), together with those held
        back by `now=False` (written with the next write)."""
        if not self.lean_visibility:
            workflow.upsert_search_attributes(updates)
            return
        for u in updates:
            self._pending[u.key.name] = u
        if not now:
            return
        shown = workflow.info().typed_search_attributes
        changed = [u for u in self._pending.values() if shown.get(u.key) != u.value]
        self._pending.clear()
        if changed:
            workflow.upsert_search_attributes(changed)

    def _set_stage(self, stage: StageT, waiting_for: str, *, in_flight: bool = False) -> None:
        """`in_flight`: a step that takes milliseconds (applying); a lean process does not
        write its stage as the Stage search attribute (the current details say it, and a
        step that stalls shows needs-attention)."""
        self.state.stage = stage
        self.state.waiting_for = waiting_for
        self.state.since = workflow.now()
        self.state.revision += 1
        if not (in_flight and self.lean_visibility):
            self._upsert([STAGE.value_set(stage.value)])
        show_stage(stage.value, waiting_for, self.state.since)

    def _publish_ids(self, *, with_next_stage: bool = False) -> None:
        """`with_next_stage`: a lean process holds them back and writes them with the next
        stage (the caller sets one, or needs attention, before it waits)."""
        updates: list[SearchAttributeUpdate[Any]] = [PROCESS_KIND.value_set(self.kind.value)]
        if self.state.account_id:
            updates.append(ACCOUNT_ID.value_set(self.state.account_id))
        if self.state.partner_id:
            updates.append(PARTNER_ID.value_set(self.state.partner_id))
        self._upsert(updates, now=not with_next_stage)

    # --- steps ------------------------------------------------------------------------------

    def _key(self, step: str, actor: str = SYSTEM) -> StepKey:
        """A person's write carries the permission they were granted for it, so the store
        checks it again in the step's transaction: inside an update, that update's (with the
        facts it was granted on), else the permission last granted to them (a confirmation
        applied by the process, after the update)."""
        permission, facts = "", None
        if actor != SYSTEM:
            granted = self._granted.get(actor)
            update = workflow.current_update_info()
            if update is not None and (
                granted is None or granted[0] != self._permission(update.name)
            ):
                granted = (self._permission(update.name), self._facts())
            if granted is not None:
                permission, facts = granted
        return StepKey(
            process_id=self.state.process_id,
            step=step,
            actor=actor,
            run=self._run_chain(),
            permission=permission,
            facts=facts,
        )

    def _run_chain(self) -> str:
        """The first run id of this workflow: the same across continue-as-new, new when an
        ended process id is started again."""
        return workflow.info().first_execution_run_id

    # --- who may do what --------------------------------------------------------------------

    def _permission(self, step: str) -> str:
        return f"{workflow.info().workflow_type}.{step}"

    def _facts(self) -> Facts:
        """The process's facts for the permission rule; a process may add its own."""
        partner = self.state.partner_id
        return Facts(partner_ids=[partner] if partner else [], account_id=self.state.account_id)

    async def _authorize(self, step: str, actor: str, **facts: Any) -> None:
        """Refuses the step (nothing written) unless the directory lets `actor` do it;
        `facts` adds what only this step knows (e.g. its lead)."""
        reason = await self._ask(self._permission(step), actor, facts)
        if reason is not None:
            raise refusal(reason)

    def _checked_in_step(self, actor: str) -> bool:
        """A person's step whose first write checks the actor's permission in its own
        transaction (store/steps.py once(): refused and logged there, nothing written; the
        step key carries the permission, see _key) does not ask the directory first: that
        local activity cost each such step about a fifth of its throughput. Such a step
        still asks (`_authorize`) wherever it answers without that write, and a step that
        changes the process before writing always asks first."""
        return actor != SYSTEM

    async def _refused_start(
        self, actor: str, *, checked_by_first_step: bool = False
    ) -> str | None:
        """Why `actor` may not start this process (None: may). `checked_by_first_step`: the
        process's first step writes nothing before its own transaction checks the start
        permission (store/steps.py once()) and refuses with the same reason, logged; the
        process then does not ask the directory first."""
        permission = self._permission("start")
        if checked_by_first_step and self._checked_in_step(actor):
            self._granted[actor] = (permission, self._facts())
            return None
        return await self._ask(permission, actor, {})

    async def _ask(self, permission: str, actor: str, extra: dict[str, Any]) -> str | None:
        facts = self._facts().model_copy(update=extra) if extra else self._facts()
        while True:
            try:
                reason = await authorize(permission, actor, facts)
                if reason is None:
                    self._granted[actor] = (permission, facts)
                return reason
            except ActivityError as err:
                if cancelled_from_outside(err):
                    raise
                if workflow.current_update_info() is not None:  # the sender may try again
                    raise refusal(
                        f"the people directory cannot be read now "
                        f"({attention_reason(err)}); nothing was done: try again"
                    ) from None
                # a start: staff decide, as for any step that cannot go on
                await self._needs_attention(
                    f"may {actor} {permission}?", attention_reason(err)[:300]
                )

    async def _act(self, activity: Activity[ArgT, ResultT], arg: ArgT, summary: str) -> ResultT:
        """Runs one activity under the activity policy. A business refusal is raised to the
        caller; any other failure makes the process need attention until staff retry the
        step (it runs again) or cancel the process."""
        while True:
            try:
                return await run_activity(activity, arg, summary)
            except ActivityError as err:
                if refused_reason(err) is not None or cancelled_from_outside(err):
                    raise
                await self._needs_attention(summary[:200], attention_reason(err)[:300])

    async def _act_or_refuse(
        self, activity: Activity[ArgT, ResultT], arg: ArgT, summary: str
    ) -> ResultT:
        """An activity inside a step: a business refusal by the store refuses the step, with
        its reason, to the sender."""
        try:
            return await self._act(activity, arg, summary)
        except ActivityError as err:
            reason = refused_reason(err)
            if reason is None:
                raise
            raise refusal(reason) from None

    # --- needs attention --------------------------------------------------------------------

    async def _needs_attention(self, step: str, reason: str) -> None:
        """Waits for staff. Returns to run the step again; raises when staff cancel."""
        s = self.state
        before = (s.stage, s.waiting_for)
        seen = len(self._decisions)
        self._attention, self._attention_step = reason, step
        s.waiting_for = (
            f"staff: needs attention: {reason}; step: {step}. Fix the cause, then "
            f"`starter.py retry {s.process_id}`, or `starter.py cancel "
            f"{s.process_id} --reason ...`"
        )
        s.since = workflow.now()
        s.revision += 1
        self._upsert([STAGE.value_set(NEEDS_ATTENTION)])
        workflow.set_current_details(
            f"needs attention: {reason} (step: {step}; since {s.since:%Y-%m-%d %H:%M} UTC)"
        )
        workflow.logger.warning("process needs attention", extra={"reason": reason, "step": step})
        await workflow.wait_condition(lambda: len(self._decisions) > seen)
        decision, actor, why = self._decisions[seen]
        self._attention = None
        if decision == "retry":
            self._set_stage(before[0], before[1])
            return
        self._abandon(actor, why, reason)
        raise ApplicationError(
            f"{s.process_id} cancelled by {actor} while it needed attention ({reason}): {why}",
            type=ABANDONED,
            non_retryable=True,
        )

    def _abandon(self, actor: str, why: str, reason: str) -> None:
        """The process ends without further writes; what it wrote stays (see status)."""
        self._abandoned = True
        self._show_cancelled(
            f"nothing: cancelled by {actor} while it needed attention ({reason}): {why}"
        )

    def _show_cancelled(self, words: str) -> None:
        """The stage `cancelled`, also for a process whose stages have no such name."""
        stage_type = type(self.state.stage)
        if "cancelled" in {m.value for m in stage_type}:
            self._set_stage(stage_type("cancelled"), words)
        else:
            self.state.waiting_for = words
            self.state.since = workflow.now()
            self.state.revision += 1
            self._upsert([STAGE.value_set("cancelled")])
            workflow.set_current_details(f"cancelled: {words}")

    def _check_attention(self) -> None:
        if self._attention is None:
            raise refusal(
                f"nothing to retry: {self.state.process_id} needs no attention "
                f"({self.state.stage.value}: {self.state.waiting_for})"
            )

    @workflow.update
    async def retry(self, step: StaffStep) -> StepAnswer:
        """Staff run the step that needed attention again, once its cause is fixed."""
        self._check_attention()
        await self._authorize("retry", step.actor)
        self._check_attention()
        what = self._attention_step
        self._decisions.append(("retry", step.actor, ""))
        return StepAnswer(
            message=f'{self.state.process_id}: step "{what}" runs again; '
            f"`starter.py status {self.state.process_id}` shows how it goes",
            stage=NEEDS_ATTENTION,
        )

    @retry.validator
    def _validate_retry(self, step: StaffStep) -> None:
        self._check_attention()

    @workflow.update
    async def cancel(self, c: Cancellation) -> StepAnswer:
        """While a step needs attention, staff end the process here; at any other moment a
        process that may be cancelled answers through its own `_cancel`."""
        if self._attention is None:  # validated: the process may be cancelled now
            return await self._cancel(c)
        await self._authorize("cancel", c.actor)
        if self._attention is None:
            raise refusal(f"{self.state.process_id} needs no attention any more")
        self._decisions.append(("cancel", c.actor, c.reason))
        return StepAnswer(
            message=f"{self.state.process_id} cancelled while it needed "
            f"attention; what it had written stays",
            stage="cancelled",
        )

    @cancel.validator
    def _validate_cancel_update(self, c: Cancellation) -> None:
        if self._attention is None:
            self._validate_cancel(c)

    def _validate_cancel(self, c: Cancellation) -> None:
        """A process that may be cancelled outside needs-attention overrides this and
        `_cancel`."""
        raise refusal(f"{self.state.process_id} cannot be cancelled: it needs no attention")

    async def _cancel(self, c: Cancellation) -> StepAnswer:
        raise refusal(f"{self.state.process_id} cannot be cancelled: it needs no attention")

    # --- a cancel from outside the starter -----------------------------------------------------

    async def _withdraw(self, actor: str, reason: str) -> None:
        """Closes what a staff cancel closes, as `actor`, for a cancel that came from
        Temporal. A process with records of its own overrides it with its cancel step
        (same step key: a staff cancel and this one write once); the others only show the
        stage `cancelled`. Where the process's own cleanup cannot run at this moment (still
        being created, say), what is left open is closed by the reconciliation job."""
        self._abandoned = True
        self._show_cancelled(f"nothing: cancelled by {actor}: {reason}")

    async def _closed_from_outside(self) -> None:
        """Runs `_withdraw` to its end: a second cancel request does not cut it short."""
        why = workflow.cancellation_reason() or "no reason given"
        self._cancelled_in_temporal = True
        workflow.logger.warning("process cancelled in Temporal", extra={"reason": why})
        cleanup = asyncio.ensure_future(self._withdraw(TEMPORAL, f"cancelled in Temporal: {why}"))
        while not cleanup.done():
            try:
                await asyncio.shield(cleanup)
            except asyncio.CancelledError:
                if cleanup.done():
                    break
        cleanup.result()

    async def _end(self) -> StateT:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state

    # --- the starter's answer ---------------------------------------------------------------

    def _accepted(self) -> None:
        self.validated = True

    def _refused_at_start(self, stage: StageT, reason: str) -> None:
        self.refusal = reason
        self.validated = True
        self._set_stage(stage, f"nothing: refused, {reason}")

    @workflow.update
    async def started(self) -> StepAnswer:
        """Answers the starter once the request has been checked: accepted, or why not, or
        that a step needs attention before it can be checked."""
        await workflow.wait_condition(
            lambda: self.validated or self._attention is not None or self._cancelled_in_temporal
        )
        if self.refusal:
            raise refusal(self.refusal)
        if not self.validated and self._cancelled_in_temporal:
            raise refusal(
                f"{self.state.process_id} was cancelled in Temporal before its start was "
                f"checked: {workflow.cancellation_reason() or 'no reason given'}"
            )
        self._starts += 1
        if not self.validated:
            return StepAnswer(
                message=f"{self.state.process_id} started, but it needs attention:"
                f" {self._attention}; staff: `starter.py retry "
                f"{self.state.process_id}` once the cause is fixed, or "
                f"`starter.py cancel {self.state.process_id} --reason ...`",
                stage=NEEDS_ATTENTION,
                rejected=True,
            )
        if self._starts > 1:  # a later start of the same id, while this run runs
            return StepAnswer(
                message=f"{self.state.process_id} already exists: "
                f"{self.state.waiting_for} (the same request is not started "
                "twice)",
                stage=self.state.stage,
                notes=self.state.notes,
            )
        return self._started_answer()

    def _started_answer(self) -> StepAnswer:
        return StepAnswer(
            message=f"{self.state.process_id} started: {self.state.waiting_for}",
            stage=self.state.stage,
            notes=self.state.notes,
        )

    @workflow.query
    def status(self) -> StateT:
        """Subclasses redeclare it with their own status model, for typed callers."""
        return self.state


def closes_when_cancelled(
    run: Callable[[ProcessT, ArgT], Coroutine[Any, Any, ResultT]],
) -> Callable[[ProcessT, ArgT], Coroutine[Any, Any, ResultT]]:
    """Wraps a process's `run` (under `@workflow.run`): a cancel request from Temporal
    closes the process's records like `starter.py cancel` (`Process._withdraw`) and the
    workflow ends CANCELED, which is what the person who cancelled it asked for and what the
    UI then shows. A process that had already reached its end completes as it was."""

    @functools.wraps(run)
    async def closing(self: ProcessT, request: ArgT) -> ResultT:
        try:
            return await run(self, request)
        except (Exception, asyncio.CancelledError) as err:  # not GeneratorExit (eviction)
            if not cancelled_from_outside(err):
                raise
        if self.finished:  # its steps had ended it: nothing is left open
            return cast(ResultT, await self._end())
        await self._closed_from_outside()
        raise CancelledError("cancelled in Temporal; its records are closed")

    return closing
