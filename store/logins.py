"""The portal's doors in PostgreSQL: attempts at logging in (and at the first login and the
password links) per (user, address) and per address, and the one-time links that set a
forgotten password. The rules that judge the attempts are in domain/portal.py."""

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from domain import notices
from domain.portal import LOOKBACK, Attempt
from store.notices import tell

Conn = Any  # an asyncpg connection


async def lock_pair(conn: Conn, user_id: str, client: str) -> None:
    """Serialises the attempts of one (user, address) pair across portal processes (inside a
    transaction): two guesses at once cannot both slip under the backoff."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('portal-login:' || $1 || ' ' || $2))",
        user_id,
        client,
    )


async def pair_attempts(conn: Conn, user_id: str, client: str, now: datetime) -> list[Attempt]:
    rows = await conn.fetch(
        "SELECT succeeded, at FROM portal_login_attempts WHERE user_id = $1 AND client = $2"
        " AND at > $3 ORDER BY at DESC LIMIT 200",
        user_id,
        client,
        now - LOOKBACK,
    )
    return [Attempt(r["succeeded"], r["at"]) for r in rows]


async def client_attempts(conn: Conn, client: str, since: datetime) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM portal_login_attempts WHERE client = $1 AND at > $2", client, since
    )


async def record_attempt(
    conn: Conn, kind: str, user_id: str, client: str, succeeded: bool, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO portal_login_attempts (kind, user_id, client, succeeded, at)"
        " VALUES ($1, $2, $3, $4, $5)",
        kind,
        user_id[:254],
        client[:64],
        succeeded,
        now,
    )
    # Old attempts say nothing any more: a table of guesses must not grow for ever.
    await conn.execute("DELETE FROM portal_login_attempts WHERE at < $1", now - timedelta(days=1))


# --- first login ------------------------------------------------------------------------------


async def pending_invitation(conn: Conn, partner_id: str, user_id: str) -> Any:
    """The invited user's token digest and expiry, or None (not invited, not of this partner,
    already active)."""
    return await conn.fetchrow(
        "SELECT u.login_token_sha256, u.login_link_expires FROM partner_users u"
        " JOIN partner_accounts a ON a.partner_id = u.partner_id AND a.status = 'active'"
        " WHERE u.id = $1 AND u.partner_id = $2 AND u.status = 'invited'",
        user_id,
        partner_id,
    )


# --- a forgotten password ---------------------------------------------------------------------


async def active_user_by(conn: Conn, who: str) -> str | None:
    """The active partner user a person names by user id or by e-mail address, or None."""
    return await conn.fetchval(
        "SELECT u.id FROM partner_users u JOIN contacts c ON c.id = u.id"
        " JOIN partner_accounts a ON a.partner_id = u.partner_id AND a.status = 'active'"
        " WHERE u.status = 'active' AND (u.id = $1 OR (position('@' in $1) > 0"
        " AND lower(c.email) = lower($1))) ORDER BY u.id LIMIT 1",
        who,
    )


class _Undo(Exception):
    """Rolls back the writes made for nobody (see `send_reset_link`)."""


async def send_reset_link(
    conn: Conn, user_id: str | None, who: str, portal_url: str, expires_at: datetime
) -> None:
    """A one-time link to set a new password, e-mailed through the outbox like an invitation
    (sealed at rest until the relay sends it). For nobody (an unknown id or
    address) the same writes are made and undone, so that the answer takes the same time
    whoever is named."""
    token = secrets.token_urlsafe(32)
    digest = hashlib.sha256(token.encode()).hexdigest()
    recipient = user_id or who[:64]
    try:
        async with conn.transaction():
            if user_id is not None:
                reset_id = await conn.fetchval(
                    "INSERT INTO portal_password_resets (user_id, token_sha256, expires_at)"
                    " VALUES ($1, $2, $3) RETURNING id",
                    user_id,
                    digest,
                    expires_at,
                )
            else:
                reset_id = await conn.fetchval("SELECT nextval('portal_password_resets_id_seq')")
            link = f"{portal_url.rstrip('/')}/reset-password?" + urlencode(
                {"user": recipient, "token": token}
            )
            await tell(
                conn,
                notices.PasswordReset(user_id=recipient, expires_at=expires_at.isoformat()),
                process_id=f"password-reset-{recipient}",
                step=f"reset-{reset_id}",
                recipient_kind="contact",
                recipient_id=recipient,
                secret=link,
            )
            if user_id is None:
                raise _Undo()
    except _Undo:
        pass


async def open_reset(conn: Conn, user_id: str, digest: str, now: datetime) -> Any:
    """The unused, unexpired link of this user with this token digest, locked, or None."""
    return await conn.fetchrow(
        "SELECT r.id FROM portal_password_resets r JOIN partner_users u ON u.id = r.user_id"
        " AND u.status = 'active' JOIN partner_accounts a ON a.partner_id = u.partner_id"
        " AND a.status = 'active' WHERE r.user_id = $1 AND r.token_sha256 = $2"
        " AND r.used_at IS NULL AND r.expires_at > $3 FOR UPDATE OF r",
        user_id,
        digest,
        now,
    )


async def set_password(conn: Conn, reset_id: int, user_id: str, password_hash: str) -> None:
    """The link is used up (with every other open link of the user) and the new password set;
    the database ends every session of the user in the same transaction (migration 018)."""
    await conn.execute(
        "UPDATE portal_password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL",
        user_id,
    )
    await conn.execute(
        "UPDATE partner_users SET password_hash = $2 WHERE id = $1", user_id, password_hash
    )
    await conn.execute(
        "INSERT INTO audit_log (process_id, step, actor, action, detail)"
        " VALUES ($1, $2, $3, 'password set by a one-time link', $4)",
        f"password-reset-{user_id}",
        f"set-{reset_id}",
        user_id,
        {"reset": reset_id},
    )
