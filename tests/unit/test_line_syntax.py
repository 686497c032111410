"""How staff write order lines (domain/line_syntax.py)."""

from datetime import date

import pytest

from domain.catalogue import LicenceType
from domain.line_syntax import LineSyntaxError, parse_fast_change_line, parse_quote_line
from domain.order_lines import FastChangeLine, QuoteLine

# --- fast change: SKU=TOTAL[@YYYY-MM-DD] -----------------------------------------------------


def test_fast_change_total_without_date():
    assert parse_fast_change_line("Premium=12") == FastChangeLine(sku="Premium", quantity=12)


def test_fast_change_total_with_start_date():
    assert parse_fast_change_line("Premium=12@2026-12-01") == FastChangeLine(
        sku="Premium", quantity=12, start_date=date(2026, 12, 1)
    )


def test_fast_change_total_may_be_zero():
    assert parse_fast_change_line("Basic=0").quantity == 0


def test_fast_change_surrounding_whitespace_is_ignored():
    assert parse_fast_change_line("  Premium=12\n") == FastChangeLine(sku="Premium", quantity=12)


@pytest.mark.parametrize("text", ["Premium=+2", "Premium=-2", "Premium=+0"])
def test_fast_change_refuses_a_signed_change(text):
    with pytest.raises(LineSyntaxError, match="give the new total, not a change"):
        parse_fast_change_line(text)


def test_fast_change_refuses_a_linked_licence():
    with pytest.raises(LineSyntaxError, match="a fast change line is LICENCE=TOTAL"):
        parse_fast_change_line("CLASSOUND-FLAT:Premium=2")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Premium",
        "=12",
        "Premium=",
        "Premium=twelve",
        "Premium = 12",
        "Premium=1.5",
        "Premium=12@",
        "-Premium=12",
        "Prem ium=12",
    ],
)
def test_fast_change_unreadable_lines_show_an_example(text):
    with pytest.raises(LineSyntaxError, match="cannot read line .*; write it like Premium=12"):
        parse_fast_change_line(text)


@pytest.mark.parametrize("when", ["2026-13-01", "2026-02-30", "tomorrow", "01.12.2026"])
def test_fast_change_bad_date_is_named(when):
    with pytest.raises(LineSyntaxError, match=f"start date '{when}' is not a date like 2026-12-01"):
        parse_fast_change_line(f"Premium=12@{when}")


def test_fast_change_total_above_limit_is_refused():
    with pytest.raises(LineSyntaxError, match="less than or equal to 100000"):
        parse_fast_change_line("Premium=100001")


def test_fast_change_total_at_limit_is_accepted():
    assert parse_fast_change_line("Premium=100000").quantity == 100_000


def test_fast_change_overlong_sku_is_refused():
    with pytest.raises(LineSyntaxError, match="at most 64 characters"):
        parse_fast_change_line("P" * 65 + "=1")


def test_error_message_quotes_the_line():
    with pytest.raises(LineSyntaxError, match="'Premium=\\+2'"):
        parse_fast_change_line("Premium=+2")


def test_line_syntax_error_is_a_value_error():
    assert issubclass(LineSyntaxError, ValueError)


# --- quote: SKU[:LICENCE]=CHANGE[@YYYY-MM-DD] -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "quantity"),
    [("Premium=+3", 3), ("Premium=3", 3), ("Basic=-2", -2), ("Premium=0", 0)],
)
def test_quote_signed_and_unsigned_changes(text, quantity):
    line = parse_quote_line(text)
    assert (line.quantity, line.licence, line.start_date) == (quantity, None, None)


def test_quote_hardware_line():
    assert parse_quote_line("WP480G=2") == QuoteLine(sku="WP480G", quantity=2)


def test_quote_flat_names_its_licence():
    assert parse_quote_line("CLASSOUND-FLAT:Premium=2") == QuoteLine(
        sku="CLASSOUND-FLAT", quantity=2, licence=LicenceType.PREMIUM
    )


@pytest.mark.parametrize("written", ["premium", "PREMIUM", "Premium"])
def test_quote_licence_name_is_case_insensitive(written):
    assert parse_quote_line(f"CLASSOUND-FLAT:{written}=1").licence is LicenceType.PREMIUM


def test_quote_line_with_start_date():
    assert parse_quote_line("Premium=+3@2026-12-01").start_date == date(2026, 12, 1)


def test_quote_flat_with_start_date_parses():
    line = parse_quote_line("CLASSOUND-FLAT:Basic=1@2027-01-15")
    assert (line.licence, line.start_date) == (LicenceType.BASIC, date(2027, 1, 15))


def test_quote_unknown_licence_type_lists_the_known_ones():
    with pytest.raises(
        LineSyntaxError,
        match=r"'Gold' is not a licence type \(Basic, Essential, Premium, Business\)",
    ):
        parse_quote_line("CLASSOUND-FLAT:Gold=2")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Premium",
        "Premium=+",
        "Premium=++3",
        "Premium=3x",
        "CLASSOUND-FLAT:=2",
        "CLASSOUND-FLAT:Premium1=2",
        "WP480G = 2",
    ],
)
def test_quote_unreadable_lines_show_examples(text):
    with pytest.raises(LineSyntaxError, match="cannot read line .*; write it like Premium=\\+3"):
        parse_quote_line(text)


def test_quote_bad_date_is_named():
    with pytest.raises(LineSyntaxError, match="start date '2026-12-32' is not a date"):
        parse_quote_line("Premium=+3@2026-12-32")


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ("Premium=+100001", "less than or equal to 100000"),
        ("Premium=-100001", "greater than or equal to -100000"),
    ],
)
def test_quote_quantity_beyond_limits_is_refused(text, bound):
    with pytest.raises(LineSyntaxError, match=bound):
        parse_quote_line(text)


@pytest.mark.parametrize(
    ("text", "quantity"), [("Premium=+100000", 100_000), ("Basic=-100000", -100_000)]
)
def test_quote_quantity_at_limits_is_accepted(text, quantity):
    assert parse_quote_line(text).quantity == quantity
