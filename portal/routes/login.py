"""Login, logout and the first login (a partner user sets a password from the invitation's
one-time link). Login attempts are rows in PostgreSQL (domain/portal.py has the numbers), so
every portal process agrees on a lockout; logging in makes a new session (and CSRF token), so
a session fixed before login is worth nothing after it."""

import asyncio
import secrets
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from domain import ids
from domain.partners import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    password_problems,
    token_digest,
    verify_password,
)
from domain.portal import CLIENT_WINDOW, client_throttled, locked_until, minutes_left
from portal import steps
from portal.deps import (
    NO_ANSWER_IN_TIME,
    Pool,
    Steps,
    back,
    client_address,
    flash,
    form_with_csrf,
    page,
    words_for,
)
from portal.i18n import Words, language_of
from store import portal as db

router = APIRouter()

# An argon2 hash of nothing anyone types: an unknown user costs the same time as a known one.
_NOBODY = hash_password(secrets.token_hex(16))
LINK_INCOMPLETE = "This login link is not complete: open the link from your invitation e-mail."


@router.get("/healthz", include_in_schema=False)
async def healthz(pool: Pool) -> dict:
    """For the compose health check: the database answers."""
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
    return {"ok": True}


@router.get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    return back("/orders" if request.session.get("user") else "/login")


def _portal_path(value: str) -> str | None:
    """Where a link from an e-mail leads after login: a path of the portal's own only (no
    other host, no scheme, no control characters)."""
    if not (value.startswith("/") and not value.startswith("//") and "\\" not in value):
        return None
    return value if value.isprintable() and len(value) <= 200 else None


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    wanted = _portal_path(request.query_params.get("next", ""))
    if wanted and request.session.get("user"):
        return back(wanted)
    if wanted:
        request.session["next"] = wanted
    return page(request, "login.html", values={"user": request.query_params.get("user", "")[:64]})


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, pool: Pool) -> Response:
    form = await form_with_csrf(request)
    user_id = str(form.get("user", "")).strip()[:64]
    password = str(form.get("password", ""))
    problem = await check_login(
        pool, client_address(request), user_id, password, words_for(request)
    )
    if problem:
        return page(
            request,
            "login.html",
            status=401,
            values={"user": user_id},
            errors={"password": problem},
        )
    wanted = _portal_path(str(request.session.get("next", "")))
    log_in(request, user_id)
    return back(wanted or "/orders")


def log_in(request: Request, user_id: str) -> None:
    request.session.clear()  # a new session (and CSRF token) for the logged-in user
    request.session.update(user=user_id, since=datetime.now(UTC).timestamp())


async def check_login(
    pool: Any, client: str, user_id: str, password: str, words: Words
) -> str | None:
    """None when the password is right and the user may log in; else what to say."""
    wrong = words("The user name or the password is wrong.")
    if not ids.USER.matches(user_id) or not password:
        return wrong
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        await db.lock_logins_of(conn, user_id)
        if client_throttled(await db.client_attempts(conn, client, now - CLIENT_WINDOW)):
            return words("Too many login attempts from your address: wait a minute and try again.")
        until = locked_until(await db.login_attempts(conn, user_id, now), now)
        if until is not None:
            return words(
                "Too many failed logins: this user is locked for {minutes} more "
                "minute(s). Ask your channel manager if you forgot your "
                "password.",
                minutes=minutes_left(until, now),
            )
        row = await db.partner_user(conn, user_id)
        stored: str | None = row["password_hash"] if row and row["password_hash"] else None
        right = await asyncio.to_thread(verify_password, password, stored or _NOBODY)
        ok = bool(
            right
            and stored
            and row
            and row["status"] == "active"
            and row["account_status"] == "active"
        )
        await db.record_attempt(conn, user_id, client, ok, now)
        if ok and stored is not None and needs_rehash(stored):  # legacy scrypt: argon2 now
            await db.replace_password_hash(
                conn, user_id, stored, await asyncio.to_thread(hash_password, password)
            )
    return None if ok else wrong


@router.post("/logout")
async def logout(request: Request) -> Response:
    await form_with_csrf(request)
    words = words_for(request)
    request.session.clear()
    request.session["lang"] = words.language
    flash(request, "ok", words("You are logged out."))
    return back("/login")


@router.get("/first-login", response_class=HTMLResponse)
async def first_login_page(request: Request) -> Response:
    q = request.query_params
    values = {k: q.get(k, "")[:200] for k in ("partner", "user", "token")}
    words = words_for(request)
    if not all(values.values()):
        return page(
            request,
            "error.html",
            status=400,
            title=words("Set your password"),
            text=words(LINK_INCOMPLETE),
        )
    return page(request, "first_login.html", values=values, min_length=MIN_PASSWORD_LENGTH)


def password_errors(values: dict[str, str], password: str, again: str, words: Words) -> dict:
    """What is wrong with the link or the chosen password, by field; {} when nothing."""
    if not (
        ids.CODE.matches(values["partner"]) and ids.USER.matches(values["user"]) and values["token"]
    ):
        return {"password": words(LINK_INCOMPLETE)}
    if password != again:
        return {"password2": words("The two passwords differ.")}
    problems = password_problems(password, values["user"])
    if not problems:
        return {}
    said = [
        words(
            p.replace(str(MIN_PASSWORD_LENGTH), "{n}").replace(values["user"], "{user}"),
            n=MIN_PASSWORD_LENGTH,
            user=values["user"],
        )
        for p in problems
    ]
    return {"password": words("Choose another password: it {problems}.", problems="; ".join(said))}


@router.post("/first-login", response_class=HTMLResponse)
async def first_login(request: Request, pool: Pool, processes: Steps) -> Response:
    form = await form_with_csrf(request)
    values = {k: str(form.get(k, ""))[:200] for k in ("partner", "user", "token")}
    words = words_for(request)
    password = str(form.get("password", ""))
    errors = password_errors(values, password, str(form.get("password2", "")), words)
    used = words("This login link was used already: log in with your password.")
    if not errors:
        async with pool.acquire() as conn:
            before = await db.partner_user(conn, values["user"])
        if before is not None and before["status"] == "active":
            errors["password"] = used  # the process would answer "already logged in"
    if not errors:
        result = await steps.first_login(
            processes,
            values["partner"],
            values["user"],
            token_digest(values["token"]),
            await asyncio.to_thread(hash_password, password),
            steps.request_id(str(form.get("request", ""))),
        )
        if await logged_in_by(request, pool, result, values["user"], password):
            return back("/orders")
        errors["password"] = (
            used
            if result.ok
            else result.message
            if not result.unknown
            else words(NO_ANSWER_IN_TIME)
        )
    return page(
        request,
        "first_login.html",
        status=400,
        values=values,
        errors=errors,
        min_length=MIN_PASSWORD_LENGTH,
    )


async def logged_in_by(
    request: Request, pool: Any, result: steps.Outcome, user_id: str, password: str
) -> bool:
    """Logs the user in if the password now stored is the one typed here: an answer
    "already logged in" to a step that raced another first login proves nothing."""
    async with pool.acquire() as conn:
        row = await db.partner_user(conn, user_id)
    if not (result.ok and row is not None and row["status"] == "active"):
        return False
    if not await asyncio.to_thread(verify_password, password, row["password_hash"]):
        return False
    log_in(request, user_id)  # the first login is a login: a session of its own
    own = Words(language_of(row["language"]))  # from now on
    flash(request, "ok", own("Done: {message}", message=result.message))
    return True
