"""The partner portal: FastAPI with server-rendered Jinja2 pages (docs/portal-and-signing.md).
`create_app(settings)` only assembles it: the routes are in portal/routes/ (one router per
area), what they depend on in portal/deps.py.

Security in one place:
- Sessions are rows in PostgreSQL (portal/sessions.py); the cookie holds only a random id:
  HttpOnly, SameSite=Lax, Secure when the portal is served over https
  (PARTNERFLOW_PORTAL_SECURE_COOKIES overrides it, e.g. for http://localhost under ./run).
  Logout, a password change and deactivation end the row, and with it the CSRF token. Every
  request reads the user again from PostgreSQL, so a deactivated user is out at once.
- CSRF: a random token per session, in a hidden field of every form, compared on every POST
  (a missing or wrong one is refused with 403, nothing done). Logging in makes a new session
  (and token): a session fixed before login is worth nothing after it.
- Login attempts are rows in PostgreSQL (domain/portal.py has the rules), so every portal
  process agrees on who must wait.
- Every page and every action takes the partner and the user from the session; the store's
  queries filter by them, and an action first checks that the item is the partner's.
- Every refusal at this door (another partner's item, a CSRF failure, a throttled login) is
  one security log row; hostile input (NUL, broken encodings, oversized forms, unknown
  paths) gets a 4xx page in the reader's language, never a 500.
- No referrer leaves the portal (the first-login link carries a one-time token), pages are not
  cached and not framed, and there is no JavaScript at all (the CSP allows none).
"""

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from temporalio.client import Client

import config
from client.connection import connect
from portal.deps import (
    CsrfRefused,
    LoginNeeded,
    NotYours,
    back,
    current_user,
    flash,
    log_refusal,
    page,
    printable,
    words_for,
)
from portal.forms import parse_amount
from portal.guard import BadInput, guard
from portal.headers import PageHeaders
from portal.routes import documents, home, leads, login, opportunities, orders, signing
from portal.sessions import ServerSessions
from portal.settings import PortalSettings, settings_from_environment
from store.documents import DocumentStore

__all__ = ["PortalSettings", "create_app", "parse_amount"]

HERE = Path(__file__).resolve().parent
CONNECT_WITHIN = 20.0  # seconds to reach Temporal at startup


def create_app(
    settings: PortalSettings | None = None, *, pool: Any = None, temporal: Client | None = None
) -> FastAPI:
    """The portal. Without `pool`/`temporal`, it connects at startup (the settings' database,
    the client's Temporal connection); tests may hand in their own. Without settings (served
    as a factory), they are read from the environment here."""
    settings = settings or settings_from_environment()
    common = settings.common or config.Settings.from_environment()
    app = FastAPI(
        title="partnerflow partner portal",
        lifespan=_lifespan(settings, common, pool, temporal),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(guard)],
    )
    app.state.settings = settings
    app.state.task_queue = common.task_queue
    if pool is not None:  # handed in (tests): there before any lifespan runs
        app.state.pool = pool
    if temporal is not None:
        app.state.temporal = temporal
    app.state.documents = DocumentStore(settings.documents_dir or common.documents_dir)
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.state.secret_key = settings.secret_key  # the signing page's CSRF fields too
    app.add_middleware(PageHeaders)
    # Added last: runs first, so the session is there for everything above.
    app.add_middleware(ServerSessions, secure=settings.secure_cookies)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(LoginNeeded, _login_needed)  # type: ignore[arg-type]
    app.add_exception_handler(CsrfRefused, _csrf)
    app.add_exception_handler(NotYours, _not_yours)
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _bad_input)
    app.add_exception_handler(BadInput, _bad_input)
    # NUL and other text PostgreSQL cannot hold, bytes that are no UTF-8: bad input, not a fault
    app.add_exception_handler(asyncpg.DataError, _bad_input)
    app.add_exception_handler(UnicodeError, _bad_input)
    for area in (login, home, orders, documents, leads, opportunities, signing):
        app.include_router(area.router)
    return app


def _lifespan(
    settings: PortalSettings, common: config.Settings, pool: Any, temporal: Client | None
) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from store.db import create_pool

        own_pool = pool is None
        app.state.pool = pool or await create_pool(
            settings.database_url or common.database_dsn() or config.database_url(),
            max_size=10,
            light_reset=True,
        )
        if temporal is None and settings.service_key is not None:
            from codec.signing import SERVICE
            from store.staff_keys import key_file_enrolled

            async with app.state.pool.acquire() as conn:
                await key_file_enrolled(
                    conn, settings.service_key, holder="portal", kind=SERVICE, enrolled_by="portal"
                )
        app.state.temporal = temporal or await connect(
            common,
            within=CONNECT_WITHIN,
            warn=lambda text: print(f"warning: {text}", file=sys.stderr),
            key=settings.service_key,
        )
        try:
            yield
        finally:
            if own_pool:
                await app.state.pool.close()

    return lifespan


log = structlog.get_logger("partnerflow.portal")


async def _login_needed(request: Request, exc: LoginNeeded) -> Response:
    words = words_for(request)
    said = "Your session has ended: please log in again." if exc.expired else "Please log in."
    flash(request, "info", words(said))
    return back("/login")


async def _csrf(request: Request, exc: Exception) -> Response:
    words = words_for(request)
    await log_refusal(
        request,
        str(request.session.get("user") or "anonymous"),
        f"portal: {request.method} {_route_of(request)}",
        request.url.path,
        "the form's CSRF token was missing or wrong",
    )
    return page(
        request,
        "error.html",
        status=403,
        title=words("Forbidden"),
        text=words("The form has expired or did not come from this page: please try again."),
    )


async def _not_yours(request: Request, exc: Exception) -> Response:
    user = None
    try:
        user = await current_user(request)
    except LoginNeeded:
        pass
    words = words_for(request, user)
    item = next(iter(request.path_params.values()), request.url.path)
    await log_refusal(
        request,
        user.id if user else "anonymous",
        f"portal: {request.method} {_route_of(request)}",
        str(item),
        "not one of the partner's items (or no such item)",
    )
    return page(
        request,
        "error.html",
        user=user,
        status=404,
        title=words("Not found"),
        text=words("This item is not one of yours, or it no longer exists."),
    )


def _route_of(request: Request) -> str:
    """The page as the app names it (/orders/{process_id}/confirm), not as it was typed."""
    route = request.scope.get("route")
    return getattr(route, "path", None) or printable(request.url.path)


def _error_page(request: Request, status: int, title: str, text: str) -> Response:
    if "session" not in request.scope:  # outside the session's reach (static files)
        return PlainTextResponse(f"{status} {title}", status_code=status)
    words = words_for(request)
    return page(request, "error.html", status=status, title=words(title), text=words(text))


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code >= 500:
        raise exc
    said = {
        404: ("Not found", "There is no such page."),
        405: ("Not found", "There is no such page."),
    }.get(exc.status_code, ("Bad request", "The request could not be read: please try again."))
    response = _error_page(request, exc.status_code, *said)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _bad_input(request: Request, exc: Exception) -> Response:
    """Input that no page takes: one log line, a 400 (413) page."""
    status = exc.status if isinstance(exc, BadInput) else 400
    why = exc.why if isinstance(exc, BadInput) else type(exc).__name__
    log.info("bad request", path=printable(request.url.path), status=status, why=why)
    return _error_page(
        request, status, "Bad request", "The request could not be read: please try again."
    )
