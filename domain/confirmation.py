"""How long an order waits for its partner's "Bestellung bestätigen" (our choice, see
docs/processes.md "Process rules"): a reminder every 2 days, the order expires after 10 days."""

from datetime import datetime, timedelta
from typing import Literal

REMINDER_EVERY = timedelta(days=2)
EXPIRES_AFTER = timedelta(days=10)


def next_confirmation_event(
    waiting_since: datetime, reminders_sent: int
) -> tuple[Literal["reminder", "expiry"], datetime]:
    """The next thing that happens to an unconfirmed order, and when."""
    expiry = waiting_since + EXPIRES_AFTER
    reminder = waiting_since + REMINDER_EVERY * (reminders_sent + 1)
    if reminder < expiry:
        return "reminder", reminder
    return "expiry", expiry
