"""How staff write order lines on the command line.

fast change:  SKU=TOTAL[@YYYY-MM-DD]             Premium=12@2026-12-01
quote:        SKU[:LICENCE]=CHANGE[@YYYY-MM-DD]   Premium=+3  Basic=-2  WP480G=2
                                                  CLASSOUND-FLAT:Premium=2
"""

import re
from datetime import date

from pydantic import ValidationError

from domain.catalogue import LicenceType
from domain.order_lines import FastChangeLine, QuoteLine

_LINE = re.compile(
    r"^(?P<sku>[A-Za-z0-9][A-Za-z0-9_.-]*)(?::(?P<licence>[A-Za-z]+))?"
    r"=(?P<qty>[+-]?\d+)(?:@(?P<date>\S+))?$"
)


class LineSyntaxError(ValueError):
    pass


def _split(text: str, example: str) -> re.Match:
    m = _LINE.match(text.strip())
    if not m:
        raise LineSyntaxError(f"cannot read line {text!r}; write it like {example}")
    return m


def _date(text: str | None, line: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise LineSyntaxError(
            f"{line!r}: start date {text!r} is not a date like 2026-12-01"
        ) from None


def _licence(text: str | None, line: str) -> LicenceType | None:
    if text is None:
        return None
    for t in LicenceType:
        if t.value.lower() == text.lower():
            return t
    names = ", ".join(t.value for t in LicenceType)
    raise LineSyntaxError(f"{line!r}: {text!r} is not a licence type ({names})")


def parse_fast_change_line(text: str) -> FastChangeLine:
    m = _split(text, "Premium=12 or Premium=12@2026-12-01")
    if m["licence"]:
        raise LineSyntaxError(f"{text!r}: a fast change line is LICENCE=TOTAL, e.g. Premium=12")
    if m["qty"].startswith(("+", "-")):
        raise LineSyntaxError(
            f"{text!r}: give the new total, not a change (Premium=12, not Premium=+2)"
        )
    try:
        return FastChangeLine(
            sku=m["sku"], quantity=int(m["qty"]), start_date=_date(m["date"], text)
        )
    except ValidationError as e:
        raise LineSyntaxError(f"{text!r}: {e.errors()[0]['msg']}") from None


def parse_quote_line(text: str) -> QuoteLine:
    m = _split(text, "Premium=+3, Basic=-2, WP480G=2 or CLASSOUND-FLAT:Premium=2")
    try:
        return QuoteLine(
            sku=m["sku"],
            quantity=int(m["qty"]),
            licence=_licence(m["licence"], text),
            start_date=_date(m["date"], text),
        )
    except ValidationError as e:
        raise LineSyntaxError(f"{text!r}: {e.errors()[0]['msg']}") from None
