"""The outbox is delivered, once, with status. A real SMTP server (aiosmtpd, in
this process), a real HTTP SMS sink, the real PostgreSQL; the relay as in the worker, and as
its own process (killed mid-batch)."""

import asyncio
import hashlib
import json
import os
import signal
import socket
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
import structlog
from aiohttp import ClientSession
from cryptography.exceptions import InvalidTag
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from codec import new_key_entry
from relay import Relay
from relay.settings import Settings
from relay.sinks import MailCatcher, SmsSink
from store import outbox
from store.db import migrate, migration_files
from store.steps import notify, once
from tests.e2e.forked import spawn
from tests.records import new_account
from tests.records_renegotiation import new_company

ROOT = Path(__file__).parent.parent


@pytest.fixture
async def mail():
    catcher = await MailCatcher().start()
    yield catcher
    await catcher.stop()


@pytest.fixture
async def sms():
    sink = await SmsSink(token="sms-token").start()
    yield sink
    await sink.stop()


def settings(mail: MailCatcher | None, sms: SmsSink | None = None, **kw) -> Settings:
    return Settings(
        smtp_host="127.0.0.1" if mail else None,
        smtp_port=mail.port if mail else 0,
        smtp_starttls=False,
        sms_url=sms.url if sms else None,
        sms_token="sms-token",
        backoff_base=0.0,
        poll_seconds=0.2,
        **kw,
    )


async def write(
    pool,
    template: str,
    kind: str,
    rid: str,
    payload: dict,
    secret: str | None = None,
    process_id: str | None = None,
) -> int:
    process_id = process_id or f"test-{uuid.uuid4().hex[:8]}"
    step = f"s-{uuid.uuid4().hex[:6]}"

    async def w(conn):
        await notify(
            conn,
            process_id=process_id,
            step=step,
            recipient_kind=kind,
            recipient_id=rid,
            template=template,
            payload=payload,
            secret=secret,
        )
        return {}

    await once(pool, process_id=process_id, step=step, actor="test", action="t", write=w)
    return await pool.fetchval(
        "SELECT id FROM notifications WHERE process_id = $1 AND step = $2", process_id, step
    )


async def row(pool, nid: int):
    return await pool.fetchrow("SELECT * FROM notifications WHERE id = $1", nid)


async def drain(relay: Relay) -> None:
    """Delivers everything due. Other tests' rows may be due too: the relay sends them as
    well (to this test's sink), which is what a relay does."""
    while await relay.deliver_due():
        pass


async def test_a_partner_notice_arrives_once_in_german_to_the_partners_address(pool, mail):
    acc = await new_account(pool)
    nid = await write(
        pool,
        "order_awaiting_confirmation",
        "partner",
        acc.partner_id,
        {"order_id": "O-1", "account_id": acc.id, "pbx_id": acc.pbx_id},
    )
    relay = Relay(pool, settings(mail))
    await drain(relay)
    await drain(relay)  # nothing sent twice
    r = await row(pool, nid)
    assert r["status"] == "sent" and r["address"] == "p@test.example" and r["language"] == "de"
    (got,) = [m for m in mail.messages if acc.pbx_id in m.text]
    assert got.to == "p@test.example"
    assert "Bestellung bestätigen" in got.text and got.language == "de"
    assert got.message_id.startswith(f"<n{nid}.r0.")


async def test_the_contract_goes_in_norwegian_by_email_and_sms_with_a_one_time_link(
    pool, mail, sms
):
    co = await new_company(pool, email="kari@bedrift.example", phone="+47 900 11 222")
    link = f"https://sign.example/sign?token={uuid.uuid4().hex}"
    payload = {"contract_id": co.contract_id, "signing_deadline": "2026-12-09"}
    pid = f"renegotiation-{co.id}"
    e = await write(
        pool,
        "contract_for_signing_email",
        "contact",
        co.contact_id,
        payload,
        secret=link,
        process_id=pid,
    )
    s = await write(
        pool,
        "contract_for_signing_sms",
        "contact",
        co.contact_id,
        payload,
        secret=link,
        process_id=pid,
    )
    before = await row(pool, e)
    assert outbox.open_link(before["secret"], e) == link and link not in str(before["payload"])
    await drain(Relay(pool, settings(mail, sms)))
    (got,) = [m for m in mail.messages if co.contract_id in m.subject]
    assert got.to == "kari@bedrift.example" and got.language == "nb"
    assert "Signeringsfrist" in got.text and link in got.text
    (text,) = [m for m in sms.messages if co.contract_id in m["body"]]
    assert text["to"] == "+47 900 11 222" and link in text["body"]
    for nid in (e, s):
        after = await row(pool, nid)
        assert after["status"] == "sent"
        assert after["secret"] is None  # blanked: the link lives only in the messages
        assert len(after["secret_sha256"]) == 64
    # and it cannot be resent: the link is gone
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(Exception, match="one-time link"):
            await outbox.resend(conn, e, "ops")


async def test_a_contract_is_not_sent_to_a_contact_without_signing_authority(pool, mail):
    co = await new_company(pool, can_sign=False)
    nid = await write(
        pool,
        "contract_signing_reminder",
        "contact",
        co.contact_id,
        {"contract_id": co.contract_id, "reminder": 1, "signing_deadline": "2026-12-09"},
    )
    await drain(Relay(pool, settings(mail)))
    r = await row(pool, nid)
    assert r["status"] == "given_up" and "signing authority" in r["last_error"]
    assert not [m for m in mail.messages if co.contract_id in m.subject]


async def test_the_recipient_comes_from_the_records_not_the_payload(pool, mail):
    acc = await new_account(pool)
    nid = await write(
        pool,
        "order_cancelled",
        "partner",
        acc.partner_id,
        {
            "order_id": "O-2",
            "reason": "x",
            "email": "attacker@evil.example",
            "to": "attacker@evil.example",
        },
    )
    await drain(Relay(pool, settings(mail)))
    assert (await row(pool, nid))["address"] == "p@test.example"
    assert not [m for m in mail.messages if "evil" in m.to]


async def test_a_refusing_smtp_server_is_retried_then_failed_with_its_answer(pool, mail):
    acc = await new_account(pool)
    mail.answer = "451 4.3.0 mailbox busy, try later"
    nid = await write(
        pool,
        "order_expired",
        "partner",
        acc.partner_id,
        {"order_id": "O-3", "reason": "not confirmed"},
    )
    relay = Relay(pool, settings(mail, max_attempts=3))
    await drain(relay)
    r = await row(pool, nid)
    assert r["status"] == "given_up" and r["attempts"] == 3
    assert "451" in r["last_error"] and "mailbox busy" in r["last_error"]
    # staff resend once the server is fine: nothing lost
    mail.answer = None
    async with pool.acquire() as conn, conn.transaction():
        await outbox.resend(conn, nid, "ops-anna")
    assert (
        await pool.fetchval(
            "SELECT actor FROM audit_log WHERE step = $1", f"resend-message/{nid}/1"
        )
        == "ops-anna"
    )
    await drain(relay)
    r = await row(pool, nid)
    assert r["status"] == "sent"
    (got,) = [m for m in mail.messages if "O-3" in m.subject]
    assert got.message_id.startswith(f"<n{nid}.r1.")  # a resend is a new message


async def test_an_smtp_server_that_is_down_leaves_the_message_failed_and_due_later(pool):
    acc = await new_account(pool)
    nid = await write(
        pool, "order_expired", "partner", acc.partner_id, {"order_id": "O-4", "reason": "r"}
    )
    catcher = await MailCatcher().start()
    port = catcher.port
    await catcher.stop()  # nothing listens there now
    s = settings(None)
    s.smtp_host, s.smtp_port, s.backoff_base = "127.0.0.1", port, 600.0
    relay = Relay(pool, s)
    await drain(relay)
    r = await row(pool, nid)
    assert r["status"] == "failed" and r["attempts"] == 1
    assert "refused" in r["last_error"].lower() or "connect" in r["last_error"].lower()
    # back-off: not due again yet, so a second pass leaves it alone
    await drain(relay)
    assert (await row(pool, nid))["attempts"] == 1
    assert await pool.fetchval(
        "SELECT next_attempt_at - now() > interval '5 minutes' FROM notifications WHERE id = $1",
        nid,
    )


async def test_a_one_time_link_is_sealed_at_rest_and_clear_only_in_the_delivered_message(
    pool, mail, monkeypatch
):
    """The outbox row never holds the clear link (sealed with the key ring under
    its row id); the relay opens it for the e-mail; the logs never hold it."""
    monkeypatch.setenv("PARTNERFLOW_ENCRYPTION_KEYS", new_key_entry("t1"))
    co = await new_company(pool, email="signer@sealed.example")
    token = uuid.uuid4().hex
    link = f"https://sign.example/sign?token={token}"
    payload = {"contract_id": co.contract_id, "signing_deadline": "2026-12-09"}
    with structlog.testing.capture_logs() as logs:
        nid = await write(
            pool,
            "contract_for_signing_email",
            "contact",
            co.contact_id,
            payload,
            secret=link,
            process_id=f"renegotiation-{co.id}",
        )
        before = await row(pool, nid)
        assert token not in str(dict(before))  # no column holds it in clear
        assert before["secret"].startswith("sealed:v1:t1:")
        assert before["secret_sha256"] == hashlib.sha256(link.encode()).hexdigest()
        async with pool.acquire() as conn:
            assert await outbox.pending_link(conn, nid) == link
            # bound to its row: copied to another row it does not open
            with pytest.raises(InvalidTag):
                outbox.open_link(before["secret"], nid + 1)
        await drain(Relay(pool, settings(mail)))
    (got,) = [m for m in mail.messages if co.contract_id in m.subject]
    assert got.to == "signer@sealed.example" and link in got.text
    after = await row(pool, nid)
    assert after["status"] == "sent" and after["secret"] is None
    async with pool.acquire() as conn:
        assert await outbox.pending_link(conn, nid) is None  # only the message has it now
    assert logs and token not in str(logs)


async def test_a_clear_link_written_before_sealing_is_still_delivered(pool, mail, monkeypatch):
    """Rows written before sealing (or on a system without a key ring) hold the clear link:
    read both, by the prefix."""
    co = await new_company(pool, email="old@sealed.example")
    monkeypatch.delenv("PARTNERFLOW_ENCRYPTION_KEYS", raising=False)
    monkeypatch.setenv("PARTNERFLOW_DATA_DIR", "/nonexistent")  # no local key ring either
    link = f"https://sign.example/sign?token={uuid.uuid4().hex}"
    nid = await write(
        pool,
        "contract_for_signing_email",
        "contact",
        co.contact_id,
        {"contract_id": co.contract_id, "signing_deadline": "2026-12-09"},
        secret=link,
        process_id=f"renegotiation-{co.id}",
    )
    assert (await row(pool, nid))["secret"] == link
    monkeypatch.setenv("PARTNERFLOW_ENCRYPTION_KEYS", new_key_entry("t2"))  # keys came later
    await drain(Relay(pool, settings(mail)))
    (got,) = [m for m in mail.messages if co.contract_id in m.subject]
    assert link in got.text


async def test_an_sms_gateway_that_refuses_is_recorded_with_its_answer(pool, sms):
    co = await new_company(pool)
    sms.status = 503
    nid = await write(
        pool,
        "contract_for_signing_sms",
        "contact",
        co.contact_id,
        {"contract_id": co.contract_id, "signing_deadline": "2026-12-09"},
        secret="https://sign.example/x",
    )
    await drain(Relay(pool, settings(None, sms, max_attempts=2)))
    r = await row(pool, nid)
    assert r["status"] == "given_up" and "HTTP 503" in r["last_error"]
    # not sent: the link is still there
    assert outbox.open_link(r["secret"], nid) == "https://sign.example/x"


async def test_two_relays_at_once_never_send_a_row_twice(pool, mail):
    acc = await new_account(pool)
    ids = [
        await write(
            pool,
            "order_applied",
            "partner",
            acc.partner_id,
            {"order_id": f"O-{acc.id}-{n}", "changes": ["+1 Basic"]},
        )
        for n in range(60)
    ]
    a, b = Relay(pool, settings(mail)), Relay(pool, settings(mail))
    await asyncio.gather(drain(a), drain(b))
    mine = [m for m in mail.messages if f"O-{acc.id}-" in m.subject]
    per_id = {m.message_id: 0 for m in mine}
    for m in mine:
        per_id[m.message_id] += 1
    assert len(mine) == 60 and set(per_id.values()) == {1}
    assert a.sent > 0 and b.sent > 0  # both took part
    assert {
        r["status"]
        for r in await pool.fetch(
            "SELECT status FROM notifications WHERE id = ANY($1::bigint[])", ids
        )
    } == {"sent"}


@pytest.mark.parametrize("accepted", [False, True], ids=["before-250", "after-250"])
async def test_a_relay_killed_mid_batch_and_restarted_delivers_each_message_once(
    pool, database_url, mail, accepted
):
    """The relay (its own process) is SIGKILLed while the catcher holds a message's DATA:
    before the catcher kept it (the message was not delivered), or after it kept it but
    before its "250" (delivered, but the relay cannot know). Restarted, it delivers the rest;
    every row arrives, under its own Message-ID; in the second case the one message comes
    twice, recognisable as the same by its Message-ID."""
    acc = await new_account(pool)
    ids = [
        await write(
            pool,
            "order_applied",
            "partner",
            acc.partner_id,
            {"order_id": f"K-{acc.id}-{n}", "changes": []},
        )
        for n in range(8)
    ]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PARTNERFLOW_SMTP_HOST": "127.0.0.1",
        "PARTNERFLOW_SMTP_PORT": str(mail.port),
        "PARTNERFLOW_SMTP_STARTTLS": "off",
        "PARTNERFLOW_RELAY_POLL": "0.2",
        "LOG_LEVEL": "WARNING",
    }

    def mine():
        return [m for m in mail.messages if f"K-{acc.id}-" in m.subject]

    async def until(cond, seconds=30.0):
        for _ in range(int(seconds / 0.05)):
            if cond():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("timed out")

    # the catcher holds each message; three are let through, the next one is held: kill
    mail.gate, mail.gate_after_keeping = asyncio.Event(), accepted
    held_at = 3
    mail.holding.clear()
    first = await asyncio.create_subprocess_exec(sys.executable, "-m", "relay", cwd=ROOT, env=env)
    # let three through: the gate opens only for messages before the held one
    while len(mine()) < held_at:
        mail.holding.clear()
        mail.gate.set()
        mail.gate = asyncio.Event()
        await until(lambda: mail.holding.is_set() or len(mine()) >= held_at)
    await until(mail.holding.is_set)
    kept_before_kill = [m.message_id for m in mine()]
    first.send_signal(signal.SIGKILL)
    await first.wait()
    mail.gate.set()
    mail.gate = None
    second = await asyncio.create_subprocess_exec(sys.executable, "-m", "relay", cwd=ROOT, env=env)
    try:
        await until(lambda: len({m.message_id for m in mine()}) == 8)
        for _ in range(200):
            statuses = {
                r["status"]
                for r in await pool.fetch(
                    "SELECT status FROM notifications WHERE id = ANY($1::bigint[])", ids
                )
            }
            if statuses == {"sent"}:
                break
            await asyncio.sleep(0.05)
    finally:
        second.send_signal(signal.SIGTERM)
        await second.wait()
    assert statuses == {"sent"}
    copies: dict[str, int] = {}
    for m in mine():
        copies[m.message_id] = copies.get(m.message_id, 0) + 1
    assert sorted(int(k[2:].split(".")[0]) for k in copies) == sorted(ids)
    if accepted:
        # the message kept before its 250 came again, under the same Message-ID
        (twice,) = [k for k, n in copies.items() if n == 2]
        assert twice in kept_before_kill and set(copies.values()) == {1, 2}
    else:
        assert set(copies.values()) == {1}


async def test_sent_and_failed_are_counted_per_kind_in_prometheus(pool, mail):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runtime = Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}"))
    )
    acc = await new_account(pool)
    relay = Relay(pool, settings(mail), meter=runtime.metric_meter)
    await drain(relay)  # whatever other tests left due
    await write(
        pool,
        "classound_active",
        "partner",
        acc.partner_id,
        {"process_id": "p", "dids": ["+49 30 1"], "activated_on": "2026-12-01"},
    )
    await drain(relay)
    mail.answer = "554 5.7.1 rejected"
    await write(pool, "order_expired", "partner", acc.partner_id, {"order_id": "O", "reason": "r"})
    relay.settings.max_attempts = 1
    await drain(relay)
    mail.answer = None
    async with ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as r:
        text = await r.text()
    assert any(
        line.startswith("partnerflow_notifications_sent")
        and 'kind="classound_active"' in line
        and 'channel="email"' in line
        for line in text.splitlines()
    )
    assert any(
        line.startswith("partnerflow_notifications_failed") and 'kind="order_expired"' in line
        for line in text.splitlines()
    )


async def starter(database_url: str | None, *argv: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url:
        env["DATABASE_URL"] = database_url
    else:  # nor the database-url file of a ./run in this checkout
        env["PARTNERFLOW_DATA_DIR"] = f"/nonexistent-{uuid.uuid4().hex}"
    # a process of its own, forked from an interpreter that imported the starter's modules
    # already (tests/e2e/forked.py): the command as written, without the imports
    proc = await spawn(
        env,
        [str(ROOT / "starter.py"), *argv],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode, out.decode() + err.decode()


async def test_staff_find_failed_messages_and_resend_them(pool, database_url, mail):
    acc = await new_account(pool)
    mail.answer = "550 5.1.1 no such mailbox"
    nid = await write(
        pool, "order_cancelled", "partner", acc.partner_id, {"order_id": "O-5", "reason": "r"}
    )
    relay = Relay(pool, settings(mail, max_attempts=1))
    await drain(relay)
    mail.answer = None
    code, out = await starter(database_url, "outbox", "--failed", "--limit", "1000")
    assert code == 0, out
    (line,) = [ln for ln in out.splitlines() if ln.strip().startswith(f"{nid} ")]
    assert "given up" in line and "order_cancelled" in line
    assert "550 5.1.1 no such mailbox" in out
    code, out = await starter(database_url, "resend", str(nid), "--as", "ops-ben")
    assert code == 0 and "queued again by ops-ben" in out
    code, out = await starter(database_url, "resend", str(nid), "--as", "ops-ben")
    assert code == 1 and "queued already" in out  # refused: nothing doubled
    await drain(relay)
    code, out = await starter(database_url, "outbox", "--json", "--limit", "1000")
    (r,) = [r for r in json.loads(out)["data"] if r["id"] == nid]
    assert r["status"] == "sent" and r["resent"] == 1
    code, out = await starter(None, "outbox")
    assert code == 7 and "DATABASE_URL" in out


async def test_upgrading_moves_login_links_out_of_payloads_and_gives_up_stale_rows(
    postgres_admin_dsn,
):
    """Migration 009 on a database that ran 001–008: a login link sitting in a payload moves
    to the secret column (its hash kept); an unsent row older than 7 days is given up, a
    recent one is queued, a stamped one is sent."""
    name = f"pf_upgrade_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base, _, query = postgres_admin_dsn.partition("?")
    dsn = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE schema_migrations (version text PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, sql in migration_files():
            if version < "009":
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
        link = "https://partners.example/first-login?token=abc"
        await conn.execute(
            "INSERT INTO notifications (process_id, step, recipient_kind, recipient_id,"
            " template, payload, created_at, sent_at) VALUES"
            " ('p', 'login', 'contact', 'C-1', 'partner_user_login', $1::jsonb, now(), NULL),"
            " ('p', 'old', 'partner', 'P-1', 'order_applied', '{}', now() - interval '9 days',"
            "  NULL),"
            " ('p', 'done', 'partner', 'P-1', 'order_applied', '{}', now(), now())",
            json.dumps({"login_url": link, "user_id": "C-1"}),
        )
        assert await migrate(dsn) == [v for v, _ in migration_files() if v >= "009"]
        rows = {r["step"]: r for r in await conn.fetch("SELECT * FROM notifications")}
    finally:
        await conn.close()
    login = rows["login"]
    assert login["status"] == "queued" and login["secret"] == link
    assert "login_url" not in login["payload"] and "abc" not in login["payload"]
    assert login["secret_sha256"] == hashlib.sha256(link.encode()).hexdigest()
    assert rows["old"]["status"] == "given_up" and "7 days" in rows["old"]["last_error"]
    assert rows["done"]["status"] == "sent"
