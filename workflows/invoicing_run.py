"""Invoicing run ("Abrechnungsprozess"): `invoicing-run-<partner>-<YYYY-MM>`.
The first run of a partner stops for staff to review the invoice-numbering settings
(prefix, next number, format: they should match the accounting software) and continues
only once staff confirm them, changed or not. Then it issues one invoice per active
contract of the period, in batches. Numbers are allocated by the database (see
store/invoicing.py): gapless and never reused, even with two runs at once; running the
same period again issues only what is still missing."""

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.psa import PsaActivities
    from domain.business_time import Family, business_today
    from domain.invoicing import (
        NumberingSettings,
        invoice_number,
        numbering_problems,
        period_label,
        review_conflicts,
        review_poll_after,
        review_refusal,
    )
    from domain.psa import (
        INVOICING_FINAL,
        InvoiceBatch,
        InvoicingRequest,
        InvoicingStage,
        InvoicingStatus,
        NumberingConfirmation,
        NumberingLookup,
        NumberingReview,
        PeriodLookup,
        ProcessKind,
    )
    from domain.steps import StepAnswer

# Workflow code: imported again in each run's sandbox (see worker.workflow_runner).
from workflows.process import Process, closes_when_cancelled, refusal, refused_reason
from workflows.rollout import versioning

Stage = InvoicingStage


@workflow.defn(name="InvoicingRun", versioning_behavior=versioning("InvoicingRun"))
class InvoicingRun(Process[InvoicingStatus, InvoicingStage]):
    kind = ProcessKind.INVOICING_RUN
    final_stages = INVOICING_FINAL

    @workflow.init
    def __init__(self, request: InvoicingRequest) -> None:
        self._init_process()
        self.state = InvoicingStatus(
            process_id=workflow.info().workflow_id,
            stage=Stage.LOADING,
            waiting_for="loading the invoice-numbering settings",
            since=workflow.now(),
            partner_id=request.partner_id,
            period=period_label(request.period),
        )
        self.period = request.period

    @workflow.query
    def status(self) -> InvoicingStatus:
        return self.state

    @workflow.run
    @closes_when_cancelled
    async def run(self, request: InvoicingRequest) -> InvoicingStatus:
        self._publish_ids()
        if (why := await self._refused_start(request.requested_by)) is not None:
            self._refused_at_start(Stage.REFUSED, why)
            return await self._end()
        s = self.state
        try:
            s.numbering = await self._act(
                PsaActivities.load_numbering,
                NumberingLookup(partner_id=request.partner_id),
                f"load the invoice numbering of {request.partner_id}",
            )
        except ActivityError as err:
            reason = refused_reason(err)
            if reason is None:
                raise
            self._refused_at_start(Stage.REFUSED, reason)
            return await self._end()
        s.next_invoice_number = self._next_number()
        if not self.numbering.reviewed:
            # The first run: nothing is issued before staff confirm the numbering.
            self._set_stage(
                Stage.AWAITING_REVIEW,
                f"waiting for staff to review the invoice numbering: prefix "
                f"{self.numbering.prefix!r}, next number {self.numbering.next_number}, format "
                f"{self.numbering.format} (the first invoice would be {s.next_invoice_number})",
            )
            self.validated = True
            await self._wait_for_review(request.partner_id)

        self.validated = True
        self._set_stage(Stage.ISSUING, f"issuing the invoices of {s.period}")
        issued_on = business_today(workflow.now(), Family.PSA)
        while True:
            s.batches += 1
            batch = await self._act(
                PsaActivities.issue_invoices,
                InvoiceBatch(
                    key=self._key(f"issue-invoices-{s.batches}"),
                    partner_id=s.partner_id,
                    period=self.period,
                    issued_on=issued_on,
                    limit=request.batch_size,
                ),
                f"issue invoices of {s.period}, batch {s.batches}",
            )
            if batch.issued:
                s.issued += batch.issued
                s.first_number = s.first_number or batch.numbers[0]
                s.last_number = batch.numbers[-1]
                s.waiting_for = f"issuing the invoices of {s.period}: {s.issued} issued"
                s.revision += 1
                workflow.set_current_details(f"{s.stage.value}: {s.waiting_for}")
            if not batch.full:
                break

        counts = await self._act(
            PsaActivities.count_period_invoices,
            PeriodLookup(partner_id=s.partner_id, period=self.period),
            f"count the invoices of {s.period}",
        )
        s.already_issued = counts.invoices - s.issued
        s.numbering = self.numbering.model_copy(update={"next_number": counts.next_number})
        s.next_invoice_number = self._next_number()
        numbers = (
            ""
            if not s.issued
            else f" ({s.first_number})"
            if s.issued == 1
            else f" ({s.first_number} to {s.last_number})"
        )
        before = (
            f"; {s.already_issued} had been issued for {s.period} already, not again"
            if s.already_issued
            else ""
        )
        self._set_stage(
            Stage.ISSUED, f"nothing: {s.issued} invoice(s) issued for {s.period}{numbers}{before}"
        )
        return await self._end()

    @property
    def numbering(self) -> NumberingSettings:
        """The partner's numbering: loaded first, before anything reads it."""
        assert self.state.numbering is not None
        return self.state.numbering

    def _next_number(self) -> str:
        n = self.numbering
        return invoice_number(n, n.next_number, self.period)

    async def _wait_for_review(self, partner_id: str) -> None:
        """Until this run or another run of the partner has the numbering reviewed: one
        review per partner, so a review done elsewhere ends this wait too."""
        polls = 0
        while not self.numbering.reviewed:
            try:
                await workflow.wait_condition(
                    lambda: self.numbering.reviewed, timeout=review_poll_after(polls)
                )
                return
            except TimeoutError:
                pass
            polls += 1
            if self.numbering.reviewed or self._lock.locked():
                continue  # a review on this run is under way: it settles the numbering
            numbering = await self._act(
                PsaActivities.load_numbering,
                NumberingLookup(partner_id=partner_id),
                f"look whether the invoice numbering of {partner_id} has been reviewed",
            )
            if numbering.reviewed and not self.numbering.reviewed and not self._lock.locked():
                self._learn(numbering)

    def _learn(self, numbering: NumberingSettings) -> None:
        """Another run's review: this run uses it, and says so."""
        s = self.state
        s.numbering = numbering
        s.next_invoice_number = self._next_number()
        s.notes.append(
            f"the invoice numbering was reviewed by {numbering.confirmed_by} on "
            f"another run ({numbering.words()}); this run uses it"
        )

    # --- the review of the invoice numbering ------------------------------------------------

    def _check_review(self, review: NumberingReview) -> tuple[str, int, str] | None:
        """The settings this review confirms (given ones replace those shown), None when
        they are the reviewed ones already, or a refusal: bad settings, each named, or
        settings other than those reviewed (on this run or another)."""
        s = self.state
        if s.numbering is None or (s.stage != Stage.AWAITING_REVIEW and not s.numbering.reviewed):
            raise refusal(f"there is no numbering to review: {s.stage.value}, {s.waiting_for}")
        n = s.numbering
        prefix = n.prefix if review.prefix is None else review.prefix
        next_number = (
            (n.reviewed_first_number if n.reviewed else n.next_number)
            if review.next_number is None
            else review.next_number
        )
        fmt = n.format if review.format is None else review.format
        if n.reviewed:
            conflicts = review_conflicts(n, prefix, next_number, fmt)
            if conflicts:
                raise refusal(review_refusal(s.partner_id, n, conflicts))
            return None  # the same review again: answered, nothing written
        problems = numbering_problems(prefix, next_number, fmt)
        if problems:
            raise refusal("invoice numbering not confirmed: " + "; ".join(problems))
        return prefix, next_number, fmt

    @workflow.update
    async def review_numbering(self, review: NumberingReview) -> StepAnswer:
        """Staff confirm the numbering, changing prefix, next number or format on the way."""
        await self._authorize("review_numbering", review.actor)
        async with self._lock:
            settings = self._check_review(review)
            s = self.state
            if settings is None:
                return StepAnswer(
                    message=f"the invoice numbering was already reviewed by "
                    f"{self.numbering.confirmed_by} ({self.numbering.words()}); nothing changed",
                    stage=s.stage,
                )
            prefix, next_number, fmt = settings
            try:
                confirmed = await self._act(
                    PsaActivities.confirm_numbering,
                    NumberingConfirmation(
                        key=self._key("review-numbering", review.actor),
                        partner_id=s.partner_id,
                        prefix=prefix,
                        next_number=next_number,
                        format=fmt,
                    ),
                    f"confirm the invoice numbering of {s.partner_id}",
                )
            except ActivityError as err:
                reason = refused_reason(err)
                if reason is None:
                    raise
                # Reviewed meanwhile on another run, differently: refused, and this run
                # goes on with that review.
                numbering = await self._act(
                    PsaActivities.load_numbering,
                    NumberingLookup(partner_id=s.partner_id),
                    f"load the invoice numbering of {s.partner_id}",
                )
                if numbering.reviewed and not self.numbering.reviewed:
                    self._learn(numbering)
                raise refusal(reason) from None
            if confirmed.by_this_review:
                s.numbering = confirmed.settings
                s.next_invoice_number = self._next_number()
                message = (
                    f"invoice numbering confirmed: prefix {prefix!r}, next number "
                    f"{next_number}, format {fmt}; the first invoice will be "
                    f"{s.next_invoice_number}"
                )
            else:
                if not self.numbering.reviewed:
                    self._learn(confirmed.settings)
                message = (
                    f"the invoice numbering was already reviewed by "
                    f"{self.numbering.confirmed_by} (another run) with the same settings; "
                    f"this run uses it, next invoice {s.next_invoice_number}"
                )
            return StepAnswer(message=message, stage=Stage.ISSUING)

    @review_numbering.validator
    def _validate_review(self, review: NumberingReview) -> None:
        self._check_review(review)
