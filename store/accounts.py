"""Reads and writes of customer accounts. Each write runs inside
`steps.once`: its audit row names the fields changed or the records created, never a value."""

from typing import Any

from domain.accounts import (
    AccountCard,
    AccountOverview,
    ContactView,
    DidView,
    FlatView,
    LicenceBlock,
    NewPipeline,
    PbxView,
    ProductView,
    UpdateAccount,
    checked,
)
from domain.errors import Refused

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free

ACCOUNT_FIELDS = ("name", "phone", "email", "invoice_email")


async def _missing(conn: Conn, account_id: str) -> list[str]:
    row = await conn.fetchrow(
        "SELECT id, name, partner_id, '' AS partner_name, phone, email, invoice_email"
        " FROM accounts WHERE id = $1",
        account_id,
    )
    return AccountCard(**dict(row)).missing()


async def update_account(conn: Conn, change: UpdateAccount) -> dict:
    """Sets the fields given; says which changed and which mandatory fields are still empty."""
    change = checked(change)  # again here: the starter is not the only possible caller
    row = await conn.fetchrow(
        "SELECT partner_id, name, phone, email, invoice_email FROM accounts WHERE id = $1"
        " FOR UPDATE",
        change.account_id,
    )
    if row is None:
        raise Refused(
            f"unknown account {change.account_id!r}; `starter.py new-pipeline` creates one"
        )
    given = {f: getattr(change, f) for f in ACCOUNT_FIELDS if getattr(change, f) is not None}
    changed = [f for f, v in given.items() if row[f] != v]
    if changed:
        sets = ", ".join(f"{f} = ${n}" for n, f in enumerate(changed, 2))
        await conn.execute(
            f"UPDATE accounts SET {sets} WHERE id = $1",  # names from ACCOUNT_FIELDS
            change.account_id,
            *(given[f] for f in changed),
        )
    return {
        "account_id": change.account_id,
        "partner_id": row["partner_id"],
        "changed": changed,
        "unchanged": [f for f in given if f not in changed],
        "missing": await _missing(conn, change.account_id),
    }


async def create_pipeline(conn: Conn, p: NewPipeline) -> dict:
    """Account, project (an inactive PBX) and contact, all or none."""
    p = checked(p)
    if await conn.fetchval("SELECT 1 FROM partners WHERE id = $1", p.partner_id) is None:
        raise Refused(f"unknown partner {p.partner_id!r}")
    created = await conn.fetchval(
        "INSERT INTO accounts (id, name, partner_id, phone, email, invoice_email)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING true",
        p.account_id,
        p.name,
        p.partner_id,
        p.phone,
        p.email,
        p.invoice_email,
    )
    if not created:
        raise Refused(
            f"account {p.account_id} exists already: change its fields with "
            "`starter.py update-account`, or choose another --account"
        )
    if not await conn.fetchval(
        "INSERT INTO pbxs (id, account_id, name, active) VALUES ($1, $2, $3, false)"
        " ON CONFLICT (id) DO NOTHING RETURNING true",
        p.project_id,
        p.account_id,
        p.project_name,
    ):
        raise Refused(f"project {p.project_id} exists already; choose another --project")
    if not await conn.fetchval(
        "INSERT INTO contacts (id, account_id, name, email, phone)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING RETURNING true",
        p.contact_id,
        p.account_id,
        p.contact_name,
        p.contact_email,
        p.contact_phone,
    ):
        raise Refused(f"contact {p.contact_id} exists already; choose another --contact-id")
    return {
        "account_id": p.account_id,
        "partner_id": p.partner_id,
        "created": ["account", f"project {p.project_id}", f"contact {p.contact_id}"],
        "missing": await _missing(conn, p.account_id),
    }


async def overview(conn: Conn, account_id: str) -> AccountOverview:
    row = await conn.fetchrow(
        "SELECT a.id, a.name, a.partner_id, p.name AS partner_name, a.phone, a.email,"
        " a.invoice_email FROM accounts a JOIN partners p ON p.id = a.partner_id"
        " WHERE a.id = $1",
        account_id,
    )
    if row is None:
        return AccountOverview(refused=f"unknown account {account_id!r}")
    contacts = [
        ContactView(**dict(r))
        for r in await conn.fetch(
            "SELECT id, name, email, phone FROM contacts WHERE account_id = $1 ORDER BY id",
            account_id,
        )
    ]
    pbxs = {
        r["id"]: PbxView(**dict(r))
        for r in await conn.fetch(
            "SELECT id, name, active FROM pbxs WHERE account_id = $1 ORDER BY id", account_id
        )
    }
    ids = list(pbxs)
    for r in await conn.fetch(
        "SELECT pbx_id, licence_type, quantity, start_date FROM licences"
        " WHERE pbx_id = ANY($1::text[]) AND quantity > 0"
        " ORDER BY pbx_id, licence_type, start_date, id",
        ids,
    ):
        pbxs[r["pbx_id"]].licences.append(
            LicenceBlock(**{k: r[k] for k in ("licence_type", "quantity", "start_date")})
        )
    for r in await conn.fetch(
        "SELECT pp.pbx_id, pp.id, pp.sku, c.name, c.kind, pp.quantity, pp.licence_type,"
        " pp.start_date, coalesce(array_agg(d.number ORDER BY d.number)"
        "  FILTER (WHERE d.number IS NOT NULL), '{}') AS dids"
        " FROM pbx_products pp JOIN catalogue c ON c.sku = pp.sku"
        " LEFT JOIN dids d ON d.flat_id = pp.id AND d.status <> 'cancelled'"
        " WHERE pp.pbx_id = ANY($1::text[]) AND pp.status = 'active'"
        " GROUP BY pp.id, c.name, c.kind ORDER BY pp.pbx_id, pp.start_date, pp.id",
        ids,
    ):
        pbx = pbxs[r["pbx_id"]]
        if r["kind"] == "classound_flat":
            pbx.flats.append(
                FlatView(
                    id=r["id"],
                    licence_type=r["licence_type"],
                    start_date=r["start_date"],
                    dids=list(r["dids"]),
                )
            )
        else:
            pbx.products.append(
                ProductView(**{k: r[k] for k in ("sku", "name", "kind", "quantity", "start_date")})
            )
    # Numbers live on the PBX but belong to no active flat (never linked, or flat cancelled).
    for r in await conn.fetch(
        "SELECT d.pbx_id, d.number, d.status FROM dids d"
        " LEFT JOIN pbx_products f ON f.id = d.flat_id AND f.status = 'active'"
        " WHERE d.pbx_id = ANY($1::text[]) AND d.status <> 'cancelled' AND f.id IS NULL"
        " ORDER BY d.pbx_id, d.number",
        ids,
    ):
        pbxs[r["pbx_id"]].dids_without_flat.append(DidView(number=r["number"], status=r["status"]))
    return AccountOverview(
        account=AccountCard(**dict(row)), contacts=contacts, pbxs=list(pbxs.values())
    )
