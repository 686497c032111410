"""Rules of the customer signing page (domain/signing.py)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from domain.renegotiation import signing_closes_at
from domain.signing import (
    LinkState,
    csrf_field,
    csrf_ok,
    document_sha256,
    language_for_signer,
    line_total,
    link_state,
    name_matches,
    same_document,
    token_matches,
)

DEADLINE = date(2026, 12, 9)


@pytest.mark.parametrize(
    "typed, ok",
    [
        ("Ingrid Berg", True),
        ("ingrid berg", True),
        ("  INGRID   BERG ", True),
        ("Ingrid", False),
        ("Ingrid Bergh", False),
        ("", False),
        ("   ", False),
    ],
)
def test_the_signer_types_their_own_name_in_any_case_and_spacing(typed, ok):
    assert name_matches(typed, "Ingrid Berg") is ok


def test_names_compare_unicode_normalised():
    assert name_matches("BJØRN ÅSE", "Bjørn Åse")
    assert name_matches("Bjo\u0308rn", "Björn")  # a decomposed ö is the same letter
    assert not name_matches("Bjorn", "Bjørn")


def test_the_link_is_open_all_through_the_deadline_day_in_oslo():
    closes = signing_closes_at(DEADLINE)  # midnight after the deadline, Oslo time
    assert closes == datetime(2026, 12, 9, 23, 0, tzinfo=UTC)
    assert link_state("sent", DEADLINE, closes - timedelta(seconds=1)) is LinkState.OPEN
    assert link_state("sent", DEADLINE, closes) is LinkState.EXPIRED
    # an extension moves the deadline, and the link with it
    assert link_state("sent", DEADLINE + timedelta(days=3), closes) is LinkState.OPEN


@pytest.mark.parametrize(
    "status, state",
    [
        ("signed", LinkState.SIGNED),
        ("superseded", LinkState.SIGNED),
        ("declined", LinkState.DECLINED),
        ("expired", LinkState.EXPIRED),
        ("cancelled", LinkState.WITHDRAWN),
        ("draft", LinkState.INVALID),
    ],
)
def test_a_used_expired_or_withdrawn_link(status, state):
    assert link_state(status, DEADLINE, datetime(2026, 12, 1, tzinfo=UTC)) is state


def test_the_token_is_checked_against_its_hash_only():
    digest = document_sha256("abc")  # the SHA-256 of the token, as the contract keeps it
    assert token_matches("abc", digest)
    assert not token_matches("abd", digest)
    assert not token_matches("", digest) and not token_matches("abc", None)


def test_the_csrf_field_is_bound_to_the_link_and_the_secret():
    field = csrf_field(b"s1", "K-1", "tok")
    assert csrf_ok(b"s1", "K-1", "tok", field)
    assert not csrf_ok(b"s2", "K-1", "tok", field)
    assert not csrf_ok(b"s1", "K-2", "tok", field)
    assert not csrf_ok(b"s1", "K-1", "other", field)
    assert not csrf_ok(b"s1", "K-1", "tok", "")
    assert not csrf_ok(b"s1", "K-1", "tok", "æøå")  # a forged field: refused, no error


def test_the_document_is_the_one_shown():
    assert same_document("<article>x</article>", document_sha256("<article>x</article>"))
    assert not same_document("<article>y</article>", document_sha256("<article>x</article>"))
    assert not same_document("x", "ø" * 64)


@pytest.mark.parametrize(
    "chosen, preferred, language",
    [
        (None, None, "nb"),  # the process's own language: Avonova's Norwegian customers
        (None, "nb", "nb"),
        (None, "en", "en"),
        (None, "de", "en"),  # a contact who reads another language: English
        ("en", "nb", "en"),  # chosen on the page
        ("xx", "nb", "nb"),  # not a language of the page: ignored
    ],
)
def test_the_language(chosen, preferred, language):
    assert language_for_signer(chosen, preferred) == language


def test_a_line_total_less_its_discount():
    assert line_total(2, Decimal("1200.00"), Decimal("5")) == Decimal("2280.00")
    assert line_total(1, Decimal("4900.00"), Decimal("100")) == Decimal("0.00")
    assert line_total(3, Decimal("0.10"), Decimal("33.33")) == Decimal("0.20")
