"""Business dates: the day it is where the business happens, one time zone per process family.

Temporal and PostgreSQL keep instants in UTC; "today", a start date, a porting day or an
invoicing month are the business's calendar days. A reduction dated "today" at 00:30 in
Germany is today there, although it is still yesterday in UTC.

The zones are a deployment setting (PARTNERFLOW_BUSINESS_TIME_ZONES, e.g.
"classound=Europe/Zurich,psa=Europe/Berlin"): a program reads it in its main() and sets them
once with `use_zones` before any date is computed (worker.py does); nothing here reads the
environment, and a workflow never does. The zone data comes from the tzdata package when the
system has none. Changing a family's zone moves the dates and timers of its running
processes: treat it like a code change (see docs/processes.md "Process rules")."""

from datetime import UTC, date, datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Family(StrEnum):
    CHANGE_ORDERS = "change-orders"  # Wildix change orders and fast change orders
    CLASSOUND = "classound"  # CLASSOUND activation and number porting
    RENEGOTIATION = "renegotiation"  # Avonova Assist (Norway)
    PSA = "psa"  # client onboarding, contracts, invoicing runs
    PARTNERS = "partners"  # partner accounts and lead queues


# Wildix, CLASSOUND and PSA: German-language procedures, German and Swiss customers (Zurich
# keeps Berlin's offset and summer time); the renegotiation is Norwegian.
DEFAULT_ZONES: dict[Family, str] = {
    Family.CHANGE_ORDERS: "Europe/Berlin",
    Family.CLASSOUND: "Europe/Berlin",
    Family.RENEGOTIATION: "Europe/Oslo",
    Family.PSA: "Europe/Berlin",
    Family.PARTNERS: "Europe/Berlin",
}
SETTING = "PARTNERFLOW_BUSINESS_TIME_ZONES"


def parse_zones(overrides: str | None) -> dict[Family, ZoneInfo]:
    """The defaults, with "family=Area/City" pairs (comma-separated) replacing some."""
    names = dict(DEFAULT_ZONES)
    for pair in (overrides or "").split(","):
        if not pair.strip():
            continue
        family, sep, name = (part.strip() for part in pair.partition("="))
        if not sep or family not in Family.__members__.values():
            known = ", ".join(f.value for f in Family)
            raise ValueError(
                f"{SETTING}: {pair.strip()!r} is not family=Area/City (families: {known})"
            )
        names[Family(family)] = name
    zones = {}
    for family, name in names.items():
        try:
            zones[family] = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{SETTING}: unknown time zone {name!r} for {family.value} "
                "(an IANA name such as Europe/Berlin)"
            ) from None
    return zones


class _Zones:
    """The zones of this program: the defaults until its main() sets the configured ones."""

    current: dict[Family, ZoneInfo] = parse_zones(None)


def use_zones(zones: dict[Family, ZoneInfo]) -> None:
    """Sets the business zones of this program, once at its start (from parse_zones of its
    setting), before it computes a date or runs a workflow."""
    _Zones.current = dict(zones)


def zone(family: Family, zones: dict[Family, ZoneInfo] | None = None) -> ZoneInfo:
    return (zones or _Zones.current)[family]


def business_today(
    now_utc: datetime, family: Family, zones: dict[Family, ZoneInfo] | None = None
) -> date:
    """The calendar day it is for `family` at the instant `now_utc` (an aware datetime, in a
    workflow `workflow.now()`)."""
    if now_utc.tzinfo is None:
        raise ValueError("business_today needs an aware datetime (workflow.now() is one)")
    return now_utc.astimezone(zone(family, zones)).date()


def start_of_business_day(
    day: date, family: Family, zones: dict[Family, ZoneInfo] | None = None
) -> datetime:
    """The instant (in UTC) the business day `day` begins: 00:00 local time."""
    return datetime.combine(day, time(0), tzinfo=zone(family, zones)).astimezone(UTC)
