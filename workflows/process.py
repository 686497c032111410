"""What every partnerflow process shares: its status in words for ops (stage search
attribute, current details), step keys for idempotent writes, activity calls with
summaries and one activity policy, the `started` answer for the starter, business
refusals, and "needs attention" (a step that cannot go on waits for staff to `retry` or
`cancel` it).

A process class sets `kind` (a StrEnum) and `final_stages`, and keeps `self.state`, a
pydantic model with at least: process_id, stage, waiting_for, since, revision, account_id
and partner_id (None where there is none)."""

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.people import Authorization, PeopleActivities, Verdict
    from domain.errors import NOT_PERMITTED, REFUSED, Refused
    from domain.permissions import Facts, decide
    from domain.steps import BAD_DATA, Cancellation, StaffStep, StepAnswer, StepKey
    from workflows.visibility import ACCOUNT_ID, PARTNER_ID, PROCESS_KIND, STAGE

SYSTEM = "partnerflow"

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
# Step keys carry the run chain from this change on; processes that were running before
# keep keys without it, so their steps already written are still found.
RUN_KEYS = "step-keys-by-run"
# Every human step asks the directory first (issue 10); processes from before keep their
# histories (the store still checks their steps, see Process._key).
AUTHORIZE = "authorize-steps"
AUTHORIZE_TIMEOUT = timedelta(seconds=10)


async def authorize(permission: str, actor: str, facts: Facts) -> str | None:
    """Why `actor` may not do `permission` here (None: may), asked of the directory by a
    short local activity (no round trip to the server); the activity logs a refusal. The
    system's own name is refused for any human step without asking."""
    if actor == SYSTEM:
        return decide(permission, actor, None, facts)
    if not since(AUTHORIZE):
        return None
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


# Issue 14: search attributes written only when a value changes (ids given at start are not
# written again, the partner id goes with the next stage), no Stage write for a step in
# flight, and no timer cancelled when the partner confirms. Runs recorded before keep theirs.
LEAN = "lean-visibility"
# Issue 14: a run started from this release on records this one marker for the three rules
# above, where it used to record one per rule: every workflow.patched marker also costs the
# history a TemporalChangeVersion search attribute upsert, a visibility write on the server.
# With it come the rules that need no marker of their own (see Process._refused_start).
# Runs recorded before replay with the markers they have.
RULES_2026_12 = "rules-2026-12"


# Only the benches' `--before` sets it False (new runs then take the paths from before).
RULES_ON = True


def rules_2026_12() -> bool:
    """Whether this run follows RULES_2026_12 (the marker is recorded at the first ask)."""
    return RULES_ON and workflow.patched(RULES_2026_12)


def since(patch: str) -> bool:
    """Whether this run follows `patch` (RUN_KEYS, AUTHORIZE or LEAN): every run from
    RULES_2026_12 on, and the runs recorded before it that took `patch` itself."""
    return rules_2026_12() or workflow.patched(patch)


def run_chain() -> str:
    """The step keys' run for a workflow that is not a Process (see Process._run_chain);
    call it once per run."""
    return workflow.info().first_execution_run_id if since(RUN_KEYS) else ""


def attention_reason(err: ActivityError) -> str:
    """Why a step cannot go on, in words for ops (no values from the payload)."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == BAD_DATA:
        return cause.message
    if isinstance(cause, TimeoutError):
        last = cause.cause
        why = f" (last error: {last.message})" if isinstance(last, FailureError) else ""
        return f"no answer within {ACTIVITY_DEADLINE} ({cause.type.name.lower()}){why}"
    if isinstance(cause, FailureError):
        return f"failed {ACTIVITY_RETRIES.maximum_attempts} times: {cause.message}"
    return str(cause or err)


def refusal(message: str) -> ApplicationError:
    """A step refused for a business reason: the sender is told why, nothing is retried."""
    return ApplicationError(message, type=REFUSED, non_retryable=True)


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


class Process:
    kind: Any
    final_stages: frozenset
    state: Any
    # Processes whose search attribute writes follow LEAN (issue 14); the others write as
    # before and never record the patch.
    lean_visibility = False

    def _init_process(self) -> None:
        self.validated = False
        self.refusal: str | None = None
        self._lock = asyncio.Lock()
        self._run_keys: bool | None = None
        self._attention: str | None = None  # the reason while a step needs attention
        self._attention_step = ""
        self._decisions: list[tuple[str, str, str]] = []  # (retry|cancel, actor, reason)
        self._abandoned = False
        self._cancel_installed = False
        self._starts = 0
        # actor -> the permission last granted to them, and the facts it was granted on
        self._granted: dict[str, tuple[str, Facts]] = {}
        self._lean_run: bool | None = None
        self._pending: dict[str, Any] = {}  # search attribute updates not yet written

    @property
    def ref(self) -> str:
        """The workflow id without its kind: what record ids of this process derive from."""
        return self.state.process_id.removeprefix(f"{self.kind.value}-")

    @property
    def finished(self) -> bool:
        return self.state.stage in self.final_stages or getattr(self, "_abandoned", False)

    # --- ops visibility ---------------------------------------------------------------------

    def _lean(self) -> bool:
        """LEAN applies to this run (decided once, at the first search attribute write)."""
        if not self.lean_visibility:
            return False
        if getattr(self, "_lean_run", None) is None:
            self._lean_run = since(LEAN)
        return bool(self._lean_run)

    def _upsert(self, updates: list, *, now: bool = True) -> None:
        """Writes search attributes. Under LEAN only the values that differ from what the
        process already shows (given at start or written before), together with those held
        back by `now=False` (written with the next write)."""
        if not self._lean():
            workflow.upsert_search_attributes(updates)
            return
        pending = getattr(self, "_pending", None)
        if pending is None:
            pending = self._pending = {}
        for u in updates:
            pending[u.key.name] = u
        if not now:
            return
        shown = workflow.info().typed_search_attributes
        changed = [u for u in pending.values() if shown.get(u.key) != u.value]
        pending.clear()
        if changed:
            workflow.upsert_search_attributes(changed)

    def _set_stage(self, stage: Any, waiting_for: str, *, in_flight: bool = False) -> None:
        """`in_flight`: a step that takes milliseconds (applying); under LEAN its stage is
        not written as the Stage search attribute (the current details say it, and a step
        that stalls shows needs-attention)."""
        self.state.stage = stage
        self.state.waiting_for = waiting_for
        self.state.since = workflow.now()
        self.state.revision += 1
        if not (in_flight and self._lean()):
            self._upsert([STAGE.value_set(stage.value)])
        workflow.set_current_details(
            f"{stage.value}: {waiting_for} (since {self.state.since:%Y-%m-%d %H:%M} UTC)"
        )

    def _publish_ids(self, *, with_next_stage: bool = False) -> None:
        """`with_next_stage`: under LEAN, held back and written with the next stage (the
        caller sets one, or needs attention, before it waits)."""
        updates = [PROCESS_KIND.value_set(self.kind.value)]
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
            granted = getattr(self, "_granted", {}).get(actor)
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
        ended process id is started again. Decided once per run (a process that was running
        before this change keeps its keys without a run)."""
        if getattr(self, "_run_keys", None) is None:
            self._run_keys = since(RUN_KEYS)
        return workflow.info().first_execution_run_id if self._run_keys else ""

    # --- who may do what (issue 10) ---------------------------------------------------------

    def _permission(self, step: str) -> str:
        return f"{workflow.info().workflow_type}.{step}"

    def _facts(self) -> Facts:
        """The process's facts for the permission rule; a process may add its own."""
        partner = getattr(self.state, "partner_id", None)
        return Facts(
            partner_ids=[partner] if partner else [],
            account_id=getattr(self.state, "account_id", None),
        )

    async def _authorize(self, step: str, actor: str, **facts: Any) -> None:
        """Refuses the step (nothing written) unless the directory lets `actor` do it;
        `facts` adds what only this step knows (e.g. its lead)."""
        reason = await self._ask(self._permission(step), actor, facts)
        if reason is not None:
            raise refusal(reason)

    def _checked_in_step(self, actor: str) -> bool:
        """From RULES_2026_12 on, a step whose first write checks the actor's permission in
        its own transaction (store/steps.py once(): refused and logged there, nothing
        written; the step key carries the permission, see _key) does not ask the directory
        first: that local activity cost each such step about a fifth of its throughput
        (issue 14). Such a step still asks (`_authorize`) wherever it answers without that
        write, and a step that changes the process before writing always asks first."""
        return actor != SYSTEM and rules_2026_12()

    async def _refused_start(
        self, actor: str, *, checked_by_first_step: bool = False
    ) -> str | None:
        """Why `actor` may not start this process (None: may). `checked_by_first_step`: the
        process's first step writes nothing before its own transaction checks the start
        permission (store/steps.py once()) and refuses with the same reason, logged; from
        RULES_2026_12 on the process then does not ask the directory first (issue 14: that
        local activity cost a fast change order a fifth of its throughput)."""
        permission = self._permission("start")
        if checked_by_first_step and self._checked_in_step(actor):
            self._granted[actor] = (permission, self._facts())
            return None
        return await self._ask(permission, actor, {})

    async def _ask(self, permission: str, actor: str, extra: dict) -> str | None:
        facts = self._facts().model_copy(update=extra) if extra else self._facts()
        while True:
            try:
                reason = await authorize(permission, actor, facts)
                if reason is None:
                    self._granted[actor] = (permission, facts)
                return reason
            except ActivityError as err:
                if workflow.current_update_info() is not None:  # the sender may try again
                    raise refusal(
                        f"the people directory cannot be read now "
                        f"({attention_reason(err)}); nothing was done: try again"
                    ) from None
                # a start: staff decide, as for any step that cannot go on
                await self._needs_attention(
                    f"may {actor} {permission}?", attention_reason(err)[:300]
                )

    async def _act(self, activity: Any, arg: Any, summary: str) -> Any:
        """Runs one activity under the activity policy. A business refusal is raised to the
        caller; any other failure makes the process need attention until staff retry the
        step (it runs again) or cancel the process."""
        while True:
            try:
                return await workflow.execute_activity_method(
                    activity,
                    arg,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    schedule_to_close_timeout=ACTIVITY_DEADLINE,
                    retry_policy=ACTIVITY_RETRIES,
                    summary=summary[:200],
                )
            except ActivityError as err:
                if refused_reason(err) is not None:
                    raise
                await self._needs_attention(summary[:200], attention_reason(err)[:300])

    async def _act_or_refuse(self, activity: Any, arg: Any, summary: str) -> Any:
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
        self._install_cancel()
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
        words = f"nothing: cancelled by {actor} while it needed attention ({reason}): {why}"
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

    def _install_cancel(self) -> None:
        """`cancel` while a step needs attention ends the process. A process with its own
        cancel keeps it for every other moment: the handler below delegates to it."""
        if self._cancel_installed:
            return
        self._cancel_installed = True
        defn = getattr(type(self), "__temporal_workflow_definition").updates.get("cancel")
        own = defn.bind_fn(self) if defn else None
        own_validator = defn.bind_validator(self) if defn and defn.validator else None

        def validate(c: Cancellation) -> None:
            if self._attention is not None:
                return
            if own is None:
                raise refusal(f"{self.state.process_id} cannot be cancelled: it needs no attention")
            if own_validator is not None:
                own_validator(c)

        async def cancel(c: Cancellation) -> StepAnswer:
            if self._attention is None:  # validated: the process has a cancel of its own
                return await own(c)
            await self._authorize("cancel", c.actor)
            if self._attention is None:
                raise refusal(f"{self.state.process_id} needs no attention any more")
            self._decisions.append(("cancel", c.actor, c.reason))
            return StepAnswer(
                message=f"{self.state.process_id} cancelled while it needed "
                f"attention; what it had written stays",
                stage="cancelled",
            )

        workflow.set_update_handler("cancel", cancel, validator=validate)

    async def _end(self) -> Any:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state

    # --- the starter's answer ---------------------------------------------------------------

    def _accepted(self) -> None:
        self.validated = True

    def _refused_at_start(self, stage: Any, reason: str) -> None:
        self.refusal = reason
        self.validated = True
        self._set_stage(stage, f"nothing: refused, {reason}")

    @workflow.update
    async def started(self) -> StepAnswer:
        """Answers the starter once the request has been checked: accepted, or why not, or
        that a step needs attention before it can be checked."""
        await workflow.wait_condition(lambda: self.validated or self._attention is not None)
        if self.refusal:
            raise refusal(self.refusal)
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
                notes=getattr(self.state, "notes", []),
            )
        return self._started_answer()

    def _started_answer(self) -> StepAnswer:
        return StepAnswer(
            message=f"{self.state.process_id} started: {self.state.waiting_for}",
            stage=self.state.stage,
            notes=getattr(self.state, "notes", []),
        )

    @workflow.query
    def status(self) -> Any:
        """Subclasses redeclare it with their own status model, for typed callers."""
        return self.state
