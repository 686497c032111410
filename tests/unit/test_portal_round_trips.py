"""What a portal request costs PostgreSQL beyond its page: the session is read with its user
in one statement, and a connection given back to the portal's pool costs no statement (a
transaction left open is still rolled back)."""

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from store import sessions
from store.db import create_pool
from tests.records_partners import new_partner

IDLE, ABSOLUTE = timedelta(hours=8), timedelta(hours=12)


async def test_a_session_is_read_with_its_users_facts(pool):
    partner = await new_partner(pool, users=1)
    user_id = partner.users[0]
    with_user, without = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        await sessions.create(conn, with_user, user_id, {"csrf": "x"}, now)
        await sessions.create(conn, without, None, {"lang": "de"}, now)
        live = await sessions.open_session(conn, with_user, now, IDLE, ABSOLUTE)
        anonymous = await sessions.open_session(conn, without, now, IDLE, ABSOLUTE)
    assert live is not None and live.user is not None
    assert live.user["id"] == user_id
    assert live.user["partner_id"] == partner.id
    assert live.user["status"] == "active" and live.user["account_status"] == "active"
    assert live.data == {"csrf": "x"}
    assert anonymous is not None and anonymous.user is None and anonymous.data == {"lang": "de"}


@pytest.mark.parametrize("light_reset, statements", [(True, 1), (False, 2)])
async def test_a_connection_given_back_costs_a_statement_only_without_the_light_reset(
    database_url, light_reset, statements
):
    """One statement on a connection taken and given back: with the light reset, that
    statement is all the connection sends (the count is asyncpg's own, of what it sent)."""
    portal_pool = await create_pool(database_url, max_size=1, light_reset=light_reset)
    try:
        async with portal_pool.acquire() as conn:
            raw = conn._con  # the connection itself, behind the pool's proxy
            sent_before = raw._protocol.queries_count
            await conn.fetchval("SELECT 1")
        async with portal_pool.acquire() as again:
            assert again._con is raw  # max_size=1: the same connection back
            sent_after = raw._protocol.queries_count
        assert sent_after - sent_before == statements
    finally:
        await portal_pool.close()


async def test_a_transaction_left_open_is_rolled_back_when_given_back(database_url):
    portal_pool = await create_pool(database_url, max_size=1, light_reset=True)
    try:
        async with portal_pool.acquire() as conn:
            await conn.execute("BEGIN")  # not managed: left open on purpose
            await conn.execute("SELECT set_config('partnerflow.step_run', 'left-open', true)")
        async with portal_pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT current_setting('partnerflow.step_run', true)") in (
                None,
                "",
            )
    finally:
        await portal_pool.close()
