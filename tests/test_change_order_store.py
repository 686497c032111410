"""Change orders in PostgreSQL under concurrency: a fast change
order's totals are planned again inside the apply transaction under the PBX row lock, and an
order is closed once, whatever steps race for it."""

import asyncio
from datetime import date

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.change_orders import ChangeOrderActivities
from domain.catalogue import LicenceType, ProductKind
from domain.change_order import (
    NewOrder,
    OrderApplication,
    OrderClosure,
    OrderDraft,
    ProcessKind,
    StepKey,
)
from domain.order_lines import FastChangeLine, OrderLine, plan_fast_change
from store.change_orders import pbx_snapshot
from tests.records import licence_totals, new_account

TODAY = date(2026, 11, 23)


async def fast_change_order(pool, acc, process_id: str, **totals: int) -> OrderDraft:
    """An order made as the workflow makes it: planned against the PBX at start, created."""
    async with pool.acquire() as conn:
        pbx = await pbx_snapshot(conn, acc.id, acc.pbx_id, list(totals))
    plan = plan_fast_change(
        [FastChangeLine(sku=s, quantity=q) for s, q in totals.items()],
        pbx.licences,
        pbx.catalogue,
        TODAY,
    )
    order = OrderDraft(
        order_id=f"order-{process_id}",
        kind=ProcessKind.FAST_CHANGE,
        account_id=acc.id,
        pbx_id=acc.pbx_id,
        partner_id=acc.partner_id,
        lines=plan.lines,
        targets=plan.targets,
    )
    await ActivityEnvironment().run(
        ChangeOrderActivities(pool).create_order,
        NewOrder(
            key=StepKey(process_id=process_id, step="create-order", actor="staff"), order=order
        ),
    )
    return order


def application(process_id: str, order: OrderDraft) -> OrderApplication:
    return OrderApplication(
        key=StepKey(process_id=process_id, step="apply-order", actor="partner"),
        order=order,
        today=TODAY,
    )


async def apply(pool, process_id: str, order: OrderDraft):
    return await ActivityEnvironment().run(
        ChangeOrderActivities(pool).apply_order, application(process_id, order)
    )


async def test_two_overlapping_orders_setting_premium_6_from_5_end_at_6(pool):
    acc = await new_account(pool, licences={"Premium": 5})
    first = await fast_change_order(pool, acc, f"overlap-1-{acc.id}", Premium=6)
    second = await fast_change_order(pool, acc, f"overlap-2-{acc.id}", Premium=6)
    assert [ln.quantity for ln in second.lines] == [1]  # both planned +1 at start

    one = await apply(pool, f"overlap-1-{acc.id}", first)
    two = await apply(pool, f"overlap-2-{acc.id}", second)

    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 6}
    assert one.changes == ["Premium 5 → 6"]
    assert two.changes == ["Premium already 6: nothing to change"] and two.lines == []
    # the order records and the partner's notice say what was applied
    assert (
        await pool.fetchval("SELECT count(*) FROM order_lines WHERE order_id = $1", second.order_id)
        == 0
    )
    assert await pool.fetchval("SELECT targets FROM orders WHERE id = $1", second.order_id) == [
        {"sku": "Premium", "licence_type": "Premium", "total": 6, "start_date": None}
    ]
    notice = await pool.fetchval(
        "SELECT payload FROM notifications WHERE process_id = $1 AND template = 'order_applied'",
        f"overlap-2-{acc.id}",
    )
    assert notice["changes"] == ["Premium already 6: nothing to change"]


async def test_many_concurrent_orders_setting_premium_10_converge_to_10(pool):
    acc = await new_account(pool, licences={"Premium": 5})
    orders = [
        await fast_change_order(pool, acc, f"many-{n}-{acc.id}", Premium=10) for n in range(100)
    ]
    results = await asyncio.gather(
        *(apply(pool, f"many-{n}-{acc.id}", o) for n, o in enumerate(orders))
    )
    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 10}
    changed = [r.changes for r in results if r.lines]
    assert changed == [["Premium 5 → 10"]]  # exactly one order changed anything


async def test_a_total_that_became_a_reduction_is_applied_at_once_with_the_cascade(pool):
    acc = await new_account(
        pool, licences={"Premium": 2}, flats=[("Premium", ["+4930444"]), ("Premium", ["+4930555"])]
    )
    raise_to_4 = await fast_change_order(pool, acc, f"up-{acc.id}", Premium=4)
    to_3 = await fast_change_order(pool, acc, f"to3-{acc.id}", Premium=3)  # +1 when made
    await apply(pool, f"up-{acc.id}", raise_to_4)
    applied = await apply(pool, f"to3-{acc.id}", to_3)
    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 3}
    assert applied.changes == ["Premium 4 → 3"]
    assert [ln.quantity for ln in applied.lines] == [-1]
    # three seats keep both flats: nothing cancelled, no ticket
    assert applied.cancelled_flats == 0 and applied.ticket_id is None


async def order_of_one_more(pool, acc, process_id: str) -> OrderDraft:
    """A created order adding one Premium licence (no totals: the closing rules hold for
    every order)."""
    order = OrderDraft(
        order_id=f"order-{process_id}",
        kind=ProcessKind.CHANGE_ORDER,
        account_id=acc.id,
        pbx_id=acc.pbx_id,
        partner_id=acc.partner_id,
        lines=[
            OrderLine(
                sku="Premium",
                kind=ProductKind.LICENCE,
                quantity=1,
                licence_type=LicenceType.PREMIUM,
            )
        ],
    )
    await ActivityEnvironment().run(
        ChangeOrderActivities(pool).create_order,
        NewOrder(
            key=StepKey(process_id=process_id, step="create-order", actor="staff"), order=order
        ),
    )
    return order


def closure(process_id: str, order: OrderDraft, step: str, status: str) -> OrderClosure:
    return OrderClosure(
        key=StepKey(process_id=process_id, step=step, actor="staff"),
        status=status,
        reason=f"{step} by test",
        order_id=order.order_id,
        partner_id=order.partner_id,
    )


async def close(pool, c: OrderClosure) -> None:
    await ActivityEnvironment().run(ChangeOrderActivities(pool).close_order, c)


async def notices(pool, process_id: str) -> list[str]:
    return [
        r["template"]
        for r in await pool.fetch(
            "SELECT template FROM notifications WHERE process_id = $1 AND template LIKE 'order_%'"
            " AND template <> 'order_awaiting_confirmation' ORDER BY id",
            process_id,
        )
    ]


async def test_an_order_closed_twice_is_refused_the_second_time(pool):
    acc = await new_account(pool, licences={"Premium": 1})
    process_id = f"close-twice-{acc.id}"
    order = await order_of_one_more(pool, acc, process_id)
    await close(pool, closure(process_id, order, "close-cancelled", "cancelled"))
    await close(pool, closure(process_id, order, "close-cancelled", "cancelled"))  # a retry
    with pytest.raises(ApplicationError, match="already cancelled"):
        await close(pool, closure(process_id, order, "close-refused", "cancelled"))
    assert await notices(pool, process_id) == ["order_cancelled"]
    assert (
        await pool.fetchval("SELECT status FROM orders WHERE id = $1", order.order_id)
        == "cancelled"
    )


async def test_cancel_and_expiry_at_once_close_the_order_once(pool):
    acc = await new_account(pool, licences={"Premium": 1})
    process_id = f"close-race-{acc.id}"
    order = await order_of_one_more(pool, acc, process_id)
    outcomes = await asyncio.gather(
        close(pool, closure(process_id, order, "close-cancelled", "cancelled")),
        close(pool, closure(process_id, order, "close-expired", "expired")),
        return_exceptions=True,
    )
    assert sum(isinstance(o, ApplicationError) for o in outcomes) == 1
    assert len(await notices(pool, process_id)) == 1


async def test_an_applied_order_is_not_closed(pool):
    acc = await new_account(pool, licences={"Premium": 1})
    process_id = f"close-applied-{acc.id}"
    order = await order_of_one_more(pool, acc, process_id)
    await apply(pool, process_id, order)
    with pytest.raises(ApplicationError, match="already applied"):
        await close(pool, closure(process_id, order, "close-expired", "expired"))
    assert await notices(pool, process_id) == ["order_applied"]
    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 2}
