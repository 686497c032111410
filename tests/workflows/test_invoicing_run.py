"""The invoicing run with the real activities and PostgreSQL: the first run of a partner
waits for the numbering review, then issues one invoice per active contract of the
period; running the period again issues nothing twice; later runs need no review."""

import asyncio
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from temporalio.client import WorkflowUpdateFailedError

from cli.psa import show_invoicing
from domain.psa import InvoicingRequest, InvoicingStage, NumberingReview
from tests.records_psa import (
    give_active_contract,
    give_billing_information,
    new_client,
    new_partner,
    onboarded_clients,
)
from tests.workflows.harness import outcome, running_worker, start_process
from workflows.invoicing_run import InvoicingRun

Stage = InvoicingStage
MARCH, APRIL = date(2026, 3, 1), date(2026, 4, 1)


async def run(env, q, partner_id: str, period: date, batch_size: int = 100):
    return await start_process(
        env.client,
        q,
        InvoicingRun,
        InvoicingRequest(
            partner_id=partner_id, period=period, requested_by="staff", batch_size=batch_size
        ),
        process_id=f"invoicing-run-{partner_id}-{period:%Y-%m}-{uuid.uuid4().hex[:4]}",
    )


async def invoices(pool, partner_id: str) -> list:
    return await pool.fetch(
        "SELECT * FROM psa_invoices WHERE partner_id = $1 ORDER BY sequence_no", partner_id
    )


async def test_first_run_waits_for_the_review_then_issues_once_per_contract(time_env, pool):
    partner = await new_partner(pool)
    billed = await onboarded_clients(
        pool, partner, 2, parts=[("Basic", 5, "9.90"), ("Premium", 2, "19.90")]
    )
    billed += await onboarded_clients(pool, partner, 1, start=date(2026, 3, 31))
    # not billed in March: ended in February, starts in April, still a draft
    await onboarded_clients(pool, partner, 1, end=date(2026, 2, 28))
    await onboarded_clients(pool, partner, 1, start=APRIL)
    _, draft_client = await new_client(pool, partner)
    await give_billing_information(pool, draft_client)
    await give_active_contract(pool, draft_client, [("Basic", 1, "1")], status="draft")

    async with running_worker(time_env.client, pool) as q:
        handle, answer = await run(time_env, q, partner.id, MARCH, batch_size=2)
        assert answer.stage == Stage.AWAITING_REVIEW
        assert (
            "prefix 'INV-', next number 1, format {prefix}{number:06} (the first invoice "
            "would be INV-000001)"
        ) in answer.message
        await time_env.sleep(timedelta(days=3))  # nothing is issued while nobody reviews
        assert await invoices(pool, partner.id) == []

        reviewed = await handle.execute_update(
            InvoicingRun.review_numbering,
            NumberingReview(
                actor="anna", prefix="RE-", next_number=1000, format="{prefix}{year}-{number:05}"
            ),
        )
        assert reviewed.message.endswith("the first invoice will be RE-2026-01000")
        result = await outcome(time_env, handle)
        assert result.stage == Stage.ISSUED
        assert (result.issued, result.first_number, result.last_number, result.batches) == (
            3,
            "RE-2026-01000",
            "RE-2026-01002",
            2,
        )
        assert result.waiting_for == (
            "nothing: 3 invoice(s) issued for 2026-03 (RE-2026-01000 to RE-2026-01002)"
        )

        rows = await invoices(pool, partner.id)
        assert [r["sequence_no"] for r in rows] == [1000, 1001, 1002]
        assert sorted(r["contract_id"] for r in rows) == sorted(c for _, c in billed)
        assert {r["contract_id"]: r["total"] for r in rows}[billed[0][1]] == Decimal("89.30")
        assert all(r["due_on"] - r["issued_on"] == timedelta(days=30) for r in rows)
        lines = await pool.fetch(
            "SELECT sku, quantity, amount FROM psa_invoice_lines"
            " WHERE invoice_id = $1 ORDER BY line_no",
            rows[0]["id"],
        )
        assert [tuple(r) for r in lines] in (
            [("Basic", 5, Decimal("49.50")), ("Premium", 2, Decimal("39.80"))],
            [("Premium", 3, Decimal("59.70"))],
        )
        numbering = await pool.fetchrow(
            "SELECT * FROM psa_invoice_numbering WHERE partner_id = $1", partner.id
        )
        assert (numbering["next_number"], numbering["confirmed_by"]) == (1003, "anna")

        # The same period again: no review, nothing issued twice.
        handle, answer = await run(time_env, q, partner.id, MARCH)
        assert answer.stage == Stage.ISSUING
        again = await outcome(time_env, handle)
        assert (again.issued, again.already_issued) == (0, 3)
        assert again.waiting_for == (
            "nothing: 0 invoice(s) issued for 2026-03; 3 had been "
            "issued for 2026-03 already, not again"
        )

        # April: the April contract joins, the numbers go on.
        handle, _ = await run(time_env, q, partner.id, APRIL)
        april = await outcome(time_env, handle)
        assert (april.issued, april.first_number, april.last_number) == (
            4,
            "RE-2026-01003",
            "RE-2026-01006",
        )
    assert [r["sequence_no"] for r in await invoices(pool, partner.id)] == list(range(1000, 1007))


async def test_bad_numbering_is_refused_naming_each_setting(dev_env, pool):
    partner = await new_partner(pool)
    await onboarded_clients(pool, partner, 1)
    async with running_worker(dev_env.client, pool) as q:
        handle, _ = await run(dev_env, q, partner.id, MARCH)
        with pytest.raises(WorkflowUpdateFailedError) as e:
            await handle.execute_update(
                InvoicingRun.review_numbering,
                NumberingReview(
                    actor="anna", prefix="RE 2026", next_number=0, format="{prefix}-{nummer}"
                ),
            )
        assert e.value.cause.message == (
            "invoice numbering not confirmed: prefix: at most 12 letters, digits or / _ . -; "
            "next number: from 1 to 999999999; format: must contain {number} (or {number:06} "
            "for leading zeros) exactly once; format: the placeholders are {prefix}, {year}, "
            "{month} and {number}"
        )
        confirmed = await handle.execute_update(
            InvoicingRun.review_numbering, NumberingReview(actor="anna")
        )
        assert confirmed.message.endswith("the first invoice will be INV-000001")
        result = await outcome(dev_env, handle)
    assert (result.issued, result.first_number) == (1, "INV-000001")


async def test_an_unknown_partner_is_refused(time_env, pool):
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await run(time_env, q, "P-NOBODY", MARCH)
        assert answer.cause.message == "unknown partner 'P-NOBODY'"
        assert (await outcome(time_env, handle)).stage == Stage.REFUSED


async def test_a_waiting_run_sees_the_review_done_on_another_run(time_env, pool):
    """Nobody sends the first run a step: it finds the review on its own (a durable timer)
    and issues with those settings; its status no longer says NOT REVIEWED."""
    partner = await new_partner(pool)
    contracts = [c for _, c in await onboarded_clients(pool, partner, 3)]
    async with running_worker(time_env.client, pool) as q:
        first, answer = await run(time_env, q, partner.id, MARCH)
        assert answer.stage == Stage.AWAITING_REVIEW
        second, _ = await run(time_env, q, partner.id, MARCH)
        await second.execute_update(
            InvoicingRun.review_numbering,
            NumberingReview(actor="anna", prefix="RE-", next_number=1000),
        )
        reviewed = await outcome(time_env, second)
        # (a wait without end would hang here: a bound turns that into a failure)
        seen = await asyncio.wait_for(outcome(time_env, first), timeout=60)
    results = [seen, reviewed]
    assert seen.stage == Stage.ISSUED
    assert (seen.numbering.prefix, seen.numbering.confirmed_by) == ("RE-", "anna")
    assert seen.notes == [
        "the invoice numbering was reviewed by anna on another run (prefix "
        "'RE-', first number 1000, format {prefix}{number:06}); this run "
        "uses it"
    ]
    assert "NOT REVIEWED" not in show_invoicing(seen.model_dump(mode="json"))
    assert sum(r.issued for r in results) == 3
    rows = await invoices(pool, partner.id)
    assert [r["number"] for r in rows] == ["RE-001000", "RE-001001", "RE-001002"]
    assert sorted(r["contract_id"] for r in rows) == sorted(contracts)


async def test_two_reviews_at_once_with_other_settings_one_counts_the_other_is_refused(
    dev_env, pool
):
    """Both runs then issue with the review that counted: the refused one learns it at
    once."""
    partner = await new_partner(pool)
    await onboarded_clients(pool, partner, 2)
    async with running_worker(dev_env.client, pool) as q:
        handles = [(await run(dev_env, q, partner.id, MARCH))[0] for _ in range(2)]
        # Two staff members review at the same moment, differently: one review counts.
        answers = await asyncio.gather(
            *(
                h.execute_update(
                    InvoicingRun.review_numbering, NumberingReview(actor=actor, prefix=prefix)
                )
                for h, actor, prefix in zip(handles, ("anna", "ben"), ("A-", "B-"), strict=True)
            ),
            return_exceptions=True,
        )
        refused = [a for a in answers if isinstance(a, WorkflowUpdateFailedError)]
        assert len(refused) == 1, answers
        winner = "A-" if isinstance(answers[1], WorkflowUpdateFailedError) else "B-"
        loser, who = ("B-", "anna") if winner == "A-" else ("A-", "ben")
        assert refused[0].cause.message.startswith(
            f"the invoice numbering of {partner.id} was already reviewed by {who} on "
        )
        assert (
            f"(prefix {winner!r}, first number 1, format {{prefix}}{{number:06}}) and "
            f"never changes once reviewed; this review differs: prefix {loser!r} "
            f"(reviewed: {winner!r})."
        ) in refused[0].cause.message

        results = await asyncio.gather(*(outcome(dev_env, h) for h in handles))
    assert all(r.stage == Stage.ISSUED and r.numbering.prefix == winner for r in results)
    assert [r["number"] for r in await invoices(pool, partner.id)] == [
        f"{winner}000001",
        f"{winner}000002",
    ]
    numbering = await pool.fetchrow(
        "SELECT * FROM psa_invoice_numbering WHERE partner_id = $1", partner.id
    )
    assert (numbering["prefix"], numbering["confirmed_by"]) == (winner, who)
