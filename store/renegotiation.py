"""Reads and writes for renegotiation in Dealbuilder (seed 001). Each write runs inside
`steps.once`. Company names, e-mail addresses and phone numbers are read and written here
only: what goes back to the workflow are ids, counts and flags."""

import secrets
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from domain.errors import Refused
from domain.notifications import secret_digest
from domain.renegotiation import (
    ACCESS_PRODUCT,
    CONTRACT_BOOKER,
    CONTRACT_SENDER,
    CONTRACT_TEMPLATE,
    CURRENCY,
    DEAL_NAME,
    DEAL_STAGE_LOST,
    DEAL_STAGE_OPEN,
    DEAL_STAGE_WON,
    DEAL_TYPE,
    PIPELINE,
    ROUTE_IN_WORDS,
    TICKET_NAME,
    TICKET_STATUS_DECLINED,
    TICKET_STATUS_SENT,
    Case,
    ClosingStep,
    ContactFacts,
    ContractFacts,
    ContractLine,
    DeadlineStep,
    DealStep,
    DeclineStep,
    RenegotiationFacts,
    RenegotiationRequest,
    Route,
    SendingStep,
    SignatureStep,
    SigningEvidence,
    TicketFacts,
    money,
    percent,
    reduction_share,
    renegotiated_lines,
)
from store.steps import notify, open_ticket

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free

OPEN_CONTRACT = ("draft", "sent", "expired")


def _is_unique_violation(err: Exception) -> bool:
    return getattr(err, "sqlstate", None) == "23505"


async def _company_name(conn: Conn, account_id: str) -> str:
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
    name = TICKET_NAME.format(company=await _company_name(conn, case.account_id))
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
    name = DEAL_NAME.format(company=await _company_name(conn, case.account_id))
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
    the outbox rows keep the link until they are sent (issue 11)."""
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
    payload = {"contract_id": case.contract_id, "signing_deadline": s.deadline.isoformat()}
    for channel in ("email", "sms"):
        await notify(
            conn,
            process_id=process_id,
            step=f"{step}:{channel}",
            recipient_kind="contact",
            recipient_id=case.contact_id,
            template=f"contract_for_signing_{channel}",
            payload=payload,
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
    await notify(
        conn,
        process_id=process_id,
        step=step,
        recipient_kind="contact",
        recipient_id=d.case.contact_id,
        template="contract_signing_reminder",
        payload={
            "contract_id": d.case.contract_id,
            "reminder": d.number,
            "signing_deadline": d.deadline.isoformat(),
        },
    )
    return {"records": [f"signing reminder {d.number} sent"]}


async def deadline_passed(conn: Conn, process_id: str, step: str, d: DeadlineStep) -> dict:
    await conn.execute(
        "UPDATE contracts SET status = 'expired' WHERE id = $1 AND status = 'sent'",
        d.case.contract_id,
    )
    # Staff decide what happens next: the customer centre is told.
    await notify(
        conn,
        process_id=process_id,
        step=step,
        recipient_kind="role",
        recipient_id="customer_care",
        template="renegotiation_signing_deadline_passed",
        payload={
            "process_id": process_id,
            "ticket_id": d.case.ticket_id,
            "contract_id": d.case.contract_id,
            "signing_deadline": d.deadline.isoformat(),
        },
    )
    return {"records": [f"contract {d.case.contract_id} expired on {d.deadline}"]}


async def extend_deadline(conn: Conn, process_id: str, step: str, d: DeadlineStep) -> dict:
    await conn.execute(
        "UPDATE contracts SET status = 'sent', signing_deadline = $2 WHERE id = $1"
        " AND status IN ('sent', 'expired')",
        d.case.contract_id,
        d.deadline,
    )
    await notify(
        conn,
        process_id=process_id,
        step=step,
        recipient_kind="contact",
        recipient_id=d.case.contact_id,
        template="contract_signing_deadline_extended",
        payload={"contract_id": d.case.contract_id, "signing_deadline": d.deadline.isoformat()},
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


# --- 6. signed ------------------------------------------------------------------------------


async def _keep_evidence(
    conn: Conn,
    contract_id: str,
    process_id: str,
    step: str,
    decision: str,
    e: SigningEvidence,
    reason: str | None = None,
) -> None:
    """The signing page's evidence, in the step's transaction (its run from the column
    default, like the outbox's)."""
    await conn.execute(
        "INSERT INTO contract_signing_evidence (contract_id, process_id, step, decision,"
        " contact_id, typed_name, reason, document_sha256, language, ip, user_agent,"
        " decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        contract_id,
        process_id,
        step,
        decision,
        e.contact_id,
        e.typed_name,
        reason,
        e.document_sha256,
        e.language,
        e.ip,
        e.user_agent,
        e.decided_at,
    )


async def record_signature(
    conn: Conn, s: SignatureStep, process_id: str = "", step: str = ""
) -> dict:
    case = s.case
    status = await conn.fetchval(
        "SELECT status FROM contracts WHERE id = $1 FOR UPDATE", case.contract_id
    )
    if status not in ("sent", "expired"):
        raise Refused(f"contract {case.contract_id} is {status}; it cannot be signed")
    await conn.execute(
        "UPDATE contracts SET status = 'signed', signed_on = $2, signed_at = now() WHERE id = $1",
        case.contract_id,
        s.today,
    )
    if s.evidence is not None:
        await _keep_evidence(conn, case.contract_id, process_id, step, "signed", s.evidence)
    await conn.execute(
        "UPDATE contracts SET status = 'superseded', superseded_by = $1 WHERE id = $2",
        case.contract_id,
        case.original_contract_id,
    )
    await conn.execute(
        "UPDATE deals SET stage = $2, status = 'won', closed_at = now() WHERE id = $1",
        case.deal_id,
        DEAL_STAGE_WON,
    )
    return {
        "records": [
            f"contract {case.contract_id} signed on {s.today}, replaces "
            f"{case.original_contract_id}; deal {case.deal_id} won"
        ]
    }


async def set_access_count(conn: Conn, process_id: str, case: Case) -> dict:
    before = await conn.fetchval(
        "SELECT access_count FROM product_access WHERE account_id = $1 AND product = $2",
        case.account_id,
        ACCESS_PRODUCT,
    )
    await conn.execute(
        "INSERT INTO product_access (account_id, product, access_count, updated_by_process)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, product) DO UPDATE"
        " SET access_count = EXCLUDED.access_count, updated_at = now(),"
        " updated_by_process = EXCLUDED.updated_by_process",
        case.account_id,
        ACCESS_PRODUCT,
        case.licences_after,
        process_id,
    )
    was = "none" if before is None else before
    return {"records": [f"access count in {ACCESS_PRODUCT}: {was} -> {case.licences_after}"]}


async def record_reduction(conn: Conn, s: SignatureStep) -> dict:
    case = s.case
    share = reduction_share(case.licences_before, case.licences_after)
    await conn.execute(
        "UPDATE accounts SET licence_reduction = $2, licence_reduction_percent = $3,"
        " licence_reduction_on = $4 WHERE id = $1",
        case.account_id,
        case.licences_before - case.licences_after,
        (Decimal(share.numerator) * 100 / share.denominator).quantize(Decimal("0.01")),
        s.today,
    )
    return {
        "records": [
            f"customer card {case.account_id}: reduction of "
            f"{case.licences_before - case.licences_after} licences "
            f"({percent(share)}) on {s.today}"
        ]
    }


async def hand_reduction_to_csc(conn: Conn, process_id: str, step: str, s: SignatureStep) -> dict:
    case = s.case
    share = percent(reduction_share(case.licences_before, case.licences_after))
    company = await _company_name(conn, case.account_id)
    ticket_id = await open_ticket(
        conn,
        process_id=process_id,
        step=step,
        queue=Route.CSC.value,
        account_id=case.account_id,
        subject=f"Nedjustering - {company}",
        body=(
            f"Signed renegotiation {case.contract_id} reduces the licences from "
            f"{case.licences_before} to {case.licences_after} ({share}): a reduction of "
            f"20 % or more goes to CSC. Renegotiation ticket: {case.ticket_id}."
        ),
    )
    await conn.execute(
        "UPDATE tickets SET contact_id = $2 WHERE id = $1", ticket_id, case.contact_id
    )
    return {
        "records": [
            f"CSC ticket {ticket_id}: reduction {case.licences_before} -> "
            f"{case.licences_after} ({share})"
        ],
        "ticket_id": ticket_id,
    }


async def inform_order_invoice(conn: Conn, s: SignatureStep) -> dict:
    """ "Bruk ticketen til å informere ordre/faktura": the renegotiation ticket itself goes to
    order/invoice with the new price, licence count and start date."""
    case = s.case
    lines = [
        f"Renegotiation signed on {s.today}: contract {case.contract_id} (deal {case.deal_id}) "
        f"replaces {case.original_contract_id}.",
        f"- price: {money(case.price_after)} per licence (was {money(case.price_before)})",
        f"- licences: {case.licences_after} (was {case.licences_before})",
        f"- start date: {s.delivery_start}",
    ]
    if s.route is not None:
        removed = case.licences_before - case.licences_after
        share = percent(reduction_share(case.licences_before, case.licences_after))
        handled = (
            f"handed to CSC in ticket {s.csc_ticket_id}"
            if s.route is Route.CSC
            else f"{ROUTE_IN_WORDS[s.route]} handles it"
        )
        lines.append(f"- reduction: {removed} licence(s) ({share}), {handled}")
    await conn.execute(
        "UPDATE tickets SET queue = 'invoice_service', body = body || $2, updated_at = now()"
        " WHERE id = $1",
        case.ticket_id,
        "\n\n" + "\n".join(lines),
    )
    return {
        "records": [
            f"ticket {case.ticket_id} to order/invoice: {case.licences_after} "
            f"licences at {money(case.price_after)} from {s.delivery_start}"
        ]
    }


async def notify_sales_registration(
    conn: Conn, process_id: str, step: str, s: SignatureStep, address: str
) -> dict:
    case = s.case
    await notify(
        conn,
        process_id=process_id,
        step=step,
        recipient_kind="role",
        recipient_id=address,
        template="renegotiation_increase_for_sales_credit",
        payload={
            "account_id": case.account_id,
            "deal_id": case.deal_id,
            "contract_id": case.contract_id,
            "licences_before": case.licences_before,
            "licences_after": case.licences_after,
            "originally_signed_on": case.originally_signed_on.isoformat(),
            "signed_on": s.today.isoformat(),
        },
    )
    return {
        "records": [
            f"sales registration told of +{case.licences_after - case.licences_before}"
            f" licences (original signing {case.originally_signed_on})"
        ]
    }


# --- declined on the signing page ------------------------------------------------------------


async def decline(conn: Conn, process_id: str, step: str, d: DeclineStep) -> dict:
    """The customer declined: the contract is declined (its link used), the deal lost, the
    renegotiation ticket back with customer care with the reason, and customer care told."""
    case = d.case
    status = await conn.fetchval(
        "SELECT status FROM contracts WHERE id = $1 FOR UPDATE", case.contract_id
    )
    if status != "sent":
        raise Refused(f"contract {case.contract_id} is {status}; it cannot be declined")
    await conn.execute(
        "UPDATE contracts SET status = 'declined', declined_at = now(), declined_reason = $2"
        " WHERE id = $1",
        case.contract_id,
        d.reason,
    )
    await _keep_evidence(conn, case.contract_id, process_id, step, "declined", d.evidence, d.reason)
    await conn.execute(
        "UPDATE deals SET stage = $2, status = 'lost', closed_reason = $3, closed_at = now()"
        " WHERE id = $1 AND status = 'open'",
        case.deal_id,
        DEAL_STAGE_LOST,
        f"declined by the customer: {d.reason}",
    )
    # The ticket the renegotiation came from goes back to customer care, open: they call the
    # customer and may start a new renegotiation from it.
    await conn.execute(
        "UPDATE tickets SET queue = 'customer_care', status = $2, body = body || $3,"
        " updated_at = now() WHERE id = $1",
        case.ticket_id,
        TICKET_STATUS_DECLINED,
        f"\n\nKunden avslo kontrakten {case.contract_id} {d.today}: {d.reason}",
    )
    await notify(
        conn,
        process_id=process_id,
        step=step,
        recipient_kind="role",
        recipient_id="customer_care",
        template="renegotiation_contract_declined",
        payload={
            "process_id": process_id,
            "ticket_id": case.ticket_id,
            "contract_id": case.contract_id,
            "account_id": case.account_id,
            "declined_on": d.today.isoformat(),
            "reason": d.reason,
        },
    )
    return {
        "records": [
            f"contract {case.contract_id} declined by {d.evidence.contact_id} on "
            f"{d.today}; deal {case.deal_id} lost; ticket {case.ticket_id} back to "
            "customer care"
        ]
    }
