"""The CLASSOUND order's rules on their boundaries: timing of the wait for the reseller,
flats per licence seat, billing plans, the carrier's answer, free text for ops."""

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.catalogue import LicenceType
from domain.classound import (
    ESCALATE_AFTER,
    EXPIRES_AFTER,
    REMIND_EVERY,
    CarrierAnswer,
    ClassoundRequest,
    Extension,
    check_no_phone_number,
    check_porting_date,
    deadlines,
    flats_to_order,
    next_reseller_event,
    numbers_per_flat,
    parse_flats,
)
from domain.classound_billing import billing_plan
from domain.errors import Refused
from domain.porting_numbers import NumberListRef

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
B, E, P, BU = (LicenceType.BASIC, LicenceType.ESSENTIAL, LicenceType.PREMIUM, LicenceType.BUSINESS)


def events(escalated_after: int | None = None, extended=timedelta(0)) -> list[tuple[str, int]]:
    """Every event of an untouched wait, as (event, day)."""
    out, reminders, escalated = [], 0, False
    while True:
        event, at = next_reseller_event(T0, reminders, escalated, extended)
        out.append((event, (at - T0).days))
        if event == "expiry":
            return out
        if event == "reminder":
            reminders += 1
        else:
            escalated = True


# --- timing ---------------------------------------------------------------------------------


def test_the_timing_we_chose():
    assert (REMIND_EVERY, ESCALATE_AFTER, EXPIRES_AFTER) == (
        timedelta(days=3),
        timedelta(days=10),
        timedelta(days=30),
    )


def test_reminders_every_three_days_escalation_at_ten_expiry_at_thirty():
    assert events() == [
        ("reminder", 3),
        ("reminder", 6),
        ("reminder", 9),
        ("escalation", 10),
        ("reminder", 12),
        ("reminder", 15),
        ("reminder", 18),
        ("reminder", 21),
        ("reminder", 24),
        ("reminder", 27),
        ("expiry", 30),
    ]


def test_no_reminder_on_the_expiry_day():
    event, at = next_reseller_event(T0, 9, True)
    assert (event, at) == ("expiry", T0 + EXPIRES_AFTER)  # day 30 would be reminder 10


def test_an_extension_moves_escalation_and_expiry_but_not_the_reminder_rhythm():
    days = events(extended=timedelta(days=5))
    assert ("escalation", 15) in days and days[-1] == ("expiry", 35)
    assert [d for e, d in days if e == "reminder"] == list(range(3, 35, 3))


def test_escalation_and_reminder_on_the_same_moment_escalation_first():
    event, at = next_reseller_event(T0, 3, False, timedelta(days=2))  # both on day 12
    assert (event, (at - T0).days) == ("escalation", 12)


def test_after_escalation_only_reminders_and_expiry_remain():
    assert next_reseller_event(T0, 3, True)[0] == "reminder"
    assert "escalation" not in [e for e, _ in events()[4:]]


def test_deadlines():
    assert deadlines(T0, timedelta(days=1)) == (T0 + timedelta(days=11), T0 + timedelta(days=31))


# --- flats: one per licence seat ------------------------------------------------------------


def test_activation_without_flats_books_one_per_licence_seat():
    assert flats_to_order("PBX", {}, {P: 3, B: 2}, {}, existing_customer=False) == {P: 3, B: 2}


def test_activation_with_named_flats_books_those():
    assert flats_to_order("PBX", {P: 1}, {P: 3, B: 2}, {}, existing_customer=False) == {P: 1}


def test_flats_up_to_the_seats_without_a_flat_and_one_more_is_refused():
    assert flats_to_order("PBX", {P: 2}, {P: 3}, {P: 1}, existing_customer=True) == {P: 2}
    with pytest.raises(Refused, match="3 CLASSOUND-FLAT.* 3 Premium licence.*1 of them"):
        flats_to_order("PBX", {P: 3}, {P: 3}, {P: 1}, existing_customer=True)


def test_flats_on_a_licence_type_the_pbx_does_not_have_are_refused():
    with pytest.raises(Refused, match="has 0 Business licence"):
        flats_to_order("PBX", {BU: 1}, {P: 3}, {}, existing_customer=False)


def test_activation_on_a_pbx_that_already_has_classound_is_refused():
    with pytest.raises(Refused, match="already uses CLASSOUND .*--existing-customer"):
        flats_to_order("PBX", {}, {P: 3}, {P: 1}, existing_customer=False)


def test_classound_ordering_needs_an_existing_classound_customer():
    with pytest.raises(Refused, match="no CLASSOUND yet"):
        flats_to_order("PBX", {P: 1}, {P: 3}, {}, existing_customer=True)


def test_classound_ordering_may_add_no_flats_only_numbers():
    assert flats_to_order("PBX", {}, {P: 3}, {P: 3}, existing_customer=True) == {}


def test_activation_without_any_free_licence_seat_is_refused():
    with pytest.raises(Refused, match="no licence without a CLASSOUND-FLAT"):
        flats_to_order("PBX", {}, {}, {}, existing_customer=False)


@pytest.mark.parametrize(
    "texts, expected",
    [
        (["Premium=5"], {P: 5}),
        (["premium=+2", " basic = 1 "], {P: 2, B: 1}),
        ([], {}),
    ],
)
def test_parse_flats(texts, expected):
    assert parse_flats(texts) == expected


@pytest.mark.parametrize(
    "texts, message",
    [
        (["Premium"], "write it like Premium=5"),
        (["Gold=2"], "not a licence type"),
        (["Premium=0"], "at least one flat"),
        (["Premium=-1"], "write it like"),
        (["Premium=1", "PREMIUM=2"], "given twice"),
    ],
)
def test_parse_flats_refuses(texts, message):
    with pytest.raises(ValueError, match=message):
        parse_flats(texts)


# --- billing --------------------------------------------------------------------------------


@pytest.mark.parametrize("licence", [E, P, BU])
def test_essential_premium_business_include_3000_free_minutes_per_user(licence):
    plan = billing_plan(licence)
    assert (plan.plan, plan.free_minutes_per_user) == ("free-minutes", 3000)
    assert str(plan) == f"{licence.value}: 3,000 free minutes per user per month"


def test_basic_is_billed_per_minute():
    plan = billing_plan(B)
    assert (plan.plan, plan.free_minutes_per_user) == ("per-minute", 0)
    assert str(plan) == "Basic: calls billed per minute"


# --- the carrier ----------------------------------------------------------------------------


def test_porting_date_today_up_to_a_year_ahead():
    today = date(2026, 11, 23)
    check_porting_date(today, today)
    check_porting_date(today + timedelta(days=365), today)
    with pytest.raises(Refused, match="is in the past"):
        check_porting_date(today - timedelta(days=1), today)
    with pytest.raises(Refused, match="more than a year ahead"):
        check_porting_date(today + timedelta(days=366), today)


def test_a_carrier_answer_is_a_date_or_a_refusal_not_both_nor_neither():
    CarrierAnswer(actor="s", porting_date=date(2026, 12, 3))
    CarrierAnswer(actor="s", refused="LOA unsigned")
    with pytest.raises(ValidationError, match="either a porting date or"):
        CarrierAnswer(actor="s")
    with pytest.raises(ValidationError, match="either a porting date or"):
        CarrierAnswer(actor="s", porting_date=date(2026, 12, 3), refused="LOA unsigned")


@pytest.mark.parametrize(
    "text",
    [
        "number +49 30 1234567 is not ours",
        "030/1234567 unknown",
        "Kundennummer 12345678",
        "ported already: 0049(30)123-4567",
    ],
)
def test_text_with_a_phone_number_is_refused(text):
    with pytest.raises(Refused, match="phone or customer number"):
        check_no_phone_number(text, "reason")


@pytest.mark.parametrize(
    "text",
    [
        "LOA not signed",
        "address differs since 2024-03-01",
        "contract 123456 ended",
        "invoice older than 3 months",
        "signed 01.03.2024, moved 2025-01-31",
    ],
)
def test_text_without_a_phone_number_passes(text):
    check_no_phone_number(text, "reason")


# --- requests and steps ---------------------------------------------------------------------


def test_extension_days_between_1_and_60():
    Extension(actor="s", days=1)
    Extension(actor="s", days=60)
    for days in (0, 61):
        with pytest.raises(ValidationError):
            Extension(actor="s", days=days)


def test_request_carries_a_reference_to_the_numbers_never_the_numbers():
    ref = NumberListRef(sha256="a" * 64, count=3)
    request = ClassoundRequest(
        account_id="A", pbx_id="P", numbers=ref, requested_by="s", flats={P: 2}
    )
    assert set(request.model_dump()) == {
        "account_id",
        "pbx_id",
        "existing_customer",
        "flats",
        "numbers",
        "requested_by",
    }
    assert request.model_dump()["numbers"] == {"sha256": "a" * 64, "count": 3}
    with pytest.raises(ValidationError, match="between 1 and 10000"):
        ClassoundRequest(account_id="A", pbx_id="P", numbers=ref, requested_by="s", flats={P: 0})


# --- which flat a ported number belongs to --------------------------------------------------


@pytest.mark.parametrize(
    ("n", "flats", "runs"),
    [
        (4, [11, 12, 13], [2, 1, 1]),  # the longer runs first, the first to the first flat
        (3, [11, 12, 13], [1, 1, 1]),
        (7, [11, 12], [4, 3]),
        (2, [11, 12, 13], [1, 1, 0]),  # more flats than numbers: the last ones get none
        (1, [5], [1]),
    ],
)
def test_numbers_go_to_the_flats_in_list_order_in_even_runs(n, flats, runs):
    numbers = [f"+4930555{i:04d}" for i in range(n)]
    linked = numbers_per_flat(numbers, flats)
    assert list(linked) == numbers  # every number, once
    assert [list(linked.values()).count(f) for f in flats] == runs
    assert list(linked.values()) == sorted(linked.values())  # contiguous, in booking order


def test_without_flats_no_number_is_linked():
    assert numbers_per_flat(["+41445550201"], []) == {}
