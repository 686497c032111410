"""An activity executed twice (a retry after a lost completion, a second worker) leaves one
set of rows: every write is claimed by its (process, step) audit row in one transaction."""

import asyncio
from datetime import date

from temporalio.testing import ActivityEnvironment

from activities.change_orders import ChangeOrderActivities
from domain.catalogue import LicenceType, ProductKind
from domain.change_order import (
    NewOrder,
    OrderApplication,
    OrderDraft,
    ProcessKind,
    QuoteCompletion,
    QuoteDraft,
    StepKey,
)
from domain.order_lines import OrderLine, QuoteLine
from tests.records import licence_totals, new_account


def order_for(acc, process_id: str, lines: list[OrderLine], quote_id=None) -> OrderDraft:
    return OrderDraft(
        order_id=f"order-{process_id}",
        kind=ProcessKind.FAST_CHANGE,
        account_id=acc.id,
        pbx_id=acc.pbx_id,
        partner_id=acc.partner_id,
        quote_id=quote_id,
        lines=lines,
    )


async def count(pool, table: str, process_id: str) -> int:
    return await pool.fetchval(f"SELECT count(*) FROM {table} WHERE process_id = $1", process_id)


async def test_create_and_apply_order_twice_leave_one_set_of_rows(pool):
    acc = await new_account(
        pool, licences={"Premium": 4}, flats=[("Premium", ["+4911"]), ("Premium", ["+4922"])]
    )
    acts, env = ChangeOrderActivities(pool), ActivityEnvironment()
    process_id = f"idem-{acc.id}"
    order = order_for(
        acc,
        process_id,
        [
            OrderLine(
                sku="Premium",
                kind=ProductKind.LICENCE,
                quantity=-3,
                licence_type=LicenceType.PREMIUM,
            ),
            OrderLine(sku="WP480G", kind=ProductKind.CAPEX, quantity=2),
        ],
    )
    new = NewOrder(key=StepKey(process_id=process_id, step="create-order", actor="t"), order=order)
    for _ in range(2):
        await env.run(acts.create_order, new)
    apply = OrderApplication(
        key=StepKey(process_id=process_id, step="apply-order", actor="p"),
        order=order,
        today=date(2026, 11, 23),
    )
    first = await env.run(acts.apply_order, apply)
    second = await env.run(acts.apply_order, apply)

    assert second == first
    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 1}
    assert (
        await pool.fetchval(
            "SELECT sum(quantity) FROM pbx_products WHERE pbx_id = $1 AND sku = 'WP480G'",
            acc.pbx_id,
        )
        == 2
    )
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM pbx_products WHERE pbx_id = $1 AND status = 'cancelled'",
            acc.pbx_id,
        )
        == 1
    )
    assert await count(pool, "orders", process_id) == 1
    assert await count(pool, "tickets", process_id) == 1
    assert await count(pool, "notifications", process_id) == 2  # created, applied
    assert await count(pool, "audit_log", process_id) == 2


async def test_concurrent_duplicate_applications_apply_once(pool):
    acc = await new_account(pool, licences={"Basic": 1})
    acts = ChangeOrderActivities(pool)
    process_id = f"idem-race-{acc.id}"
    order = order_for(
        acc,
        process_id,
        [
            OrderLine(
                sku="Basic", kind=ProductKind.LICENCE, quantity=5, licence_type=LicenceType.BASIC
            )
        ],
    )
    await ActivityEnvironment().run(
        acts.create_order,
        NewOrder(key=StepKey(process_id=process_id, step="create-order", actor="t"), order=order),
    )
    apply = OrderApplication(
        key=StepKey(process_id=process_id, step="apply-order", actor="p"),
        order=order,
        today=date(2026, 11, 23),
    )
    results = await asyncio.gather(
        *(ActivityEnvironment().run(acts.apply_order, apply) for _ in range(4))
    )
    assert all(r == results[0] for r in results)
    assert await licence_totals(pool, acc.pbx_id) == {"Basic": 6}


async def test_quote_completion_twice_creates_one_order(pool):
    acc = await new_account(pool, licences={"Basic": 1})
    acts, env = ChangeOrderActivities(pool), ActivityEnvironment()
    process_id = f"idem-quote-{acc.id}"
    quote_id = f"quote-{process_id}-v1"
    await env.run(
        acts.save_quote,
        QuoteDraft(
            key=StepKey(process_id=process_id, step="save-quote-v1", actor="t"),
            quote_id=quote_id,
            account_id=acc.id,
            pbx_id=acc.pbx_id,
            version=1,
            primary=True,
            lines=[QuoteLine(sku="Basic", quantity=1)],
        ),
    )
    completion = QuoteCompletion(
        key=StepKey(process_id=process_id, step="mark-complete-v1-1", actor="t"),
        quote_id=quote_id,
        order=order_for(
            acc,
            process_id,
            [
                OrderLine(
                    sku="Basic",
                    kind=ProductKind.LICENCE,
                    quantity=1,
                    licence_type=LicenceType.BASIC,
                )
            ],
            quote_id=quote_id,
        ),
    )
    outcomes = [await env.run(acts.complete_quote, completion) for _ in range(2)]
    assert outcomes[0] == outcomes[1] and outcomes[0].accepted
    assert await count(pool, "orders", process_id) == 1
    assert await count(pool, "quotes", process_id) == 1


async def test_fast_change_opened_twice_leaves_one_order_and_one_notice(pool):
    """The fast change order's check, plan and order in one step; run twice (a
    retry after a lost completion) it answers the same and writes once."""
    from domain.change_order import FastChangeOpening, PbxLookup
    from domain.order_lines import FastChangeLine

    acc = await new_account(pool, licences={"Premium": 5})
    acts, env = ChangeOrderActivities(pool), ActivityEnvironment()
    process_id = f"idem-open-{acc.id}"
    opening = FastChangeOpening(
        key=StepKey(process_id=process_id, step="create-order", actor="t"),
        lookup=PbxLookup(account_id=acc.id, pbx_id=acc.pbx_id, skus=["Premium"]),
        lines=[FastChangeLine(sku="Premium", quantity=7)],
        today=date(2026, 11, 23),
        order_id=f"order-{process_id}",
    )
    first = await env.run(acts.open_fast_change, opening)
    second = await env.run(acts.open_fast_change, opening)

    assert second == first
    assert first.pbx.partner_id == acc.partner_id
    assert [t.total for t in first.plan.targets] == [7]
    assert await count(pool, "orders", process_id) == 1
    assert await count(pool, "notifications", process_id) == 1


async def refused_as_inactive(pool, opening_activity, opening, table: str) -> None:
    """The opening step on an inactive PBX is refused and writes nothing (no audit row)."""
    from temporalio.exceptions import ApplicationError

    from domain.errors import REFUSED

    try:
        await ActivityEnvironment().run(opening_activity, opening)
    except ApplicationError as refusal:
        assert refusal.type == REFUSED and "is not active" in refusal.message
    else:
        raise AssertionError("an inactive PBX was not refused")
    process_id = opening.key.process_id
    assert await count(pool, table, process_id) == 0
    assert await count(pool, "audit_log", process_id) == 0


async def test_fast_change_refused_when_opened_writes_nothing(pool):
    from domain.change_order import FastChangeOpening, PbxLookup
    from domain.order_lines import FastChangeLine

    acc = await new_account(pool, licences={"Basic": 1}, active=False)
    process_id = f"idem-open-refused-{acc.id}"
    opening = FastChangeOpening(
        key=StepKey(process_id=process_id, step="create-order", actor="t"),
        lookup=PbxLookup(account_id=acc.id, pbx_id=acc.pbx_id, skus=["Basic"]),
        lines=[FastChangeLine(sku="Basic", quantity=2)],
        today=date(2026, 11, 23),
        order_id=f"order-{process_id}",
    )
    await refused_as_inactive(pool, ChangeOrderActivities(pool).open_fast_change, opening, "orders")


async def test_change_order_opened_twice_leaves_one_quote(pool):
    """The change order's check, plan and quote v1 in one step; run twice (a retry
    after a lost completion) it answers the same and writes once."""
    from domain.change_order import ChangeOrderOpening, PbxLookup
    from domain.order_lines import QuoteLine

    acc = await new_account(pool, licences={"Premium": 2})
    acts, env = ChangeOrderActivities(pool), ActivityEnvironment()
    process_id = f"idem-open-quote-{acc.id}"
    opening = ChangeOrderOpening(
        key=StepKey(process_id=process_id, step="save-quote-v1", actor="t"),
        lookup=PbxLookup(account_id=acc.id, pbx_id=acc.pbx_id, skus=["Premium", "WP480G"]),
        lines=[QuoteLine(sku="Premium", quantity=2), QuoteLine(sku="WP480G", quantity=1)],
        today=date(2026, 11, 23),
        quote_id=f"quote-{process_id}-v1",
    )
    first = await env.run(acts.open_change_order, opening)
    second = await env.run(acts.open_change_order, opening)

    assert second == first
    assert first.pbx.partner_id == acc.partner_id
    assert [line.sku for line in first.plan.lines] == ["Premium", "WP480G"]
    assert await count(pool, "quotes", process_id) == 1
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM quote_lines WHERE quote_id = $1", opening.quote_id
        )
        == 2
    )


async def test_change_order_refused_when_opened_writes_nothing(pool):
    from domain.change_order import ChangeOrderOpening, PbxLookup
    from domain.order_lines import QuoteLine

    acc = await new_account(pool, licences={"Basic": 1}, active=False)
    process_id = f"idem-open-quote-refused-{acc.id}"
    opening = ChangeOrderOpening(
        key=StepKey(process_id=process_id, step="save-quote-v1", actor="t"),
        lookup=PbxLookup(account_id=acc.id, pbx_id=acc.pbx_id, skus=["Basic"]),
        lines=[QuoteLine(sku="Basic", quantity=1)],
        today=date(2026, 11, 23),
        quote_id=f"quote-{process_id}-v1",
    )
    await refused_as_inactive(
        pool, ChangeOrderActivities(pool).open_change_order, opening, "quotes"
    )
