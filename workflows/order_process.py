"""What both change-order processes share: their status, the wait for the partner's
"Bestellung bestätigen" with reminders and expiry, applying the order, and cancelling."""

import asyncio
from datetime import timedelta
from typing import ClassVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.change_orders import ChangeOrderActivities
    from domain.business_time import Family, business_today
    from domain.change_order import (
        FINAL_STAGES,
        Cancellation,
        OrderApplication,
        OrderClosure,
        OrderDraft,
        PartnerReminder,
        PbxLookup,
        PbxSnapshot,
        ProcessKind,
        ProcessStatus,
        StaffStep,
        Stage,
        StepAnswer,
    )
    from domain.confirmation import EXPIRES_AFTER, next_confirmation_event
    from domain.errors import REFUSED

# Workflow code: imported again in each run's sandbox (see worker.workflow_runner).
from workflows.process import (
    SYSTEM,
    Process,
    business_refusal,
    permission_refusal,
    refusal,
)


class OrderProcess(Process[ProcessStatus, Stage]):
    kind: ClassVar[ProcessKind]
    final_stages = frozenset(FINAL_STAGES)
    lean_visibility = True

    def _begin(self, account_id: str, pbx_id: str) -> None:
        self._init_process()
        self.state = ProcessStatus(
            process_id=workflow.info().workflow_id,
            kind=self.kind,
            stage=Stage.VALIDATING,
            waiting_for="checking the PBX and the requested lines",
            since=workflow.now(),
            account_id=account_id,
            pbx_id=pbx_id,
        )
        self.pbx: PbxSnapshot | None = None
        self.confirmed_by: str | None = None

    @workflow.query
    def status(self) -> ProcessStatus:
        return self.state

    # --- start ------------------------------------------------------------------------------

    def _lookup(self, skus: list[str]) -> PbxLookup:
        return PbxLookup(account_id=self.state.account_id, pbx_id=self.state.pbx_id, skus=skus)

    def _pbx_loaded(self, pbx: PbxSnapshot) -> PbxSnapshot:
        self.pbx = pbx
        self.state.partner_id = pbx.partner_id
        return pbx

    async def _load_pbx(self, skus: list[str]) -> PbxSnapshot:
        return self._pbx_loaded(
            await self._act(
                ChangeOrderActivities.load_pbx, self._lookup(skus), f"load PBX {self.state.pbx_id}"
            )
        )

    async def _refuse(self, reason: str) -> ProcessStatus:
        self._refused_at_start(Stage.REFUSED, reason)
        return await self._end()

    # --- the partner's confirmation ---------------------------------------------------------

    def _order_draft(self, quote_id: str | None = None) -> OrderDraft:
        assert self.pbx is not None
        return OrderDraft(
            order_id=self.state.order_id or f"order-{self.ref}",
            kind=self.kind,
            account_id=self.state.account_id,
            pbx_id=self.state.pbx_id,
            partner_id=self.pbx.partner_id,
            quote_id=quote_id,
            lines=self.state.lines,
            targets=self.state.targets,
        )

    def _order_created(self, order_id: str) -> None:
        self.state.order_id = order_id
        self._set_stage(
            Stage.AWAITING_PARTNER,
            f"waiting for partner {self.state.partner_id} to confirm order {order_id}",
        )

    async def _await_partner_then_apply(self) -> None:
        order_id = self.state.order_id
        waiting_since = self.state.since
        while True:
            event, at = next_confirmation_event(waiting_since, self.state.reminders_sent)
            try:
                await self._until(
                    lambda: self.confirmed_by is not None or self.finished,
                    timeout=max(at - workflow.now(), timedelta(seconds=1)),
                )
                # the confirmation's own update applies the order: its outcome is awaited
                await workflow.wait_condition(lambda: self.finished or self.confirmed_by is None)
                if self.finished:
                    return
                continue  # the directory refused that confirmation: the order waits on
            except TimeoutError:
                if event == "expiry":
                    async with self._lock:
                        if self.confirmed_by is None and not self.finished:
                            await self._close(
                                Stage.EXPIRED,
                                f"not confirmed by the partner within {EXPIRES_AFTER.days} days",
                                SYSTEM,
                            )
                            return
                    continue
                n = self.state.reminders_sent + 1
                await self._act(
                    ChangeOrderActivities.remind_partner,
                    PartnerReminder(
                        key=self._key(f"partner-reminder-{n}"),
                        order_id=order_id or "",
                        partner_id=self.state.partner_id or "",
                        reminder_no=n,
                    ),
                    f"remind partner, reminder {n}",
                )
                self.state.reminders_sent = n
                self.state.revision += 1

    async def _until(self, condition, timeout: timedelta) -> None:
        """workflow.wait_condition with a timeout (TimeoutError). The timer is not cancelled
        when the condition comes first: it ends with the run (the partner's confirmation
        leads to the end), and cancelling it costs a command and an event."""
        timer = asyncio.ensure_future(asyncio.sleep(timeout.total_seconds()))
        met = asyncio.ensure_future(workflow.wait_condition(condition))
        await workflow.wait([timer, met], return_when=asyncio.FIRST_COMPLETED)
        if met.done():
            return
        met.cancel()
        raise TimeoutError()

    async def _apply(self) -> None:
        actor = self.confirmed_by or SYSTEM
        waiting = (self.state.since, self.state.waiting_for)
        self._set_stage(Stage.APPLYING, f"applying order {self.state.order_id}", in_flight=True)
        try:
            applied = await self._act(
                ChangeOrderActivities.apply_order,
                OrderApplication(
                    key=self._key("apply-order", actor),
                    order=self._order_draft(),
                    today=business_today(workflow.now(), Family.CHANGE_ORDERS),
                ),
                f"apply order {self.state.order_id}",
            )
        except ActivityError as err:
            # The partner's `confirm` applies the order in its own step, whose transaction
            # checks the person: refused, the order waits on.
            if (why := permission_refusal(err)) is not None:
                # nothing was written: the order waits for its partner as before
                self.confirmed_by = None
                self._set_stage(Stage.AWAITING_PARTNER, waiting[1])
                self.state.since = waiting[0]
                raise refusal(why) from None
            reason = business_refusal(err)
            if reason is None:
                raise
            await self._close(Stage.REFUSED, f"the order could not be applied: {reason}", actor)
            return
        self.state.records += applied.records
        if applied.lines is not None:  # planned again against the PBX as it is now
            self.state.lines = applied.lines
        self.state.changes = applied.changes
        if applied.ticket_id:
            self.state.notes.append(
                f"customer-care ticket {applied.ticket_id} opened to cancel "
                f"{applied.dids_to_cancel} DID(s); {applied.cancelled_flats} CLASSOUND-FLAT(s) "
                "cancelled with the licences"
            )
        elif applied.cancelled_flats:
            self.state.notes.append(
                f"{applied.cancelled_flats} CLASSOUND-FLAT(s) cancelled with the licences"
            )
        self._set_stage(Stage.APPLIED, f"nothing: order {self.state.order_id} applied by {actor}")

    def _check_confirm(self) -> bool:
        """True for a repeat (answered with the outcome, applied once); refuses what cannot
        be confirmed."""
        if self.state.stage == Stage.APPLIED or self.confirmed_by is not None:
            return True
        if self.state.stage != Stage.AWAITING_PARTNER:
            raise refusal(
                f"there is no order to confirm: {self.state.stage.value}, {self.state.waiting_for}",
                "order.not_waiting",
                stage=self.state.stage.value,
            )
        return False

    def _confirm_refusal(self) -> ApplicationError | None:
        """A process's own reason not to confirm yet (the change order: CLASSOUND documents)."""
        return None

    @workflow.update
    async def confirm(self, step: StaffStep) -> StepAnswer:
        """The partner's "Bestellung bestätigen"."""
        in_step = self._checked_in_step(step.actor)
        if not in_step:
            await self._authorize("confirm", step.actor)
        async with self._lock:
            # Checked again under the lock: a cancel or expiry may have closed the order
            # since the validator let this step in.
            if self._check_confirm():
                if in_step:  # a repeat, answered without a write
                    await self._authorize("confirm", step.actor)
            else:
                reason = self._confirm_refusal()
                if reason:
                    raise reason
                self.confirmed_by = step.actor
                await self._apply()
        await workflow.wait_condition(lambda: self.finished)
        if self.state.stage != Stage.APPLIED:
            raise refusal(f"order {self.state.order_id} was not applied: {self.state.waiting_for}")
        changed = f": {'; '.join(self.state.changes)}" if self.state.changes else ""
        return StepAnswer(
            message=f"order {self.state.order_id} confirmed by {self.confirmed_by} and "
            f"applied{changed}",
            stage=self.state.stage,
            notes=self.state.notes,
            code="order.confirmed",
            params={"order": self.state.order_id or "", "by": self.confirmed_by or ""},
        )

    @confirm.validator
    def _validate_confirm(self, step: StaffStep) -> None:
        if not self._check_confirm():
            reason = self._confirm_refusal()
            if reason:
                raise reason

    # --- cancelling -------------------------------------------------------------------------

    def _check_cancel(self) -> None:
        if self.state.stage == Stage.CANCELLED:
            return
        if self.state.stage == Stage.VALIDATING:
            raise refusal("the order is still being created; try again in a moment")
        if self.confirmed_by is not None or self.state.stage in (Stage.APPLYING, Stage.APPLIED):
            raise refusal(
                f"order {self.state.order_id} is confirmed; it can no longer be "
                "cancelled, start a new change order to undo it"
            )
        if self.finished:
            raise refusal(f"the process has ended ({self.state.stage.value}); nothing to cancel")

    async def _cancel(self, c: Cancellation) -> StepAnswer:
        await self._authorize("cancel", c.actor)
        async with self._lock:
            self._check_cancel()
            if self.state.stage != Stage.CANCELLED:
                await self._close(Stage.CANCELLED, f"cancelled by {c.actor}: {c.reason}", c.actor)
        return StepAnswer(message=f"{self.state.process_id} cancelled", stage=self.state.stage)

    def _validate_cancel(self, c: Cancellation) -> None:
        self._check_cancel()

    async def _withdraw(self, actor: str, reason: str) -> None:
        """A cancel from Temporal closes the order and its quotes as a staff cancel does
        (the same step); a confirmed order is applied, not withdrawn."""
        async with self._lock:
            if self.finished or self.confirmed_by is not None:
                return
            try:
                await self._close(Stage.CANCELLED, f"cancelled by {actor}: {reason}", actor)
            except ApplicationError as err:
                if err.type != REFUSED:  # closed already by another step: nothing open
                    raise

    async def _close(self, stage: Stage, reason: str, actor: str) -> None:
        # The store refuses to close an order that is no longer open; that refusal reaches
        # the sender of the step (or fails the process visibly), never a second notice.
        await self._act_or_refuse(
            ChangeOrderActivities.close_order,
            OrderClosure(
                key=self._key(f"close-{stage.value}", actor),
                status="expired" if stage == Stage.EXPIRED else "cancelled",
                reason=reason,
                order_id=self.state.order_id,
                partner_id=self.state.partner_id,
                quote_ids=[q.quote_id for q in self.state.quotes],
            ),
            f"{stage.value}: {reason}"[:200],
        )
        for q in self.state.quotes:
            if q.status != "accepted":
                q.status, q.primary = "cancelled", False
        self._set_stage(stage, f"nothing: {reason}")
