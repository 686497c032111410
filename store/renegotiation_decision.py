"""Writes after the customer's decision on a renegotiation contract: signed, and what the
signature sets off (the access count, the customer card, a reduction handed to CSC or the
invoice service, order/invoice, the sales registration), or declined on the signing page.
Each write runs inside `steps.once`, like the rest of the process's (store/renegotiation.py)."""

from decimal import Decimal
from typing import Any

from domain import notices
from domain.errors import Refused
from domain.renegotiation import (
    ACCESS_PRODUCT,
    DEAL_STAGE_LOST,
    DEAL_STAGE_WON,
    TICKET_STATUS_DECLINED,
    money,
    percent,
    reduction_share,
)
from domain.renegotiation_models import (
    ROUTE_IN_WORDS,
    Case,
    DeclineStep,
    Route,
    SignatureStep,
    SigningEvidence,
)
from store import signing
from store.notices import tell
from store.renegotiation import company_name
from store.steps import open_ticket

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free


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
    default, like the outbox's); only evidence bound to this contract's text."""
    await signing.check_bound(conn, contract_id, e.document_sha256)
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
        await tell(
            conn,
            notices.ContractSignedReceipt(
                contract_id=case.contract_id,
                company=await company_name(conn, case.account_id),
                signed_at=s.evidence.decided_at.isoformat(),
                reader_language=s.evidence.language,
            ),
            process_id=process_id,
            step=f"{step}:receipt",
            recipient_kind="contact",
            recipient_id=s.evidence.contact_id,
        )
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
    company = await company_name(conn, case.account_id)
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
    await tell(
        conn,
        notices.IncreaseForSalesCredit(
            account_id=case.account_id,
            deal_id=case.deal_id,
            contract_id=case.contract_id,
            licences_before=case.licences_before,
            licences_after=case.licences_after,
            originally_signed_on=case.originally_signed_on.isoformat(),
            signed_on=s.today.isoformat(),
        ),
        process_id=process_id,
        step=step,
        recipient_kind="role",
        recipient_id=address,
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
    await tell(
        conn,
        notices.ContractDeclined(
            process_id=process_id,
            ticket_id=case.ticket_id,
            contract_id=case.contract_id,
            account_id=case.account_id,
            declined_on=d.today.isoformat(),
            reason=d.reason,
        ),
        process_id=process_id,
        step=step,
        recipient_kind="role",
        recipient_id="customer_care",
    )
    await tell(
        conn,
        notices.ContractDeclinedReceipt(
            contract_id=case.contract_id,
            company=await company_name(conn, case.account_id),
            declined_at=d.evidence.decided_at.isoformat(),
            reason=d.reason,
            reader_language=d.evidence.language,
        ),
        process_id=process_id,
        step=f"{step}:receipt",
        recipient_kind="contact",
        recipient_id=d.evidence.contact_id,
    )
    return {
        "records": [
            f"contract {case.contract_id} declined by {d.evidence.contact_id} on "
            f"{d.today}; deal {case.deal_id} lost; ticket {case.ticket_id} back to "
            "customer care"
        ]
    }
