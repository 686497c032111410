"""Server-side sessions for the portal (store/sessions.py keeps them): the cookie carries only
a random id; `request.session` is the row's data (CSRF token, language, messages), loaded
before the route and written back after it when it changed. A session is made only when
there is something to keep, and a new one at every login (`begin`): an id fixed before the
login is worth nothing after it. `end` (logout) ends the row, so a copy of the cookie opens
nothing any more, on any portal process."""

import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store import sessions as db

SESSION_COOKIE = "partnerflow_portal"
IDLE = timedelta(hours=8)
ABSOLUTE = timedelta(hours=12)  # a session ends this long after the login, whatever happens
_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
_STATE = "partnerflow.session"
_NOT_FOR = ("/static/",)


@dataclass
class SessionState:
    id: str | None  # the live session's id, None when there is none (yet)
    user_id: str | None
    started_at: datetime | None
    saved: str  # the data as stored, to write back only a change
    expired: bool  # a cookie came whose session is over
    new_cookie: bool = False
    user: dict | None = None  # the user's facts, read with the session (store/sessions.py)


def _text(data: dict) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def state_of(request: Request) -> SessionState:
    return request.scope[_STATE]


class ServerSessions:
    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_NOT_FOR):
            await self.app(scope, receive, send)
            return
        pool = scope["app"].state.pool
        sent = HTTPConnection(scope).cookies.get(SESSION_COOKIE, "")
        live = None
        if _ID.match(sent):
            async with pool.acquire() as conn:
                live = await db.open_session(conn, sent, datetime.now(UTC), IDLE, ABSOLUTE)
        data = dict(live.data) if live else {}
        state = SessionState(
            id=sent if live else None,
            user_id=live.user_id if live else None,
            started_at=live.started_at if live else None,
            saved=_text(data),
            expired=bool(sent) and live is None,
            user=live.user if live else None,
        )
        scope["session"] = data
        scope[_STATE] = state

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = await self._commit(pool, scope, state)
                if cookie:
                    MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _commit(self, pool: Any, scope: Scope, state: SessionState) -> str | None:
        """Writes the session's data back; the Set-Cookie header to send, if any."""
        data = scope["session"]
        text = _text(data)
        if state.id is None:
            if not data:
                return self._cookie("", delete=True) if state.expired else None
            state.id, state.new_cookie = secrets.token_urlsafe(32), True
            async with pool.acquire() as conn:
                await db.create(conn, state.id, state.user_id, data, datetime.now(UTC))
        elif text != state.saved:
            async with pool.acquire() as conn:
                await db.save(conn, state.id, data)
        state.saved = text
        return self._cookie(state.id) if state.new_cookie else None

    def _cookie(self, value: str, delete: bool = False) -> str:
        parts = [f"{SESSION_COOKIE}={value}", "path=/", "httponly", "samesite=lax"]
        if delete:
            parts.append("max-age=0")
        if self.secure:
            parts.append("secure")
        return "; ".join(parts)


async def begin(request: Request, user_id: str) -> None:
    """A new session for the user who just logged in; the one before (if any) ends."""
    state = state_of(request)
    now = datetime.now(UTC)
    new = secrets.token_urlsafe(32)
    data = {"user": user_id, "since": now.timestamp()}
    async with request.app.state.pool.acquire() as conn:
        if state.id is not None:
            await db.end(conn, state.id, "logged in anew")
        await db.create(conn, new, user_id, data, now)
    request.session.clear()
    request.session.update(data)
    state.id, state.user_id, state.started_at, state.user = new, user_id, now, None
    state.saved, state.new_cookie, state.expired = _text(data), True, False


async def end(request: Request, why: str) -> None:
    """The session ends (its CSRF token with it); what the response keeps after this, e.g. a
    message, goes into a new session without a user."""
    state = state_of(request)
    if state.id is not None:
        async with request.app.state.pool.acquire() as conn:
            await db.end(conn, state.id, why)
    request.session.clear()
    state.id, state.user_id, state.started_at, state.user = None, None, None, None
    state.saved, state.new_cookie, state.expired = _text({}), False, True
