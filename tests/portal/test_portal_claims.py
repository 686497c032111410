"""A claim in the portal is decided by the portal itself, in one PostgreSQL transaction: the
answer in the partner's language, the claim in the audit log, no Temporal needed for it; a
claim on a lead of a queue the partner is not in leaves one security-log row of the portal.
The portal app in-process (httpx's ASGI transport), real PostgreSQL."""

import re
import secrets

import httpx
import pytest

from portal.app import PortalSettings, create_app
from tests.records_partners import enable_partner_management, new_partner
from tests.unit.test_lead_claims import open_queue

PASSWORD = "correct horse battery"  # the test partner users' (tests/records_partners.py)


@pytest.fixture(autouse=True)
async def setting(pool, tmp_path, monkeypatch):
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(tmp_path))
    await enable_partner_management(pool)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


class NoTemporal:
    """The portal's Temporal client, which a claim must not use."""

    def __getattr__(self, name: str):
        raise AssertionError(f"a claim reached Temporal ({name})")


def portal(pool) -> httpx.AsyncClient:
    app = create_app(
        PortalSettings(secret_key=secrets.token_hex(32), secure_cookies=False),
        pool=pool,
        temporal=NoTemporal(),  # type: ignore[arg-type]
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal")


async def logged_in(c: httpx.AsyncClient, user: str) -> str:
    page = await c.get("/login")
    done = await c.post(
        "/login", data={"user": user, "password": PASSWORD, "csrf": csrf_of(page.text)}
    )
    assert done.status_code == 303, done.text[:500]
    return csrf_of((await c.get("/leads")).text)


async def test_a_claim_is_answered_in_the_partners_language_and_audited(pool):
    ours = await new_partner(pool, users=2)
    await pool.execute("UPDATE partners SET language = 'de' WHERE id = $1", ours.id)
    queue_id, leads = await open_queue(pool, [ours], 3)
    first, second = ours.users
    async with portal(pool) as a, portal(pool) as b:
        token_a, token_b = await logged_in(a, first), await logged_in(b, second)
        won = await a.post(f"/leads/{leads[0]}/claim", data={"csrf": token_a})
        lost = await b.post(f"/leads/{leads[0]}/claim", data={"csrf": token_b})
        also = await a.post(f"/leads/{leads[2]}/claim", data={"csrf": token_a})
        assert won.status_code == lost.status_code == also.status_code == 303
        assert all(r.headers["location"].startswith("/my-leads?answer=") for r in (won, lost, also))
        # each click's answer on the page its answer names: two clicks before the next page
        # each keep their own, and another user's address shows nothing of them
        shown_won = (await a.get(won.headers["location"])).text
        shown_also = (await a.get(also.headers["location"])).text
        shown_lost = (await b.get(lost.headers["location"])).text
        peeked = (await b.get(also.headers["location"])).text
        again = (await a.get(won.headers["location"])).text
    assert f"Erledigt: Lead {leads[0]} gehört jetzt Ihnen, {first}" in shown_won
    assert f"Erledigt: Lead {leads[2]} gehört jetzt Ihnen, {first}" in shown_also
    assert f"Lead {leads[2]} gehört jetzt" not in shown_won
    assert f"Abgelehnt: Lead {leads[0]} ist bereits von {first} ({ours.id}) übernommen" in (
        shown_lost
    )
    assert "Erledigt:" not in peeked  # not the answer of another user's click
    assert "Erledigt:" not in again  # an answer is shown once
    owner = await pool.fetchrow(
        "SELECT c.user_id, a.actor FROM claims c JOIN audit_log a"
        " ON a.process_id = c.process_id AND a.step = c.step"
        " WHERE c.lead_id = $1 AND c.ended_at IS NULL",
        leads[0],
    )
    assert dict(owner) == {"user_id": first, "actor": first}


async def test_a_claim_on_another_partners_lead_is_refused_and_logged_by_the_portal(pool):
    ours, theirs = await new_partner(pool, users=1), await new_partner(pool, users=1)
    _, leads = await open_queue(pool, [theirs], 1)
    async with portal(pool) as c:
        token = await logged_in(c, ours.users[0])
        forged = await c.post(f"/leads/{leads[0]}/claim", data={"csrf": token})
        garbage = await c.post("/leads/%E2%80%AEexe/claim", data={"csrf": token})
    assert forged.status_code == garbage.status_code == 404
    rows = await pool.fetch(
        "SELECT process_id, checked_in FROM security_log WHERE actor = $1 ORDER BY id",
        ours.users[0],
    )
    # one row each, the portal's, naming the lead tried (the hostile text made harmless)
    assert [r["checked_in"] for r in rows] == ["portal", "portal"]
    assert rows[0]["process_id"] == leads[0]
    assert await pool.fetchval("SELECT count(*) FROM claims WHERE lead_id = $1", leads[0]) == 0


async def test_the_inbox_shows_the_oldest_waiting_leads_a_page_at_a_time(pool):
    ours = await new_partner(pool, users=1)
    _, leads = await open_queue(pool, [ours], 60)
    oldest = [
        r["id"]
        for r in await pool.fetch(
            "SELECT id FROM leads WHERE id = ANY($1::text[]) ORDER BY created_at, id", leads
        )
    ]
    async with portal(pool) as c:
        await logged_in(c, ours.users[0])
        first, second = (await c.get("/leads")).text, (await c.get("/leads?page=2")).text
    shown = re.compile(r'action="/leads/([^/"]+)/claim"')
    assert shown.findall(first) == oldest[:50] and 'href="/leads?page=2"' in first
    assert shown.findall(second) == oldest[50:] and 'href="/leads?page=1"' in second
    assert 'href="/leads?page=3"' not in second
