"""The real stack for the portal's tests: the Temporal dev server, a database with the demo
data, worker.py and the portal (`python -m portal`) as subprocesses, set up through
starter.py as staff would. One stack per test module (a database and a namespace of the
session's dev server of its own): its tests share the partners, users and processes it makes."""

import asyncio
import secrets
import socket
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest

from codec import parse_key_ring
from store import demo
from store.db import connect, create_pool
from store.outbox import pending_link
from tests.conftest import new_database, own_namespace
from tests.e2e.cli import ROOT, environment, starter, worker

PASSWORD = "Fjord-Lynx-2026!"


@dataclass
class Stack:
    env: dict[str, str]
    url: str
    db: asyncpg.Pool
    made: dict[str, str] = field(default_factory=dict)  # name -> process id

    async def ok(self, *args: str) -> dict:
        answer = await starter(self.env, *args)
        assert answer.code == 0, answer.text
        return answer.body

    async def login_link(self, user_id: str) -> str:
        """The newest login link e-mailed to a partner user. ONE place that reads it: from
        the outbox row until the relay sends it (no relay runs here), sealed at rest with the
        worker's key ring."""
        link = await pending_link(
            self.db,
            recipient_id=user_id,
            template="partner_user_login",
            ring=parse_key_ring(self.env["PARTNERFLOW_ENCRYPTION_KEYS"]),
        )
        assert link, f"no login e-mail for {user_id}"
        return link


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def link_parts(link: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


async def _wait_until_up(proc, url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if proc.returncode is not None:
                raise AssertionError(f"the portal exited ({proc.returncode}): see its log")
            try:
                if (await client.get(f"{url}/login")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the portal did not answer in 30 s")


async def _setup(stack: Stack) -> None:
    """Partners, users, orders and leads for the tests, through the starter."""
    ok = stack.ok
    # The partner accounts, their users and the queues one step at a time: steps on one
    # partner account wait for each other anyway, and on a loaded machine parallel ones were
    # seen to stall the setup.
    for step in (
        ("enable-partner-management", "--as", "cm-eva"),
        ("create-partner-account", "--partner", "P-NORDTEL", "--channel-manager", "cm-eva"),
        ("create-partner-account", "--partner", "P-ALPCOM", "--channel-manager", "cm-eva"),
        (
            "invite-partner-user",
            "--partner",
            "P-NORDTEL",
            "--contact",
            "C-NORD-1",
            "--as",
            "cm-eva",
        ),
        ("invite-partner-user", "--partner", "P-ALPCOM", "--contact", "C-ALP-1", "--as", "cm-eva"),
        (
            "open-lead-queue",
            "--queue",
            "fair",
            "--name",
            "Trade fair",
            "--partner",
            "P-NORDTEL",
            "--partner",
            "P-ALPCOM",
            "--claim-cap",
            "5",
            "--as",
            "cm-eva",
        ),
        (
            "open-lead-queue",
            "--queue",
            "nord-only",
            "--name",
            "Nordtel only",
            "--partner",
            "P-NORDTEL",
            "--as",
            "cm-eva",
        ),
    ):
        await ok(*step)
    started = await asyncio.gather(
        # Nordtel's: Premium 8 -> 1 on ACME cancels one of its two CLASSOUND-FLATs
        ok("fast-change", "--account", "ACME", "--pbx", "PBX-ACME", "--set", "Premium=1"),
        ok(
            "classound-order",
            "--account",
            "ACME",
            "--pbx",
            "PBX-ACME",
            "--existing-customer",
            "--number",
            "+49 30 5550177",
        ),
        # Alpcom's
        ok("fast-change", "--account", "DELTA", "--pbx", "PBX-DELTA", "--set", "Business=22"),
        ok(
            "classound-order",
            "--account",
            "DELTA",
            "--pbx",
            "PBX-DELTA",
            "--numbers",
            str(ROOT / "demo" / "numbers.txt"),
        ),
        # a quote with CLASSOUND-FLATs: it needs the LOA and the last invoice too
        ok(
            "change-order",
            "--account",
            "ACME",
            "--pbx",
            "PBX-ACME",
            "--line",
            "Premium=+2",
            "--line",
            "CLASSOUND-FLAT:Premium=2",
        ),
        ok("add-leads", "--queue", "fair", "--file", str(ROOT / "demo" / "leads-fair.csv")),
        ok(
            "add-lead",
            "--queue",
            "nord-only",
            "--company",
            "Isar Dental",
            "--email",
            "praxis@isar-dental.example",
            "--country",
            "DE",
            "--postal-code",
            "80331",
            "--product",
            "Premium",
        ),
    )
    for name, body in zip(
        ("nord-order", "nord-classound", "alp-order", "alp-classound", "nord-change-order"),
        started,
        strict=False,
    ):
        stack.made[name] = body["data"]["process_id"]


@pytest.fixture(scope="module")
async def stack(dev_env, postgres_admin_dsn, pool):
    # a namespace per module: the setup's process ids (partner-account-P-NORDTEL,
    # lead-queue-fair) must not meet those of another module, whose worker is gone
    namespace = await own_namespace(dev_env, "portal")
    dsn = await new_database(postgres_admin_dsn, "partnerflow_portal")
    conn = await connect(dsn)
    try:
        await demo.load(conn)
    finally:
        await conn.close()
    env = environment(
        dev_env.client.service_client.config.target_host, dsn, f"portal-{uuid.uuid4().hex[:8]}"
    )
    env["TEMPORAL_NAMESPACE"] = namespace
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env.update(
        PARTNERFLOW_PORTAL_SECRET=secrets.token_hex(32),
        PARTNERFLOW_PORTAL_PORT=str(port),
        PARTNERFLOW_PARTNER_PORTAL_URL=url,
        PARTNERFLOW_SIGNING_URL=url,
        PARTNERFLOW_PORTAL_SECURE_COOKIES="0",
        PARTNERFLOW_STARTER_WAIT="120",
    )
    env.pop("PARTNERFLOW_PORTAL_LANGUAGE", None)
    db = await create_pool(dsn, max_size=4)
    async with worker(env) as running:
        log = Path(env["PARTNERFLOW_DATA_DIR"]) / "portal.log"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "portal",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        try:
            await _wait_until_up(proc, url)
            s = Stack(env, url, db)
            try:
                await _setup(s)
            except BaseException:
                print("".join(running.lines[-60:]), file=sys.stderr)  # what the worker said
                raise
            yield s
        finally:
            if proc.returncode is None:
                proc.terminate()
                await asyncio.wait_for(proc.wait(), 30)
    await db.close()
