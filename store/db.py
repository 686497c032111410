"""The asyncpg pool and the migrations. Plain versioned SQL files, applied in order under
an advisory lock so that several workers starting at once migrate exactly once."""

import json
from importlib import resources

import asyncpg

MIGRATION_LOCK = 7_341_001


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def connect(dsn: str) -> asyncpg.Connection:
    """One connection with the same JSON codecs as the pool (scripts, demo data)."""
    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn


async def _rolled_back_only(conn: asyncpg.Connection) -> None:
    """A connection back in the pool: asyncpg has already rolled back a transaction left
    open; nothing else to undo (session settings, advisory locks and cursors are only ever
    transaction-local here, no one LISTENs), so no reset statement per release."""


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, light_reset: bool = False
) -> asyncpg.Pool:
    """`light_reset`: a released connection costs no round trip (the portal: a page takes
    and gives back a connection several times)."""
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_rolled_back_only if light_reset else None,
    )


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("store") / "migrations"
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text()) for p in files]


async def migrate(dsn: str) -> list[str]:
    """Apply the migrations not yet applied; returns their names."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for version, sql in migration_files():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied.append(version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        await conn.close()
