"""The starter's "same request, same day" process id follows the family's business day."""

from datetime import UTC, datetime

from cli.forms import same_day_ref
from domain.business_time import Family


def ref(family: Family, at: datetime) -> str:
    return same_day_ref("fast-change-order", "ACME", family=family, now=at)


def test_half_past_eleven_utc_in_winter_is_already_the_next_berlin_day():
    late = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)  # 00:30 on the 16th in Berlin
    assert ref(Family.CHANGE_ORDERS, late) == ref(
        Family.CHANGE_ORDERS, datetime(2026, 1, 16, 10, 0, tzinfo=UTC)
    )
    assert ref(Family.CHANGE_ORDERS, late) != ref(
        Family.CHANGE_ORDERS, datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    )


def test_another_business_day_is_another_request():
    assert ref(Family.CLASSOUND, datetime(2026, 7, 1, 12, tzinfo=UTC)) != ref(
        Family.CLASSOUND, datetime(2026, 7, 2, 12, tzinfo=UTC)
    )
