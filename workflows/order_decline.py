"""The partner's "no" to an order it was asked to confirm: the `decline` step of both order
processes. The order ends declined with the partner's reason (kept on the order and in the
audit log of the step), its open quotes are cancelled and staff are told."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.change_orders import ChangeOrderActivities
    from domain.change_order import OrderDecline, Stage, StepAnswer
    from domain.steps import Decline

# Workflow code: imported again in each run's sandbox (see worker.workflow_runner).
from workflows.order_process import OrderProcess
from workflows.process import refusal


class DeclinableOrder(OrderProcess):
    def _check_decline(self) -> bool:
        """True for a repeat (the order is declined already); refuses what cannot be
        declined: only an order waiting for the partner's confirmation can be."""
        if self.state.stage == Stage.DECLINED:
            return True
        if self.confirmed_by is not None or self.state.stage in (Stage.APPLYING, Stage.APPLIED):
            raise refusal(
                f"order {self.state.order_id} is confirmed; it can no longer be declined",
                "order.confirmed_already",
            )
        if self.state.stage != Stage.AWAITING_PARTNER:
            raise refusal(
                f"there is no order to decline: {self.state.stage.value}, {self.state.waiting_for}",
                "order.not_waiting",
                stage=self.state.stage.value,
            )
        return False

    @workflow.update
    async def decline(self, step: Decline) -> StepAnswer:
        """The partner declines the order, with a reason; the same people may as confirm."""
        await self._authorize("decline", step.actor)
        async with self._lock:
            # Checked again under the lock: a confirmation, cancel or expiry may have come
            # first since the validator let this step in.
            if not self._check_decline():
                order_id = self.state.order_id or ""
                await self._act_or_refuse(
                    ChangeOrderActivities.decline_order,
                    OrderDecline(
                        key=self._key("decline", step.actor),
                        order_id=order_id,
                        reason=step.reason,
                        quote_ids=[q.quote_id for q in self.state.quotes],
                    ),
                    f"decline order {order_id}",
                )
                for q in self.state.quotes:
                    if q.status != "accepted":
                        q.status, q.primary = "cancelled", False
                self._set_stage(Stage.DECLINED, f"nothing: declined by {step.actor}: {step.reason}")
        return StepAnswer(
            message=f"order {self.state.order_id} declined; staff are told",
            stage=self.state.stage,
            code="order.declined",
            params={"order": self.state.order_id or ""},
        )

    @decline.validator
    def _validate_decline(self, step: Decline) -> None:
        self._check_decline()
