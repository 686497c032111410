"""Change order, quote based.
Quote drafted -> save & mark as primary -> quick publish -> mark status as complete ->
accepted (order for the partner to confirm) or rejected with its reason, then fixed and
marked complete again. A published quote is never edited: "revise" duplicates it with
the changes, and the duplicate becomes the primary quote to publish.

A quote with CLASSOUND-FLAT lines is booked ("mark status as complete") and confirmed only
once the LOA and the last invoice are uploaded to the process, with the same
`upload` step, checks and document records as the CLASSOUND order."""

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.change_orders import ChangeOrderActivities
    from activities.classound import ClassoundActivities
    from domain.business_time import Family, business_today
    from domain.change_order import (
        ChangeOrderOpening,
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
    from domain.classound import DocumentUpload, DocumentView
    from domain.classound_steps import DocumentRecord
    from domain.documents import REQUIRED_KINDS, DocumentKind, missing_documents
    from domain.errors import Refused
    from domain.order_lines import Plan, QuoteLine, plan_quote, revise_lines

# Workflow code: imported again in each run's sandbox (see worker.workflow_runner).
from workflows.order_decline import DeclinableOrder
from workflows.process import closes_when_cancelled, permission_refusal, refusal, refused_reason
from workflows.rollout import versioning


@workflow.defn(name="ChangeOrder", versioning_behavior=versioning("ChangeOrder"))
class ChangeOrder(DeclinableOrder):
    kind = ProcessKind.CHANGE_ORDER

    @workflow.init
    def __init__(self, request: ChangeOrderRequest) -> None:
        self._begin(request.account_id, request.pbx_id)
        self.plans: dict[str, Plan] = {}
        self.completions = 0
        self.docs: dict[DocumentKind, DocumentView] = {}
        self.uploads = 0

    @workflow.run
    @closes_when_cancelled
    async def run(self, request: ChangeOrderRequest) -> ProcessStatus:
        self._publish_ids()
        if (
            why := await self._refused_start(request.requested_by, checked_by_first_step=True)
        ) is not None:
            return await self._refuse(why)
        try:
            await self._open(request)
        except (Refused, ActivityError) as err:
            reason = refused_reason(err)
            if reason is None:
                raise
            return await self._refuse(reason)
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

    async def _open(self, request: ChangeOrderRequest) -> None:
        """The PBX check, the plan and quote v1 in one step (one activity, one transaction,
        the start permission checked in it): a revision plans and saves in two."""
        quote = self._new_quote(request.lines, primary=False)
        opened = await self._act(
            ChangeOrderActivities.open_change_order,
            ChangeOrderOpening(
                key=self._key(f"save-quote-v{quote.version}", request.requested_by),
                lookup=self._lookup(sorted({line.sku for line in request.lines})),
                lines=request.lines,
                today=business_today(workflow.now(), Family.CHANGE_ORDERS),
                quote_id=quote.quote_id,
            ),
            f"check PBX {self.state.pbx_id}, save quote v{quote.version}",
        )
        self._pbx_loaded(opened.pbx)
        self._publish_ids(with_next_stage=True)  # the quote's stage
        self._quote_saved(quote, opened.plan)

    def _new_quote(self, lines: list[QuoteLine], *, primary: bool) -> QuoteView:
        version = len(self.state.quotes) + 1
        return QuoteView(
            quote_id=f"quote-{self.ref}-v{version}",
            version=version,
            primary=primary,
            status="draft",
            lines=lines,
        )

    async def _save_quote(
        self, lines: list[QuoteLine], plan: Plan, actor: str, *, primary: bool
    ) -> QuoteView:
        previous = self.state.current_quote
        quote = self._new_quote(lines, primary=primary)
        version = quote.version
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
        self._quote_saved(quote, plan)
        return quote

    def _quote_saved(self, quote: QuoteView, plan: Plan) -> None:
        previous = self.state.current_quote
        if previous:
            previous.primary = False
            if previous.status != "rejected":
                previous.status = "superseded"
        self.plans[quote.quote_id] = plan
        self.state.quotes.append(quote)
        self.state.lines = plan.lines
        self.state.notes = list(plan.notes)
        self._quote_stage()

    # --- CLASSOUND documents ------------------------------------------------

    def _missing_documents(self) -> list[str]:
        """What the current quote still needs before it can be booked: nothing without a
        CLASSOUND-FLAT line, else the LOA and the last invoice not yet uploaded."""
        return missing_documents(set(self.docs)) if self.state.has_classound else []

    def _documents_refusal(self, what: str) -> str | None:
        missing = self._missing_documents()
        if not missing:
            return None
        return (
            f"{what}: the quote contains CLASSOUND-FLAT, which is booked only with the "
            f"signed LOA and the last invoice of the old carrier; waiting for: "
            f"{', '.join(missing)} (upload with `starter.py upload {self.state.process_id}"
            " --kind loa|last-invoice --file PATH`)"
        )

    def _confirm_refusal(self) -> ApplicationError | None:
        reason = self._documents_refusal("the order cannot be confirmed yet")
        if reason is None:
            return None
        # the portal says it in the partner's words: which documents, by kind
        missing = ",".join(k.value for k in REQUIRED_KINDS if k not in self.docs)
        return refusal(reason, "order.documents_missing", missing=missing)

    def _check_upload(self) -> None:
        if (
            self.finished
            or self.confirmed_by is not None
            or self.state.stage in (Stage.VALIDATING, Stage.APPLYING)
        ):
            raise refusal(
                f"documents can no longer change: {self.state.stage.value}, "
                f"{self.state.waiting_for}",
                "documents.closed",
            )
        if not self.state.has_classound:
            raise refusal(
                f"the quote of {self.state.process_id} has no CLASSOUND-FLAT: no LOA "
                "or last invoice is needed"
            )

    @workflow.update(name="upload")
    async def upload(self, u: DocumentUpload) -> StepAnswer:
        """The LOA or the last invoice, stored by the starter and checked again by the same
        activity as for a CLASSOUND order; the newest of each kind counts."""
        await self._authorize("upload", u.actor)
        async with self._lock:
            self._check_upload()
            doc = u.document
            current = self.docs.get(doc.kind)
            if current is not None and current.sha256 == doc.sha256:
                return self._answer(
                    f"already uploaded: {doc.label} {current.file_name} "
                    f"(sha256 {doc.short_sha}…) is the current {doc.label}",
                    code="document.already_uploaded",
                    params={"kind": doc.kind.value, "file": current.file_name},
                )
            self.uploads += 1
            recorded = await self._act_or_refuse(
                ClassoundActivities.record_document,
                DocumentRecord(
                    key=self._key(f"upload-{self.uploads}-{doc.kind}", u.actor), document=doc
                ),
                f"record {doc.label} (upload {self.uploads})",
            )
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
            self._refresh_stage()
            missing = self._missing_documents()
            rest = f"still missing: {', '.join(missing)}" if missing else "both documents are there"
            return self._answer(
                f"{doc.label} {doc.file_name} recorded (sha256 {doc.short_sha}…); {rest}",
                code="document.uploaded",
                params={"kind": doc.kind.value, "file": doc.file_name},
            )

    @upload.validator
    def _validate_upload(self, u: DocumentUpload) -> None:
        self._check_upload()

    def _refresh_stage(self) -> None:
        """The stage's words again, after documents changed what the process waits for."""
        self.state.missing = self._missing_documents()
        if self.state.order_id is None:
            self._quote_stage()
        else:
            self.state.revision += 1

    # --- quote stages -----------------------------------------------------------------------

    def _quote_stage(self) -> None:
        q = self.state.current_quote
        assert q is not None
        self.state.missing = self._missing_documents()
        documents = (
            f"; CLASSOUND documents missing: {', '.join(self.state.missing)}"
            if self.state.missing
            else ""
        )
        if q.status == "rejected":
            self._set_stage(
                Stage.QUOTE_REJECTED, f"quote {q.quote_id} rejected: {q.rejection_reason}"
            )
        elif q.published:
            self._set_stage(
                Stage.QUOTE_PUBLISHED,
                f"waiting for staff to mark quote {q.quote_id} complete{documents}",
            )
        elif q.primary:
            self._set_stage(Stage.QUOTE_PRIMARY, f"waiting for staff to publish quote {q.quote_id}")
        else:
            self._set_stage(
                Stage.QUOTE_DRAFT, f"waiting for staff to save & mark quote {q.quote_id} as primary"
            )

    def _open_quote(self, quote_id: str | None = None) -> QuoteView:
        """The quote a quote step may act on: the newest, while no order exists."""
        if self.finished:
            raise refusal(f"the process has ended ({self.state.stage.value})")
        if self.state.order_id is not None:
            raise refusal(
                f"quote accepted, order {self.state.order_id} exists: {self.state.waiting_for}"
            )
        current = self.state.current_quote
        if current is None:
            raise refusal("the first quote is still being saved; try again in a moment")
        if quote_id is not None and quote_id != current.quote_id:
            q = self.state.quote(quote_id)
            if q is None:
                raise refusal(
                    f"no quote {quote_id} in {self.state.process_id}; "
                    f"the current quote is {current.quote_id}"
                )
            raise refusal(
                f"quote {quote_id} is {q.status}; only the newest quote "
                f"{current.quote_id} can be used"
            )
        return current

    # save & mark as primary
    @workflow.update
    async def mark_primary(self, step: QuoteStep) -> StepAnswer:
        in_step = self._checked_in_step(step.actor)
        if not in_step:
            await self._authorize("mark_primary", step.actor)
        async with self._lock:
            q = self._open_quote(step.quote_id)
            if not q.primary:
                await self._act_or_refuse(
                    ChangeOrderActivities.mark_quote_primary,
                    QuoteChange(
                        key=self._key(f"mark-primary-v{q.version}", step.actor),
                        quote_id=q.quote_id,
                        pbx_id=self.state.pbx_id,
                    ),
                    f"mark quote v{q.version} primary",
                )
                q.primary = True
                self._quote_stage()
                return self._answer(f"quote {q.quote_id} is now the primary quote")
            if in_step:  # answered without a write
                await self._authorize("mark_primary", step.actor)
            return self._answer(f"quote {q.quote_id} was already primary")

    @mark_primary.validator
    def _validate_mark_primary(self, step: QuoteStep) -> None:
        self._open_quote(step.quote_id)

    def _check_publish(self, quote_id: str) -> QuoteView:
        q = self._open_quote(quote_id)
        if not q.primary:
            raise refusal(
                f"only a primary quote can be published; mark {q.quote_id} as primary first"
            )
        return q

    # submit proposal -> quick publish
    @workflow.update
    async def publish(self, step: QuoteStep) -> StepAnswer:
        in_step = self._checked_in_step(step.actor)
        if not in_step:
            await self._authorize("publish", step.actor)
        async with self._lock:
            q = self._check_publish(step.quote_id)
            if q.published:
                if in_step:  # answered without a write
                    await self._authorize("publish", step.actor)
                return self._answer(f"quote {q.quote_id} was already published")
            try:
                await self._act(
                    ChangeOrderActivities.publish_quote,
                    QuoteChange(
                        key=self._key(f"publish-v{q.version}", step.actor),
                        quote_id=q.quote_id,
                        pbx_id=self.state.pbx_id,
                    ),
                    f"quick publish quote v{q.version}",
                )
            except ActivityError as err:
                reason = refused_reason(err)
                if reason is None:
                    raise
                if permission_refusal(err) is None:
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
            raise refusal(
                f"quote {q.quote_id} is not published; only the primary published "
                "quote can be marked complete"
            )
        return q

    def _complete_refusal(self) -> str | None:
        return self._documents_refusal("the quote cannot be marked complete yet")

    # mark status as complete
    @workflow.update
    async def mark_complete(self, step: StaffStep) -> StepAnswer:
        in_step = self._checked_in_step(step.actor)
        if not in_step:
            await self._authorize("mark_complete", step.actor)
        async with self._lock:
            q = self._check_complete()
            if q is None:
                if in_step:  # answered without a write
                    await self._authorize("mark_complete", step.actor)
                return self._answer(f"quote already accepted; order {self.state.order_id}")
            reason = self._complete_refusal()
            if reason:
                raise refusal(reason)
            self.completions += 1
            completion = QuoteCompletion(
                key=self._key(f"mark-complete-v{q.version}-{self.completions}", step.actor),
                quote_id=q.quote_id,
                order=self._order_draft(q.quote_id),
            )
            if in_step:
                try:
                    outcome = await self._act_or_refuse(
                        ChangeOrderActivities.complete_quote,
                        completion,
                        f"mark quote v{q.version} complete",
                    )
                except ApplicationError:
                    self.completions -= 1  # refused: nothing was written, no key used
                    raise
            else:
                outcome = await self._act(
                    ChangeOrderActivities.complete_quote,
                    completion,
                    f"mark quote v{q.version} complete",
                )
            if not outcome.accepted:
                q.status, q.rejection_reason = "rejected", outcome.reason
                self._quote_stage()
                return self._answer(f"quote {q.quote_id} rejected: {outcome.reason}", rejected=True)
            q.status, q.rejection_reason = "accepted", None
            self._order_created(self._order_draft().order_id)
            return self._answer(
                f"quote {q.quote_id} accepted; order {self.state.order_id} "
                "created and sent to the partner to confirm"
            )

    @mark_complete.validator
    def _validate_mark_complete(self, step: StaffStep) -> None:
        if self._check_complete() is not None:
            reason = self._complete_refusal()
            if reason:
                raise refusal(reason)

    # duplicate a published quote with changes; the duplicate becomes primary
    def _revised_lines(self, revision: Revision) -> tuple[list[QuoteLine], list[str]]:
        """The duplicate's lines: the original's, with the revision's changes."""
        original = self._open_quote()
        try:
            return revise_lines(original.lines, revision.lines, revision.remove)
        except Refused as err:
            raise refusal(str(err)) from None

    @workflow.update
    async def revise(self, revision: Revision) -> StepAnswer:
        await self._authorize("revise", revision.actor)
        async with self._lock:
            original = self._open_quote()
            lines, differences = self._revised_lines(revision)
            try:
                plan = await self._plan(lines)
            except (Refused, ActivityError) as err:
                reason = refused_reason(err)
                if reason is None:
                    raise
                raise refusal(reason) from None
            q = await self._save_quote(lines, plan, revision.actor, primary=True)
            changed = (
                f"; differences from {original.quote_id}: {'; '.join(differences)}"
                if differences
                else ""
            )
            return self._answer(
                f"quote {q.quote_id} created as primary{changed}; publish it next",
                notes=[*differences, *plan.notes],
            )

    @revise.validator
    def _validate_revise(self, revision: Revision) -> None:
        self._revised_lines(revision)

    def _answer(
        self,
        message: str,
        rejected: bool = False,
        notes: list[str] | None = None,
        code: str = "",
        params: dict[str, str | int] | None = None,
    ) -> StepAnswer:
        return StepAnswer(
            message=message,
            stage=self.state.stage,
            rejected=rejected,
            notes=notes or [],
            code=code,
            params=params or {},
        )
