"""A cancel from outside the starter (the Temporal UI, `temporal workflow cancel`, a batch;
here `handle.cancel()`, which sends the same request) closes a process's records as
`starter.py cancel` does: the same closing step, recorded as done by Temporal with the
request's reason, the same notices, and the workflow ends CANCELED. Real activities, a real
PostgreSQL, the time-skipping server."""

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError

from domain.change_order import ChangeOrderRequest, Stage
from domain.classound import Stage as ClassoundStage
from domain.partners import PartnerStage
from domain.psa import BillingInformationStep, OnboardingStage
from domain.renegotiation_models import Stage as RenegotiationStage
from store import portal
from store import reconcile as reconcile_records
from tests.conftest import BIN
from tests.records import new_account
from tests.records_classound import classound_request, fresh_numbers, store_numbers
from tests.records_partners import enable_partner_management, new_partner
from tests.records_psa import billing, new_client
from tests.records_renegotiation import new_company
from tests.workflows.harness import (
    fast_lines,
    outcome,
    quote_lines,
    running_worker,
    start_process,
)
from tests.workflows.test_classound_order import documents  # noqa: F401 - a fixture
from tests.workflows.test_client_onboarding import start as start_onboarding
from tests.workflows.test_client_onboarding import terms
from tests.workflows.test_fast_change_order import request as fast_request
from tests.workflows.test_partner_onboarding import start_account
from tests.workflows.test_renegotiation import request as renegotiation_request
from workflows.change_order import ChangeOrder
from workflows.classound_order import ClassoundOrder
from workflows.client_onboarding import ClientOnboarding
from workflows.fast_change_order import FastChangeOrder
from workflows.partner_onboarding import PartnerOnboarding
from workflows.renegotiation import Renegotiation
from workflows.visibility import STAGE

CLOSED_BY = "cancelled by Temporal: cancelled in Temporal: "


async def open_records(pool) -> list:
    async with pool.acquire() as conn:
        return await reconcile_records.open_records(conn)


async def cancelled_in_temporal(env, handle, reason: str) -> None:
    """Cancels as the UI and the CLI do, and waits for the run to end: CANCELED."""
    await handle.cancel(reason=reason)
    with pytest.raises(WorkflowFailureError) as ended:
        await outcome(env, handle)
    assert isinstance(ended.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED


async def closing_steps(pool, process_id: str) -> list[tuple[str, str]]:
    rows = await pool.fetch(
        "SELECT step, actor FROM audit_log WHERE process_id = $1 AND step LIKE '%cancel%'"
        " ORDER BY id",
        process_id,
    )
    return [(r["step"], r["actor"]) for r in rows]


async def test_a_fast_change_order_cancelled_in_temporal_is_closed_and_leaves_the_portal(
    time_env, pool
):
    acc = await new_account(pool, licences={"Premium": 1})
    reason = f"duplicate {uuid.uuid4().hex[:6]}"
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start_process(
            time_env.client, q, FastChangeOrder, fast_request(acc, fast_lines(Premium=3))
        )
        assert answer.stage == Stage.AWAITING_PARTNER
        async with pool.acquire() as conn:
            listed = await portal.orders_awaiting_confirmation(conn, acc.partner_id)
        assert [o["process_id"] for o in listed] == [handle.id]

        await cancelled_in_temporal(time_env, handle, reason)
        status = await handle.query(FastChangeOrder.status)

    assert status.stage == Stage.CANCELLED
    order = await pool.fetchrow(
        "SELECT id, status, closed_reason FROM orders WHERE process_id = $1", handle.id
    )
    assert (order["status"], order["closed_reason"]) == ("cancelled", CLOSED_BY + reason)
    async with pool.acquire() as conn:
        assert await portal.orders_awaiting_confirmation(conn, acc.partner_id) == []
    # the step a staff cancel writes, by Temporal, and the partner's notice with it
    assert await closing_steps(pool, handle.id) == [("close-cancelled", "Temporal")]
    notices = await pool.fetch(
        "SELECT recipient_id, template, payload FROM notifications"
        " WHERE process_id = $1 AND step = 'close-cancelled'",
        handle.id,
    )
    assert [(n["recipient_id"], n["template"]) for n in notices] == [
        (acc.partner_id, "order_cancelled")
    ]
    assert notices[0]["payload"]["reason"] == CLOSED_BY + reason


async def test_a_change_order_cancelled_in_temporal_at_its_quote_cancels_the_quote(time_env, pool):
    acc = await new_account(pool, licences={"Premium": 1})
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start_process(
            time_env.client,
            q,
            ChangeOrder,
            ChangeOrderRequest(
                account_id=acc.id,
                pbx_id=acc.pbx_id,
                lines=quote_lines(("Premium", 2)),
                requested_by="staff",
            ),
        )
        assert answer.stage == Stage.QUOTE_DRAFT
        await cancelled_in_temporal(time_env, handle, "abandoned")
    quotes = await pool.fetch("SELECT status FROM quotes WHERE process_id = $1", handle.id)
    assert [q["status"] for q in quotes] == ["cancelled"]
    assert await closing_steps(pool, handle.id) == [("close-cancelled", "Temporal")]


async def test_a_classound_order_cancelled_in_temporal_closes_the_order_and_its_ticket(
    time_env,
    pool,
    documents,  # noqa: F811 - the fixture
):
    acc = await new_account(pool, licences={"Premium": 3})
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start_process(
            time_env.client,
            q,
            ClassoundOrder,
            classound_request(acc, store_numbers(documents, fresh_numbers(2))),
            process_id=f"classound-order-{acc.id}-{uuid.uuid4().hex[:8]}",
        )
        assert answer.stage == ClassoundStage.AWAITING_DOCUMENTS
        async with pool.acquire() as conn:
            listed = await portal.classound_orders_awaiting_documents(conn, acc.partner_id)
        assert [o["process_id"] for o in listed] == [handle.id]
        await cancelled_in_temporal(time_env, handle, "customer withdrew")
    async with pool.acquire() as conn:
        assert await portal.classound_orders_awaiting_documents(conn, acc.partner_id) == []
    order = await pool.fetchrow(
        "SELECT status, closed_reason FROM classound_orders WHERE process_id = $1", handle.id
    )
    assert (order["status"], order["closed_reason"]) == (
        "cancelled",
        CLOSED_BY + "customer withdrew",
    )
    open_tickets = await pool.fetchval(
        "SELECT count(*) FROM tickets WHERE process_id = $1 AND status <> 'closed'", handle.id
    )
    assert open_tickets == 0
    assert await closing_steps(pool, handle.id) == [("close-cancelled", "Temporal")]


async def test_a_renegotiation_cancelled_in_temporal_loses_the_deal_and_withdraws_the_contract(
    time_env, pool
):
    co = await new_company(pool, licences=20)
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start_process(
            time_env.client,
            q,
            Renegotiation,
            renegotiation_request(co, 25, "480"),
            process_id=f"renegotiation-{co.id}-{uuid.uuid4().hex[:8]}",
        )
        assert answer.stage == RenegotiationStage.AWAITING_SIGNATURE
        s = await handle.query(Renegotiation.status)
        await cancelled_in_temporal(time_env, handle, "kunden takket nei")
    deal = await pool.fetchrow("SELECT status FROM deals WHERE id = $1", s.deal_id)
    contract = await pool.fetchrow("SELECT status FROM contracts WHERE id = $1", s.contract_id)
    ticket = await pool.fetchrow("SELECT status FROM tickets WHERE id = $1", co.ticket_id)
    assert (deal["status"], contract["status"], ticket["status"]) == ("lost", "cancelled", "closed")
    assert await closing_steps(pool, handle.id) == [("cancel", "Temporal")]


async def test_a_client_onboarding_cancelled_in_temporal_cancels_its_draft_contract(time_env, pool):
    _, account = await new_client(pool)
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start_onboarding(time_env, q, account)
        await handle.execute_update(
            ClientOnboarding.billing_information,
            BillingInformationStep(actor="anna", info=billing()),
        )
        await handle.execute_update(ClientOnboarding.contract_terms, terms())
        contract_id = (await handle.query(ClientOnboarding.status)).contract_id
        await cancelled_in_temporal(time_env, handle, "client is leaving")
        status = await handle.query(ClientOnboarding.status)
    assert status.stage == OnboardingStage.CANCELLED
    assert (
        await pool.fetchval("SELECT status FROM psa_contracts WHERE id = $1", contract_id)
        == "cancelled"
    )
    assert await closing_steps(pool, handle.id) == [("cancel", "Temporal")]


async def test_a_partner_account_cancelled_in_temporal_shows_cancelled_and_keeps_the_partner(
    time_env, pool
):
    """A partner account has no record a cancel leaves open: the partner and its users stay
    as they are (deactivating is a step of its own); the process shows why it ended."""
    await enable_partner_management(pool)
    partner = await new_partner(pool, account=False)
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start_account(time_env, q, partner.id)
        assert answer.stage == PartnerStage.ACTIVE
        await cancelled_in_temporal(time_env, handle, "set up twice")
        status = await handle.query(PartnerOnboarding.status)
        shown = (await handle.describe()).typed_search_attributes.get(STAGE)
    assert shown == "cancelled"  # its stages have no such name: the Stage says it
    assert status.waiting_for == "nothing: " + CLOSED_BY + "set up twice"
    assert (
        await pool.fetchval("SELECT status FROM partner_accounts WHERE partner_id = $1", partner.id)
        == "active"
    )


async def temporal_cli(env, *args: str) -> str:
    """The `temporal` command line, as ops type it, against the test's dev server."""
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "temporal"),
        *args,
        "--address",
        env.client.service_client.config.target_host,
        "--namespace",
        env.client.namespace,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def test_the_temporal_cli_and_a_batch_cancel_close_the_orders_and_leave_nothing_to_reconcile(
    dev_env, pool
):
    """The commands ops run: `temporal workflow cancel -w ID`, and a batch by query. Each
    order is closed by its process, so reconciliation finds nothing to close. (Neither
    request carries a reason to the workflow: a batch's --reason is the batch job's.)"""
    acc = await new_account(pool, licences={"Premium": 1})
    async with running_worker(dev_env.client, pool) as q:
        one, _ = await start_process(
            dev_env.client, q, FastChangeOrder, fast_request(acc, fast_lines(Premium=3))
        )
        batch, _ = await start_process(
            dev_env.client, q, FastChangeOrder, fast_request(acc, fast_lines(Premium=4))
        )
        await temporal_cli(dev_env, "workflow", "cancel", "--workflow-id", one.id)
        await temporal_cli(
            dev_env,
            "workflow",
            "cancel",
            "--query",
            f'WorkflowId = "{batch.id}"',
            "--reason",
            "duplicate orders",
            "--yes",
        )
        for handle in (one, batch):
            with pytest.raises(WorkflowFailureError):
                await asyncio.wait_for(handle.result(), 60)
    closed = {
        r["process_id"]: (r["status"], r["closed_reason"])
        for r in await pool.fetch(
            "SELECT process_id, status, closed_reason FROM orders WHERE process_id = ANY($1)",
            [one.id, batch.id],
        )
    }
    assert closed == {
        one.id: ("cancelled", CLOSED_BY + "no reason given"),
        batch.id: ("cancelled", CLOSED_BY + "no reason given"),
    }
    async with pool.acquire() as conn:
        assert await portal.orders_awaiting_confirmation(conn, acc.partner_id) == []
    assert not [
        r for r in await open_records(pool) if r.process_id in (one.id, batch.id)
    ]  # nothing left for the reconciliation job
