"""What an order does to a customer's monthly bill, as the partner judges it before
confirming: the recurring units (licences per type, CLASSOUND-FLATs) before and after, at the
monthly list prices in the customer's billing currency (EUR without billing information).
Hardware and one-off services are not monthly: they are left out of both totals."""

from dataclasses import dataclass
from decimal import Decimal

DEFAULT_CURRENCY = "EUR"
FLAT = "CLASSOUND-FLAT"  # the SKU the flats are priced under


@dataclass(frozen=True)
class MonthlyTotals:
    currency: str
    before: Decimal
    after: Decimal
    unpriced: list[str]  # recurring SKUs without a list price: not in the totals


def monthly_totals(
    before: dict[str, int], after: dict[str, int], prices: dict[str, Decimal], currency: str
) -> MonthlyTotals:
    """`before`/`after`: units per SKU; `prices`: monthly price per unit."""
    unpriced = sorted(
        sku
        for sku in set(before) | set(after)
        if sku not in prices and (before.get(sku) or after.get(sku))
    )

    def total(units: dict[str, int]) -> Decimal:
        return sum((prices[sku] * n for sku, n in units.items() if sku in prices), Decimal("0.00"))

    return MonthlyTotals(currency, total(before), total(after), unpriced)
