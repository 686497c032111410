"""Waiting for the partner's confirmation (domain/confirmation.py): a reminder every 2 days,
expiry after 10 days; a reminder that would fall on the expiry day is not sent."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.confirmation import EXPIRES_AFTER, REMINDER_EVERY, next_confirmation_event

SINCE = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def test_rule_constants():
    assert REMINDER_EVERY == timedelta(days=2)
    assert EXPIRES_AFTER == timedelta(days=10)


@pytest.mark.parametrize(("reminders_sent", "day"), [(0, 2), (1, 4), (2, 6), (3, 8)])
def test_reminders_fall_every_second_day_before_expiry(reminders_sent, day):
    assert next_confirmation_event(SINCE, reminders_sent) == (
        "reminder",
        SINCE + timedelta(days=day),
    )


def test_expiry_wins_over_a_reminder_due_on_the_same_day():
    # the fifth reminder would be due on day 10, exactly when the order expires
    assert next_confirmation_event(SINCE, 4) == ("expiry", SINCE + timedelta(days=10))


@pytest.mark.parametrize("reminders_sent", [5, 6, 50])
def test_expiry_stays_at_day_10_however_many_reminders_were_sent(reminders_sent):
    assert next_confirmation_event(SINCE, reminders_sent) == ("expiry", SINCE + timedelta(days=10))


def test_exactly_four_reminders_are_sent_before_expiry():
    events = []
    sent = 0
    while True:
        kind, at = next_confirmation_event(SINCE, sent)
        events.append((kind, (at - SINCE).days))
        if kind == "expiry":
            break
        sent += 1
    assert events == [
        ("reminder", 2),
        ("reminder", 4),
        ("reminder", 6),
        ("reminder", 8),
        ("expiry", 10),
    ]


def test_times_keep_the_time_of_day_and_zone_of_waiting_since():
    kind, at = next_confirmation_event(SINCE, 0)
    assert (at.hour, at.minute, at.tzinfo) == (9, 30, UTC)


def test_naive_datetimes_are_handled_the_same_way():
    naive = datetime(2026, 11, 23, 0, 0)
    assert next_confirmation_event(naive, 0) == ("reminder", datetime(2026, 11, 25))
    assert next_confirmation_event(naive, 4) == ("expiry", datetime(2026, 12, 3))
