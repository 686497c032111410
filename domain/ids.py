"""The forms of the ids and numbers people type, checked at the edge (the starter) before
anything is sent: a bad id never becomes a workflow id, a search attribute or a row.

Each form has a pattern and words a person can act on ("use letters, digits and - (at most
40), e.g. ACME"). `checked(form, option, text)` returns the text or raises IdError naming the
option; cli/common.py turns these into argparse types (exit 2, nothing sent)."""

import re
from dataclasses import dataclass


class IdError(ValueError):
    pass


@dataclass(frozen=True)
class Form:
    pattern: str
    words: str
    example: str

    def matches(self, text: str) -> bool:
        # ASCII only and no newline: `re.fullmatch` with `$` would accept a trailing "\n".
        return text.isascii() and re.fullmatch(self.pattern, text) is not None


# Business records: accounts (companies), PBXs, partners, contacts, contracts, quotes, refs.
CODE = Form(r"[A-Za-z0-9][A-Za-z0-9-]{0,39}", "letters, digits and - (at most 40)", "ACME")
# People: staff ($USER), channel managers, partner users (contact ids).
USER = Form(
    r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", "letters, digits, '.', '_' and - (at most 64)", "cm-eva"
)
# Lead queues, leads and opportunities (the lead process's own form, domain/leads.py).
NAME = Form(
    r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", "letters, digits, '.', '_' and - (at most 64)", "fair-2026"
)
# Process ids as `list` shows them (kind-account-ref and the like).
PROCESS = Form(
    r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}",
    "letters, digits, '.', '_' and - (at most 200)",
    "fast-change-order-ACME-1a2b3c4d",
)
# --request-id: any token a script makes up, e.g. a UUID.
REQUEST = Form(
    r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}",
    "letters, digits, '.', '_', ':' and - (at most 100)",
    "retry-7f3a",
)
# Quote ids (quote-<ref>-v<n>).
QUOTE = Form(
    r"[A-Za-z0-9][A-Za-z0-9-]{0,79}", "letters, digits and - (at most 80)", "quote-1a2b3c4d-v2"
)

FORMS = {
    "code": CODE,
    "user": USER,
    "name": NAME,
    "process": PROCESS,
    "request": REQUEST,
    "quote": QUOTE,
}

# PostgreSQL bigint: record numbers (tickets, time entries, sales items).
BIGINT_MAX = 2**63 - 1


def expected(form: Form) -> str:
    return f"use {form.words}, e.g. {form.example}"


def checked(form: Form, text: str, option: str | None = None) -> str:
    """The text if it has the form; else IdError naming the option and the expected form."""
    if not form.matches(text):
        raise IdError(_named(option, expected(form)))
    return text


def number(text: str, low: int, high: int, option: str | None = None) -> int:
    """A whole number in [low, high] (PostgreSQL's integer columns overflow otherwise: an
    int64 DataError in an activity); the message states the range."""
    stripped = text.strip()
    if not stripped.isascii() or not re.fullmatch(r"[+-]?[0-9]{1,30}", stripped):
        raise IdError(
            _named(option, f"give a whole number from {low} to {high}, not {shown(text)}")
        )
    value = int(stripped)
    if not low <= value <= high:
        raise IdError(_named(option, f"give a whole number from {low} to {high}"))
    return value


def _named(option: str | None, message: str) -> str:
    return f"{option}: {message}" if option else message


def shown(text: str, limit: int = 20) -> str:
    """A bad value quoted back safely: printable ASCII, cut short."""
    safe = text.encode("ascii", "backslashreplace").decode()
    safe = "".join(c if c.isprintable() else "?" for c in safe)
    return repr(safe if len(safe) <= limit else safe[:limit] + "...")
