"""A partner declines an order it was asked to confirm: on the time-skipping server with the
real activities and a real PostgreSQL."""

import pytest

from domain.change_order import StaffStep, Stage
from domain.steps import Decline
from tests.records import licence_totals, new_account
from tests.workflows.harness import fast_lines, outcome, running_worker, start_process
from tests.workflows.test_fast_change_order import request
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
