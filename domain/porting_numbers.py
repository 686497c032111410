"""The numbers (DIDs) a CLASSOUND order ports from the old carrier.

Phone numbers are personal data: they never enter Temporal (ids, history, search attributes,
summaries, details). The starter writes the list, normalised, into the document store and the
process carries only its `NumberListRef` (checksum and count); the activity that places the
order reads the list and keeps the numbers in PostgreSQL. Messages about a list name the line,
never the number, so they are safe to show anywhere."""

import re

from pydantic import BaseModel, ConfigDict, Field

MAX_NUMBERS = 1000  # a large number block; more is a project for customer care

_SEPARATORS = re.compile(r"[\s\-/.()]")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class NumberListError(ValueError):
    pass


class NumberListRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    count: int = Field(ge=1, le=MAX_NUMBERS)


def normalise_number(text: str) -> str | None:
    """E.164 (+4930123456) from the ways people write numbers, or None if it is not one.
    A number must carry its country code: `+49 30 1234567` or `0049 30 1234567`."""
    compact = _SEPARATORS.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    return compact if _E164.match(compact) else None


def parse_number_list(text: str, entry: str = "line") -> list[str]:
    """One number per line (blank lines and `#` comments ignored), in the given order.
    Refuses the whole list if any entry is wrong, naming the lines (`entry` names them)."""
    numbers: list[str] = []
    seen: dict[str, int] = {}
    problems: list[str] = []
    for line_no, raw in enumerate(text.splitlines(), 1):
        value = raw.split("#", 1)[0].strip()
        if not value:
            continue
        number = normalise_number(value)
        if number is None:
            problems.append(
                f"{entry} {line_no} is not a phone number with country code "
                "(write it like +49 30 1234567)"
            )
        elif number in seen:
            problems.append(f"{entry} {line_no} repeats the number of {entry} {seen[number]}")
        else:
            seen[number] = line_no
            numbers.append(number)
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise NumberListError("; ".join(problems[:5]) + more)
    if not numbers:
        raise NumberListError("no numbers to port: give at least one number")
    if len(numbers) > MAX_NUMBERS:
        raise NumberListError(f"{len(numbers)} numbers; one order ports at most {MAX_NUMBERS}")
    return numbers


def canonical_list(numbers: list[str]) -> bytes:
    """The stored form: one E.164 number per line. The same numbers give the same bytes."""
    return "".join(f"{n}\n" for n in numbers).encode("ascii")
