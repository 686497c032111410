"""The portal's login lockout and rate limit, as rules over the recorded attempts."""

from datetime import UTC, datetime, timedelta

from domain.portal import (
    CLIENT_LIMIT,
    LOCKOUT,
    MAX_FAILURES,
    Attempt,
    client_throttled,
    locked_until,
    minutes_left,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def failures(n: int, every: timedelta = timedelta(seconds=10), end: datetime = NOW):
    return [Attempt(False, end - every * i) for i in range(n)]


def test_five_failures_in_a_row_lock_for_fifteen_minutes_from_the_fifth():
    assert locked_until(failures(MAX_FAILURES - 1), NOW) is None
    assert locked_until(failures(MAX_FAILURES), NOW) == NOW + LOCKOUT
    assert locked_until(failures(MAX_FAILURES), NOW + LOCKOUT) is None  # over: back in


def test_a_success_in_between_starts_the_count_again():
    attempts = (
        failures(3)
        + [Attempt(True, NOW - timedelta(minutes=1))]
        + failures(3, end=NOW - timedelta(minutes=2))
    )
    assert locked_until(attempts, NOW) is None


def test_failures_spread_over_more_than_the_window_do_not_lock():
    assert locked_until(failures(MAX_FAILURES, every=timedelta(minutes=4)), NOW) is None


def test_after_a_lockout_the_next_failure_does_not_lock_again_at_once():
    old = failures(MAX_FAILURES, end=NOW - LOCKOUT - timedelta(seconds=1))
    assert locked_until(old + [Attempt(False, NOW)], NOW) is None


def test_the_client_limit():
    assert not client_throttled(CLIENT_LIMIT - 1)
    assert client_throttled(CLIENT_LIMIT)


def test_minutes_left_rounds_up_and_is_never_zero():
    assert minutes_left(NOW + timedelta(seconds=61), NOW) == 2
    assert minutes_left(NOW + timedelta(seconds=1), NOW) == 1
    assert minutes_left(NOW, NOW) == 1
