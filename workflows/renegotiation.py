"""Renegotiation in Dealbuilder.
Started from a ticket: ticket enriched -> deal created -> contract from the template -> sent by
e-mail and SMS, ticket "Sendt kontrakt" -> waits for "contract signed" until the signing
deadline, with a reminder before it; once the deadline passes, staff extend it or cancel ->
on signature: access count, reduction on the customer card and its routing, order/invoice
informed on the ticket, sales registration told of an increase under 36 months."""

from datetime import date, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.renegotiation import RenegotiationActivities as Acts
    from domain.errors import Refused
    from domain.renegotiation import (
        Extension,
        business_date,
        close_date,
        credits_sales,
        delivery_start,
        extended_deadline,
        money,
        next_signing_event,
        percent,
        plan_renegotiation,
        reduction_share,
        sales_credit_ends,
        signing_deadline,
    )
    from domain.renegotiation_models import (
        FINAL_STAGES,
        ROUTE_IN_WORDS,
        Case,
        CaseStep,
        Change,
        ClosingStep,
        DeadlineStep,
        DealStep,
        Declination,
        DeclineStep,
        ProcessKind,
        RenegotiationPlan,
        RenegotiationRequest,
        RenegotiationStatus,
        Route,
        SendingStep,
        SignatureStep,
        SignerStep,
        SigningEvidence,
        Stage,
        StepResult,
    )
    from domain.steps import Cancellation, StepAnswer

# Workflow code: imported again in each run's sandbox (see worker.workflow_runner).
from workflows.process import SYSTEM, Process, closes_when_cancelled, refusal, refused_reason
from workflows.rollout import versioning

WAITING = (Stage.AWAITING_SIGNATURE, Stage.AWAITING_DECISION)


@workflow.defn(name="Renegotiation", versioning_behavior=versioning("Renegotiation"))
class Renegotiation(Process[RenegotiationStatus, Stage]):
    kind = ProcessKind.RENEGOTIATION
    final_stages = frozenset(FINAL_STAGES)

    @workflow.init
    def __init__(self, request: RenegotiationRequest) -> None:
        self._init_process()
        self.state = RenegotiationStatus(
            process_id=workflow.info().workflow_id,
            stage=Stage.VALIDATING,
            waiting_for="checking the ticket, the contact and the original contract",
            since=workflow.now(),
            account_id=request.account_id,
            ticket_id=request.ticket_id,
            contact_id=request.contact_id,
            original_contract_id=request.original_contract_id,
            owner=request.requested_by,
            licences_after=request.licences,
            price_after=request.price,
            agreed_start=request.agreed_start,
        )
        self.signed_by: str | None = None
        self._cancelling = False
        self._cancel_reason: str | None = None
        self._declining = False
        self._evidence: SigningEvidence | None = None  # of a signature on the signing page
        self._reminded = False  # for the current deadline
        self._timer_at: datetime | None = None  # the reminder or deadline being waited for

    @workflow.query
    def status(self) -> RenegotiationStatus:
        return self.state

    @workflow.run
    @closes_when_cancelled
    async def run(self, request: RenegotiationRequest) -> RenegotiationStatus:
        self._publish_ids()
        if (why := await self._refused_start(request.requested_by)) is not None:
            self._refused_at_start(Stage.REFUSED, why)
            return await self._end()
        try:
            facts = await self._act(
                Acts.look_up_renegotiation,
                request,
                f"look up ticket {request.ticket_id}, contact {request.contact_id} and "
                f"contract {request.original_contract_id}",
            )
            self.state.partner_id = facts.partner_id
            self._publish_ids()
            self._planned(plan_renegotiation(request, facts, self._today()))
            await self._prepare_and_send()
        except (Refused, ActivityError) as err:
            reason = refused_reason(err)
            if reason is None:
                raise
            self._refused_at_start(Stage.REFUSED, reason)
            return await self._end()
        self.validated = True
        if await self._await_signature():
            await self._apply_signature()
        return await self._end()

    # --- 1.-4. ticket, deal, contract, sent -------------------------------------------------

    def _planned(self, plan: RenegotiationPlan) -> None:
        s = self.state
        s.licences_before, s.price_before = plan.licences_before, plan.price_before
        s.originally_signed_on = plan.originally_signed_on
        s.change, s.route = plan.change, plan.route
        s.deal_id, s.contract_id = f"deal-{self.ref}", f"contract-{self.ref}"
        before, after = plan.licences_before, s.licences_after
        if plan.change is Change.REDUCTION and plan.route is not None:
            s.notes.append(
                f"reduction {before} -> {after} licences "
                f"({percent(reduction_share(before, after))}): on signature it is recorded on "
                f"the customer card and goes to {ROUTE_IN_WORDS[plan.route]}"
            )
        elif plan.change is Change.INCREASE:
            s.notes.append(
                f"increase {before} -> {after} licences: sales registration is told if it is "
                f"signed before {sales_credit_ends(plan.originally_signed_on)} (under 36 months "
                f"after the original signing on {plan.originally_signed_on})"
            )
        else:
            s.notes.append(
                f"licence count unchanged ({after}); new price "
                f"{money(s.price_after)} per licence (was {money(plan.price_before)})"
            )

    async def _prepare_and_send(self) -> None:
        s, actor = self.state, self.state.owner
        self._set_stage(
            Stage.PREPARING,
            f"creating deal {s.deal_id} and contract {s.contract_id} from ticket {s.ticket_id}",
        )
        today = self._today()
        s.close_date = close_date(today)
        await self._step(
            Acts.enrich_renegotiation_ticket,
            CaseStep(key=self._key("enrich-ticket", actor), case=self._case(), today=today),
            f"enrich ticket {s.ticket_id}: name, customer card, contact",
        )
        await self._step(
            Acts.create_renegotiation_deal,
            DealStep(
                key=self._key("create-deal", actor),
                case=self._case(),
                today=today,
                close_date=s.close_date,
                delivery_start=delivery_start(today, s.agreed_start),
            ),
            f"create deal {s.deal_id}",
        )
        await self._step(
            Acts.draft_renegotiation_contract,
            CaseStep(key=self._key("draft-contract", actor), case=self._case(), today=today),
            f"draft contract {s.contract_id} from the renegotiation template",
        )
        sent_on = self._today()
        deadline = signing_deadline(sent_on)
        start = delivery_start(sent_on, s.agreed_start)
        await self._step(
            Acts.send_contract_for_signing,
            SendingStep(
                key=self._key("send-contract", actor),
                case=self._case(),
                today=sent_on,
                deadline=deadline,
                delivery_start=start,
            ),
            f"send contract {s.contract_id} by e-mail and SMS",
        )
        s.sent_on, s.signing_deadline, s.delivery_start = sent_on, deadline, start
        self._awaiting_signature()

    # --- 5. waiting for the signature -------------------------------------------------------

    def _awaiting_signature(self) -> None:
        self._set_stage(
            Stage.AWAITING_SIGNATURE,
            f"waiting for the customer to sign contract {self.state.contract_id}, "
            f"signing deadline {self.state.signing_deadline}",
        )

    def _timer_due(self) -> bool:
        """A reminder or deadline whose moment has come but that the run has not handled yet.
        Staff steps wait for it, so that they see the world as it is at that moment."""
        return (
            self.state.stage == Stage.AWAITING_SIGNATURE
            and self._timer_at is not None
            and workflow.now() >= self._timer_at
        )

    async def _await_signature(self) -> bool:
        """True once signed; False when the process ended otherwise (cancelled)."""
        while True:
            if self.finished:
                return False
            if self.signed_by is not None:
                return True
            if self.state.stage == Stage.AWAITING_DECISION:
                await workflow.wait_condition(lambda: self.state.stage != Stage.AWAITING_DECISION)
                continue
            deadline = self.state.signing_deadline
            assert deadline is not None
            event, at = next_signing_event(workflow.now(), deadline, self._reminded)
            self._timer_at = at

            def moved(deadline: date = deadline) -> bool:
                return (
                    self.signed_by is not None
                    or self.finished
                    or self.state.signing_deadline != deadline
                )

            try:
                await workflow.wait_condition(
                    moved, timeout=max(at - workflow.now(), timedelta(seconds=1))
                )
            except TimeoutError:
                async with self._lock:
                    untouched = (
                        self.signed_by is None
                        and not self._cancelling
                        and not self.finished
                        and self.state.signing_deadline == deadline
                    )
                    if untouched and event == "reminder":
                        await self._remind(deadline)
                    elif untouched:
                        await self._deadline_passed(deadline)
            self._timer_at = None

    async def _remind(self, deadline: date) -> None:
        n = self.state.reminders_sent + 1
        await self._step(
            Acts.remind_signatory,
            DeadlineStep(
                key=self._key(f"signing-reminder-{n}"),
                case=self._case(),
                today=self._today(),
                deadline=deadline,
                number=n,
            ),
            f"remind the signatory, reminder {n}",
        )
        self.state.reminders_sent = n
        self.state.revision += 1
        self._reminded = True

    async def _deadline_passed(self, deadline: date) -> None:
        n = self.state.deadlines_passed + 1
        await self._step(
            Acts.record_signing_deadline_passed,
            DeadlineStep(
                key=self._key(f"deadline-passed-{n}"),
                case=self._case(),
                today=self._today(),
                deadline=deadline,
                number=n,
            ),
            f"signing deadline {deadline} passed",
        )
        self.state.deadlines_passed = n
        self._set_stage(
            Stage.AWAITING_DECISION,
            f"signing deadline {deadline} passed without a signature: waiting for "
            "staff to extend the deadline (extend-signing-deadline) or cancel "
            "(cancel-renegotiation)",
        )

    # --- staff steps ------------------------------------------------------------------------

    def _cancelled_message(self) -> str:
        s, advice = self.state, ("start a new renegotiation if the customer still wants the change")
        if s.stage == Stage.CANCELLED:
            return (
                f"the process has ended (cancelled: {s.cancelled_reason}): contract "
                f"{s.contract_id} was withdrawn and can no longer be signed; {advice}"
            )
        return (
            f"the renegotiation is being cancelled ({self._cancel_reason}): contract "
            f"{s.contract_id} is withdrawn and can no longer be signed; {advice}"
        )

    def _check_signature(self) -> bool:
        """True when the signature was already recorded: a repeat, answered, applied once."""
        s = self.state
        if self.signed_by is not None or s.stage == Stage.SIGNED:
            return True
        if self._cancelling or s.stage == Stage.CANCELLED:
            raise refusal(self._cancelled_message())
        if self._declining or s.stage == Stage.DECLINED:
            raise refusal(self._declined_message())
        if self.finished:
            raise refusal(f"the process has ended ({s.stage.value}): {s.waiting_for}")
        if s.stage == Stage.AWAITING_DECISION:
            raise refusal(
                f"the signing deadline {s.signing_deadline} has passed: contract "
                f"{s.contract_id} can no longer be signed; extend the deadline first "
                "(extend-signing-deadline) or cancel (cancel-renegotiation)"
            )
        if s.stage != Stage.AWAITING_SIGNATURE:
            raise refusal(f"the contract has not been sent yet: {s.waiting_for}")
        return False

    def _check_signer(self, actor: str, evidence: SigningEvidence | None) -> None:
        """The signing page acts for the contract's signatory only."""
        s = self.state
        if evidence is not None and not (actor == evidence.contact_id == s.contact_id):
            raise refusal(
                f"only the signatory of contract {s.contract_id} can sign or decline "
                "it on the signing page"
            )

    @workflow.update
    async def contract_signed(self, step: SignerStep) -> StepAnswer:
        """The customer has signed the contract: on the signing page (with its evidence), or
        elsewhere, recorded by staff."""
        await self._authorize("contract_signed", step.actor)
        self._check_signer(step.actor, step.evidence)
        self._check_signature()
        await workflow.wait_condition(lambda: not self._timer_due())
        repeat = self._check_signature()
        if not repeat:
            self.signed_by = step.actor
            self._evidence = step.evidence
        await workflow.wait_condition(lambda: self.finished)
        s = self.state
        if s.stage != Stage.SIGNED:
            raise refusal(f"contract {s.contract_id} was not recorded as signed: {s.waiting_for}")
        if repeat:
            message = (
                f"contract {s.contract_id} was already recorded as signed by "
                f"{self.signed_by} on {s.signed_on}; nothing was done again"
            )
        else:
            message = (
                f"contract {s.contract_id} signed: {s.licences_after} licences at "
                f"{money(s.price_after)} from {s.delivery_start}"
            )
        return StepAnswer(message=message, stage=s.stage, notes=s.notes)

    @contract_signed.validator
    def _validate_contract_signed(self, step: SignerStep) -> None:
        self._check_signer(step.actor, step.evidence)
        self._check_signature()

    def _declined_message(self) -> str:
        s = self.state
        return (
            f"the customer declined contract {s.contract_id}"
            + (f" on {s.declined_on}: {s.declined_reason}" if s.declined_on else "")
            + "; customer care follows up, and may start a new renegotiation"
        )

    def _check_decline(self) -> bool:
        """True when already declined: a repeat, answered, done once."""
        s = self.state
        if self._declining or s.stage == Stage.DECLINED:
            return True
        if self.signed_by is not None or s.stage in (Stage.APPLYING, Stage.SIGNED):
            raise refusal(f"contract {s.contract_id} is signed; it can no longer be declined")
        if self._cancelling or s.stage == Stage.CANCELLED:
            raise refusal(self._cancelled_message())
        if self.finished:
            raise refusal(f"the process has ended ({s.stage.value}): {s.waiting_for}")
        if s.stage == Stage.AWAITING_DECISION:
            raise refusal(
                f"the signing deadline {s.signing_deadline} has passed: contract "
                f"{s.contract_id} can no longer be signed or declined"
            )
        if s.stage != Stage.AWAITING_SIGNATURE:
            raise refusal(f"the contract has not been sent yet: {s.waiting_for}")
        return False

    @workflow.update
    async def contract_declined(self, d: Declination) -> StepAnswer:
        """The customer declines the contract on the signing page: the process ends
        (declined), customer care is told and has the ticket back."""
        await self._authorize("contract_declined", d.actor)
        self._check_signer(d.actor, d.evidence)
        self._check_decline()
        await workflow.wait_condition(lambda: not self._timer_due())
        async with self._lock:
            s = self.state
            if self._check_decline():
                return StepAnswer(
                    message=self._declined_message() + "; nothing was done again", stage=s.stage
                )
            self._declining = True
            today = self._today()
            try:
                result = await self._act_or_refuse(
                    Acts.record_contract_declined,
                    DeclineStep(
                        key=self._key("contract-declined", d.actor),
                        case=self._case(),
                        today=today,
                        reason=d.reason,
                        evidence=d.evidence,
                    ),
                    f"contract {s.contract_id} declined by the customer",
                )
            except BaseException:
                self._declining = False
                raise
            s.records += result.records
            s.declined_reason, s.declined_on = d.reason, today
            self._set_stage(
                Stage.DECLINED,
                f"nothing: the customer ({d.actor}) declined "
                f"contract {s.contract_id}: {d.reason}; customer care has ticket "
                f"{s.ticket_id} back",
            )
        return StepAnswer(
            message=f"contract {s.contract_id} declined: deal {s.deal_id} lost, "
            f"customer care told (ticket {s.ticket_id})",
            stage=s.stage,
        )

    @contract_declined.validator
    def _validate_contract_declined(self, d: Declination) -> None:
        self._check_signer(d.actor, d.evidence)
        self._check_decline()

    def _check_extend(self) -> None:
        s = self.state
        if self.signed_by is not None or s.stage in (Stage.APPLYING, Stage.SIGNED):
            raise refusal(f"contract {s.contract_id} is signed; there is no deadline to extend")
        if self._cancelling or s.stage == Stage.CANCELLED:
            raise refusal(self._cancelled_message())
        if self.finished:
            raise refusal(f"the process has ended ({s.stage.value}): {s.waiting_for}")
        if s.stage not in WAITING:
            raise refusal(f"the contract has not been sent yet: {s.waiting_for}")

    @workflow.update
    async def extend_signing_deadline(self, ext: Extension) -> StepAnswer:
        """Staff give the customer more time: the deadline, its reminder and its timer move."""
        await self._authorize("extend_signing_deadline", ext.actor)
        self._check_extend()
        await workflow.wait_condition(lambda: not self._timer_due())
        async with self._lock:
            self._check_extend()
            s = self.state
            old = s.signing_deadline
            assert old is not None
            had_passed = s.stage == Stage.AWAITING_DECISION
            try:
                new = extended_deadline(old, self._today(), ext.days)
            except Refused as err:
                raise refusal(str(err)) from None
            n = s.extensions + 1
            await self._step(
                Acts.extend_signing_deadline,
                DeadlineStep(
                    key=self._key(f"extend-deadline-{n}", ext.actor),
                    case=self._case(),
                    today=self._today(),
                    deadline=new,
                    number=n,
                ),
                f"extend the signing deadline to {new}",
            )
            s.extensions, s.signing_deadline = n, new
            self._reminded = False
            self._awaiting_signature()
        was = f"it passed on {old}" if had_passed else f"it was {old}"
        return StepAnswer(
            message=f"signing deadline of contract {s.contract_id} extended to {new} ({was}); "
            "the customer is told by e-mail",
            stage=s.stage,
        )

    @extend_signing_deadline.validator
    def _validate_extend(self, ext: Extension) -> None:
        self._check_extend()

    def _check_cancel(self) -> bool:
        """True when already cancelled: a repeat."""
        s = self.state
        if self._cancelling or s.stage == Stage.CANCELLED:
            return True
        if self.signed_by is not None or s.stage in (Stage.APPLYING, Stage.SIGNED):
            raise refusal(
                f"contract {s.contract_id} is signed: the renegotiation can no longer "
                "be cancelled; start a new renegotiation to change the agreement"
            )
        if self.finished:
            raise refusal(f"the process has ended ({s.stage.value}); nothing to cancel")
        if s.stage not in WAITING:
            raise refusal("the contract is still being prepared; try again in a moment")
        return False

    async def _cancel(self, c: Cancellation) -> StepAnswer:
        """Staff cancel: the deal is lost, the contract withdrawn, the ticket closed."""
        await self._authorize("cancel", c.actor)
        self._check_cancel()
        await workflow.wait_condition(lambda: not self._timer_due())
        async with self._lock:
            s = self.state
            if self._check_cancel():
                return StepAnswer(
                    message=f"{s.process_id} was already cancelled: {s.cancelled_reason}",
                    stage=s.stage,
                )
            await self._close_cancelled(c.actor, c.reason)
        return StepAnswer(
            message=f"{s.process_id} cancelled: deal {s.deal_id} lost, contract "
            f"{s.contract_id} withdrawn, ticket {s.ticket_id} closed",
            stage=s.stage,
        )

    def _validate_cancel(self, c: Cancellation) -> None:
        self._check_cancel()

    async def _close_cancelled(self, actor: str, reason: str) -> None:
        """The deal lost, the contract withdrawn, the ticket closed: one step."""
        s = self.state
        self._cancelling, self._cancel_reason = True, reason
        await self._step(
            Acts.cancel_renegotiation,
            ClosingStep(
                key=self._key("cancel", actor),
                case=self._case(),
                today=self._today(),
                reason=reason,
            ),
            f"cancel: {reason}",
        )
        s.cancelled_reason = reason
        self._set_stage(Stage.CANCELLED, f"nothing: cancelled by {actor}: {reason}")

    async def _withdraw(self, actor: str, reason: str) -> None:
        """A cancel from Temporal, as a staff cancel: only while the contract waits for the
        customer (before, the reconciliation closes what was opened; once signed, the
        signature stands)."""
        await workflow.wait_condition(lambda: not self._timer_due())
        async with self._lock:
            s = self.state
            if self._cancelling or self.finished or self.signed_by is not None:
                return
            if s.stage in WAITING:
                await self._close_cancelled(actor, reason)

    # --- 6. signed --------------------------------------------------------------------------

    async def _apply_signature(self) -> None:
        async with self._lock:
            s, actor = self.state, self.signed_by or SYSTEM
            self._set_stage(Stage.APPLYING, f"recording the signature of {s.contract_id}")
            today = self._today()
            s.signed_on = today
            assert s.delivery_start is not None and s.originally_signed_on is not None

            def signature(step: str, csc_ticket_id: int | None = None) -> SignatureStep:
                return SignatureStep(
                    key=self._key(step, actor),
                    case=self._case(),
                    today=today,
                    delivery_start=s.delivery_start,
                    route=s.route,
                    csc_ticket_id=csc_ticket_id,
                )

            # The signing page's evidence is kept by the step that records the signature.
            await self._step(
                Acts.record_contract_signature,
                signature("record-signature").model_copy(update={"evidence": self._evidence}),
                f"contract {s.contract_id} signed, deal {s.deal_id} won",
            )
            await self._step(
                Acts.set_product_access_count,
                CaseStep(key=self._key("set-access-count", actor), case=self._case(), today=today),
                f"access count to {s.licences_after}",
            )
            csc_ticket_id = None
            if s.route is not None:
                await self._step(
                    Acts.record_reduction_on_customer_card,
                    signature("record-reduction"),
                    "record the reduction on the customer card",
                )
                if s.route is Route.CSC:
                    handed = await self._step(
                        Acts.hand_reduction_to_csc,
                        signature("hand-reduction-to-csc"),
                        "hand the reduction to CSC",
                    )
                    csc_ticket_id = handed.ticket_id
                    s.notes.append(f"reduction handed to CSC in ticket {csc_ticket_id}")
                else:
                    s.notes.append(f"reduction handled by invoice service on ticket {s.ticket_id}")
            await self._step(
                Acts.inform_order_invoice,
                signature("inform-order-invoice", csc_ticket_id),
                f"ticket {s.ticket_id} to order/invoice",
            )
            s.credits_sales = credits_sales(
                s.originally_signed_on, today, s.licences_before or 0, s.licences_after
            )
            if s.credits_sales:
                await self._step(
                    Acts.notify_sales_registration,
                    signature("notify-sales-registration"),
                    "tell sales registration of the increase",
                )
                s.notes.append(
                    "increase under 36 months after the original signing: sales "
                    "registration told so the sale is credited"
                )
            elif s.change is Change.INCREASE:
                s.notes.append(
                    f"increase signed {sales_credit_ends(s.originally_signed_on)} "
                    "or later, 36 months after the original signing: not reported "
                    "to sales registration"
                )
            self._set_stage(
                Stage.SIGNED, f"nothing: contract {s.contract_id} signed, recorded by {actor}"
            )

    # --- helpers ----------------------------------------------------------------------------

    def _today(self) -> date:
        return business_date(workflow.now())

    def _case(self) -> Case:
        s = self.state
        assert s.deal_id and s.contract_id and s.licences_before is not None
        assert s.price_before is not None and s.originally_signed_on is not None
        return Case(
            ticket_id=s.ticket_id,
            account_id=s.account_id,
            contact_id=s.contact_id,
            original_contract_id=s.original_contract_id,
            deal_id=s.deal_id,
            contract_id=s.contract_id,
            owner=s.owner,
            licences_before=s.licences_before,
            licences_after=s.licences_after,
            price_before=s.price_before,
            price_after=s.price_after,
            originally_signed_on=s.originally_signed_on,
        )

    async def _step(self, activity: Any, arg: Any, summary: str) -> StepResult:
        result = await self._act(activity, arg, summary)
        self.state.records += result.records
        return result
