"""Business records for tests: each test makes its own account, so tests never share rows."""

import uuid
from dataclasses import dataclass, field

from store import demo


async def load_catalogue(conn) -> None:
    await conn.executemany(
        "INSERT INTO catalogue (sku, name, kind, licence_type) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        demo.CATALOGUE,
    )


@dataclass
class Account:
    id: str
    pbx_id: str
    partner_id: str
    flat_ids: list[int] = field(default_factory=list)


async def new_account(
    pool,
    *,
    licences: dict[str, int] | None = None,
    active: bool = True,
    missing: tuple[str, ...] = (),
    flats: list[tuple[str, list[str]]] = (),
    hardware: dict[str, int] | None = None,
) -> Account:
    """An account with one PBX. `missing` names mandatory fields left empty
    (phone, email, invoice_email); `flats` are CLASSOUND-FLATs as (licence type, DIDs)."""
    tag = uuid.uuid4().hex[:6].upper()
    acc = Account(id=f"T{tag}", pbx_id=f"PBX-T{tag}", partner_id=f"P-T{tag}")
    fields = {
        "phone": "+49 30 0000000",
        "email": "a@test.example",
        "invoice_email": "inv@test.example",
    }
    for name in missing:
        fields[name] = ""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO partners (id, name, email) VALUES ($1, $2, $3)",
            acc.partner_id,
            f"Partner {tag}",
            "p@test.example",
        )
        await conn.execute(
            "INSERT INTO accounts (id, name, partner_id, phone, email, invoice_email)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            acc.id,
            f"Account {tag}",
            acc.partner_id,
            fields["phone"],
            fields["email"],
            fields["invoice_email"],
        )
        await conn.execute(
            "INSERT INTO pbxs (id, account_id, name, active) VALUES ($1,$2,$3,$4)",
            acc.pbx_id,
            acc.id,
            f"PBX {tag}",
            active,
        )
        for licence, qty in (licences or {}).items():
            await conn.execute(
                "INSERT INTO licences (pbx_id, licence_type, quantity, start_date)"
                " VALUES ($1, $2, $3, '2025-01-01')",
                acc.pbx_id,
                licence,
                qty,
            )
        for sku, qty in (hardware or {}).items():
            await conn.execute(
                "INSERT INTO pbx_products (pbx_id, sku, quantity, start_date)"
                " VALUES ($1, $2, $3, '2025-01-01')",
                acc.pbx_id,
                sku,
                qty,
            )
        for n, (licence, numbers) in enumerate(flats):
            flat_id = await conn.fetchval(
                "INSERT INTO pbx_products (pbx_id, sku, quantity, licence_type, start_date)"
                " VALUES ($1, 'CLASSOUND-FLAT', 1, $2, $3::text::date) RETURNING id",
                acc.pbx_id,
                licence,
                f"2025-01-{n + 1:02d}",
            )
            acc.flat_ids.append(flat_id)
            for number in numbers:
                await conn.execute(
                    "INSERT INTO dids (number, pbx_id, flat_id) VALUES ($1,$2,$3)",
                    f"{number}-{tag}",
                    acc.pbx_id,
                    flat_id,
                )
    return acc


async def licence_totals(pool, pbx_id: str) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT licence_type, sum(quantity)::int AS q FROM licences WHERE pbx_id = $1"
        " GROUP BY licence_type",
        pbx_id,
    )
    return {r["licence_type"]: r["q"] for r in rows if r["q"]}


async def set_account_field(pool, account_id: str, field_name: str, value: str) -> None:
    assert field_name in ("phone", "email", "invoice_email")
    await pool.execute(f"UPDATE accounts SET {field_name} = $2 WHERE id = $1", account_id, value)
