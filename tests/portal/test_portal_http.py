"""The partner portal over plain HTTP against the real stack (dev server, worker, PostgreSQL,
the portal process): first login and passwords, CSRF, login throttling, and above all that a user of
one partner can neither see nor act on another partner's orders, documents, leads and
opportunities, by direct URLs and forged form posts alike."""

import re
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from domain.partners import scrypt_hash
from domain.portal import FREE_FAILURES
from tests.e2e.cli import ROOT
from tests.portal.conftest import PASSWORD, link_parts

pytestmark = pytest.mark.e2e

LOA = (ROOT / "demo" / "LOA.pdf").read_bytes()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


@asynccontextmanager
async def browser(stack):
    async with httpx.AsyncClient(
        base_url=stack.url, headers={"Accept-Language": "en"}, follow_redirects=False
    ) as c:
        yield c


async def first_login(stack, c: httpx.AsyncClient, user: str) -> httpx.Response:
    link = await stack.login_link(user)
    page = await c.get(link)
    assert page.status_code == 200
    return await c.post(
        "/first-login",
        data={
            **link_parts(link),
            "password": PASSWORD,
            "password2": PASSWORD,
            "csrf": csrf_of(page.text),
        },
    )


async def log_in(c: httpx.AsyncClient, user: str, password: str = PASSWORD) -> httpx.Response:
    page = await c.get("/login")
    return await c.post(
        "/login", data={"user": user, "password": password, "csrf": csrf_of(page.text)}
    )


@pytest.fixture(scope="module")
async def alpcom(stack):
    """C-ALP-1 (Chloé Martin of Alpcom) after the first login through the portal."""
    async with browser(stack) as c:
        done = await first_login(stack, c, "C-ALP-1")
        assert done.status_code == 303 and done.headers["location"] == "/home", done.text
    return stack


async def test_first_login_refuses_a_weak_password_then_sets_an_argon2_hash_by_the_step(alpcom):
    stack = alpcom
    await stack.ok(
        "invite-partner-user", "--partner", "P-NORDTEL", "--contact", "C-NORD-2", "--as", "cm-eva"
    )
    link = await stack.login_link("C-NORD-2")
    async with browser(stack) as c:
        page = await c.get(link)
        weak = await c.post(
            "/first-login",
            data={
                **link_parts(link),
                "password": "short",
                "password2": "short",
                "csrf": csrf_of(page.text),
            },
        )
        assert weak.status_code == 400
        assert 'aria-invalid="true"' in weak.text and "password-error" in weak.text
        assert "needs at least 12 characters" in weak.text
        assert (
            await stack.db.fetchval("SELECT status FROM partner_users WHERE id = 'C-NORD-2'")
            == "invited"
        )
        forged = await c.post(
            "/first-login",
            data={
                **link_parts(link),
                "token": "not-the-token-of-the-e-mail",
                "password": PASSWORD,
                "password2": PASSWORD,
                "csrf": csrf_of(weak.text),
            },
        )
        assert forged.status_code == 400 and "login link is not valid" in forged.text
        assert (await c.get("/orders")).headers["location"] == "/login"
        good = await c.post(
            "/first-login",
            data={
                **link_parts(link),
                "password": PASSWORD,
                "password2": PASSWORD,
                "csrf": csrf_of(forged.text),
            },
        )
        assert good.status_code == 303, good.text
    user = await stack.db.fetchrow(
        "SELECT status, password_hash FROM partner_users WHERE id = 'C-NORD-2'"
    )
    assert user["status"] == "active" and user["password_hash"].startswith("$argon2id$")
    # the same workflow step as the starter's partner-login, by the user itself
    assert (
        await stack.db.fetchval(
            "SELECT actor FROM audit_log WHERE process_id = 'partner-account-P-NORDTEL'"
            " AND step LIKE '%first-login-C-NORD-2%'"
        )
        == "C-NORD-2"
    )


async def test_a_used_or_forged_first_login_link_logs_nobody_in(alpcom):
    stack = alpcom
    link = await stack.login_link("C-ALP-1")  # used by the fixture's first login
    for token in (link_parts(link)["token"], "forged-token-0123456789"):
        async with browser(stack) as c:
            page = await c.get(link)
            refused = await c.post(
                "/first-login",
                data={
                    **link_parts(link),
                    "token": token,
                    "password": "Another-Pass-2026!",
                    "password2": "Another-Pass-2026!",
                    "csrf": csrf_of(page.text),
                },
            )
            assert refused.status_code == 400
            assert "was used already" in refused.text
            assert (await c.get("/orders")).headers["location"] == "/login"
    # the password is still the one the user set
    async with browser(stack) as c:
        assert (await log_in(c, "C-ALP-1")).status_code == 303


async def test_a_legacy_scrypt_password_still_logs_in_and_is_rehashed(alpcom):
    stack = alpcom
    await stack.db.execute(
        "UPDATE partner_users SET password_hash = $1 WHERE id = 'C-ALP-1'",
        scrypt_hash(PASSWORD, b"0123456789abcdef"),
    )
    async with browser(stack) as c:
        done = await log_in(c, "C-ALP-1")
        assert done.status_code == 303 and done.headers["location"] == "/home"
    stored = await stack.db.fetchval("SELECT password_hash FROM partner_users WHERE id = 'C-ALP-1'")
    assert stored.startswith("$argon2id$")


async def test_cookies_are_httponly_and_samesite_and_logout_ends_the_session(alpcom):
    async with browser(alpcom) as c:
        done = await log_in(c, "C-ALP-1")
        cookie = done.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert "secure" not in cookie  # http://127.0.0.1: configured off for local use
        page = await c.get("/orders")
        assert page.status_code == 200
        out = await c.post("/logout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        again = await c.get("/orders")
        assert again.status_code == 303 and again.headers["location"] == "/login"


async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(alpcom):
    stack = alpcom
    order = stack.made["alp-order"]
    async with browser(stack) as c:
        await log_in(c, "C-ALP-1")
        for data in ({}, {"csrf": "forged"}):
            refused = await c.post(f"/orders/{order}/confirm", data=data)
            assert refused.status_code == 403
        login = await c.post("/login", data={"user": "C-ALP-1", "password": PASSWORD})
        assert login.status_code == 403
    assert (
        await stack.db.fetchval("SELECT status FROM orders WHERE process_id = $1", order)
        == "awaiting_partner_confirmation"
    )


async def test_a_user_of_one_partner_cannot_see_or_act_on_another_partners_items(alpcom):
    stack = alpcom
    nord_order, nord_classound = stack.made["nord-order"], stack.made["nord-classound"]
    documents = Path(stack.env["PARTNERFLOW_DATA_DIR"]) / "documents"
    files_before = sorted(p.name for p in documents.rglob("*") if p.is_file())
    async with browser(stack) as c:
        await log_in(c, "C-ALP-1")
        # Seen: only Alpcom's own order and CLASSOUND order, never Nordtel's
        orders = await c.get("/orders")
        assert stack.made["alp-order"] in orders.text and nord_order not in orders.text
        assert "ACME" not in orders.text
        docs = await c.get("/documents")
        assert stack.made["alp-classound"] in docs.text and nord_classound not in docs.text
        assert stack.made["nord-change-order"] not in docs.text
        inbox = await c.get("/leads")
        assert "Hafenlogistik GmbH" in inbox.text  # queue "fair": both partners
        assert "Isar Dental" not in inbox.text  # queue "nord-only": Nordtel's alone
        token = csrf_of(inbox.text)
        nord_only = await stack.db.fetchval("SELECT id FROM leads WHERE queue_id = 'nord-only'")

        # Forged posts with a valid session and CSRF token: refused, nothing sent
        confirm = await c.post(f"/orders/{nord_order}/confirm", data={"csrf": token})
        assert confirm.status_code == 404
        for target in (nord_classound, stack.made["nord-change-order"]):
            upload = await c.post(
                f"/documents/{target}/upload",
                data={"csrf": token, "kind": "loa"},
                files={"file": ("LOA.pdf", LOA, "application/pdf")},
            )
            assert upload.status_code == 404
        claim = await c.post(f"/leads/{nord_only}/claim", data={"csrf": token})
        assert claim.status_code == 404
        # a lead Nordtel owns and its opportunity: neither answerable nor convertible
        nord_lead, opportunity = await nordtel_owns_a_lead_and_an_opportunity(stack)
        for path, data in (
            (f"/leads/{nord_lead}/accept", {}),
            (f"/leads/{nord_lead}/not-interested", {"reason": "not ours"}),
            (f"/leads/{nord_lead}/convert", {"stage": "proposal"}),
            (f"/opportunities/{opportunity}", {"stage": "closed-lost"}),
        ):
            forged = await c.post(path, data={"csrf": token, **data})
            assert forged.status_code == 404, path
        mine = await c.get("/my-leads")
        assert nord_lead not in mine.text
        assert opportunity not in (await c.get("/opportunities")).text

    assert (
        await stack.db.fetchval("SELECT status FROM orders WHERE process_id = $1", nord_order)
        == "awaiting_partner_confirmation"
    )
    assert (
        await stack.db.fetchval(
            "SELECT count(*) FROM documents WHERE process_id = ANY($1::text[])",
            [nord_classound, stack.made["nord-change-order"]],
        )
        == 0
    )
    assert sorted(p.name for p in documents.rglob("*") if p.is_file()) == files_before
    assert (
        await stack.db.fetchval("SELECT stage FROM opportunities WHERE id = $1", opportunity)
        != "closed-lost"
    )
    assert (
        await stack.db.fetchval(  # nothing by C-ALP-1 but its own first login
            "SELECT count(*) FROM audit_log WHERE actor = 'C-ALP-1'"
            " AND step NOT LIKE '%first-login-C-ALP-1%'"
        )
        == 0
    )


async def nordtel_user_active(stack) -> None:
    """Anna Holm of Nordtel has logged in (her first login through the starter, on a fresh
    link of her own)."""
    if (
        await stack.db.fetchval("SELECT status FROM partner_users WHERE id = 'C-NORD-1'")
        == "active"
    ):
        return
    await stack.ok(
        "invite-partner-user", "--partner", "P-NORDTEL", "--contact", "C-NORD-1", "--as", "cm-eva"
    )
    link = await stack.login_link("C-NORD-1")
    password = Path(stack.env["PARTNERFLOW_DATA_DIR"]) / "password"
    password.write_text(PASSWORD + "\n")
    await stack.ok(
        "partner-login",
        "--partner",
        "P-NORDTEL",
        "--user",
        "C-NORD-1",
        "--token",
        link,
        "--password-file",
        str(password),
    )


async def nordtel_owns_a_lead_and_an_opportunity(stack) -> tuple[str, str]:
    """Through the starter, by the channel manager for Anna Holm of Nordtel: two leads
    claimed, one converted."""
    await nordtel_user_active(stack)
    lead, other = [
        r["id"]
        for r in await stack.db.fetch(
            "SELECT id FROM leads WHERE queue_id = 'fair' AND status = 'queued' ORDER BY id DESC"
            " LIMIT 2"
        )
    ]
    for one in (lead, other):
        await stack.ok(
            "claim-lead", "--queue", "fair", "--lead", one, "--for", "C-NORD-1", "--as", "cm-eva"
        )
    await stack.ok(
        "convert-lead", "--queue", "fair", "--lead", other, "--for", "C-NORD-1", "--as", "cm-eva"
    )
    return lead, f"OPP-{other}"


async def test_a_change_order_with_flats_takes_its_documents_with_the_same_checks(alpcom):
    stack = alpcom
    await nordtel_user_active(stack)
    change_order = stack.made["nord-change-order"]
    documents = Path(stack.env["PARTNERFLOW_DATA_DIR"]) / "documents"
    async with browser(stack) as c:
        await log_in(c, "C-NORD-1")
        page = await c.get("/documents")
        assert change_order in page.text and "Premium 2" in page.text
        # not a PDF, PNG or JPEG by its bytes (whatever its name): refused, nothing stored
        files = sorted(p.name for p in documents.rglob("*") if p.is_file())
        fake = await c.post(
            f"/documents/{change_order}/upload",
            data={"csrf": csrf_of(page.text), "kind": "loa"},
            files={"file": ("LOA.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")},
        )
        assert fake.status_code == 400 and "ist keine PDF-, PNG- oder JPEG-Datei" in fake.text
        assert f'id="{change_order}-file-error"' in fake.text
        assert sorted(p.name for p in documents.rglob("*") if p.is_file()) == files
        done = await c.post(
            f"/documents/{change_order}/upload",
            data={"csrf": csrf_of(fake.text), "kind": "loa"},
            files={"file": ("LOA.pdf", LOA, "application/pdf")},
        )
        assert done.status_code == 303
        after = await c.get(done.headers["location"])
        assert "Erledigt: LOA (Portierungsauftrag) LOA.pdf ist hochgeladen." in after.text
    assert (
        await stack.db.fetchval(
            "SELECT uploaded_by FROM documents WHERE process_id = $1 AND kind = 'loa'", change_order
        )
        == "C-NORD-1"
    )


async def test_failures_slow_the_guesser_on_every_portal_process(alpcom):
    """The attempts are in PostgreSQL: another portal process judges the same guesser alike
    (tests/portal/test_portal_doors.py has the rules themselves)."""
    stack = alpcom
    async with browser(stack) as c:
        for _ in range(FREE_FAILURES):
            wrong = await log_in(c, "C-ALP-1", "Wrong-Password-2026")
            assert wrong.status_code == 401 and "wrong" in wrong.text
        # seven more failures of this guesser (a wait of over a minute now): the facts both
        # portal processes judge
        await stack.db.execute(
            "INSERT INTO portal_login_attempts (kind, user_id, client, succeeded)"
            " SELECT 'login', 'C-ALP-1', '127.0.0.1', false FROM generate_series(1, 7)"
        )
        slowed = await log_in(c, "C-ALP-1")  # the right password, now made to wait
        assert slowed.status_code == 429 and "wait" in slowed.text
        assert 'aria-describedby="password-error"' in slowed.text
    from portal.app import PortalSettings, create_app

    app = create_app(
        PortalSettings(secret_key="x" * 40, secure_cookies=False), pool=stack.db, temporal=object()
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            # the same address as the guesser above (the test client's)
            transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 123)),
            base_url="http://portal-2",
            headers={"Accept-Language": "en"},
        ) as other,
    ):
        refused = await log_in(other, "C-ALP-1")
        assert refused.status_code == 429 and "wait" in refused.text
