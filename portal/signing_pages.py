"""The signing page's pages: the contract with its forms, and the status pages (signed,
declined, expired, withdrawn, invalid), each with the signing page's own headers. No session:
the forms carry the link and an HMAC of it (CSRF), keyed with the portal's secret."""

import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse

from domain.renegotiation_models import MAX_DECLINE_REASON
from domain.signing import LinkState, csrf_field, document_sha256
from portal.contract import TEXT, long_date, render_document, templates

# Used when the app has no secret: forms then work only with the process that served them.
_PROCESS_SECRET = secrets.token_bytes(32)


def form_secret(request: Request) -> bytes:
    """The app's secret for the forms' HMAC (the portal's: every replica the same), else one
    per process."""
    configured = getattr(request.app.state, "secret_key", None)
    if isinstance(configured, str):
        configured = configured.encode()
    return configured or _PROCESS_SECRET


HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the link's token never leaves in a Referer
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def signing_page_response(
    request: Request, name: str, status: int = 200, **context: Any
) -> HTMLResponse:
    response = templates.TemplateResponse(request, f"signing/{name}", context, status_code=status)
    response.headers.update(HEADERS)
    return response


def contact_line(k: dict | None, lang: str, words: str = "contact") -> str:
    t = TEXT[lang]
    if k and k.get("supplier_email"):
        return t[words].format(who=k["supplier"], email=k["supplier_email"])
    return t["contact_plain"]


def status_page(
    request: Request, k: dict, state: LinkState, lang: str, token: str, just_now: bool = False
) -> HTMLResponse:
    t = TEXT[lang]
    contract = k["id"]
    pdf, contact = "", contact_line(k, lang, "questions")
    if state is LinkState.SIGNED:
        when = long_date(k["signed_on"], lang)
        title, text = t["signed_title"], t["signed_now" if just_now else "signed_before"]
        status, pdf = 200, links(request, k["id"], token, lang)["pdf"]
    elif state is LinkState.DECLINED:
        when = long_date(k["declined_at"] or k["decided_at"], lang)
        title, text = t["declined_title"], t["declined_now" if just_now else "declined_before"]
        status = 200
    elif state is LinkState.EXPIRED:
        when = long_date(k["signing_deadline"], lang)
        title, text, status = t["expired_title"], t["expired"], 410
        contact = contact_line(k, lang)
    else:
        when = ""
        title, text, status = t["withdrawn_title"], t["withdrawn"], 410
    return signing_page_response(
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


def invalid_page(request: Request, lang: str = "nb") -> HTMLResponse:
    """The same page for an unknown contract, a wrong token and a link never sent: it tells
    nothing about which."""
    t = TEXT[lang]
    return signing_page_response(
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


def now() -> datetime:
    return datetime.now(UTC)


def links(request: Request, contract_id: str, token: str, lang: str) -> dict[str, str]:
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


def contract_page(
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
    return signing_page_response(
        request,
        "contract.page.html",
        status,
        t=t,
        lang=lang,
        document=document,
        document_sha256=document_sha256(document),
        contract_id=k["id"],
        token=token,
        csrf=csrf_field(form_secret(request), k["id"], token),
        deadline=t["deadline"].format(date=long_date(k["signing_deadline"], lang)),
        errors=errors or {},
        typed_name=typed_name,
        reason=reason,
        notice=notice,
        name_hint=t["typed_name_hint"].format(name=k["signer_name"]),
        consent=t["consent"].format(company=k["company"]),
        contact=contact_line(k, lang),
        max_reason=MAX_DECLINE_REASON,
        **links(request, k["id"], token, lang),
    )
