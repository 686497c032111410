"""Every write of the renegotiation executed twice (a retry after a lost completion, a second
worker) leaves one set of rows, and a second renegotiation of a contract in progress is
refused by the database even when both pass their checks at once."""

import asyncio
from datetime import date
from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.renegotiation import RenegotiationActivities
from domain.renegotiation_models import (
    Case,
    CaseStep,
    DeadlineStep,
    DealStep,
    Route,
    SendingStep,
    SignatureStep,
)
from domain.steps import StepKey
from tests.records_renegotiation import access_count, new_company

TODAY = date(2026, 11, 23)


def case_of(co, tag: str, licences: int = 8) -> Case:
    return Case(
        ticket_id=co.ticket_id,
        account_id=co.id,
        contact_id=co.contact_id,
        original_contract_id=co.contract_id,
        deal_id=f"deal-{tag}",
        contract_id=f"contract-{tag}",
        owner="kari",
        licences_before=10,
        licences_after=licences,
        price_before=Decimal("500"),
        price_after=Decimal("450"),
        originally_signed_on=date(2025, 1, 15),
    )


async def twice(env, activity, arg):
    first = await env.run(activity, arg)
    assert await env.run(activity, arg) == first
    return first


async def test_every_write_twice_leaves_one_set_of_rows(pool):
    co = await new_company(pool, licences=10)
    acts, env, pid = RenegotiationActivities(pool), ActivityEnvironment(), f"idem-{co.id}"
    case = case_of(co, co.id)

    def key(step: str) -> StepKey:
        return StepKey(process_id=pid, step=step, actor="kari")

    await twice(
        env, acts.enrich_renegotiation_ticket, CaseStep(key=key("t"), case=case, today=TODAY)
    )
    await twice(
        env,
        acts.create_renegotiation_deal,
        DealStep(key=key("d"), case=case, today=TODAY, close_date=TODAY, delivery_start=TODAY),
    )
    await twice(
        env, acts.draft_renegotiation_contract, CaseStep(key=key("c"), case=case, today=TODAY)
    )
    await twice(
        env,
        acts.send_contract_for_signing,
        SendingStep(
            key=key("s"), case=case, today=TODAY, deadline=date(2026, 11, 30), delivery_start=TODAY
        ),
    )
    await twice(
        env,
        acts.remind_signatory,
        DeadlineStep(key=key("r"), case=case, today=TODAY, deadline=date(2026, 11, 30), number=1),
    )
    await twice(
        env,
        acts.extend_signing_deadline,
        DeadlineStep(key=key("e"), case=case, today=TODAY, deadline=date(2026, 12, 7), number=1),
    )
    signature = SignatureStep(
        key=key("sig"), case=case, today=TODAY, delivery_start=TODAY, route=Route.CSC
    )
    await twice(env, acts.record_contract_signature, signature)
    await twice(env, acts.set_product_access_count, CaseStep(key=key("a"), case=case, today=TODAY))
    await twice(
        env,
        acts.record_reduction_on_customer_card,
        signature.model_copy(update={"key": key("red")}),
    )
    handed = await twice(
        env, acts.hand_reduction_to_csc, signature.model_copy(update={"key": key("csc")})
    )
    await twice(
        env,
        acts.inform_order_invoice,
        signature.model_copy(update={"key": key("inv"), "csc_ticket_id": handed.ticket_id}),
    )
    await twice(
        env, acts.notify_sales_registration, signature.model_copy(update={"key": key("sales")})
    )

    assert await pool.fetchval("SELECT count(*) FROM deals WHERE process_id = $1", pid) == 1
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM contract_lines WHERE contract_id = $1", case.contract_id
        )
        == 3
    )
    assert await pool.fetchval("SELECT count(*) FROM tickets WHERE process_id = $1", pid) == 1
    assert (
        await pool.fetchval("SELECT count(*) FROM notifications WHERE process_id = $1", pid) == 5
    )  # e-mail, SMS, reminder, extension, sales
    body = await pool.fetchval("SELECT body FROM tickets WHERE id = $1", co.ticket_id)
    assert body.count("Renegotiation signed") == 1
    assert f"handed to CSC in ticket {handed.ticket_id}" in body
    assert await access_count(pool, co.id) == 8
    contract = await pool.fetchrow(
        "SELECT status, signing_deadline FROM contracts WHERE id = $1", case.contract_id
    )
    assert tuple(contract) == ("signed", date(2026, 12, 7))


async def test_two_renegotiations_of_one_contract_at_once_one_is_refused(pool):
    co = await new_company(pool, licences=10)
    acts, env = RenegotiationActivities(pool), ActivityEnvironment()

    async def deal_and_contract(tag: str) -> None:
        case = case_of(co, tag)
        await env.run(
            acts.create_renegotiation_deal,
            DealStep(
                key=StepKey(process_id=tag, step="d", actor="kari"),
                case=case,
                today=TODAY,
                close_date=TODAY,
                delivery_start=TODAY,
            ),
        )

    results = await asyncio.gather(
        deal_and_contract(f"one-{co.id}"), deal_and_contract(f"two-{co.id}"), return_exceptions=True
    )
    refusals = [r for r in results if isinstance(r, BaseException)]
    assert len(refusals) == 1
    with pytest.raises(ApplicationError):
        raise refusals[0]
    assert "taken by another renegotiation" in str(refusals[0])
