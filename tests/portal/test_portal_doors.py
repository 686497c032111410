"""The portal's doors over real HTTP (uvicorn) against a real PostgreSQL with the demo data:
sessions that end, login protection that slows the guesser and no one else, the same answer
for known and unknown users, a forgotten password, refusals in the security log, and hostile
input. No process is needed for any of it: the Temporal client handed in fails the test if
anything reaches it, which proves every refusal here is made before a Temporal call."""

import asyncio
import difflib
import hashlib
import re
from contextlib import asynccontextmanager
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn

from domain.partners import hash_password
from domain.portal import CLIENT_LIMIT, FREE_FAILURES, backoff
from portal.app import create_app
from portal.settings import PortalSettings
from relay.messages import Templates
from store import demo
from store import partners as partner_store
from store.db import connect, create_pool
from store.outbox import pending_link
from tests.conftest import new_database
from tests.portal.conftest import free_port

PASSWORD = "Fjord-Lynx-2026!"
NEW_PASSWORD = "Harbour-Owl-2027?"
INVITE_TOKEN = "the-token-of-bo-jensens-invitation-0123456789"
PORTAL_URL = "http://portal.test"


class NoTemporal:
    """The Temporal client of these tests: any use of it is recorded and fails the request."""

    def __init__(self) -> None:
        self.touched: list[str] = []

    def __getattr__(self, name: str):
        self.touched.append(name)
        raise AssertionError(f"the portal reached Temporal ({name})")


async def _people(conn) -> None:
    """Nordtel and Alpcom as partner accounts; Anna Holm (C-NORD-1) and Chloé Martin (C-ALP-1)
    active, Bo Jensen (C-NORD-2) invited with a link of his own."""
    await conn.execute(
        "INSERT INTO partner_management (enabled_by, process_id) VALUES ('cm-eva', 'pm')"
    )
    for partner in ("P-NORDTEL", "P-ALPCOM"):
        await conn.execute(
            "INSERT INTO partner_accounts (partner_id, channel_manager, process_id, created_by)"
            " VALUES ($1, 'cm-eva', $2, 'cm-eva')",
            partner,
            f"partner-account-{partner}",
        )
    hashed = hash_password(PASSWORD)
    for user, partner in (("C-NORD-1", "P-NORDTEL"), ("C-ALP-1", "P-ALPCOM")):
        await conn.execute(
            "INSERT INTO partner_users (id, partner_id, status, password_hash, first_login_at,"
            " invited_by) VALUES ($1, $2, 'active', $3, now(), 'cm-eva')",
            user,
            partner,
            hashed,
        )
    await conn.execute(
        "INSERT INTO partner_users (id, partner_id, login_token_sha256, login_link_expires,"
        " invited_by) VALUES ('C-NORD-2', 'P-NORDTEL', $1, now() + interval '7 days', 'cm-eva')",
        hashlib.sha256(INVITE_TOKEN.encode()).hexdigest(),
    )


class Doors:
    def __init__(self, url: str, db, temporal: NoTemporal) -> None:
        self.url, self.db, self.temporal = url, db, temporal
        self._address = 0

    def address(self) -> str:
        """An address of its own (as the proxy in front of the portal reports it)."""
        self._address += 1
        return f"10.23.{self._address // 250}.{self._address % 250 + 1}"

    @asynccontextmanager
    async def browser(self, address: str | None = None, language: str = "en"):
        async with httpx.AsyncClient(
            base_url=self.url,
            headers={"Accept-Language": language, "X-Forwarded-For": address or self.address()},
            follow_redirects=False,
        ) as c:
            yield c

    async def refusals(self) -> int:
        return await self.db.fetchval(
            "SELECT count(*) FROM security_log WHERE checked_in = 'portal'"
        )


@pytest.fixture(scope="module")
async def doors(postgres_admin_dsn):
    dsn = await new_database(postgres_admin_dsn, "partnerflow_doors", test_staff=False)
    conn = await connect(dsn)
    try:
        await demo.load(conn)
        await _people(conn)
    finally:
        await conn.close()
    db = await create_pool(dsn, max_size=8)
    temporal = NoTemporal()
    app = create_app(
        PortalSettings(secret_key="s" * 40, secure_cookies=False, portal_url=PORTAL_URL),
        pool=db,
        temporal=temporal,  # type: ignore[arg-type]
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            proxy_headers=True,  # as behind the production proxy: X-Forwarded-For is the client
            forwarded_allow_ips="*",
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            raise AssertionError("the portal did not start") from serving.exception()
        await asyncio.sleep(0.02)
    try:
        yield Doors(f"http://127.0.0.1:{port}", db, temporal)
    finally:
        server.should_exit = True
        await serving
        await db.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


async def log_in(c: httpx.AsyncClient, user: str, password: str = PASSWORD) -> httpx.Response:
    page = await c.get("/login")
    return await c.post(
        "/login", data={"user": user, "password": password, "csrf": csrf_of(page.text)}
    )


# --- sessions that end ------------------------------------------------------------------------


async def test_the_cookie_carries_only_a_random_id_and_the_table_only_its_hash(doors):
    async with doors.browser() as c:
        done = await log_in(c, "C-ALP-1")
        assert done.status_code == 303
        cookie = c.cookies["partnerflow_portal"]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie)
        row = await doors.db.fetchrow(
            "SELECT user_id, ended_at FROM portal_sessions WHERE id_sha256 = $1",
            hashlib.sha256(cookie.encode()).hexdigest(),
        )
        assert row["user_id"] == "C-ALP-1" and row["ended_at"] is None
        assert (
            await doors.db.fetchval(
                "SELECT count(*) FROM portal_sessions WHERE id_sha256 = $1 OR data::text LIKE $2",
                cookie,
                f"%{cookie}%",
            )
            == 0
        )


async def test_a_cookie_saved_before_logout_opens_nothing_afterwards(doors):
    async with doors.browser() as c:
        await log_in(c, "C-ALP-1")
        page = await c.get("/orders")
        assert page.status_code == 200
        saved_cookie, saved_csrf = c.cookies["partnerflow_portal"], csrf_of(page.text)
        out = await c.post("/logout", data={"csrf": saved_csrf})
        assert out.status_code == 303 and out.headers["location"] == "/login"
    async with doors.browser() as thief:
        thief.cookies.set("partnerflow_portal", saved_cookie)
        for path in ("/orders", "/my-leads", "/opportunities", "/documents"):
            again = await thief.get(path)
            assert again.status_code == 303 and again.headers["location"] == "/login", path
        # the old CSRF token died with its session: the form is refused, nothing reaches a step
        forged = await thief.post("/opportunities/OPP-L-1", data={"csrf": saved_csrf})
        assert forged.status_code in (303, 403)
        assert forged.headers.get("location", "/login") == "/login"
    assert doors.temporal.touched == []


async def test_a_password_change_ends_every_session_of_the_user_at_once(doors):
    async with doors.browser() as office, doors.browser() as phone:
        for c in (office, phone):
            assert (await log_in(c, "C-NORD-1")).status_code == 303
            assert (await c.get("/orders")).status_code == 200
        await doors.db.execute(
            "UPDATE partner_users SET password_hash = $1 WHERE id = 'C-NORD-1'",
            hash_password(NEW_PASSWORD),
        )
        for c in (office, phone):
            out = await c.get("/orders")
            assert out.status_code == 303 and out.headers["location"] == "/login"
        assert (await log_in(office, "C-NORD-1", NEW_PASSWORD)).status_code == 303
        assert (await office.get("/orders")).status_code == 200
    await doors.db.execute(
        "UPDATE partner_users SET password_hash = $1 WHERE id = 'C-NORD-1'",
        hash_password(PASSWORD),
    )


@pytest.mark.parametrize(
    "moved",
    [
        "seen_at = seen_at - interval '8 hours 1 minute'",
        "started_at = now() - interval '12 hours 1 minute'",
    ],
)
async def test_a_session_ends_after_8_hours_idle_or_12_hours_in_all(doors, moved):
    async with doors.browser() as c:
        await log_in(c, "C-NORD-1")
        assert (await c.get("/orders")).status_code == 200
        await doors.db.execute(
            f"UPDATE portal_sessions SET {moved} WHERE id_sha256 = $1",
            hashlib.sha256(c.cookies["partnerflow_portal"].encode()).hexdigest(),
        )
        out = await c.get("/orders")
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert "Your session has ended" in (await c.get("/login")).text


# --- login protection -------------------------------------------------------------------------


async def test_someone_who_knows_a_user_id_cannot_keep_the_user_out(doors):
    guesser = doors.address()
    before = await doors.refusals()
    async with doors.browser(guesser) as c:
        for _ in range(FREE_FAILURES):
            wrong = await log_in(c, "C-ALP-1", "Wrong-Password-2026")
            assert wrong.status_code == 401 and "wrong" in wrong.text
        # the guesser now waits, and keeps waiting longer: even the right password waits
        for _ in range(5):
            slowed = await log_in(c, "C-ALP-1", "Wrong-Password-2026")
            assert slowed.status_code == 429 and "wait" in slowed.text
        refused = await log_in(c, "C-ALP-1")
        assert refused.status_code == 429
    # the owner, from elsewhere, logs in at once, and again and again
    for _ in range(3):
        async with doors.browser() as owner:
            assert (await log_in(owner, "C-ALP-1")).status_code == 303
    # the refusals were not counted as guesses, and each one is a security log row
    assert (
        await doors.db.fetchval(
            "SELECT count(*) FROM portal_login_attempts WHERE client = $1", guesser
        )
        == FREE_FAILURES
    )
    assert await doors.refusals() == before + 6


async def test_the_owner_behind_the_guessers_own_address_logs_in_from_a_known_browser(doors):
    office = doors.address()  # the owner and the guesser behind one proxy
    async with doors.browser(office) as owner:
        assert (await log_in(owner, "C-NORD-1")).status_code == 303  # a browser of hers now
        assert owner.cookies.get("partnerflow_device", "").startswith("C-NORD-1.")
        await owner.post("/logout", data={"csrf": csrf_of((await owner.get("/orders")).text)})
        async with doors.browser(office) as guesser:
            for _ in range(FREE_FAILURES):
                await log_in(guesser, "C-NORD-1", "Wrong-Password-2026")
            assert (await log_in(guesser, "C-NORD-1")).status_code == 429
            for i in range(CLIENT_LIMIT):  # and the whole address as well
                await log_in(guesser, f"C-Y-{i}", "Wrong-Password-2026")
            assert (await log_in(guesser, "C-NORD-2", "x")).status_code == 429
        # her browser is judged on its own: in at once
        assert (await log_in(owner, "C-NORD-1")).status_code == 303
    async with doors.browser(office) as forged:  # a device cookie of another user opens nothing
        forged.cookies.set("partnerflow_device", owner.cookies["partnerflow_device"])
        assert (await log_in(forged, "C-NORD-2", "x")).status_code == 429


async def earlier(doors, client: str, by: timedelta) -> None:
    """The attempts of an address as if made `by` earlier: time passes without a sleep."""
    await doors.db.execute(
        "UPDATE portal_login_attempts SET at = at - $2::interval WHERE client = $1", client, by
    )


async def test_the_backoff_doubles_and_ends(doors):
    guesser = doors.address()
    async with doors.browser(guesser) as c:
        for _ in range(FREE_FAILURES):
            await log_in(c, "C-NORD-2", "Wrong-Password-2026")
        assert (await log_in(c, "C-NORD-2", "Wrong-Password-2026")).status_code == 429
        # after the wait is over (the attempts moved back in time), one more guess is checked
        first = backoff(FREE_FAILURES)
        await earlier(doors, guesser, first + timedelta(seconds=1))
        checked = await log_in(c, "C-NORD-2", "Wrong-Password-2026")
        assert checked.status_code == 401
        # and the next wait is twice as long: still waiting when the first one would be over
        assert backoff(FREE_FAILURES + 1) == 2 * first
        await earlier(doors, guesser, first + timedelta(seconds=1))
        assert (await log_in(c, "C-NORD-2", "Wrong-Password-2026")).status_code == 429
        await earlier(doors, guesser, first)
        assert (await log_in(c, "C-NORD-2", "Wrong-Password-2026")).status_code == 401


async def test_many_guesses_from_one_address_stop_the_others_behind_it_for_a_minute_at_most(
    doors,
):
    office = doors.address()  # a proxy or an office: many people behind one address
    async with doors.browser(office) as c:
        for i in range(CLIENT_LIMIT):
            await log_in(c, f"C-X-{i}", "Wrong-Password-2026")
        stopped = await log_in(c, "C-NORD-1")
        assert stopped.status_code == 429 and "wait a minute" in stopped.text
        # a minute later (the attempts moved back by one), the colleague behind it is in
        await doors.db.execute(
            "UPDATE portal_login_attempts SET at = at - interval '61 seconds' WHERE client = $1",
            office,
        )
        assert (await log_in(c, "C-NORD-1")).status_code == 303


def _answer(html: str) -> str:
    """The page without what differs on every request (the CSRF token, the request id)."""
    return re.sub(r'name="(csrf|request)" value="[^"]*"', "", html)


async def _posted(c: httpx.AsyncClient, path: str, data: dict) -> httpx.Response:
    page = await c.get("/login")
    return await c.post(path, data={**data, "csrf": csrf_of(page.text)})


class PasswordWork:
    """Counts the password hashing and checking a request does (the slow part of every door,
    argon2): the same count for every user id is the same time, measured without a clock that
    a loaded machine would make lie. The real functions still run."""

    def __init__(self, monkeypatch) -> None:
        import portal.routes.login as login

        self.calls: list[str] = []
        for name in ("hash_password", "verify_password"):
            real = getattr(login, name)
            monkeypatch.setattr(login, name, self._counting(name, real))

    def _counting(self, name, real):
        def counted(*args):
            self.calls.append(name)
            return real(*args)

        return counted

    def taken(self) -> tuple[str, ...]:
        done, self.calls = tuple(self.calls), []
        return done


async def test_first_login_answers_known_and_unknown_users_alike_before_any_temporal_call(
    doors, monkeypatch
):
    cases = {
        "active user": {"partner": "P-NORDTEL", "user": "C-NORD-1"},
        "unknown user": {"partner": "P-NORDTEL", "user": "C-NORD-9"},
        "invited, wrong token": {"partner": "P-NORDTEL", "user": "C-NORD-2"},
        "another partner's": {"partner": "P-ALPCOM", "user": "C-NORD-2"},
    }
    work = PasswordWork(monkeypatch)
    done: dict[str, set[tuple[str, ...]]] = {k: set() for k in cases}
    answers: dict[str, set[str]] = {k: set() for k in cases}
    for _ in range(2):
        for name, who in cases.items():
            async with doors.browser() as c:
                answer = await _posted(
                    c,
                    "/first-login",
                    {
                        **who,
                        "token": "bogus-token-0123456789",
                        "password": NEW_PASSWORD,
                        "password2": NEW_PASSWORD,
                    },
                )
            assert answer.status_code == 400, name
            done[name].add(work.taken())
            answers[name].add(
                _answer(answer.text).replace(who["user"], "U").replace(who["partner"], "P")
            )
    assert len(set().union(*answers.values())) == 1, answers  # one and the same page
    # the same slow work for all (the old code answered an active user in 2 ms, after no hashing,
    # and an unknown one in 120 ms)
    assert len(set().union(*done.values())) == 1 and () not in done["active user"], done
    assert doors.temporal.touched == []


async def test_first_login_is_rate_limited_before_any_temporal_call(doors):
    guesser = doors.address()
    async with doors.browser(guesser) as c:
        for _ in range(FREE_FAILURES):
            answer = await _posted(
                c,
                "/first-login",
                {
                    "partner": "P-NORDTEL",
                    "user": "C-NORD-2",
                    "token": "bogus-token-0123456789",
                    "password": NEW_PASSWORD,
                    "password2": NEW_PASSWORD,
                },
            )
            assert answer.status_code == 400
        # even the right token now waits: judged before the invitation, before any process
        waited = await _posted(
            c,
            "/first-login",
            {
                "partner": "P-NORDTEL",
                "user": "C-NORD-2",
                "token": INVITE_TOKEN,
                "password": NEW_PASSWORD,
                "password2": NEW_PASSWORD,
            },
        )
        assert waited.status_code == 429 and "wait" in waited.text
    assert doors.temporal.touched == []
    assert (
        await doors.db.fetchval("SELECT status FROM partner_users WHERE id = 'C-NORD-2'")
        == "invited"
    )


async def test_login_answers_known_and_unknown_users_alike(doors, monkeypatch):
    work = PasswordWork(monkeypatch)
    done: dict[str, set[tuple[str, ...]]] = {"known": set(), "unknown": set(), "invited": set()}
    pages: set[str] = set()
    for _ in range(2):
        for name, user in (("known", "C-NORD-1"), ("unknown", "C-NORD-9"), ("invited", "C-NORD-2")):
            async with doors.browser() as c:
                answer = await _posted(
                    c, "/login", {"user": user, "password": "Wrong-Password-2026"}
                )
            assert answer.status_code == 401
            done[name].add(work.taken())
            pages.add(_answer(answer.text).replace(f'value="{user}"', 'value="U"'))
    assert len(pages) == 1, "\n".join(difflib.unified_diff(*[p.splitlines() for p in pages]))
    # one password check for every user id, known or not
    assert done == {k: {("verify_password",)} for k in done}, done


# --- a forgotten password ---------------------------------------------------------------------


async def _ask_for_link(doors, who: str, address: str | None = None) -> httpx.Response:
    async with doors.browser(address) as c:
        page = await c.get("/forgot-password")
        assert page.status_code == 200
        return await c.post("/forgot-password", data={"who": who, "csrf": csrf_of(page.text)})


async def test_a_forgotten_password_gets_the_same_answer_for_anyone_and_a_link_for_the_user(
    doors,
):
    before = await doors.db.fetchval("SELECT count(*) FROM notifications")
    known = await _ask_for_link(doors, "anna.holm@nordtel.example")
    unknown = await _ask_for_link(doors, "nobody@nordtel.example")
    assert known.status_code == unknown.status_code == 200
    assert _answer(known.text).replace("anna.holm", "X") == _answer(unknown.text).replace(
        "nobody", "X"
    )
    assert "an e-mail with a link to set a new password is on its way" in known.text
    rows = await doors.db.fetch(
        "SELECT recipient_kind, recipient_id, template, payload FROM notifications"
        " ORDER BY id OFFSET $1",
        before,
    )
    assert [(r["recipient_id"], r["template"]) for r in rows] == [("C-NORD-1", "password_reset")]
    link = await pending_link(doors.db, recipient_id="C-NORD-1", template="password_reset")
    assert link and link.startswith(f"{PORTAL_URL}/reset-password?")
    # the e-mail renders in every language it is written in, from the payload the portal wrote
    for language in ("de", "nb", "en"):
        subject, text, html = Templates().render(
            "password_reset",
            language,
            {
                **rows[0]["payload"],
                "recipient_name": "Anna Holm",
                "link": link,
                "process_id": "p",
                "language": language,
            },
        )
        assert "C-NORD-1" in text and link in text and subject
    # by user id too
    assert (await _ask_for_link(doors, "C-NORD-1")).status_code == 200
    assert (
        await doors.db.fetchval(
            "SELECT count(*) FROM portal_password_resets WHERE user_id = 'C-NORD-1'"
        )
        == 2
    )


async def test_the_link_sets_a_new_password_once_and_ends_every_session(doors):
    await _ask_for_link(doors, "C-ALP-1")
    link = await pending_link(doors.db, recipient_id="C-ALP-1", template="password_reset")
    query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    async with doors.browser() as logged_in, doors.browser() as c:
        assert (await log_in(logged_in, "C-ALP-1")).status_code == 303
        form = await c.get(f"/reset-password?{urlsplit(link).query}")
        assert form.status_code == 200
        done = await c.post(
            "/reset-password",
            data={
                **query,
                "password": NEW_PASSWORD,
                "password2": NEW_PASSWORD,
                "csrf": csrf_of(form.text),
            },
        )
        assert done.status_code == 303 and done.headers["location"].startswith("/login")
        # the session from before is over; the old password opens nothing, the new one does
        assert (await logged_in.get("/orders")).headers["location"] == "/login"
        assert (await log_in(logged_in, "C-ALP-1")).status_code == 401
        assert (await log_in(logged_in, "C-ALP-1", NEW_PASSWORD)).status_code == 303
        # used once: the same link again changes nothing
        page = await c.get("/login")
        again = await c.post(
            "/reset-password",
            data={**query, "password": PASSWORD, "password2": PASSWORD, "csrf": csrf_of(page.text)},
        )
        assert again.status_code == 400 and "not valid, has expired or was used" in again.text
    assert (
        await doors.db.fetchval(
            "SELECT count(*) FROM audit_log WHERE actor = 'C-ALP-1'"
            " AND action = 'password set by a one-time link'"
        )
    ) == 1
    await doors.db.execute(  # as before, for the other tests
        "UPDATE partner_users SET password_hash = $1 WHERE id = 'C-ALP-1'",
        hash_password(PASSWORD),
    )


async def test_an_expired_or_forged_link_sets_nothing_and_says_the_same(doors):
    await _ask_for_link(doors, "C-NORD-1")
    link = await pending_link(doors.db, recipient_id="C-NORD-1", template="password_reset")
    query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    await doors.db.execute(
        "UPDATE portal_password_resets SET expires_at = now() - interval '1 second'"
        " WHERE user_id = 'C-NORD-1' AND used_at IS NULL"
    )
    stored = await doors.db.fetchval(
        "SELECT password_hash FROM partner_users WHERE id = 'C-NORD-1'"
    )
    pages = set()
    for token, user in (
        (query["token"], "C-NORD-1"),
        ("forged-0123456789", "C-NORD-1"),
        ("forged-0123456789", "C-NORD-9"),
    ):
        async with doors.browser() as c:
            page = await c.get("/login")
            refused = await c.post(
                "/reset-password",
                data={
                    "user": user,
                    "token": token,
                    "password": NEW_PASSWORD,
                    "password2": NEW_PASSWORD,
                    "csrf": csrf_of(page.text),
                },
            )
        assert refused.status_code == 400
        pages.add(_answer(refused.text).replace(user, "U").replace(token, "T"))
    assert len(pages) == 1
    assert (
        await doors.db.fetchval("SELECT password_hash FROM partner_users WHERE id = 'C-NORD-1'")
        == stored
    )


async def test_asking_for_links_is_slowed_per_name_and_address(doors):
    address = doors.address()
    for _ in range(FREE_FAILURES):
        assert (await _ask_for_link(doors, "C-NORD-2", address)).status_code == 200
    slowed = await _ask_for_link(doors, "C-NORD-2", address)
    assert slowed.status_code == 429 and "wait" in slowed.text


# --- refusals leave one security log row each -------------------------------------------------


async def test_every_refusal_at_the_door_leaves_exactly_one_security_log_row(doors):
    before = await doors.db.fetchval("SELECT max(id) FROM security_log") or 0
    async with doors.browser() as c:
        await log_in(c, "C-ALP-1")
        page = await c.get("/orders")
        token = csrf_of(page.text)
        # another partner's order id, a lead and an opportunity not its own
        for path in (
            "/orders/fast-change-order-ACME-1a2b3c4d/confirm",
            "/leads/L-1/claim",
            "/opportunities/OPP-L-1",
        ):
            assert (await c.post(path, data={"csrf": token})).status_code == 404, path
        # CSRF failures: none and a forged one
        assert (await c.post("/orders/x/confirm", data={})).status_code == 403
        assert (await c.post("/logout", data={"csrf": "forged"})).status_code == 403
    rows = await doors.db.fetch(
        "SELECT actor, permission, process_id, reason, checked_in FROM security_log"
        " WHERE id > $1 ORDER BY id",
        before,
    )
    assert [(r["actor"], r["permission"], r["process_id"]) for r in rows] == [
        ("C-ALP-1", "portal: POST /orders/{process_id}/confirm", "fast-change-order-ACME-1a2b3c4d"),
        ("C-ALP-1", "portal: POST /leads/{lead_id}/claim", "L-1"),
        ("C-ALP-1", "portal: POST /opportunities/{opportunity_id}", "OPP-L-1"),
        ("C-ALP-1", "portal: POST /orders/{process_id}/confirm", "/orders/x/confirm"),
        ("C-ALP-1", "portal: POST /logout", "/logout"),
    ]
    assert all(r["checked_in"] == "portal" and "from 10.23." in r["reason"] for r in rows)
    assert "not one of the partner's items" in rows[0]["reason"]
    assert "CSRF" in rows[3]["reason"]
    assert doors.temporal.touched == []


# --- hostile input ----------------------------------------------------------------------------


async def _raw(doors, request: bytes) -> tuple[int, str]:
    """One request exactly as written (no client tidies it up); its status and body."""
    host, port = urlsplit(doors.url).hostname, urlsplit(doors.url).port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode("utf-8", "replace")


HOSTILE_GETS = [
    "/login?user=%00",
    "/login?user=%ZZ",
    "/login?user=%E0%A4%A",
    "/login?user=%ff%fe",
    "/first-login?partner=%00&user=%00&token=%00",
    "/first-login?partner=P-NORDTEL&user=C-NORD-2&token=%1b%5b2J",
    "/reset-password?user=%00&token=%00",
    "/forgot-password?%00=%00",
    "/orders/%00/confirm",
    "/%ZZ",
    "/documents/%E0%A4%A/upload",
    "/no-such-page",
]


@pytest.mark.parametrize("path", HOSTILE_GETS)
async def test_hostile_paths_and_queries_get_a_4xx_page_in_the_readers_language(doors, path):
    status, body = await _raw(
        doors,
        f"GET {path} HTTP/1.1\r\nHost: portal\r\nAccept-Language: de\r\n"
        f"X-Forwarded-For: {doors.address()}\r\nConnection: close\r\n\r\n".encode(),
    )
    assert 400 <= status < 500, (path, status, body[:300])
    assert '<html lang="de"' in body and "Traceback" not in body


async def _form(doors, path: str, body: bytes, cookie: str = "", ctype: str = "") -> int:
    ctype = ctype or "application/x-www-form-urlencoded"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: portal\r\nAccept-Language: de\r\n"
        f"X-Forwarded-For: {doors.address()}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
        + (f"Cookie: partnerflow_portal={cookie}\r\n" if cookie else "")
        + "\r\n"
    )
    status, _ = await _raw(doors, head.encode() + body)
    return status


async def test_hostile_forms_get_a_4xx_page_never_a_500(doors, capfd):
    async with doors.browser() as c:
        await log_in(c, "C-ALP-1")
        page = await c.get("/my-leads")
        cookie, token = c.cookies["partnerflow_portal"], csrf_of(page.text)
    for path, body in (
        ("/login", f"csrf={token}&user=%00&password=%00".encode()),
        ("/login", f"csrf={token}&user=C-ALP-1&password=%ZZ".encode()),
        ("/login", f"csrf={token}&user=%C3%28&password=x".encode()),
        ("/first-login", f"csrf={token}&partner=%00&user=%00&token=%00".encode()),
        ("/forgot-password", f"csrf={token}&who=%00%00".encode()),
        ("/reset-password", f"csrf={token}&user=C-ALP-1&token=%00&password=x".encode()),
        ("/leads/%00/claim", f"csrf={token}".encode()),
        ("/leads/L-1/not-interested", f"csrf={token}&reason=bad%00reason".encode()),
        ("/opportunities/OPP-L-1", f"csrf={token}&amount=%00&stage=1".encode()),
        ("/opportunities/OPP-L-1", f"csrf={token}&amount=".encode() + b"9" * 70_000),
        ("/orders/x/confirm", f"csrf={token}&request=".encode() + b"r" * 100_000),
    ):
        status = await _form(doors, path, body, cookie)
        assert 400 <= status < 500, (path, status)
    # a form sent as another type than the page sends
    status = await _form(doors, "/login", b'{"user": "C-ALP-1"}', cookie, "application/json")
    assert status == 403
    broken = b'--x\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n' + token.encode()
    status = await _form(
        doors, "/documents/x/upload", broken, cookie, "multipart/form-data; boundary=x"
    )
    assert 400 <= status < 500
    # a form sent as multipart with a NUL in a value
    nul = (
        b'--x\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n'
        + token.encode()
        + b'\r\n--x\r\nContent-Disposition: form-data; name="reason"\r\n\r\nbad\x00reason'
        + b"\r\n--x--\r\n"
    )
    status = await _form(
        doors, "/leads/L-1/not-interested", nul, cookie, "multipart/form-data; boundary=x"
    )
    assert status == 400
    assert "Traceback" not in capfd.readouterr().err


# --- deactivation last: it ends this module's Alpcom -----------------------------------------


async def test_deactivation_ends_the_users_sessions_at_once(doors):
    async with doors.browser() as c:
        await log_in(c, "C-ALP-1")
        assert (await c.get("/orders")).status_code == 200
        async with doors.db.acquire() as conn, conn.transaction():
            await partner_store.deactivate_account(
                conn, "partner-account-P-ALPCOM", "cm-eva", "P-ALPCOM", "contract ended"
            )
        assert (
            await doors.db.fetchval(
                "SELECT count(*) FROM portal_sessions WHERE user_id = 'C-ALP-1'"
                " AND ended_at IS NULL"
            )
            == 0
        )
        out = await c.get("/orders")
        assert out.status_code == 303 and out.headers["location"] == "/login"
