"""Every branch of the fast change order, on the time-skipping server with the real
activities and a real PostgreSQL."""

import asyncio
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage

from activities.change_orders import ChangeOrderActivities
from domain.change_order import (
    AppliedOrder,
    Cancellation,
    FastChangeRequest,
    OrderApplication,
    OrderClosure,
    StaffStep,
    Stage,
)
from domain.confirmation import EXPIRES_AFTER, REMINDER_EVERY
from domain.order_lines import FastChangeLine
from tests.records import licence_totals, new_account
from tests.workflows.harness import (
    fast_lines,
    outcome,
    running_worker,
    server_today,
    start_process,
)
from workflows.fast_change_order import FastChangeOrder

PARTNER = StaffStep(actor="partner-user")


def request(acc, lines) -> FastChangeRequest:
    return FastChangeRequest(
        account_id=acc.id, pbx_id=acc.pbx_id, lines=lines, requested_by="staff"
    )


async def refusal_of(time_env, pool, acc, lines) -> str:
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start_process(
            time_env.client, q, FastChangeOrder, request(acc, lines)
        )
        result = await outcome(time_env, handle)
    assert result.stage == Stage.REFUSED
    assert isinstance(answer, WorkflowUpdateFailedError)
    return answer.cause.message


async def test_increase_waits_for_partner_then_applies_with_its_start_date(time_env, pool):
    acc = await new_account(pool, licences={"Premium": 5, "Basic": 2})
    start = await server_today(time_env) + timedelta(days=14)
    lines = [FastChangeLine(sku="Premium", quantity=8, start_date=start)]
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start_process(
            time_env.client, q, FastChangeOrder, request(acc, lines)
        )
        assert answer.stage == Stage.AWAITING_PARTNER
        order = await pool.fetchrow("SELECT * FROM orders WHERE process_id = $1", handle.id)
        assert order["status"] == "awaiting_partner_confirmation"
        assert await licence_totals(pool, acc.pbx_id) == {"Premium": 5, "Basic": 2}
        notice = await pool.fetchrow(
            "SELECT * FROM notifications WHERE process_id = $1 AND step = 'create-order'", handle.id
        )
        assert (notice["recipient_kind"], notice["recipient_id"], notice["template"]) == (
            "partner",
            acc.partner_id,
            "order_awaiting_confirmation",
        )

        confirmed = await handle.execute_update(FastChangeOrder.confirm, PARTNER)
        assert confirmed.stage == Stage.APPLIED
        result = await outcome(time_env, handle)
    assert result.stage == Stage.APPLIED
    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 8, "Basic": 2}
    block = await pool.fetchrow(
        "SELECT quantity, start_date FROM licences WHERE order_id = $1", result.order_id
    )
    assert (block["quantity"], block["start_date"]) == (3, start)
    order = await pool.fetchrow("SELECT * FROM orders WHERE id = $1", result.order_id)
    assert (order["status"], order["confirmed_by"]) == ("applied", "partner-user")


async def test_new_licence_type_not_yet_on_the_pbx_is_added(time_env, pool):
    acc = await new_account(pool, licences={"Basic": 3})
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start_process(
            time_env.client, q, FastChangeOrder, request(acc, fast_lines(Business=4))
        )
        await handle.execute_update(FastChangeOrder.confirm, PARTNER)
        await outcome(time_env, handle)
    assert await licence_totals(pool, acc.pbx_id) == {"Basic": 3, "Business": 4}


async def test_reduction_takes_effect_immediately_on_confirmation(time_env, pool):
    acc = await new_account(pool, licences={"Essential": 10})
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start_process(
            time_env.client, q, FastChangeOrder, request(acc, fast_lines(Essential=6))
        )
        await handle.execute_update(FastChangeOrder.confirm, PARTNER)
        result = await outcome(time_env, handle)
    assert await licence_totals(pool, acc.pbx_id) == {"Essential": 6}
    assert result.lines[0].quantity == -4 and result.lines[0].start_date is None


async def test_reduction_with_a_future_start_date_is_refused(time_env, pool):
    acc = await new_account(pool, licences={"Essential": 10})
    later = await server_today(time_env) + timedelta(days=30)
    reason = await refusal_of(
        time_env, pool, acc, [FastChangeLine(sku="Essential", quantity=6, start_date=later)]
    )
    assert "cannot be scheduled" in reason
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE account_id = $1", acc.id) == 0


async def test_hardware_is_refused_with_use_a_change_order(time_env, pool):
    acc = await new_account(pool, licences={"Premium": 2})
    reason = await refusal_of(time_env, pool, acc, fast_lines(WP480G=2))
    assert "use a change order" in reason


async def test_inactive_pbx_is_refused_at_start(time_env, pool):
    acc = await new_account(pool, licences={"Basic": 3}, active=False)
    reason = await refusal_of(time_env, pool, acc, fast_lines(Basic=5))
    assert f"PBX {acc.pbx_id} is not active" in reason


async def test_unknown_account_is_refused(time_env, pool):
    acc = await new_account(pool, licences={"Basic": 3})
    acc.id = "NO-SUCH-ACCOUNT"
    reason = await refusal_of(time_env, pool, acc, fast_lines(Basic=5))
    assert "unknown account 'NO-SUCH-ACCOUNT'" in reason


async def test_partner_is_reminded_and_can_still_confirm(time_env, pool):
    acc = await new_account(pool, licences={"Premium": 1})
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start_process(
            time_env.client, q, FastChangeOrder, request(acc, fast_lines(Premium=2))
        )
        await time_env.sleep(REMINDER_EVERY + timedelta(hours=1))
        await handle.execute_update(FastChangeOrder.confirm, PARTNER)
        result = await outcome(time_env, handle)
    assert result.stage == Stage.APPLIED
    assert result.reminders_sent == 1
    reminders = await pool.fetch(
        "SELECT payload FROM notifications WHERE process_id = $1"
        " AND template = 'order_confirmation_reminder'",
        handle.id,
    )
    assert [r["payload"]["reminder"] for r in reminders] == [1]


async def test_unconfirmed_order_expires_after_its_reminders(time_env, pool):
    acc = await new_account(pool, licences={"Premium": 1})
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start_process(
            time_env.client, q, FastChangeOrder, request(acc, fast_lines(Premium=2))
        )
        result = await outcome(time_env, handle)  # the test server skips time while we wait
    assert result.stage == Stage.EXPIRED
    expected_reminders = (EXPIRES_AFTER - timedelta(seconds=1)) // REMINDER_EVERY
    assert result.reminders_sent == expected_reminders == 4
    order = await pool.fetchrow(
        "SELECT status, closed_reason FROM orders WHERE id = $1", result.order_id
    )
    assert order["status"] == "expired" and "10 days" in order["closed_reason"]
    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 1}
    templates = [
        r["template"]
        for r in await pool.fetch(
            "SELECT template FROM notifications WHERE process_id = $1 ORDER BY id", handle.id
        )
    ]
    assert templates == ["order_awaiting_confirmation"] + ["order_confirmation_reminder"] * 4 + [
        "order_expired"
    ]


async def test_staff_cancel_before_confirmation_and_confirm_is_then_refused(time_env, pool):
    acc = await new_account(pool, licences={"Premium": 1})
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start_process(
            time_env.client, q, FastChangeOrder, request(acc, fast_lines(Premium=3))
        )
        stop = Cancellation(actor="staff", reason="customer changed their mind")
        answer = await handle.execute_update(FastChangeOrder.cancel, stop)
        assert answer.stage == Stage.CANCELLED
        result = await outcome(time_env, handle)
        with pytest.raises(Exception):  # noqa: B017 - the process has ended: any send fails
            await handle.execute_update(FastChangeOrder.confirm, PARTNER)
    assert result.stage == Stage.CANCELLED
    order = await pool.fetchrow(
        "SELECT status, closed_reason FROM orders WHERE id = $1", result.order_id
    )
    assert order["status"] == "cancelled"
    assert "customer changed their mind" in order["closed_reason"]
    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 1}


async def test_cancel_after_confirmation_is_refused(dev_env, pool):
    # Checked on the dev server: the time-skipping test server answers an update refused by
    # its validator with "not found" instead of the refusal.
    acc = await new_account(pool, licences={"Premium": 1})
    entered, release = asyncio.Event(), asyncio.Event()
    real = ChangeOrderActivities(pool)

    @activity.defn(name="apply_order")
    async def apply_order_held_open(application: OrderApplication) -> AppliedOrder:
        entered.set()
        await release.wait()
        return await real.apply_order(application)

    async with running_worker(dev_env.client, pool, replace=[apply_order_held_open]) as q:
        handle, _ = await start_process(
            dev_env.client, q, FastChangeOrder, request(acc, fast_lines(Premium=3))
        )
        confirming = asyncio.create_task(handle.execute_update(FastChangeOrder.confirm, PARTNER))
        await entered.wait()  # the order is being applied
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                FastChangeOrder.cancel, Cancellation(actor="staff", reason="too late")
            )
        release.set()
        assert (await confirming).stage == Stage.APPLIED
        result = await outcome(dev_env, handle)
    assert "can no longer be cancelled" in refused.value.cause.message
    assert result.stage == Stage.APPLIED
    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 3}


async def test_reduction_cancels_flats_of_removed_licences_and_opens_one_did_ticket(time_env, pool):
    acc = await new_account(
        pool,
        licences={"Premium": 3},
        flats=[
            ("Premium", ["+4930111"]),
            ("Premium", ["+4930222", "+4930223"]),
            ("Premium", ["+4930333"]),
        ],
    )
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start_process(
            time_env.client, q, FastChangeOrder, request(acc, fast_lines(Premium=1))
        )
        answer = await handle.execute_update(FastChangeOrder.confirm, PARTNER)
        await outcome(time_env, handle)
    flats = await pool.fetch(
        "SELECT id, status FROM pbx_products WHERE pbx_id = $1 AND sku = 'CLASSOUND-FLAT'"
        " ORDER BY id",
        acc.pbx_id,
    )
    assert [f["status"] for f in flats] == ["active", "cancelled", "cancelled"]
    tickets = await pool.fetch("SELECT * FROM tickets WHERE process_id = $1", handle.id)
    assert len(tickets) == 1 and tickets[0]["queue"] == "customer_care"
    body = tickets[0]["body"]
    assert "+4930222" in body and "+4930223" in body and "+4930333" in body
    assert "+4930111" not in body
    # the DIDs themselves are left for customer care
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM dids WHERE pbx_id = $1 AND status = 'active'", acc.pbx_id
        )
        == 4
    )
    assert any("ticket" in n for n in answer.notes)


async def test_confirm_sent_twice_is_applied_once(time_env, pool):
    acc = await new_account(pool, licences={"Basic": 1})
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start_process(
            time_env.client, q, FastChangeOrder, request(acc, fast_lines(Basic=4))
        )
        first = await handle.execute_update(FastChangeOrder.confirm, PARTNER, id="confirm-1")
        again = await handle.execute_update(FastChangeOrder.confirm, PARTNER, id="confirm-1")
        assert again == first
        await outcome(time_env, handle)
    assert await licence_totals(pool, acc.pbx_id) == {"Basic": 4}
    assert await pool.fetchval("SELECT count(*) FROM licences WHERE pbx_id = $1", acc.pbx_id) == 2


# --- totals, and the confirm/cancel race ---------------------------------------------------


async def test_two_overlapping_orders_both_setting_premium_6_from_5_end_at_6(time_env, pool):
    acc = await new_account(pool, licences={"Premium": 5})
    async with running_worker(time_env.client, pool) as q:
        first, _ = await start_process(
            time_env.client, q, FastChangeOrder, request(acc, fast_lines(Premium=6))
        )
        second, _ = await start_process(
            time_env.client, q, FastChangeOrder, request(acc, fast_lines(Premium=6))
        )
        one = await first.execute_update(FastChangeOrder.confirm, PARTNER)
        two = await second.execute_update(FastChangeOrder.confirm, PARTNER)
        results = [await outcome(time_env, h) for h in (first, second)]
    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 6}
    assert one.message.endswith("applied: Premium 5 → 6")
    assert two.message.endswith("applied: Premium already 6: nothing to change")
    assert [r.stage for r in results] == [Stage.APPLIED, Stage.APPLIED]
    assert [ln.quantity for ln in results[0].lines] == [1] and results[1].lines == []
    assert results[1].changes == ["Premium already 6: nothing to change"]


async def test_confirm_while_a_cancel_is_being_written_closes_the_order_once(dev_env, pool):
    # Both steps in flight at once: the cancel's write is held open until the confirmation
    # has been accepted by the process, then released.
    acc = await new_account(pool, licences={"Premium": 1})
    entered, release = asyncio.Event(), asyncio.Event()
    real = ChangeOrderActivities(pool)

    @activity.defn(name="close_order")
    async def close_order_held_open(closure: OrderClosure) -> None:
        entered.set()
        await release.wait()
        await real.close_order(closure)

    async with running_worker(dev_env.client, pool, replace=[close_order_held_open]) as q:
        handle, _ = await start_process(
            dev_env.client, q, FastChangeOrder, request(acc, fast_lines(Premium=3))
        )
        cancelling = asyncio.create_task(
            handle.execute_update(
                FastChangeOrder.cancel, Cancellation(actor="staff", reason="customer withdrew")
            )
        )
        await entered.wait()  # the cancel holds the process's lock, writing
        confirming = await handle.start_update(
            FastChangeOrder.confirm, PARTNER, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        release.set()
        assert (await cancelling).stage == Stage.CANCELLED
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await confirming.result()
        result = await outcome(dev_env, handle)
    assert "cancelled" in refused.value.cause.message
    assert result.stage == Stage.CANCELLED
    order = await pool.fetchrow("SELECT status FROM orders WHERE process_id = $1", handle.id)
    assert order["status"] == "cancelled"
    templates = [
        r["template"]
        for r in await pool.fetch(
            "SELECT template FROM notifications WHERE process_id = $1 ORDER BY id", handle.id
        )
    ]
    assert templates == ["order_awaiting_confirmation", "order_cancelled"]
    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 1}
