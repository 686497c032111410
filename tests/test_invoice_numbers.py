"""Invoice numbers with invoicing runs at the same moment: no gap, no number twice, no
contract invoiced twice for a period, on the dev server and straight at the store."""

import asyncio
import uuid
from datetime import date

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.psa import PsaActivities
from domain.psa import InvoiceBatch, InvoicingRequest, NumberingConfirmation, NumberingReview
from domain.steps import StepKey
from tests.records_psa import new_partner, onboarded_clients
from tests.workflows.harness import outcome, running_worker, start_process
from workflows.invoicing_run import InvoicingRun

MAY = date(2026, 5, 1)


async def assert_gapless_once_per_contract(
    pool, partner_id: str, contracts: list[str], first: int = 1
) -> None:
    rows = await pool.fetch(
        "SELECT sequence_no, number, contract_id, period FROM psa_invoices"
        " WHERE partner_id = $1 ORDER BY sequence_no",
        partner_id,
    )
    assert [r["sequence_no"] for r in rows] == list(range(first, first + len(contracts)))
    assert len({r["number"] for r in rows}) == len(rows)
    assert sorted(r["contract_id"] for r in rows) == sorted(contracts)
    next_number = await pool.fetchval(
        "SELECT next_number FROM psa_invoice_numbering WHERE partner_id = $1", partner_id
    )
    assert next_number == first + len(contracts)


async def test_two_first_runs_at_once_both_reviewed_no_gap_no_duplicate(dev_env, pool):
    partner = await new_partner(pool)
    contracts = [c for _, c in await onboarded_clients(pool, partner, 40)]
    async with running_worker(dev_env.client, pool) as q:
        started = await asyncio.gather(
            *(
                start_process(
                    dev_env.client,
                    q,
                    InvoicingRun,
                    InvoicingRequest(
                        partner_id=partner.id, period=MAY, requested_by="staff", batch_size=3
                    ),
                    process_id=f"invoicing-run-{partner.id}-2026-05-{ref}",
                )
                for ref in ("a", "b")
            )
        )
        handles = [h for h, _ in started]
        assert all(answer.stage == "awaiting-numbering-review" for _, answer in started)
        # Two staff members confirm at the same moment: one review fixes the settings.
        answers = await asyncio.gather(
            *(
                h.execute_update(InvoicingRun.review_numbering, NumberingReview(actor=actor))
                for h, actor in zip(handles, ("anna", "ben"), strict=True)
            )
        )
        assert sum("already reviewed by" in a.message for a in answers) == 1
        results = await asyncio.gather(*(outcome(dev_env, h) for h in handles))
    assert sum(r.issued for r in results) == 40
    assert all(r.issued + r.already_issued == 40 for r in results)
    await assert_gapless_once_per_contract(pool, partner.id, contracts)


async def test_many_batches_at_once_straight_at_the_store(pool):
    partner = await new_partner(pool)
    contracts = [c for _, c in await onboarded_clients(pool, partner, 30)]
    acts = PsaActivities(pool)
    await ActivityEnvironment().run(
        acts.confirm_numbering,
        NumberingConfirmation(
            key=StepKey(process_id=f"numbers-{partner.id}", step="review", actor="anna"),
            partner_id=partner.id,
            prefix="N-",
            next_number=500,
            format="{prefix}{number}",
        ),
    )

    def batch(run: str, n: int) -> InvoiceBatch:
        return InvoiceBatch(
            key=StepKey(process_id=f"run-{run}", step=f"issue-{n}", actor="partnerflow"),
            partner_id=partner.id,
            period=MAY,
            issued_on=MAY,
            limit=4,
        )

    runs = [uuid.uuid4().hex[:6] for _ in range(6)]
    rounds = []
    for n in range(1, 4):  # three rounds of six batches of up to 4, all at once
        rounds.append(
            await asyncio.gather(
                *(ActivityEnvironment().run(acts.issue_invoices, batch(r, n)) for r in runs)
            )
        )
    assert sum(b.issued for results in rounds for b in results) == 30
    await assert_gapless_once_per_contract(pool, partner.id, contracts, first=500)

    # A batch step that runs again (a retry) answers as before and issues nothing more.
    again = await ActivityEnvironment().run(acts.issue_invoices, batch(runs[0], 1))
    assert again == rounds[0][0]
    await assert_gapless_once_per_contract(pool, partner.id, contracts, first=500)


async def test_a_later_review_the_same_is_answered_another_is_refused(pool):
    partner = await new_partner(pool)
    acts = PsaActivities(pool)

    def review(actor: str, prefix: str, next_number: int = 500) -> NumberingConfirmation:
        return NumberingConfirmation(
            key=StepKey(
                process_id=f"run-{uuid.uuid4().hex[:6]}", step="review-numbering", actor=actor
            ),
            partner_id=partner.id,
            prefix=prefix,
            next_number=next_number,
            format="{prefix}{number}",
        )

    first = await ActivityEnvironment().run(acts.confirm_numbering, review("anna", "N-"))
    assert first.by_this_review and first.settings.first_number == 500
    await onboarded_clients(pool, partner, 2)
    await ActivityEnvironment().run(
        acts.issue_invoices,
        InvoiceBatch(
            key=StepKey(process_id="run-x", step="issue-1", actor="partnerflow"),
            partner_id=partner.id,
            period=MAY,
            issued_on=MAY,
            limit=10,
        ),
    )
    # The counter moved on to 502; the review fixed 500: the same review still matches.
    same_review, other_review = review("ben", "N-"), review("ben", "M-", 1)
    same = await ActivityEnvironment().run(acts.confirm_numbering, same_review)
    assert (same.by_this_review, same.settings.confirmed_by, same.settings.next_number) == (
        False,
        "anna",
        502,
    )
    with pytest.raises(ApplicationError) as e:
        await ActivityEnvironment().run(acts.confirm_numbering, other_review)
    assert e.value.non_retryable
    assert (
        "this review differs: prefix 'M-' (reviewed: 'N-'); first number 1 (reviewed: 500)"
    ) in e.value.message
    written = [
        await pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE process_id = $1", r.key.process_id
        )
        for r in (same_review, other_review)
    ]
    assert written == [1, 0]  # the refused review wrote nothing
