"""PSA contracts of existing clients (seed 002 "Erstellen Sie Verträge"): contract terms
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
        problems.append(f"contract period: the end ({terms.end_date}) must be after the start "
                        f"({terms.start_date})")
    if terms.payment_method == PaymentMethod.DIRECT_DEBIT:
        if not terms.mandate_reference:
            problems.append("payment details: direct debit needs the SEPA mandate reference")
        elif not re.match(MANDATE_REFERENCE, terms.mandate_reference):
            problems.append("payment details: the mandate reference has characters SEPA does "
                            "not allow")
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
    quantity: int = Field(ge=1, le=100_000)
    unit_price: Decimal | None = Price  # per unit and month, in the client's currency
    list_price: Decimal | None = None
    source: Literal["assigned", "added"] = "assigned"

    _cents = field_validator("unit_price", "list_price")(_cents)


class PartChange(BaseModel):
    """One edit of the contract parts: a new price or quantity, an added part, or removal."""

    model_config = ConfigDict(frozen=True)

    sku: str = Field(min_length=1, max_length=64)
    quantity: int | None = Field(default=None, ge=1, le=100_000)
    unit_price: Decimal | None = Price
    remove: bool = False

    _cents = field_validator("unit_price")(_cents)


class CatalogueEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    name: str
    kind: ProductKind


def default_parts(services: list[AssignedService],
                  list_prices: dict[str, Decimal]) -> list[ContractPart]:
    """One part per recurring service already assigned, at its list price in the client's
    currency where there is one (else no price yet: staff must set it)."""
    return [
        ContractPart(sku=s.sku, name=s.name, quantity=s.quantity,
                     unit_price=list_prices.get(s.sku), list_price=list_prices.get(s.sku))
        for s in sorted(services, key=lambda s: (s.kind != ProductKind.LICENCE, s.sku))
        if s.kind in RECURRING_KINDS and s.quantity > 0
    ]


def change_problems(parts: list[ContractPart], changes: list[PartChange]) -> list[str]:
    """What can be said without the catalogue: each SKU once, removals of existing parts,
    a change that changes something."""
    have = {p.sku for p in parts}
    problems, seen = [], set()
    for c in changes:
        if c.sku in seen:
            problems.append(f"{c.sku}: named twice; give one change per part")
        seen.add(c.sku)
        if c.remove:
            if c.sku not in have:
                problems.append(f"{c.sku}: not a part of the contract, nothing to remove")
            if c.quantity is not None or c.unit_price is not None:
                problems.append(f"{c.sku}: removed, so it takes no quantity or price")
        elif c.quantity is None and c.unit_price is None:
            problems.append(f"{c.sku}: give a new quantity, a new price, or remove it")
        elif c.sku not in have and c.quantity is None:
            problems.append(f"{c.sku}: a new part needs a quantity")
    return problems


def apply_part_changes(parts: list[ContractPart], changes: list[PartChange],
                       catalogue: dict[str, CatalogueEntry],
                       list_prices: dict[str, Decimal]) -> tuple[list[ContractPart], list[str]]:
    """The parts after the changes, and the problems (none: the changes apply). `catalogue`
    and `list_prices` need only cover the SKUs of added parts."""
    problems = change_problems(parts, changes)
    by_sku = {p.sku: p for p in parts}
    added: list[ContractPart] = []
    for c in changes:
        if c.remove:
            by_sku.pop(c.sku, None)
        elif c.sku in by_sku:
            p = by_sku[c.sku]
            by_sku[c.sku] = p.model_copy(update={
                "quantity": c.quantity if c.quantity is not None else p.quantity,
                "unit_price": c.unit_price if c.unit_price is not None else p.unit_price,
            })
        elif c.quantity is not None:
            item = catalogue.get(c.sku)
            if item is None:
                problems.append(f"{c.sku}: not in the catalogue")
            elif item.kind not in RECURRING_KINDS:
                problems.append(f"{c.sku}: {item.kind.value} is not billed monthly; sell it as "
                                "a sales item")
            else:
                price = c.unit_price if c.unit_price is not None else list_prices.get(c.sku)
                added.append(ContractPart(sku=c.sku, name=item.name, quantity=c.quantity,
                                          unit_price=price, list_price=list_prices.get(c.sku),
                                          source="added"))
    result = [by_sku[p.sku] for p in parts if p.sku in by_sku] + added
    if len(result) > MAX_PARTS:
        problems.append(f"a contract has at most {MAX_PARTS} parts")
    return result, problems


def unpriced(parts: list[ContractPart]) -> list[str]:
    return [p.sku for p in parts if p.unit_price is None]


def activation_problems(parts: list[ContractPart]) -> list[str]:
    """Why the contract cannot become active yet (the store checks the same)."""
    if not parts:
        return ["the contract has no parts; add one with change-parts --add SKU=QUANTITY"]
    missing = unpriced(parts)
    if missing:
        return [f"no price yet for {', '.join(missing)}; set it with change-parts --price "
                "SKU=PRICE"]
    return []


def monthly_total(parts: list[ContractPart]) -> Decimal:
    return sum((p.quantity * (p.unit_price or Decimal(0)) for p in parts), Decimal("0.00"))
