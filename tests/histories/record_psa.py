"""Records the PSA histories that tests/test_replay.py replays. Run it when a workflow
changes on purpose (and keep old histories that running processes may still have):

    .venv/bin/python -m tests.histories.record_psa

Each history is a real run with the real activities. The campaign runs on the dev server:
a time-skipping server that has seen abandoned children hangs in `sleep` (sdk-java#2392).
So do the steps refused by a validator (the time-skipping server answers "not found")."""

import asyncio
import os
import sys
from datetime import date, timedelta
from decimal import Decimal

from temporalio.client import WorkflowUpdateFailedError

from domain.contracts import ContractTerms, PartChange, PaymentMethod
from domain.psa import (
    BillingInformationStep,
    CampaignRequest,
    ContractTermsStep,
    InvoicingRequest,
    NumberingReview,
    OnboardingRequest,
    PartChangesStep,
    onboarding_id,
)
from domain.service_desk import RecordChangeRequest
from domain.steps import Cancellation, StaffStep
from tests.histories.recording import recording, save
from tests.records_psa import (
    billing,
    give_billing_information,
    new_client,
    new_clients,
    new_partner,
    onboarded_clients,
)
from tests.workflows.harness import outcome, running_worker, start_process
from workflows.client_onboarding import ClientOnboarding
from workflows.invoicing_run import InvoicingRun
from workflows.onboarding_campaign import OnboardingCampaign
from workflows.record_change import RecordChange

TERMS = ContractTermsStep(
    actor="staff",
    terms=ContractTerms(start_date=date(2026, 1, 1), payment_method=PaymentMethod.BANK_TRANSFER),
)


async def onboarding(env, q, account_id: str):
    handle, _ = await start_process(
        env.client,
        q,
        ClientOnboarding,
        OnboardingRequest(account_id=account_id, requested_by="staff"),
        process_id=onboarding_id(account_id),
    )
    return handle


async def client_onboarding_onboarded(env, pool, q) -> None:
    _, client = await new_client(pool, licences={"Basic": 2, "Premium": 3}, flats=1)
    handle = await onboarding(env, q, client)
    try:  # refused by the validator: leaves no trace in the history
        await handle.execute_update(
            ClientOnboarding.billing_information,
            BillingInformationStep(actor="staff", info=billing(currency="EURO")),
        )
    except WorkflowUpdateFailedError:
        pass
    await handle.execute_update(ClientOnboarding.contract_terms, TERMS)
    await handle.execute_update(
        ClientOnboarding.billing_information, BillingInformationStep(actor="staff", info=billing())
    )
    await handle.execute_update(
        ClientOnboarding.change_parts,
        PartChangesStep(
            actor="staff",
            changes=[
                PartChange(sku="Premium", unit_price=Decimal("17.50")),
                PartChange(sku="CLASSOUND-FLAT", remove=True),
            ],
        ),
    )
    await handle.execute_update(ClientOnboarding.confirm_contract, StaffStep(actor="staff"))
    await outcome(env, handle)
    await save(handle, "client_onboarding_onboarded")


async def client_onboarding_cancelled(env, pool, q) -> None:
    _, client = await new_client(pool)
    await give_billing_information(pool, client)
    handle = await onboarding(env, q, client)
    await handle.execute_update(ClientOnboarding.contract_terms, TERMS)
    await env.sleep(timedelta(days=20))
    await handle.execute_update(
        ClientOnboarding.cancel, Cancellation(actor="staff", reason="client is leaving")
    )
    await outcome(env, handle)
    await save(handle, "client_onboarding_cancelled")


async def client_onboarding_already_onboarded(env, pool, q) -> None:
    partner = await new_partner(pool)
    ((client, _),) = await onboarded_clients(pool, partner, 1)
    handle = await onboarding(env, q, client)
    await outcome(env, handle)
    await save(handle, "client_onboarding_already_onboarded")


async def invoicing_run_reviewed_and_issued(env, pool, q) -> None:
    partner = await new_partner(pool)
    await onboarded_clients(pool, partner, 3)
    handle, _ = await start_process(
        env.client,
        q,
        InvoicingRun,
        InvoicingRequest(
            partner_id=partner.id, period=date(2026, 3, 1), requested_by="staff", batch_size=2
        ),
        process_id=f"invoicing-run-{partner.id}-2026-03",
    )
    await env.sleep(timedelta(days=1))
    await handle.execute_update(
        InvoicingRun.review_numbering,
        NumberingReview(actor="anna", prefix="RE-", format="{prefix}{year}-{number:05}"),
    )
    await outcome(env, handle)
    await save(handle, "invoicing_run_reviewed_and_issued")

    again, _ = await start_process(
        env.client,
        q,
        InvoicingRun,
        InvoicingRequest(partner_id=partner.id, period=date(2026, 3, 1), requested_by="staff"),
        process_id=f"invoicing-run-{partner.id}-2026-03-again",
    )
    await outcome(env, again)
    await save(again, "invoicing_run_nothing_twice")


async def invoicing_run_sees_another_runs_review(env, pool, q) -> None:
    """A waiting run finds the review done on another run (durable timer)."""
    partner = await new_partner(pool)
    await onboarded_clients(pool, partner, 2)
    runs = [
        (
            await start_process(
                env.client,
                q,
                InvoicingRun,
                InvoicingRequest(
                    partner_id=partner.id, period=date(2026, 3, 1), requested_by="staff"
                ),
                process_id=f"invoicing-run-{partner.id}-2026-03-{ref}",
            )
        )[0]
        for ref in ("a", "b")
    ]
    await runs[1].execute_update(
        InvoicingRun.review_numbering, NumberingReview(actor="anna", prefix="RE-")
    )
    for h in reversed(runs):  # one after the other: each lets time skip on its own
        await outcome(env, h)
    await save(runs[0], "invoicing_run_sees_another_runs_review")


async def invoicing_run_other_review_refused(env, pool, q) -> None:
    """Two different reviews at once; the refused run goes on with the other."""
    partner = await new_partner(pool)
    await onboarded_clients(pool, partner, 2)
    runs = [
        (
            await start_process(
                env.client,
                q,
                InvoicingRun,
                InvoicingRequest(
                    partner_id=partner.id, period=date(2026, 3, 1), requested_by="staff"
                ),
                process_id=f"invoicing-run-{partner.id}-2026-03-{ref}",
            )
        )[0]
        for ref in ("a", "b")
    ]
    answers = await asyncio.gather(
        *(
            h.execute_update(
                InvoicingRun.review_numbering, NumberingReview(actor="anna", prefix=prefix)
            )
            for h, prefix in zip(runs, ("A-", "B-"), strict=True)
        ),
        return_exceptions=True,
    )
    await asyncio.gather(*(outcome(env, h) for h in runs))
    refused = [h for h, a in zip(runs, answers, strict=True) if isinstance(a, Exception)]
    await save(refused[0], "invoicing_run_other_review_refused")


async def record_changes(env, pool, q) -> None:
    _, client = await new_client(pool)
    for name, change in (
        (
            "record_change_ticket_created",
            {"operation": "create-ticket", "account_id": client, "subject": "Phones ring twice"},
        ),
        (
            "record_change_sales_item_refused",
            {
                "operation": "create-sales-item",
                "account_id": client,
                "description": "Headsets",
                "quantity": 2,
                "unit_price": "49.00",
            },
        ),
    ):
        handle = await env.client.start_workflow(
            RecordChange.run,
            RecordChangeRequest(actor="staff", change=change),
            id=f"record-change-{name}-{client}",
            task_queue=q,
        )
        await outcome(env, handle)
        await save(handle, name)


async def onboarding_campaign(env, pool, q) -> None:
    partner = await new_partner(pool)
    await new_clients(pool, partner, 3)
    handle, _ = await start_process(
        env.client,
        q,
        OnboardingCampaign,
        CampaignRequest(partner_id=partner.id, requested_by="staff", batch_size=2, window=2),
        process_id=f"onboarding-campaign-{partner.id}",
    )
    await outcome(env, handle)
    first_run = env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    await save(first_run, "onboarding_campaign_first_run")  # continued as new
    await save(env.client.get_workflow_handle(handle.id), "onboarding_campaign_last_run")


async def main(only: list[str]) -> None:
    """All histories, or only those named (keep the others: running processes need them)."""
    if only:
        async with recording() as r:
            for name in only:
                timers = name == "invoicing_run_sees_another_runs_review"
                env = r.time_env if timers else r.dev_env
                async with running_worker(env.client, r.pool) as q:
                    await globals()[name](env, r.pool, q)
        return
    async with recording() as r:
        async with running_worker(r.time_env.client, r.pool) as q:
            for record in (
                client_onboarding_cancelled,
                client_onboarding_already_onboarded,
                invoicing_run_reviewed_and_issued,
                invoicing_run_sees_another_runs_review,
            ):
                await record(r.time_env, r.pool, q)
        # Record changes are started without an update to wait on; the time-skipping server
        # may skip time before their first task and time them out. They have no timers.
        async with running_worker(r.dev_env.client, r.pool) as q:
            for record in (
                client_onboarding_onboarded,
                onboarding_campaign,
                record_changes,
                invoicing_run_other_review_refused,
            ):
                await record(r.dev_env, r.pool, q)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
    sys.stdout.flush()
    os._exit(0)
