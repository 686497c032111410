"""Activities of the PSA processes: client onboarding, the onboarding campaign, the
invoicing run and staff changes of tickets, time entries and sales items. Each write is
one idempotent step (activities/common.py); a write refused by a database rule of
migration 004 is a business refusal like any other."""

from contextlib import AbstractAsyncContextManager

from temporalio import activity

from activities.common import StepActivities, refusals_are_final
from domain.invoicing import NumberingSettings
from domain.psa import (
    BillingInformationSave,
    BillingSaved,
    CampaignScope,
    ClientLookup,
    ClientPage,
    ClientSnapshot,
    ConfirmedNumbering,
    ContractActivation,
    ContractDraft,
    DraftedContract,
    InvoiceBatch,
    IssuedBatch,
    NumberingConfirmation,
    NumberingLookup,
    OnboardingClosure,
    PartsChange,
    PeriodInvoices,
    PeriodLookup,
    TermsChange,
)
from domain.service_desk import RecordChanged, RecordChangeStep
from store import invoicing, psa, service_desk


class PsaActivities(StepActivities):
    def _store_rules(self) -> AbstractAsyncContextManager[None]:
        """The store's rules (SQLSTATE PF403, some checked at commit) read as refusals."""
        return psa.gates_refuse()

    async def _read(self, read):
        async with refusals_are_final(), self.pool.acquire() as conn:
            return await read(conn)

    # --- client onboarding ------------------------------------------------------------------

    @activity.defn
    async def load_client(self, lookup: ClientLookup) -> ClientSnapshot:
        return await self._read(lambda c: psa.client_snapshot(c, lookup.account_id))

    @activity.defn
    async def save_billing_information(self, s: BillingInformationSave) -> BillingSaved:
        result = await self._once(
            s.key,
            "billing information provided",
            lambda c: psa.save_billing_information(
                c, s.key.process_id, s.key.actor, s.account_id, s.info
            ),
        )
        return BillingSaved(**result)

    @activity.defn
    async def draft_contract(self, d: ContractDraft) -> DraftedContract:
        result = await self._once(
            d.key,
            "contract drafted",
            lambda c: psa.draft_contract(c, d.key.process_id, d.contract_id, d.account_id, d.terms),
        )
        return DraftedContract(**result)

    @activity.defn
    async def change_contract_terms(self, t: TermsChange) -> None:
        await self._once(
            t.key, "contract terms changed", lambda c: psa.set_terms(c, t.contract_id, t.terms)
        )

    @activity.defn
    async def change_contract_parts(self, p: PartsChange) -> DraftedContract:
        result = await self._once(
            p.key, "contract parts changed", lambda c: psa.change_parts(c, p.contract_id, p.changes)
        )
        return DraftedContract(**result)

    @activity.defn
    async def activate_contract(self, a: ContractActivation) -> None:
        await self._once(
            a.key,
            "contract activated",
            lambda c: psa.activate_contract(c, a.contract_id, a.key.actor),
        )

    @activity.defn
    async def cancel_onboarding(self, o: OnboardingClosure) -> None:
        await self._once(
            o.key, "onboarding cancelled", lambda c: psa.cancel_contract(c, o.contract_id, o.reason)
        )

    # --- onboarding campaign ----------------------------------------------------------------

    @activity.defn
    async def count_clients_to_onboard(self, scope: CampaignScope) -> int:
        return await self._read(lambda c: psa.count_clients_to_onboard(c, scope.partner_id))

    @activity.defn
    async def clients_to_onboard(self, page: ClientPage) -> list[str]:
        return await self._read(
            lambda c: psa.clients_to_onboard(c, page.partner_id, page.after, page.limit)
        )

    # --- invoicing run ----------------------------------------------------------------------

    @activity.defn
    async def load_numbering(self, lookup: NumberingLookup) -> NumberingSettings:
        return await self._read(lambda c: invoicing.numbering(c, lookup.partner_id))

    @activity.defn
    async def confirm_numbering(self, n: NumberingConfirmation) -> ConfirmedNumbering:
        result = await self._once(
            n.key,
            "invoice numbering reviewed",
            lambda c: invoicing.confirm_numbering(
                c, n.partner_id, n.prefix, n.next_number, n.format, n.key.actor
            ),
        )
        return ConfirmedNumbering(**result)

    @activity.defn
    async def issue_invoices(self, b: InvoiceBatch) -> IssuedBatch:
        result = await self._once(
            b.key,
            "invoices issued",
            lambda c: invoicing.issue_invoices(
                c, b.key.process_id, b.partner_id, b.period, b.issued_on, b.limit
            ),
        )
        return IssuedBatch(**result)

    @activity.defn
    async def count_period_invoices(self, p: PeriodLookup) -> PeriodInvoices:
        result = await self._read(lambda c: invoicing.period_invoices(c, p.partner_id, p.period))
        return PeriodInvoices(**result)

    # --- tickets, time entries, sales items -------------------------------------------------

    @activity.defn
    async def change_record(self, r: RecordChangeStep) -> RecordChanged:
        result = await self._once(
            r.key,
            r.change.operation.replace("-", " "),
            lambda c: service_desk.change_record(c, r.key.process_id, r.key.actor, r.change),
        )
        return RecordChanged(**result)
