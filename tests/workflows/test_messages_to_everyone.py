"""Every message of a process arrives: the real workflows and store steps write their outbox
rows, the relay delivers them to a real SMTP server (aiosmtpd). Partners are told their
numbers are live (each number listed), every partner e-mail leads to its item in the portal,
and staff are reached at their address in the people directory."""

import asyncio
from datetime import timedelta

import pytest

from domain import notices
from domain.business_time import Family
from domain.leads.steps import QueueFacts
from domain.reconcile import OPS_TEAM
from relay import Relay
from relay.settings import Settings
from relay.sinks import MailCatcher
from store import outbox
from store.db import create_pool
from store.demo import STAFF
from store.documents import DocumentStore
from store.lead_rows import tell_managers
from store.notices import tell
from store.porting import CARRIER_ROLE
from tests.workflows.harness import outcome, running_worker, server_today
from tests.workflows.test_classound_order import (
    RESELLER,
    both_documents,
    date_answer,
    details,
    start,
)
from workflows.classound_order import ClassoundOrder

PORTAL = "https://partners.test"


@pytest.fixture
async def mail():
    catcher = await MailCatcher().start()
    yield catcher
    await catcher.stop()


def relay_for(pool, mail: MailCatcher) -> Relay:
    settings = Settings.from_environment({})  # the team addresses as configured by default
    settings.smtp_host, settings.smtp_port, settings.smtp_starttls = "127.0.0.1", mail.port, False
    settings.portal_url, settings.backoff_base = PORTAL, 0.0
    return Relay(pool, settings)


async def deliver(relay: Relay) -> None:
    while await relay.deliver_due():
        pass


async def test_the_partner_is_told_which_numbers_are_live_with_a_link_to_the_order(
    time_env, pool, mail, tmp_path, monkeypatch
):
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(tmp_path / "documents"))
    documents = DocumentStore(tmp_path / "documents")
    numbers = ["+49 30 5550101", "+49 30 5550102"]
    async with running_worker(time_env.client, pool) as q:
        handle, _, _ = await start(time_env, q, pool, documents, numbers=numbers)
        await both_documents(handle, documents)
        await handle.execute_update(ClassoundOrder.confirm, RESELLER)
        day = await server_today(time_env, Family.CLASSOUND) + timedelta(days=7)
        await handle.execute_update(ClassoundOrder.carrier_answer, date_answer(day))
        try:
            await asyncio.wait_for(outcome(time_env, handle), 90)
        except TimeoutError:
            raise AssertionError(await details(handle)) from None
    await deliver(relay_for(pool, mail))
    rows = await pool.fetch(
        "SELECT template, recipient_kind, status, last_error FROM notifications"
        " WHERE process_id = $1 ORDER BY id",
        handle.id,
    )
    assert {r["template"] for r in rows} >= {"classound_documents_requested", "classound_active"}
    assert [r for r in rows if r["status"] != "sent"] == []
    # this order's (the database may hold other tests' messages, sent here too)
    (active,) = [
        m for m in mail.messages if "Classound aktiv" in m.subject and handle.id in m.subject
    ]
    lines = active.text.splitlines()
    live = [
        r["number"]
        for r in await pool.fetch(
            "SELECT number FROM classound_numbers WHERE process_id = $1", handle.id
        )
    ]
    assert len(live) == len(numbers)
    for number in live:
        assert f"  - {number}" in lines
    # sent again by staff (`starter.py resend`): the same numbers arrive again
    active_id = await pool.fetchval(
        "SELECT id FROM notifications WHERE process_id = $1 AND template = 'classound_active'",
        handle.id,
    )
    async with pool.acquire() as conn:
        await outbox.resend(conn, active_id, "ops-anna")
    await deliver(relay_for(pool, mail))
    again = [m for m in mail.messages if "Classound aktiv" in m.subject and handle.id in m.subject]
    assert len(again) == 2 and again[1].text == again[0].text
    partner_mails = [m for m in mail.messages if handle.id in m.subject]
    assert len(partner_mails) >= 3
    link = f"{PORTAL}/login?next=%2Fdocuments%23documents-{handle.id}"
    for m in partner_mails:
        assert link in m.text and "Ticket" not in m.text, m.text


async def test_in_the_demo_channel_managers_are_reached_at_their_directory_address(demo_db, mail):
    pool = await create_pool(demo_db, max_size=2)
    try:
        managers = [i for i, _, roles in STAFF if "channel_manager" in roles]
        assert managers
        queue = QueueFacts(queue_id="Q-DEMO", channel_managers=managers, claim_cap=5)
        async with pool.acquire() as conn, conn.transaction():
            # as a lead step writes them: every channel manager of the queue is told
            await tell_managers(
                conn,
                queue,
                "lead-step-demo",
                "not-interested",
                notices.LeadNotInterested(
                    queue_id="Q-DEMO",
                    lead_id="L-1",
                    user_id="C-NORD-1",
                    partner_id="P-NORDTEL",
                    reason="already a customer",
                ),
            )
        await deliver(relay_for(pool, mail))
        rows = await pool.fetch(
            "SELECT recipient_id, status, address, last_error FROM notifications"
            " WHERE process_id = 'lead-step-demo' ORDER BY id"
        )
        emails = {
            r["id"]: r["email"] for r in await pool.fetch("SELECT id, email FROM staff_users")
        }
    finally:
        await pool.close()
    assert [(r["recipient_id"], r["status"], r["last_error"]) for r in rows] == [
        (m, "sent", None) for m in managers
    ]
    assert {r["address"] for r in rows} == {emails[m] for m in managers}
    assert sorted(m.to for m in mail.messages) == sorted(emails[m] for m in managers)


async def test_in_the_demo_every_partner_and_team_is_reached(demo_db, mail):
    """The partners' notices and the teams' (the carrier's porting desk, customer care, ops):
    none given up for want of an address with the demo data and the default settings."""
    pool = await create_pool(demo_db, max_size=2)
    try:
        partners = [r["id"] for r in await pool.fetch("SELECT id FROM partners ORDER BY id")]
        sent: list[tuple[str, str, notices.Notice]] = [
            ("partner", p, notices.DocumentsRequested(process_id="c-demo", portal_path="/d"))
            for p in partners
        ]
        sent += [
            (
                "role",
                CARRIER_ROLE,
                notices.PortingRequest(porting_request_id=1, pbx_id="P", attempt=1),
            ),
            ("role", OPS_TEAM, notices.ClosedByReconciliation(records=["r"], reason="r")),
            (
                "role",
                "customer_care",
                notices.SigningDeadlinePassed(
                    process_id="r", ticket_id=1, contract_id="K", signing_deadline="2026-12-09"
                ),
            ),
        ]
        async with pool.acquire() as conn, conn.transaction():
            for n, (kind, rid, notice) in enumerate(sent):
                await tell(
                    conn,
                    notice,
                    process_id="demo-teams",
                    step=f"s-{n}",
                    recipient_kind=kind,
                    recipient_id=rid,
                )
        await deliver(relay_for(pool, mail))
        rows = await pool.fetch(
            "SELECT status, last_error FROM notifications WHERE process_id = 'demo-teams'"
        )
    finally:
        await pool.close()
    assert len(rows) == len(sent) and {(r["status"], r["last_error"]) for r in rows} == {
        ("sent", None)
    }
