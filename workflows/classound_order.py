"""CLASSOUND activation and number porting; "Classound ordering"
for an existing CLASSOUND customer is the same process with `existing_customer`.

1. Order placed -> a ticket asks the reseller for the signed LOA and the last invoice of the
   old carrier.
2. Documents arrive in any order, any number of times; the newest of each kind counts. Until
   both are there, "confirm" is refused and says what is missing. Reminders every 3 days,
   escalation to customer care after 10, expiry after 30; staff can extend or cancel.
3. Confirmed -> the porting request goes to the carrier -> the carrier answers with a porting
   date (a durable timer until that day) or a refusal (back to step 2: the reseller fixes the
   documents and confirms again).
4. Porting day: the DIDs are active on the PBX, the CLASSOUND-FLATs are booked, and each
   licence type has its billing plan.

Phone numbers never enter this workflow: it knows how many numbers are ported, not which."""

from datetime import date, datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.classound import ClassoundActivities
    from domain.business_time import Family, business_today, start_of_business_day
    from domain.classound import (
        CARRIER_ANSWER_DUE,
        CARRIER_STAGES,
        FINAL_STAGES,
        RESELLER_STAGES,
        CarrierAnswer,
        ClassoundRequest,
        ClassoundStatus,
        DocumentUpload,
        DocumentView,
        Extension,
        PortingAttempt,
        ProcessKind,
        Stage,
        check_no_phone_number,
        check_porting_date,
        deadlines,
        next_reseller_event,
    )
    from domain.classound_steps import (
        Activation,
        CarrierAnswerRecord,
        CarrierChase,
        ClassoundClosure,
        DeadlineChange,
        DocumentRecord,
        Escalation,
        OrderPlacement,
        PortingSubmission,
        ResellerReminder,
    )
    from domain.documents import REQUIRED_KINDS, DocumentKind, missing_documents
    from domain.errors import Refused
    from domain.steps import Cancellation, StaffStep, StepAnswer

# Workflow code: imported again in each run's sandbox (see worker.workflow_runner).
from workflows.process import SYSTEM, Process, closes_when_cancelled, refusal, refused_reason
from workflows.rollout import versioning


def porting_moment(day: date) -> datetime:
    """Porting days are business days: the numbers go live at 00:00 local business time."""
    return start_of_business_day(day, Family.CLASSOUND)


@workflow.defn(name="ClassoundOrder", versioning_behavior=versioning("ClassoundOrder"))
class ClassoundOrder(Process[ClassoundStatus, Stage]):
    kind = ProcessKind.CLASSOUND_ORDER
    final_stages = FINAL_STAGES

    @workflow.init
    def __init__(self, request: ClassoundRequest) -> None:
        self._init_process()
        self.state = ClassoundStatus(
            process_id=workflow.info().workflow_id,
            stage=Stage.VALIDATING,
            waiting_for="checking the PBX and the numbers to port",
            since=workflow.now(),
            account_id=request.account_id,
            pbx_id=request.pbx_id,
            existing_customer=request.existing_customer,
            numbers=request.numbers.count,
        )
        self.docs: dict[DocumentKind, DocumentView] = {}
        # Each wait for the reseller is a period: the first, and one after each carrier
        # refusal. Reminders, escalation and deadlines count from the start of the period.
        self.period = 1
        self.period_since = workflow.now()
        self.period_reminders = 0
        self.period_escalated = False
        self.extended = timedelta(0)
        self.extensions = 0
        self.deadline_changes = 0  # wakes the reseller wait when staff move the deadlines
        self.changed_since_refusal = False
        self.confirmed_by: str | None = None
        self.confirmed_period = 0
        self.carrier_answers = 0  # wakes the carrier wait

    @workflow.query
    def status(self) -> ClassoundStatus:
        return self.state

    @workflow.run
    @closes_when_cancelled
    async def run(self, request: ClassoundRequest) -> ClassoundStatus:
        self._publish_ids()
        if (why := await self._refused_start(request.requested_by)) is not None:
            self._refused_at_start(Stage.REFUSED, why)
            return await self._end()
        if not await self._place_order(request):
            return await self._end()
        while not self.finished:
            if self.state.stage in RESELLER_STAGES:
                await self._documents_then_confirmation()
            elif self.state.stage in CARRIER_STAGES:
                await self._carrier_then_porting_day()
            else:  # activating: the step holding the lock finishes it
                await workflow.wait_condition(lambda: self.finished)
        return await self._end()

    # --- 1. order placed: the reseller is asked for the documents --------------------------

    async def _place_order(self, request: ClassoundRequest) -> bool:
        escalates_at, expires_at = self._deadlines()
        try:
            placed = await self._act(
                ClassoundActivities.place_classound_order,
                OrderPlacement(
                    key=self._key("place-order", request.requested_by),
                    account_id=request.account_id,
                    pbx_id=request.pbx_id,
                    existing_customer=request.existing_customer,
                    flats=request.flats,
                    numbers=request.numbers,
                    escalates_at=escalates_at,
                    expires_at=expires_at,
                ),
                f"place CLASSOUND order on PBX {request.pbx_id}, "
                f"{request.numbers.count} number(s) to port",
            )
        except ActivityError as err:
            reason = refused_reason(err)
            if reason is None:
                raise
            self._refused_at_start(Stage.REFUSED, reason)
            return False
        self.state.partner_id = placed.partner_id
        self.state.flats = placed.flats
        self.state.ticket_id = placed.ticket_id
        self.state.escalates_at, self.state.expires_at = escalates_at, expires_at
        self._publish_ids()
        self._reseller_stage()
        self.validated = True
        return True

    # --- 2. documents and confirmation, with reminders, escalation and expiry ---------------

    def _deadlines(self) -> tuple[datetime, datetime]:
        return deadlines(self.period_since, self.extended)

    def _reseller_stage(self) -> None:
        missing = missing_documents(set(self.docs))
        self.state.missing = missing
        escalated = (
            f"; escalated to customer care (ticket {self.state.escalation_ticket})"
            if self.period_escalated
            else ""
        )
        last = self.state.attempt
        if self.period > 1 and not self.changed_since_refusal and last is not None:
            self._set_stage(
                Stage.CARRIER_REFUSED,
                "waiting for: a corrected LOA or last "
                f"invoice (the carrier refused: {last.refused}){escalated}",
            )
        elif missing:
            self._set_stage(
                Stage.AWAITING_DOCUMENTS, f"waiting for: {', '.join(missing)}{escalated}"
            )
        else:
            again = " again" if self.period > 1 else ""
            self._set_stage(
                Stage.AWAITING_CONFIRMATION,
                f"waiting for: confirm order{again} (LOA and last invoice received){escalated}",
            )

    def _reseller_owes(self) -> bool:
        return self.state.stage in RESELLER_STAGES and self.confirmed_period != self.period

    async def _documents_then_confirmation(self) -> None:
        while self.state.stage in RESELLER_STAGES:
            if self.confirmed_period == self.period:
                await self._submit_porting_request()
                return
            event, at = next_reseller_event(
                self.period_since, self.period_reminders, self.period_escalated, self.extended
            )
            if at > workflow.now():
                seen = self.deadline_changes

                def moved(seen: int = seen) -> bool:
                    return (
                        self.confirmed_period == self.period
                        or self.finished
                        or self.deadline_changes != seen
                    )

                try:
                    await workflow.wait_condition(moved, timeout=at - workflow.now())
                except TimeoutError:
                    pass
                continue  # look again: what is due now
            async with self._lock:
                if not self._reseller_owes():
                    continue
                if event == "expiry":
                    days = (workflow.now() - self.period_since).days
                    await self._close(
                        Stage.EXPIRED,
                        f"not confirmed within {days} days ({self.state.waiting_for})",
                        SYSTEM,
                    )
                elif event == "escalation":
                    await self._escalate()
                else:
                    await self._remind()

    async def _remind(self) -> None:
        n = self.state.reminders_sent + 1
        await self._act(
            ClassoundActivities.remind_reseller,
            ResellerReminder(
                key=self._key(f"remind-reseller-{n}"),
                partner_id=self.state.partner_id or "",
                reminder_no=n,
                waiting_for=self.state.waiting_for,
            ),
            f"remind reseller, reminder {n}: {self.state.waiting_for}",
        )
        self.period_reminders += 1
        self.state.reminders_sent = n
        self.state.revision += 1

    async def _escalate(self) -> None:
        days = (workflow.now() - self.period_since).days
        self.state.escalation_ticket = await self._act(
            ClassoundActivities.escalate_to_customer_care,
            Escalation(
                key=self._key(f"escalate-{self.period}"),
                account_id=self.state.account_id,
                pbx_id=self.state.pbx_id,
                waiting_for=self.state.waiting_for,
                days=days,
            ),
            f"escalate to customer care after {days} days",
        )
        self.period_escalated = True
        self._reseller_stage()

    # upload: a document (LOA or last invoice) stored by the starter, recorded here
    def _check_upload(self) -> None:
        if self._reseller_owes():
            return
        stage = self.state.stage
        if stage == Stage.VALIDATING:
            raise refusal("the order is still being placed; try again in a moment")
        if stage in CARRIER_STAGES or self.confirmed_period == self.period:
            raise refusal(
                f"the order is confirmed and the porting request is with the carrier "
                f"({self.state.waiting_for}); documents can change again only if "
                "the carrier refuses it",
                "documents.closed",
            )
        raise refusal(
            f"documents can no longer change: {stage.value}, {self.state.waiting_for}",
            "documents.closed",
        )

    @workflow.update
    async def upload(self, u: DocumentUpload) -> StepAnswer:
        await self._authorize("upload", u.actor)
        async with self._lock:
            self._check_upload()
            doc = u.document
            current = self.docs.get(doc.kind)
            if current is not None and current.sha256 == doc.sha256:
                return self._answer(
                    f"already uploaded: {doc.label} {current.file_name} "
                    f"(sha256 {doc.short_sha}…) is the current {doc.label}; "
                    f"{self.state.waiting_for}",
                    "document.already_uploaded",
                    kind=doc.kind.value,
                    file=current.file_name,
                )
            self.state.uploads += 1
            try:
                recorded = await self._act(
                    ClassoundActivities.record_document,
                    DocumentRecord(
                        key=self._key(f"upload-{self.state.uploads}-{doc.kind}", u.actor),
                        document=doc,
                    ),
                    f"record {doc.label} (upload {self.state.uploads})",
                )
            except ActivityError as err:
                reason = refused_reason(err)
                if reason is None:
                    raise
                raise refusal(f"{doc.label} not accepted: {reason}") from None
            self.docs[doc.kind] = DocumentView(
                document_id=recorded.document_id,
                kind=doc.kind,
                file_name=doc.file_name,
                content_type=doc.content_type,
                size=doc.size,
                sha256=doc.sha256,
                uploaded_by=u.actor,
                uploaded_at=recorded.uploaded_at,
            )
            self.state.documents = [self.docs[k] for k in REQUIRED_KINDS if k in self.docs]
            if self.period > 1:
                self.changed_since_refusal = True
            self._reseller_stage()
            return self._answer(
                f"{doc.label} {doc.file_name} recorded (sha256 "
                f"{doc.short_sha}…); {self.state.waiting_for}",
                "document.uploaded",
                kind=doc.kind.value,
                file=doc.file_name,
            )

    @upload.validator
    def _validate_upload(self, u: DocumentUpload) -> None:
        self._check_upload()

    # confirm: "Bestellung bestätigen", only with both documents
    def _check_confirm(self) -> bool:
        """True for a repeat (answered with what happened); refuses what cannot be done."""
        stage = self.state.stage
        if (
            self.confirmed_period == self.period
            or stage in CARRIER_STAGES
            or stage in (Stage.ACTIVATING, Stage.ACTIVE)
        ):
            return True
        if stage not in RESELLER_STAGES:
            raise refusal(f"there is no order to confirm: {stage.value}, {self.state.waiting_for}")
        missing = missing_documents(set(self.docs))
        if missing:
            raise refusal(
                f"the order cannot be confirmed yet: waiting for: {', '.join(missing)}"
                f" (upload with `starter.py upload {self.state.process_id} --kind "
                "loa|last-invoice --file PATH`)"
            )
        if self.period > 1 and not self.changed_since_refusal:
            last = self.state.attempt
            raise refusal(
                f"the carrier refused the porting request "
                f"({last.refused if last else '?'}); upload a corrected LOA or last "
                "invoice before confirming again"
            )
        return False

    @workflow.update
    async def confirm(self, step: StaffStep) -> StepAnswer:
        await self._authorize("confirm", step.actor)
        if self._check_confirm():
            return self._answer(
                f"already confirmed by {self.confirmed_by}: {self.state.waiting_for}"
            )
        self.confirmed_by, self.confirmed_period = step.actor, self.period
        period = self.period
        await workflow.wait_condition(
            lambda: (
                self.finished
                or (self.state.attempt is not None and self.state.attempt.attempt == period)
            )
        )
        if self.state.attempt is None or self.state.attempt.attempt != period:
            raise refusal(f"the order was not confirmed: {self.state.waiting_for}")
        return self._answer(
            f"order confirmed by {step.actor}; porting request "
            f"{self.state.attempt.request_id} submitted to the carrier: "
            f"{self.state.waiting_for}"
        )

    @confirm.validator
    def _validate_confirm(self, step: StaffStep) -> None:
        self._check_confirm()

    # extend: staff move the escalation and expiry deadlines
    def _check_extend(self) -> None:
        if not self._reseller_owes():
            raise refusal(
                f"there is no deadline to extend: {self.state.stage.value}, "
                f"{self.state.waiting_for}"
            )

    @workflow.update
    async def extend(self, e: Extension) -> StepAnswer:
        await self._authorize("extend", e.actor)
        async with self._lock:
            self._check_extend()
            extended = self.extended + timedelta(days=e.days)
            escalates_at, expires_at = deadlines(self.period_since, extended)
            self.extensions += 1
            await self._act(
                ClassoundActivities.move_classound_deadlines,
                DeadlineChange(
                    key=self._key(f"extend-{self.extensions}", e.actor),
                    days=e.days,
                    escalates_at=escalates_at,
                    expires_at=expires_at,
                ),
                f"extend deadlines by {e.days} days",
            )
            self.extended = extended
            self.state.extended_days += e.days
            if not self.period_escalated:
                self.state.escalates_at = escalates_at
            self.state.expires_at = expires_at
            self.deadline_changes += 1
            self.state.revision += 1
            escalation = (
                "" if self.period_escalated else f"escalation on {escalates_at:%Y-%m-%d %H:%M}, "
            )
            return self._answer(
                f"deadlines moved by {e.days} days: {escalation}expiry on "
                f"{expires_at:%Y-%m-%d %H:%M} UTC"
            )

    @extend.validator
    def _validate_extend(self, e: Extension) -> None:
        self._check_extend()

    # --- 3. the porting request and the carrier's answer -----------------------------------

    async def _submit_porting_request(self) -> None:
        async with self._lock:
            if not (self.state.stage in RESELLER_STAGES and self.confirmed_period == self.period):
                return  # cancelled meanwhile
            actor = self.confirmed_by or SYSTEM
            submitted = await self._act(
                ClassoundActivities.submit_porting_request,
                PortingSubmission(
                    key=self._key(f"submit-porting-{self.period}", actor),
                    attempt=self.period,
                    pbx_id=self.state.pbx_id,
                    partner_id=self.state.partner_id or "",
                    loa_document_id=self.docs[DocumentKind.LOA].document_id,
                    invoice_document_id=self.docs[DocumentKind.LAST_INVOICE].document_id,
                ),
                f"submit porting request {self.period} to the carrier",
            )
            self.state.attempts.append(
                PortingAttempt(
                    attempt=self.period,
                    request_id=submitted.request_id,
                    submitted_by=actor,
                    submitted_at=workflow.now(),
                )
            )
            self.state.escalates_at = self.state.expires_at = None
            self._set_stage(
                Stage.PORTING_REQUESTED,
                f"waiting for carrier porting date (porting request {submitted.request_id})",
            )

    async def _carrier_then_porting_day(self) -> None:
        while self.state.stage in CARRIER_STAGES:
            attempt = self.state.attempt
            assert attempt is not None
            now = workflow.now()
            timeout: timedelta | None = None
            if self.state.stage == Stage.PORTING_SCHEDULED:
                assert self.state.porting_date is not None  # scheduled: the carrier set it
                at = porting_moment(self.state.porting_date)
                if at <= now:
                    await self._activate()
                    continue
                timeout = at - now
            elif attempt.chase_ticket is None:
                chase_at = attempt.submitted_at + CARRIER_ANSWER_DUE
                if chase_at <= now:
                    await self._chase_carrier()
                    continue
                timeout = chase_at - now

            def answered(seen: int = self.carrier_answers) -> bool:
                return self.carrier_answers != seen or self.finished

            try:
                await workflow.wait_condition(answered, timeout=timeout)
            except TimeoutError:
                pass

    async def _chase_carrier(self) -> None:
        async with self._lock:
            attempt = self.state.attempt
            assert attempt is not None  # a porting request was submitted
            if self.state.stage != Stage.PORTING_REQUESTED or attempt.chase_ticket is not None:
                return
            attempt.chase_ticket = await self._act(
                ClassoundActivities.chase_carrier,
                CarrierChase(
                    key=self._key(f"chase-carrier-{attempt.attempt}"),
                    account_id=self.state.account_id,
                    pbx_id=self.state.pbx_id,
                    attempt=attempt.attempt,
                    days=CARRIER_ANSWER_DUE.days,
                ),
                f"chase the carrier for porting request {attempt.request_id}",
            )
            self._set_stage(
                Stage.PORTING_REQUESTED,
                "waiting for carrier porting date "
                f"(porting request {attempt.request_id}; customer care chases the "
                f"carrier, ticket {attempt.chase_ticket})",
            )

    def _check_carrier_answer(self, a: CarrierAnswer) -> bool:
        """True for a repeat of the answer already recorded."""
        stage, last = self.state.stage, self.state.attempt
        try:
            if a.refused is not None:
                check_no_phone_number(a.refused, "refusal reason")
            if a.porting_date is not None:
                if stage == Stage.PORTING_SCHEDULED and a.porting_date == self.state.porting_date:
                    return True
                check_porting_date(a.porting_date, self._today())
        except Refused as e:
            raise refusal(str(e)) from None
        if stage in CARRIER_STAGES:
            return False
        if (
            stage in RESELLER_STAGES
            and last is not None
            and last.refused is not None
            and last.attempt == self.period - 1
        ):
            if a.refused is not None:
                return True
            raise refusal(
                f"the carrier refused porting request {last.request_id}; the reseller "
                "must fix the documents and confirm again before a date can be set"
            )
        raise refusal(
            f"no porting request is waiting for the carrier: {stage.value}, "
            f"{self.state.waiting_for}"
        )

    @workflow.update
    async def carrier_answer(self, a: CarrierAnswer) -> StepAnswer:
        await self._authorize("carrier_answer", a.actor)
        async with self._lock:
            if self._check_carrier_answer(a):
                return self._answer(f"already recorded: {self.state.waiting_for}")
            attempt = self.state.attempt
            assert attempt is not None
            n = self.carrier_answers + 1
            answered_at = workflow.now()  # a refusal starts the reseller's new period here
            escalates_at, expires_at = deadlines(answered_at, timedelta(0))
            ticket_id = await self._act(
                ClassoundActivities.record_carrier_answer,
                CarrierAnswerRecord(
                    key=self._key(f"carrier-answer-{attempt.attempt}-{n}", a.actor),
                    attempt=attempt.attempt,
                    account_id=self.state.account_id,
                    partner_id=self.state.partner_id or "",
                    porting_date=a.porting_date,
                    refused=a.refused,
                    escalates_at=escalates_at,
                    expires_at=expires_at,
                ),
                f"record the carrier's answer to porting request {attempt.request_id}",
            )
            self.carrier_answers = n
            if a.refused is not None:
                attempt.refused, attempt.porting_date = a.refused, None
                self._back_to_reseller(attempt, ticket_id, answered_at)
                return self._answer(
                    f"carrier refusal recorded; the reseller is asked to fix "
                    f"the documents (ticket {ticket_id}): "
                    f"{self.state.waiting_for}"
                )
            moved = self.state.porting_date is not None
            attempt.porting_date = self.state.porting_date = a.porting_date
            self._set_stage(Stage.PORTING_SCHEDULED, f"porting on {a.porting_date}")
            return self._answer(
                f"porting {'moved to' if moved else 'scheduled on'} "
                f"{a.porting_date}: the numbers go live that day"
            )

    @carrier_answer.validator
    def _validate_carrier_answer(self, a: CarrierAnswer) -> None:
        self._check_carrier_answer(a)

    def _back_to_reseller(
        self, attempt: PortingAttempt, ticket_id: int | None, since: datetime
    ) -> None:
        self.period += 1
        self.period_since = since
        self.period_reminders, self.period_escalated = 0, False
        self.extended = timedelta(0)
        self.changed_since_refusal = False
        self.state.porting_date = None
        self.state.escalation_ticket = None
        self.state.escalates_at, self.state.expires_at = self._deadlines()
        self.state.notes.append(
            f"the carrier refused porting request {attempt.request_id}: "
            f"{attempt.refused} (reseller ticket {ticket_id})"
        )
        self._reseller_stage()

    # --- 4. porting day ---------------------------------------------------------------------

    async def _activate(self) -> None:
        async with self._lock:
            day = self.state.porting_date
            if (
                self.state.stage != Stage.PORTING_SCHEDULED
                or day is None
                or porting_moment(day) > workflow.now()
            ):
                return  # refused, moved or cancelled meanwhile
            attempt = self.state.attempt
            assert attempt is not None  # scheduled for a porting request
            self._set_stage(
                Stage.ACTIVATING,
                f"activating {self.state.numbers} DID(s) on PBX {self.state.pbx_id}",
            )
            activated = await self._act(
                ClassoundActivities.activate_classound,
                Activation(
                    key=self._key(f"activate-{attempt.attempt}"),
                    attempt=attempt.attempt,
                    account_id=self.state.account_id,
                    pbx_id=self.state.pbx_id,
                    partner_id=self.state.partner_id or "",
                    flats=self.state.flats,
                    porting_date=day,
                ),
                f"porting day: activate CLASSOUND on PBX {self.state.pbx_id}",
            )
            self.state.records += activated.records
            self.state.notes += activated.notes
            self.state.billing = [str(p) for p in activated.plans]
            self._set_stage(
                Stage.ACTIVE,
                f"nothing: ported on {day}; {activated.dids} DID(s) "
                f"active on PBX {self.state.pbx_id}",
            )

    # --- cancelling -------------------------------------------------------------------------

    def _check_cancel(self, c: Cancellation) -> bool:
        stage = self.state.stage
        if stage == Stage.CANCELLED:
            return True
        if stage in (Stage.ACTIVATING, Stage.ACTIVE):
            raise refusal(
                "the numbers are ported and active; cancel DIDs or CLASSOUND-FLATs "
                "with a change order or a customer-care ticket"
            )
        if self.finished:
            raise refusal(f"the process has ended ({stage.value}); nothing to cancel")
        if stage == Stage.VALIDATING:
            raise refusal("the order is still being placed; try again in a moment")
        try:
            check_no_phone_number(c.reason, "reason")
        except Refused as e:
            raise refusal(str(e)) from None
        return False

    async def _cancel(self, c: Cancellation) -> StepAnswer:
        await self._authorize("cancel", c.actor)
        async with self._lock:
            if self._check_cancel(c):
                return self._answer(f"already cancelled: {self.state.waiting_for}")
            await self._close(Stage.CANCELLED, f"cancelled by {c.actor}: {c.reason}", c.actor)
            return self._answer(f"{self.state.process_id} cancelled")

    def _validate_cancel(self, c: Cancellation) -> None:
        self._check_cancel(c)

    async def _withdraw(self, actor: str, reason: str) -> None:
        """A cancel from Temporal closes the order as a staff cancel does (the same step);
        numbers already ported stay active."""
        async with self._lock:
            if self.finished or self.state.stage in (Stage.ACTIVATING, Stage.ACTIVE):
                return
            await self._close(Stage.CANCELLED, f"cancelled by {actor}: {reason}", actor)

    async def _close(self, stage: Stage, reason: str, actor: str) -> None:
        attempt = self.state.attempt
        with_carrier = self.state.stage in CARRIER_STAGES and attempt is not None
        ticket_id = await self._act(
            ClassoundActivities.close_classound_order,
            ClassoundClosure(
                key=self._key(f"close-{stage.value}", actor),
                status="expired" if stage == Stage.EXPIRED else "cancelled",
                reason=reason,
                account_id=self.state.account_id,
                pbx_id=self.state.pbx_id,
                partner_id=self.state.partner_id or "",
                withdraw_attempt=attempt.attempt if with_carrier and attempt else None,
            ),
            f"{stage.value}: {reason}",
        )
        if ticket_id:
            self.state.notes.append(
                f"customer-care ticket {ticket_id}: withdraw the porting request at the carrier"
            )
        self.state.escalates_at = self.state.expires_at = None
        self._set_stage(stage, f"nothing: {reason}")

    def _answer(self, message: str, code: str = "", **params: str | int) -> StepAnswer:
        return StepAnswer(message=message, stage=self.state.stage, code=code, params=params)

    def _today(self) -> date:
        return business_today(workflow.now(), Family.CLASSOUND)
