"""What every partnerflow process shares: its status in words for ops (stage search
attribute, current details), step keys for idempotent writes, activity calls with
summaries, the `started` answer for the starter, and business refusals.

A process class sets `kind` (a StrEnum) and `final_stages`, and keeps `self.state`, a
pydantic model with at least: process_id, stage, waiting_for, since, revision, account_id
and partner_id (None where there is none)."""

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.errors import REFUSED, Refused
    from domain.steps import StepAnswer, StepKey
    from workflows.visibility import ACCOUNT_ID, PARTNER_ID, PROCESS_KIND, STAGE

ACTIVITY_TIMEOUT = timedelta(seconds=30)
SYSTEM = "partnerflow"


def refusal(message: str) -> ApplicationError:
    """A step refused for a business reason: the sender is told why, nothing is retried."""
    return ApplicationError(message, type=REFUSED, non_retryable=True)


def business_refusal(err: ActivityError) -> str | None:
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == REFUSED:
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

    def _init_process(self) -> None:
        self.validated = False
        self.refusal: str | None = None
        self._lock = asyncio.Lock()

    @property
    def ref(self) -> str:
        """The workflow id without its kind: what record ids of this process derive from."""
        return self.state.process_id.removeprefix(f"{self.kind.value}-")

    @property
    def finished(self) -> bool:
        return self.state.stage in self.final_stages

    # --- ops visibility ---------------------------------------------------------------------

    def _set_stage(self, stage: Any, waiting_for: str) -> None:
        self.state.stage = stage
        self.state.waiting_for = waiting_for
        self.state.since = workflow.now()
        self.state.revision += 1
        workflow.upsert_search_attributes([STAGE.value_set(stage.value)])
        workflow.set_current_details(
            f"{stage.value}: {waiting_for} (since {self.state.since:%Y-%m-%d %H:%M} UTC)"
        )

    def _publish_ids(self) -> None:
        updates = [PROCESS_KIND.value_set(self.kind.value)]
        if self.state.account_id:
            updates.append(ACCOUNT_ID.value_set(self.state.account_id))
        if self.state.partner_id:
            updates.append(PARTNER_ID.value_set(self.state.partner_id))
        workflow.upsert_search_attributes(updates)

    # --- steps ------------------------------------------------------------------------------

    def _key(self, step: str, actor: str = SYSTEM) -> StepKey:
        return StepKey(process_id=self.state.process_id, step=step, actor=actor)

    async def _act(self, activity: Any, arg: Any, summary: str) -> Any:
        return await workflow.execute_activity_method(
            activity, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, summary=summary[:200]
        )

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
        """Answers the starter once the request has been checked: accepted, or why not."""
        await workflow.wait_condition(lambda: self.validated)
        if self.refusal:
            raise refusal(self.refusal)
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
