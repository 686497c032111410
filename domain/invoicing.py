"""Invoicing: invoice-numbering settings (prefix, next number,
format) that staff review before the first invoicing run, the invoice number itself, and
which contracts a monthly run bills.

Numbers are one continuous sequence per partner: gapless and never reused. The format only
decides how a number is written; `{year}` in it does not restart the sequence each year
(restarting would reuse numbers as soon as the format changed)."""

import calendar
import re
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from domain.errors import Refused

DEFAULT_PREFIX = "INV-"
DEFAULT_FORMAT = "{prefix}{number:06}"
MAX_NEXT_NUMBER = 999_999_999
MAX_PREFIX = 12
MAX_NUMBER_LENGTH = 32  # what accounting software and bank references take comfortably

TOKEN = re.compile(r"\{(prefix|year|month|number)(?::(0?\d{1,2}))?\}")
LITERAL = re.compile(r"[A-Za-z0-9/_.\-]*")


class NumberingSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    prefix: str = DEFAULT_PREFIX
    next_number: int = 1
    format: str = DEFAULT_FORMAT
    confirmed_by: str | None = None
    confirmed_at: datetime | None = None
    first_number: int | None = None  # fixed by the review; next_number moves on from it

    @property
    def reviewed(self) -> bool:
        return self.confirmed_at is not None

    @property
    def reviewed_first_number(self) -> int:
        """What the review set as the next number (older saved settings lack it)."""
        return self.next_number if self.first_number is None else self.first_number

    def words(self) -> str:
        return (
            f"prefix {self.prefix!r}, first number {self.reviewed_first_number}, format "
            f"{self.format}"
        )


# One review per partner: every run of the partner uses it. A run waiting for the review
# re-reads the partner's numbering on a durable timer (1, 2, 4 ... 32 minutes, then
# hourly: about 11 history events a poll, some 260 a waiting day), so a review done on
# another run reaches it without anyone sending it a step; a step sent to it reads the
# numbering at once.
REVIEW_POLL_FIRST = timedelta(minutes=1)
REVIEW_POLL_MAX = timedelta(hours=1)


def review_poll_after(polls: int) -> timedelta:
    """How long a waiting run waits before reading the numbering for the (polls+1)th time."""
    return min(REVIEW_POLL_FIRST * 2 ** min(polls, 16), REVIEW_POLL_MAX)


def review_conflicts(
    reviewed: NumberingSettings, prefix: str, next_number: int, fmt: str
) -> list[str]:
    """How a second review differs from the one that fixed the settings; none: the same
    review again."""
    conflicts = []
    if prefix != reviewed.prefix:
        conflicts.append(f"prefix {prefix!r} (reviewed: {reviewed.prefix!r})")
    if next_number != reviewed.reviewed_first_number:
        conflicts.append(f"first number {next_number} (reviewed: {reviewed.reviewed_first_number})")
    if fmt != reviewed.format:
        conflicts.append(f"format {fmt} (reviewed: {reviewed.format})")
    return conflicts


def review_refusal(partner_id: str, reviewed: NumberingSettings, conflicts: list[str]) -> str:
    when = f" on {reviewed.confirmed_at:%Y-%m-%d}" if reviewed.confirmed_at else ""
    return (
        f"the invoice numbering of {partner_id} was already reviewed by "
        f"{reviewed.confirmed_by}{when} ({reviewed.words()}) and never changes once "
        f"reviewed; this review differs: {'; '.join(conflicts)}. Every run of "
        f"{partner_id} issues with the reviewed settings"
    )


def numbering_problems(prefix: str, next_number: int, fmt: str) -> list[str]:
    """Every bad setting, each named once; empty when the settings can be confirmed."""
    problems = []
    if len(prefix) > MAX_PREFIX or not LITERAL.fullmatch(prefix):
        problems.append(f"prefix: at most {MAX_PREFIX} letters, digits or / _ . -")
    if not 1 <= next_number <= MAX_NEXT_NUMBER:
        problems.append(f"next number: from 1 to {MAX_NEXT_NUMBER}")
    tokens = TOKEN.findall(fmt)
    numbers = [width for name, width in tokens if name == "number"]
    if len(numbers) != 1:
        problems.append(
            "format: must contain {number} (or {number:06} for leading zeros) exactly once"
        )
    if any(width and name != "number" for name, width in tokens):
        problems.append("format: only {number} takes a width")
    if numbers and numbers[0] and not 1 <= int(numbers[0]) <= 12:
        problems.append("format: the width of {number} is 1 to 12 digits")
    literal = TOKEN.sub("", fmt)
    if "{" in literal or "}" in literal:
        problems.append("format: the placeholders are {prefix}, {year}, {month} and {number}")
    elif not LITERAL.fullmatch(literal):
        problems.append("format: besides the placeholders only letters, digits and / _ . -")
    if not problems:
        longest = render(prefix, fmt, MAX_NEXT_NUMBER, date(2000, 12, 1))
        if len(longest) > MAX_NUMBER_LENGTH:
            problems.append(
                f"format: numbers would grow to {len(longest)} characters; keep "
                f"them within {MAX_NUMBER_LENGTH}"
            )
    return problems


def render(prefix: str, fmt: str, number: int, period: date) -> str:
    def token(m: re.Match) -> str:
        name, width = m.group(1), m.group(2)
        if name == "prefix":
            return prefix
        if name == "year":
            return f"{period.year:04d}"
        if name == "month":
            return f"{period.month:02d}"
        return str(number).zfill(int(width)) if width else str(number)

    return TOKEN.sub(token, fmt)


def invoice_number(settings: NumberingSettings, number: int, period: date) -> str:
    """The invoice number as printed, for sequence number `number` in `period`."""
    return render(settings.prefix, settings.format, number, period)


# --- periods --------------------------------------------------------------------------------


def parse_period(text: str) -> date:
    """ "2026-11" -> 2026-11-01: an invoicing period is a calendar month."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or not 2000 <= int(m.group(1)) <= 2999:
        raise Refused(f"period {text!r}: give a month as YYYY-MM, e.g. 2026-11")
    return date(int(m.group(1)), int(m.group(2)), 1)


def period_label(first_day: date) -> str:
    return f"{first_day:%Y-%m}"


def last_day(first_day: date) -> date:
    return first_day.replace(day=calendar.monthrange(first_day.year, first_day.month)[1])


def billed_in(first_day: date, start: date, end: date | None) -> bool:
    """A contract is billed for a whole month when it runs on any day of it (no proration:
    our choice, see docs/processes.md "Process rules")."""
    return start <= last_day(first_day) and (end is None or end >= first_day)
