"""What a licence reduction cancels (domain/licence.py reduction_cascade): flats beyond the
seats left, newest first; their DIDs are listed for customer care, not cancelled here."""

from datetime import date

import pytest

from domain.licence import FlatSeat, reduction_cascade

FLATS = [
    FlatSeat(id=1, start_date=date(2025, 1, 1), dids=["+4930100"]),
    FlatSeat(id=2, start_date=date(2025, 6, 1), dids=["+4930200", "+4930201"]),
    FlatSeat(id=3, start_date=date(2026, 3, 1), dids=[]),
    FlatSeat(id=4, start_date=date(2026, 9, 1), dids=["+4930400"]),
]


def test_no_flats_nothing_cancelled():
    cascade = reduction_cascade([], licences_left=0)
    assert cascade.cancelled_flats == []
    assert cascade.dids_to_cancel == []


@pytest.mark.parametrize("licences_left", [4, 5, 100])
def test_no_flat_cancelled_while_licences_left_cover_every_flat(licences_left):
    cascade = reduction_cascade(FLATS, licences_left)
    assert cascade.cancelled_flats == []
    assert cascade.dids_to_cancel == []


@pytest.mark.parametrize(
    ("licences_left", "cancelled"),
    [(3, [4]), (2, [3, 4]), (1, [2, 3, 4]), (0, [1, 2, 3, 4])],
)
def test_flats_beyond_licences_left_are_cancelled_newest_first(licences_left, cancelled):
    assert reduction_cascade(FLATS, licences_left).cancelled_flats == cancelled


def test_dids_of_cancelled_flats_are_listed():
    cascade = reduction_cascade(FLATS, licences_left=2)
    # flats 3 (no DIDs) and 4 go
    assert cascade.dids_to_cancel == ["+4930400"]


def test_dids_of_kept_flats_are_not_listed():
    cascade = reduction_cascade(FLATS, licences_left=1)
    assert "+4930100" not in cascade.dids_to_cancel
    assert cascade.dids_to_cancel == ["+4930200", "+4930201", "+4930400"]


def test_no_licences_left_cancels_every_flat_and_lists_every_did():
    cascade = reduction_cascade(FLATS, licences_left=0)
    assert cascade.cancelled_flats == [1, 2, 3, 4]
    assert cascade.dids_to_cancel == ["+4930100", "+4930200", "+4930201", "+4930400"]


def test_negative_licences_left_is_treated_as_none_left():
    assert reduction_cascade(FLATS, licences_left=-3).cancelled_flats == [1, 2, 3, 4]


def test_newest_is_decided_by_start_date_not_by_id_or_input_order():
    flats = [
        FlatSeat(id=10, start_date=date(2026, 1, 1)),
        FlatSeat(id=5, start_date=date(2026, 8, 1)),
        FlatSeat(id=7, start_date=date(2025, 1, 1)),
    ]
    assert reduction_cascade(flats, licences_left=2).cancelled_flats == [5]
    assert reduction_cascade(list(reversed(flats)), licences_left=2).cancelled_flats == [5]


def test_same_start_date_the_higher_id_counts_as_newer():
    flats = [
        FlatSeat(id=8, start_date=date(2026, 1, 1)),
        FlatSeat(id=9, start_date=date(2026, 1, 1)),
    ]
    assert reduction_cascade(flats, licences_left=1).cancelled_flats == [9]


def test_results_are_sorted():
    flats = [
        FlatSeat(id=30, start_date=date(2026, 2, 1), dids=["+49z"]),
        FlatSeat(id=20, start_date=date(2026, 3, 1), dids=["+49b", "+49a"]),
    ]
    cascade = reduction_cascade(flats, licences_left=0)
    assert cascade.cancelled_flats == [20, 30]
    assert cascade.dids_to_cancel == ["+49a", "+49b", "+49z"]
