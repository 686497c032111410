"""Rules of the partner portal's login (login attempts are rate-limited and locked out after
repeated failures), without I/O. The attempts themselves are rows in
PostgreSQL (store/portal.py), so every portal process applies these rules to the same facts.

- **Lockout**: 5 failed logins of one user id within 15 minutes (none succeeding in between)
  lock that user id for 15 minutes from the 5th failure. While locked, attempts are refused
  before the password is even checked and are not counted, so a locked account cannot be
  locked for longer by guessing on, and its owner is back in after 15 minutes.
- **Rate limit per client**: at most 20 attempts per minute from one address, whatever the
  user ids (guessing many accounts at once).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
CLIENT_LIMIT = 20
CLIENT_WINDOW = timedelta(minutes=1)
# How far back the store reads: enough for any failure that can still lock.
LOOKBACK = FAILURE_WINDOW + LOCKOUT


@dataclass(frozen=True)
class Attempt:
    succeeded: bool
    at: datetime


def locked_until(attempts: list[Attempt], now: datetime) -> datetime | None:
    """When the user's lock ends, or None when not locked. `attempts`: the user's attempts of
    the last LOOKBACK, in any order."""
    failures: list[datetime] = []
    for a in sorted(attempts, key=lambda a: a.at, reverse=True):
        if a.succeeded:
            break
        failures.append(a.at)
        if len(failures) == MAX_FAILURES:
            break
    if len(failures) < MAX_FAILURES:
        return None
    newest, oldest = failures[0], failures[-1]
    if newest - oldest >= FAILURE_WINDOW:
        return None
    until = newest + LOCKOUT
    return until if until > now else None


def client_throttled(attempts_in_window: int) -> bool:
    """Too many attempts from one address in the last CLIENT_WINDOW."""
    return attempts_in_window >= CLIENT_LIMIT


def minutes_left(until: datetime, now: datetime) -> int:
    """Whole minutes to wait, at least 1 (said to the user)."""
    seconds = (until - now).total_seconds()
    return max(1, int(-(-seconds // 60)))
