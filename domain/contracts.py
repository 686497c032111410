"""PSA contracts of existing clients ("Erstellen Sie Verträge"): contract terms
(payment details and the contract period), then contract parts, defaulted from the
services already assigned to the client, whose prices staff confirm or change before
the contract becomes active."""

import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.catalogue import ProductKind

# What a contract bills every month. Licences and CLASSOUND-FLATs are subscriptions;
# hardware (capex) is bought outright and our "services" (installation, training) are
# one-off work: those are sales items, not contract parts.
RECURRING_KINDS = frozenset({ProductKind.LICENCE, ProductKind.CLASSOUND_FLAT})

MAX_PRICE = Decimal("1000000")
MAX_PARTS = 50
# A SEPA mandate reference: up to 35 of these characters (EPC rulebook).
MANDATE_REFERENCE = r"^[A-Za-z0-9+?/:().,' -]{1,35}$"

MAX_QUANTITY = 100_000
Price = Field(default=None, ge=0, le=MAX_PRICE, max_digits=9, decimal_places=2)
CENT = Decimal("0.01")


def _cents(value: Decimal | None) -> Decimal | None:
    """18 -> 18.00: prices are shown and stored with their cents."""
    return None if value is None else value.quantize(CENT)


class PaymentMethod(StrEnum):
    BANK_TRANSFER = "bank-transfer"
    DIRECT_DEBIT = "direct-debit"


class ContractTerms(BaseModel):
    """Payment details and contract period. No end date: runs until ended. Billed monthly."""

    model_config = ConfigDict(frozen=True)

    start_date: date
    end_date: date | None = None
    payment_method: PaymentMethod
    mandate_reference: str | None = Field(default=None, max_length=35)


def terms_problems(terms: ContractTerms) -> list[str]:
    problems = []
    if terms.end_date is not None and terms.end_date <= terms.start_date:
        problems.append(
            f"contract period: the end ({terms.end_date}) must be after the start "
            f"({terms.start_date})"
        )
    if terms.payment_method == PaymentMethod.DIRECT_DEBIT:
        if not terms.mandate_reference:
            problems.append("payment details: direct debit needs the SEPA mandate reference")
        elif not re.match(MANDATE_REFERENCE, terms.mandate_reference):
            problems.append(
                "payment details: the mandate reference has characters SEPA does not allow"
            )
    elif terms.mandate_reference:
        problems.append("payment details: a mandate reference only goes with direct debit")
    return problems


class AssignedService(BaseModel):
    """Something the client already has on its active PBXs, summed per SKU."""

    model_config = ConfigDict(frozen=True)

    sku: str
    name: str
    kind: ProductKind
    quantity: int


class ContractPart(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    name: str
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    unit_price: Decimal | None = Price  # per unit and month, in the client's currency
    list_price: Decimal | None = None
    source: Literal["assigned", "added"] = "assigned"

    _cents = field_validator("unit_price", "list_price")(_cents)


class PartChange(BaseModel):
    """One edit of the contract parts. `add` adds units (to the part, at its price, or as a
    new part); `quantity` and `unit_price` replace the part's quantity and price; `remove`
    drops the part. With `add`, `unit_price` is the price of the added units."""

    model_config = ConfigDict(frozen=True)

    sku: str = Field(min_length=1, max_length=64)
    quantity: int | None = Field(default=None, ge=1, le=MAX_QUANTITY)
    unit_price: Decimal | None = Price
    add: int | None = Field(default=None, ge=1, le=MAX_QUANTITY)
    remove: bool = False

    _cents = field_validator("unit_price")(_cents)


class CatalogueEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    name: str
    kind: ProductKind


def default_parts(
    services: list[AssignedService], list_prices: dict[str, Decimal]
) -> list[ContractPart]:
    """One part per recurring service already assigned, at its list price in the client's
    currency where there is one (else no price yet: staff must set it)."""
    return [
        ContractPart(
            sku=s.sku,
            name=s.name,
            quantity=s.quantity,
            unit_price=list_prices.get(s.sku),
            list_price=list_prices.get(s.sku),
        )
        for s in sorted(services, key=lambda s: (s.kind != ProductKind.LICENCE, s.sku))
        if s.kind in RECURRING_KINDS and s.quantity > 0
    ]


def change_problems(parts: list[ContractPart], changes: list[PartChange]) -> list[str]:
    """What can be said without the catalogue: each SKU once, removals and replacements of
    existing parts only, additions at the part's own price (one price per part: adding
    units at another price is refused, never billed silently at either), a change that
    changes something."""
    have = {p.sku: p for p in parts}
    problems, seen = [], set()
    for c in changes:
        if c.sku in seen:
            problems.append(f"{c.sku}: named twice; give one change per part")
        seen.add(c.sku)
        part = have.get(c.sku)
        if c.remove:
            if part is None:
                problems.append(f"{c.sku}: not a part of the contract, nothing to remove")
            if c.quantity is not None or c.unit_price is not None or c.add is not None:
                problems.append(f"{c.sku}: removed, so it takes no quantity or price")
        elif c.add is not None:
            if c.quantity is not None:
                problems.append(
                    f"{c.sku}: either add units (--add) or replace the quantity "
                    "(--quantity), not both"
                )
            elif part is not None:
                problems += _addition_problems(part, c, c.add)
        elif c.quantity is None and c.unit_price is None:
            problems.append(f"{c.sku}: give a new quantity, a new price, or remove it")
        elif part is None:
            problems.append(
                f"{c.sku}: not a part of the contract; add it with --add {c.sku}=N[@PRICE]"
            )
    return problems


def _addition_problems(part: ContractPart, c: PartChange, add: int) -> list[str]:
    if part.quantity + add > MAX_QUANTITY:
        return [f"{c.sku}: {part.quantity} + {add} is more than {MAX_QUANTITY} units"]
    if c.unit_price is None or c.unit_price == part.unit_price:
        return []
    if part.unit_price is None:
        return [
            f"{c.sku}: the part has no price yet; set the price of all its units with "
            f"--price {c.sku}={c.unit_price}, then add"
        ]
    return [
        f"{c.sku}: the contract bills {part.quantity} at {part.unit_price}; adding {add} "
        f"at {c.unit_price} would bill one part at two prices. Add them at "
        f"{part.unit_price} (--add {c.sku}={add}), or change the price of all with "
        f"--price {c.sku}={c.unit_price} and --quantity {c.sku}={part.quantity + add}"
    ]


def apply_part_changes(
    parts: list[ContractPart],
    changes: list[PartChange],
    catalogue: dict[str, CatalogueEntry],
    list_prices: dict[str, Decimal],
) -> tuple[list[ContractPart], list[str]]:
    """The parts after the changes, and the problems (none: the changes apply). `catalogue`
    and `list_prices` need only cover the SKUs of added parts."""
    problems = change_problems(parts, changes)
    by_sku = {p.sku: p for p in parts}
    added: list[ContractPart] = []
    for c in changes:
        p = by_sku.get(c.sku)
        if c.remove:
            by_sku.pop(c.sku, None)
        elif p is not None and c.add is not None:
            by_sku[c.sku] = p.model_copy(update={"quantity": p.quantity + c.add})
        elif p is not None:
            by_sku[c.sku] = p.model_copy(
                update={
                    "quantity": c.quantity if c.quantity is not None else p.quantity,
                    "unit_price": c.unit_price if c.unit_price is not None else p.unit_price,
                }
            )
        elif c.add is None:
            continue  # not a part and not an addition: change_problems named it
        else:
            item = catalogue.get(c.sku)
            if item is None:
                problems.append(f"{c.sku}: not in the catalogue")
            elif item.kind not in RECURRING_KINDS:
                problems.append(
                    f"{c.sku}: {item.kind.value} is not billed monthly; sell it as a sales item"
                )
            else:
                price = c.unit_price if c.unit_price is not None else list_prices.get(c.sku)
                added.append(
                    ContractPart(
                        sku=c.sku,
                        name=item.name,
                        quantity=c.add,
                        unit_price=price,
                        list_price=list_prices.get(c.sku),
                        source="added",
                    )
                )
    result = [by_sku[p.sku] for p in parts if p.sku in by_sku] + added
    if len(result) > MAX_PARTS:
        problems.append(f"a contract has at most {MAX_PARTS} parts")
    return result, problems


def describe_parts(parts: list[ContractPart]) -> str:
    """ "Premium x5 at 18.50, Business x3 at NO PRICE": the parts as a billing person reads
    them."""
    return (
        ", ".join(f"{p.sku} x{p.quantity} at {p.unit_price or 'NO PRICE'}" for p in parts)
        or "no parts"
    )


def parts_difference(before: list[ContractPart], after: list[ContractPart]) -> list[str]:
    """What changed, one phrase per part, in the order of the parts."""
    old, new = {p.sku: p for p in before}, {p.sku: p for p in after}
    said = []
    for sku in [p.sku for p in before] + [p.sku for p in after if p.sku not in old]:
        a, b = old.get(sku), new.get(sku)
        if b is None:
            assert a is not None  # every SKU comes from one of the two lists
            said.append(f"{sku} removed (was x{a.quantity})")
        elif a is None:
            said.append(f"{sku} x{b.quantity} added at {b.unit_price or 'NO PRICE'}")
        elif (a.quantity, a.unit_price) != (b.quantity, b.unit_price):
            what = []
            if a.quantity != b.quantity:
                what.append(f"x{a.quantity} -> x{b.quantity}")
            if a.unit_price != b.unit_price:
                what.append(f"price {a.unit_price or 'NO PRICE'} -> {b.unit_price}")
            said.append(f"{sku} {', '.join(what)}")
    return said


def unpriced(parts: list[ContractPart]) -> list[str]:
    return [p.sku for p in parts if p.unit_price is None]


def activation_problems(parts: list[ContractPart]) -> list[str]:
    """Why the contract cannot become active yet (the store checks the same)."""
    if not parts:
        return ["the contract has no parts; add one with change-parts --add SKU=QUANTITY"]
    missing = unpriced(parts)
    if missing:
        return [
            f"no price yet for {', '.join(missing)}; set it with change-parts --price SKU=PRICE"
        ]
    return []


def monthly_total(parts: list[ContractPart]) -> Decimal:
    return sum((p.quantity * (p.unit_price or Decimal(0)) for p in parts), Decimal("0.00"))
