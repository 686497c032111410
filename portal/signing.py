"""The customer signing page (issue 12, seed 001: "Send e-post og SMS"). The one-time link of
the contract e-mail and SMS opens the contract: the template's text with the deal's figures,
printable and as a PDF. The signatory signs (their name typed, and consent) or declines with
a reason; either is the renegotiation's own workflow step (`contract_signed`,
`contract_declined`) with actor = the signatory's contact id and the page's evidence, which
the step keeps. The link works until the signing deadline and only until it was used.

Only `request.app.state.pool` (asyncpg) and `request.app.state.temporal` (the starter's
client, same codec) are used, so the router runs in any app that sets them. No session: the
forms carry the link and an HMAC of it (CSRF). The link's token is never logged: uvicorn's
access log gets it redacted (below), and our own log lines name the contract only."""

import asyncio
import json
import logging
import os
import re
import secrets
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import structlog
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from domain.business_time import Family, zone
from domain.renegotiation import MAX_DECLINE_REASON, Declination, SignerStep, SigningEvidence
from domain.signing import (
    LOCALES,
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
from store import signing as store
from workflows.renegotiation import Renegotiation

log = structlog.get_logger("partnerflow.signing")

router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
OSLO = zone(Family.RENEGOTIATION)
# How long the page waits for the workflow to record a decision before it says "in a moment".
ANSWER_WITHIN = 60.0
# Used when no secret is configured: forms then work only with the process that served them.
_PROCESS_SECRET = secrets.token_bytes(32)


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


def _secret(request: Request) -> bytes:
    """The app's secret for the forms' HMAC: app.state.secret_key if the app has one, else
    PARTNERFLOW_PORTAL_SECRET (every replica the same), else one per process."""
    configured = getattr(request.app.state, "secret_key", None) or os.environ.get(
        "PARTNERFLOW_PORTAL_SECRET", ""
    )
    if isinstance(configured, str):
        configured = configured.encode()
    return configured or _PROCESS_SECRET


# --- words ------------------------------------------------------------------------------------

TEXT: dict[str, dict[str, str]] = {
    "nb": {
        "title": "Signering av avtale",
        "contract_no": "Avtale nr.",
        "supplier": "Leverandør",
        "customer": "Kunde",
        "signatory": "Signatar",
        "replaces": "Denne avtalen erstatter avtale {original} signert {date}.",
        "replaces_undated": "Denne avtalen erstatter avtale {original}.",
        "lines": "Avtalens innhold",
        "product": "Produkt",
        "quantity": "Antall",
        "unit_price": "Pris per enhet",
        "discount": "Rabatt",
        "line_total": "Sum",
        "total": "Sum i alt",
        "start": "Oppstartsdato",
        "licences": "Antall lisenser",
        "price": "Pris per lisens",
        "terms": "Vilkår",
        "binding_months": "Bindingstid",
        "months": "{n} måneder",
        "invoicing": "Fakturering",
        "invoice_reference": "Fakturareferanse",
        "unchanged": "Øvrige vilkår er som i opprinnelig avtale.",
        "deadline": "Signeringsfrist: {date}.",
        "print": "Skriv ut",
        "pdf": "Last ned som PDF",
        "sign_heading": "Signer avtalen",
        "typed_name": "Skriv inn ditt fulle navn",
        "typed_name_hint": "Skriv navnet ditt slik det står i avtalen: {name}.",
        "consent": "Jeg har lest avtalen, godtar den og signerer den elektronisk på vegne av "
        "{company}.",
        "sign": "Signer avtalen",
        "decline_heading": "Vil du ikke signere?",
        "reason": "Hvorfor avslår du avtalen?",
        "reason_hint": "Kundesenteret får begrunnelsen og tar kontakt med deg.",
        "decline": "Avslå avtalen",
        "errors": "Skjemaet har feil",
        "name_mismatch": "Navnet stemmer ikke med signataren i avtalen. Skriv {name}.",
        "consent_missing": "Kryss av for at du har lest og godtar avtalen.",
        "reason_missing": "Skriv en begrunnelse (minst 3 tegn).",
        "changed": "Avtalen er endret etter at du åpnet den. Les den nye versjonen under før "
        "du signerer.",
        "signed_title": "Avtalen er signert",
        "signed_now": "Takk! Du signerte avtalen {contract} den {date}. Du trenger ikke gjøre "
        "noe mer.",
        "signed_before": "Avtalen {contract} er allerede signert den {date}. Lenken kan bare "
        "brukes én gang.",
        "declined_title": "Avtalen er avslått",
        "declined_now": "Du avslo avtalen {contract}. Kundesenteret har fått beskjed og tar "
        "kontakt med deg.",
        "declined_before": "Avtalen {contract} ble avslått den {date}. Lenken kan bare brukes "
        "én gang.",
        "expired_title": "Lenken er utløpt",
        "expired": "Signeringsfristen for avtalen {contract} gikk ut {date}. Avtalen kan ikke "
        "lenger signeres med denne lenken.",
        "withdrawn_title": "Avtalen er trukket tilbake",
        "withdrawn": "Avtalen {contract} er trukket tilbake og kan ikke signeres.",
        "invalid_title": "Lenken er ikke gyldig",
        "invalid": "Vi fant ingen avtale for denne lenken. Sjekk at du har brukt hele lenken "
        "fra e-posten eller SMS-en.",
        "contact": "Ta kontakt med {who} på {email} hvis du har spørsmål eller trenger en ny "
        "lenke.",
        "contact_plain": "Ta kontakt med kundesenteret hvis du har spørsmål.",
        "questions": "Ta kontakt med {who} på {email} hvis du har spørsmål.",
        "pdf_copy": "Last ned avtalen som PDF",
        "forged": "Skjemaet kunne ikke kontrolleres. Åpne lenken fra e-posten på nytt.",
        "busy_title": "Et øyeblikk",
        "busy": "Vi registrerer svaret ditt. Last inn siden på nytt om et øyeblikk.",
        "refused": "Avtalen kunne ikke oppdateres akkurat nå.",
        "language": "Språk",
        "other_language": "English",
    },
    "en": {
        "title": "Contract signing",
        "contract_no": "Contract no.",
        "supplier": "Supplier",
        "customer": "Customer",
        "signatory": "Signatory",
        "replaces": "This contract replaces contract {original} signed on {date}.",
        "replaces_undated": "This contract replaces contract {original}.",
        "lines": "What the contract covers",
        "product": "Product",
        "quantity": "Quantity",
        "unit_price": "Unit price",
        "discount": "Discount",
        "line_total": "Amount",
        "total": "Total",
        "start": "Start date",
        "licences": "Licences",
        "price": "Price per licence",
        "terms": "Terms",
        "binding_months": "Minimum term",
        "months": "{n} months",
        "invoicing": "Invoicing",
        "invoice_reference": "Invoice reference",
        "unchanged": "All other terms are as in the original contract.",
        "deadline": "Signing deadline: {date}.",
        "print": "Print",
        "pdf": "Download as PDF",
        "sign_heading": "Sign the contract",
        "typed_name": "Type your full name",
        "typed_name_hint": "Type your name as the contract gives it: {name}.",
        "consent": "I have read the contract, accept it and sign it electronically on behalf "
        "of {company}.",
        "sign": "Sign the contract",
        "decline_heading": "Not signing?",
        "reason": "Why do you decline the contract?",
        "reason_hint": "Customer care receives your reason and will contact you.",
        "decline": "Decline the contract",
        "errors": "There is a problem with the form",
        "name_mismatch": "The name does not match the contract's signatory. Type {name}.",
        "consent_missing": "Tick the box to confirm you have read and accept the contract.",
        "reason_missing": "Give a reason (at least 3 characters).",
        "changed": "The contract has changed since you opened it. Read the new version below "
        "before you sign.",
        "signed_title": "The contract is signed",
        "signed_now": "Thank you! You signed contract {contract} on {date}. There is nothing "
        "more to do.",
        "signed_before": "Contract {contract} was already signed on {date}. The link can be "
        "used only once.",
        "declined_title": "The contract was declined",
        "declined_now": "You declined the contract {contract}. Customer care has been told "
        "and will contact you.",
        "declined_before": "Contract {contract} was declined on {date}. The link can be used "
        "only once.",
        "expired_title": "The link has expired",
        "expired": "The signing deadline of contract {contract} was {date}. The contract can "
        "no longer be signed with this link.",
        "withdrawn_title": "The contract was withdrawn",
        "withdrawn": "Contract {contract} was withdrawn and cannot be signed.",
        "invalid_title": "This link is not valid",
        "invalid": "We found no contract for this link. Check that you used the whole link "
        "from the e-mail or text message.",
        "contact": "Contact {who} at {email} if you have questions or need a new link.",
        "contact_plain": "Contact customer care if you have questions.",
        "questions": "Contact {who} at {email} if you have questions.",
        "pdf_copy": "Download the contract as a PDF",
        "forged": "The form could not be verified. Open the link from the e-mail again.",
        "busy_title": "One moment",
        "busy": "We are recording your answer. Reload the page in a moment.",
        "refused": "The contract could not be updated just now.",
        "language": "Language",
        "other_language": "Norsk",
    },
}


def _date(d: date | datetime | None, lang: str) -> str:
    if d is None:
        return ""
    if isinstance(d, datetime):
        d = d.astimezone(OSLO).date()
    return format_date(d, format="long", locale=LOCALES[lang])


def _money(amount: Decimal, currency: str, lang: str) -> str:
    """450,00 kr in Norwegian; NOK 450.00 in English (not babel's "NOK450.00")."""
    if lang == "nb":
        return format_currency(amount, currency, locale=LOCALES[lang])
    return format_currency(
        amount, currency, format="¤\u00a0#,##0.00", locale=LOCALES[lang], currency_digits=False
    )


def _number(n: Decimal | int, lang: str) -> str:
    return format_decimal(n, locale=LOCALES[lang])


# --- the document -----------------------------------------------------------------------------


def _terms(raw: Any) -> dict:
    if isinstance(raw, str):  # a pool without the JSON codecs
        return json.loads(raw or "{}")
    return dict(raw or {})


def contract_view(k: dict, lang: str) -> dict:
    """Everything the contract's text shows, formatted for `lang`: the HTML page and the PDF
    are made from it."""
    t = TEXT[lang]
    currency = k["currency"] or "NOK"
    lines, total = [], Decimal("0.00")
    for ln in k["lines"]:
        amount = line_total(ln["quantity"], ln["unit_price"], ln["discount_percent"])
        total += amount
        lines.append(
            {
                "product": ln["product"],
                "quantity": _number(ln["quantity"], lang),
                "unit_price": _money(ln["unit_price"], currency, lang),
                "discount": f"{_number(ln['discount_percent'].normalize(), lang)} %"
                if ln["discount_percent"]
                else "",
                "amount": _money(amount, currency, lang),
            }
        )
    terms = []
    for key, value in sorted(_terms(k["terms"]).items()):
        if key == "binding_months":
            terms.append((t["binding_months"], t["months"].format(n=value)))
        elif key in ("invoicing", "invoice_reference"):
            terms.append((t[key], str(value)))
        else:
            terms.append((key.replace("_", " ").capitalize(), str(value)))
    if k["based_on"]:
        replaces = (
            t["replaces"].format(original=k["based_on"], date=_date(k["original_signed_on"], lang))
            if k["original_signed_on"]
            else t["replaces_undated"].format(original=k["based_on"])
        )
    else:
        replaces = ""
    return {
        "t": t,
        "lang": lang,
        "contract_id": k["id"],
        "template": k["template"],
        "supplier": k["supplier"] or "",
        "company": k["company"],
        "signer_name": k["signer_name"] or "",
        "replaces": replaces,
        "licences": _number(k["licences"], lang),
        "price": _money(k["price"], currency, lang),
        "start": _date(k["start_date"], lang),
        "lines": lines,
        "total": _money(total, currency, lang),
        "terms": terms,
    }


def render_document(k: dict, lang: str) -> str:
    """The contract's text as the page shows it: its SHA-256 is the evidence's."""
    return templates.get_template("signing/contract.html").render(contract_view(k, lang))


# --- pages ------------------------------------------------------------------------------------

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the link's token never leaves in a Referer
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, f"signing/{name}", context, status_code=status)
    response.headers.update(HEADERS)
    return response


def _contact_line(k: dict | None, lang: str, words: str = "contact") -> str:
    t = TEXT[lang]
    if k and k.get("supplier_email"):
        return t[words].format(who=k["supplier"], email=k["supplier_email"])
    return t["contact_plain"]


def _status_page(
    request: Request, k: dict, state: LinkState, lang: str, token: str, just_now: bool = False
) -> HTMLResponse:
    t = TEXT[lang]
    contract = k["id"]
    pdf, contact = "", _contact_line(k, lang, "questions")
    if state is LinkState.SIGNED:
        when = _date(k["signed_on"], lang)
        title, text = t["signed_title"], t["signed_now" if just_now else "signed_before"]
        status, pdf = 200, _links(request, k["id"], token, lang)["pdf"]
    elif state is LinkState.DECLINED:
        when = _date(k["declined_at"] or k["decided_at"], lang)
        title, text = t["declined_title"], t["declined_now" if just_now else "declined_before"]
        status = 200
    elif state is LinkState.EXPIRED:
        when = _date(k["signing_deadline"], lang)
        title, text, status = t["expired_title"], t["expired"], 410
        contact = _contact_line(k, lang)
    else:
        when = ""
        title, text, status = t["withdrawn_title"], t["withdrawn"], 410
    return _page(
        request,
        "status.html",
        status,
        t=t,
        lang=lang,
        title=title,
        message=text.format(contract=contract, date=when),
        state=state.value,
        contact=contact,
        pdf=pdf,
    )


def _invalid(request: Request, lang: str = "nb") -> HTMLResponse:
    """The same page for an unknown contract, a wrong token and a link never sent: it tells
    nothing about which."""
    t = TEXT[lang]
    return _page(
        request,
        "status.html",
        404,
        t=t,
        lang=lang,
        title=t["invalid_title"],
        message=t["invalid"],
        state="invalid",
        contact=t["contact_plain"],
    )


async def _open(request: Request, contract_id: str, token: str) -> dict | None:
    """The contract of a link whose token is right, else None."""
    if not contract_id or not token or len(contract_id) > 80 or len(token) > 200:
        return None
    k = await store.contract_for_signing(request.app.state.pool, contract_id)
    if k is None or not token_matches(token, k["signing_token_sha256"]):
        return None
    return k


def _now() -> datetime:
    return datetime.now(UTC)


def _links(request: Request, contract_id: str, token: str, lang: str) -> dict[str, str]:
    """The page's own addresses, wherever the router is mounted."""
    page = request.url_for("signing-page").path
    other = "en" if lang == "nb" else "nb"
    link = {"contract": contract_id, "token": token}
    return {
        "sign": page,
        "decline": request.url_for("signing-decline").path,
        "pdf": request.url_for("signing-pdf").path + "?" + urlencode({**link, "lang": lang}),
        "other_language": page + "?" + urlencode({**link, "lang": other}),
        "other_lang": other,
    }


def _contract_page(
    request: Request,
    k: dict,
    token: str,
    lang: str,
    status: int = 200,
    errors: dict[str, str] | None = None,
    typed_name: str = "",
    reason: str = "",
    notice: str = "",
) -> HTMLResponse:
    document = render_document(k, lang)
    t = TEXT[lang]
    return _page(
        request,
        "contract.page.html",
        status,
        t=t,
        lang=lang,
        document=document,
        document_sha256=document_sha256(document),
        contract_id=k["id"],
        token=token,
        csrf=csrf_field(_secret(request), k["id"], token),
        deadline=t["deadline"].format(date=_date(k["signing_deadline"], lang)),
        errors=errors or {},
        typed_name=typed_name,
        reason=reason,
        notice=notice,
        name_hint=t["typed_name_hint"].format(name=k["signer_name"]),
        consent=t["consent"].format(company=k["company"]),
        contact=_contact_line(k, lang),
        max_reason=MAX_DECLINE_REASON,
        **_links(request, k["id"], token, lang),
    )


@router.get("/sign", response_class=HTMLResponse, name="signing-page")
async def signing_page(
    request: Request, contract: str = "", token: str = "", lang: str = ""
) -> Response:
    k = await _open(request, contract, token)
    if k is None:
        return _invalid(request, language_for_signer(lang, None))
    language = language_for_signer(lang, k["signer_language"])
    state = link_state(k["status"], k["signing_deadline"], _now())
    if state is LinkState.INVALID:
        return _invalid(request, language)
    if state is not LinkState.OPEN:
        return _status_page(request, k, state, language, token)
    return _contract_page(request, k, token, language)


@router.get("/sign/contract.pdf", name="signing-pdf")
async def signing_pdf(
    request: Request, contract: str = "", token: str = "", lang: str = ""
) -> Response:
    """The contract as a PDF, for the signer's own files: while the link is valid, and after
    signing too (the used link still shows the contract's state)."""
    k = await _open(request, contract, token)
    if k is None or link_state(k["status"], k["signing_deadline"], _now()) is LinkState.INVALID:
        return _invalid(request, language_for_signer(lang, None))
    language = language_for_signer(lang, k["signer_language"])
    body = contract_pdf(contract_view(k, language))
    # no CSP here: it would keep the browser's own PDF viewer from showing it
    headers = {k: v for k, v in HEADERS.items() if k != "Content-Security-Policy"}
    return Response(
        body,
        media_type="application/pdf",
        headers={**headers, "Content-Disposition": f'inline; filename="{k["id"]}.pdf"'},
    )


def _latin1(text: str) -> str:
    text = text.replace("\u202f", "\u00a0").replace("\u2009", " ").replace("\u2212", "-")
    return text.encode("latin-1", "replace").decode("latin-1")


def contract_pdf(view: dict) -> bytes:
    """The contract as a PDF (fpdf2, pure Python), from the same view as the page's text.
    Core fonts cover Latin-1, which has the Norwegian letters; others are replaced."""
    from fpdf import FPDF  # only when a PDF is asked for
    from fpdf.enums import XPos, YPos

    t = view["t"]
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"{view['template']} {view['contract_id']}"))
    pdf.set_lang(view["lang"])
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 8, _latin1(view["template"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font("Helvetica", size=11)
    facts = [(t["contract_no"], view["contract_id"])]
    if view["supplier"]:
        facts.append((t["supplier"], view["supplier"]))
    facts += [
        (t["customer"], view["company"]),
        (t["signatory"], view["signer_name"]),
        (t["licences"], view["licences"]),
        (t["price"], view["price"]),
        (t["start"], view["start"]),
    ]
    for name, value in facts:
        pdf.cell(50, 7, _latin1(name))
        pdf.cell(0, 7, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if view["replaces"]:
        pdf.ln(2)
        pdf.multi_cell(0, 6, _latin1(view["replaces"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, _latin1(t["lines"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=10)
    with pdf.table(
        col_widths=(60, 20, 35, 20, 35), text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")
    ) as table:
        table.row(
            [
                _latin1(x)
                for x in (
                    t["product"],
                    t["quantity"],
                    t["unit_price"],
                    t["discount"],
                    t["line_total"],
                )
            ]
        )
        for ln in view["lines"]:
            table.row(
                [
                    _latin1(x)
                    for x in (
                        ln["product"],
                        ln["quantity"],
                        ln["unit_price"],
                        ln["discount"],
                        ln["amount"],
                    )
                ]
            )
        table.row([_latin1(t["total"]), "", "", "", _latin1(view["total"])])
    if view["terms"]:
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, _latin1(t["terms"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("Helvetica", size=11)
        for name, value in view["terms"]:
            pdf.cell(50, 7, _latin1(name))
            pdf.cell(0, 7, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    pdf.multi_cell(0, 6, _latin1(t["unchanged"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


async def _checked_post(
    request: Request,
    contract: str,
    token: str,
    csrf: str,
    lang: str,
    shown_sha256: str,
    **kept: str,
) -> tuple[dict | None, str, Response | None]:
    """The contract of a posted form whose link and CSRF field are right, that can still be
    answered and whose text is still the one the page showed; else the page to show instead
    (`kept`: what the person typed, shown again)."""
    language = language_for_signer(lang, None)
    k = await _open(request, contract, token)
    if k is None:
        return None, language, _invalid(request, language)
    language = language_for_signer(lang, k["signer_language"])
    if not csrf_ok(_secret(request), k["id"], token, csrf):
        log.warning("signing form refused: CSRF field missing or wrong", contract_id=k["id"])
        t = TEXT[language]
        return (
            None,
            language,
            _page(
                request,
                "status.html",
                403,
                t=t,
                lang=language,
                title=t["invalid_title"],
                message=t["forged"],
                state="forged",
                contact=_contact_line(k, language),
            ),
        )
    state = link_state(k["status"], k["signing_deadline"], _now())
    if state is LinkState.INVALID:
        return None, language, _invalid(request, language)
    if state is not LinkState.OPEN:
        return None, language, _status_page(request, k, state, language, token)
    if not same_document(render_document(k, language), shown_sha256):
        return (
            None,
            language,
            _contract_page(
                request, k, token, language, 409, notice=TEXT[language]["changed"], **kept
            ),
        )
    return k, language, None


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
        decided_at=_now(),
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
            reason=str(e.cause.message if e.cause else e),
        )
    except (TimeoutError, RPCError) as e:
        # No answer in time, or the process has just ended (staff cancelled a moment ago):
        # what the contract says now, else "in a moment".
        log.warning("signing step not answered", contract_id=k["id"], error=type(e).__name__)
        after = await store.contract_for_signing(request.app.state.pool, k["id"])
        state = link_state(after["status"], after["signing_deadline"], _now())
        if state is not LinkState.OPEN:
            return _status_page(request, after, state, lang, token, just_now=True)
        t = TEXT[lang]
        return _page(
            request,
            "status.html",
            503,
            t=t,
            lang=lang,
            title=t["busy_title"],
            message=t["busy"],
            state="busy",
            contact=_contact_line(k, lang),
        )
    after = await store.contract_for_signing(request.app.state.pool, k["id"])
    state = link_state(after["status"], after["signing_deadline"], _now())
    if state is LinkState.OPEN:  # refused, and the contract is still open
        return _contract_page(request, after, token, lang, 409, notice=TEXT[lang]["refused"])
    return _status_page(request, after, state, lang, token, just_now=True)


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
    k, language, refused = await _checked_post(
        request, contract, token, csrf, lang, shown_sha256, typed_name=typed_name
    )
    if refused is not None:
        return refused
    t = TEXT[language]
    errors = {}
    if not name_matches(typed_name, k["signer_name"] or ""):
        errors["typed_name"] = t["name_mismatch"].format(name=k["signer_name"])
    if consent != "yes":
        errors["consent"] = t["consent_missing"]
    if errors:
        return _contract_page(
            request, k, token, language, 422, errors=errors, typed_name=typed_name
        )
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
    k, language, refused = await _checked_post(
        request, contract, token, csrf, lang, shown_sha256, reason=reason
    )
    if refused is not None:
        return refused
    t = TEXT[language]
    reason = " ".join(reason.split())
    if not 3 <= len(reason) <= MAX_DECLINE_REASON:
        return _contract_page(
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
