"""The public halves of the staff's (and services') signing keys: enrolled and revoked by an
admin, never deleted (see codec.signing)."""

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from codec.signing import STAFF, key_id_of, load_signer, new_key_file, public_bytes

Conn = Any


async def enrol(
    conn: Conn, *, holder: str, public: Ed25519PublicKey, enrolled_by: str, kind: str = STAFF
) -> str:
    """The key's id; enrolling the same public key again changes nothing."""
    key_id = key_id_of(public)
    await conn.execute(
        "INSERT INTO staff_keys (key_id, holder, kind, public_key, enrolled_by)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key_id) DO NOTHING",
        key_id,
        holder,
        kind,
        public_bytes(public),
        enrolled_by,
    )
    return key_id


async def revoke(conn: Conn, *, holder: str, revoked_by: str) -> list[str]:
    """Revokes every active key of `holder`; the ids revoked."""
    rows = await conn.fetch(
        "UPDATE staff_keys SET revoked_at = now(), revoked_by = $2"
        " WHERE holder = $1 AND revoked_at IS NULL RETURNING key_id",
        holder,
        revoked_by,
    )
    return [r["key_id"] for r in rows]


async def keys(conn: Conn, holder: str) -> list[dict]:
    rows = await conn.fetch(
        "SELECT key_id, kind, enrolled_at, enrolled_by, revoked_at, revoked_by"
        " FROM staff_keys WHERE holder = $1 ORDER BY enrolled_at",
        holder,
    )
    return [dict(r) for r in rows]


async def key_file_enrolled(
    conn: Conn, path: Path, *, holder: str, kind: str = STAFF, enrolled_by: str
) -> str:
    """The key of `path`, made when there is none (never over an existing file) and enrolled
    for `holder` when the directory does not know it yet (the demo's people, the worker's
    own key). A key revoked stays revoked."""
    if path.exists():
        public = load_signer(path).private.public_key()
    else:
        public = new_key_file(path)
    return await enrol(conn, holder=holder, public=public, enrolled_by=enrolled_by, kind=kind)
