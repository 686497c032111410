"""Activities of the Dealbuilder renegotiation: each runs one store write as one
idempotent step (see activities/common.py). What they return carries ids and counts only."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio import activity
from temporalio.exceptions import ApplicationError

import config
from activities.common import StepActivities, refusals_are_final
from domain.errors import REFUSED
from domain.renegotiation_models import (
    CaseStep,
    ClosingStep,
    DeadlineStep,
    DealStep,
    DeclineStep,
    RenegotiationFacts,
    RenegotiationRequest,
    SendingStep,
    SignatureStep,
    StepResult,
)
from domain.steps import StepKey
from store import renegotiation as store
from store import renegotiation_decision as decision
from store import signing
from store.steps import Write


class RenegotiationActivities(StepActivities):
    @activity.defn
    async def look_up_renegotiation(self, request: RenegotiationRequest) -> RenegotiationFacts:
        async with refusals_are_final(), self.pool.acquire() as conn:
            return await store.facts(conn, request)

    async def _step(self, key: StepKey, action: str, write: Write) -> StepResult:
        return StepResult(**await self._once(key, action, write))

    @activity.defn
    async def enrich_renegotiation_ticket(self, s: CaseStep) -> StepResult:
        return await self._step(s.key, "ticket enriched", lambda c: store.enrich_ticket(c, s.case))

    @activity.defn
    async def create_renegotiation_deal(self, s: DealStep) -> StepResult:
        return await self._step(
            s.key, "deal created", lambda c: store.create_deal(c, s.key.process_id, s)
        )

    @activity.defn
    async def draft_renegotiation_contract(self, s: CaseStep) -> StepResult:
        return await self._step(
            s.key, "contract drafted", lambda c: store.draft_contract(c, s.key.process_id, s.case)
        )

    @activity.defn
    async def send_contract_for_signing(self, s: SendingStep) -> StepResult:
        return await self._step(
            s.key,
            "contract sent by e-mail and SMS",
            lambda c: store.send_contract(c, s.key.process_id, s.key.step, s, config.signing_url()),
        )

    @activity.defn
    async def remind_signatory(self, s: DeadlineStep) -> StepResult:
        return await self._step(
            s.key,
            "signing reminder sent",
            lambda c: store.remind_signatory(c, s.key.process_id, s.key.step, s),
        )

    @activity.defn
    async def record_signing_deadline_passed(self, s: DeadlineStep) -> StepResult:
        return await self._step(
            s.key,
            "signing deadline passed",
            lambda c: store.deadline_passed(c, s.key.process_id, s.key.step, s),
        )

    @activity.defn
    async def extend_signing_deadline(self, s: DeadlineStep) -> StepResult:
        return await self._step(
            s.key,
            "signing deadline extended",
            lambda c: store.extend_deadline(c, s.key.process_id, s.key.step, s),
        )

    @activity.defn
    async def cancel_renegotiation(self, s: ClosingStep) -> StepResult:
        return await self._step(s.key, "renegotiation cancelled", lambda c: store.cancel(c, s))

    @activity.defn
    async def record_contract_signature(self, s: SignatureStep) -> StepResult:
        async with self._evidence_bound(s.key, s.case.contract_id, refuse=False):
            return await self._step(
                s.key,
                "contract signed",
                lambda c: decision.record_signature(c, s, s.key.process_id, s.key.step),
            )

    @activity.defn
    async def record_contract_declined(self, s: DeclineStep) -> StepResult:
        async with self._evidence_bound(s.key, s.case.contract_id, refuse=True):
            return await self._step(
                s.key,
                "contract declined by the customer",
                lambda c: decision.decline(c, s.key.process_id, s.key.step, s),
            )

    @asynccontextmanager
    async def _evidence_bound(
        self, key: StepKey, contract_id: str, *, refuse: bool
    ) -> AsyncIterator[None]:
        """Evidence not bound to its contract: logged (outside the rolled-back step), then a
        decline is refused to its sender; a signature, already accepted by the process, stops
        it for staff (needs attention) with nothing written."""
        try:
            yield
        except signing.EvidenceNotBound as e:
            await signing.record_refusal(
                self.pool,
                contract_id=contract_id,
                process_id=key.process_id,
                actor=key.actor,
                reason=str(e),
            )
            if refuse:
                raise ApplicationError(str(e), type=REFUSED, non_retryable=True) from None
            raise ApplicationError(str(e), type="EvidenceNotBound", non_retryable=True) from None

    @activity.defn
    async def set_product_access_count(self, s: CaseStep) -> StepResult:
        return await self._step(
            s.key,
            "access count set",
            lambda c: decision.set_access_count(c, s.key.process_id, s.case),
        )

    @activity.defn
    async def record_reduction_on_customer_card(self, s: SignatureStep) -> StepResult:
        return await self._step(
            s.key,
            "reduction recorded on the customer card",
            lambda c: decision.record_reduction(c, s),
        )

    @activity.defn
    async def hand_reduction_to_csc(self, s: SignatureStep) -> StepResult:
        return await self._step(
            s.key,
            "reduction handed to CSC",
            lambda c: decision.hand_reduction_to_csc(c, s.key.process_id, s.key.step, s),
        )

    @activity.defn
    async def inform_order_invoice(self, s: SignatureStep) -> StepResult:
        return await self._step(
            s.key, "order/invoice informed", lambda c: decision.inform_order_invoice(c, s)
        )

    @activity.defn
    async def notify_sales_registration(self, s: SignatureStep) -> StepResult:
        address = config.sales_registration_address()
        return await self._step(
            s.key,
            "sales registration notified",
            lambda c: decision.notify_sales_registration(
                c, s.key.process_id, s.key.step, s, address
            ),
        )
