"""What the portal's routes depend on, in one place: the pool, the client's requests, the
verified user of the session, the CSRF check of a form, and the page and answer helpers.

Sessions are rows in PostgreSQL (portal/sessions.py); the cookie holds only their random id.
Every request reads the user again (`current_user`), so a deactivated user is out at once.
Every form carries the session's CSRF token (`form_with_csrf`): a missing or wrong one is
refused with 403, nothing done. Every refusal at this door is one security log row
(`log_refusal`)."""

import re
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from client.processes import Processes
from portal import sessions, steps
from portal.i18n import Words, from_accept_language, language_of
from store import people
from store import portal as db


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


# The dependencies are coroutines, even those that only read: FastAPI runs a plain function
# in its thread pool, a thread hop per request for nothing.
async def get_pool(request: Request) -> Any:
    return request.app.state.pool


async def get_processes(request: Request) -> Processes:
    """The client's requests as a page makes them: a page waits ANSWER_WITHIN seconds."""
    return Processes(request.app.state.temporal, request.app.state.task_queue, steps.ANSWER_WITHIN)


async def current_user(request: Request) -> PortalUser:
    """The user of the live session (idle and absolute limits are the session store's).
    Its status is read with the session, in the same statement, on every request."""
    state = sessions.state_of(request)
    user_id = state.user_id
    if not user_id:
        raise LoginNeeded(expired=state.expired)
    row: Any = state.user if state.user and state.user["id"] == user_id else None
    if row is None:  # a session begun in this request (a login): not read with it
        async with request.app.state.pool.acquire() as conn:
            row = await db.partner_user(conn, user_id)
    if row is None or row["status"] != "active" or row["account_status"] != "active":
        await sessions.end(request, "user no longer active")  # deactivated since: out at once
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


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, limit: int = 200) -> str:
    """Outside text as the log may keep it: no control or direction characters, bounded."""
    return _UNPRINTABLE.sub("?", text)[:limit]


async def log_refusal(request: Request, who: str, what: str, item: str, why: str) -> None:
    """One security log row for a refusal at the portal's door: who (a user id, or what was
    typed), what was tried, on which item or page, why, from which address."""
    async with request.app.state.pool.acquire() as conn:
        await people.record_refusal(
            conn,
            actor=printable(who or "anonymous", 64),
            permission=printable(what, 120),
            process_id=printable(item, 200),
            reason=printable(f"{why} (from {client_address(request)})", 500),
            checked_in="portal",
        )


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
