"""Reads and writes for renegotiation in Dealbuilder. Each write runs inside
`steps.once`. Company names, e-mail addresses and phone numbers are read and written here
only: what goes back to the workflow are ids, counts and flags."""

import secrets
from typing import Any
from urllib.parse import urlencode

from domain import notices
from domain.errors import Refused
from domain.notifications import secret_digest
from domain.renegotiation import (
    CONTRACT_BOOKER,
    CONTRACT_SENDER,
    CONTRACT_TEMPLATE,
    CURRENCY,
    DEAL_NAME,
    DEAL_STAGE_LOST,
    DEAL_STAGE_OPEN,
    DEAL_TYPE,
    PIPELINE,
    TICKET_NAME,
    TICKET_STATUS_SENT,
    ContractLine,
    money,
    renegotiated_lines,
)
from domain.renegotiation_models import (
    Case,
    ClosingStep,
    ContactFacts,
    ContractFacts,
    DeadlineStep,
    DealStep,
    RenegotiationFacts,
    RenegotiationRequest,
    SendingStep,
    TicketFacts,
)
from store.notices import tell

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free

OPEN_CONTRACT = ("draft", "sent", "expired")


def _is_unique_violation(err: Exception) -> bool:
    return getattr(err, "sqlstate", None) == "23505"


async def company_name(conn: Conn, account_id: str) -> str:
    return await conn.fetchval("SELECT name FROM accounts WHERE id = $1", account_id)


# --- reads ----------------------------------------------------------------------------------


async def facts(conn: Conn, r: RenegotiationRequest) -> RenegotiationFacts:
    partner_id = await conn.fetchval("SELECT partner_id FROM accounts WHERE id = $1", r.account_id)
    if partner_id is None:
        return RenegotiationFacts(company_found=False)
    ticket = await conn.fetchrow(
        "SELECT t.account_id, t.status, d.process_id AS renegotiation FROM tickets t"
        " LEFT JOIN deals d ON d.ticket_id = t.id AND d.status = 'open' WHERE t.id = $1",
        r.ticket_id,
    )
    contact = await conn.fetchrow(
        "SELECT account_id, signing_authority AS can_sign, email <> '' AS has_email,"
        " phone <> '' AS has_phone FROM contacts WHERE id = $1",
        r.contact_id,
    )
    # The 36 months of a sales credit count from the first contract of a renegotiation chain.
    contract = await conn.fetchrow(
        "WITH RECURSIVE chain AS ("
        "  SELECT id, based_on, signed_on, 0 AS depth FROM contracts WHERE id = $1"
        "  UNION ALL"
        "  SELECT c.id, c.based_on, c.signed_on, chain.depth + 1"
        "  FROM contracts c JOIN chain ON c.id = chain.based_on)"
        " SELECT k.account_id, k.status, k.licences, k.price, k.signed_on, k.superseded_by,"
        "  (SELECT signed_on FROM chain ORDER BY depth DESC LIMIT 1) AS originally_signed_on,"
        "  (SELECT n.process_id FROM contracts n WHERE n.based_on = k.id"
        "   AND n.status = ANY($2::text[]) LIMIT 1) AS renegotiation"
        " FROM contracts k WHERE k.id = $1",
        r.original_contract_id,
        list(OPEN_CONTRACT),
    )
    return RenegotiationFacts(
        company_found=True,
        partner_id=partner_id,
        ticket=TicketFacts(**dict(ticket)) if ticket else None,
        contact=ContactFacts(**dict(contact)) if contact else None,
        contract=ContractFacts(**dict(contract)) if contract else None,
    )


# --- 1. the ticket, 2. the deal, 3. the contract, 4. sending it -----------------------------


async def enrich_ticket(conn: Conn, case: Case) -> dict:
    name = TICKET_NAME.format(company=await company_name(conn, case.account_id))
    await conn.execute(
        "UPDATE tickets SET subject = $2, account_id = $3, contact_id = $4, updated_at = now()"
        " WHERE id = $1",
        case.ticket_id,
        name,
        case.account_id,
        case.contact_id,
    )
    return {
        "records": [
            f"ticket {case.ticket_id} renamed, linked to customer card "
            f"{case.account_id} and contact {case.contact_id}"
        ]
    }


async def create_deal(conn: Conn, process_id: str, d: DealStep) -> dict:
    case = d.case
    name = DEAL_NAME.format(company=await company_name(conn, case.account_id))
    try:
        await conn.execute(
            "INSERT INTO deals (id, process_id, ticket_id, account_id, name, pipeline, stage,"
            " deal_type, close_date, meeting_booker, owner, delivery_start_date, currency,"
            " amount, contact_id, contact_email)"
            " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, c.id, c.email"
            " FROM contacts c WHERE c.id = $14",
            case.deal_id,
            process_id,
            case.ticket_id,
            case.account_id,
            name,
            PIPELINE,
            DEAL_STAGE_OPEN,
            DEAL_TYPE,
            d.close_date,
            case.owner,
            d.delivery_start,
            CURRENCY,
            case.licences_after,
            case.contact_id,
        )
    except Exception as err:
        if not _is_unique_violation(err):
            raise
        raise Refused(
            f"ticket {case.ticket_id} was taken by another renegotiation a moment "
            "ago; see `starter.py list --kind renegotiation`"
        ) from None
    return {
        "records": [
            f"deal {case.deal_id} in pipeline {PIPELINE}, close date "
            f"{d.close_date}, amount {case.licences_after}"
        ]
    }


async def draft_contract(conn: Conn, process_id: str, case: Case) -> dict:
    original = await conn.fetchrow(
        "SELECT terms FROM contracts WHERE id = $1", case.original_contract_id
    )
    lines = renegotiated_lines(
        [
            ContractLine(**dict(r))
            for r in await conn.fetch(
                "SELECT kind, product, quantity, unit_price, discount_percent FROM contract_lines"
                " WHERE contract_id = $1 ORDER BY line_no",
                case.original_contract_id,
            )
        ],
        case.licences_after,
        case.price_after,
    )
    try:
        await conn.execute(
            "INSERT INTO contracts (id, process_id, account_id, deal_id, template, based_on,"
            " licences, price, currency, terms, signatory_contact_id, sender, booker, status)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'draft')",
            case.contract_id,
            process_id,
            case.account_id,
            case.deal_id,
            CONTRACT_TEMPLATE,
            case.original_contract_id,
            case.licences_after,
            case.price_after,
            CURRENCY,
            original["terms"],
            case.contact_id,
            CONTRACT_SENDER,
            CONTRACT_BOOKER,
        )
    except Exception as err:
        if not _is_unique_violation(err):
            raise
        raise Refused(
            f"contract {case.original_contract_id} was taken by another renegotiation a moment ago"
        ) from None
    await conn.executemany(
        "INSERT INTO contract_lines (contract_id, line_no, kind, product, quantity, unit_price,"
        " discount_percent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (
                case.contract_id,
                n,
                ln.kind,
                ln.product,
                ln.quantity,
                ln.unit_price,
                ln.discount_percent,
            )
            for n, ln in enumerate(lines, 1)
        ],
    )
    return {
        "records": [
            f"contract {case.contract_id} from template {CONTRACT_TEMPLATE!r}: "
            f"{case.licences_after} licences at {money(case.price_after)}, "
            f"{len(lines)} lines"
        ]
    }


async def send_contract(
    conn: Conn,
    process_id: str,
    step: str,
    s: SendingStep,
    signing_url: str = "https://sign.partnerflow.example",
) -> dict:
    """ "Send e-post og SMS": the contract goes out, and the ticket to "Sendt kontrakt". The
    e-mail and the SMS carry a one-time signing link; the contract keeps only its SHA-256,
    the outbox rows keep the link until they are sent."""
    case = s.case
    token = secrets.token_urlsafe(32)
    link = f"{signing_url.rstrip('/')}/sign?" + urlencode(
        {"contract": case.contract_id, "token": token}
    )
    await conn.execute(
        "UPDATE contracts SET status = 'sent', sent_at = now(), signing_deadline = $2,"
        " start_date = $3, signing_token_sha256 = $4 WHERE id = $1",
        case.contract_id,
        s.deadline,
        s.delivery_start,
        secret_digest(token),
    )
    await conn.execute(
        "UPDATE deals SET delivery_start_date = $2 WHERE id = $1", case.deal_id, s.delivery_start
    )
    await conn.execute(
        "UPDATE tickets SET status = $2, updated_at = now() WHERE id = $1",
        case.ticket_id,
        TICKET_STATUS_SENT,
    )
    for channel in ("email", "sms"):
        await tell(
            conn,
            notices.ContractForSigning(
                channel=channel,
                contract_id=case.contract_id,
                signing_deadline=s.deadline.isoformat(),
            ),
            process_id=process_id,
            step=f"{step}:{channel}",
            recipient_kind="contact",
            recipient_id=case.contact_id,
            secret=link,
        )
    return {
        "records": [
            f"contract {case.contract_id} sent by e-mail and SMS, signing "
            f"deadline {s.deadline}; ticket {case.ticket_id}: {TICKET_STATUS_SENT}"
        ]
    }


# --- 5. waiting for the signature -----------------------------------------------------------


async def remind_signatory(conn: Conn, process_id: str, step: str, d: DeadlineStep) -> dict:
    await tell(
        conn,
        notices.SigningReminder(
            contract_id=d.case.contract_id,
            reminder=d.number,
            signing_deadline=d.deadline.isoformat(),
        ),
        process_id=process_id,
        step=step,
        recipient_kind="contact",
        recipient_id=d.case.contact_id,
    )
    return {"records": [f"signing reminder {d.number} sent"]}


async def deadline_passed(conn: Conn, process_id: str, step: str, d: DeadlineStep) -> dict:
    await conn.execute(
        "UPDATE contracts SET status = 'expired' WHERE id = $1 AND status = 'sent'",
        d.case.contract_id,
    )
    # Staff decide what happens next: the customer centre is told.
    await tell(
        conn,
        notices.SigningDeadlinePassed(
            process_id=process_id,
            ticket_id=d.case.ticket_id,
            contract_id=d.case.contract_id,
            signing_deadline=d.deadline.isoformat(),
        ),
        process_id=process_id,
        step=step,
        recipient_kind="role",
        recipient_id="customer_care",
    )
    return {"records": [f"contract {d.case.contract_id} expired on {d.deadline}"]}


async def extend_deadline(conn: Conn, process_id: str, step: str, d: DeadlineStep) -> dict:
    await conn.execute(
        "UPDATE contracts SET status = 'sent', signing_deadline = $2 WHERE id = $1"
        " AND status IN ('sent', 'expired')",
        d.case.contract_id,
        d.deadline,
    )
    await tell(
        conn,
        notices.SigningDeadlineExtended(
            contract_id=d.case.contract_id, signing_deadline=d.deadline.isoformat()
        ),
        process_id=process_id,
        step=step,
        recipient_kind="contact",
        recipient_id=d.case.contact_id,
    )
    return {"records": [f"signing deadline of {d.case.contract_id} extended to {d.deadline}"]}


async def cancel(conn: Conn, c: ClosingStep) -> dict:
    """Deal lost, contract withdrawn, ticket closed with the reason."""
    case = c.case
    await conn.execute(
        "UPDATE deals SET stage = $2, status = 'lost', closed_reason = $3, closed_at = now()"
        " WHERE id = $1 AND status = 'open'",
        case.deal_id,
        DEAL_STAGE_LOST,
        c.reason,
    )
    await conn.execute(
        "UPDATE contracts SET status = 'cancelled', cancelled_reason = $2 WHERE id = $1"
        " AND status = ANY($3::text[])",
        case.contract_id,
        c.reason,
        list(OPEN_CONTRACT),
    )
    await conn.execute(
        "UPDATE tickets SET status = 'closed', closed_reason = $2, updated_at = now()"
        " WHERE id = $1",
        case.ticket_id,
        c.reason,
    )
    return {
        "records": [
            f"deal {case.deal_id} lost, contract {case.contract_id} cancelled, "
            f"ticket {case.ticket_id} closed: {c.reason}"
        ]
    }
