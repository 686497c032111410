"""Change order, quote based (seed 000 §2, §3, §6).
Quote drafted -> save & mark as primary -> quick publish -> mark status as complete ->
accepted (order for the partner to confirm) or rejected with its reason, then fixed and
marked complete again. A published quote is never edited: "revise" duplicates it with
the changes, and the duplicate becomes the primary quote to publish."""

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.change_orders import ChangeOrderActivities
    from domain.business_time import Family, business_today
    from domain.change_order import (
        ChangeOrderRequest,
        ProcessKind,
        ProcessStatus,
        QuoteChange,
        QuoteCompletion,
        QuoteDraft,
        QuoteStep,
        QuoteView,
        Revision,
        StaffStep,
        Stage,
        StepAnswer,
        check_pbx_active,
    )
    from domain.errors import Refused
    from domain.order_lines import Plan, QuoteLine, plan_quote
    from workflows.order_process import OrderProcess
    from workflows.process import refusal, refused_reason


@workflow.defn(name="ChangeOrder")
class ChangeOrder(OrderProcess):
    kind = ProcessKind.CHANGE_ORDER

    @workflow.init
    def __init__(self, request: ChangeOrderRequest) -> None:
        self._begin(request.account_id, request.pbx_id)
        self.plans: dict[str, Plan] = {}
        self.completions = 0

    @workflow.run
    async def run(self, request: ChangeOrderRequest) -> ProcessStatus:
        self._publish_ids()
        try:
            plan = await self._plan(request.lines)
        except (Refused, ActivityError) as err:
            reason = refused_reason(err)
            if reason is None:
                raise
            return await self._refuse(reason)
        self._publish_ids()
        await self._save_quote(request.lines, plan, request.requested_by, primary=False)
        self.validated = True
        # The staff steps below are updates; this waits for one of them to end the quote stage.
        await workflow.wait_condition(lambda: self.state.order_id is not None or self.finished)
        if not self.finished:
            await self._await_partner_then_apply()
        return await self._end()

    # --- quotes -----------------------------------------------------------------------------

    async def _plan(self, lines: list[QuoteLine]) -> Plan:
        pbx = await self._load_pbx(sorted({line.sku for line in lines}))
        check_pbx_active(pbx)
        today = business_today(workflow.now(), Family.CHANGE_ORDERS)
        return plan_quote(lines, pbx.licences, pbx.catalogue, today, pbx.flats)

    async def _save_quote(
        self, lines: list[QuoteLine], plan: Plan, actor: str, *, primary: bool
    ) -> QuoteView:
        previous = self.state.current_quote
        version = len(self.state.quotes) + 1
        quote = QuoteView(
            quote_id=f"quote-{self.ref}-v{version}", version=version, primary=primary,
            status="draft",
        )
        await self._act(
            ChangeOrderActivities.save_quote,
            QuoteDraft(
                key=self._key(f"save-quote-v{version}", actor),
                quote_id=quote.quote_id,
                account_id=self.state.account_id,
                pbx_id=self.state.pbx_id,
                version=version,
                revises=previous.quote_id if previous else None,
                primary=primary,
                lines=lines,
                notes=plan.notes,
            ),
            f"save quote v{version}" + (" as primary" if primary else ""),
        )
        if previous:
            previous.primary = False
            if previous.status != "rejected":
                previous.status = "superseded"
        self.plans[quote.quote_id] = plan
        self.state.quotes.append(quote)
        self.state.lines = plan.lines
        self.state.notes = list(plan.notes)
        self._quote_stage()
        return quote

    def _quote_stage(self) -> None:
        q = self.state.current_quote
        assert q is not None
        if q.status == "rejected":
            self._set_stage(Stage.QUOTE_REJECTED, f"quote {q.quote_id} rejected: "
                            f"{q.rejection_reason}")
        elif q.published:
            self._set_stage(Stage.QUOTE_PUBLISHED, f"waiting for staff to mark quote "
                            f"{q.quote_id} complete")
        elif q.primary:
            self._set_stage(Stage.QUOTE_PRIMARY, f"waiting for staff to publish quote "
                            f"{q.quote_id}")
        else:
            self._set_stage(Stage.QUOTE_DRAFT, f"waiting for staff to save & mark quote "
                            f"{q.quote_id} as primary")

    def _open_quote(self, quote_id: str | None = None) -> QuoteView:
        """The quote a quote step may act on: the newest, while no order exists."""
        if self.finished:
            raise refusal(f"the process has ended ({self.state.stage.value})")
        if self.state.order_id is not None:
            raise refusal(f"quote accepted, order {self.state.order_id} exists: "
                          f"{self.state.waiting_for}")
        current = self.state.current_quote
        if current is None:
            raise refusal("the first quote is still being saved; try again in a moment")
        if quote_id is not None and quote_id != current.quote_id:
            q = self.state.quote(quote_id)
            if q is None:
                raise refusal(f"no quote {quote_id} in {self.state.process_id}; "
                              f"the current quote is {current.quote_id}")
            raise refusal(f"quote {quote_id} is {q.status}; only the newest quote "
                          f"{current.quote_id} can be used")
        return current

    # save & mark as primary
    @workflow.update
    async def mark_primary(self, step: QuoteStep) -> StepAnswer:
        async with self._lock:
            q = self._open_quote(step.quote_id)
            if not q.primary:
                await self._act(
                    ChangeOrderActivities.mark_quote_primary,
                    QuoteChange(key=self._key(f"mark-primary-v{q.version}", step.actor),
                                quote_id=q.quote_id, pbx_id=self.state.pbx_id),
                    f"mark quote v{q.version} primary",
                )
                q.primary = True
                self._quote_stage()
                return self._answer(f"quote {q.quote_id} is now the primary quote")
            return self._answer(f"quote {q.quote_id} was already primary")

    @mark_primary.validator
    def _validate_mark_primary(self, step: QuoteStep) -> None:
        self._open_quote(step.quote_id)

    def _check_publish(self, quote_id: str) -> QuoteView:
        q = self._open_quote(quote_id)
        if not q.primary:
            raise refusal(f"only a primary quote can be published; mark {q.quote_id} "
                          "as primary first")
        return q

    # submit proposal -> quick publish
    @workflow.update
    async def publish(self, step: QuoteStep) -> StepAnswer:
        async with self._lock:
            q = self._check_publish(step.quote_id)
            if q.published:
                return self._answer(f"quote {q.quote_id} was already published")
            try:
                await self._act(
                    ChangeOrderActivities.publish_quote,
                    QuoteChange(key=self._key(f"publish-v{q.version}", step.actor),
                                quote_id=q.quote_id, pbx_id=self.state.pbx_id),
                    f"quick publish quote v{q.version}",
                )
            except ActivityError as err:
                reason = refused_reason(err)
                if reason is None:
                    raise
                q.primary = False  # another quote on the project took the primary flag
                self._quote_stage()
                raise refusal(reason) from None
            q.published, q.status = True, "published"
            self._quote_stage()
            return self._answer(f"quote {q.quote_id} published")

    @publish.validator
    def _validate_publish(self, step: QuoteStep) -> None:
        self._check_publish(step.quote_id)

    def _check_complete(self) -> QuoteView | None:
        current = self.state.current_quote
        if current is not None and current.status == "accepted":
            return None  # a repeat: answered with the outcome
        q = self._open_quote()
        if not q.published:
            raise refusal(f"quote {q.quote_id} is not published; only the primary published "
                          "quote can be marked complete")
        return q

    # mark status as complete
    @workflow.update
    async def mark_complete(self, step: StaffStep) -> StepAnswer:
        async with self._lock:
            q = self._check_complete()
            if q is None:
                return self._answer(f"quote already accepted; order {self.state.order_id}")
            self.completions += 1
            outcome = await self._act(
                ChangeOrderActivities.complete_quote,
                QuoteCompletion(
                    key=self._key(f"mark-complete-v{q.version}-{self.completions}", step.actor),
                    quote_id=q.quote_id,
                    order=self._order_draft(q.quote_id),
                ),
                f"mark quote v{q.version} complete",
            )
            if not outcome.accepted:
                q.status, q.rejection_reason = "rejected", outcome.reason
                self._quote_stage()
                return self._answer(f"quote {q.quote_id} rejected: {outcome.reason}",
                                    rejected=True)
            q.status, q.rejection_reason = "accepted", None
            self._order_created(self._order_draft().order_id)
            return self._answer(f"quote {q.quote_id} accepted; order {self.state.order_id} "
                                "created and sent to the partner to confirm")

    @mark_complete.validator
    def _validate_mark_complete(self, step: StaffStep) -> None:
        self._check_complete()

    # duplicate a published quote with changes; the duplicate becomes primary
    @workflow.update
    async def revise(self, revision: Revision) -> StepAnswer:
        async with self._lock:
            self._open_quote()
            try:
                plan = await self._plan(revision.lines)
            except (Refused, ActivityError) as err:
                reason = refused_reason(err)
                if reason is None:
                    raise
                raise refusal(reason) from None
            q = await self._save_quote(revision.lines, plan, revision.actor, primary=True)
            return self._answer(f"quote {q.quote_id} created as primary; publish it next",
                                notes=plan.notes)

    @revise.validator
    def _validate_revise(self, revision: Revision) -> None:
        self._open_quote()

    def _answer(self, message: str, rejected: bool = False,
                notes: list[str] | None = None) -> StepAnswer:
        return StepAnswer(message=message, stage=self.state.stage, rejected=rejected,
                          notes=notes or [])
