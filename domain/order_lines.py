"""What a change order may contain and when each line starts (seed 000 §1, §2, §5).

Two entry forms, one applied form:
- a fast change order states the *new total* of each licence type (`Premium=12`);
- a quote states *changes* (`Premium=+3`, `Premium=-2`, `WP480G=2`, `CLASSOUND-FLAT:Premium=2`);
- both are planned into `OrderLine`s: signed changes with their start dates resolved.
"""

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


class Plan(BaseModel):
    lines: list[OrderLine]
    notes: list[str] = []


def _item(catalogue: dict[str, CatalogueItem], sku: str) -> CatalogueItem:
    item = catalogue.get(sku)
    if item is None:
        known = ", ".join(sorted(catalogue)) or "none"
        raise Refused(f"unknown product {sku!r}; known products: {known}")
    return item


def check_licence_start(
    sku: str, change: int, start_date: date | None, today: date
) -> date | None:
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
    for line in lines:
        item = _item(catalogue, line.sku)
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
    return Plan(lines=planned)


def plan_quote(
    lines: list[QuoteLine],
    current: dict[LicenceType, int],
    catalogue: dict[str, CatalogueItem],
    today: date,
    flats: dict[LicenceType, int] | None = None,
) -> Plan:
    """Licences, hardware, services and CLASSOUND-FLATs; start dates as seed 000 §2 says.
    `flats` counts the active CLASSOUND-FLATs per licence type: one flat per licence seat."""
    flats_after = dict(flats or {})
    if not lines:
        raise Refused("a quote needs at least one line, e.g. Premium=+3")
    totals = dict(current)
    licence_starts: dict[LicenceType, date | None] = {}
    planned: list[OrderLine] = []
    notes: list[str] = []
    for line in lines:
        item = _item(catalogue, line.sku)
        if line.quantity == 0:
            raise Refused(f"{line.sku}: quantity 0 changes nothing; remove the line")
        if item.kind is not ProductKind.CLASSOUND_FLAT and line.licence is not None:
            raise Refused(f"{line.sku}: only a CLASSOUND-FLAT is linked to a licence")
        if item.kind is not ProductKind.LICENCE and line.quantity < 0:
            raise Refused(
                f"{line.sku}: only licences can be reduced on a quote; "
                "a CLASSOUND-FLAT is cancelled with its licence"
            )
        start: date | None
        licence_type = item.licence_type
        if item.kind is ProductKind.LICENCE:
            assert licence_type is not None
            if licence_type in licence_starts:
                raise Refused(f"{line.sku} appears twice; give each licence type once")
            totals[licence_type] = totals.get(licence_type, 0) + line.quantity
            if totals[licence_type] < 0:
                raise Refused(
                    f"{line.sku}: cannot remove {-line.quantity}, "
                    f"the PBX has only {current.get(licence_type, 0)}"
                )
            start = check_licence_start(line.sku, line.quantity, line.start_date, today)
            licence_starts[licence_type] = start
        elif item.kind is ProductKind.CAPEX:
            start = None
            if line.start_date is not None and line.start_date != today:
                notes.append(
                    f"{line.sku}: requested start {line.start_date} ignored; hardware (capex) "
                    "always starts on the day the order is applied"
                )
        elif item.kind is ProductKind.CLASSOUND_FLAT:
            if line.licence is None:
                raise Refused(
                    f"{line.sku} must name the licence it is linked to, "
                    f"e.g. {line.sku}:Premium={line.quantity}"
                )
            licence_type = line.licence
            flats_after[licence_type] = flats_after.get(licence_type, 0) + line.quantity
            if line.start_date is not None:
                notes.append(
                    f"{line.sku}: requested start {line.start_date} ignored; a CLASSOUND-FLAT "
                    f"starts with its linked {licence_type} licence"
                )
            start = None  # resolved below, once every licence line is known
        else:
            if line.start_date is not None and line.start_date < today:
                raise Refused(f"{line.sku}: start date {line.start_date} is in the past")
            start = line.start_date
        planned.append(
            OrderLine(
                sku=line.sku,
                kind=item.kind,
                quantity=line.quantity,
                licence_type=licence_type,
                start_date=start,
            )
        )
    resolved: list[OrderLine] = []
    for pl in planned:
        if pl.kind is ProductKind.CLASSOUND_FLAT:
            assert pl.licence_type is not None
            if totals.get(pl.licence_type, 0) <= 0:
                raise Refused(
                    f"{pl.sku}: the PBX has no {pl.licence_type} licence to link it to; "
                    f"add {pl.licence_type} licences on the same quote"
                )
            seats = totals.get(pl.licence_type, 0)
            if flats_after[pl.licence_type] > seats:
                raise Refused(
                    f"{pl.sku}:{pl.licence_type}: each licence carries at most one flat, and "
                    f"{flats_after[pl.licence_type]} flats would sit on {seats} "
                    f"{pl.licence_type} licence(s)"
                )
            pl = pl.model_copy(update={"start_date": licence_starts.get(pl.licence_type)})
        resolved.append(pl)
    return Plan(lines=resolved, notes=notes)
