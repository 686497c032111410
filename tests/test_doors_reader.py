"""The staff reader role reads the portal's doors' records but none of their secrets: not a
session's id hash or data (its CSRF token), not a password link's token hash."""

import asyncpg
import pytest

from store.records import reading


@pytest.mark.parametrize(
    ("table", "secret", "readable"),
    [
        ("portal_sessions", "id_sha256", "user_id"),
        ("portal_sessions", "data", "user_id"),
        ("portal_password_resets", "token_sha256", "user_id"),
    ],
)
async def test_a_read_sees_no_secret_of_the_doors(database_url, table, secret, readable):
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with reading(database_url) as conn:
            await conn.fetch(f"SELECT {secret} FROM {table} LIMIT 1")
    async with reading(database_url) as conn:  # the rest of the row stays readable
        await conn.fetch(f"SELECT {readable} FROM {table} LIMIT 1")
