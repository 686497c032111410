"""The partner portal: FastAPI with server-rendered Jinja2 pages (README "Partner portal").

Security in one place:
- Sessions are signed cookies (Starlette's SessionMiddleware, itsdangerous): HttpOnly,
  SameSite=Lax, Secure when the portal is served over https (PARTNERFLOW_PORTAL_SECURE_COOKIES
  overrides it, e.g. for http://localhost under ./run). A session names only the user; every
  request reads the user again from PostgreSQL, so a deactivated user is out at once.
- CSRF: a random token per session, in a hidden field of every form, compared on every POST
  (a missing or wrong one is refused with 403, nothing done). Logging in makes a new session
  (and token): a session fixed before login is worth nothing after it.
- Login attempts are rows in PostgreSQL (domain/portal.py has the numbers), so every portal
  process agrees on a lockout.
- Every page and every action takes the partner and the user from the session; the store's
  queries filter by them, and an action first checks that the item is the partner's.
- No referrer leaves the portal (the first-login link carries a one-time token), pages are not
  cached and not framed, and there is no JavaScript at all (the CSP allows none).
"""

import asyncio
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware
from temporalio.client import Client

import config
from domain import ids
from domain.documents import (
    MAX_DOCUMENT_BYTES,
    SNIFF_BYTES,
    DocumentKind,
    DocumentRef,
    check_document,
    clean_file_name,
    missing_documents,
    sniff_content_type,
)
from domain.errors import Refused
from domain.leads import OPPORTUNITY_STAGES
from domain.partners import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    password_problems,
    token_digest,
    verify_password,
)
from domain.portal import (
    CLIENT_WINDOW,
    client_throttled,
    locked_until,
    minutes_left,
)
from portal import steps
from portal.i18n import Words, from_accept_language, language_of
from store import portal as db
from store.documents import DocumentStore, sha256_of

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "partnerflow_portal"
SESSION_HOURS = 8  # idle limit: the cookie is renewed with each page
ABSOLUTE_HOURS = 12  # a session ends this long after the login, whatever happens
# An argon2 hash of nothing anyone types: an unknown user costs the same time as a known one.
_NOBODY = hash_password(secrets.token_hex(16))


@dataclass(frozen=True)
class PortalSettings:
    secret_key: str
    secure_cookies: bool
    database_url: str | None = None
    documents_dir: Path | None = None


def settings_from_environment() -> PortalSettings:
    """PARTNERFLOW_PORTAL_SECRET signs the session cookies: the same on every portal process
    (one made per data folder under ./run). Secure cookies follow the portal's URL (https),
    unless PARTNERFLOW_PORTAL_SECURE_COOKIES=0/1 says otherwise."""
    secret = os.environ.get("PARTNERFLOW_PORTAL_SECRET", "").strip()
    if len(secret) < 32:
        raise config.NotConfigured(
            "PARTNERFLOW_PORTAL_SECRET is not set (at least 32 characters, the same on every "
            "portal process; e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    chosen = os.environ.get("PARTNERFLOW_PORTAL_SECURE_COOKIES", "").strip()
    secure = (
        (chosen == "1")
        if chosen in ("0", "1")
        else config.partner_portal_url().startswith("https://")
    )
    return PortalSettings(secret_key=secret, secure_cookies=secure)


async def connect_temporal() -> Client:
    """The starter's own connection code (cli/common.py): the same address settings, the same
    key ring and payload encryption."""
    from cli.common import _connect  # noqa: PLC0415 - the starter's, on purpose

    return await _connect()


# --- sessions, CSRF, users --------------------------------------------------------------------


@dataclass(frozen=True)
class PortalUser:
    id: str
    name: str
    partner_id: str
    partner_name: str
    language: str


class LoginNeeded(Exception):
    def __init__(self, expired: bool = False) -> None:
        self.expired = expired


class CsrfRefused(Exception):
    pass


class NotYours(Exception):
    """An item of another partner (or none at all): the same answer for both."""


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def form_with_csrf(request: Request, **limits) -> Any:
    form = await request.form(**limits)
    sent, expected = form.get("csrf"), request.session.get("csrf")
    if not isinstance(sent, str) or not expected or not secrets.compare_digest(sent, expected):
        raise CsrfRefused()
    return form


async def current_user(request: Request) -> PortalUser:
    user_id = request.session.get("user")
    if not user_id:
        raise LoginNeeded()
    since = request.session.get("since", 0)
    if datetime.now(UTC).timestamp() - since > ABSOLUTE_HOURS * 3600:
        request.session.clear()
        raise LoginNeeded(expired=True)
    async with request.app.state.pool.acquire() as conn:
        row = await db.partner_user(conn, user_id)
    if row is None or row["status"] != "active" or row["account_status"] != "active":
        request.session.clear()  # deactivated since: out at once
        raise LoginNeeded(expired=True)
    return PortalUser(
        row["id"], row["name"], row["partner_id"], row["partner_name"], language_of(row["language"])
    )


def words_for(request: Request, user: PortalUser | None = None) -> Words:
    if user is not None:
        return Words(user.language)
    return Words(
        request.session.get("lang") or from_accept_language(request.headers.get("accept-language"))
    )


def flash(request: Request, kind: str, text: str) -> None:
    request.session.setdefault("flash", []).append([kind, text])


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --- the app ----------------------------------------------------------------------------------


def create_app(
    settings: PortalSettings | None = None, *, pool=None, temporal: Client | None = None
) -> FastAPI:
    """The portal. Without `pool`/`temporal`, it connects at startup (DATABASE_URL, the
    starter's Temporal settings); tests may hand in their own."""
    settings = settings or settings_from_environment()
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from store.db import create_pool

        own_pool = pool is None
        app.state.pool = pool or await create_pool(
            settings.database_url or config.database_url(), max_size=10
        )
        app.state.temporal = temporal or await connect_temporal()
        try:
            yield
        finally:
            if own_pool:
                await app.state.pool.close()

    app = FastAPI(
        title="partnerflow partner portal",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    if pool is not None:  # handed in (tests): there before any lifespan runs
        app.state.pool = pool
    if temporal is not None:
        app.state.temporal = temporal
    app.state.documents = DocumentStore(settings.documents_dir or config.documents_dir())
    templates = Jinja2Templates(directory=HERE / "templates")
    app.state.templates = templates

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'",
        )
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.state.secret_key = settings.secret_key  # the signing page's CSRF fields too
    # Added last: runs first, so the session is there for everything above.
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(
        request: Request,
        template: str,
        *,
        user: PortalUser | None = None,
        status: int = 200,
        **context,
    ) -> HTMLResponse:
        words = words_for(request, user)
        messages = request.session.pop("flash", [])
        return templates.TemplateResponse(
            request,
            template,
            {
                "_": words,
                "user": user,
                "csrf": csrf_token(request),
                "messages": messages,
                "errors": {},
                "values": {},
                "new_request": lambda: secrets.token_hex(8),
                "lang": words.language,
                **context,
            },
            status_code=status,
        )

    def back(path: str) -> RedirectResponse:
        return RedirectResponse(path, status_code=303)

    @app.exception_handler(LoginNeeded)
    async def _login_needed(request: Request, exc: LoginNeeded):
        flash(
            request,
            "info",
            words_for(request)(
                "Your session has ended: please log in again." if exc.expired else "Please log in."
            ),
        )
        return back("/login")

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused):
        words = words_for(request)
        return page(
            request,
            "error.html",
            status=403,
            title=words("Forbidden"),
            text=words("The form has expired or did not come from this page: please try again."),
        )

    @app.exception_handler(NotYours)
    async def _not_yours(request: Request, exc: NotYours):
        user = None
        try:
            user = await current_user(request)
        except LoginNeeded:
            pass
        words = words_for(request, user)
        return page(
            request,
            "error.html",
            user=user,
            status=404,
            title=words("Not found"),
            text=words("This item is not one of yours, or it no longer exists."),
        )

    def outcome(request: Request, words: Words, result: steps.Outcome) -> None:
        if result.unknown:
            flash(
                request,
                "error",
                words(
                    "No answer in time: the step may still be carried "
                    "out. Reload the page in a minute."
                ),
            )
        elif result.ok:
            flash(request, "ok", words("Done: {message}", message=result.message))
        else:
            flash(request, "error", words("Refused: {message}", message=result.message))

    # --- login, first login, logout -----------------------------------------------------------

    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request):
        """For the compose health check: the database answers."""
        async with request.app.state.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
        return {"ok": True}

    @app.get("/", include_in_schema=False)
    async def home(request: Request):
        return back("/orders" if request.session.get("user") else "/login")

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request):
        return page(
            request, "login.html", values={"user": request.query_params.get("user", "")[:64]}
        )

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request):
        form = await form_with_csrf(request)
        user_id = str(form.get("user", "")).strip()[:64]
        password = str(form.get("password", ""))
        words = words_for(request)
        problem = await check_login(request, user_id, password, words)
        if problem:
            return page(
                request,
                "login.html",
                status=401,
                values={"user": user_id},
                errors={"password": problem},
            )
        request.session.clear()  # a new session (and CSRF token) for the logged-in user
        request.session.update(user=user_id, since=datetime.now(UTC).timestamp())
        return back("/orders")

    async def check_login(
        request: Request, user_id: str, password: str, words: Words
    ) -> str | None:
        """None when the password is right and the user may log in; else what to say."""
        wrong = words("The user name or the password is wrong.")
        if not ids.USER.matches(user_id) or not password:
            return wrong
        now = datetime.now(UTC)
        client = client_address(request)
        async with request.app.state.pool.acquire() as conn, conn.transaction():
            await db.lock_logins_of(conn, user_id)
            if client_throttled(await db.client_attempts(conn, client, now - CLIENT_WINDOW)):
                return words(
                    "Too many login attempts from your address: wait a minute and try again."
                )
            until = locked_until(await db.login_attempts(conn, user_id, now), now)
            if until is not None:
                return words(
                    "Too many failed logins: this user is locked for {minutes} more "
                    "minute(s). Ask your channel manager if you forgot your "
                    "password.",
                    minutes=minutes_left(until, now),
                )
            row = await db.partner_user(conn, user_id)
            stored = row["password_hash"] if row and row["password_hash"] else None
            right = await asyncio.to_thread(verify_password, password, stored or _NOBODY)
            ok = bool(
                right and stored and row["status"] == "active" and row["account_status"] == "active"
            )
            await db.record_attempt(conn, user_id, client, ok, now)
            if ok and needs_rehash(stored):  # a legacy scrypt hash: argon2 from now on
                await db.replace_password_hash(
                    conn, user_id, stored, await asyncio.to_thread(hash_password, password)
                )
        return None if ok else wrong

    @app.post("/logout")
    async def logout(request: Request):
        await form_with_csrf(request)
        words = words_for(request)
        language = words.language
        request.session.clear()
        request.session["lang"] = language
        flash(request, "ok", words("You are logged out."))
        return back("/login")

    @app.get("/first-login", response_class=HTMLResponse)
    async def first_login_page(request: Request):
        q = request.query_params
        values = {k: q.get(k, "")[:200] for k in ("partner", "user", "token")}
        words = words_for(request)
        if not all(values.values()):
            return page(
                request,
                "error.html",
                status=400,
                title=words("Set your password"),
                text=words(
                    "This login link is not complete: open the link from your invitation e-mail."
                ),
            )
        return page(request, "first_login.html", values=values, min_length=MIN_PASSWORD_LENGTH)

    @app.post("/first-login", response_class=HTMLResponse)
    async def first_login(request: Request):
        form = await form_with_csrf(request)
        values = {k: str(form.get(k, ""))[:200] for k in ("partner", "user", "token")}
        words = words_for(request)
        password, again = str(form.get("password", "")), str(form.get("password2", ""))
        errors: dict[str, str] = {}
        if not (
            ids.CODE.matches(values["partner"])
            and ids.USER.matches(values["user"])
            and values["token"]
        ):
            errors["password"] = words(
                "This login link is not complete: open the link from your invitation e-mail."
            )
        elif password != again:
            errors["password2"] = words("The two passwords differ.")
        else:
            problems = password_problems(password, values["user"])
            if problems:
                said = [
                    words(
                        p.replace(str(MIN_PASSWORD_LENGTH), "{n}").replace(
                            values["user"], "{user}"
                        ),
                        n=MIN_PASSWORD_LENGTH,
                        user=values["user"],
                    )
                    for p in problems
                ]
                errors["password"] = words(
                    "Choose another password: it {problems}.", problems="; ".join(said)
                )
        used = words("This login link was used already: log in with your password.")
        if not errors:
            async with request.app.state.pool.acquire() as conn:
                before = await db.partner_user(conn, values["user"])
            if before is not None and before["status"] == "active":
                errors["password"] = used  # the process would answer "already logged in"
        if not errors:
            result = await steps.first_login(
                request.app.state.temporal,
                values["partner"],
                values["user"],
                token_digest(values["token"]),
                await asyncio.to_thread(hash_password, password),
                steps.request_id(str(form.get("request", ""))),
            )
            async with request.app.state.pool.acquire() as conn:
                row = await db.partner_user(conn, values["user"])
            # Logged in only if the password now stored is the one typed here: an answer
            # "already logged in" to a step that raced another first login proves nothing.
            if (
                result.ok
                and row is not None
                and row["status"] == "active"
                and await asyncio.to_thread(verify_password, password, row["password_hash"])
            ):
                request.session.clear()  # the first login is a login: a session of its own
                request.session.update(user=values["user"], since=datetime.now(UTC).timestamp())
                own = Words(language_of(row["language"]))  # from now on
                flash(request, "ok", own("Done: {message}", message=result.message))
                return back("/orders")
            errors["password"] = (
                used
                if result.ok
                else result.message
                if not result.unknown
                else words(
                    "No answer in time: the step may still be carried "
                    "out. Reload the page in a minute."
                )
            )
        return page(
            request,
            "first_login.html",
            status=400,
            values=values,
            errors=errors,
            min_length=MIN_PASSWORD_LENGTH,
        )

    # --- orders ---------------------------------------------------------------------------

    @app.get("/orders", response_class=HTMLResponse)
    async def orders(request: Request):
        user = await current_user(request)
        async with request.app.state.pool.acquire() as conn:
            rows = await db.orders_awaiting_confirmation(conn, user.partner_id)
        return page(request, "orders.html", user=user, nav="orders", orders=rows)

    @app.post("/orders/{process_id}/confirm")
    async def confirm(request: Request, process_id: str):
        user = await current_user(request)
        form = await form_with_csrf(request)
        async with request.app.state.pool.acquire() as conn:
            if not (
                ids.PROCESS.matches(process_id)
                and await db.order_of_partner(conn, process_id, user.partner_id)
            ):
                raise NotYours()
        result = await steps.confirm_order(
            request.app.state.temporal,
            process_id,
            user.id,
            steps.request_id(str(form.get("request", ""))),
        )
        outcome(request, Words(user.language), result)
        return back("/orders")

    # --- documents ------------------------------------------------------------------------

    @app.get("/documents", response_class=HTMLResponse)
    async def documents(request: Request):
        user = await current_user(request)
        return await documents_page(request, user)

    async def documents_page(
        request: Request, user: PortalUser, status: int = 200, errors: dict | None = None
    ) -> HTMLResponse:
        async with request.app.state.pool.acquire() as conn:
            rows = await db.classound_orders_awaiting_documents(conn, user.partner_id)
            rows += [
                {**r, "source": "change_order"}
                for r in await db.change_orders_awaiting_documents(conn, user.partner_id)
            ]
        words = Words(user.language)
        for r in rows:
            r["missing"] = missing_documents({DocumentKind(d["kind"]) for d in r["documents"]})
            r["missing_words"] = ", ".join(words(m) for m in r["missing"])
        return page(
            request,
            "documents.html",
            user=user,
            nav="documents",
            orders=rows,
            kinds=[k.value for k in DocumentKind],
            status=status,
            errors=errors or {},
        )

    @app.post("/documents/{process_id}/upload")
    async def upload(request: Request, process_id: str):
        user = await current_user(request)
        words = Words(user.language)
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_DOCUMENT_BYTES + 64 * 1024:  # refused before a byte is read
            # nothing is read, stored or sent: the answer is only a page
            return await documents_page(
                request,
                user,
                413,
                {f"{process_id}-file": str(check_refusal("upload", length, b""))},
            )
        form = await form_with_csrf(request, max_files=1, max_fields=10)
        async with request.app.state.pool.acquire() as conn:
            if not (
                ids.PROCESS.matches(process_id)
                and await db.classound_order_of_partner(conn, process_id, user.partner_id)
            ):
                raise NotYours()
        kind = str(form.get("kind", ""))
        upload = form.get("file")
        field = f"{process_id}-file"
        if kind not in [k.value for k in DocumentKind]:
            return await documents_page(
                request, user, 400, {f"{process_id}-kind": words("Choose LOA or last invoice.")}
            )
        if upload is None or isinstance(upload, str) or not upload.filename:
            return await documents_page(
                request, user, 400, {field: words("Choose a file to upload.")}
            )
        data = await upload.read(MAX_DOCUMENT_BYTES + 1)
        name = clean_file_name(upload.filename)
        refusal = check_refusal(name, len(data), data[:SNIFF_BYTES])
        if refusal:  # the starter's checks: nothing stored, nothing sent
            return await documents_page(request, user, 400, {field: refusal})
        ref = DocumentRef(
            kind=kind,
            file_name=name,
            content_type=sniff_content_type(data[:SNIFF_BYTES]),
            size=len(data),
            sha256=sha256_of(data),
        )
        store: DocumentStore = request.app.state.documents
        stored = await asyncio.to_thread(store.put, data)
        result = await steps.upload_document(
            request.app.state.temporal,
            process_id,
            user.id,
            ref,
            steps.request_id(str(form.get("request"))),
        )
        if not result.ok and not result.unknown and stored.created:
            await asyncio.to_thread(store.discard, stored.sha256)  # refused: not kept
        outcome(request, words, result)
        return back("/documents")

    def check_refusal(name: str, size: int, head: bytes) -> str | None:
        try:
            check_document(name, size, head)
        except Refused as r:
            return str(r)
        return None

    # --- leads ----------------------------------------------------------------------------

    @app.get("/leads", response_class=HTMLResponse)
    async def inbox(request: Request):
        user = await current_user(request)
        return await leads_page(request, user, "leads.html", "inbox")

    @app.get("/my-leads", response_class=HTMLResponse)
    async def mine(request: Request):
        user = await current_user(request)
        return await leads_page(request, user, "my_leads.html", "mine")

    async def leads_page(
        request: Request,
        user: PortalUser,
        template: str,
        nav: str,
        status: int = 200,
        errors: dict | None = None,
        values: dict | None = None,
    ) -> HTMLResponse:
        async with request.app.state.pool.acquire() as conn:
            queues = await db.partner_queues(conn, user.partner_id)
            waiting = await db.lead_inbox(conn, user.partner_id)
            own = await db.my_leads(conn, user.id)
        return page(
            request,
            template,
            user=user,
            nav=nav,
            queues=queues,
            inbox=waiting,
            leads=own,
            stages=OPPORTUNITY_STAGES,
            status=status,
            errors=errors or {},
            values=values or {},
        )

    async def lead_action(
        request: Request, lead_id: str, *, own: bool, kind: str, **fields
    ) -> RedirectResponse:
        user = await current_user(request)
        form = await form_with_csrf(request)
        async with request.app.state.pool.acquire() as conn:
            if not ids.NAME.matches(lead_id):
                raise NotYours()
            queue = (
                await db.queue_of_own_lead(conn, lead_id, user.id)
                if own
                else await db.queue_of_lead_for_partner(conn, lead_id, user.partner_id)
            )
        if queue is None:
            raise NotYours()
        result = await steps.lead_step(
            request.app.state.temporal,
            steps.request_id(str(form.get("request", ""))),
            queue_id=queue,
            kind=kind,
            actor=user.id,
            lead_id=lead_id,
            **fields,
        )
        outcome(request, Words(user.language), result)
        return back("/my-leads" if own or kind == "claim" else "/leads")

    @app.post("/leads/{lead_id}/claim")
    async def claim(request: Request, lead_id: str):
        return await lead_action(request, lead_id, own=False, kind="claim")

    @app.post("/leads/{lead_id}/accept")
    async def accept(request: Request, lead_id: str):
        return await lead_action(request, lead_id, own=True, kind="accept")

    @app.post("/leads/{lead_id}/not-interested")
    async def not_interested(request: Request, lead_id: str):
        user = await current_user(request)
        form = await form_with_csrf(request)
        reason = str(form.get("reason", "")).strip()
        if len(reason) < 3:
            words = Words(user.language)
            return await leads_page(
                request,
                user,
                "my_leads.html",
                "mine",
                400,
                {f"{lead_id}-reason": words("Say why (at least 3 characters).")},
            )
        return await lead_action(
            request, lead_id, own=True, kind="not-interested", reason=reason[:500]
        )

    @app.post("/leads/{lead_id}/convert")
    async def convert(request: Request, lead_id: str):
        user = await current_user(request)
        form = await form_with_csrf(request)
        words = Words(user.language)
        fields, errors = opportunity_fields(form, words, lead_id)
        if errors:
            return await leads_page(
                request, user, "my_leads.html", "mine", 400, errors, {lead_id: dict(form)}
            )
        fields["stage"] = fields.get("stage") or "prospecting"
        return await lead_action(request, lead_id, own=True, kind="convert", **fields)

    def opportunity_fields(form, words: Words, prefix: str) -> tuple[dict, dict]:
        fields: dict[str, Any] = {}
        errors: dict[str, str] = {}
        stage = str(form.get("stage", "")).strip()
        if stage:
            if stage not in OPPORTUNITY_STAGES:
                errors[f"{prefix}-stage"] = words("Stage")
            fields["stage"] = stage
        amount = str(form.get("amount", "")).strip()
        if amount:
            try:
                fields["amount"] = parse_amount(amount, words.language)
            except (InvalidOperation, ValueError):
                errors[f"{prefix}-amount"] = words("Use an amount such as 12500 or 12500,50.")
        close = str(form.get("close_date", "")).strip()
        if close:
            try:
                fields["close_date"] = date.fromisoformat(close)
            except ValueError:
                errors[f"{prefix}-close_date"] = words("Use a date.")
        return fields, errors

    # --- opportunities --------------------------------------------------------------------

    @app.get("/opportunities", response_class=HTMLResponse)
    async def opportunities(request: Request):
        user = await current_user(request)
        return await opportunities_page(request, user)

    async def opportunities_page(
        request: Request, user: PortalUser, status: int = 200, errors: dict | None = None
    ) -> HTMLResponse:
        async with request.app.state.pool.acquire() as conn:
            rows = await db.my_opportunities(conn, user.id)
        return page(
            request,
            "opportunities.html",
            user=user,
            nav="opportunities",
            opportunities=rows,
            stages=OPPORTUNITY_STAGES,
            status=status,
            errors=errors or {},
        )

    @app.post("/opportunities/{opportunity_id}")
    async def update_opportunity(request: Request, opportunity_id: str):
        user = await current_user(request)
        form = await form_with_csrf(request)
        words = Words(user.language)
        async with request.app.state.pool.acquire() as conn:
            queue = (
                await db.queue_of_own_opportunity(conn, opportunity_id, user.id)
                if ids.NAME.matches(opportunity_id)
                else None
            )
        if queue is None:
            raise NotYours()
        fields, errors = opportunity_fields(form, words, opportunity_id)
        if not errors and not fields:
            errors[f"{opportunity_id}-stage"] = words("Give a stage, an amount or a close date.")
        if errors:
            return await opportunities_page(request, user, 400, errors)
        result = await steps.lead_step(
            request.app.state.temporal,
            steps.request_id(str(form.get("request", ""))),
            queue_id=queue,
            kind="update-opportunity",
            actor=user.id,
            opportunity_id=opportunity_id,
            **fields,
        )
        outcome(request, words, result)
        return back("/opportunities")

    from portal.signing import router as signing_router

    app.include_router(signing_router)
    return app


def parse_amount(text: str, language: str) -> Decimal:
    """ "12.500,50" (German) or "12,500.50" (English) or plain "12500.5"."""
    cleaned = text.replace(" ", "").replace("\u00a0", "")
    if language == "de":
        cleaned = cleaned.replace(".", "").replace(",", ".")
    else:
        cleaned = cleaned.replace(",", "")
    value = Decimal(cleaned)
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise ValueError(text)
    return value
