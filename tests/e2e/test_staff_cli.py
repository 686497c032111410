"""The starter as staff work with it, on the real stack (dev server, worker.py, PostgreSQL
with the demo data): the work list says what waits for whom with the command to run next, a
process id may be given by a unique start of it, `list` keeps its columns for long ids,
`starter.py` alone lists its commands, and hostile text from outside data reaches the terminal
escaped."""

import asyncio
import io
import uuid

import asyncpg
import pytest
from temporalio.common import SearchAttributePair, TypedSearchAttributes

import config
import starter as starter_py
from tests.conftest import own_namespace
from tests.e2e.cli import (
    ROOT,
    Answer,
    client_for,
    environment,
    environment_of,
    starter,
    worker,
)
from workflows.visibility import PROCESS_KIND, STAGE

pytestmark = pytest.mark.e2e


@pytest.fixture
async def staff_env(dev_env, demo_db) -> dict[str, str]:
    """The demo data and a namespace of its own: prefixes and lists meet only this test's
    processes."""
    env = environment(
        dev_env.client.service_client.config.target_host, demo_db, f"e2e-{uuid.uuid4().hex[:8]}"
    )
    env["TEMPORAL_NAMESPACE"] = await own_namespace(dev_env, "staff")
    return env


async def as_text(env: dict[str, str], *args: str) -> tuple[int, str]:
    """`starter.py ARGS` as a person reads it: the exit code and the text printed."""
    out = io.StringIO()
    with environment_of(env):
        settings = config.Settings.from_environment(env)
        task = asyncio.create_task(starter_py.command(list(args), settings, out))
        code = await asyncio.wait_for(task, timeout=120)
    return code, out.getvalue()


async def ok(env: dict[str, str], *args: str) -> Answer:
    answer = await starter(env, *args)
    assert answer.code == 0, answer.text
    return answer


async def rejected_quote(env: dict[str, str]) -> str:
    """BERGMANN's quote, rejected for its missing phone and invoice e-mail (the demo data)."""
    started = await ok(
        env,
        "change-order",
        "--account",
        "BERGMANN",
        "--pbx",
        "PBX-BERGMANN",
        "--line",
        "Premium=+2",
        "--as",
        "ops-ben",
    )
    pid = started.body["data"]["process_id"]
    await ok(env, "mark-primary", pid, "--as", "ops-ben")
    await ok(env, "publish", pid, "--as", "ops-ben")
    assert (await starter(env, "mark-complete", pid, "--as", "ops-ben")).code == 1
    return pid


async def listed(env: dict[str, str], pid: str, stage: str) -> None:
    """Until Temporal's list shows `pid` in `stage` (visibility follows within moments)."""
    for _ in range(100):
        rows = (await ok(env, "list", "--stage", stage)).body["data"]
        if any(r["process_id"] == pid for r in rows):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{pid} never listed in {stage}")


async def test_the_work_list_says_what_waits_for_whom_and_the_command_to_run(staff_env, demo_db):
    env = staff_env
    async with worker(env):
        quote_pid = await rejected_quote(env)
        started = await ok(
            env,
            "classound-order",
            "--account",
            "DELTA",
            "--pbx",
            "PBX-DELTA",
            "--numbers",
            str(ROOT / "demo" / "numbers.txt"),
            "--as",
            "ops-ben",
        )
        order_pid = started.body["data"]["process_id"]
        # the documents sent with a unique start of the process id
        start = order_pid[:-4]
        for kind, name in (("loa", "LOA.pdf"), ("last-invoice", "last-invoice.pdf")):
            await ok(env, "upload", start, "--kind", kind, "--file", str(ROOT / "demo" / name))

        mine = (await ok(env, "inbox", "--as", "ops-ben")).body["data"]
        waits = [(i["waits"], i["process_id"]) for i in mine]
        # oldest first: the quote was rejected before the documents came in
        assert waits.index(("quote-rejected", quote_pid)) < waits.index(
            ("ready-to-confirm", order_pid)
        ), waits
        quote = next(i for i in mine if i["process_id"] == quote_pid)
        assert "phone" in quote["why"] and "invoice e-mail" in quote["why"], quote
        assert quote["next"] == (
            "starter.py update-account --account BERGMANN --phone PHONE --invoice-email EMAIL, "
            f"then starter.py mark-complete {quote_pid}"
        )
        assert "sales_ops" in quote["roles"]
        order = next(i for i in mine if i["process_id"] == order_pid)
        assert order["next"] == f"starter.py confirm {order_pid}"

        code, text = await as_text(env, "inbox", "--as", "ops-ben")
        assert code == 0 and f"next: starter.py confirm {order_pid}" in text, text

        # finance confirms neither: none of it waits for them
        theirs = (await ok(env, "inbox", "--as", "fin-finn")).body["data"]
        assert not {quote_pid, order_pid} & {i["process_id"] for i in theirs}
        # nor may they read sales ops' list: refused, and logged
        refused = await starter(env, "inbox", "--as", "fin-finn", "--role", "sales_ops")
        assert refused.code == 1 and "does not hold it" in refused.body["message"]

        # the command the list gave, as given, moves the order on
        confirmed = await ok(env, *order["next"].split()[1:], "--as", "ops-ben")
        assert confirmed.body["data"]["stage"] == "porting-requested", confirmed.text
        after = (await ok(env, "inbox", "--as", "ops-ben")).body["data"]
        assert order_pid not in {i["process_id"] for i in after if i["waits"] == "ready-to-confirm"}

        # a start that fits several processes: refused, naming them
        await listed(env, quote_pid, "quote-rejected")
        await listed(env, order_pid, "porting-requested")
        ambiguous = await starter(env, "status", "c")
        assert ambiguous.code == 2, ambiguous.text
        assert quote_pid in ambiguous.body["message"] and order_pid in ambiguous.body["message"]
        exact = await ok(env, "status", quote_pid[:-3])
        assert exact.body["data"]["process_id"] == quote_pid

    conn = await asyncpg.connect(demo_db)
    try:
        logged = await conn.fetchval(
            "SELECT count(*) FROM security_log WHERE actor = 'fin-finn'"
            " AND permission = 'starter.inbox'"
        )
    finally:
        await conn.close()
    assert logged == 1


async def test_list_keeps_its_columns_for_long_ids(staff_env):
    env = staff_env
    async with worker(env):
        short = await ok(
            env,
            "fast-change",
            "--account",
            "ACME",
            "--pbx",
            "PBX-ACME",
            "--set",
            "Premium=7",
            "--as",
            "ops-ben",
        )
        long = await ok(
            env,
            "change-order",
            "--account",
            "BERGMANN",
            "--pbx",
            "PBX-BERGMANN",
            "--line",
            "Premium=+1",
            "--ref",
            "R" * 40,
            "--as",
            "ops-ben",
        )
        ids = [short.body["data"]["process_id"], long.body["data"]["process_id"]]
        assert len(ids[1]) > 60  # change-order-BERGMANN- and 40 characters
        for _ in range(100):
            code, text = await as_text(env, "list")
            if all(i in text for i in ids):
                break
            await asyncio.sleep(0.1)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    head, rows = lines[0], [ln for ln in lines if ln.split()[0] in ids]
    assert head.split() == ["PROCESS", "STAGE", "ACCOUNT", "PARTNER"], text
    column = head.index("STAGE")
    for row in rows:  # each row's stage starts under the heading, whatever its id's length
        assert row[column - 2 : column] == "  " and row[column] != " ", text


async def test_the_starter_alone_lists_its_commands_by_process(staff_env):
    code, text = await as_text(staff_env)
    assert code == 0, text
    for heading, command in (
        ("every process:", "inbox"),
        ("change orders (fast and quote based):", "mark-complete"),
        ("CLASSOUND orders and number porting:", "upload"),
        ("renegotiations:", "contract-signed"),
    ):
        after = text.split(heading, 1)[1].split("\n\n", 1)[0]
        assert f"\n  {command} " in after, (heading, text)


async def test_hostile_text_from_a_lead_file_reaches_the_terminal_escaped(staff_env, tmp_path):
    env = staff_env
    queue = f"fair-{uuid.uuid4().hex[:6]}"
    hostile = "Evil\x1b[2J\x1b]0;owned\x07 GmbH \u202efdp.exe"
    leads = tmp_path / "leads.csv"
    leads.write_text(
        "company,name,email,country,postal_code,product\n"
        f"{hostile},Eve,eve@evil.example,DE,80331,Premium\n",
        encoding="utf-8",
    )
    async with worker(env):
        await ok(env, "enable-partner-management", "--as", "admin-ida")
        await ok(
            env,
            "create-partner-account",
            "--partner",
            "P-NORDTEL",
            "--channel-manager",
            "cm-eva",
            "--as",
            "cm-eva",
        )
        await ok(
            env,
            "open-lead-queue",
            "--queue",
            queue,
            "--name",
            "Fair",
            "--partner",
            "P-NORDTEL",
            "--as",
            "cm-eva",
        )
        await ok(env, "add-leads", "--queue", queue, "--file", str(leads), "--as", "cm-eva")
        code, text = await as_text(env, "status", f"lead-queue-{queue}", "--as", "cm-eva")
        as_json = await ok(env, "status", f"lead-queue-{queue}", "--as", "cm-eva")
    assert code == 0, text
    assert "Evil" in text
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in text, repr(text)
    assert "Evil\\x1b[2J\\x1b]0;owned\\x07 GmbH \\u202efdp.exe" in text, text
    # JSON stays JSON: the name as it is, for a script to read
    cards = as_json.body["data"]["lead_cards"]
    assert hostile in [c["company"] for c in cards.values()]


async def test_a_process_that_needs_attention_waits_for_any_staff(staff_env):
    client = await client_for(staff_env)
    pid = f"fast-change-order-ACME-{uuid.uuid4().hex[:8]}"
    # a process as Temporal lists it once a step failed after its retries (no worker needed)
    await client.start_workflow(
        "FastChangeOrder",
        id=pid,
        task_queue=staff_env["PARTNERFLOW_TASK_QUEUE"],
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(PROCESS_KIND, "fast-change-order"),
                SearchAttributePair(STAGE, "needs-attention"),
            ]
        ),
    )
    try:
        for actor in ("fin-finn", "cm-eva"):
            for _ in range(100):
                items = (await ok(staff_env, "inbox", "--as", actor)).body["data"]
                if any(i["process_id"] == pid for i in items):
                    break
                await asyncio.sleep(0.1)
            item = next(i for i in items if i["process_id"] == pid)
            assert (item["waits"], item["roles"]) == ("needs-attention", ["any staff"])
            assert f"starter.py retry {pid}" in item["next"]
    finally:
        await client.get_workflow_handle(pid).terminate("the test has ended")
