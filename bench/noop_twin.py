"""A no-op twin of FastChangeOrder for bench/fast_change_bench.py: the same Temporal shape
(the same input, an update-with-start `started` update, three activities in the same order
- load PBX, create order, apply order - and a `confirm` update, then completion) but the
activities return at once and touch no database. What it costs is Temporal's floor
(server, worker, SDK, payload conversion) for one process of that shape.

Workflow-sandbox safe: only temporalio, the standard library and our domain models."""

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from domain.change_order import (
        AppliedOrder,
        FastChangeRequest,
        StaffStep,
        Stage,
        StepAnswer,
        StepKey,
    )
    from workflows.visibility import PARTNER_ID, STAGE

ACTIVITY_TIMEOUT = timedelta(seconds=30)  # as workflows.order_process
SYSTEM = "partnerflow"
# `--twin-stages`: the twins also show their stage (and, with the first, a partner) as search
# attributes where ours do, so that the ratio leaves out the visibility writes both make and
# isolates our code. Set by bench/ratio.py before the worker starts.
SHOW_STAGES = False


def show_stage(stage: Stage, partner: str | None = None) -> None:
    if not SHOW_STAGES:
        return
    updates = [STAGE.value_set(stage.value)]
    if partner is not None:
        updates.append(PARTNER_ID.value_set(partner))
    workflow.upsert_search_attributes(updates)


# --- the activities: same order and count as a fast change order, no work ------------------


@activity.defn(name="noop_load_pbx")
async def noop_load_pbx(key: StepKey) -> None:
    return None


@activity.defn(name="noop_create_order")
async def noop_create_order(key: StepKey) -> None:
    return None


@activity.defn(name="noop_apply_order")
async def noop_apply_order(key: StepKey) -> AppliedOrder:
    return AppliedOrder(records=[])


ACTIVITIES = [noop_load_pbx, noop_create_order, noop_apply_order]


# --- the workflow ----------------------------------------------------------------------------


@workflow.defn(name="NoopTwin")
class NoopTwin:
    @workflow.init
    def __init__(self, request: FastChangeRequest) -> None:
        self.stage = Stage.VALIDATING
        self.validated = False
        self.confirmed_by: str | None = None

    def _key(self, step: str, actor: str = SYSTEM) -> StepKey:
        return StepKey(process_id=workflow.info().workflow_id, step=step, actor=actor)

    async def _act(self, fn, arg: StepKey, summary: str):
        return await workflow.execute_activity(
            fn, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, summary=summary
        )

    @workflow.run
    async def run(self, request: FastChangeRequest) -> StepAnswer:
        await self._act(noop_load_pbx, self._key("load-pbx"), "load PBX (no-op)")
        await self._act(
            noop_create_order,
            self._key("create-order", request.requested_by),
            "create order (no-op)",
        )
        self.stage = Stage.AWAITING_PARTNER
        show_stage(self.stage, "P-TWIN")
        self.validated = True
        await workflow.wait_condition(lambda: self.confirmed_by is not None)
        self.stage = Stage.APPLYING
        await self._act(
            noop_apply_order,
            self._key("apply-order", self.confirmed_by or SYSTEM),
            "apply order (no-op)",
        )
        self.stage = Stage.APPLIED
        show_stage(self.stage)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return StepAnswer(message="no-op twin applied", stage=self.stage)

    @workflow.update
    async def started(self) -> StepAnswer:
        await workflow.wait_condition(lambda: self.validated)
        return StepAnswer(message="no-op twin started", stage=self.stage)

    @workflow.update
    async def confirm(self, step: StaffStep) -> StepAnswer:
        if self.confirmed_by is None:
            self.confirmed_by = step.actor
        await workflow.wait_condition(lambda: self.stage == Stage.APPLIED)
        return StepAnswer(message=f"confirmed by {self.confirmed_by}", stage=self.stage)

    @confirm.validator
    def _validate_confirm(self, step: StaffStep) -> None:
        if self.stage not in (Stage.AWAITING_PARTNER, Stage.APPLYING, Stage.APPLIED):
            raise ValueError(f"nothing to confirm yet: {self.stage.value}")
