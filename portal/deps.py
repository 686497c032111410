"""What the portal's routes depend on, in one place: the pool, the client's requests, the
verified user of the session, the CSRF check of a form, and the page and answer helpers.

Sessions are signed cookies that name only the user; every request reads the user again from
PostgreSQL (`current_user`), so a deactivated user is out at once. Every form carries the
session's CSRF token (`form_with_csrf`): a missing or wrong one is refused with 403, nothing
done."""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from client.processes import Processes
from portal import steps
from portal.i18n import Words, from_accept_language, language_of
from store import portal as db

ABSOLUTE_HOURS = 12  # a session ends this long after the login, whatever happens


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


# --- dependencies -----------------------------------------------------------------------------


def get_pool(request: Request) -> Any:
    return request.app.state.pool


def get_processes(request: Request) -> Processes:
    """The client's requests as a page makes them: a page waits ANSWER_WITHIN seconds."""
    return Processes(request.app.state.temporal, request.app.state.task_queue, steps.ANSWER_WITHIN)


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


Pool = Annotated[Any, Depends(get_pool)]
Steps = Annotated[Processes, Depends(get_processes)]
CurrentUser = Annotated[PortalUser, Depends(current_user)]


# --- forms, pages, answers --------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def form_with_csrf(request: Request, **limits: Any) -> Any:
    form = await request.form(**limits)
    sent, expected = form.get("csrf"), request.session.get("csrf")
    if not isinstance(sent, str) or not expected or not secrets.compare_digest(sent, expected):
        raise CsrfRefused()
    return form


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


def page(
    request: Request,
    template: str,
    *,
    user: PortalUser | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    words = words_for(request, user)
    messages = request.session.pop("flash", [])
    return request.app.state.templates.TemplateResponse(
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


NO_ANSWER_IN_TIME = (
    "No answer in time: the step may still be carried out. Reload the page in a minute."
)


def outcome(request: Request, words: Words, result: steps.Outcome) -> None:
    """A step's outcome as the next page's message."""
    if result.unknown:
        flash(request, "error", words(NO_ANSWER_IN_TIME))
    elif result.own:  # the portal's own words, e.g. an ended process
        flash(request, "error", words(result.message, **result.params))
    elif result.ok:
        flash(request, "ok", words("Done: {message}", message=result.message))
    else:
        flash(request, "error", words("Refused: {message}", message=result.message))
