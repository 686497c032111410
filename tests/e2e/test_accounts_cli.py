"""Accounts as staff use them, through starter.py and worker.py against the dev server and a
database with the README's demo data: BERGMANN's rejected quote fixed with update-account,
the new pipeline (once, even when repeated), bad phone and e-mail refused before anything is
sent, and `account` showing what a change order acts on."""

import asyncio
import uuid

import asyncpg
import pytest

from tests.e2e.cli import environment, starter, worker

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo_env(dev_env, demo_db) -> dict[str, str]:
    address = dev_env.client.service_client.config.target_host
    return environment(address, demo_db, f"e2e-{uuid.uuid4().hex[:8]}")


async def open_processes(env, account: str, until) -> list[dict]:
    """`account`'s open processes; visibility is eventually consistent, so ask until `until`
    holds (10 s at most)."""
    for _ in range(50):
        shown = await starter(env, "account", account)
        assert shown.code == 0, shown.text
        if until(shown.body["data"]["open_processes"]):
            break
        await asyncio.sleep(0.2)
    return shown.body["data"]["open_processes"]


async def test_bergmanns_rejected_quote_is_fixed_with_update_account(demo_env, demo_db):
    ref = uuid.uuid4().hex[:6]
    async with worker(demo_env):
        before = await starter(demo_env, "account", "BERGMANN")
        assert before.code == 0, before.text
        card = before.body["data"]["account"]
        assert (card["phone"], card["invoice_email"]) == ("", "")
        assert "rejected until phone, invoice e-mail are filled in" in before.body["message"]

        started = await starter(
            demo_env,
            "change-order",
            "--account",
            "BERGMANN",
            "--pbx",
            "PBX-BERGMANN",
            "--line",
            "Premium=+2",
            "--ref",
            ref,
        )
        assert started.code == 0, started.text
        pid = started.body["data"]["process_id"]
        assert (await starter(demo_env, "mark-primary", pid)).code == 0
        assert (await starter(demo_env, "publish", pid)).code == 0
        rejected = await starter(demo_env, "mark-complete", pid)
        assert rejected.code == 1
        assert "missing its mandatory phone, invoice e-mail" in rejected.body["message"]
        assert "starter.py update-account" in rejected.body["message"]

        # What staff see before they fix it: the change order waits on the account.
        shown = await open_processes(
            demo_env,
            "BERGMANN",
            lambda ps: any(p["process_id"] == pid and p["stage"] == "quote-rejected" for p in ps),
        )
        assert {
            "process_id": pid,
            "kind": "change-order",
            "stage": "quote-rejected",
        }.items() <= next(p for p in shown if p["process_id"] == pid).items()

        fixed = await starter(
            demo_env,
            "update-account",
            "--account",
            "BERGMANN",
            "--phone",
            "+49 30 1234567",
            "--invoice-email",
            "rechnung@bergmann.example",
            "--as",
            "anna",
        )
        assert fixed.code == 0, fixed.text
        assert fixed.body["message"].startswith(
            "account BERGMANN: phone, invoice e-mail changed; the mandatory phone, e-mail and "
            "invoice e-mail are filled in"
        )

        accepted = await starter(demo_env, "mark-complete", pid)
        assert accepted.code == 0, accepted.text
        assert accepted.body["data"]["stage"] == "awaiting-partner-confirmation"

    conn = await asyncpg.connect(demo_db)
    try:
        account = await conn.fetchrow(
            "SELECT phone, invoice_email FROM accounts WHERE id = 'BERGMANN'"
        )
        assert tuple(account) == ("+49 30 1234567", "rechnung@bergmann.example")
        assert (
            await conn.fetchval("SELECT status FROM orders WHERE process_id = $1", pid)
            == "awaiting_partner_confirmation"
        )
        audit = await conn.fetch(
            "SELECT actor, action FROM audit_log"
            " WHERE process_id LIKE 'account-change-update-account-%'"
        )
        assert [tuple(r) for r in audit] == [("anna", "account fields filled in or corrected")]
    finally:
        await conn.close()


async def test_new_pipeline_creates_customer_project_and_contact_once(demo_env, demo_db):
    account = f"NEWCO{uuid.uuid4().hex[:4].upper()}"
    request = (
        "new-pipeline",
        "--account",
        account,
        "--name",
        "NewCo GmbH",
        "--partner",
        "P-NORDTEL",
        "--phone",
        "+49 (0)30 1234567",
        "--email",
        "info@newco.example",
        "--invoice-email",
        "rechnung@newco.example",
        "--contact-name",
        "Nina Neu",
        "--contact-email",
        "nina@newco.example",
        "--request-id",
        f"pipe-{account}",
    )
    async with worker(demo_env):
        first = await starter(demo_env, *request)
        assert first.code == 0, first.text
        assert first.body["message"].startswith(
            f"new pipeline for {account}: created account, project PBX-{account}, contact "
            f"C-{account}-1"
        )
        again = await starter(demo_env, *request)  # the same request id: the same request
        assert (again.code, again.body) == (first.code, first.body)
        other = await starter(demo_env, *request[:-1], f"pipe-{account}-2")
        assert other.code == 1
        assert f"account {account} exists already" in other.body["message"]

        shown = await starter(demo_env, "account", account)
    assert shown.code == 0, shown.text
    data = shown.body["data"]
    assert (data["account"]["phone"], data["account"]["partner_id"]) == (
        "+49 30 1234567",
        "P-NORDTEL",
    )
    assert [(p["id"], p["active"], p["licences"]) for p in data["pbxs"]] == [
        (f"PBX-{account}", False, [])
    ]
    assert [(c["id"], c["name"], c["email"]) for c in data["contacts"]] == [
        (f"C-{account}-1", "Nina Neu", "nina@newco.example")
    ]

    conn = await asyncpg.connect(demo_db)
    try:
        counts = [
            await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", account)
            for table, column in (
                ("accounts", "id"),
                ("pbxs", "account_id"),
                ("contacts", "account_id"),
            )
        ]
        assert counts == [1, 1, 1]
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE process_id LIKE $1", f"%-{account}-%"
            )
            == 1
        )
    finally:
        await conn.close()


async def test_bad_phone_and_e_mail_are_refused_before_anything_is_sent(demo_env, dev_env):
    # No worker runs: an answer at all shows nothing waited on a process.
    bad = await starter(
        demo_env,
        "update-account",
        "--account",
        "BERGMANN",
        "--phone",
        "030 1234567",
        "--invoice-email",
        "rechnung@bergmann",
    )
    assert bad.code == 2
    assert bad.body["message"] == (
        "--phone: no country code (it must start with + or 00); expected an international "
        "number with its country code, e.g. +49 30 1234567; --invoice-email: not an e-mail "
        "address (The part after the @-sign is not valid. It should have a period.); expected "
        "an e-mail address like name@company.example"
    )
    account = f"BAD{uuid.uuid4().hex[:4].upper()}"
    pipeline = await starter(
        demo_env,
        "new-pipeline",
        "--account",
        account,
        "--name",
        "Bad AG",
        "--partner",
        "P-NORDTEL",
        "--phone",
        "+49 30 1234567 ext 5",
        "--email",
        "info@bad.example",
        "--invoice-email",
        "rechnung",
        "--contact-name",
        "Bo",
    )
    assert pipeline.code == 2
    assert pipeline.body["message"].startswith("--phone: only digits, spaces and - . / ( ) ")
    assert "; --invoice-email: not an e-mail address" in pipeline.body["message"]
    for args, says in (
        (("update-account", "--account", "BERGMANN"), "nothing to change"),
        (
            ("update-account", "--account", "BERG MANN", "--phone", "+49 30 1234567"),
            "--account: use letters, digits and -",
        ),
        (("update-account", "--account", "BERGMANN", "--email", " "), "--email: empty"),
        (("account", "BERG\nMANN"), "account: use letters, digits and -"),
    ):
        refused = await starter(demo_env, *args)
        assert (refused.code, says in refused.body["message"]) == (2, True), refused.text
    sent = await dev_env.client.count_workflows(f'AccountId = "{account}"')
    assert sent.count == 0


async def test_account_shows_what_a_change_order_acts_on(demo_env):
    async with worker(demo_env):
        shown = await starter(demo_env, "account", "ACME")
        unknown = await starter(demo_env, "account", "NOPE")
    assert shown.code == 0, shown.text
    (pbx,) = shown.body["data"]["pbxs"]
    totals = {}
    for block in pbx["licences"]:
        totals[block["licence_type"]] = totals.get(block["licence_type"], 0) + block["quantity"]
    assert totals == {"Basic": 5, "Essential": 10, "Premium": 8, "Business": 2}
    assert [(p["sku"], p["quantity"]) for p in pbx["products"]] == [("WP480G", 3)]
    assert [(f["licence_type"], f["dids"]) for f in pbx["flats"]] == [
        ("Premium", ["+49 30 5550121", "+49 30 5550122"]),
        ("Premium", ["+49 30 5550123"]),
    ]
    text = shown.body["message"]
    for line in (
        'PBX PBX-ACME "Acme HQ Berlin" (active)',
        "licence:      Premium 8",
        "WP480G x3",
        "on Premium from 2025-01-01: +49 30 5550121, +49 30 5550122",
        "open processes:",
    ):
        assert line in text, text
    assert unknown.code == 1 and unknown.body["message"] == "unknown account 'NOPE'"
