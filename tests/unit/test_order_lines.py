"""What a change order may contain and when each line starts (domain/order_lines.py)."""

from datetime import date, timedelta

import pytest

from domain.catalogue import LicenceType, ProductKind
from domain.errors import Refused
from domain.order_lines import (
    CatalogueItem,
    FastChangeLine,
    OrderLine,
    QuoteLine,
    check_licence_start,
    plan_fast_change,
    plan_quote,
)

TODAY = date(2026, 11, 23)
YESTERDAY = TODAY - timedelta(days=1)
TOMORROW = TODAY + timedelta(days=1)
NEXT_MONTH = date(2026, 12, 1)

PREMIUM = LicenceType.PREMIUM
BASIC = LicenceType.BASIC

CATALOGUE = {
    "Basic": CatalogueItem(sku="Basic", name="Basic", kind=ProductKind.LICENCE, licence_type=BASIC),
    "Premium": CatalogueItem(
        sku="Premium", name="Premium", kind=ProductKind.LICENCE, licence_type=PREMIUM
    ),
    "Business": CatalogueItem(
        sku="Business", name="Business", kind=ProductKind.LICENCE, licence_type=LicenceType.BUSINESS
    ),
    "WP480G": CatalogueItem(sku="WP480G", name="Desk phone", kind=ProductKind.CAPEX),
    "SETUP": CatalogueItem(sku="SETUP", name="Setup service", kind=ProductKind.SERVICE),
    "CLASSOUND-FLAT": CatalogueItem(
        sku="CLASSOUND-FLAT", name="CLASSOUND flat", kind=ProductKind.CLASSOUND_FLAT
    ),
}

CURRENT = {PREMIUM: 5, BASIC: 2}


def fast(*lines: FastChangeLine, current=None):
    return plan_fast_change(list(lines), CURRENT if current is None else current, CATALOGUE, TODAY)


def quote(*lines: QuoteLine, current=None):
    return plan_quote(list(lines), CURRENT if current is None else current, CATALOGUE, TODAY)


def by_sku(plan, sku: str) -> OrderLine:
    (line,) = [ln for ln in plan.lines if ln.sku == sku]
    return line


# --- check_licence_start ---------------------------------------------------------------------


def test_start_no_date_means_the_day_applied():
    assert check_licence_start("Premium", 3, None, TODAY) is None


def test_start_increase_today_means_the_day_applied():
    assert check_licence_start("Premium", 3, TODAY, TODAY) is None


@pytest.mark.parametrize("start", [TOMORROW, NEXT_MONTH])
def test_start_increase_may_be_scheduled(start):
    assert check_licence_start("Premium", 3, start, TODAY) == start


@pytest.mark.parametrize("change", [3, -3, 0])
def test_start_in_the_past_is_refused(change):
    with pytest.raises(Refused, match="Premium: start date 2026-11-22 is in the past"):
        check_licence_start("Premium", change, YESTERDAY, TODAY)


@pytest.mark.parametrize("start", [TOMORROW, NEXT_MONTH])
def test_start_reduction_cannot_be_scheduled(start):
    with pytest.raises(Refused, match="a licence reduction cannot be scheduled.*immediately"):
        check_licence_start("Premium", -1, start, TODAY)


def test_start_reduction_dated_today_is_immediate():
    assert check_licence_start("Premium", -1, TODAY, TODAY) is None


def test_start_reduction_without_date_is_immediate():
    assert check_licence_start("Premium", -1, None, TODAY) is None


# --- plan_fast_change -----------------------------------------------------------------------


def test_fast_increase_plans_the_difference():
    plan = fast(FastChangeLine(sku="Premium", quantity=12))
    assert plan.lines == [
        OrderLine(sku="Premium", kind=ProductKind.LICENCE, quantity=7, licence_type=PREMIUM)
    ]
    assert plan.notes == []


def test_fast_reduction_plans_a_negative_change():
    (line,) = fast(FastChangeLine(sku="Premium", quantity=2)).lines
    assert (line.quantity, line.is_reduction, line.start_date) == (-3, True, None)


def test_fast_reduction_to_zero_removes_every_licence():
    (line,) = fast(FastChangeLine(sku="Basic", quantity=0)).lines
    assert line.quantity == -2


def test_fast_new_licence_type_starts_from_zero():
    (line,) = fast(FastChangeLine(sku="Business", quantity=4)).lines
    assert (line.licence_type, line.quantity) == (LicenceType.BUSINESS, 4)


def test_fast_increase_may_be_scheduled():
    (line,) = fast(FastChangeLine(sku="Premium", quantity=6, start_date=NEXT_MONTH)).lines
    assert line.start_date == NEXT_MONTH


def test_fast_increase_dated_today_starts_the_day_applied():
    (line,) = fast(FastChangeLine(sku="Premium", quantity=6, start_date=TODAY)).lines
    assert line.start_date is None


def test_fast_reduction_with_future_date_is_refused():
    with pytest.raises(Refused, match="cannot be scheduled"):
        fast(FastChangeLine(sku="Premium", quantity=4, start_date=TOMORROW))


def test_fast_reduction_dated_today_is_accepted_as_immediate():
    (line,) = fast(FastChangeLine(sku="Premium", quantity=4, start_date=TODAY)).lines
    assert (line.quantity, line.start_date) == (-1, None)


def test_fast_past_date_is_refused():
    with pytest.raises(Refused, match="in the past"):
        fast(FastChangeLine(sku="Premium", quantity=8, start_date=YESTERDAY))


@pytest.mark.parametrize(
    ("sku", "words"),
    [
        ("WP480G", "hardware \\(capex\\)"),
        ("SETUP", "a service"),
        ("CLASSOUND-FLAT", "a CLASSOUND-FLAT"),
    ],
)
def test_fast_refuses_anything_but_licences(sku, words):
    with pytest.raises(
        Refused, match=f"{sku} is {words}: .*only changes licences; use a change order"
    ):
        fast(FastChangeLine(sku=sku, quantity=1))


def test_fast_refuses_a_non_licence_even_beside_valid_lines():
    with pytest.raises(Refused, match="use a change order"):
        fast(FastChangeLine(sku="Premium", quantity=9), FastChangeLine(sku="WP480G", quantity=1))


def test_fast_unknown_sku_is_refused_and_known_ones_listed():
    with pytest.raises(
        Refused,
        match="unknown product 'Platinum'; known products: Basic, "
        "Business, CLASSOUND-FLAT, Premium, SETUP, WP480G",
    ):
        fast(FastChangeLine(sku="Platinum", quantity=1))


def test_fast_sku_is_found_in_any_case_and_planned_as_the_catalogue_spells_it():
    plan = fast(FastChangeLine(sku="premium", quantity=9), FastChangeLine(sku="BASIC", quantity=3))
    assert {ln.sku for ln in plan.lines} == {"Premium", "Basic"}
    assert [t.sku for t in plan.targets] == ["Premium", "Basic"]
    with pytest.raises(Refused, match="Premium appears twice"):
        fast(FastChangeLine(sku="Premium", quantity=9), FastChangeLine(sku="premium", quantity=8))


def test_a_misspelt_sku_is_refused_with_the_closest_known_names():
    with pytest.raises(
        Refused,
        match=r"unknown product 'Premum' \(did you mean Premium\?\); "
        "known products: Basic, Business, CLASSOUND-FLAT",
    ):
        fast(FastChangeLine(sku="Premum", quantity=9))
    with pytest.raises(Refused, match=r"'wp480' \(did you mean WP480G\?\)"):
        quote(QuoteLine(sku="wp480", quantity=1))


def test_quote_sku_in_any_case_is_the_catalogue_product():
    plan = quote(QuoteLine(sku="wp480g", quantity=2), QuoteLine(sku="premium", quantity=1))
    assert by_sku(plan, "WP480G").quantity == 2 and by_sku(plan, "Premium").quantity == 1


def test_fast_duplicate_licence_is_refused():
    with pytest.raises(Refused, match="Premium appears twice; give each licence type once"):
        fast(FastChangeLine(sku="Premium", quantity=9), FastChangeLine(sku="Premium", quantity=9))


def test_fast_empty_order_is_refused():
    with pytest.raises(Refused, match="needs at least one licence line"):
        fast()


def test_fast_nothing_to_change_is_refused():
    with pytest.raises(Refused, match="nothing to change"):
        fast(FastChangeLine(sku="Premium", quantity=5), FastChangeLine(sku="Basic", quantity=2))


def test_fast_new_type_with_total_zero_is_nothing_to_change():
    with pytest.raises(Refused, match="nothing to change"):
        fast(FastChangeLine(sku="Business", quantity=0))


def test_fast_unchanged_lines_are_left_out_of_the_plan():
    plan = fast(FastChangeLine(sku="Premium", quantity=5), FastChangeLine(sku="Basic", quantity=3))
    assert [(ln.sku, ln.quantity) for ln in plan.lines] == [("Basic", 1)]


def test_fast_several_licence_types_in_one_order():
    plan = fast(
        FastChangeLine(sku="Premium", quantity=3),
        FastChangeLine(sku="Basic", quantity=4, start_date=NEXT_MONTH),
    )
    assert [(ln.sku, ln.quantity, ln.start_date) for ln in plan.lines] == [
        ("Premium", -2, None),
        ("Basic", 2, NEXT_MONTH),
    ]


# --- plan_quote: licences ---------------------------------------------------------------------


def test_quote_licence_increase():
    (line,) = quote(QuoteLine(sku="Premium", quantity=3)).lines
    assert line == OrderLine(
        sku="Premium", kind=ProductKind.LICENCE, quantity=3, licence_type=PREMIUM
    )


def test_quote_licence_increase_may_be_scheduled():
    (line,) = quote(QuoteLine(sku="Premium", quantity=3, start_date=NEXT_MONTH)).lines
    assert line.start_date == NEXT_MONTH


def test_quote_licence_dated_today_starts_the_day_applied():
    (line,) = quote(QuoteLine(sku="Premium", quantity=3, start_date=TODAY)).lines
    assert line.start_date is None


def test_quote_licence_reduction_is_immediate():
    (line,) = quote(QuoteLine(sku="Premium", quantity=-2)).lines
    assert (line.quantity, line.start_date) == (-2, None)


def test_quote_licence_reduction_with_future_date_is_refused():
    with pytest.raises(Refused, match="Premium: a licence reduction cannot be scheduled"):
        quote(QuoteLine(sku="Premium", quantity=-2, start_date=TOMORROW))


def test_quote_licence_past_date_is_refused():
    with pytest.raises(Refused, match="Premium: start date 2026-11-22 is in the past"):
        quote(QuoteLine(sku="Premium", quantity=2, start_date=YESTERDAY))


def test_quote_may_remove_every_licence():
    (line,) = quote(QuoteLine(sku="Basic", quantity=-2)).lines
    assert line.quantity == -2


def test_quote_cannot_remove_more_licences_than_there_are():
    with pytest.raises(Refused, match="Basic: cannot remove 3, the PBX has only 2"):
        quote(QuoteLine(sku="Basic", quantity=-3))


def test_quote_cannot_remove_a_licence_type_the_pbx_lacks():
    with pytest.raises(Refused, match="Business: cannot remove 1, the PBX has only 0"):
        quote(QuoteLine(sku="Business", quantity=-1))


def test_quote_duplicate_licence_is_refused():
    with pytest.raises(Refused, match="Premium appears twice"):
        quote(QuoteLine(sku="Premium", quantity=1), QuoteLine(sku="Premium", quantity=-1))


def test_quote_quantity_zero_is_refused():
    with pytest.raises(Refused, match="Premium: quantity 0 changes nothing; remove the line"):
        quote(QuoteLine(sku="Premium", quantity=0))


def test_quote_empty_is_refused():
    with pytest.raises(Refused, match="a quote needs at least one line"):
        quote()


def test_quote_unknown_sku_is_refused():
    with pytest.raises(Refused, match="unknown product 'XYZ'; known products: Basic"):
        quote(QuoteLine(sku="XYZ", quantity=1))


def test_quote_unknown_sku_with_empty_catalogue_says_none_known():
    with pytest.raises(Refused, match="known products: none"):
        plan_quote([QuoteLine(sku="Premium", quantity=1)], CURRENT, {}, TODAY)


@pytest.mark.parametrize("sku", ["Premium", "WP480G", "SETUP"])
def test_quote_only_a_flat_names_a_licence(sku):
    with pytest.raises(Refused, match=f"{sku}: only a CLASSOUND-FLAT is linked to a licence"):
        quote(QuoteLine(sku=sku, quantity=1, licence=BASIC))


@pytest.mark.parametrize("sku", ["WP480G", "SETUP", "CLASSOUND-FLAT"])
def test_quote_only_licences_can_be_reduced(sku):
    licence = PREMIUM if sku == "CLASSOUND-FLAT" else None
    with pytest.raises(Refused, match=f"{sku}: only licences can be reduced on a quote"):
        quote(QuoteLine(sku=sku, quantity=-1, licence=licence))


# --- plan_quote: hardware (capex) and services ------------------------------------------------


def test_quote_capex_starts_the_day_applied():
    plan = quote(QuoteLine(sku="WP480G", quantity=2))
    assert plan.lines == [OrderLine(sku="WP480G", kind=ProductKind.CAPEX, quantity=2)]
    assert plan.notes == []


@pytest.mark.parametrize("start", [NEXT_MONTH, YESTERDAY])
def test_quote_capex_requested_start_is_ignored_with_a_note(start):
    plan = quote(QuoteLine(sku="WP480G", quantity=2, start_date=start))
    assert plan.lines[0].start_date is None
    (note,) = plan.notes
    assert f"WP480G: requested start {start} ignored" in note
    assert "hardware (capex) always starts on the day the order is applied" in note


def test_quote_capex_start_today_needs_no_note():
    plan = quote(QuoteLine(sku="WP480G", quantity=2, start_date=TODAY))
    assert plan.lines[0].start_date is None
    assert plan.notes == []


def test_quote_service_keeps_its_future_start():
    (line,) = quote(QuoteLine(sku="SETUP", quantity=1, start_date=NEXT_MONTH)).lines
    assert (line.kind, line.start_date) == (ProductKind.SERVICE, NEXT_MONTH)


def test_quote_service_without_date_starts_the_day_applied():
    (line,) = quote(QuoteLine(sku="SETUP", quantity=1)).lines
    assert line.start_date is None


def test_quote_service_past_date_is_refused():
    with pytest.raises(Refused, match="SETUP: start date 2026-11-22 is in the past"):
        quote(QuoteLine(sku="SETUP", quantity=1, start_date=YESTERDAY))


# --- plan_quote: CLASSOUND-FLAT ---------------------------------------------------------------


def test_quote_flat_must_name_its_licence():
    with pytest.raises(
        Refused,
        match="CLASSOUND-FLAT must name the licence it is linked to, e.g. CLASSOUND-FLAT:Premium=2",
    ):
        quote(QuoteLine(sku="CLASSOUND-FLAT", quantity=2))


def test_quote_flat_on_existing_licence_starts_the_day_applied():
    (line,) = quote(QuoteLine(sku="CLASSOUND-FLAT", quantity=2, licence=PREMIUM)).lines
    assert line == OrderLine(
        sku="CLASSOUND-FLAT",
        kind=ProductKind.CLASSOUND_FLAT,
        quantity=2,
        licence_type=PREMIUM,
        start_date=None,
    )


def test_quote_flat_starts_with_its_scheduled_licence_on_the_same_quote():
    plan = quote(
        QuoteLine(sku="Premium", quantity=2, start_date=NEXT_MONTH),
        QuoteLine(sku="CLASSOUND-FLAT", quantity=2, licence=PREMIUM),
    )
    assert by_sku(plan, "CLASSOUND-FLAT").start_date == NEXT_MONTH


def test_quote_flat_listed_before_its_licence_still_takes_the_licence_start():
    plan = quote(
        QuoteLine(sku="CLASSOUND-FLAT", quantity=1, licence=PREMIUM),
        QuoteLine(sku="Premium", quantity=1, start_date=NEXT_MONTH),
    )
    assert by_sku(plan, "CLASSOUND-FLAT").start_date == NEXT_MONTH
    assert [ln.sku for ln in plan.lines] == ["CLASSOUND-FLAT", "Premium"]


def test_quote_flat_takes_the_start_of_its_own_licence_type_only():
    plan = quote(
        QuoteLine(sku="Basic", quantity=1, start_date=NEXT_MONTH),
        QuoteLine(sku="CLASSOUND-FLAT", quantity=1, licence=PREMIUM),
    )
    assert by_sku(plan, "CLASSOUND-FLAT").start_date is None


def test_quote_flat_requested_start_is_ignored_with_a_note():
    plan = quote(
        QuoteLine(sku="Premium", quantity=1, start_date=NEXT_MONTH),
        QuoteLine(sku="CLASSOUND-FLAT", quantity=1, licence=PREMIUM, start_date=date(2027, 3, 1)),
    )
    assert by_sku(plan, "CLASSOUND-FLAT").start_date == NEXT_MONTH
    (note,) = plan.notes
    assert "CLASSOUND-FLAT: requested start 2027-03-01 ignored" in note
    assert "starts with its linked Premium licence" in note


def test_quote_flat_without_any_linked_licence_is_refused():
    with pytest.raises(
        Refused,
        match="the PBX has no Business licence to link it to; "
        "add Business licences on the same quote",
    ):
        quote(QuoteLine(sku="CLASSOUND-FLAT", quantity=1, licence=LicenceType.BUSINESS))


def test_quote_flat_on_a_licence_added_by_the_same_quote_is_accepted():
    plan = quote(
        QuoteLine(sku="Business", quantity=1),
        QuoteLine(sku="CLASSOUND-FLAT", quantity=1, licence=LicenceType.BUSINESS),
    )
    assert by_sku(plan, "CLASSOUND-FLAT").licence_type is LicenceType.BUSINESS


def test_quote_flat_on_a_licence_removed_by_the_same_quote_is_refused():
    with pytest.raises(Refused, match="the PBX has no Basic licence to link it to"):
        quote(
            QuoteLine(sku="CLASSOUND-FLAT", quantity=1, licence=BASIC),
            QuoteLine(sku="Basic", quantity=-2),
        )


def test_quote_more_flats_than_licence_seats_is_refused():
    with pytest.raises(Refused, match="at most one flat"):
        quote(QuoteLine(sku="CLASSOUND-FLAT", quantity=5, licence=BASIC))


def test_quote_flats_already_on_the_pbx_count_against_the_seats():
    seats = CURRENT[BASIC]
    line = QuoteLine(sku="CLASSOUND-FLAT", quantity=1, licence=BASIC)
    plan_quote([line], CURRENT, CATALOGUE, TODAY, flats={BASIC: seats - 1})
    with pytest.raises(Refused, match="at most one flat"):
        plan_quote([line], CURRENT, CATALOGUE, TODAY, flats={BASIC: seats})


# --- plan_quote: a mixed quote ----------------------------------------------------------------


def test_quote_mixed_lines_keep_their_order_and_notes():
    plan = quote(
        QuoteLine(sku="Premium", quantity=3, start_date=NEXT_MONTH),
        QuoteLine(sku="Basic", quantity=-1),
        QuoteLine(sku="WP480G", quantity=2, start_date=NEXT_MONTH),
        QuoteLine(sku="CLASSOUND-FLAT", quantity=3, licence=PREMIUM),
        QuoteLine(sku="SETUP", quantity=1, start_date=TOMORROW),
    )
    assert [
        (ln.sku, ln.kind, ln.quantity, ln.licence_type, ln.start_date) for ln in plan.lines
    ] == [
        ("Premium", ProductKind.LICENCE, 3, PREMIUM, NEXT_MONTH),
        ("Basic", ProductKind.LICENCE, -1, BASIC, None),
        ("WP480G", ProductKind.CAPEX, 2, None, None),
        ("CLASSOUND-FLAT", ProductKind.CLASSOUND_FLAT, 3, PREMIUM, NEXT_MONTH),
        ("SETUP", ProductKind.SERVICE, 1, None, TOMORROW),
    ]
    assert len(plan.notes) == 1 and plan.notes[0].startswith("WP480G:")


def test_quote_does_not_change_the_current_counts_passed_in():
    current = {PREMIUM: 5}
    quote(QuoteLine(sku="Premium", quantity=2), current=current)
    assert current == {PREMIUM: 5}
