"""Contract terms, parts defaulted from assigned services, part changes, activation."""

from datetime import date
from decimal import Decimal

import pytest

from domain.catalogue import ProductKind
from domain.contracts import (
    AssignedService,
    CatalogueEntry,
    ContractPart,
    ContractTerms,
    PartChange,
    PaymentMethod,
    activation_problems,
    apply_part_changes,
    change_problems,
    default_parts,
    describe_parts,
    monthly_total,
    parts_difference,
    terms_problems,
)

D = Decimal


def terms(**changes) -> ContractTerms:
    fields = dict(
        start_date=date(2026, 1, 1),
        end_date=None,
        payment_method=PaymentMethod.BANK_TRANSFER,
        mandate_reference=None,
    )
    fields.update(changes)
    return ContractTerms(**fields)


def part(sku: str, quantity: int = 1, price: str | None = "10.00") -> ContractPart:
    return ContractPart(
        sku=sku, name=sku, quantity=quantity, unit_price=None if price is None else D(price)
    )


# --- terms ----------------------------------------------------------------------------------


def test_open_ended_bank_transfer_terms_are_fine():
    assert terms_problems(terms()) == []


@pytest.mark.parametrize(
    ("end", "ok"),
    [(date(2026, 1, 2), True), (date(2026, 1, 1), False), (date(2025, 12, 31), False)],
)
def test_the_contract_period_ends_after_it_starts(end, ok):
    problems = terms_problems(terms(end_date=end))
    assert (problems == []) is ok
    if not ok:
        assert problems[0].startswith("contract period: the end")


def test_direct_debit_needs_a_sepa_mandate_reference():
    assert terms_problems(terms(payment_method=PaymentMethod.DIRECT_DEBIT)) == [
        "payment details: direct debit needs the SEPA mandate reference"
    ]
    assert (
        terms_problems(
            terms(payment_method=PaymentMethod.DIRECT_DEBIT, mandate_reference="MNDT-2026/0042")
        )
        == []
    )
    assert terms_problems(
        terms(payment_method=PaymentMethod.DIRECT_DEBIT, mandate_reference="MNDT#1")
    ) == ["payment details: the mandate reference has characters SEPA does not allow"]


def test_a_mandate_reference_only_goes_with_direct_debit():
    assert terms_problems(terms(mandate_reference="MNDT-1")) == [
        "payment details: a mandate reference only goes with direct debit"
    ]


def test_every_bad_term_is_named():
    problems = terms_problems(
        terms(end_date=date(2025, 1, 1), payment_method=PaymentMethod.DIRECT_DEBIT)
    )
    assert [p.split(":")[0] for p in problems] == ["contract period", "payment details"]


# --- default parts --------------------------------------------------------------------------

SERVICES = [
    AssignedService(sku="Premium", name="Premium licence", kind=ProductKind.LICENCE, quantity=8),
    AssignedService(
        sku="CLASSOUND-FLAT", name="CLASSOUND flat", kind=ProductKind.CLASSOUND_FLAT, quantity=2
    ),
    AssignedService(sku="Basic", name="Basic licence", kind=ProductKind.LICENCE, quantity=5),
    AssignedService(sku="WP480G", name="desk phone", kind=ProductKind.CAPEX, quantity=3),
    AssignedService(sku="SVC-INSTALL", name="installation", kind=ProductKind.SERVICE, quantity=1),
]


def test_parts_default_from_the_recurring_services_licences_first_at_list_price():
    parts = default_parts(
        SERVICES, {"Premium": D("19.90"), "Basic": D("9.90"), "CLASSOUND-FLAT": D("12.00")}
    )
    assert [(p.sku, p.quantity, p.unit_price, p.source) for p in parts] == [
        ("Basic", 5, D("9.90"), "assigned"),
        ("Premium", 8, D("19.90"), "assigned"),
        ("CLASSOUND-FLAT", 2, D("12.00"), "assigned"),
    ]
    assert all(p.list_price == p.unit_price for p in parts)


def test_hardware_and_one_off_services_are_not_contract_parts():
    assert {p.sku for p in default_parts(SERVICES, {})} == {"Basic", "Premium", "CLASSOUND-FLAT"}


def test_a_part_without_a_list_price_starts_without_a_price():
    parts = default_parts(SERVICES[:1], {})
    assert parts[0].unit_price is None and parts[0].list_price is None


def test_no_recurring_services_no_parts():
    assert default_parts(SERVICES[3:], {"WP480G": D("99")}) == []


# --- changing parts -------------------------------------------------------------------------

CATALOGUE = {
    "Business": CatalogueEntry(sku="Business", name="Business licence", kind=ProductKind.LICENCE),
    "WP480G": CatalogueEntry(sku="WP480G", name="desk phone", kind=ProductKind.CAPEX),
}


def test_prices_and_quantities_change_in_place():
    parts = [part("Basic", 5, "9.90"), part("Premium", 8, None)]
    changed, problems = apply_part_changes(
        parts,
        [
            PartChange(sku="Premium", unit_price=D("18.00")),
            PartChange(sku="Basic", quantity=6),
        ],
        {},
        {},
    )
    assert problems == []
    assert [(p.sku, p.quantity, p.unit_price) for p in changed] == [
        ("Basic", 6, D("9.90")),
        ("Premium", 8, D("18.00")),
    ]


def test_parts_are_added_at_list_price_or_their_own_and_removed():
    parts = [part("Basic", 5), part("Premium", 8)]
    changed, problems = apply_part_changes(
        parts,
        [
            PartChange(sku="Basic", remove=True),
            PartChange(sku="Business", add=2),
        ],
        CATALOGUE,
        {"Business": D("29.90")},
    )
    assert problems == []
    assert [(p.sku, p.quantity, p.unit_price, p.source) for p in changed] == [
        ("Premium", 8, D("10.00"), "assigned"),
        ("Business", 2, D("29.90"), "added"),
    ]
    changed, _ = apply_part_changes(
        parts, [PartChange(sku="Business", add=1, unit_price=D("25"))], CATALOGUE, {}
    )
    assert changed[-1].unit_price == D("25")


def test_adding_to_a_part_adds_units_at_its_price():
    parts = [part("Business", 3, "29.90"), part("Premium", 5, "19.90")]
    for price in (D("29.90"), None):  # the README's --add Business=2@29.90, or no price
        changed, problems = apply_part_changes(
            parts, [PartChange(sku="Business", add=2, unit_price=price)], CATALOGUE, {}
        )
        assert problems == []
        assert [(p.sku, p.quantity, p.unit_price) for p in changed] == [
            ("Business", 5, D("29.90")),
            ("Premium", 5, D("19.90")),
        ]


def test_adding_at_another_price_is_refused_naming_both_ways_out():
    parts = [part("Business", 3, "24.90"), part("Basic", 2, None)]
    changed, problems = apply_part_changes(
        parts,
        [
            PartChange(sku="Business", add=2, unit_price=D("29.90")),
            PartChange(sku="Basic", add=1, unit_price=D("9.90")),
        ],
        CATALOGUE,
        {},
    )
    assert problems == [
        "Business: the contract bills 3 at 24.90; adding 2 at 29.90 would bill one part at "
        "two prices. Add them at 24.90 (--add Business=2), or change the price of all with "
        "--price Business=29.90 and --quantity Business=5",
        "Basic: the part has no price yet; set the price of all its units with --price "
        "Basic=9.90, then add",
    ]


def test_replacing_quantity_or_price_is_only_for_parts_the_contract_has():
    assert change_problems([part("Basic")], [PartChange(sku="Business", quantity=2)]) == [
        "Business: not a part of the contract; add it with --add Business=N[@PRICE]"
    ]
    assert change_problems([part("Basic")], [PartChange(sku="Basic", add=1, quantity=2)]) == [
        "Basic: either add units (--add) or replace the quantity (--quantity), not both"
    ]
    assert change_problems([part("Basic", 99_999)], [PartChange(sku="Basic", add=2)]) == [
        "Basic: 99999 + 2 is more than 100000 units"
    ]


def test_the_difference_names_each_changed_part():
    before = [part("Business", 3, "29.90"), part("Premium", 5, "19.90"), part("Basic", 2)]
    after = [part("Business", 5, "29.90"), part("Premium", 5, "18.00"), part("Essential", 2, None)]
    assert parts_difference(before, after) == [
        "Business x3 -> x5",
        "Premium price 19.90 -> 18.00",
        "Basic removed (was x2)",
        "Essential x2 added at NO PRICE",
    ]
    assert describe_parts(after[:2]) == "Business x5 at 29.90, Premium x5 at 18.00"
    assert describe_parts([]) == "no parts"


def test_bad_changes_are_each_named():
    parts = [part("Basic")]
    problems = change_problems(
        parts,
        [
            PartChange(sku="Premium", remove=True),
            PartChange(sku="Basic"),
            PartChange(sku="Business", unit_price=D("1")),
            PartChange(sku="Basic", quantity=2),
        ],
    )
    assert problems == [
        "Premium: not a part of the contract, nothing to remove",
        "Basic: give a new quantity, a new price, or remove it",
        "Business: not a part of the contract; add it with --add Business=N[@PRICE]",
        "Basic: named twice; give one change per part",
    ]


def test_removal_takes_no_quantity_or_price():
    assert change_problems([part("Basic")], [PartChange(sku="Basic", remove=True, quantity=2)]) == [
        "Basic: removed, so it takes no quantity or price"
    ]


def test_only_catalogue_items_billed_monthly_can_be_added():
    _, problems = apply_part_changes(
        [], [PartChange(sku="NOPE", add=1), PartChange(sku="WP480G", add=1)], CATALOGUE, {}
    )
    assert problems == [
        "NOPE: not in the catalogue",
        "WP480G: capex is not billed monthly; sell it as a sales item",
    ]


def test_price_bounds():
    with pytest.raises(ValueError):
        PartChange(sku="Basic", unit_price=D("-1"))
    with pytest.raises(ValueError):
        PartChange(sku="Basic", unit_price=D("1.001"))
    assert PartChange(sku="Basic", unit_price=D("0")).unit_price == 0


# --- activation -----------------------------------------------------------------------------


def test_a_contract_without_parts_cannot_become_active():
    assert activation_problems([])[0].startswith("the contract has no parts")


def test_every_part_needs_a_price_before_activation():
    assert activation_problems(
        [part("Basic", price=None), part("Premium"), part("Business", price=None)]
    ) == ["no price yet for Basic, Business; set it with change-parts --price SKU=PRICE"]
    assert activation_problems([part("Basic", price="0")]) == []


def test_monthly_total():
    assert monthly_total([part("Basic", 5, "9.90"), part("Premium", 2, "19.90")]) == D("89.30")
    assert monthly_total([]) == D("0.00")
