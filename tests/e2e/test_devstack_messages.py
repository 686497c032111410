"""`./run` with its local mail catcher and SMS sink: the worker's relay delivers
the outbox there, the page shows it, `starter.py outbox` lists it as sent. One `./run` for the
tests of this module: each looks only at its own messages."""

import asyncio
import hashlib
import html
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiohttp import ClientSession

from ops.identity import COOKIE, session_value
from tests.e2e.forked import spawn
from tests.e2e.test_devstack import ROOT, Run, running, up

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    run: Run
    ports: dict[str, int]
    data: Path  # its PARTNERFLOW_DATA_DIR
    messages: str  # the Messages page, as the banner names it


@pytest.fixture(scope="module")
async def stack(postgres_admin_dsn, tmp_path_factory) -> AsyncIterator[Stack]:
    folder = tmp_path_factory.mktemp("devstack-messages")
    async with running(postgres_admin_dsn, folder) as (run, started):
        _, ports = await up(run)
        started += run.tree()
        # the banner (read already, before the worker's "worker started") names the page
        (port,) = [
            m.group(1)
            for line in run.lines
            if (m := re.search(r"Messages\s+http://localhost:(\d+)", line))
        ]
        yield Stack(run, ports, folder / "data", f"http://localhost:{port}")


def ops_cookie(data) -> dict[str, str]:
    """What the browser of ./run's user holds after its login link (the codec token is the
    key; only that user can read it)."""
    return {COOKIE: session_value((data / "codec-token").read_text().strip())}


async def mail_pages(http: ClientSession, base: str, to: str = "") -> list[str]:
    """Each e-mail's own page (to a recipient containing `to`), newest first."""
    async with http.get(f"{base}/", params={"to": to}) as r:
        assert r.status == 200
        listing = await r.text()
    found = []
    for name in re.findall(r"href='/message/([\w-]+)'", listing):
        async with http.get(f"{base}/message/{name}") as r:
            found.append(await r.text())
    return found


async def test_run_delivers_the_outbox_to_its_local_mail_catcher_and_sms_sink(stack):
    data = stack.data
    page = stack.messages
    # ./run leaves its database's URL in the data folder for the starter's outbox commands
    conn = await asyncpg.connect((data / "database-url").read_text())
    tag = uuid.uuid4().hex[:8]
    try:
        # a partner and a notice for it, as a step writes them (ACME's partner is demo data)
        await conn.execute(
            "INSERT INTO notifications (process_id, step, recipient_kind, recipient_id,"
            " template, payload) VALUES ($1, 'create-order', 'partner', 'P-NORDTEL',"
            " 'order_awaiting_confirmation', $2::jsonb)",
            f"e2e-{tag}",
            f'{{"order_id": "O-{tag}", "account_id": "ACME", "pbx_id": "PBX-ACME"}}',
        )
        async with ClientSession(cookies=ops_cookie(data)) as http:
            async with http.get(page) as r:
                assert r.status == 200
            async with ClientSession() as anonymous, anonymous.get(page) as r:
                assert r.status == 401  # the archive holds live links: ./run's user only
            for _ in range(300):
                text = "".join(await mail_pages(http, page, "orders@nordtel"))
                if f"O-{tag}" in text:
                    break
                await asyncio.sleep(0.1)
        assert f"Bestellung O-{tag} zum Bestätigen eingegangen" in text
        assert "orders@nordtel.example" in text
        for _ in range(100):  # the catcher keeps it before the relay commits "sent"
            status = await conn.fetchval(
                "SELECT status FROM notifications WHERE process_id = $1", f"e2e-{tag}"
            )
            if status == "sent":
                break
            await asyncio.sleep(0.1)
        assert status == "sent"
    finally:
        await conn.close()
    proc = await spawn(
        {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PARTNERFLOW_ACTOR")}
        | {"PARTNERFLOW_DATA_DIR": str(data)},
        [str(ROOT / "starter.py"), "outbox"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = (b.decode() for b in await proc.communicate())
    assert proc.returncode == 0, out + err
    assert any(
        "sent" in ln and "orders@nordtel.example" in ln and f"e2e-{tag}" in ln
        for ln in out.splitlines()
    ), out


async def test_run_a_partner_notice_and_a_login_link_reach_the_catcher_once(stack):
    """Real processes under ./run: a fast change order tells the partner in German; an
    invitation's login link arrives only in the e-mail, the row keeps its hash, and the link
    from the e-mail logs the user in."""
    data, ports = stack.data, stack.ports
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "PARTNERFLOW_ENCRYPTION_KEYS", "PARTNERFLOW_ACTOR")
    } | {"PARTNERFLOW_DATA_DIR": str(data), "TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}"}

    async def starter(*argv: str, stdin: bytes | None = None) -> str:
        # a process of its own, forked from an interpreter that imported the starter's
        # modules already (tests/e2e/forked.py): the command as written, without the imports
        proc = await spawn(
            env,
            [str(ROOT / "starter.py"), *argv],
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = (b.decode() for b in await proc.communicate(stdin))
        assert proc.returncode == 0, (argv, out, err)
        return out + err

    async def mail_to(address: str, words: str) -> list[str]:
        """The mails to `address` containing `words`, as the page shows them."""
        base = stack.messages
        async with ClientSession(cookies=ops_cookie(data)) as http:
            for _ in range(300):
                found = [p for p in await mail_pages(http, base, address) if words in p]
                if found:
                    await asyncio.sleep(1.0)  # a second copy would have come by now
                    return [p for p in await mail_pages(http, base, address) if words in p]
                await asyncio.sleep(0.1)
        raise AssertionError(f"no mail to {address} with {words!r}")

    out = await starter(
        "fast-change", "--account", "ACME", "--pbx", "PBX-ACME", "--set", "Premium=11"
    )
    (process_id,) = set(re.findall(r"fast-change-order-ACME-[0-9a-f]+", out))
    conn = await asyncpg.connect((data / "database-url").read_text())
    try:
        order = await conn.fetchval(
            "SELECT payload->>'order_id' FROM notifications WHERE process_id = $1"
            " AND template = 'order_awaiting_confirmation'",
            process_id,
        )
    finally:
        await conn.close()
    # this order's (the other test of this module tells the same partner of another)
    (notice,) = await mail_to(
        "orders@nordtel.example", f"Bestellung {order} zum Bestätigen eingegangen"
    )
    assert "Bestellung bestätigen" in notice and "PBX-ACME" in notice

    await starter("enable-partner-management", "--as", "admin-ida")
    await starter(
        "create-partner-account",
        "--partner",
        "P-NORDTEL",
        "--channel-manager",
        "cm-eva",
        "--as",
        "cm-eva",
    )
    await starter(
        "invite-partner-user", "--partner", "P-NORDTEL", "--contact", "C-NORD-1", "--as", "cm-eva"
    )
    (login,) = await mail_to("anna.holm@nordtel.example", "first-login?")
    link = html.unescape(re.search(r"(https?://[^\s\"<]+first-login\?[^\s\"<]+)", login).group(1))
    # the e-mailed link opens the portal ./run started (its banner line)
    assert link.startswith(f"http://localhost:{ports['portal']}/first-login?")
    conn = await asyncpg.connect((data / "database-url").read_text())
    try:
        row = await conn.fetchrow(
            "SELECT status, secret, secret_sha256, payload FROM notifications"
            " WHERE template = 'partner_user_login' AND recipient_id = 'C-NORD-1'"
        )
    finally:
        await conn.close()
    assert row["status"] == "sent" and row["secret"] is None
    assert row["secret_sha256"] == hashlib.sha256(link.encode()).hexdigest()
    assert "first-login" not in row["payload"]
    out = await starter(
        "partner-login",
        "--partner",
        "P-NORDTEL",
        "--user",
        "C-NORD-1",
        "--token",
        link,
        stdin=b"a long Passphrase 2026\n",
    )
    assert "C-NORD-1" in out
