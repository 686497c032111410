"""Business dates per process family: across midnight and the daylight-saving changes
(2026: summer time from Sunday 29 March, back on Sunday 25 October)."""

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from domain.business_time import (
    DEFAULT_ZONES,
    Family,
    business_today,
    parse_zones,
    start_of_business_day,
    use_zones,
)
from domain.renegotiation import business_date, signing_closes_at

ROOT = Path(__file__).resolve().parents[2]
BERLIN = (Family.CHANGE_ORDERS, Family.CLASSOUND, Family.PSA, Family.PARTNERS)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_zone_of_each_family():
    assert {f: z for f, z in DEFAULT_ZONES.items()} == {
        Family.CHANGE_ORDERS: "Europe/Berlin",
        Family.CLASSOUND: "Europe/Berlin",
        Family.PSA: "Europe/Berlin",
        Family.PARTNERS: "Europe/Berlin",
        Family.RENEGOTIATION: "Europe/Oslo",
    }


@pytest.mark.parametrize("family", BERLIN)
def test_half_past_eleven_utc_on_a_winter_day_is_tomorrow_in_berlin(family):
    assert business_today(utc(2026, 12, 2, 22, 59), family) == date(2026, 12, 2)
    assert business_today(utc(2026, 12, 2, 23, 0), family) == date(2026, 12, 3)
    assert business_today(utc(2026, 12, 2, 23, 30), family) == date(2026, 12, 3)


def test_on_a_summer_day_the_berlin_day_starts_at_22_utc():
    assert business_today(utc(2026, 7, 1, 21, 59), Family.CLASSOUND) == date(2026, 7, 1)
    assert business_today(utc(2026, 7, 1, 22, 0), Family.CLASSOUND) == date(2026, 7, 2)


@pytest.mark.parametrize(
    ("day", "starts_at"),
    [
        # the day before summer time: CET all day
        (date(2026, 3, 28), utc(2026, 3, 27, 23, 0)),
        # the Sunday clocks go forward at 02:00: it begins still in CET
        (date(2026, 3, 29), utc(2026, 3, 28, 23, 0)),
        # the Monday after: CEST
        (date(2026, 3, 30), utc(2026, 3, 29, 22, 0)),
        # the Sunday clocks go back at 03:00: it begins in CEST
        (date(2026, 10, 25), utc(2026, 10, 24, 22, 0)),
        # the Monday after: CET again
        (date(2026, 10, 26), utc(2026, 10, 25, 23, 0)),
    ],
)
def test_a_berlin_business_day_starts_at_local_midnight_across_the_dst_changes(day, starts_at):
    assert start_of_business_day(day, Family.CLASSOUND) == starts_at
    assert business_today(starts_at, Family.CLASSOUND) == day
    assert business_today(starts_at - timedelta(seconds=1), Family.CLASSOUND) == (
        day - timedelta(days=1)
    )


def test_the_dst_sundays_are_23_and_25_hours_long():
    def length(day):
        return start_of_business_day(day + timedelta(days=1), Family.PSA) - start_of_business_day(
            day, Family.PSA
        )

    assert length(date(2026, 3, 29)) == timedelta(hours=23)
    assert length(date(2026, 10, 25)) == timedelta(hours=25)
    assert length(date(2026, 12, 2)) == timedelta(hours=24)


def test_at_22_30_utc_on_the_october_sunday_berlin_is_still_on_that_sunday():
    # 22:30 UTC is 00:30 the next day the evening before (CEST), 23:30 the same day after
    assert business_today(utc(2026, 10, 24, 22, 30), Family.CHANGE_ORDERS) == date(2026, 10, 25)
    assert business_today(utc(2026, 10, 25, 22, 30), Family.CHANGE_ORDERS) == date(2026, 10, 25)


def test_the_renegotiation_keeps_oslo_dates():
    assert business_today(utc(2026, 12, 2, 23, 30), Family.RENEGOTIATION) == date(2026, 12, 3)
    assert business_date(utc(2026, 12, 2, 23, 30)) == date(2026, 12, 3)
    assert signing_closes_at(date(2026, 12, 9)) == start_of_business_day(
        date(2026, 12, 10), Family.RENEGOTIATION
    )


def test_a_configured_zone_replaces_the_default_of_its_family_only():
    zones = parse_zones("classound=America/New_York, psa = Europe/Lisbon")
    at = utc(2026, 12, 2, 23, 30)
    assert business_today(at, Family.CLASSOUND, zones) == date(2026, 12, 2)
    assert business_today(at, Family.PSA, zones) == date(2026, 12, 2)
    assert business_today(at, Family.CHANGE_ORDERS, zones) == date(2026, 12, 3)
    assert start_of_business_day(date(2026, 12, 3), Family.CLASSOUND, zones) == utc(
        2026, 12, 3, 5, 0
    )
    assert parse_zones("") == parse_zones(None) == parse_zones(" , ")


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("classound", "is not family=Area/City"),
        ("wildix=Europe/Berlin", "families: change-orders, classound"),
        ("psa=Europe/Gotham", "unknown time zone 'Europe/Gotham' for psa"),
        ("psa=../../etc/passwd", "unknown time zone"),
    ],
)
def test_a_bad_setting_is_named(setting, says):
    with pytest.raises(ValueError, match="PARTNERFLOW_BUSINESS_TIME_ZONES") as err:
        parse_zones(setting)
    assert says in str(err.value)


def test_a_worker_with_a_bad_setting_stops_at_start_with_the_reason():
    env = dict(os.environ, PARTNERFLOW_BUSINESS_TIME_ZONES="psa=Europe/Gotham")
    done = subprocess.run(
        [sys.executable, "worker.py"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == os.EX_CONFIG  # a supervisor does not restart it
    assert done.stderr.strip().splitlines()[-1] == (
        "worker.py: refusing to start: PARTNERFLOW_BUSINESS_TIME_ZONES: unknown time zone "
        "'Europe/Gotham' for psa (an IANA name such as Europe/Berlin)"
    )


def test_the_zones_set_at_start_are_the_ones_every_date_uses():
    """What worker.py does in main() with the setting: no module reads it by itself."""
    at = utc(2026, 12, 2, 23, 30)
    try:
        use_zones(parse_zones("psa=Europe/Lisbon"))
        assert business_today(at, Family.PSA) == date(2026, 12, 2)
        assert business_today(at, Family.CLASSOUND) == date(2026, 12, 3)
    finally:
        use_zones(parse_zones(None))
    assert business_today(at, Family.PSA) == date(2026, 12, 3)
