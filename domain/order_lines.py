"""What a change order may contain and when each line starts. Two entry forms, one applied
form: a fast change order states the *new total* of each licence type (`Premium=12`); a quote
states *changes* (`Premium=+3`, `Premium=-2`, `WP480G=2`, `CLASSOUND-FLAT:Premium=2`); both
are planned into `OrderLine`s, signed changes with their start dates resolved.

A fast change order keeps its totals (`LicenceTarget`s) until it is applied: the changes are
planned again against the licences the PBX has at that moment (`replan_fast_change`), so two
orders that both say "Premium should be 6" leave 6, not 7."""

import difflib
from dataclasses import dataclass, field
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from domain.catalogue import KIND_IN_WORDS, LicenceType, ProductKind
from domain.errors import Refused


class CatalogueItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    name: str
    kind: ProductKind
    licence_type: LicenceType | None = None


class FastChangeLine(BaseModel):
    """`sku=quantity[@start]`: the new total of one licence type."""

    model_config = ConfigDict(frozen=True)

    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=0, le=100_000)
    start_date: date | None = None


class QuoteLine(BaseModel):
    """One change on a quote. Negative quantities reduce licences; a CLASSOUND-FLAT names
    the licence type it is linked to."""

    model_config = ConfigDict(frozen=True)

    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=-100_000, le=100_000)
    licence: LicenceType | None = None
    start_date: date | None = None


class OrderLine(BaseModel):
    """A planned change. `start_date` None means: the day the order is applied."""

    model_config = ConfigDict(frozen=True)

    sku: str
    kind: ProductKind
    quantity: int
    licence_type: LicenceType | None = None
    start_date: date | None = None

    @property
    def is_reduction(self) -> bool:
        return self.quantity < 0


class LicenceTarget(BaseModel):
    """`Premium=12` of a fast change order: the total the PBX should have once applied."""

    model_config = ConfigDict(frozen=True)

    sku: str
    licence_type: LicenceType
    total: int = Field(ge=0)
    start_date: date | None = None  # as requested; only an increase can be scheduled


class Plan(BaseModel):
    lines: list[OrderLine]
    notes: list[str] = []
    targets: list[LicenceTarget] = []  # a fast change order's totals, planned again on apply


class Replan(BaseModel):
    """What applying a fast change order does to the PBX as it is now."""

    lines: list[OrderLine]
    changes: list[str]  # one per licence type, in words: "Premium 5 → 6"


def _item(catalogue: dict[str, CatalogueItem], sku: str) -> CatalogueItem:
    """The catalogue item of a SKU as people type it: `premium` is Premium; a misspelt one is
    refused with the closest names of the catalogue."""
    item = catalogue.get(sku)
    if item is None:
        by_case = {known.casefold(): known for known in catalogue}
        if sku.casefold() in by_case:
            return catalogue[by_case[sku.casefold()]]
        close = difflib.get_close_matches(sku.casefold(), list(by_case), n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(by_case[c] for c in close)}?)" if close else ""
        known = ", ".join(sorted(catalogue)) or "none"
        raise Refused(f"unknown product {sku!r}{hint}; known products: {known}")
    return item


def check_licence_start(sku: str, change: int, start_date: date | None, today: date) -> date | None:
    """Reductions happen at once and cannot be scheduled; nothing starts in the past."""
    if start_date is None:
        return None
    if start_date < today:
        raise Refused(f"{sku}: start date {start_date} is in the past; use today or later")
    if change < 0:
        if start_date > today:
            raise Refused(
                f"{sku}: a licence reduction cannot be scheduled, it always takes effect "
                "immediately; remove the start date"
            )
        return None
    return None if start_date == today else start_date


def plan_fast_change(
    lines: list[FastChangeLine],
    current: dict[LicenceType, int],
    catalogue: dict[str, CatalogueItem],
    today: date,
) -> Plan:
    """A fast change order only changes licence counts, existing types or new ones."""
    if not lines:
        raise Refused("a fast change order needs at least one licence line, e.g. Premium=12")
    seen: set[str] = set()
    planned: list[OrderLine] = []
    targets: list[LicenceTarget] = []
    for line in lines:
        item = _item(catalogue, line.sku)
        line = line.model_copy(update={"sku": item.sku})  # noqa: PLW2901 - as the catalogue spells it
        if item.kind is not ProductKind.LICENCE or item.licence_type is None:
            raise Refused(
                f"{line.sku} is {KIND_IN_WORDS[item.kind]}: a fast change order only changes "
                "licences; use a change order"
            )
        if line.sku in seen:
            raise Refused(f"{line.sku} appears twice; give each licence type once")
        seen.add(line.sku)
        change = line.quantity - current.get(item.licence_type, 0)
        start = check_licence_start(line.sku, change, line.start_date, today)
        targets.append(
            LicenceTarget(
                sku=line.sku, licence_type=item.licence_type, total=line.quantity, start_date=start
            )
        )
        if change:
            planned.append(
                OrderLine(
                    sku=line.sku,
                    kind=ProductKind.LICENCE,
                    quantity=change,
                    licence_type=item.licence_type,
                    start_date=start,
                )
            )
    if not planned:
        raise Refused("nothing to change: every licence already has the requested quantity")
    return Plan(lines=planned, targets=targets)


def replan_fast_change(
    targets: list[LicenceTarget], current: dict[LicenceType, int], today: date
) -> Replan:
    """The changes that bring the PBX, as it is when the order is applied, to the order's
    totals. A total already reached changes nothing; a total below the current count is a
    reduction, at once (a reduction is never scheduled) even where it was an increase with a
    start date when the order was made; an increase keeps its start date while it is ahead."""
    lines: list[OrderLine] = []
    changes: list[str] = []
    for t in targets:
        have = current.get(t.licence_type, 0)
        change = t.total - have
        if change == 0:
            changes.append(f"{t.sku} already {have}: nothing to change")
            continue
        start = t.start_date if change > 0 and t.start_date and t.start_date > today else None
        words = f"{t.sku} {have} → {t.total}"
        if start:
            words += f" from {start}"
        elif change < 0 and t.start_date and t.start_date > today:
            words += (
                f" at once (a reduction cannot be scheduled; the requested start "
                f"{t.start_date} does not apply)"
            )
        changes.append(words)
        lines.append(
            OrderLine(
                sku=t.sku,
                kind=ProductKind.LICENCE,
                quantity=change,
                licence_type=t.licence_type,
                start_date=start,
            )
        )
    return Replan(lines=lines, changes=changes)


@dataclass
class _QuoteBook:
    """What planning a quote has counted so far, line by line."""

    current: dict[LicenceType, int]
    today: date
    totals: dict[LicenceType, int]
    flats_after: dict[LicenceType, int]
    licence_starts: dict[LicenceType, date | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def plan_quote(
    lines: list[QuoteLine],
    current: dict[LicenceType, int],
    catalogue: dict[str, CatalogueItem],
    today: date,
    flats: dict[LicenceType, int] | None = None,
) -> Plan:
    """Licences, hardware, services and CLASSOUND-FLATs with their start dates. `flats`
    counts the active CLASSOUND-FLATs per licence type: one flat per licence seat."""
    book = _QuoteBook(current, today, totals=dict(current), flats_after=dict(flats or {}))
    if not lines:
        raise Refused("a quote needs at least one line, e.g. Premium=+3")
    planned: list[OrderLine] = []
    for line in lines:
        item = _item(catalogue, line.sku)
        line = line.model_copy(update={"sku": item.sku})  # noqa: PLW2901 - as the catalogue spells it
        _refuse_misplaced(line, item)
        licence_type: LicenceType | None
        start: date | None
        if item.kind is ProductKind.LICENCE:
            licence_type, start = _plan_licence(line, item, book)
        elif item.kind is ProductKind.CAPEX:
            if line.start_date is not None and line.start_date != today:
                book.notes.append(
                    f"{line.sku}: requested start {line.start_date} ignored; hardware (capex) "
                    "always starts on the day the order is applied"
                )
            licence_type, start = item.licence_type, None
        elif item.kind is ProductKind.CLASSOUND_FLAT:
            licence_type, start = _plan_flat(line, book)
        else:
            if line.start_date is not None and line.start_date < today:
                raise Refused(f"{line.sku}: start date {line.start_date} is in the past")
            licence_type, start = item.licence_type, line.start_date
        planned.append(
            OrderLine(
                sku=line.sku,
                kind=item.kind,
                quantity=line.quantity,
                licence_type=licence_type,
                start_date=start,
            )
        )
    # a flat starts with its licence: known once every licence line is planned
    resolved = [
        _link_flat(pl, book) if pl.kind is ProductKind.CLASSOUND_FLAT else pl for pl in planned
    ]
    return Plan(lines=resolved, notes=book.notes)


def _refuse_misplaced(line: QuoteLine, item: CatalogueItem) -> None:
    """What no line may say: a quantity of 0, a link or a reduction its product takes none of."""
    if line.quantity == 0:
        raise Refused(f"{line.sku}: quantity 0 changes nothing; remove the line")
    if item.kind is not ProductKind.CLASSOUND_FLAT and line.licence is not None:
        raise Refused(f"{line.sku}: only a CLASSOUND-FLAT is linked to a licence")
    if item.kind is not ProductKind.LICENCE and line.quantity < 0:
        raise Refused(
            f"{line.sku}: only licences can be reduced on a quote; "
            "a CLASSOUND-FLAT is cancelled with its licence"
        )


def _plan_licence(
    line: QuoteLine, item: CatalogueItem, book: _QuoteBook
) -> tuple[LicenceType, date | None]:
    """Each licence type once; never below zero; its start checked."""
    licence_type = item.licence_type
    assert licence_type is not None
    if licence_type in book.licence_starts:
        raise Refused(f"{line.sku} appears twice; give each licence type once")
    book.totals[licence_type] = book.totals.get(licence_type, 0) + line.quantity
    if book.totals[licence_type] < 0:
        raise Refused(
            f"{line.sku}: cannot remove {-line.quantity}, "
            f"the PBX has only {book.current.get(licence_type, 0)}"
        )
    start = check_licence_start(line.sku, line.quantity, line.start_date, book.today)
    book.licence_starts[licence_type] = start
    return licence_type, start


def _plan_flat(line: QuoteLine, book: _QuoteBook) -> tuple[LicenceType, None]:
    """A flat names its licence type; it starts with it (`_link_flat`)."""
    if line.licence is None:
        raise Refused(
            f"{line.sku} must name the licence it is linked to, "
            f"e.g. {line.sku}:Premium={line.quantity}"
        )
    licence_type = line.licence
    book.flats_after[licence_type] = book.flats_after.get(licence_type, 0) + line.quantity
    if line.start_date is not None:
        book.notes.append(
            f"{line.sku}: requested start {line.start_date} ignored; a CLASSOUND-FLAT "
            f"starts with its linked {licence_type} licence"
        )
    return licence_type, None


def _link_flat(pl: OrderLine, book: _QuoteBook) -> OrderLine:
    """At most one flat per licence seat after the order; the flat starts with the
    licences of its type on the same quote."""
    assert pl.licence_type is not None
    seats = book.totals.get(pl.licence_type, 0)
    if seats <= 0:
        raise Refused(
            f"{pl.sku}: the PBX has no {pl.licence_type} licence to link it to; "
            f"add {pl.licence_type} licences on the same quote"
        )
    if book.flats_after[pl.licence_type] > seats:
        raise Refused(
            f"{pl.sku}:{pl.licence_type}: each licence carries at most one flat, and "
            f"{book.flats_after[pl.licence_type]} flats would sit on {seats} "
            f"{pl.licence_type} licence(s)"
        )
    return pl.model_copy(update={"start_date": book.licence_starts.get(pl.licence_type)})


# --- revising a published quote -----------------------------------------------------------


def line_label(line: QuoteLine) -> str:
    """How staff name a quote line: its SKU, and for a CLASSOUND-FLAT the linked licence."""
    return f"{line.sku}:{line.licence.value}" if line.licence else line.sku


def _line_text(line: QuoteLine) -> str:
    start = f"@{line.start_date}" if line.start_date else ""
    return f"{line.quantity:+d}{start}"


def _same_line(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def revise_lines(
    original: list[QuoteLine], changes: list[QuoteLine], remove: list[str]
) -> tuple[list[QuoteLine], list[str]]:
    """The duplicate of a published quote: every line of the original, with the lines in
    `changes` replacing the original's line of the same SKU (and linked licence) or added,
    and the lines named in `remove` dropped. Returns the lines and, in words, every
    difference from the original."""
    lines = list(original)
    differences: list[str] = []
    removed: set[str] = set()
    for name in remove:
        found = [ln for ln in lines if _same_line(line_label(ln), name)]
        if not found:  # "CLASSOUND-FLAT" alone names the one flat line, if there is one
            found = [ln for ln in lines if _same_line(ln.sku, name)]
        if not found:
            on_quote = ", ".join(line_label(ln) for ln in lines) or "none"
            raise Refused(
                f"cannot remove {name}: the quote has no such line (its lines: {on_quote})"
            )
        if len(found) > 1:
            which = " or ".join(line_label(ln) for ln in found)
            raise Refused(f"--remove {name} names {len(found)} lines; say which: {which}")
        (gone,) = found
        lines.remove(gone)
        removed.add(line_label(gone).casefold())
        differences.append(f"removed {line_label(gone)} {_line_text(gone)}")
    changed: set[str] = set()
    for new in changes:
        label = line_label(new)
        if label in changed:
            raise Refused(f"{label} is changed twice; give each line once")
        if label.casefold() in removed:
            raise Refused(f"{label} is both removed and changed; give one of them")
        changed.add(label)
        at = next((i for i, ln in enumerate(lines) if line_label(ln) == label), None)
        if at is None:
            lines.append(new)
            differences.append(f"added {label} {_line_text(new)}")
        elif lines[at] != new:
            differences.append(f"{label} {_line_text(lines[at])} → {_line_text(new)}")
            lines[at] = new
    if not lines:
        raise Refused("the revised quote would have no lines left; cancel the change order instead")
    if not differences:
        raise Refused(
            "the revised quote would be the same as the original; give the lines "
            "that change (--line) or go (--remove)"
        )
    return lines, differences
