"""The partner portal's sessions, kept server-side: the browser holds only a random id, the
row (keyed by the id's SHA-256, so a copy of the table opens no session) holds the user, the
session's data (its CSRF token, language, messages) and when it started, was last seen and
ended. An ended row opens nothing: logout, a password change and deactivation end the session
on every portal process at once (the last two by the triggers of migration 018)."""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

Conn = Any  # an asyncpg connection of store.db's pool (JSON codecs: data is a dict)


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Live:
    user_id: str | None
    data: dict
    started_at: datetime
    # the session's user as of this read (status, partner, name, language), read with the
    # session in one round trip: every page needs both; None when the session has no user
    user: dict | None = None


# The user's facts a page needs, as store/portal.py's partner_user reads them (no password hash).
_SESSION_AND_USER = (
    "SELECT s.user_id, s.data, s.started_at, s.seen_at, u.id, u.partner_id, u.status,"
    " a.status AS account_status, p.name AS partner_name, c.name,"
    " coalesce(c.language, p.language) AS language"
    " FROM portal_sessions s LEFT JOIN (partner_users u"
    " JOIN partner_accounts a ON a.partner_id = u.partner_id"
    " JOIN partners p ON p.id = u.partner_id JOIN contacts c ON c.id = u.id) ON u.id = s.user_id"
    " WHERE s.id_sha256 = $1 AND s.ended_at IS NULL AND s.seen_at > $2 AND s.started_at > $3"
)
_USER_FACTS = ("id", "partner_id", "status", "account_status", "partner_name", "name", "language")


SEEN_EVERY = timedelta(minutes=1)  # how stale "last seen" may be: a page is a read, not a write


async def open_session(
    conn: Conn, session_id: str, now: datetime, idle: timedelta, absolute: timedelta
) -> Live | None:
    """The live session of this id, or None: unknown, ended, idle for too long or past its
    absolute limit. Marks it seen (at most once a minute: most pages then only read)."""
    key = digest(session_id)
    row = await conn.fetchrow(_SESSION_AND_USER, key, now - idle, now - absolute)
    if row is None:
        return None
    if now - row["seen_at"] > SEEN_EVERY:
        await conn.execute("UPDATE portal_sessions SET seen_at = $2 WHERE id_sha256 = $1", key, now)
    user = {k: row[k] for k in _USER_FACTS} if row["id"] is not None else None
    return Live(row["user_id"], row["data"] or {}, row["started_at"], user)


async def create(
    conn: Conn, session_id: str, user_id: str | None, data: dict, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO portal_sessions (id_sha256, user_id, data, started_at, seen_at)"
        " VALUES ($1, $2, $3, $4, $4)",
        digest(session_id),
        user_id,
        data,
        now,
    )
    # Sessions nobody has used for a day are gone for good: the table must not grow for ever.
    await conn.execute("DELETE FROM portal_sessions WHERE seen_at < $1", now - timedelta(days=1))


async def save(conn: Conn, session_id: str, data: dict) -> None:
    """The session's data as the request left it (only while the session is live)."""
    await conn.execute(
        "UPDATE portal_sessions SET data = $2 WHERE id_sha256 = $1 AND ended_at IS NULL",
        digest(session_id),
        data,
    )


async def end(conn: Conn, session_id: str, why: str) -> None:
    await conn.execute(
        "UPDATE portal_sessions SET ended_at = now(), ended_why = $2"
        " WHERE id_sha256 = $1 AND ended_at IS NULL",
        digest(session_id),
        why,
    )


async def end_all_of(conn: Conn, user_id: str, why: str) -> int:
    """Every live session of the user ends; how many did."""
    ended = await conn.fetch(
        "UPDATE portal_sessions SET ended_at = now(), ended_why = $2"
        " WHERE user_id = $1 AND ended_at IS NULL RETURNING 1",
        user_id,
        why,
    )
    return len(ended)
