"""The customer signing page. The one-time link of the contract e-mail and SMS opens the
contract: the template's text with the deal's figures,
printable and as a PDF. The signatory signs (their name typed, and consent) or declines with
a reason; either is the renegotiation's own workflow step (`contract_signed`,
`contract_declined`) with actor = the signatory's contact id and the page's evidence, which
the step keeps. The link works until the signing deadline and only until it was used.

Only `request.app.state.pool` (asyncpg) and `request.app.state.temporal` (the client's
connection, same codec) are used, so the router runs in any app that sets them. No session: the
forms carry the link and an HMAC of it (CSRF). The link's token is never logged: uvicorn's
access log gets it redacted (below), and our own log lines name the contract only."""

import asyncio
import logging
import re
from typing import Any

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from client.failures import failure_message
from domain.renegotiation_models import MAX_DECLINE_REASON, Declination, SignerStep, SigningEvidence
from domain.signing import (
    LinkState,
    bound_to_contract,
    csrf_ok,
    has_controls,
    hash_well_formed,
    language_for_signer,
    link_state,
    link_well_formed,
    name_matches,
    same_document,
    token_matches,
)
from portal.contract import (
    TEXT,
    contract_hashes,
    contract_pdf,
    contract_view,
    render_document,
    signed_contract_pdf,
)
from portal.signing_pages import (
    HEADERS,
    contact_line,
    contract_page,
    form_secret,
    invalid_page,
    now,
    signing_page_response,
    status_page,
)
from store import signing as store
from workflows.renegotiation import Renegotiation

log = structlog.get_logger("partnerflow.signing")

router = APIRouter()
# How long the page waits for the workflow to record a decision before it says "in a moment".
ANSWER_WITHIN = 60.0


class _RedactTokens(logging.Filter):
    """uvicorn's access log prints the request line: the link's token must not be in it."""

    PATTERN = re.compile(r"(token=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(
                self.PATTERN.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


logging.getLogger("uvicorn.access").addFilter(_RedactTokens())


async def _open(request: Request, contract_id: str, token: str) -> dict | None:
    """The contract of a link whose token is right, else None. A link not of our form (a
    NUL, a control character) opens nothing and never reaches the database."""
    if not link_well_formed(contract_id, token):
        return None
    k = await store.contract_for_signing(request.app.state.pool, contract_id)
    if k is None or not token_matches(token, k["signing_token_sha256"]):
        return None
    return k


@router.get("/sign", response_class=HTMLResponse, name="signing-page")
async def signing_page(
    request: Request, contract: str = "", token: str = "", lang: str = ""
) -> Response:
    k = await _open(request, contract, token)
    if k is None:
        return invalid_page(request, language_for_signer(lang, None))
    language = language_for_signer(lang, k["signer_language"])
    state = link_state(k["status"], k["signing_deadline"], now())
    if state is LinkState.INVALID:
        return invalid_page(request, language)
    if state is not LinkState.OPEN:
        return status_page(request, k, state, language, token)
    if k["opened_at"] is None:
        await store.mark_opened(request.app.state.pool, k["id"])
    return contract_page(request, k, token, language)


@router.get("/sign/contract.pdf", name="signing-pdf")
async def signing_pdf(
    request: Request, contract: str = "", token: str = "", lang: str = ""
) -> Response:
    """The contract as a PDF, for the signer's own files: while the link is valid, and after
    signing the signed contract with its evidence certificate (the same as the e-mail's)."""
    k = await _open(request, contract, token)
    state = None if k is None else link_state(k["status"], k["signing_deadline"], now())
    if k is None or state is LinkState.INVALID:
        return invalid_page(request, language_for_signer(lang, None))
    language = language_for_signer(lang, k["signer_language"])
    evidence = await store.evidence(request.app.state.pool, k["id"])
    if state is LinkState.SIGNED and evidence is not None and evidence["decision"] == "signed":
        body = signed_contract_pdf(k, evidence, language)
    else:
        body = contract_pdf(contract_view(k, language))
    # no CSP here: it would keep the browser's own PDF viewer from showing it
    headers = {k: v for k, v in HEADERS.items() if k != "Content-Security-Policy"}
    return Response(
        body,
        media_type="application/pdf",
        headers={**headers, "Content-Disposition": f'inline; filename="{k["id"]}.pdf"'},
    )


async def _checked_post(
    request: Request,
    contract: str,
    token: str,
    csrf: str,
    lang: str,
    shown_sha256: str,
    typed_name: str = "",
    reason: str = "",
) -> tuple[dict, str] | Response:
    """The contract of a posted form whose link and CSRF field are right, that can still be
    answered and whose text is still the one the page showed, and its language; else the
    page to show instead (with what the person typed, shown again)."""
    k = await _open(request, contract, token)
    if k is None:
        return invalid_page(request, language_for_signer(lang, None))
    language = language_for_signer(lang, k["signer_language"])
    if not csrf_ok(form_secret(request), k["id"], token, csrf):
        log.warning("signing form refused: CSRF field missing or wrong", contract_id=k["id"])
        await _refused(request, k, "a signing form without this link's CSRF field")
        t = TEXT[language]
        return signing_page_response(
            request,
            "status.html",
            403,
            t=t,
            lang=language,
            title=t["invalid_title"],
            message=t["forged"],
            state="forged",
            contact=contact_line(k, language),
        )
    state = link_state(k["status"], k["signing_deadline"], now())
    if state is LinkState.INVALID:
        return invalid_page(request, language)
    if state is not LinkState.OPEN:
        if state in (LinkState.SIGNED, LinkState.DECLINED):  # the used link posted again
            await _refused(request, k, f"a decision posted again on a link already {state}")
        return status_page(request, k, state, language, token)
    if not hash_well_formed(shown_sha256) or not bound_to_contract(
        shown_sha256, contract_hashes(k)
    ):
        # not the hash of this contract's text in any language: another contract's, or none
        await _refused(request, k, "evidence whose document hash is not this contract's")
        notice = TEXT[language]["changed"]
        return contract_page(
            request, k, token, language, 409, notice=notice, typed_name=typed_name, reason=reason
        )
    if not same_document(render_document(k, language), shown_sha256):
        notice = TEXT[language]["changed"]
        return contract_page(
            request, k, token, language, 409, notice=notice, typed_name=typed_name, reason=reason
        )
    return k, language


async def _refused(request: Request, k: dict, reason: str) -> None:
    """What the page refused, in the security log (one row each)."""
    await store.record_refusal(
        request.app.state.pool,
        contract_id=k["id"],
        process_id=k["process_id"],
        actor=k["signatory_contact_id"] or "unknown",
        reason=reason,
    )


def _evidence(
    request: Request, k: dict, lang: str, sha: str, typed_name: str | None
) -> SigningEvidence:
    return SigningEvidence(
        contact_id=k["signatory_contact_id"],
        typed_name=typed_name,
        document_sha256=sha,
        language=lang,
        ip=(request.client.host if request.client else "unknown")[:64],
        user_agent=request.headers.get("user-agent", "")[:500],
        decided_at=now(),
    )


async def _send(
    request: Request, k: dict, token: str, lang: str, update: Any, arg: Any, update_id: str
) -> Response:
    """Sends the step to the renegotiation and shows what became of the contract."""
    handle = request.app.state.temporal.get_workflow_handle(k["process_id"])
    try:
        await asyncio.wait_for(handle.execute_update(update, arg, id=update_id), ANSWER_WITHIN)
    except WorkflowUpdateFailedError as e:
        # A refusal (the deadline passed a moment ago, staff cancelled): the contract's
        # state says it to the customer; the workflow's words are for staff.
        log.info(
            "signing step refused",
            contract_id=k["id"],
            reason=failure_message(e),
        )
    except (TimeoutError, RPCError) as e:
        # No answer in time, or the process has just ended (staff cancelled a moment ago):
        # what the contract says now, else "in a moment".
        log.warning("signing step not answered", contract_id=k["id"], error=type(e).__name__)
        after = await store.contract_for_signing(request.app.state.pool, k["id"]) or k
        state = link_state(after["status"], after["signing_deadline"], now())
        if state is not LinkState.OPEN:
            return status_page(request, after, state, lang, token, just_now=True)
        t = TEXT[lang]
        return signing_page_response(
            request,
            "status.html",
            503,
            t=t,
            lang=lang,
            title=t["busy_title"],
            message=t["busy"],
            state="busy",
            contact=contact_line(k, lang),
        )
    after = await store.contract_for_signing(request.app.state.pool, k["id"]) or k
    state = link_state(after["status"], after["signing_deadline"], now())
    if state is LinkState.OPEN:  # refused, and the contract is still open
        return contract_page(request, after, token, lang, 409, notice=TEXT[lang]["refused"])
    return status_page(request, after, state, lang, token, just_now=True)


# The hash of the contract text the page showed, carried by the forms.
SHOWN = Form("", alias="document_sha256")


@router.post("/sign", response_class=HTMLResponse, name="signing-sign")
async def sign(
    request: Request,
    contract: str = Form(""),
    token: str = Form(""),
    csrf: str = Form(""),
    shown_sha256: str = SHOWN,
    lang: str = Form(""),
    typed_name: str = Form(""),
    consent: str = Form(""),
) -> Response:
    checked = await _checked_post(
        request, contract, token, csrf, lang, shown_sha256, typed_name=typed_name
    )
    if isinstance(checked, Response):
        return checked
    k, language = checked
    t = TEXT[language]
    errors = {}
    if has_controls(typed_name) or not name_matches(typed_name, k["signer_name"] or ""):
        errors["typed_name"] = t["name_mismatch"].format(name=k["signer_name"])
    if consent != "yes":
        errors["consent"] = t["consent_missing"]
    if errors:
        return contract_page(request, k, token, language, 422, errors=errors, typed_name=typed_name)
    step = SignerStep(
        actor=k["signatory_contact_id"],
        evidence=_evidence(request, k, language, shown_sha256, " ".join(typed_name.split())),
    )
    log.info("contract signed on the signing page", contract_id=k["id"])
    return await _send(
        request,
        k,
        token,
        language,
        Renegotiation.contract_signed,
        step,
        f"signing-page-signed-{k['id']}",
    )


@router.post("/sign/decline", response_class=HTMLResponse, name="signing-decline")
async def decline(
    request: Request,
    contract: str = Form(""),
    token: str = Form(""),
    csrf: str = Form(""),
    shown_sha256: str = SHOWN,
    lang: str = Form(""),
    reason: str = Form(""),
) -> Response:
    checked = await _checked_post(request, contract, token, csrf, lang, shown_sha256, reason=reason)
    if isinstance(checked, Response):
        return checked
    k, language = checked
    t = TEXT[language]
    reason = " ".join(reason.split())
    if has_controls(reason) or not 3 <= len(reason) <= MAX_DECLINE_REASON:
        return contract_page(
            request, k, token, language, 422, reason=reason, errors={"reason": t["reason_missing"]}
        )
    step = Declination(
        actor=k["signatory_contact_id"],
        reason=reason,
        evidence=_evidence(request, k, language, shown_sha256, None),
    )
    log.info("contract declined on the signing page", contract_id=k["id"])
    return await _send(
        request,
        k,
        token,
        language,
        Renegotiation.contract_declined,
        step,
        f"signing-page-declined-{k['id']}",
    )
