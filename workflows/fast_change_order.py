"""Fast change order: licence counts on an active PBX, no quote.
Validate -> order awaiting partner confirmation -> partner notified -> partner confirms
-> licences applied.

`--set Premium=6` means "the PBX should have 6": the order keeps that total, and the change
is planned again when the order is applied, against the licences the PBX has then."""

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.change_orders import ChangeOrderActivities
    from domain.business_time import Family, business_today
    from domain.change_order import (
        FastChangeOpening,
        FastChangeRequest,
        ProcessKind,
        ProcessStatus,
    )
    from domain.order_lines import Plan

# Workflow code: imported again in each run's sandbox (see worker.workflow_runner).
from workflows.order_decline import DeclinableOrder
from workflows.process import closes_when_cancelled, refused_reason
from workflows.rollout import versioning


@workflow.defn(name="FastChangeOrder", versioning_behavior=versioning("FastChangeOrder"))
class FastChangeOrder(DeclinableOrder):
    kind = ProcessKind.FAST_CHANGE

    @workflow.init
    def __init__(self, request: FastChangeRequest) -> None:
        self._begin(request.account_id, request.pbx_id)

    @workflow.run
    @closes_when_cancelled
    async def run(self, request: FastChangeRequest) -> ProcessStatus:
        self._publish_ids()
        if (
            why := await self._refused_start(request.requested_by, checked_by_first_step=True)
        ) is not None:
            return await self._refuse(why)
        # The PBX check, the plan and the order in one step: one activity, one transaction.
        order_id = f"order-{self.ref}"
        try:
            opened = await self._act(
                ChangeOrderActivities.open_fast_change,
                FastChangeOpening(
                    key=self._key("create-order", request.requested_by),
                    lookup=self._lookup([line.sku for line in request.lines]),
                    lines=request.lines,
                    today=business_today(workflow.now(), Family.CHANGE_ORDERS),
                    order_id=order_id,
                ),
                f"check PBX {self.state.pbx_id}, create order {order_id}, notify partner",
            )
        except ActivityError as err:
            reason = refused_reason(err)
            if reason is None:
                raise
            return await self._refuse(reason)
        self._pbx_loaded(opened.pbx)
        self._publish_ids(with_next_stage=True)
        self._planned(opened.plan)
        self._order_created(order_id)
        self.validated = True
        await self._await_partner_then_apply()
        return await self._end()

    def _planned(self, plan: Plan) -> None:
        self.state.lines = plan.lines
        self.state.targets = plan.targets
        self.state.notes = [
            "totals: "
            + ", ".join(f"{t.sku}={t.total}" for t in plan.targets)
            + "; the change is worked out again against the PBX when the partner confirms"
        ]
