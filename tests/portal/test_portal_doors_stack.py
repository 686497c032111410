"""The portal's doors on the real stack (dev server, worker, PostgreSQL, `python -m portal`),
where the items are real processes: a session saved before logout cannot change another
thing, and every refused attempt on another partner's order, documents, lead or opportunity
is one security log row."""

from pathlib import Path

import pytest

from domain.portal import FREE_FAILURES
from tests.e2e.cli import ROOT
from tests.portal.test_portal_http import (  # the module's users and helpers
    alpcom,  # noqa: F401  (a fixture)
    browser,
    csrf_of,
    log_in,
    nordtel_owns_a_lead_and_an_opportunity,
)

pytestmark = pytest.mark.e2e

LOA = (ROOT / "demo" / "LOA.pdf").read_bytes()


async def portal_refusals(stack) -> list:
    return await stack.db.fetch(
        "SELECT actor, permission, process_id, reason FROM security_log"
        " WHERE checked_in = 'portal' ORDER BY id"
    )


async def test_a_cookie_saved_before_logout_cannot_change_an_opportunity(alpcom):  # noqa: F811
    stack = alpcom
    _, opportunity = await nordtel_owns_a_lead_and_an_opportunity(stack)
    amount = await stack.db.fetchval("SELECT amount FROM opportunities WHERE id = $1", opportunity)
    async with browser(stack) as c:
        assert (await log_in(c, "C-NORD-1")).status_code == 303
        page = await c.get("/opportunities")
        assert opportunity in page.text
        saved_cookie, saved_csrf = c.cookies["partnerflow_portal"], csrf_of(page.text)
        out = await c.post("/logout", data={"csrf": saved_csrf})
        assert out.status_code == 303
    async with browser(stack) as thief:
        thief.cookies.set("partnerflow_portal", saved_cookie)
        mine = await thief.get("/my-leads")
        assert mine.status_code == 303 and mine.headers["location"] == "/login"
        forged = await thief.post(
            f"/opportunities/{opportunity}",
            data={"csrf": saved_csrf, "amount": "99999", "request": "after-logout-1"},
        )
        assert forged.status_code == 303 and forged.headers["location"] == "/login"
    assert (
        await stack.db.fetchval("SELECT amount FROM opportunities WHERE id = $1", opportunity)
        == amount
    )


async def test_every_refused_attempt_at_the_portal_is_one_security_log_row(alpcom):  # noqa: F811
    stack = alpcom
    nord_lead, opportunity = await nordtel_owns_a_lead_and_an_opportunity(stack)
    nord_only = await stack.db.fetchval("SELECT id FROM leads WHERE queue_id = 'nord-only'")
    before = len(await portal_refusals(stack))
    documents = Path(stack.env["PARTNERFLOW_DATA_DIR"]) / "documents"
    files_before = sorted(p.name for p in documents.rglob("*") if p.is_file())
    async with browser(stack) as c:
        assert (await log_in(c, "C-ALP-1")).status_code == 303
        token = csrf_of((await c.get("/orders")).text)
        attempts = [
            (f"/orders/{stack.made['nord-order']}/confirm", {}, stack.made["nord-order"]),
            (f"/leads/{nord_only}/claim", {}, nord_only),
            (f"/leads/{nord_lead}/accept", {}, nord_lead),
            (f"/opportunities/{opportunity}", {"stage": "closed-lost"}, opportunity),
        ]
        for path, data, _ in attempts:
            assert (await c.post(path, data={"csrf": token, **data})).status_code == 404, path
        upload = await c.post(
            f"/documents/{stack.made['nord-classound']}/upload",
            data={"csrf": token, "kind": "loa"},
            files={"file": ("LOA.pdf", LOA, "application/pdf")},
        )
        assert upload.status_code == 404
        # a form without its token
        assert (await c.post(f"/orders/{stack.made['alp-order']}/confirm")).status_code == 403
    # a guesser made to wait (an id nobody has: the others of this module are not slowed)
    async with browser(stack) as guesser:
        for _ in range(FREE_FAILURES):
            assert (await log_in(guesser, "C-NOBODY-7", "Wrong-Password-2026")).status_code == 401
        assert (await log_in(guesser, "C-NOBODY-7", "Wrong-Password-2026")).status_code == 429
    rows = (await portal_refusals(stack))[before:]
    assert [(r["actor"], r["process_id"]) for r in rows] == [
        *[("C-ALP-1", item) for _, _, item in attempts],
        ("C-ALP-1", stack.made["nord-classound"]),
        ("C-ALP-1", f"/orders/{stack.made['alp-order']}/confirm"),
        ("C-NOBODY-7", "/login"),
    ]
    assert [r["permission"] for r in rows[:3]] == [
        "portal: POST /orders/{process_id}/confirm",
        "portal: POST /leads/{lead_id}/claim",
        "portal: POST /leads/{lead_id}/accept",
    ]
    assert "CSRF" in rows[5]["reason"] and "wait" in rows[6]["reason"]
    # and nothing was done: no document kept, the order still waiting, the stage as it was
    assert sorted(p.name for p in documents.rglob("*") if p.is_file()) == files_before
    assert (
        await stack.db.fetchval(
            "SELECT status FROM orders WHERE process_id = $1", stack.made["nord-order"]
        )
        == "awaiting_partner_confirmation"
    )
    assert (
        await stack.db.fetchval("SELECT stage FROM opportunities WHERE id = $1", opportunity)
        != "closed-lost"
    )
