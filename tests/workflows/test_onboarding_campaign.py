"""The onboarding campaign on the time-skipping server with the real activities: it pages
through a partner's clients (continuing as new between pages), starts one onboarding per
client lacking something, skips clients already onboarding or done, and is safe to run
again.

The campaign runs on a time-skipping server of its own: once a parent has started an
abandoned child, that server's `sleep` hangs for good (temporalio/sdk-java#2392, also
sdk-typescript#1101), and the session's shared `campaign_env` would freeze for every test
after this one."""

import sys
import uuid
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from domain.psa import (
    CampaignRequest,
    CampaignStage,
    OnboardingRequest,
    OnboardingStage,
    onboarding_id,
)
from domain.steps import Cancellation
from tests.conftest import register_search_attributes
from tests.records_psa import give_billing_information, new_clients, new_partner, onboarded_clients
from tests.workflows.harness import outcome, running_worker, start_process
from workflows.client_onboarding import ClientOnboarding
from workflows.onboarding_campaign import OnboardingCampaign
from workflows.visibility import ALL as SEARCH_ATTRIBUTES


@pytest.fixture(scope="module")
async def campaign_env():
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    await register_search_attributes(env.client, SEARCH_ATTRIBUTES)
    yield env
    await env.shutdown()


async def campaign(env, q, partner_id: str, **options):
    handle, answer = await start_process(
        env.client,
        q,
        OnboardingCampaign,
        CampaignRequest(partner_id=partner_id, requested_by="staff", **options),
        process_id=f"onboarding-campaign-{partner_id}-{uuid.uuid4().hex[:6]}",
    )
    assert not isinstance(answer, Exception), answer
    return await outcome(env, handle)


async def test_campaign_starts_what_lacks_skips_running_and_done_and_runs_again(campaign_env, pool):
    partner = await new_partner(pool)
    lacking = await new_clients(pool, partner, 6, licences={"Basic": 2})
    no_services = await new_clients(pool, partner, 2, licences={}, prefix="N")
    await give_billing_information(pool, no_services[0])  # done: no services, billing there
    done = [c for c, _ in await onboarded_clients(pool, partner, 2)]
    to_onboard = sorted([*lacking, no_services[1]])

    async with running_worker(campaign_env.client, pool) as q:
        running = campaign_env.client.get_workflow_handle(onboarding_id(lacking[0]))
        await start_process(
            campaign_env.client, q, ClientOnboarding, _request(lacking[0]), process_id=running.id
        )  # staff started this one by hand

        first = await campaign(campaign_env, q, partner.id, batch_size=3, window=2)
        assert first.stage == CampaignStage.DONE
        p = first.progress
        assert (p.total, p.handled, p.started, p.already_onboarding) == (7, 7, 6, 1)
        assert p.runs == 3  # pages of 3, 3 and 1 client, continued as new between
        assert p.cursor == to_onboard[-1]
        assert first.waiting_for == (
            "nothing: 7 of 7 clients handled: 6 onboarding started, 1 already onboarding"
        )
        for client in to_onboard:
            handle = campaign_env.client.get_workflow_handle(onboarding_id(client))
            await handle.execute_update(ClientOnboarding.started)  # its start checked
            status = await handle.query(ClientOnboarding.status)
            assert status.stage == OnboardingStage.AWAITING_BILLING, client
            assert status.partner_id == partner.id
        assert status.campaign_id.startswith(f"onboarding-campaign-{partner.id}")
        for client in [*done, no_services[0]]:  # never selected
            assert not await _exists(campaign_env.client, onboarding_id(client))

        # Staff cancel one onboarding; running the campaign again starts only that one.
        await campaign_env.client.get_workflow_handle(onboarding_id(lacking[1])).execute_update(
            ClientOnboarding.cancel, Cancellation(actor="staff", reason="wrong contact")
        )
        again = await campaign(campaign_env, q, partner.id, batch_size=5, window=3)
        p = again.progress
        assert (p.total, p.handled, p.started, p.already_onboarding, p.runs) == (7, 7, 1, 6, 2)
        handle = campaign_env.client.get_workflow_handle(onboarding_id(lacking[1]))
        # its start checked first, as above: the campaign ends without waiting for the
        # onboardings it started, so one may still be loading its client
        await handle.execute_update(ClientOnboarding.started)
        restarted = await handle.query(ClientOnboarding.status)
        assert restarted.stage == OnboardingStage.AWAITING_BILLING


async def test_a_campaign_with_nothing_to_do_ends_at_once(campaign_env, pool):
    partner = await new_partner(pool)
    await onboarded_clients(pool, partner, 1)
    async with running_worker(campaign_env.client, pool) as q:
        result = await campaign(campaign_env, q, partner.id)
    assert (result.progress.total, result.progress.handled, result.progress.runs) == (0, 0, 1)


def _request(account_id: str) -> OnboardingRequest:
    return OnboardingRequest(account_id=account_id, requested_by="staff")


async def _exists(client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
        return True
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
