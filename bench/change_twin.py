"""A no-op twin of ChangeOrder (the quote-based change order) for bench/change_order_bench.py:
the same Temporal shape - update-with-start `started`; load PBX and save quote v1; the staff
updates mark_primary, publish and mark_complete, each one activity; the partner's `confirm`,
then apply order; completion - with activities that return at once and touch no database.

Workflow-sandbox safe: only temporalio, the standard library and our domain models."""

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from bench.noop_twin import show_stage
    from domain.change_order import (
        AppliedOrder,
        ChangeOrderRequest,
        QuoteStep,
        StaffStep,
        Stage,
        StepAnswer,
        StepKey,
    )

ACTIVITY_TIMEOUT = timedelta(seconds=30)  # as workflows.process
SYSTEM = "partnerflow"


def _noop(name: str):
    @activity.defn(name=f"noop_co_{name}")
    async def step(key: StepKey) -> None:
        return None

    return step


LOAD_PBX, SAVE_QUOTE, MARK_PRIMARY, PUBLISH, COMPLETE = (
    _noop(n) for n in ("load_pbx", "save_quote", "mark_primary", "publish", "complete")
)


@activity.defn(name="noop_co_apply_order")
async def apply_order(key: StepKey) -> AppliedOrder:
    return AppliedOrder(records=[])


ACTIVITIES = [LOAD_PBX, SAVE_QUOTE, MARK_PRIMARY, PUBLISH, COMPLETE, apply_order]


@workflow.defn(name="NoopChangeTwin")
class NoopChangeTwin:
    @workflow.init
    def __init__(self, request: ChangeOrderRequest) -> None:
        self.stage = Stage.VALIDATING
        self.validated = False
        self.confirmed_by: str | None = None
        self.quote_id = ""

    def _key(self, step: str, actor: str = SYSTEM) -> StepKey:
        return StepKey(process_id=workflow.info().workflow_id, step=step, actor=actor)

    async def _act(self, fn, step: str, actor: str = SYSTEM):
        return await workflow.execute_activity(
            fn, self._key(step, actor), start_to_close_timeout=ACTIVITY_TIMEOUT, summary=step
        )

    @workflow.run
    async def run(self, request: ChangeOrderRequest) -> StepAnswer:
        await self._act(LOAD_PBX, "load-pbx")
        await self._act(SAVE_QUOTE, "save-quote-v1", request.requested_by)
        self.quote_id = f"quote-{workflow.info().workflow_id}-v1"
        self.stage = Stage.QUOTE_DRAFT
        show_stage(self.stage, "P-TWIN")
        self.validated = True
        await workflow.wait_condition(lambda: self.confirmed_by is not None)
        self.stage = Stage.APPLYING
        await self._act(apply_order, "apply-order", self.confirmed_by or SYSTEM)
        self.stage = Stage.APPLIED
        show_stage(self.stage)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return StepAnswer(message="no-op change twin applied", stage=self.stage)

    @workflow.update
    async def started(self) -> StepAnswer:
        await workflow.wait_condition(lambda: self.validated)
        return StepAnswer(message=f"no-op change twin started: {self.quote_id}", stage=self.stage)

    async def _step(self, fn, step: str, actor: str, stage: Stage) -> StepAnswer:
        await self._act(fn, step, actor)
        self.stage = stage
        show_stage(stage)
        return StepAnswer(message=step, stage=self.stage)

    @workflow.update
    async def mark_primary(self, step: QuoteStep) -> StepAnswer:
        return await self._step(MARK_PRIMARY, "mark-primary-v1", step.actor, Stage.QUOTE_PRIMARY)

    @workflow.update
    async def publish(self, step: QuoteStep) -> StepAnswer:
        return await self._step(PUBLISH, "publish-v1", step.actor, Stage.QUOTE_PUBLISHED)

    @workflow.update
    async def mark_complete(self, step: StaffStep) -> StepAnswer:
        return await self._step(COMPLETE, "mark-complete-v1-1", step.actor, Stage.AWAITING_PARTNER)

    @workflow.update
    async def confirm(self, step: StaffStep) -> StepAnswer:
        if self.confirmed_by is None:
            self.confirmed_by = step.actor
        await workflow.wait_condition(lambda: self.stage == Stage.APPLIED)
        return StepAnswer(message=f"confirmed by {self.confirmed_by}", stage=self.stage)
