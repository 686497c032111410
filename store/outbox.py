"""The outbox's delivery records (migration 009): claiming a due row for one relay, resolving
its recipient from the records, stamping the outcome, listing and resending for staff.

One-time links at rest: `notifications.secret` holds the link sealed with the
payload key ring (AES-256-GCM, the row id as associated data, so a sealed value copied to
another row does not open), `sealed:v1:<key id>:<base64 nonce+ciphertext>`. Only the relay
opens it, to put it in the message; then it is blanked, and its SHA-256 stays for lookup.
Without a key ring (test systems, PARTNERFLOW_ALLOW_PLAINTEXT=1) and in rows written before
this, the value is the clear link: read both, by the prefix. Tests and tools read a pending
link only through `pending_link()`."""

import base64
import os
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import config
from domain.errors import Refused
from domain.notifications import FAILED, GIVEN_UP, SENT

Conn = Any

SEALED = "sealed:v1:"


class LinkUnreadable(Exception):
    """A sealed link whose key is not in this process's key ring (not given up: the ring
    can be fixed, and the relay tries again with back-off)."""


def _context(row_id: int) -> bytes:
    return f"notifications/{row_id}".encode()


def seal_link(link: str, row_id: int) -> str:
    """The value stored for the link of outbox row `row_id`."""
    ring = config.key_ring()
    if ring is None:
        return link  # no key ring on this system: kept as before, in clear until sent
    key_id, key = next(iter(ring.items()))
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, link.encode(), _context(row_id))
    return f"{SEALED}{key_id}:{base64.b64encode(nonce + sealed).decode()}"


def open_link(stored: str | None, row_id: int, ring: dict[str, bytes] | None = None) -> str | None:
    """The clear link of a stored value; `ring`: another key ring than this process's own
    (a tool reading a worker's outbox from outside it)."""
    if stored is None or not stored.startswith(SEALED):
        return stored  # a clear row (no key ring, or written before sealing)
    key_id, _, data = stored.removeprefix(SEALED).partition(":")
    key = (ring or config.key_ring() or {}).get(key_id)
    if key is None:
        raise LinkUnreadable(
            f"outbox row {row_id}: its link is sealed with key {key_id!r}, "
            "which is not in PARTNERFLOW_ENCRYPTION_KEYS"
        )
    raw = base64.b64decode(data)
    return AESGCM(key).decrypt(raw[:12], raw[12:], _context(row_id)).decode()


async def store_link(conn: Conn, row_id: int, link: str) -> None:
    await conn.execute(
        "UPDATE notifications SET secret = $2 WHERE id = $1", row_id, seal_link(link, row_id)
    )


async def pending_link(
    conn: Conn,
    notification_id: int | None = None,
    *,
    recipient_id: str | None = None,
    process_id: str | None = None,
    template: str | None = None,
    ring: dict[str, bytes] | None = None,
) -> str | None:
    """The one-time link of a message not sent yet: by its id, or the newest one for a
    recipient / process / template. The one way tests and tools read a link: after the
    relay sent it, only the delivered message has it (None here)."""
    row = await conn.fetchrow(
        "SELECT id, secret FROM notifications WHERE secret IS NOT NULL AND status <> 'sent'"
        " AND ($1::bigint IS NULL OR id = $1) AND ($2::text IS NULL OR recipient_id = $2)"
        " AND ($3::text IS NULL OR process_id = $3) AND ($4::text IS NULL OR template = $4)"
        " ORDER BY id DESC LIMIT 1",
        notification_id,
        recipient_id,
        process_id,
        template,
    )
    return open_link(row["secret"], row["id"], ring) if row else None


COLUMNS = (
    "id, process_id, run, step, recipient_kind, recipient_id, template, payload, secret,"
    " secret_sha256, status, attempts, resent, created_at"
)


async def claim_next(conn: Conn) -> Any:
    """The oldest due row, locked for this transaction. SKIP LOCKED: a row another relay is
    sending is passed over, so replicas share the work and never send a row twice. The lock
    is held while the message goes out; a relay that dies lets go of it (its transaction is
    rolled back) and the row is due again at once."""
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM notifications"
        " WHERE status IN ('queued', 'failed') AND next_attempt_at <= now()"
        " ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
    )


async def recipient(conn: Conn, kind: str, recipient_id: str) -> Any:
    """Name, e-mail, phone, language and signing authority of whoever the row names, read from
    the records at sending time (never from the payload a workflow wrote): a partner, a
    partner's contact, a customer account, or a person of the staff directory."""
    if kind == "partner":
        return await conn.fetchrow(
            "SELECT name, email, '' AS phone, language, false AS can_sign"
            " FROM partners WHERE id = $1",
            recipient_id,
        )
    if kind == "contact":
        return await conn.fetchrow(
            "SELECT c.name, c.email, c.phone, coalesce(c.language, p.language) AS language,"
            " c.signing_authority AS can_sign FROM contacts c"
            " LEFT JOIN partners p ON p.id = c.partner_id WHERE c.id = $1",
            recipient_id,
        )
    if kind == "staff":
        # staff (channel managers among them) at their address in the people directory
        return await conn.fetchrow(
            "SELECT name, email, '' AS phone, NULL::text AS language, false AS can_sign"
            " FROM staff_users WHERE id = $1 AND status = 'active'",
            recipient_id,
        )
    if kind == "account":
        return await conn.fetchrow(
            "SELECT name, email, phone, NULL::text AS language, false AS can_sign"
            " FROM accounts WHERE id = $1",
            recipient_id,
        )
    return None


async def mark_sent(
    conn: Conn, row_id: int, *, channel: str, address: str, language: str, subject: str
) -> None:
    """Sent: the one-time link is blanked, its hash stays."""
    await conn.execute(
        "UPDATE notifications SET status = $2, sent_at = now(), attempts = attempts + 1,"
        " last_error = NULL, channel = $3, address = $4, language = $5, subject = $6,"
        " secret = NULL WHERE id = $1",
        row_id,
        SENT,
        channel,
        address,
        language,
        subject,
    )


async def mark_failed(
    conn: Conn,
    row_id: int,
    *,
    reason: str,
    retry_in: timedelta | None,
    channel: str | None = None,
    address: str | None = None,
) -> str:
    """One failed attempt: tried again after `retry_in`, or given up (None)."""
    status = FAILED if retry_in is not None else GIVEN_UP
    await conn.execute(
        "UPDATE notifications SET status = $2, attempts = attempts + 1, last_error = $3,"
        " next_attempt_at = now() + $4::interval, channel = coalesce($5, channel),"
        " address = coalesce($6, address) WHERE id = $1",
        row_id,
        status,
        reason[:1000],
        retry_in or timedelta(0),
        channel,
        address,
    )
    return status


async def listing(conn: Conn, *, failed_only: bool, limit: int) -> list[dict]:
    where = "WHERE status IN ('failed', 'given_up')" if failed_only else ""
    rows = await conn.fetch(
        "SELECT id, process_id, step, template, recipient_kind, recipient_id, status, attempts,"
        " last_error, channel, address, language, subject, created_at, sent_at,"
        " next_attempt_at, resent, secret_sha256 IS NOT NULL AS has_link"
        f" FROM notifications {where} ORDER BY id DESC LIMIT $1",
        limit,
    )
    return [dict(r) for r in rows]


async def resend(conn: Conn, row_id: int, actor: str) -> dict:
    """Queue a message again (a staff step, audited). A message whose one-time link was sent
    and blanked cannot be sent again: the link is gone (and may have been used); a new
    invitation or contract sending makes a new one."""
    row = await conn.fetchrow(
        "SELECT id, process_id, run, status, secret IS NULL AND secret_sha256 IS NOT NULL"
        " AS link_gone, resent FROM notifications WHERE id = $1 FOR UPDATE",
        row_id,
    )
    if row is None:
        raise Refused(f"there is no message {row_id} in the outbox")
    if row["link_gone"]:
        raise Refused(
            f"message {row_id} carried a one-time link that was sent and blanked; "
            "it cannot be sent again: invite the user again / send the contract again"
        )
    if row["status"] == "queued":
        raise Refused(f"message {row_id} is queued already: the relay sends it shortly")
    n = row["resent"] + 1
    await conn.execute(
        "UPDATE notifications SET status = 'queued', attempts = 0, next_attempt_at = now(),"
        " last_error = NULL, sent_at = NULL, resent = $2 WHERE id = $1",
        row_id,
        n,
    )
    await conn.execute(
        "INSERT INTO audit_log (process_id, run, step, actor, action, detail)"
        " VALUES ($1, $2, $3, $4, 'message queued again', $5)",
        row["process_id"],
        row["run"],
        f"resend-message/{row_id}/{n}",
        actor,
        {"notification_id": row_id, "was": row["status"]},
    )
    return {"id": row_id, "was": row["status"], "status": "queued", "resent": n}
