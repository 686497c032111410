"""A partner declines an order it was asked to confirm: on the time-skipping server with the
real activities and a real PostgreSQL."""

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from domain.change_order import ChangeOrderRequest, StaffStep, Stage
from domain.steps import Decline
from tests.records import licence_totals, new_account
from tests.workflows.harness import (
    fast_lines,
    outcome,
    quote_lines,
    running_worker,
    start_process,
)
from tests.workflows.test_fast_change_order import request
from workflows.change_order import ChangeOrder
from workflows.fast_change_order import FastChangeOrder

PARTNER = "partner-user"


async def test_a_declined_order_ends_declined_tells_staff_and_keeps_the_reason(time_env, pool):
    acc = await new_account(pool, licences={"Premium": 2})
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start_process(
            time_env.client, q, FastChangeOrder, request(acc, fast_lines(Premium=4))
        )
        no = Decline(actor=PARTNER, reason="the customer wants 3, not 4")
        answer = await handle.execute_update(FastChangeOrder.decline, no)
        assert (answer.stage, answer.code) == (Stage.DECLINED, "order.declined")
        result = await outcome(time_env, handle)
        with pytest.raises(Exception):  # noqa: B017 - the process has ended: any send fails
            await handle.execute_update(FastChangeOrder.confirm, StaffStep(actor=PARTNER))
    assert result.stage == Stage.DECLINED
    order = await pool.fetchrow(
        "SELECT status, closed_reason FROM orders WHERE id = $1", result.order_id
    )
    assert dict(order) == {"status": "declined", "closed_reason": "the customer wants 3, not 4"}
    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 2}
    audit = await pool.fetch(
        "SELECT actor, action FROM audit_log WHERE process_id = $1 AND step = 'decline'",
        handle.id,
    )
    assert [(a["actor"], a["action"]) for a in audit] == [
        (PARTNER, "order declined by the partner: the customer wants 3, not 4")
    ]
    told = await pool.fetch(
        "SELECT recipient_kind, recipient_id, payload FROM notifications"
        " WHERE process_id = $1 AND template = 'order_declined'",
        handle.id,
    )
    assert [(t["recipient_kind"], t["recipient_id"]) for t in told] == [("role", "ops")]


async def test_a_change_order_without_an_order_yet_refuses_the_decline_with_a_code(dev_env, pool):
    # On the dev server: the time-skipping server answers a validator's refusal as "not found".
    acc = await new_account(pool, licences={"Premium": 2})
    async with running_worker(dev_env.client, pool) as q:
        handle, _ = await start_process(
            dev_env.client,
            q,
            ChangeOrder,
            ChangeOrderRequest(
                account_id=acc.id,
                pbx_id=acc.pbx_id,
                lines=quote_lines(("Premium", 1)),
                requested_by="staff",
            ),
        )
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                ChangeOrder.decline, Decline(actor=PARTNER, reason="not what we asked for")
            )
        await handle.cancel()
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.message.startswith("there is no order to decline: quote-draft")
    assert list(cause.details) == [
        {"code": "order.not_waiting", "params": {"stage": "quote-draft"}}
    ]
