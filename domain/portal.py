"""Rules of the partner portal's doors (login, first login, a link for a forgotten password),
without I/O. The attempts themselves are rows in PostgreSQL (store/logins.py), so every portal
process applies these rules to the same facts.

Nobody can be kept out by someone who only knows their user id, so there is no lockout of a
user as such:
- **Backoff per (user, address)**: the first FREE_FAILURES failures of a user id from one
  address cost nothing; each further one makes that pair wait twice as long as the last
  (30 s, 1 min, 2 min, ... at most MAX_BACKOFF), until a success from there. Attempts while
  waiting are refused unchecked and not counted, so a guesser slows only itself; the owner,
  from another address (or another browser behind the same address, see `client_key`),
  logs in as always.
- **Rate limit per address**: at most CLIENT_LIMIT attempts per CLIENT_WINDOW from one
  address, whatever the user ids (guessing many accounts at once). Refused attempts are not
  counted, so a burst from one address stops the others behind it (a proxy, an office) for at
  most one CLIENT_WINDOW.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

FREE_FAILURES = 3
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(minutes=15)
CLIENT_LIMIT = 20
CLIENT_WINDOW = timedelta(minutes=1)
# How far back the store reads failures of a pair: the longest backoff, twice over.
LOOKBACK = timedelta(days=1)


@dataclass(frozen=True)
class Attempt:
    succeeded: bool
    at: datetime


def backoff(failures: int) -> timedelta:
    """How long a (user, address) pair waits after its `failures`-th failure in a row."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    # capped before the power grows without bound (a pair may fail for a whole day)
    steps = min(failures - FREE_FAILURES, 10)
    return min(FIRST_BACKOFF * (2**steps), MAX_BACKOFF)


def wait_until(attempts: list[Attempt], now: datetime) -> datetime | None:
    """Until when a (user, address) pair must wait, or None. `attempts`: that pair's
    attempts of the last LOOKBACK, in any order."""
    failures: list[datetime] = []
    for a in sorted(attempts, key=lambda a: a.at, reverse=True):
        if a.succeeded:
            break
        failures.append(a.at)
    if not failures:
        return None
    until = failures[0] + backoff(len(failures))
    return until if until > now else None


def client_throttled(attempts_in_window: int) -> bool:
    """Too many attempts from one address in the last CLIENT_WINDOW."""
    return attempts_in_window >= CLIENT_LIMIT


def seconds_left(until: datetime, now: datetime) -> int:
    """Whole seconds to wait, at least 1 (said to the user)."""
    seconds = (until - now).total_seconds()
    return max(1, int(-(-seconds // 1)))
