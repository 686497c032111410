"""A fast change order sets totals; applying it plans the change again against the PBX as it
is then (domain/order_lines.py `replan_fast_change`)."""

from datetime import date, timedelta

from domain.catalogue import LicenceType, ProductKind
from domain.order_lines import (
    FastChangeLine,
    LicenceTarget,
    OrderLine,
    plan_fast_change,
    replan_fast_change,
)
from tests.unit.test_order_lines import CATALOGUE

TODAY = date(2026, 11, 23)
LATER = TODAY + timedelta(days=5)
PREMIUM, BASIC = LicenceType.PREMIUM, LicenceType.BASIC


def target(total: int, sku: str = "Premium", start: date | None = None) -> LicenceTarget:
    return LicenceTarget(sku=sku, licence_type=LicenceType(sku), total=total, start_date=start)


def licence(change: int, sku: str = "Premium", start: date | None = None) -> OrderLine:
    return OrderLine(
        sku=sku,
        kind=ProductKind.LICENCE,
        quantity=change,
        licence_type=LicenceType(sku),
        start_date=start,
    )


def test_the_plan_keeps_every_total_including_those_reached_already():
    plan = plan_fast_change(
        [FastChangeLine(sku="Premium", quantity=6), FastChangeLine(sku="Basic", quantity=2)],
        {PREMIUM: 5, BASIC: 2},
        CATALOGUE,
        TODAY,
    )
    assert plan.lines == [licence(+1)]
    assert plan.targets == [target(6), target(2, "Basic")]


def test_two_overlapping_orders_to_six_from_five_leave_six():
    first = replan_fast_change([target(6)], {PREMIUM: 5}, TODAY)
    assert first.lines == [licence(+1)]
    assert first.changes == ["Premium 5 → 6"]
    # the second order, applied after the first: the PBX has 6 now
    second = replan_fast_change([target(6)], {PREMIUM: 6}, TODAY)
    assert second.lines == []
    assert second.changes == ["Premium already 6: nothing to change"]


def test_a_total_below_the_current_count_at_apply_time_is_a_reduction_at_once():
    # an increase from 5 to 8 from LATER when made; another order raised Premium to 10 since
    replan = replan_fast_change([target(8, start=LATER)], {PREMIUM: 10}, TODAY)
    assert replan.lines == [licence(-2)]  # no start date: reductions take effect at once
    assert replan.changes[0].startswith("Premium 10 → 8 at once")
    assert str(LATER) in replan.changes[0]


def test_an_increase_keeps_its_start_date_while_it_is_ahead():
    replan = replan_fast_change([target(8, start=LATER)], {PREMIUM: 7}, TODAY)
    assert replan.lines == [licence(+1, start=LATER)]
    assert replan.changes == [f"Premium 7 → 8 from {LATER}"]


def test_an_increase_whose_start_date_has_passed_starts_the_day_applied():
    replan = replan_fast_change([target(8, start=TODAY - timedelta(days=1))], {PREMIUM: 5}, TODAY)
    assert replan.lines == [licence(+3)]


def test_a_new_licence_type_counts_from_zero_and_each_type_is_reported():
    replan = replan_fast_change([target(3, "Basic"), target(5)], {PREMIUM: 5}, TODAY)
    assert replan.lines == [licence(+3, "Basic")]
    assert replan.changes == ["Basic 0 → 3", "Premium already 5: nothing to change"]
