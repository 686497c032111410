"""Reads of a customer's PBX that change orders and CLASSOUND orders both make: its
licences and active CLASSOUND-FLATs per licence type, and why a PBX was not found."""

from typing import Any, NoReturn

from domain.catalogue import LicenceType
from domain.errors import Refused

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free


async def account_exists(conn: Conn, account_id: str) -> bool:
    return await conn.fetchval("SELECT 1 FROM accounts WHERE id = $1", account_id) is not None


async def refuse_missing_pbx(conn: Conn, account_id: str, pbx_id: str) -> NoReturn:
    """The account's PBX was not found: say whether the account or only the PBX is unknown."""
    if not await account_exists(conn, account_id):
        raise Refused(f"unknown account {account_id!r}")
    raise Refused(f"account {account_id} has no PBX {pbx_id!r}")


async def licence_totals(conn: Conn, pbx_id: str) -> dict[LicenceType, int]:
    """Licences per type; a type the PBX has none of is left out."""
    return {
        LicenceType(r["licence_type"]): r["quantity"]
        for r in await conn.fetch(
            "SELECT licence_type, sum(quantity)::int AS quantity FROM licences"
            " WHERE pbx_id = $1 GROUP BY licence_type HAVING sum(quantity) > 0",
            pbx_id,
        )
    }


async def flat_totals(conn: Conn, pbx_id: str) -> dict[LicenceType, int]:
    """Active CLASSOUND-FLATs per licence type they are linked to."""
    return {
        LicenceType(r["licence_type"]): r["n"]
        for r in await conn.fetch(
            "SELECT f.licence_type, count(*)::int AS n FROM pbx_products f"
            " JOIN catalogue c ON c.sku = f.sku AND c.kind = 'classound_flat'"
            " WHERE f.pbx_id = $1 AND f.status = 'active' AND f.licence_type IS NOT NULL"
            " GROUP BY f.licence_type",
            pbx_id,
        )
    }
