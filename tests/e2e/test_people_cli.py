"""The starter and the people directory, as staff use them: `--as` names an active
staff member (a partner user, a made-up name, a deactivated member refused before anything
is sent), the identity comes from configuration and never from $USER, staff are managed by
an admin with audited commands, and ops read the security log. Nothing here reaches Temporal
(the address points nowhere): the refusals happen at the starter's edge."""

import asyncio
import os
import uuid

import asyncpg
import pytest

from store import demo
from store.db import connect
from tests.conftest import new_database
from tests.e2e.cli import environment, starter
from tests.e2e.forked import spawn
from tests.records_partners import PASSWORD_HASH

NOWHERE = "127.0.0.1:1"  # nothing listens: a command that got past the edge would exit 4


@pytest.fixture(scope="module")
async def demo_db(postgres_admin_dsn) -> str:
    """The demo data and its directory; Chloé Martin (C-ALP-1) and Anna Holm (C-NORD-1) are
    partner users (invited and logged in)."""
    dsn = await new_database(postgres_admin_dsn, "partnerflow_people", test_staff=False)
    conn = await connect(dsn)
    try:
        await demo.load(conn)
        await conn.execute(
            "INSERT INTO partner_management (enabled_by, process_id) VALUES ('admin-ida', 'tests')"
        )
        for user, partner in (("C-NORD-1", "P-NORDTEL"), ("C-ALP-1", "P-ALPCOM")):
            await conn.execute(
                "INSERT INTO partner_accounts (partner_id, channel_manager,"
                " process_id, created_by) VALUES ($1, 'cm-eva', 'tests',"
                " 'cm-eva')",
                partner,
            )
            await conn.execute(
                "INSERT INTO partner_users (id, partner_id, status, password_hash,"
                " first_login_at, invited_by) VALUES ($1, $2, 'active', $3, now(), 'cm-eva')",
                user,
                partner,
                PASSWORD_HASH,
            )
    finally:
        await conn.close()
    return dsn


@pytest.fixture
def env(demo_db) -> dict[str, str]:
    e = environment(NOWHERE, demo_db, f"people-{uuid.uuid4().hex[:8]}")
    e["PARTNERFLOW_ACTOR"] = "ops-anna"
    return e


async def security_rows(dsn: str, actor: str) -> list:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(
            "SELECT permission, process_id, reason, checked_in FROM"
            " security_log WHERE actor = $1 ORDER BY id",
            actor,
        )
    finally:
        await conn.close()


IMPERSONATIONS = [
    (
        "C-ALP-1",
        ["confirm", "fast-change-order-ACME-1a2b3c4d"],
        "--as C-ALP-1: a user of partner P-ALPCOM, not staff",
    ),
    (
        "C-ALP-1",
        ["create-partner-account", "--partner", "P-NORDTEL", "--channel-manager", "C-ALP-1"],
        "a user of partner P-ALPCOM, not staff",
    ),
    (
        "C-NORD-1",
        ["publish", "change-order-ACME-1a2b3c4d"],
        "a user of partner P-NORDTEL, not staff",
    ),
    ("intern-joe", ["enable-partner-management"], "--as intern-joe: not in the people directory"),
    (
        "C-FJORD-1",
        ["contract-signed", "renegotiation-FJORDBYGG-1a2b3c4d"],
        "a customer's signer, not staff",
    ),
]


async def test_the_starter_refuses_anyone_but_active_staff_before_sending(env, demo_db):
    for actor, argv, words in IMPERSONATIONS:
        answer = await starter(env, *argv, "--as", actor)
        assert answer.code == 1, answer.text  # refused (had it been sent: exit 4 here)
        assert words in answer.body["message"], answer.body
        rows = await security_rows(demo_db, actor)
        assert (rows[-1]["permission"], rows[-1]["checked_in"], rows[-1]["reason"]) == (
            f"starter.{argv[0]}",
            "starter",
            answer.body["message"],
        )


async def test_the_identity_comes_from_configuration_never_from_user(env, demo_db):
    no_identity = {k: v for k, v in env.items() if k != "PARTNERFLOW_ACTOR"}
    no_identity["USER"] = "cm-eva"  # a staff member's login name is not an identity
    # a command of PostgreSQL only: with Temporal down, one that needs it would say that first
    answer = await starter(no_identity, "outbox")
    assert answer.code == 2
    assert "--as: who are you?" in answer.body["message"]
    assert "PARTNERFLOW_ACTOR" in answer.body["message"]
    # the configured identity passes the edge (and then finds no Temporal: exit 4)
    answer = await starter(env, "status", "fast-change-order-ACME-1a2b3c4d")
    assert answer.code == 4, answer.text


async def test_an_admin_manages_staff_each_change_audited_and_others_are_refused(env, demo_db):
    user = f"ops-{uuid.uuid4().hex[:4]}"
    refused = await starter(
        env,
        "staff",
        "add",
        "--user",
        user,
        "--name",
        "Lea Franke",
        "--email",
        "lea@partnerflow.example",
        "--role",
        "sales_ops",
        "--as",
        "ops-ben",
    )
    assert refused.code == 1
    assert refused.body["message"] == (
        "only an active admin manages staff; ops-ben is not an admin (sales_ops)"
    )
    assert [r["permission"] for r in await security_rows(demo_db, "ops-ben")] == ["staff.add"]

    steps = [
        (
            [
                "add",
                "--user",
                user,
                "--name",
                "Lea Franke",
                "--email",
                "lea@partnerflow.example",
                "--role",
                "sales_ops",
            ],
            f"{user} (Lea Franke) added as staff with sales_ops",
        ),
        (
            ["grant", "--user", user, "--role", "customer_care"],
            f"{user} has customer_care, sales_ops",
        ),
        (["revoke", "--user", user, "--role", "sales_ops"], f"{user} has customer_care"),
    ]
    for argv, message in steps:
        done = await starter(env, "staff", *argv, "--as", "admin-ida")
        assert (done.code, done.body["message"]) == (0, message)
    listed = await starter(env, "staff", "list")
    mine = next(r for r in listed.body["data"] if r["id"] == user)
    assert (mine["status"], mine["roles"]) == ("active", ["customer_care"])

    # now staff: past the edge (exit 4: no Temporal here); deactivated: refused at the edge
    assert (await starter(env, "status", "x-1", "--as", user)).code == 4
    done = await starter(env, "staff", "deactivate", "--user", user, "--as", "admin-ida")
    assert done.code == 0 and "deactivated" in done.body["message"]
    answer = await starter(env, "status", "x-1", "--as", user)
    assert (answer.code, answer.body["message"]) == (
        1,
        f"--as {user}: deactivated in the people directory",
    )

    conn = await asyncpg.connect(demo_db)
    try:
        audited = await conn.fetch(
            "SELECT actor, action FROM audit_log WHERE process_id ="
            " 'people-directory' AND result->>'message' LIKE $1"
            " ORDER BY id",
            f"{user}%",
        )
    finally:
        await conn.close()
    assert [(r["actor"], r["action"]) for r in audited] == [
        ("admin-ida", "staff add"),
        ("admin-ida", "staff grant"),
        ("admin-ida", "staff revoke"),
        ("admin-ida", "staff deactivate"),
    ]


async def test_ops_read_the_security_log(env, demo_db):
    await starter(env, "confirm", "fast-change-order-ACME-1a2b3c4d", "--as", "C-ALP-1")
    log = await starter(env, "security-log")
    assert log.code == 0
    row = log.body["data"][0]
    assert (row["actor"], row["permission"], row["checked_in"]) == (
        "C-ALP-1",
        "starter.confirm",
        "starter",
    )
    assert row["process_id"] == "fast-change-order-ACME-1a2b3c4d" and row["at"]
    later = await starter(env, "security-log", "--since", "2999-01-01")
    assert (later.code, later.body["data"]) == (0, [])
    bad = await starter(env, "security-log", "--since", "yesterday")
    assert bad.code == 2


async def test_the_first_admin_of_an_empty_directory(postgres_admin_dsn):
    dsn = await new_database(postgres_admin_dsn, "partnerflow_admin", test_staff=False)
    env = {**os.environ, "DATABASE_URL": dsn}

    async def store(*args: str) -> str:
        # `python -m store ...` as a process of its own, forked from the pre-started
        # interpreter (tests/e2e/forked.py)
        proc = await spawn(
            env,
            ["-m", "store", *args],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        return out.decode()

    first = await store("first-admin", "boss", "Bo Boss", "bo@x.example")
    assert first.startswith("boss (Bo Boss) is the first admin")
    again = await store("first-admin", "other", "O", "o@x.example")
    assert again.startswith("refused: the directory has an admin (boss)")
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval(
            "SELECT array_agg(user_id) FROM staff_roles WHERE role = 'admin'"
        ) == ["boss"]
    finally:
        await conn.close()
