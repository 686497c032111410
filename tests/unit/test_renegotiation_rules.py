"""The renegotiation rules on their boundaries: the close date, the signing
deadline and its reminder, the delivery start, the routing of a reduction and the 36 months."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from domain.errors import Refused
from domain.renegotiation import (
    BUSINESS_TZ,
    ContractLine,
    add_months,
    business_date,
    change_of,
    close_date,
    credits_sales,
    delivery_start,
    extended_deadline,
    next_signing_event,
    percent,
    reduction_share,
    reminder_at,
    renegotiated_lines,
    route_reduction,
    sales_credit_ends,
    signing_closes_at,
    signing_deadline,
)
from domain.renegotiation_models import Change, Route

# --- close date: two days ahead, never past the last day of the current month --------------


@pytest.mark.parametrize(
    "today, expected",
    [
        (date(2026, 3, 10), date(2026, 3, 12)),  # mid-month: two days ahead
        (date(2026, 3, 29), date(2026, 3, 31)),  # lands exactly on the month's last day
        (date(2026, 3, 30), date(2026, 3, 31)),  # would be 1 April: clamped
        (date(2026, 3, 31), date(2026, 3, 31)),  # the last day itself: today
        (date(2026, 4, 29), date(2026, 4, 30)),  # a 30-day month
        (date(2026, 4, 30), date(2026, 4, 30)),
        (date(2026, 2, 26), date(2026, 2, 28)),  # February, common year
        (date(2026, 2, 27), date(2026, 2, 28)),
        (date(2026, 2, 28), date(2026, 2, 28)),
        (date(2028, 2, 27), date(2028, 2, 29)),  # February, leap year: the 29th exists
        (date(2028, 2, 28), date(2028, 2, 29)),
        (date(2028, 2, 29), date(2028, 2, 29)),
        (date(2026, 12, 29), date(2026, 12, 31)),  # December 31 ends the year too
        (date(2026, 12, 30), date(2026, 12, 31)),
        (date(2026, 12, 31), date(2026, 12, 31)),
        (date(2027, 1, 1), date(2027, 1, 3)),
    ],
)
def test_close_date_is_two_days_ahead_within_the_current_month(today, expected):
    assert close_date(today) == expected


def test_business_date_is_the_date_in_oslo():
    # 23:30 UTC on 31 January is already 1 February in Oslo (winter, UTC+1): a deal created
    # then belongs to February.
    assert business_date(datetime(2026, 1, 31, 23, 30, tzinfo=UTC)) == date(2026, 2, 1)
    assert business_date(datetime(2026, 1, 31, 22, 59, tzinfo=UTC)) == date(2026, 1, 31)
    # summer time (UTC+2)
    assert business_date(datetime(2026, 6, 30, 22, 0, tzinfo=UTC)) == date(2026, 7, 1)


# --- signing deadline, reminder, extension --------------------------------------------------


def test_signing_deadline_is_one_week_ahead_across_month_and_year_ends():
    assert signing_deadline(date(2026, 3, 10)) == date(2026, 3, 17)
    assert signing_deadline(date(2026, 2, 25)) == date(2026, 3, 4)
    assert signing_deadline(date(2028, 2, 25)) == date(2028, 3, 3)
    assert signing_deadline(date(2026, 12, 28)) == date(2027, 1, 4)


def test_signing_closes_at_midnight_after_the_deadline_day_in_oslo():
    closes = signing_closes_at(date(2026, 3, 17))
    assert closes == datetime(2026, 3, 17, 23, 0, tzinfo=UTC)  # winter: UTC+1
    assert signing_closes_at(date(2026, 7, 1)) == datetime(2026, 7, 1, 22, 0, tzinfo=UTC)


def test_the_reminder_goes_out_two_days_before_the_deadline_in_the_morning():
    assert reminder_at(date(2026, 3, 17)) == datetime(2026, 3, 15, 9, 0, tzinfo=BUSINESS_TZ)


def test_next_signing_event_reminds_once_then_expires():
    deadline = date(2026, 3, 17)
    sent = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    assert next_signing_event(sent, deadline, reminded=False) == ("reminder", reminder_at(deadline))
    assert next_signing_event(reminder_at(deadline), deadline, reminded=True) == (
        "expiry",
        signing_closes_at(deadline),
    )
    # the reminder's moment itself is no longer "before" it: straight to the deadline
    assert next_signing_event(reminder_at(deadline), deadline, reminded=False)[0] == "expiry"


def test_after_a_short_extension_there_is_no_reminder_in_the_past():
    deadline = date(2026, 3, 18)  # extended by one day on the 17th
    now = datetime(2026, 3, 17, 9, 0, tzinfo=UTC)
    assert next_signing_event(now, deadline, reminded=False) == (
        "expiry",
        signing_closes_at(deadline),
    )


def test_an_extension_counts_from_the_deadline_or_from_today_once_it_has_passed():
    assert extended_deadline(date(2026, 3, 17), date(2026, 3, 15), 7) == date(2026, 3, 24)
    assert extended_deadline(date(2026, 3, 17), date(2026, 3, 17), 7) == date(2026, 3, 24)
    assert extended_deadline(date(2026, 3, 17), date(2026, 3, 20), 7) == date(2026, 3, 27)
    assert extended_deadline(date(2026, 12, 31), date(2027, 1, 1), 1) == date(2027, 1, 2)


@pytest.mark.parametrize("days", [0, -1, 31])
def test_an_extension_is_1_to_30_days(days):
    with pytest.raises(Refused, match="1 to 30 days"):
        extended_deadline(date(2026, 3, 17), date(2026, 3, 17), days)


def test_delivery_start_is_the_day_sent_unless_another_start_was_agreed():
    assert delivery_start(date(2026, 3, 10), None) == date(2026, 3, 10)
    assert delivery_start(date(2026, 3, 10), date(2026, 4, 1)) == date(2026, 4, 1)


# --- routing of a reduction -----------------------------------------------------------------


@pytest.mark.parametrize(
    "before, after, route",
    [
        # under 10 licences before the change: invoice service, however large the reduction
        (9, 8, Route.INVOICE_SERVICE),
        (9, 1, Route.INVOICE_SERVICE),
        # 10 is "10 or more": the 20 % rule applies
        (10, 9, Route.INVOICE_SERVICE),  # 10 %
        (10, 8, Route.CSC),  # 20 % exactly: not "under 20 %"
        (10, 1, Route.CSC),
        (11, 9, Route.INVOICE_SERVICE),  # 18.2 %
        (11, 8, Route.CSC),  # 27.3 %
        # the 20 % boundary, exactly
        (1000, 801, Route.INVOICE_SERVICE),  # 19.9 %
        (1000, 800, Route.CSC),  # 20.0 %
        (1000, 799, Route.CSC),  # 20.1 %
        # no reduction, nothing to route
        (10, 10, None),
        (9, 12, None),
    ],
)
def test_route_of_a_reduction(before, after, route):
    assert route_reduction(before, after) is route


def test_fewer_than_10_counts_the_licences_before_the_change():
    # 12 -> 9: after the change it is under 10, but the agreement reduced had 12 (25 %): CSC
    assert route_reduction(12, 9) is Route.CSC


def test_reduction_share_is_exact_and_reads_with_one_decimal():
    assert reduction_share(1000, 801) == Fraction(199, 1000)
    assert percent(reduction_share(1000, 801)) == "19.9 %"
    assert percent(reduction_share(1000, 800)) == "20.0 %"
    assert percent(reduction_share(1000, 799)) == "20.1 %"
    assert reduction_share(10, 12) == 0


def test_change_of_the_licence_count():
    assert change_of(10, 9) is Change.REDUCTION
    assert change_of(10, 11) is Change.INCREASE
    assert change_of(10, 10) is Change.PRICE_ONLY


# --- the 36 months of a sales credit --------------------------------------------------------


@pytest.mark.parametrize(
    "day, months, expected",
    [
        (date(2023, 1, 15), 36, date(2026, 1, 15)),
        (date(2023, 1, 31), 1, date(2023, 2, 28)),  # no 31 February: its last day
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year
        (date(2024, 2, 29), 36, date(2027, 2, 28)),  # from a leap day to a common year
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2021, 2, 28), 36, date(2024, 2, 28)),  # the 28th stays the 28th in a leap year
        (date(2023, 12, 31), 36, date(2026, 12, 31)),
        (date(2023, 3, 31), 36, date(2026, 3, 31)),
        (date(2023, 5, 31), 1, date(2023, 6, 30)),
        (date(2023, 11, 30), 3, date(2024, 2, 29)),
        (date(2026, 3, 15), -36, date(2023, 3, 15)),
    ],
)
def test_add_months(day, months, expected):
    assert add_months(day, months) == expected


@pytest.mark.parametrize(
    "signed, renegotiated, credited",
    [
        (date(2023, 6, 15), date(2026, 6, 14), True),  # the day before 36 months
        (date(2023, 6, 15), date(2026, 6, 15), False),  # exactly 36 months: not "under 36"
        (date(2023, 6, 15), date(2026, 6, 16), False),
        (date(2023, 1, 31), date(2026, 1, 30), True),  # month end
        (date(2023, 1, 31), date(2026, 1, 31), False),
        (date(2024, 2, 29), date(2027, 2, 27), True),  # leap day: 36 months end on 28 Feb
        (date(2024, 2, 29), date(2027, 2, 28), False),
        (date(2023, 12, 31), date(2026, 12, 30), True),  # December 31
        (date(2023, 12, 31), date(2026, 12, 31), False),
        (date(2026, 1, 10), date(2026, 1, 10), True),  # on the day of signing itself
    ],
)
def test_an_increase_credits_sales_under_36_months_after_the_original_signing(
    signed, renegotiated, credited
):
    assert credits_sales(signed, renegotiated, before=10, after=12) is credited


def test_only_an_increase_credits_sales():
    signed, today = date(2025, 6, 1), date(2026, 1, 1)
    assert credits_sales(signed, today, before=10, after=11)
    assert not credits_sales(signed, today, before=10, after=10)  # new price only
    assert not credits_sales(signed, today, before=10, after=9)


def test_sales_credit_ends_36_months_after_signing():
    assert sales_credit_ends(date(2024, 2, 29)) == date(2027, 2, 28)
    assert sales_credit_ends(date(2023, 1, 31)) - timedelta(days=1) == date(2026, 1, 30)


# --- the contract's lines -------------------------------------------------------------------


def test_contract_lines_keep_the_original_but_price_count_and_onboarding_discount():
    original = [
        ContractLine(
            kind="licence",
            product="Avonova Assist",
            quantity=15,
            unit_price=Decimal("500"),
            discount_percent=Decimal(10),
        ),
        ContractLine(
            kind="onboarding", product="Digital oppstart", quantity=1, unit_price=Decimal("4900")
        ),
        ContractLine(
            kind="other",
            product="HMS-rådgivning",
            quantity=2,
            unit_price=Decimal("1200"),
            discount_percent=Decimal(5),
        ),
    ]
    lines = renegotiated_lines(original, 12, Decimal("450"))
    assert [
        (ln.kind, ln.product, ln.quantity, ln.unit_price, ln.discount_percent) for ln in lines
    ] == [
        ("licence", "Avonova Assist", 12, Decimal("450"), 0),
        ("onboarding", "Digital oppstart", 1, Decimal("4900"), 100),
        ("other", "HMS-rådgivning", 2, Decimal("1200"), 5),
    ]


def test_contract_lines_add_the_licence_and_onboarding_lines_the_original_lacked():
    lines = renegotiated_lines([], 3, Decimal("99.50"))
    assert [
        (ln.kind, ln.product, ln.quantity, ln.unit_price, ln.discount_percent) for ln in lines
    ] == [
        ("licence", "Avonova Assist", 3, Decimal("99.50"), 0),
        ("onboarding", "Digital oppstart", 1, 0, 100),
    ]
