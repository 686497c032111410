"""Login, logout, the first login (a partner user sets a password from the invitation's
one-time link) and a forgotten password (a one-time link by e-mail to set a new one).

Every door here answers a known and an unknown user the same way, after the same work (a
password is hashed or checked against a dummy, a link compared against a dummy digest, an
e-mail written and undone), and is judged by the attempts before anything is checked or sent
to a process (domain/portal.py: a backoff per (user, address), a limit per address). Logging in
makes a new session (and CSRF token), so a session fixed before login is worth nothing after
it; logging out and setting a new password end the session (portal/sessions.py)."""

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
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
from domain.portal import CLIENT_WINDOW, client_throttled, seconds_left, wait_until
from portal import devices, sessions, steps
from portal.deps import (
    NO_ANSWER_IN_TIME,
    Pool,
    Steps,
    back,
    client_address,
    flash,
    form_with_csrf,
    log_refusal,
    page,
    printable,
    words_for,
)
from portal.i18n import Words, language_of
from store import logins
from store import portal as db

router = APIRouter()

# An argon2 hash of nothing anyone types: an unknown user costs the same time as a known one.
_NOBODY = hash_password(secrets.token_hex(16))
_NO_DIGEST = token_digest(secrets.token_hex(16))  # what an unknown user's link is compared to
LINK_INCOMPLETE = "This login link is not complete: open the link from your invitation e-mail."
LINK_NOT_VALID = (
    "This login link is not valid, has expired or was used already: log in with your "
    "password, or ask your channel manager for a new invitation."
)
RESET_NOT_VALID = "This link is not valid, has expired or was used already: ask for a new one."
RESET_VALID = timedelta(hours=1)  # a link to set a forgotten password works this long, once
MAX_PASSWORD = 1024  # characters: more is no password, and argon2 would hash it all


async def throttled(
    request: Request, conn: Any, kind: str, who: str, client: str, now: datetime, words: Words
) -> str | None:
    """What to say when this attempt must wait (and one security log row for it), or None.
    Judged before anything is checked, the same for known and unknown users. `client`: the
    address, or a browser the user has logged in with (not counted with its address)."""
    by_address = not client.startswith("device:")
    if by_address and client_throttled(
        await logins.client_attempts(conn, client, now - CLIENT_WINDOW)
    ):
        why = "too many attempts from this address in a minute"
        said = words("Too many attempts from your address: wait a minute and try again.")
    else:
        until = wait_until(await logins.pair_attempts(conn, who, client, now), now)
        if until is None:
            return None
        seconds = seconds_left(until, now)
        source = "this address" if by_address else "a browser known to the user"
        why = f"failed attempts in a row from {source}: {seconds} s to wait"
        said = words(
            "Too many failed attempts: wait {seconds} second(s) and try again.", seconds=seconds
        )
    await log_refusal(request, who, f"portal: {kind}", request.url.path, why)
    return said


@router.get("/healthz", include_in_schema=False)
async def healthz(pool: Pool) -> dict:
    """For the compose health check: the database answers."""
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
    return {"ok": True}


@router.get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    return back("/home" if request.session.get("user") else "/login")


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
    user_id = printable(str(form.get("user", "")).strip(), 64)
    password = str(form.get("password", ""))[:MAX_PASSWORD]
    status, problem = await check_login(request, pool, user_id, password, words_for(request))
    if problem:
        return page(
            request,
            "login.html",
            status=status,
            values={"user": user_id},
            errors={"password": problem},
        )
    wanted = _portal_path(str(request.session.get("next", "")))
    await log_in(request, user_id)
    response = back(wanted or "/home")
    devices.remember(request, response, user_id)
    return response


async def log_in(request: Request, user_id: str) -> None:
    await sessions.begin(request, user_id)  # a new session (and CSRF token) for the user


async def check_login(
    request: Request, pool: Any, user_id: str, password: str, words: Words
) -> tuple[int, str | None]:
    """(200, None) when the password is right and the user may log in; else the status and
    what to say."""
    wrong = words("The user name or the password is wrong.")
    if not ids.USER.matches(user_id) or not password:
        return 401, wrong
    client = devices.known_device(request, user_id) or client_address(request)
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        await logins.lock_pair(conn, user_id, client)
        refusal = await throttled(request, conn, "login", user_id, client, now, words)
        if refusal:
            return 429, refusal
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
        await logins.record_attempt(conn, "login", user_id, client, ok, now)
        if ok and stored is not None and needs_rehash(stored):  # legacy scrypt: argon2 now
            await db.replace_password_hash(
                conn, user_id, stored, await asyncio.to_thread(hash_password, password)
            )
    return (200, None) if ok else (401, wrong)


@router.post("/logout")
async def logout(request: Request) -> Response:
    await form_with_csrf(request)
    words = words_for(request)
    await sessions.end(request, "logout")  # the CSRF token ends with it
    request.session["lang"] = words.language
    flash(request, "ok", words("You are logged out."))
    return back("/login")


@router.get("/first-login", response_class=HTMLResponse)
async def first_login_page(request: Request) -> Response:
    return _password_form(
        request,
        ("partner", "user", "token"),
        "first_login.html",
        "Set your password",
        LINK_INCOMPLETE,
    )


def link_errors(values: dict[str, str], words: Words) -> dict:
    """An invitation link without its parts: said before anything else is judged."""
    if ids.CODE.matches(values["partner"]) and ids.USER.matches(values["user"]) and values["token"]:
        return {}
    return {"password": words(LINK_INCOMPLETE)}


def password_errors(values: dict[str, str], password: str, again: str, words: Words) -> dict:
    """What is wrong with the chosen password, by field; {} when nothing."""
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
    values = {k: printable(str(form.get(k, "")), 200) for k in ("partner", "user", "token")}
    words = words_for(request)
    password = str(form.get("password", ""))[:MAX_PASSWORD]
    again = str(form.get("password2", ""))[:MAX_PASSWORD]
    errors = link_errors(values, words) or password_errors(values, password, again, words)
    if not errors:
        status, problem, new_hash = await check_invitation(request, pool, values, password, words)
        if problem:
            return page(
                request,
                "first_login.html",
                status=status,
                values=values,
                errors={"password": problem},
                min_length=MIN_PASSWORD_LENGTH,
            )
        result = await steps.first_login(
            processes,
            values["partner"],
            values["user"],
            token_digest(values["token"]),
            new_hash,
            steps.request_id(str(form.get("request", ""))),
        )
        if await logged_in_by(request, pool, result, values["user"], password):
            response = back("/home")
            devices.remember(request, response, values["user"])
            return response
        errors["password"] = (
            words(LINK_NOT_VALID)
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


async def check_invitation(
    request: Request, pool: Any, values: dict[str, str], password: str, words: Words
) -> tuple[int, str | None, str]:
    """Whether the link is a pending invitation's, judged here before any process hears of it,
    the same way and after the same work for any user id: the new password is hashed first,
    the token compared against a dummy when there is no invitation. (status, what to say or
    None, the new password's hash)."""
    new_hash = await asyncio.to_thread(hash_password, password)
    client, now, user_id = client_address(request), datetime.now(UTC), values["user"]
    async with pool.acquire() as conn, conn.transaction():
        await logins.lock_pair(conn, user_id, client)
        refusal = await throttled(request, conn, "first login", user_id, client, now, words)
        if refusal:
            return 429, refusal, new_hash
        pending = await logins.pending_invitation(conn, values["partner"], user_id)
        expected = (
            pending["login_token_sha256"]
            if pending is not None
            and pending["login_token_sha256"]
            and pending["login_link_expires"] is not None
            and pending["login_link_expires"] > now
            else None
        )
        matches = secrets.compare_digest(token_digest(values["token"]), expected or _NO_DIGEST)
        ok = matches and expected is not None
        await logins.record_attempt(conn, "first-login", user_id, client, ok, now)
    return (200, None, new_hash) if ok else (400, words(LINK_NOT_VALID), new_hash)


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
    await log_in(request, user_id)  # the first login is a login: a session of its own
    own = Words(language_of(row["language"]))  # from now on
    flash(request, "ok", own("Done: {message}", message=result.message))
    return True


# --- a forgotten password ---------------------------------------------------------------------


@router.get("/forgot-password", response_class=HTMLResponse)
async def forgot_password_page(request: Request) -> Response:
    return page(request, "reset_request.html", values={})


@router.post("/forgot-password", response_class=HTMLResponse)
async def forgot_password(request: Request, pool: Pool) -> Response:
    """A link to set a new password goes by e-mail to the active user named by user id or
    e-mail address; the answer is the same, after the same work, whoever is named."""
    form = await form_with_csrf(request)
    who = printable(str(form.get("who", "")).strip(), 254)
    words = words_for(request)
    if not who:
        errors = {"who": words("Give your user name or your e-mail address.")}
        return page(request, "reset_request.html", status=400, values={}, errors=errors)
    client, now, key = client_address(request), datetime.now(UTC), who.lower()
    async with pool.acquire() as conn, conn.transaction():
        await logins.lock_pair(conn, key, client)
        refusal = await throttled(request, conn, "forgotten password", key, client, now, words)
        if refusal:
            return page(
                request,
                "reset_request.html",
                status=429,
                values={"who": who},
                errors={"who": refusal},
            )
        user_id = await logins.active_user_by(conn, who)
        portal_url = request.app.state.settings.portal_url
        await logins.send_reset_link(conn, user_id, who, portal_url, now + RESET_VALID)
        # every request counts against its (name, address): no one mails a user without end
        await logins.record_attempt(conn, "reset-request", key, client, False, now)
    return page(request, "reset_request.html", values={}, sent=who)


@router.get("/reset-password", response_class=HTMLResponse)
async def reset_password_page(request: Request) -> Response:
    return _password_form(
        request, ("user", "token"), "reset_password.html", "Set a new password", RESET_NOT_VALID
    )


def _password_form(
    request: Request, fields: tuple[str, ...], template: str, title: str, incomplete: str
) -> Response:
    """The form that sets a password from an e-mailed link, or why the link is not whole."""
    q = request.query_params
    values = {k: printable(q.get(k, ""), 200) for k in fields}
    words = words_for(request)
    if not all(values.values()):
        return page(request, "error.html", status=400, title=words(title), text=words(incomplete))
    return page(request, template, values=values, min_length=MIN_PASSWORD_LENGTH)


@router.post("/reset-password", response_class=HTMLResponse)
async def reset_password(request: Request, pool: Pool) -> Response:
    """The new password, by a one-time link: judged like a login, the same for any user id;
    setting it uses the link up and ends every session of the user."""
    form = await form_with_csrf(request)
    values = {k: printable(str(form.get(k, "")), 200) for k in ("user", "token")}
    words = words_for(request)
    password = str(form.get("password", ""))[:MAX_PASSWORD]
    again = str(form.get("password2", ""))[:MAX_PASSWORD]
    complete = ids.USER.matches(values["user"]) and bool(values["token"])
    errors = (
        password_errors(values, password, again, words)
        if complete
        else {"password": words(RESET_NOT_VALID)}
    )
    if not errors:
        new_hash = await asyncio.to_thread(hash_password, password)  # for anyone: same time
        client, now, user_id = client_address(request), datetime.now(UTC), values["user"]
        async with pool.acquire() as conn, conn.transaction():
            await logins.lock_pair(conn, user_id, client)
            refusal = await throttled(
                request, conn, "password by link", user_id, client, now, words
            )
            link = None
            if refusal is None:
                link = await logins.open_reset(conn, user_id, token_digest(values["token"]), now)
                if link is not None:
                    await logins.set_password(conn, link["id"], user_id, new_hash)
                await logins.record_attempt(conn, "reset", user_id, client, link is not None, now)
        if link is not None:
            await sessions.end(request, "password changed")
            request.session["lang"] = words.language
            flash(request, "ok", words("Your new password is set: log in with it."))
            return back(f"/login?user={user_id}")
        errors["password"] = refusal or words(RESET_NOT_VALID)
        status = 429 if refusal else 400
    else:
        status = 400
    return page(
        request,
        "reset_password.html",
        status=status,
        values=values,
        errors=errors,
        min_length=MIN_PASSWORD_LENGTH,
    )
