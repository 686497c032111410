"""Notifications end to end inside the processes: the real workflows and activities write their
outbox rows, the relay delivers them to a real SMTP server (aiosmtpd) and HTTP SMS sink,
once, to the addresses of the records, in the process's own language."""

import asyncio
import hashlib
from urllib.parse import parse_qs, urlparse

import pytest
from babel.dates import format_date

from domain.renegotiation import reminder_at
from relay import Relay
from relay.settings import Settings
from relay.sinks import MailCatcher, SmsSink
from store.documents import DocumentStore
from tests.records_renegotiation import new_company
from tests.workflows.harness import running_worker
from tests.workflows.test_classound_order import start as start_classound
from tests.workflows.test_renegotiation import request, skip_to, start, status


@pytest.fixture
async def sinks():
    mail = await MailCatcher().start()
    sms = await SmsSink(token="t").start()
    yield mail, sms
    await mail.stop()
    await sms.stop()


async def deliver(pool, mail, sms) -> Relay:
    relay = Relay(
        pool,
        Settings(
            smtp_host="127.0.0.1",
            smtp_port=mail.port,
            smtp_starttls=False,
            sms_url=sms.url,
            sms_token="t",
            backoff_base=0.0,
        ),
    )
    while await relay.deliver_due():
        pass
    return relay


async def test_the_renegotiation_contract_and_its_reminder_reach_the_signatory(
    time_env, pool, sinks
):
    mail, sms = sinks
    co = await new_company(pool, licences=8, email="kari@fjord.example", phone="+47 912 34 567")
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start(time_env, q, co, request(co, 8, "520"))
        s = await status(handle)
        await deliver(pool, mail, sms)
        (contract,) = [m for m in mail.messages if s.contract_id in m.subject]
        (text,) = [m for m in sms.messages if s.contract_id in m["body"]]
        await skip_to(time_env, reminder_at(s.signing_deadline))
        for _ in range(200):  # the timer fired; wait (10 s at most) for its activity's row
            if await pool.fetchval(
                "SELECT count(*) FROM notifications WHERE process_id = $1"
                " AND template = 'contract_signing_reminder'",
                handle.id,
            ):
                break
            await asyncio.sleep(0.05)
        await deliver(pool, mail, sms)
        # ended here: a process left waiting on a timer would hold the shared time-skipping
        # server's clock for the tests after this one (its queue has no worker any more)
        await handle.terminate("test done")
    assert contract.to == "kari@fjord.example" and contract.language == "nb"
    assert "Reforhandling av avtale om Avonova Assist" in contract.subject
    deadline = format_date(s.signing_deadline, "long", locale="nb_NO")  # "9. desember 2026"
    assert f"Signeringsfrist: {deadline}" in contract.text
    assert text["to"] == "+47 912 34 567"
    link = contract.text.split("(lenken kan brukes én gang):")[1].split()[0]
    assert link in text["body"]  # the same one-time link by e-mail and SMS
    token = parse_qs(urlparse(link).query)["token"][0]
    assert (
        await pool.fetchval(
            "SELECT signing_token_sha256 FROM contracts WHERE id = $1", s.contract_id
        )
        == hashlib.sha256(token.encode()).hexdigest()
    )
    rows = await pool.fetch(
        "SELECT template, status, secret FROM notifications WHERE process_id = $1 ORDER BY id",
        handle.id,
    )
    assert [(r["template"], r["status"], r["secret"]) for r in rows] == [
        ("contract_for_signing_email", "sent", None),
        ("contract_for_signing_sms", "sent", None),
        ("contract_signing_reminder", "sent", None),
    ]
    reminders = [
        m
        for m in mail.messages
        if m.subject.startswith("Påminnelse") and s.contract_id in m.subject
    ]
    assert len(reminders) == 1 and reminders[0].to == "kari@fjord.example"


async def test_the_classound_reseller_is_asked_for_the_documents_in_german(
    time_env, pool, sinks, tmp_path, monkeypatch
):
    mail, sms = sinks
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(tmp_path / "documents"))
    documents = DocumentStore(tmp_path / "documents")
    async with running_worker(time_env.client, pool) as q:
        handle, _, acc = await start_classound(time_env, q, pool, documents)
        await deliver(pool, mail, sms)
        await deliver(pool, mail, sms)
        await handle.terminate("test done")  # as above
    got = [m for m in mail.messages if handle.id in m.subject]
    assert len(got) == 1 and got[0].to == "p@test.example" and got[0].language == "de"
    assert "Einverständniserklärung (LOA)" in got[0].text
    assert "letzte Rechnung des alten Anbieters" in got[0].text
