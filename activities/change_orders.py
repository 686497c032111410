"""Activities of the change-order processes: each runs one store write as one idempotent
step (see activities/common.py)."""

from temporalio import activity

from activities.common import StepActivities, refusals_are_final
from domain.account import rejection_reason
from domain.change_order import (
    AppliedOrder,
    ChangeOrderOpening,
    CompletionOutcome,
    FastChangeOpening,
    NewOrder,
    OpenedChangeOrder,
    OpenedFastChange,
    OrderApplication,
    OrderClosure,
    OrderDecline,
    OrderDraft,
    PartnerReminder,
    PbxLookup,
    PbxSnapshot,
    ProcessKind,
    QuoteChange,
    QuoteCompletion,
    QuoteDraft,
    check_pbx_active,
)
from domain.order_lines import plan_fast_change, plan_quote
from store import change_orders as orders
from store import order_declines, quotes


class ChangeOrderActivities(StepActivities):
    @activity.defn
    async def load_pbx(self, lookup: PbxLookup) -> PbxSnapshot:
        async with refusals_are_final(), self.pool.acquire() as conn:
            return await orders.pbx_snapshot(conn, lookup.account_id, lookup.pbx_id, lookup.skus)

    @activity.defn
    async def save_quote(self, quote: QuoteDraft) -> None:
        await self._once(quote.key, "quote saved", lambda c: quotes.save_quote(c, quote))

    @activity.defn
    async def mark_quote_primary(self, change: QuoteChange) -> None:
        await self._once(
            change.key,
            "quote marked primary",
            lambda c: quotes.mark_primary(c, change.quote_id, change.pbx_id),
        )

    @activity.defn
    async def publish_quote(self, change: QuoteChange) -> None:
        await self._once(
            change.key, "quote published", lambda c: quotes.publish(c, change.quote_id)
        )

    @activity.defn
    async def complete_quote(self, completion: QuoteCompletion) -> CompletionOutcome:
        """ "Mark status as complete": accepted into an order, or rejected with its reason."""
        order = completion.order

        async def write(conn) -> dict:
            reason = rejection_reason(await orders.mandatory_fields(conn, order.account_id))
            if reason:
                await quotes.reject_quote(conn, completion.quote_id, reason)
                return {"accepted": False, "reason": reason}
            await quotes.accept_quote(conn, completion.quote_id)
            await orders.create_order(conn, completion.key.process_id, completion.key.step, order)
            return {"accepted": True, "order": order.order_id}

        result = await self._once(completion.key, "quote completed", write)
        return CompletionOutcome(accepted=result["accepted"], reason=result.get("reason"))

    @activity.defn
    async def create_order(self, new: NewOrder) -> None:
        await self._once(
            new.key,
            "order created",
            lambda c: orders.create_order(c, new.key.process_id, new.key.step, new.order),
        )

    @activity.defn
    async def open_fast_change(self, o: FastChangeOpening) -> OpenedFastChange:
        """load_pbx, the plan and create_order in one step and one transaction (one
        activity and one workflow task less per fast change order). A refusal (unknown
        or inactive PBX, a line that cannot be planned) writes nothing."""

        async def write(conn) -> dict:
            lookup = o.lookup
            pbx = await orders.pbx_snapshot(conn, lookup.account_id, lookup.pbx_id, lookup.skus)
            check_pbx_active(pbx)
            plan = plan_fast_change(o.lines, pbx.licences, pbx.catalogue, o.today)
            await orders.create_order(
                conn,
                o.key.process_id,
                o.key.step,
                OrderDraft(
                    order_id=o.order_id,
                    kind=ProcessKind.FAST_CHANGE,
                    account_id=pbx.account_id,
                    pbx_id=pbx.pbx_id,
                    partner_id=pbx.partner_id,
                    lines=plan.lines,
                    targets=plan.targets,
                ),
            )
            return {"pbx": pbx.model_dump(mode="json"), "plan": plan.model_dump(mode="json")}

        return OpenedFastChange(**await self._once(o.key, "order created", write))

    @activity.defn
    async def open_change_order(self, o: ChangeOrderOpening) -> OpenedChangeOrder:
        """load_pbx, the plan and save_quote (v1) in one step and one transaction,
        as open_fast_change. A refusal writes nothing."""

        async def write(conn) -> dict:
            lookup = o.lookup
            pbx = await orders.pbx_snapshot(conn, lookup.account_id, lookup.pbx_id, lookup.skus)
            check_pbx_active(pbx)
            plan = plan_quote(o.lines, pbx.licences, pbx.catalogue, o.today, pbx.flats)
            await quotes.save_quote(
                conn,
                QuoteDraft(
                    key=o.key,
                    quote_id=o.quote_id,
                    account_id=pbx.account_id,
                    pbx_id=pbx.pbx_id,
                    version=1,
                    lines=o.lines,
                    notes=plan.notes,
                ),
            )
            return {"pbx": pbx.model_dump(mode="json"), "plan": plan.model_dump(mode="json")}

        return OpenedChangeOrder(**await self._once(o.key, "quote saved", write))

    @activity.defn
    async def remind_partner(self, r: PartnerReminder) -> None:
        await self._once(
            r.key,
            "partner reminded",
            lambda c: orders.remind_partner(
                c, r.key.process_id, r.key.step, r.order_id, r.partner_id, r.reminder_no
            ),
        )

    @activity.defn
    async def apply_order(self, a: OrderApplication) -> AppliedOrder:
        result = await self._once(
            a.key,
            "order applied",
            lambda c: orders.apply_order(
                c, a.key.process_id, a.key.step, a.key.actor, a.order, a.today
            ),
        )
        return AppliedOrder(**result)

    @activity.defn
    async def close_order(self, c: OrderClosure) -> None:
        await self._once(
            c.key,
            f"process {c.status}",
            lambda conn: orders.close(
                conn,
                c.key.process_id,
                c.key.step,
                c.status,
                c.reason,
                c.order_id,
                c.partner_id,
                c.quote_ids,
            ),
        )

    @activity.defn
    async def decline_order(self, d: OrderDecline) -> None:
        await self._once(
            d.key,
            f"order declined by the partner: {d.reason}",
            lambda conn: order_declines.decline(
                conn, d.key.process_id, d.key.step, d.order_id, d.reason, d.key.actor, d.quote_ids
            ),
        )
