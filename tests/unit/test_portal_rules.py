"""The portal's login rules over the recorded attempts: a backoff per (user, address) that
slows the guesser and no one else, and a per-address limit that ends within a minute."""

from datetime import UTC, datetime, timedelta

from domain.portal import (
    CLIENT_LIMIT,
    FREE_FAILURES,
    MAX_BACKOFF,
    Attempt,
    backoff,
    client_throttled,
    seconds_left,
    wait_until,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def failures(n: int, every: timedelta = timedelta(seconds=10), end: datetime = NOW):
    return [Attempt(False, end - every * i) for i in range(n)]


def test_the_first_failures_are_free_then_each_one_doubles_the_wait():
    assert wait_until(failures(FREE_FAILURES - 1, timedelta(0)), NOW) is None
    assert [backoff(FREE_FAILURES + i).total_seconds() for i in range(4)] == [30, 60, 120, 240]
    assert wait_until(failures(FREE_FAILURES + 2, timedelta(0)), NOW) == NOW + timedelta(
        seconds=120
    )


def test_the_wait_is_capped_so_no_pair_waits_for_ever():
    assert backoff(10_000) == MAX_BACKOFF
    newest = NOW - MAX_BACKOFF
    assert wait_until(failures(500, end=newest), NOW) is None


def test_a_success_in_between_starts_the_count_again():
    attempts = failures(FREE_FAILURES + 5, end=NOW - timedelta(minutes=1)) + [
        Attempt(True, NOW - timedelta(seconds=30))
    ]
    assert wait_until(attempts, NOW) is None


def test_no_lockout_only_a_wait_that_ends():
    many = failures(40, timedelta(seconds=1))
    until = wait_until(many, NOW)
    assert until is not None and until <= NOW + MAX_BACKOFF
    assert wait_until(many, until) is None


def test_the_address_limit_counts_attempts_of_the_window():
    assert not client_throttled(CLIENT_LIMIT - 1)
    assert client_throttled(CLIENT_LIMIT)


def test_seconds_left_rounds_up_and_is_at_least_one():
    assert seconds_left(NOW + timedelta(milliseconds=10), NOW) == 1
    assert seconds_left(NOW + timedelta(seconds=61, milliseconds=1), NOW) == 62
