"""`./run` with its local mail catcher and SMS sink (issue 11): the worker's relay delivers
the outbox there, the page shows it, `starter.py outbox` lists it as sent."""

import asyncio
import os
import re
import sys
import uuid

import asyncpg
import pytest
from aiohttp import ClientSession

from tests.e2e.test_devstack import ROOT, devstack, up  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


async def test_run_delivers_the_outbox_to_its_local_mail_catcher_and_sms_sink(
        devstack, tmp_path):  # noqa: F811
    run, started = devstack
    data = tmp_path / "data"  # the fixture's PARTNERFLOW_DATA_DIR
    await up(run)
    started += run.tree()
    # the banner (read already, before the worker's "worker started") names the page
    (port,) = [m.group(1) for line in run.lines
               if (m := re.search(r"Messages\s+http://localhost:(\d+)", line))]
    page = f"http://localhost:{port}/"
    # ./run leaves its database's URL in the data folder for the starter's outbox commands
    conn = await asyncpg.connect((data / "database-url").read_text())
    tag = uuid.uuid4().hex[:8]
    try:
        # a partner and a notice for it, as a step writes them (ACME's partner is demo data)
        await conn.execute(
            "INSERT INTO notifications (process_id, step, recipient_kind, recipient_id,"
            " template, payload) VALUES ($1, 'create-order', 'partner', 'P-NORDTEL',"
            " 'order_awaiting_confirmation', $2::jsonb)", f"e2e-{tag}",
            f'{{"order_id": "O-{tag}", "account_id": "ACME", "pbx_id": "PBX-ACME"}}')
        async with ClientSession() as http:
            for _ in range(300):
                async with http.get(page) as r:
                    text = await r.text()
                if f"O-{tag}" in text:
                    break
                await asyncio.sleep(0.1)
        assert f"Bestellung O-{tag} zum Bestätigen eingegangen" in text
        assert "orders@nordtel.example" in text
        for _ in range(100):  # the catcher keeps it before the relay commits "sent"
            status = await conn.fetchval(
                "SELECT status FROM notifications WHERE process_id = $1", f"e2e-{tag}")
            if status == "sent":
                break
            await asyncio.sleep(0.1)
        assert status == "sent"
    finally:
        await conn.close()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "starter.py", "outbox", cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        | {"PARTNERFLOW_DATA_DIR": str(data)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out = (await proc.communicate())[0].decode()
    assert proc.returncode == 0, out
    assert any("sent" in ln and "orders@nordtel.example" in ln and f"e2e-{tag}" in ln
               for ln in out.splitlines()), out
