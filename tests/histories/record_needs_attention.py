"""Records the histories of the "needs attention" paths of the Process base that
tests/test_replay.py replays: a step that failed in a process's own line of work, retried
by staff after the fix; and a step sent by staff that failed, then the process
cancelled (the kernel's `cancel` while it needs attention).

    .venv/bin/python -m tests.histories.record_needs_attention

Real runs on the dev server (updates with validators) with the real activities, but for
one that fails with a data error until it is "fixed"."""

import asyncio
import os
import sys
import uuid
from datetime import date
from decimal import Decimal

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.renegotiation import RenegotiationActivities
from domain.contracts import ContractTerms, PaymentMethod
from domain.psa import (
    ContractActivation,
    ContractTermsStep,
    OnboardingRequest,
    onboarding_id,
)
from domain.renegotiation_models import RenegotiationFacts, RenegotiationRequest
from domain.steps import BAD_DATA, Cancellation, StaffStep
from tests.histories.recording import recording, save
from tests.records_psa import give_billing_information, new_client
from tests.records_renegotiation import new_company
from tests.workflows.harness import running_worker, start_process
from workflows.client_onboarding import ClientOnboarding
from workflows.process import NEEDS_ATTENTION
from workflows.renegotiation import Renegotiation
from workflows.visibility import STAGE

STAFF = "kari.kundesenter"


def bad_data() -> ApplicationError:
    return ApplicationError(
        "the database rejected the data: invalid value", type=BAD_DATA, non_retryable=True
    )


async def needs_attention(handle) -> None:
    for _ in range(400):
        if (await handle.describe()).typed_search_attributes.get(STAGE) == NEEDS_ATTENTION:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the process never needed attention")


async def renegotiation_retried_then_signed(env, pool) -> None:
    real = RenegotiationActivities(pool).look_up_renegotiation
    fixed = asyncio.Event()

    @activity.defn(name="look_up_renegotiation")
    async def look_up(req: RenegotiationRequest) -> RenegotiationFacts:
        if not fixed.is_set():
            raise bad_data()
        return await real(req)

    co = await new_company(pool, licences=10)
    async with running_worker(env.client, pool, replace=[look_up]) as q:
        handle, _ = await start_process(
            env.client,
            q,
            Renegotiation,
            RenegotiationRequest(
                ticket_id=co.ticket_id,
                account_id=co.id,
                contact_id=co.contact_id,
                original_contract_id=co.contract_id,
                licences=12,
                price=Decimal("450"),
                requested_by=STAFF,
            ),
            process_id=f"renegotiation-{co.id}-{uuid.uuid4().hex[:8]}",
        )
        await needs_attention(handle)
        fixed.set()
        await handle.execute_update(Renegotiation.retry, StaffStep(actor=STAFF))
        for _ in range(400):
            if (await handle.query(Renegotiation.status)).stage == "awaiting-signature":
                break
            await asyncio.sleep(0.05)
        await handle.execute_update(Renegotiation.contract_signed, StaffStep(actor=STAFF))
        await handle.result()
    await save(handle, "renegotiation_needs_attention_retried_then_signed")


async def onboarding_confirm_needs_attention_cancelled(env, pool) -> None:
    @activity.defn(name="activate_contract")
    async def activate(a: ContractActivation) -> None:
        raise bad_data()

    _, client = await new_client(pool, licences={"Premium": 2})
    await give_billing_information(pool, client)
    async with running_worker(env.client, pool, replace=[activate]) as q:
        handle, _ = await start_process(
            env.client,
            q,
            ClientOnboarding,
            OnboardingRequest(account_id=client, requested_by="staff"),
            process_id=onboarding_id(client),
        )
        await handle.execute_update(
            ClientOnboarding.contract_terms,
            ContractTermsStep(
                actor="staff",
                terms=ContractTerms(
                    start_date=date(2026, 1, 1), payment_method=PaymentMethod.BANK_TRANSFER
                ),
            ),
        )
        confirming = asyncio.create_task(
            handle.execute_update(ClientOnboarding.confirm_contract, StaffStep(actor="staff"))
        )
        await needs_attention(handle)
        await handle.execute_update(
            ClientOnboarding.cancel, Cancellation(actor="staff", reason="prices unclear")
        )
        await asyncio.gather(confirming, return_exceptions=True)  # refused with the reason
        await handle.result()
    await save(handle, "client_onboarding_confirm_needs_attention_cancelled")


async def main() -> None:
    async with recording() as r:
        await renegotiation_retried_then_signed(r.dev_env, r.pool)
        await onboarding_confirm_needs_attention_cancelled(r.dev_env, r.pool)


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)
