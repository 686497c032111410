"""Reads and writes for partner management, partner accounts and partner users. Each write
runs inside `steps.once`. Lock order everywhere: partner account, then its users, then leads
(then claims), so that claims, logins and deactivations of one partner never deadlock."""

import hashlib
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from domain import notices
from domain.errors import Refused
from domain.partners import (
    NOT_ENABLED,
    FirstLoginWrite,
    InvitationWrite,
    first_login_refusal,
    is_password_hash,
)
from store import people
from store.notices import tell

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- partner management -----------------------------------------------------------------------


async def management_setting(conn: Conn) -> dict | None:
    row = await conn.fetchrow("SELECT enabled_at, enabled_by FROM partner_management")
    if row is None:
        return None
    return {"enabled_at": _iso(row["enabled_at"]), "enabled_by": row["enabled_by"]}


async def require_management(conn: Conn) -> None:
    if await conn.fetchval("SELECT 1 FROM partner_management") is None:
        raise Refused(NOT_ENABLED)


async def enable_management(conn: Conn, process_id: str, actor: str) -> dict:
    inserted = await conn.fetchval(
        "INSERT INTO partner_management (enabled_by, process_id) VALUES ($1, $2)"
        " ON CONFLICT (singleton) DO NOTHING RETURNING true",
        actor,
        process_id,
    )
    setting = await management_setting(conn)
    assert setting is not None
    return {"already": not inserted, **setting}


# --- partner accounts -------------------------------------------------------------------------


async def account_status(conn: Conn, partner_id: str) -> dict | None:
    row = await conn.fetchrow(
        "SELECT status, deactivated_at, channel_manager FROM partner_accounts"
        " WHERE partner_id = $1",
        partner_id,
    )
    return dict(row) if row else None


async def open_account(
    conn: Conn, process_id: str, actor: str, partner_id: str, channel_manager: str, name: str | None
) -> dict:
    """The partner is an account record first, then "enabled as partner"."""
    await require_management(conn)
    await people.require_channel_managers(conn, [channel_manager])
    if await conn.fetchval("SELECT 1 FROM partners WHERE id = $1", partner_id) is None:
        if not name:
            raise Refused(
                f"unknown partner {partner_id!r}: give its name (--name) to create "
                "the account record"
            )
        await conn.execute(
            "INSERT INTO partners (id, name, email) VALUES ($1, $2, '')", partner_id, name
        )
    existing = await conn.fetchrow(
        "SELECT status, channel_manager FROM partner_accounts WHERE partner_id = $1 FOR UPDATE",
        partner_id,
    )
    if existing is not None:
        raise Refused(
            f"{partner_id} is already a partner account ({existing['status']}, owned "
            f"by {existing['channel_manager']})"
        )
    await conn.execute(
        "INSERT INTO partner_accounts (partner_id, channel_manager, process_id, created_by)"
        " VALUES ($1, $2, $3, $4)",
        partner_id,
        channel_manager,
        process_id,
        actor,
    )
    return {
        "partner": partner_id,
        "channel_manager": channel_manager,
        **await roster(conn, partner_id),
    }


async def _lock_account(conn: Conn, partner_id: str) -> str:
    status = await conn.fetchval(
        "SELECT status FROM partner_accounts WHERE partner_id = $1 FOR UPDATE", partner_id
    )
    if status is None:
        raise Refused(f"{partner_id} is not a partner account")
    return status


async def _bump(conn: Conn, partner_id: str) -> None:
    await conn.execute(
        "UPDATE partner_accounts SET roster_version = roster_version + 1 WHERE partner_id = $1",
        partner_id,
    )


async def roster(conn: Conn, partner_id: str) -> dict:
    """The partner's users as lead queues see them, and the queues it is in."""
    account = await conn.fetchrow(
        "SELECT status, roster_version FROM partner_accounts WHERE partner_id = $1", partner_id
    )
    users = await conn.fetch(
        "SELECT id, status FROM partner_users WHERE partner_id = $1 ORDER BY id", partner_id
    )
    queues = await conn.fetch(
        "SELECT queue_id FROM lead_queue_partners WHERE partner_id = $1 ORDER BY queue_id",
        partner_id,
    )
    return {
        "roster": {
            "partner_id": partner_id,
            "version": account["roster_version"],
            "active": account["status"] == "active",
            "users": {u["id"]: u["status"] for u in users},
        },
        "queues": [q["queue_id"] for q in queues],
    }


def _user_view(row) -> dict:
    return {
        "user_id": row["id"],
        "status": row["status"],
        "invitations": row["invitations"],
        "link_expires_at": _iso(row["login_link_expires"]),
        "first_login_at": _iso(row["first_login_at"]),
    }


USER_COLUMNS = "id, status, invitations, login_link_expires, first_login_at"


# --- partner users ----------------------------------------------------------------------------


async def invite_user(
    conn: Conn, process_id: str, step: str, actor: str, w: InvitationWrite, portal_url: str
) -> dict:
    """ "Activer l'utilisateur partenaire": the contact becomes a partner user and receives the
    login e-mail. The one-time login token is made here and written only to the outbox row (the
    e-mail to send); PostgreSQL keeps its SHA-256, the result (audit log, Temporal) neither."""
    if await _lock_account(conn, w.partner_id) != "active":
        raise Refused(f"partner account {w.partner_id} is deactivated; nobody can be invited")
    contact = await conn.fetchrow(
        "SELECT partner_id, account_id, email <> '' AS has_email FROM contacts WHERE id = $1",
        w.contact_id,
    )
    if contact is None:
        raise Refused(
            f"unknown contact {w.contact_id!r}: add the contact to partner {w.partner_id} first"
        )
    if contact["partner_id"] != w.partner_id:
        owner = (
            f"partner {contact['partner_id']}"
            if contact["partner_id"]
            else f"customer account {contact['account_id']}"
        )
        raise Refused(f"contact {w.contact_id} belongs to {owner}, not to partner {w.partner_id}")
    if not contact["has_email"]:
        raise Refused(
            f"contact {w.contact_id} has no e-mail address: the login e-mail cannot be "
            "sent; add it to the contact first"
        )
    user = await conn.fetchrow(
        f"SELECT {USER_COLUMNS}, partner_id FROM partner_users WHERE id = $1 FOR UPDATE",
        w.contact_id,
    )
    if user is not None and user["status"] == "active":
        return {"already": True, "user": _user_view(user), **await roster(conn, w.partner_id)}
    if user is not None and user["status"] == "inactive":
        raise Refused(f"{w.contact_id} was deactivated; a deactivated partner user stays so")
    token = secrets.token_urlsafe(32)
    digest = hashlib.sha256(token.encode()).hexdigest()
    user = await conn.fetchrow(
        "INSERT INTO partner_users (id, partner_id, login_token_sha256, login_link_expires,"
        " invited_by) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (id) DO UPDATE SET login_token_sha256 = EXCLUDED.login_token_sha256,"
        " login_link_expires = EXCLUDED.login_link_expires, invited_at = now(),"
        " invited_by = EXCLUDED.invited_by, invitations = partner_users.invitations + 1"
        f" RETURNING {USER_COLUMNS}",
        w.contact_id,
        w.partner_id,
        digest,
        w.expires_at,
        actor,
    )
    await _bump(conn, w.partner_id)
    link = f"{portal_url.rstrip('/')}/first-login?" + urlencode(
        {"partner": w.partner_id, "user": w.contact_id, "token": token}
    )
    await tell(
        conn,
        notices.PartnerUserLogin(
            partner_id=w.partner_id,
            partner_name=await conn.fetchval(
                "SELECT name FROM partners WHERE id = $1", w.partner_id
            ),
            user_id=w.contact_id,
            expires_at=w.expires_at.isoformat(),
        ),
        process_id=process_id,
        step=step,
        recipient_kind="contact",
        recipient_id=w.contact_id,
        secret=link,
    )
    return {"already": False, "user": _user_view(user), **await roster(conn, w.partner_id)}


async def first_login(conn: Conn, w: FirstLoginWrite) -> dict:
    """The first login: the login link is checked, the new password (its argon2id hash, made by
    the portal or the starter) replaces the temporary credential, and the user becomes active."""
    if await _lock_account(conn, w.partner_id) != "active":
        raise Refused(f"partner account {w.partner_id} is deactivated")
    user = await conn.fetchrow(
        f"SELECT {USER_COLUMNS}, partner_id, login_token_sha256 FROM partner_users"
        " WHERE id = $1 FOR UPDATE",
        w.user_id,
    )
    if user is None or user["partner_id"] != w.partner_id:
        raise Refused(f"{w.user_id} is not a user of partner {w.partner_id}")
    reason = first_login_refusal(
        user["status"],
        user["login_token_sha256"],
        user["login_link_expires"],
        w.token_digest,
        w.now,
    )
    if reason:
        raise Refused(reason)
    if user["status"] == "active":
        return {"already": True, "user": _user_view(user), **await roster(conn, w.partner_id)}
    if not is_password_hash(w.password_hash):
        raise Refused(
            "the new password did not arrive as a password hash; use starter.py partner-login"
        )
    user = await conn.fetchrow(
        "UPDATE partner_users SET status = 'active', password_hash = $2, first_login_at = $3,"
        " login_token_sha256 = NULL, login_link_expires = NULL WHERE id = $1"
        f" RETURNING {USER_COLUMNS}",
        w.user_id,
        w.password_hash,
        w.now,
    )
    await _bump(conn, w.partner_id)
    return {"already": False, "user": _user_view(user), **await roster(conn, w.partner_id)}


async def deactivate_account(
    conn: Conn, process_id: str, actor: str, partner_id: str, reason: str
) -> dict:
    """The account and its users are deactivated; their open leads (claimed or assigned, not
    converted) go back, unowned, to the queue each is in."""
    if await _lock_account(conn, partner_id) == "inactive":
        return {"already": True, "users": [], "returned": {}, **await roster(conn, partner_id)}
    await conn.execute(
        "UPDATE partner_accounts SET status = 'inactive', deactivated_at = now(),"
        " deactivated_by = $2, deactivation_reason = $3, roster_version = roster_version + 1"
        " WHERE partner_id = $1",
        partner_id,
        actor,
        reason,
    )
    users = await conn.fetch(
        "UPDATE partner_users SET status = 'inactive', deactivated_at = now(),"
        " login_token_sha256 = NULL, login_link_expires = NULL"
        " WHERE partner_id = $1 AND status <> 'inactive' RETURNING id",
        partner_id,
    )
    leads = await conn.fetch(
        "SELECT l.id, l.queue_id FROM leads l JOIN claims c ON c.lead_id = l.id"
        " AND c.ended_at IS NULL WHERE c.partner_id = $1"
        " AND l.status IN ('owned', 'accepted')"
        " ORDER BY l.id FOR UPDATE OF l",
        partner_id,
    )
    lead_ids = [r["id"] for r in leads]
    if lead_ids:
        await conn.execute(
            "UPDATE claims SET ended_at = now(), ended_reason = 'partner account deactivated'"
            " WHERE lead_id = ANY($1::text[]) AND ended_at IS NULL",
            lead_ids,
        )
        await conn.execute(
            "UPDATE leads SET status = 'queued' WHERE id = ANY($1::text[])", lead_ids
        )
    returned: dict[str, list[str]] = {}
    for r in leads:
        returned.setdefault(r["queue_id"], []).append(r["id"])
    return {
        "already": False,
        "users": sorted(u["id"] for u in users),
        "returned": returned,
        **await roster(conn, partner_id),
    }
