"""The numbers to port: how people write them, and what a list must be."""

import pytest

from domain.porting_numbers import (
    MAX_NUMBERS,
    NumberListError,
    canonical_list,
    normalise_number,
    parse_number_list,
)


@pytest.mark.parametrize(
    "text, number",
    [
        ("+49 30 1234567", "+49301234567"),
        ("0049 (30) 123-45-67", "+49301234567"),
        ("+41.44.555.02.00", "+41445550200"),
        ("+4930/1234567", "+49301234567"),
        ("+1234567", "+1234567"),  # 7 digits: the shortest we accept
        ("+123456789012345", "+123456789012345"),  # 15 digits: the E.164 maximum
    ],
)
def test_normalise(text, number):
    assert normalise_number(text) == number


@pytest.mark.parametrize(
    "text",
    ["030 1234567", "+0 30 1234567", "+123456", "+1234567890123456", "+49 30 12a4567", "", "+"],
)
def test_not_a_number_with_country_code(text):
    assert normalise_number(text) is None


def test_a_list_keeps_its_order_and_skips_comments_and_blank_lines():
    text = "# Acme block\n+49 30 5550100\n\n  0049 30 5550101  # reception\n"
    assert parse_number_list(text) == ["+49305550100", "+49305550101"]


def test_errors_name_lines_never_the_numbers():
    with pytest.raises(NumberListError) as err:
        parse_number_list("+49 30 5550100\n030 5550101\n+49 (30) 555-0100\n")
    message = str(err.value)
    assert message == (
        "line 2 is not a phone number with country code (write it like "
        "+49 30 1234567); line 3 repeats the number of line 1"
    )
    assert "5550101" not in message


def test_entries_can_be_named_otherwise():
    with pytest.raises(NumberListError, match="^--number 2 is not a phone number"):
        parse_number_list("+49 30 5550100\nnope", entry="--number")


def test_many_errors_are_summarised():
    with pytest.raises(NumberListError, match=r"line 5 .*\(and 2 more\)$"):
        parse_number_list("\n".join(["bad"] * 7))


def test_an_empty_list_is_refused():
    with pytest.raises(NumberListError, match="no numbers to port"):
        parse_number_list("# nothing yet\n\n")


def test_at_most_1000_numbers():
    numbers = [f"+4930{n:07d}" for n in range(MAX_NUMBERS + 1)]
    assert len(parse_number_list("\n".join(numbers[:-1]))) == MAX_NUMBERS
    with pytest.raises(NumberListError, match="1001 numbers; one order ports at most 1000"):
        parse_number_list("\n".join(numbers))


def test_canonical_list_round_trips():
    numbers = ["+49305550100", "+41445550200"]
    assert canonical_list(numbers) == b"+49305550100\n+41445550200\n"
    assert parse_number_list(canonical_list(numbers).decode()) == numbers
