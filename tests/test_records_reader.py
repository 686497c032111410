"""Staff reads go through a read-only path (store/records.py `reading`): a read-only
transaction under the partnerflow_reader role, which reads the records, no secret, and writes
nothing. On the real PostgreSQL."""

import asyncpg
import pytest

from store.records import READER, reading


async def test_a_read_runs_as_the_reader_in_a_read_only_transaction(database_url):
    async with reading(database_url) as conn:
        assert await conn.fetchval("SELECT current_user") == READER
        assert await conn.fetchval("SHOW transaction_read_only") == "on"
        assert await conn.fetchval("SELECT count(*) FROM accounts") >= 0


async def test_a_read_can_write_nothing(database_url):
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        async with reading(database_url) as conn:
            await conn.execute(
                "INSERT INTO security_log (actor, permission, process_id, reason, checked_in)"
                " VALUES ('x', 'y', '-', 'z', 'starter')"
            )


@pytest.mark.parametrize(
    ("table", "secret"),
    [
        ("partner_users", "password_hash"),
        ("partner_users", "login_token_sha256"),
        ("notifications", "secret"),
        ("contracts", "signing_token_sha256"),
    ],
)
async def test_a_read_sees_no_secret(database_url, table, secret):
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with reading(database_url) as conn:
            await conn.fetch(f"SELECT {secret} FROM {table} LIMIT 1")
    async with reading(database_url) as conn:  # the rest of the row stays readable
        await conn.fetch(f"SELECT id FROM {table} LIMIT 1")


async def test_the_reader_may_read_and_log_a_refusal_and_nothing_else(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT privilege_type, table_name FROM information_schema.role_table_grants"
            " WHERE grantee = $1 AND privilege_type <> 'SELECT'",
            READER,
        )
    finally:
        await conn.close()
    assert [(r["privilege_type"], r["table_name"]) for r in rows] == [("INSERT", "security_log")]
