"""Client onboarding: one process per existing client, `client-onboarding-<id>`.
Billing information (skipped where it already exists) -> contract terms (payment details,
contract period) -> the contract drafted with parts defaulted from the services already
assigned to the client -> staff confirm or change each part's price -> contract active:
the client is onboarded. A client without recurring services needs no contract: billing
information onboards it. Staff see what the client still lacks at any moment (`status`,
and the answer to every step)."""

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.psa import PsaActivities
    from domain.billing_information import (
        billing_information_problems,
        normalised,
        refusal_reason,
    )
    from domain.contracts import (
        ContractTerms,
        PartChange,
        activation_problems,
        change_problems,
        describe_parts,
        monthly_total,
        parts_difference,
        terms_problems,
        unpriced,
    )
    from domain.psa import (
        ONBOARDING_FINAL,
        BillingInformationSave,
        BillingInformationStep,
        ClientLookup,
        ContractActivation,
        ContractDraft,
        ContractTermsStep,
        DraftedContract,
        OnboardingClosure,
        OnboardingRequest,
        OnboardingStage,
        OnboardingStatus,
        PartChangesStep,
        PartsChange,
        ProcessKind,
        TermsChange,
        contract_needed,
        what_client_lacks,
    )
    from domain.steps import Cancellation, StaffStep, StepAnswer

# Workflow code: imported again in each run's sandbox (see worker.workflow_runner).
from workflows.process import Process, closes_when_cancelled, refusal, refused_reason
from workflows.rollout import versioning
from workflows.visibility import ACCOUNT_ID, PARTNER_ID, PROCESS_KIND

Stage = OnboardingStage


@workflow.defn(name="ClientOnboarding", versioning_behavior=versioning("ClientOnboarding"))
class ClientOnboarding(Process[OnboardingStatus, OnboardingStage]):
    kind = ProcessKind.CLIENT_ONBOARDING
    final_stages = ONBOARDING_FINAL

    @workflow.init
    def __init__(self, request: OnboardingRequest) -> None:
        self._init_process()
        self.state = OnboardingStatus(
            process_id=workflow.info().workflow_id,
            stage=Stage.LOADING,
            waiting_for="loading the client and the services assigned to it",
            since=workflow.now(),
            account_id=request.account_id,
            campaign_id=request.campaign_id,
        )
        self.changes = 0  # numbers the steps that may repeat (terms, parts)

    @workflow.query
    def status(self) -> OnboardingStatus:
        return self.state

    @workflow.run
    @closes_when_cancelled
    async def run(self, request: OnboardingRequest) -> OnboardingStatus:
        self._publish_ids()
        if (why := await self._refused_start(request.requested_by)) is not None:
            self._refused_at_start(Stage.REFUSED, why)
            return await self._end()
        try:
            client = await self._act(
                PsaActivities.load_client,
                ClientLookup(account_id=request.account_id),
                f"load client {request.account_id}",
            )
        except ActivityError as err:
            reason = refused_reason(err)
            if reason is None:
                raise
            self._refused_at_start(Stage.REFUSED, reason)
            return await self._end()
        s = self.state
        s.partner_id = client.partner_id
        self._publish_ids()
        s.billing_information, s.currency = client.has_billing_information, client.currency
        s.contract_needed = contract_needed(client.services)
        if client.active_contract_id:
            s.contract_id, s.contract_active = client.active_contract_id, True
        if client.has_billing_information:
            s.notes.append("billing information already exists: that step is skipped")
        if not s.contract_needed:
            s.notes.append("no services assigned to the client: it needs no contract")
        if not what_client_lacks(s):
            # Started by hand: refused with the reason. Started by a campaign that raced a
            # staff member: ends at once, nothing to do.
            reason = f"client {s.account_id} is already onboarded ({self._onboarded_words()})"
            self.refusal, self.validated = reason, True
            self._set_stage(Stage.ONBOARDED, f"nothing: {reason}")
            return await self._end()
        self._show_stage()
        self.validated = True
        await workflow.wait_condition(lambda: self.finished)
        return await self._end()

    # --- what the client lacks, in the stage and current details ----------------------------

    def _publish_ids(self, *, with_next_stage: bool = False) -> None:
        """Only the ids the start did not set already (the starter and the campaign set
        kind and client): a campaign starts thousands, and each upsert is a history event."""
        have = workflow.info().typed_search_attributes
        wanted = {
            PROCESS_KIND: self.kind.value,
            ACCOUNT_ID: self.state.account_id,
            PARTNER_ID: self.state.partner_id,
        }
        updates = [
            key.value_set(value)
            for key, value in wanted.items()
            if value and have.get(key) != value
        ]
        if updates:
            workflow.upsert_search_attributes(updates)

    def _show_stage(self) -> None:
        s = self.state
        s.lacks = what_client_lacks(s)
        if s.parts:
            s.monthly_total = monthly_total(s.parts)
        if not s.lacks:
            self._set_stage(
                Stage.ONBOARDED, f"nothing: client onboarded ({self._onboarded_words()})"
            )
        elif not s.billing_information:
            also = " and the contract terms" if s.contract_needed and s.terms is None else ""
            self._show(
                Stage.AWAITING_BILLING,
                f"waiting for staff to provide the billing information{also}",
            )
        elif s.contract_id is None:
            self._show(
                Stage.AWAITING_TERMS,
                "waiting for staff to give the contract terms (payment details, contract period)",
            )
        else:
            missing = unpriced(s.parts)
            self._show(
                Stage.AWAITING_PRICES,
                f"waiting for staff to confirm or change the prices of {len(s.parts)} "
                f"contract part(s) of {s.contract_id}"
                + (f"; no price yet for {', '.join(missing)}" if missing else ""),
            )

    def _show(self, stage: Stage, waiting_for: str) -> None:
        """Like `_set_stage`, but a new sentence in the same stage is no new search
        attribute (one history event fewer per step)."""
        if stage != self.state.stage:
            self._set_stage(stage, waiting_for)
            return
        self.state.waiting_for = waiting_for
        self.state.revision += 1
        workflow.set_current_details(
            f"{stage.value}: {waiting_for} (since {self.state.since:%Y-%m-%d %H:%M} UTC)"
        )

    def _onboarded_words(self) -> str:
        s = self.state
        if not s.contract_needed:
            return "billing information provided; no services, so no contract"
        total = f", {s.currency} {s.monthly_total} a month" if s.monthly_total is not None else ""
        return f"billing information and active contract {s.contract_id}{total}"

    def _answer(self, message: str, notes: list[str] | None = None) -> StepAnswer:
        lacks = self.state.lacks
        return StepAnswer(
            message=message,
            stage=self.state.stage,
            notes=(notes or []) + ([f"still lacks: {', '.join(lacks)}"] if lacks else []),
        )

    def _check_open(self) -> None:
        if self.finished:
            raise refusal(
                f"the onboarding of client {self.state.account_id} has ended "
                f"({self.state.stage.value}): {self.state.waiting_for}"
            )

    # --- billing information ----------------------------------------------------------------

    def _check_billing(self, step: BillingInformationStep) -> None:
        self._check_open()
        if self.state.billing_information:
            return  # answered "already exists", nothing changed
        problems = billing_information_problems(step.info)
        if problems:
            raise refusal(refusal_reason(problems))

    @workflow.update
    async def billing_information(self, step: BillingInformationStep) -> StepAnswer:
        """ "Abrechnungsinformationen hinzufügen": refused naming every bad field."""
        await self._authorize("billing_information", step.actor)
        await workflow.wait_condition(lambda: self.validated)
        async with self._lock:
            self._check_billing(step)
            s = self.state
            if s.billing_information:
                return self._answer(
                    f"client {s.account_id} already has billing information; nothing changed"
                )
            saved = await self._act_or_refuse(
                PsaActivities.save_billing_information,
                BillingInformationSave(
                    key=self._key("billing-information", step.actor),
                    account_id=s.account_id,
                    info=normalised(step.info),
                ),
                f"save the billing information of client {s.account_id}",
            )
            s.billing_information, s.currency = True, saved.currency
            await self._advance(step.actor)
            said = (
                "billing information saved"
                if saved.saved
                else "billing information had been provided meanwhile; nothing changed"
            )
            return self._answer(f"{said} (currency {saved.currency}); {self.state.waiting_for}")

    @billing_information.validator
    def _validate_billing(self, step: BillingInformationStep) -> None:
        self._check_billing(step)

    # --- the contract -----------------------------------------------------------------------

    def _check_terms(self, terms: ContractTerms) -> None:
        self._check_open()
        if self.validated and not self.state.contract_needed:
            raise refusal(
                f"client {self.state.account_id} has no services assigned: it needs no contract"
            )
        if self.state.contract_active:
            raise refusal(
                f"contract {self.state.contract_id} is active; its terms no longer "
                "change in onboarding"
            )
        problems = terms_problems(terms)
        if problems:
            raise refusal("contract terms refused: " + "; ".join(problems))

    @workflow.update
    async def contract_terms(self, step: ContractTermsStep) -> StepAnswer:
        """Payment details and contract period; may be changed until the contract is active."""
        await self._authorize("contract_terms", step.actor)
        await workflow.wait_condition(lambda: self.validated)
        async with self._lock:
            self._check_terms(step.terms)
            s = self.state
            if s.terms == step.terms:
                return self._answer(f"contract terms unchanged; {s.waiting_for}")
            if s.contract_id is None:
                s.terms = step.terms
                await self._advance(step.actor)
                return self._answer(f"contract terms noted; {s.waiting_for}")
            self.changes += 1
            await self._act_or_refuse(
                PsaActivities.change_contract_terms,
                TermsChange(
                    key=self._key(f"contract-terms-{self.changes}", step.actor),
                    contract_id=s.contract_id,
                    terms=step.terms,
                ),
                f"change the terms of contract {s.contract_id}",
            )
            s.terms = step.terms
            self._show_stage()
            return self._answer(f"terms of contract {s.contract_id} changed; {s.waiting_for}")

    @contract_terms.validator
    def _validate_terms(self, step: ContractTermsStep) -> None:
        self._check_terms(step.terms)

    async def _advance(self, actor: str) -> None:
        """Once billing information and terms are there, the contract is drafted with its
        parts defaulted from the services already assigned."""
        s = self.state
        if (
            s.billing_information
            and s.terms is not None
            and s.contract_needed
            and s.contract_id is None
        ):
            contract_id = f"psa-contract-{s.account_id}-{workflow.uuid4().hex[:6]}"
            drafted: DraftedContract = await self._act_or_refuse(
                PsaActivities.draft_contract,
                ContractDraft(
                    key=self._key("draft-contract", actor),
                    contract_id=contract_id,
                    account_id=s.account_id,
                    terms=s.terms,
                ),
                f"draft contract {contract_id} from the services of client {s.account_id}",
            )
            s.contract_id, s.currency, s.parts = contract_id, drafted.currency, drafted.parts
        self._show_stage()

    def _check_parts(self, changes: list[PartChange]) -> None:
        self._check_open()
        s = self.state
        if s.contract_id is None or s.contract_active:
            raise refusal(f"there is no contract draft to change: {s.waiting_for}")
        problems = change_problems(s.parts, changes)
        if problems:
            raise refusal("contract parts not changed: " + "; ".join(problems))

    @workflow.update
    async def change_parts(self, step: PartChangesStep) -> StepAnswer:
        """Staff change prices or quantities, add or remove parts of the draft."""
        await self._authorize("change_parts", step.actor)
        async with self._lock:
            self._check_parts(step.changes)
            s = self.state
            before, total_before = s.parts, s.monthly_total
            self.changes += 1
            changed: DraftedContract = await self._act_or_refuse(
                PsaActivities.change_contract_parts,
                PartsChange(
                    key=self._key(f"change-parts-{self.changes}", step.actor),
                    contract_id=s.contract_id,
                    changes=step.changes,
                ),
                f"change {len(step.changes)} part(s) of contract {s.contract_id}",
            )
            s.parts = changed.parts
            self._show_stage()
            # The answer shows before and after: a billing person sees what is billed now.
            what = "; ".join(parts_difference(before, s.parts)) or "nothing changed"
            was = (
                f" (was {s.currency} {total_before})"
                if total_before is not None and total_before != s.monthly_total
                else ""
            )
            return self._answer(
                f"contract parts changed: {what}; {len(s.parts)} part(s), {s.currency} "
                f"{s.monthly_total} a month{was}; {s.waiting_for}",
                [
                    f"parts before: {describe_parts(before)}",
                    f"parts after:  {describe_parts(s.parts)}",
                ],
            )

    @change_parts.validator
    def _validate_parts(self, step: PartChangesStep) -> None:
        self._check_parts(step.changes)

    def _check_confirm(self) -> None:
        s = self.state
        if s.contract_active:
            return  # a repeat: answered, nothing done twice
        self._check_open()
        if s.contract_id is None:
            raise refusal(f"there is no contract to confirm yet: {s.waiting_for}")
        problems = activation_problems(s.parts)
        if problems:
            raise refusal(f"contract {s.contract_id} cannot become active: {problems[0]}")

    @workflow.update
    async def confirm_contract(self, step: StaffStep) -> StepAnswer:
        """Staff confirm the prices as they stand ("Fertig"): the contract becomes active."""
        await self._authorize("confirm_contract", step.actor)
        async with self._lock:
            self._check_confirm()
            s = self.state
            if s.contract_active:
                return self._answer(f"contract {s.contract_id} is already active")
            await self._act_or_refuse(
                PsaActivities.activate_contract,
                ContractActivation(
                    key=self._key("activate-contract", step.actor), contract_id=s.contract_id
                ),
                f"activate contract {s.contract_id}",
            )
            s.contract_active = True
            self._show_stage()
            assert s.terms is not None  # a contract is drawn up from its terms
            return self._answer(
                f"contract {s.contract_id} active from {s.terms.start_date}: "
                f"{len(s.parts)} part(s), {s.currency} {s.monthly_total} a "
                f"month; client {s.account_id} onboarded"
            )

    @confirm_contract.validator
    def _validate_confirm(self, step: StaffStep) -> None:
        self._check_confirm()

    # --- cancelling -------------------------------------------------------------------------

    def _check_cancel(self) -> None:
        if self.state.stage == Stage.CANCELLED:
            return
        self._check_open()

    async def _cancel(self, c: Cancellation) -> StepAnswer:
        """Staff stop onboarding this client; a draft contract is cancelled with it. The
        billing information stays: it is true whether or not onboarding goes on."""
        await self._authorize("cancel", c.actor)
        await workflow.wait_condition(lambda: self.validated)
        async with self._lock:
            self._check_cancel()
            s = self.state
            if s.stage == Stage.CANCELLED:
                return self._answer(
                    f"the onboarding of client {s.account_id} was already cancelled"
                )
            await self._close_cancelled(c.actor, c.reason)
            draft = f"; draft contract {s.contract_id} cancelled" if s.contract_id else ""
            return self._answer(f"onboarding of client {s.account_id} cancelled{draft}")

    def _validate_cancel(self, c: Cancellation) -> None:
        self._check_cancel()

    async def _close_cancelled(self, actor: str, reason: str) -> None:
        s = self.state
        await self._act(
            PsaActivities.cancel_onboarding,
            OnboardingClosure(
                key=self._key("cancel", actor), contract_id=s.contract_id, reason=reason
            ),
            f"cancel the onboarding of client {s.account_id}",
        )
        self._set_stage(Stage.CANCELLED, f"nothing: cancelled by {actor}: {reason}")

    async def _withdraw(self, actor: str, reason: str) -> None:
        """A cancel from Temporal: the draft contract is cancelled as by a staff cancel."""
        async with self._lock:
            if self.finished:
                return
            await self._close_cancelled(actor, reason)
