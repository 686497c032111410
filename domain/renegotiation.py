"""Renegotiation in Dealbuilder: the rules. The product's words, our choices where its
routine is silent, the dates, what a reduction sets off, the checks of a request and the
renegotiated contract; the models that cross into Temporal history are in
domain/renegotiation_models.py. The field values are the product's own words and stay in
Norwegian.

Nothing here carries personal data: contacts travel as ids, company names and e-mail
addresses are looked up by the store when it writes the ticket, the deal and the outbox."""

import calendar
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, Field

from domain.business_time import Family, business_today, start_of_business_day, zone
from domain.errors import Refused
from domain.renegotiation_models import (
    Change,
    ContactFacts,
    ContractFacts,
    RenegotiationFacts,
    RenegotiationPlan,
    RenegotiationRequest,
    Route,
    TicketFacts,
)
from domain.steps import Actor

# --- the product's words ---------------------------------------------------------------------

TICKET_NAME = "Reforhandling - {company}"
DEAL_NAME = "{company} - REFORHANDLING"
PIPELINE = "Assist"
DEAL_STAGE_OPEN = "Venter på beslutning"
# The product names only the first stage; these are HubSpot's Norwegian closed stages.
DEAL_STAGE_WON = "Avsluttet vunnet"
DEAL_STAGE_LOST = "Avsluttet tapt"
DEAL_TYPE = "Tilleggslisenser / reforhandling"
CURRENCY = "NOK"
CONTRACT_TEMPLATE = "Reforhandling av avtale om Avonova Assist"
# "VIKTIG selger og booker skal ikke ha lisensene": neither the seller nor the booker is credited.
CONTRACT_SENDER = "user non human"
CONTRACT_BOOKER = "kundesenter"
DIGITAL_ONBOARDING = "Digital oppstart"
TICKET_STATUS_SENT = "Sendt kontrakt"
# Ours (the product stops at "Sendt kontrakt"): the customer declined, customer care follows up.
TICKET_STATUS_DECLINED = "Kontrakt avslått"
# Where the access count lives ("antall tilganger i Avonova digital").
ACCESS_PRODUCT = "Avonova digital"

# --- our choices where the product's routine is silent (docs/processes.md "Process rules") --

# Dates are the business's dates: a deal created at 00:30 in Oslo belongs to that month.
# The zone is the renegotiation family's (domain/business_time.py: Europe/Oslo).
BUSINESS_TZ = zone(Family.RENEGOTIATION)
CLOSE_DATE_DAYS_AHEAD = 2
SIGNING_DAYS = 7
REMINDER_DAYS_BEFORE = 2
REMINDER_HOUR = 9  # the reminder goes out in the morning, Oslo time
MAX_EXTENSION_DAYS = 30
SMALL_CUSTOMER_BELOW = 10  # fewer licences than this, before the change: invoice service
LARGE_REDUCTION = Fraction(20, 100)  # a reduction of this share or more goes to CSC
SALES_CREDIT_MONTHS = 36


# --- dates ----------------------------------------------------------------------------------


def business_date(at: datetime) -> date:
    """The day it is in Oslo at `at` (an aware datetime)."""
    return business_today(at, Family.RENEGOTIATION)


def last_day_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def close_date(today: date) -> date:
    """ "2 dager frem i tid og alltid innenfor inneværende måned": two days ahead, but never
    past the last day of the current month."""
    return min(today + timedelta(days=CLOSE_DATE_DAYS_AHEAD), last_day_of_month(today))


def signing_deadline(sent_on: date) -> date:
    """ "Signeringsfrist til 1 uke frem i tid": the last day the customer can sign."""
    return sent_on + timedelta(days=SIGNING_DAYS)


def signing_closes_at(deadline: date) -> datetime:
    """The customer can sign all through the deadline day: it closes at midnight, Oslo time."""
    return start_of_business_day(deadline + timedelta(days=1), Family.RENEGOTIATION)


def reminder_at(deadline: date) -> datetime:
    return datetime.combine(
        deadline - timedelta(days=REMINDER_DAYS_BEFORE), time(REMINDER_HOUR), tzinfo=BUSINESS_TZ
    )


def next_signing_event(
    now: datetime, deadline: date, reminded: bool
) -> tuple[Literal["reminder", "expiry"], datetime]:
    """What happens next to an unsigned contract, and when: one reminder per deadline, unless
    its moment has already passed (a short extension), then the deadline itself."""
    remind = reminder_at(deadline)
    if not reminded and now < remind:
        return "reminder", remind
    return "expiry", signing_closes_at(deadline)


def extended_deadline(deadline: date, today: date, days: int) -> date:
    """An extension counts from the deadline, or from today once the deadline has passed."""
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise Refused(f"extend by 1 to {MAX_EXTENSION_DAYS} days, not {days}")
    return max(deadline, today) + timedelta(days=days)


def delivery_start(sent_on: date, agreed_start: date | None) -> date:
    """ "Dato kontrakten blir sendt (med mindre det er avtalt oppstartsdato på et annet
    tidspunkt)"."""
    return agreed_start or sent_on


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the last day of the month where that day does not exist
    (31 January + 1 month = 28/29 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --- what a reduction and an increase set off -----------------------------------------------


def change_of(before: int, after: int) -> Change:
    if after < before:
        return Change.REDUCTION
    if after > before:
        return Change.INCREASE
    return Change.PRICE_ONLY


def reduction_share(before: int, after: int) -> Fraction:
    """The share of the licences given up, exactly (no rounding at the 20 % boundary)."""
    if before <= 0 or after >= before:
        return Fraction(0)
    return Fraction(before - after, before)


def money(amount: Decimal) -> str:
    return f"{amount:.2f} {CURRENCY}"


def percent(share: Fraction) -> str:
    return f"{float(share * 100):.1f} %"


def route_reduction(before: int, after: int) -> Route | None:
    """The product's routine: under 10 licences, invoice service fixes it; from 10, invoice
    service while the reduction is under 20 %, CSC for larger ones. "Under 10" counts the
    licences *before* the change (the size of the agreement being reduced), and 10 itself is
    "10 or more"."""
    if after >= before:
        return None
    if before < SMALL_CUSTOMER_BELOW:
        return Route.INVOICE_SERVICE
    if reduction_share(before, after) < LARGE_REDUCTION:
        return Route.INVOICE_SERVICE
    return Route.CSC


def sales_credit_ends(originally_signed_on: date) -> date:
    """The first day that is no longer "under 36 months" since the original signing."""
    return add_months(originally_signed_on, SALES_CREDIT_MONTHS)


def credits_sales(originally_signed_on: date, signed_on: date, before: int, after: int) -> bool:
    """An increase signed under 36 months after the original signing is registered as a sale
    ("forutsetter at det er under 36 mnd siden signering"): exactly 36 months is too late."""
    return after > before and signed_on < sales_credit_ends(originally_signed_on)


def plan_renegotiation(
    request: RenegotiationRequest, facts: RenegotiationFacts, today: date
) -> RenegotiationPlan:
    """Everything wrong with the request, in one refusal; else what it will change."""
    r = request
    if not facts.company_found:
        raise Refused(f"unknown company {r.account_id!r}")
    contract = facts.contract
    problems = [
        *_ticket_problems(r, facts.ticket),
        *_contact_problems(r, facts.contact),
        *_contract_problems(r, contract),
    ]
    if r.agreed_start is not None and r.agreed_start < today:
        problems.append(f"the agreed start date {r.agreed_start} is in the past")
    if problems:
        raise Refused("; ".join(problems))
    assert contract is not None and contract.signed_on is not None
    return RenegotiationPlan(
        licences_before=contract.licences,
        price_before=contract.price,
        originally_signed_on=contract.originally_signed_on or contract.signed_on,
        change=change_of(contract.licences, r.licences),
        route=route_reduction(contract.licences, r.licences),
    )


def _ticket_problems(r: RenegotiationRequest, ticket: TicketFacts | None) -> list[str]:
    """An open ticket of the company, not renegotiating already."""
    if ticket is None:
        return [f"no ticket {r.ticket_id}"]
    if ticket.account_id not in (None, r.account_id):
        return [f"ticket {r.ticket_id} belongs to company {ticket.account_id}"]
    if ticket.status == "closed":
        return [f"ticket {r.ticket_id} is closed; reopen it or start from an open one"]
    if ticket.renegotiation:
        return [f"ticket {r.ticket_id} is already being renegotiated in {ticket.renegotiation}"]
    return []


def _contact_problems(r: RenegotiationRequest, contact: ContactFacts | None) -> list[str]:
    """A contact of the company who may sign and can be reached by e-mail and SMS."""
    if contact is None:
        return [f"no contact {r.contact_id}"]
    if contact.account_id != r.account_id:
        return [f"contact {r.contact_id} is not a contact of company {r.account_id}"]
    problems = []
    if not contact.can_sign:
        problems.append(
            f"contact {r.contact_id} has no signing authority (signaturrett); "
            "choose the person who can sign for the company"
        )
    missing = [
        f
        for f, ok in (("e-mail", contact.has_email), ("mobile phone", contact.has_phone))
        if not ok
    ]
    if missing:
        problems.append(
            f"contact {r.contact_id} has no {' and no '.join(missing)}: the "
            "contract is sent by e-mail and SMS; add it on the contact"
        )
    return problems


def _contract_problems(r: RenegotiationRequest, contract: ContractFacts | None) -> list[str]:
    """A signed contract of the company in force, not renegotiating already, and a change."""
    if contract is None:
        return [f"no contract {r.original_contract_id}"]
    if contract.account_id != r.account_id:
        return [f"contract {r.original_contract_id} is not a contract of company {r.account_id}"]
    if contract.renegotiation:
        return [
            f"contract {r.original_contract_id} is already being renegotiated in "
            f"{contract.renegotiation}"
        ]
    if contract.status != "signed" or contract.signed_on is None:
        replaced = (
            f" by {contract.superseded_by}; renegotiate that one" if contract.superseded_by else ""
        )
        return [
            f"contract {r.original_contract_id} is {contract.status}{replaced}: "
            "only a signed contract in force can be renegotiated"
        ]
    if contract.licences == r.licences and contract.price == r.price:
        return [
            f"nothing to renegotiate: contract {r.original_contract_id} already "
            f"has {r.licences} licences at {money(contract.price)}"
        ]
    return []


# --- the contract ---------------------------------------------------------------------------

LICENCE_PRODUCT = "Avonova Assist"


class ContractLine(BaseModel):
    kind: Literal["licence", "onboarding", "other"]
    product: str
    quantity: int = Field(ge=0)
    unit_price: Decimal = Field(ge=0)
    discount_percent: Decimal = Field(default=Decimal(0), ge=0, le=100)


def renegotiated_lines(
    original: list[ContractLine], licences: int, price: Decimal
) -> list[ContractLine]:
    """ "Fyll ut informasjonen på samme måte som det står i opprinnelig avtale, utenom pris og
    antall lisenser" and "legg inn digital oppstart i 100% rabatt": the original's lines, the
    licence line with the new count and price, digital onboarding at 100 % discount (added
    when the original had none), every other line as it was."""
    lines: list[ContractLine] = []
    has_licence = has_onboarding = False
    for line in original:
        if line.kind == "licence":
            if has_licence:
                continue  # one licence line carries the whole count
            has_licence = True
            lines.append(
                line.model_copy(
                    update={
                        "quantity": licences,
                        "unit_price": price,
                        "discount_percent": Decimal(0),
                    }
                )
            )
        elif line.kind == "onboarding":
            has_onboarding = True
            lines.append(line.model_copy(update={"discount_percent": Decimal(100)}))
        else:
            lines.append(line)
    if not has_licence:
        lines.insert(
            0,
            ContractLine(
                kind="licence", product=LICENCE_PRODUCT, quantity=licences, unit_price=price
            ),
        )
    if not has_onboarding:
        lines.append(
            ContractLine(
                kind="onboarding",
                product=DIGITAL_ONBOARDING,
                quantity=1,
                unit_price=Decimal(0),
                discount_percent=Decimal(100),
            )
        )
    return lines


# --- human steps ----------------------------------------------------------------------------


class Extension(BaseModel):
    actor: str = Actor
    days: int = Field(default=SIGNING_DAYS, ge=1, le=MAX_EXTENSION_DAYS)
