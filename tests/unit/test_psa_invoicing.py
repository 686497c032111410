"""Invoice-numbering settings, invoice numbers, invoicing periods."""

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.errors import Refused
from domain.invoicing import (
    MAX_NEXT_NUMBER,
    NumberingSettings,
    billed_in,
    invoice_number,
    last_day,
    numbering_problems,
    parse_period,
    period_label,
    review_conflicts,
    review_poll_after,
    review_refusal,
)

NOV = date(2026, 11, 1)


def test_the_defaults_offered_for_review_are_valid_and_unreviewed():
    s = NumberingSettings()
    assert numbering_problems(s.prefix, s.next_number, s.format) == []
    assert not s.reviewed
    assert invoice_number(s, 1, NOV) == "INV-000001"


@pytest.mark.parametrize(
    ("prefix", "fmt", "number", "expected"),
    [
        ("RE-", "{prefix}{year}-{number:05}", 42, "RE-2026-00042"),
        ("RE-", "{prefix}{year}-{number:5}", 42, "RE-2026-00042"),
        ("", "{year}{month}/{number}", 7, "202611/7"),
        ("AB", "{prefix}{number:03}", 123456, "AB123456"),  # the width is a minimum
        ("X.", "{number}-{prefix}", 9, "9-X."),
    ],
)
def test_invoice_numbers_follow_the_format(prefix, fmt, number, expected):
    s = NumberingSettings(prefix=prefix, format=fmt)
    assert numbering_problems(prefix, 1, fmt) == []
    assert invoice_number(s, number, NOV) == expected


@pytest.mark.parametrize(
    ("fmt", "problem"),
    [
        ("{prefix}", "must contain {number}"),
        ("{number}{number}", "must contain {number}"),
        ("{prefix:03}{number}", "only {number} takes a width"),
        ("{number:13}", "width of {number} is 1 to 12"),
        ("{prefix}{day}{number}", "the placeholders are"),
        ("{prefix} {number}", "besides the placeholders only"),
        ("INV#{number}", "besides the placeholders only"),
        ("{prefix}{year}{month}{number:12}-ABCDEFGHIJKL", "grow to"),
    ],
)
def test_bad_formats_say_what_is_wrong(fmt, problem):
    problems = numbering_problems("INV-", 1, fmt)
    assert len(problems) >= 1 and problem in problems[0], problems


@pytest.mark.parametrize(
    ("prefix", "ok"),
    [
        ("", True),
        ("RE/2026-", True),
        ("A" * 12, True),
        ("A" * 13, False),
        ("RE 1", False),
        ("RÉ", False),
    ],
)
def test_prefix_is_short_and_plain(prefix, ok):
    assert (numbering_problems(prefix, 1, "{prefix}{number}") == []) is ok


@pytest.mark.parametrize(
    ("n", "ok"),
    [(0, False), (1, True), (MAX_NEXT_NUMBER, True), (MAX_NEXT_NUMBER + 1, False), (-5, False)],
)
def test_next_number_bounds(n, ok):
    assert (numbering_problems("INV-", n, "{prefix}{number}") == []) is ok


def test_every_bad_setting_is_named():
    problems = numbering_problems("bad prefix", 0, "{prefix}")
    assert [p.split(":")[0] for p in problems] == ["prefix", "next number", "format"]


def test_periods_are_calendar_months():
    assert parse_period("2026-11") == NOV
    assert period_label(NOV) == "2026-11"
    assert last_day(date(2028, 2, 1)) == date(2028, 2, 29)
    for bad in ("2026-13", "2026-1", "11/2026", "1999-12", ""):
        with pytest.raises(Refused):
            parse_period(bad)


@pytest.mark.parametrize(
    ("start", "end", "billed"),
    [
        (date(2026, 11, 30), None, True),  # starts on the last day: whole month
        (date(2026, 12, 1), None, False),  # starts after it
        (date(2025, 1, 1), date(2026, 11, 1), True),  # ends on the first day
        (date(2025, 1, 1), date(2026, 10, 31), False),
        (date(2025, 1, 1), None, True),
    ],
)
def test_a_contract_is_billed_for_every_month_it_runs_on_any_day(start, end, billed):
    assert billed_in(NOV, start, end) is billed


# --- one review per partner -----------------------------------------------------------------

REVIEWED = NumberingSettings(
    prefix="RE-",
    next_number=1003,
    first_number=1000,
    format="{prefix}{number:05}",
    confirmed_by="anna",
    confirmed_at=datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
)


def test_the_same_review_again_has_no_conflict_though_the_counter_moved_on():
    assert review_conflicts(REVIEWED, "RE-", 1000, "{prefix}{number:05}") == []


def test_a_different_review_names_each_difference():
    conflicts = review_conflicts(REVIEWED, "INV-", 1, "{prefix}{number:05}")
    assert conflicts == ["prefix 'INV-' (reviewed: 'RE-')", "first number 1 (reviewed: 1000)"]
    assert review_refusal("P-NORDTEL", REVIEWED, conflicts) == (
        "the invoice numbering of P-NORDTEL was already reviewed by anna on 2026-12-02 "
        "(prefix 'RE-', first number 1000, format {prefix}{number:05}) and never changes once "
        "reviewed; this review differs: prefix 'INV-' (reviewed: 'RE-'); first number 1 "
        "(reviewed: 1000). Every run of P-NORDTEL issues with the reviewed settings"
    )


def test_settings_reviewed_before_the_first_number_was_kept_compare_the_next_number():
    old = REVIEWED.model_copy(update={"first_number": None, "next_number": 1000})
    assert review_conflicts(old, "RE-", 1000, "{prefix}{number:05}") == []


def test_a_waiting_run_looks_soon_then_hourly():
    waits = [review_poll_after(n) for n in range(9)]
    assert waits[:7] == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60)]
    assert set(waits[6:]) == {timedelta(hours=1)}
    assert review_poll_after(10_000) == timedelta(hours=1)  # no overflow on long waits
