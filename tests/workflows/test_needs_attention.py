"""Poison input never hangs: one activity policy in the Process base.
Data the database rejects is not retried; infrastructure errors are retried up to a
deadline; then the process needs attention (Stage search attribute `needs-attention`,
current details "needs attention: <reason>") until staff retry the step or cancel.
Validators answer on the dev server; the deadline runs on the time-skipping server."""

import asyncio
import uuid
from datetime import date
from decimal import Decimal

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.common import refusals_are_final
from activities.psa import PsaActivities
from activities.renegotiation import RenegotiationActivities
from domain.contracts import ContractTerms, PaymentMethod
from domain.psa import (
    ContractActivation,
    ContractTermsStep,
    OnboardingRequest,
    OnboardingStage,
    onboarding_id,
)
from domain.renegotiation_models import RenegotiationFacts, RenegotiationRequest, Stage
from domain.steps import BAD_DATA, Cancellation, StaffStep
from tests.records_psa import give_billing_information, new_client
from tests.records_renegotiation import new_company
from tests.workflows.harness import running_worker, start_process
from workflows.client_onboarding import ClientOnboarding
from workflows.process import ACTIVITY_DEADLINE, ACTIVITY_RETRIES, NEEDS_ATTENTION
from workflows.renegotiation import Renegotiation
from workflows.visibility import STAGE

STAFF = "kari.kundesenter"


def request(co, ticket_id: int | None = None) -> RenegotiationRequest:
    return RenegotiationRequest(
        ticket_id=co.ticket_id if ticket_id is None else ticket_id,
        account_id=co.id,
        contact_id=co.contact_id,
        original_contract_id=co.contract_id,
        licences=14,
        price=Decimal("450"),
        requested_by=STAFF,
    )


async def start(env, queue, co, req):
    return await start_process(
        env.client,
        queue,
        Renegotiation,
        req,
        process_id=f"renegotiation-{co.id}-{uuid.uuid4().hex[:8]}",
    )


async def needs_attention(handle) -> str:
    """Once the Stage search attribute says needs-attention (10 s at most): the current
    details the UI shows, and what `status` says it waits for."""
    for _ in range(200):
        desc = await handle.describe()
        if desc.typed_search_attributes.get(STAGE) == NEEDS_ATTENTION:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"stage is {desc.typed_search_attributes.get(STAGE)}")
    metadata = await handle.query("__temporal_workflow_metadata")
    return metadata.current_details, (await handle.query("status"))["waiting_for"]


async def test_a_database_data_error_is_final_with_a_plain_reason(pool):
    with pytest.raises(ApplicationError) as caught:
        async with refusals_are_final(), pool.acquire() as conn:
            await conn.fetchval("SELECT $1::bigint", 99999999999999999999)
    err = caught.value
    assert (err.type, err.non_retryable) == (BAD_DATA, True)
    assert err.message == (
        "the database rejected the data: invalid value (value out of int64 range)"
    )
    assert "99999999999999999999" not in err.message  # no values: they may be personal data


async def test_poison_input_needs_attention_at_once_and_cancel_ends_it(dev_env, pool):
    co = await new_company(pool)
    async with running_worker(dev_env.client, pool) as q:
        handle, answer = await asyncio.wait_for(
            start(dev_env, q, co, request(co, ticket_id=99999999999999999999)), timeout=30
        )
        assert answer.rejected and answer.stage == NEEDS_ATTENTION
        assert answer.message.startswith(
            f"{handle.id} started, but it needs attention: the database rejected the data: "
            "invalid value (value out of int64 range)"
        )
        details, waiting = await needs_attention(handle)
        assert details.startswith(
            "needs attention: the database rejected the data: invalid "
            "value (value out of int64 range) (step: look up ticket"
        )
        assert waiting.startswith("staff: needs attention: the database rejected the data")
        assert f"`starter.py retry {handle.id}`" in waiting
        listed = [
            wf.id
            async for wf in dev_env.client.list_workflows(
                f'Stage = "{NEEDS_ATTENTION}" AND WorkflowId = "{handle.id}"'
            )
        ]
        for _ in range(100):  # visibility is eventually consistent
            if listed:
                break
            await asyncio.sleep(0.1)
            listed = [
                wf.id
                async for wf in dev_env.client.list_workflows(
                    f'Stage = "{NEEDS_ATTENTION}" AND WorkflowId = "{handle.id}"'
                )
            ]
        assert listed == [handle.id]  # ops find it in the UI by its stage

        cancelled = await handle.execute_update(
            "cancel",
            Cancellation(actor=STAFF, reason="ticket number mistyped"),
            result_type=type(answer),
        )
        assert cancelled.message == (
            f"{handle.id} cancelled while it needed attention; what it had written stays"
        )
        with pytest.raises(WorkflowFailureError) as ended:
            await handle.result()
    assert "cancelled by kari.kundesenter while it needed attention" in str(ended.value.cause)
    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED
    assert desc.typed_search_attributes.get(STAGE) == "cancelled"
    assert (
        await pool.fetchval("SELECT count(*) FROM audit_log WHERE process_id = $1", handle.id) == 0
    )


async def test_retry_after_the_fix_runs_the_step_again_and_goes_on(dev_env, pool):
    co = await new_company(pool)
    real = RenegotiationActivities(pool).look_up_renegotiation
    fixed = asyncio.Event()
    calls = []

    @activity.defn(name="look_up_renegotiation")
    async def look_up(req: RenegotiationRequest) -> RenegotiationFacts:
        calls.append(fixed.is_set())
        if not fixed.is_set():
            raise ApplicationError(
                "the database rejected the data: invalid value", type=BAD_DATA, non_retryable=True
            )
        return await real(req)

    async with running_worker(dev_env.client, pool, replace=[look_up]) as q:
        handle, answer = await start(dev_env, q, co, request(co))
        assert answer.rejected and answer.stage == NEEDS_ATTENTION
        await needs_attention(handle)
        assert calls == [False]  # not retried by Temporal: data errors are final
        fixed.set()
        retried = await handle.execute_update(Renegotiation.retry, StaffStep(actor=STAFF))
        assert retried.message.startswith(f'{handle.id}: step "look up ticket')
        for _ in range(200):
            s = await handle.query(Renegotiation.status)
            if s.stage == Stage.AWAITING_SIGNATURE:
                break
            await asyncio.sleep(0.05)
        assert s.stage == Stage.AWAITING_SIGNATURE, s.waiting_for
        assert calls == [False, True]
        desc = await handle.describe()
        assert desc.typed_search_attributes.get(STAGE) == Stage.AWAITING_SIGNATURE.value
        again = await asyncio.gather(
            handle.execute_update(Renegotiation.retry, StaffStep(actor=STAFF)),
            return_exceptions=True,
        )
        assert isinstance(again[0], WorkflowUpdateFailedError)  # nothing to retry now
        # the process's own cancel is back for every other moment
        done = await handle.execute_update(
            Renegotiation.cancel, Cancellation(actor=STAFF, reason="kunden angret")
        )
        assert done.stage == Stage.CANCELLED


async def test_an_infrastructure_error_is_retried_until_the_deadline(own_time_env, pool):
    time_env = own_time_env
    co = await new_company(pool)
    attempts = []

    @activity.defn(name="look_up_renegotiation")
    async def database_down(req: RenegotiationRequest) -> RenegotiationFacts:
        attempts.append(1)
        raise ConnectionRefusedError("connection refused")

    async with running_worker(time_env.client, pool, replace=[database_down]) as q:
        async with time_env.time_skipping_unlocked():
            handle, answer = await asyncio.wait_for(start(time_env, q, co, request(co)), timeout=60)
        assert answer.rejected, answer
        # 12 attempts take about 3.5 minutes of backoff, within the 5 minute deadline
        assert len(attempts) == ACTIVITY_RETRIES.maximum_attempts == 12
        assert ACTIVITY_DEADLINE.total_seconds() == 300
        waiting = (await handle.query(Renegotiation.status)).waiting_for
        assert waiting.startswith("staff: needs attention: failed 12 times: connection refused;")


async def test_a_step_sent_by_staff_waits_with_its_sender_then_retry_or_cancel(dev_env, pool):
    """The activity of an update (confirm the contract) needs attention: the sender waits;
    a retry after the fix answers it; in a second onboarding, cancel refuses it with the
    reason and the process ends normally, cancelled."""
    real = PsaActivities(pool).activate_contract
    fixed = asyncio.Event()

    @activity.defn(name="activate_contract")
    async def activate(a: ContractActivation) -> None:
        if not fixed.is_set():
            raise ApplicationError(
                "the database rejected the data: check violation (constraint psa_contracts_check)",
                type=BAD_DATA,
                non_retryable=True,
            )
        await real(a)

    async def drafted(q) -> object:
        _, client = await new_client(pool, licences={"Premium": 2})
        await give_billing_information(pool, client)
        handle, _ = await start_process(
            dev_env.client,
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
        return handle

    async with running_worker(dev_env.client, pool, replace=[activate]) as q:
        first = await drafted(q)
        confirming = asyncio.create_task(
            first.execute_update(ClientOnboarding.confirm_contract, StaffStep(actor="staff"))
        )
        details, _ = await needs_attention(first)
        assert details.startswith(
            "needs attention: the database rejected the data: check "
            "violation (constraint psa_contracts_check) (step: activate"
        )
        assert not confirming.done()
        fixed.set()
        await first.execute_update(ClientOnboarding.retry, StaffStep(actor="staff"))
        confirmed = await asyncio.wait_for(confirming, timeout=30)
        assert confirmed.stage == OnboardingStage.ONBOARDED
        assert (await first.result()).contract_active

        fixed.clear()
        second = await drafted(q)
        confirming = asyncio.create_task(
            second.execute_update(ClientOnboarding.confirm_contract, StaffStep(actor="staff"))
        )
        await needs_attention(second)
        await second.execute_update(
            ClientOnboarding.cancel, Cancellation(actor="staff", reason="prices unclear")
        )
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await asyncio.wait_for(confirming, timeout=30)
        assert refused.value.cause.message.endswith(
            "cancelled by staff while it needed attention (the database rejected the data: "
            "check violation (constraint psa_contracts_check)): prices unclear"
        )
        result = await second.result()
    assert result.stage == OnboardingStage.CANCELLED
    assert result.waiting_for.startswith("nothing: cancelled by staff while it needed attention")
    desc = await second.describe()
    assert desc.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED
    assert desc.typed_search_attributes.get(STAGE) == "cancelled"
