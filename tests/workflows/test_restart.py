"""An onboarding ended and started again by the campaign under the same id: the new
run writes its own steps — its own contract draft — so its contract can
be confirmed. On the dev server (a time-skipping server hangs once a parent has started an
abandoned child, see test_onboarding_campaign.py)."""

import asyncio
import uuid
from datetime import date

from domain.contracts import ContractTerms, PaymentMethod
from domain.psa import (
    CampaignRequest,
    ContractTermsStep,
    OnboardingRequest,
    OnboardingStage,
    onboarding_id,
)
from domain.steps import Cancellation, StaffStep
from tests.records_psa import give_billing_information, new_client
from tests.workflows.harness import running_worker, start_process
from workflows.client_onboarding import ClientOnboarding
from workflows.onboarding_campaign import OnboardingCampaign

TERMS = ContractTermsStep(
    actor="staff",
    terms=ContractTerms(start_date=date(2026, 1, 1), payment_method=PaymentMethod.BANK_TRANSFER),
)


async def test_an_onboarding_started_again_by_the_campaign_has_its_contract_confirmed(
    dev_env, pool
):
    partner, client = await new_client(pool, licences={"Premium": 2})
    await give_billing_information(pool, client)
    pid = onboarding_id(client)
    async with running_worker(dev_env.client, pool) as q:
        first, _ = await start_process(
            dev_env.client,
            q,
            ClientOnboarding,
            OnboardingRequest(account_id=client, requested_by="staff"),
            process_id=pid,
        )
        await first.execute_update(ClientOnboarding.contract_terms, TERMS)
        old_contract = (await first.query(ClientOnboarding.status)).contract_id
        await first.execute_update(
            ClientOnboarding.cancel, Cancellation(actor="staff", reason="client paused")
        )
        assert (await first.result()).stage == OnboardingStage.CANCELLED

        campaign, _ = await start_process(
            dev_env.client,
            q,
            OnboardingCampaign,
            CampaignRequest(partner_id=partner.id, requested_by="staff"),
            process_id=f"onboarding-campaign-{partner.id}-{uuid.uuid4().hex[:6]}",
        )
        assert (await campaign.result()).progress.started == 1
        second = dev_env.client.get_workflow_handle(pid)  # the newest run
        assert (await second.describe()).run_id != first.result_run_id
        for _ in range(200):
            s = await second.query(ClientOnboarding.status)
            if s.stage == OnboardingStage.AWAITING_TERMS:
                break
            await asyncio.sleep(0.05)
        assert s.stage == OnboardingStage.AWAITING_TERMS, s.waiting_for
        await second.execute_update(ClientOnboarding.contract_terms, TERMS)
        confirmed = await second.execute_update(
            ClientOnboarding.confirm_contract, StaffStep(actor="staff")
        )
        assert confirmed.stage == OnboardingStage.ONBOARDED, confirmed.message
        new_contract = (await second.query(ClientOnboarding.status)).contract_id
    assert new_contract != old_contract
    rows = await pool.fetch("SELECT id, status FROM psa_contracts WHERE account_id = $1", client)
    assert {r["id"]: r["status"] for r in rows} == {
        old_contract: "cancelled",
        new_contract: "active",
    }
