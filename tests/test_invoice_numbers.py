"""Invoice numbers with invoicing runs at the same moment: no gap, no number twice, no
contract invoiced twice for a period, on the dev server and straight at the store."""

import asyncio
import uuid
from datetime import date

from temporalio.testing import ActivityEnvironment

from activities.psa import PsaActivities
from domain.psa import InvoiceBatch, InvoicingRequest, NumberingConfirmation, NumberingReview
from domain.steps import StepKey
from tests.records_psa import new_partner, onboarded_clients
from tests.workflows.harness import outcome, running_worker, start_process
from workflows.invoicing_run import InvoicingRun

MAY = date(2026, 5, 1)


async def assert_gapless_once_per_contract(pool, partner_id: str, contracts: list[str],
                                           first: int = 1) -> None:
    rows = await pool.fetch("SELECT sequence_no, number, contract_id, period FROM psa_invoices"
                            " WHERE partner_id = $1 ORDER BY sequence_no", partner_id)
    assert [r["sequence_no"] for r in rows] == list(range(first, first + len(contracts)))
    assert len({r["number"] for r in rows}) == len(rows)
    assert sorted(r["contract_id"] for r in rows) == sorted(contracts)
    next_number = await pool.fetchval(
        "SELECT next_number FROM psa_invoice_numbering WHERE partner_id = $1", partner_id)
    assert next_number == first + len(contracts)


async def test_two_first_runs_at_once_both_reviewed_no_gap_no_duplicate(dev_env, pool):
    partner = await new_partner(pool)
    contracts = [c for _, c in await onboarded_clients(pool, partner, 40)]
    async with running_worker(dev_env.client, pool) as q:
        started = await asyncio.gather(*(start_process(
            dev_env.client, q, InvoicingRun,
            InvoicingRequest(partner_id=partner.id, period=MAY, requested_by="staff",
                             batch_size=3),
            process_id=f"invoicing-run-{partner.id}-2026-05-{ref}") for ref in ("a", "b")))
        handles = [h for h, _ in started]
        assert all(answer.stage == "awaiting-numbering-review" for _, answer in started)
        # Two staff members confirm at the same moment: one review fixes the settings.
        answers = await asyncio.gather(*(h.execute_update(
            InvoicingRun.review_numbering, NumberingReview(actor=actor))
            for h, actor in zip(handles, ("anna", "ben"), strict=True)))
        assert sum("confirmed meanwhile" in a.message for a in answers) == 1
        results = await asyncio.gather(*(outcome(dev_env, h) for h in handles))
    assert sum(r.issued for r in results) == 40
    assert all(r.issued + r.already_issued == 40 for r in results)
    await assert_gapless_once_per_contract(pool, partner.id, contracts)


async def test_many_batches_at_once_straight_at_the_store(pool):
    partner = await new_partner(pool)
    contracts = [c for _, c in await onboarded_clients(pool, partner, 30)]
    acts = PsaActivities(pool)
    await ActivityEnvironment().run(acts.confirm_numbering, NumberingConfirmation(
        key=StepKey(process_id=f"numbers-{partner.id}", step="review", actor="anna"),
        partner_id=partner.id, prefix="N-", next_number=500, format="{prefix}{number}"))

    def batch(run: str, n: int) -> InvoiceBatch:
        return InvoiceBatch(key=StepKey(process_id=f"run-{run}", step=f"issue-{n}",
                                        actor="partnerflow"),
                            partner_id=partner.id, period=MAY, issued_on=MAY, limit=4)

    runs = [uuid.uuid4().hex[:6] for _ in range(6)]
    rounds = []
    for n in range(1, 4):  # three rounds of six batches of up to 4, all at once
        rounds.append(await asyncio.gather(*(
            ActivityEnvironment().run(acts.issue_invoices, batch(r, n)) for r in runs)))
    assert sum(b.issued for results in rounds for b in results) == 30
    await assert_gapless_once_per_contract(pool, partner.id, contracts, first=500)

    # A batch step that runs again (a retry) answers as before and issues nothing more.
    again = await ActivityEnvironment().run(acts.issue_invoices, batch(runs[0], 1))
    assert again == rounds[0][0]
    await assert_gapless_once_per_contract(pool, partner.id, contracts, first=500)
