"""Business records for PSA tests: a partner of the test's own with its clients (so
campaigns and invoicing runs, which work per partner, never see another test's rows),
list prices, billing information and active contracts made directly in the database."""

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from domain.billing_information import BillingInformation

LIST_PRICES = [
    ("Basic", "EUR", "9.90"),
    ("Essential", "EUR", "14.90"),
    ("Premium", "EUR", "19.90"),
    ("Business", "EUR", "29.90"),
    ("CLASSOUND-FLAT", "EUR", "12.00"),
    ("Basic", "CHF", "9.50"),
    ("Essential", "CHF", "14.50"),
    ("Premium", "CHF", "19.50"),
    # no Business list price in CHF: such a part starts without a price
    ("CLASSOUND-FLAT", "CHF", "11.50"),
]


def billing(**changes) -> BillingInformation:
    fields = dict(
        legal_name="Muster Logistik GmbH",
        street="Hafenstraße 12",
        postal_code="20457",
        city="Hamburg",
        country="DE",
        billing_email="rechnung@muster.example",
        currency="EUR",
        payment_terms_days=30,
        tax_id="DE 123.456.789",
    )
    fields.update(changes)
    return BillingInformation(**fields)


async def load_list_prices(pool) -> None:
    await pool.executemany(
        "INSERT INTO psa_list_prices (sku, currency, unit_price) VALUES ($1, $2, $3::numeric)"
        " ON CONFLICT DO NOTHING",
        LIST_PRICES,
    )


@dataclass
class Partner:
    id: str
    tag: str


async def new_partner(pool) -> Partner:
    await load_list_prices(pool)
    tag = uuid.uuid4().hex[:6].upper()
    partner = Partner(id=f"P-PSA{tag}", tag=tag)
    await pool.execute(
        "INSERT INTO partners (id, name, email) VALUES ($1, $2, $3)",
        partner.id,
        f"PSA partner {tag}",
        "psa@test.example",
    )
    return partner


async def new_clients(
    pool,
    partner: Partner,
    n: int,
    *,
    licences: dict[str, int] | None = None,
    flats: int = 0,
    hardware: dict[str, int] | None = None,
    pbx_active: bool = True,
    prefix: str = "C",
) -> list[str]:
    """`n` clients of `partner`, each with one PBX carrying `licences`, `flats`
    CLASSOUND-FLATs (on its first licence type) and `hardware`. Bulk inserts: fast for
    thousands."""
    ids = [f"{partner.id}-{prefix}{i:05d}" for i in range(n)]
    licences = {"Premium": 3} if licences is None else licences
    async with pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            "INSERT INTO accounts (id, name, partner_id, phone, email, invoice_email)"
            " VALUES ($1, $2, $3, '+49 40 0000', 'a@test.example', 'inv@test.example')",
            [(a, f"Client {a}", partner.id) for a in ids],
        )
        await conn.executemany(
            "INSERT INTO pbxs (id, account_id, name, active) VALUES ($1, $2, $3, $4)",
            [(f"PBX-{a}", a, f"PBX of {a}", pbx_active) for a in ids],
        )
        await conn.executemany(
            "INSERT INTO licences (pbx_id, licence_type, quantity, start_date)"
            " VALUES ($1, $2, $3, '2025-01-01')",
            [(f"PBX-{a}", t, q) for a in ids for t, q in licences.items()],
        )
        if flats:
            first = next(iter(licences))
            await conn.executemany(
                "INSERT INTO pbx_products (pbx_id, sku, quantity, licence_type, start_date)"
                " VALUES ($1, 'CLASSOUND-FLAT', 1, $2, '2025-01-01')",
                [(f"PBX-{a}", first) for a in ids for _ in range(flats)],
            )
        for sku, q in (hardware or {}).items():
            await conn.executemany(
                "INSERT INTO pbx_products (pbx_id, sku, quantity, start_date)"
                " VALUES ($1, $2, $3, '2025-01-01')",
                [(f"PBX-{a}", sku, q) for a in ids],
            )
    return ids


async def new_client(pool, partner: Partner | None = None, **kwargs) -> tuple[Partner, str]:
    partner = partner or await new_partner(pool)
    (account_id,) = await new_clients(
        pool, partner, 1, prefix=f"X{uuid.uuid4().hex[:4].upper()}", **kwargs
    )
    return partner, account_id


async def give_billing_information(
    pool, account_id: str, currency: str = "EUR", payment_terms_days: int = 30
) -> None:
    await pool.execute(
        "INSERT INTO psa_billing_information (account_id, legal_name, street, postal_code, city,"
        " country, billing_email, currency, payment_terms_days, tax_id, process_id,"
        " provided_by) VALUES ($1, 'Test GmbH', 'Teststr. 1', '10115', 'Berlin', 'DE',"
        " 'billing@test.example', $2, $3, 'DE123456789', 'test', 'test')",
        account_id,
        currency,
        payment_terms_days,
    )


async def give_active_contract(
    pool,
    account_id: str,
    parts: list[tuple[str, int, str]],
    *,
    start: date = date(2025, 1, 1),
    end: date | None = None,
    status: str = "active",
) -> str:
    """A contract made outside onboarding: parts as (sku, quantity, unit price)."""
    contract_id = f"psa-contract-{account_id}-{uuid.uuid4().hex[:6]}"
    async with pool.acquire() as conn, conn.transaction():
        currency = await conn.fetchval(
            "SELECT currency FROM psa_billing_information WHERE account_id = $1", account_id
        )
        await conn.execute(
            "INSERT INTO psa_contracts (id, process_id, account_id, currency, payment_method,"
            " start_date, end_date) VALUES ($1, 'test', $2, $3, 'bank-transfer', $4, $5)",
            contract_id,
            account_id,
            currency,
            start,
            end,
        )
        await conn.executemany(
            "INSERT INTO psa_contract_parts (contract_id, line_no, sku, name, quantity,"
            " unit_price, source) VALUES ($1, $2, $3, $3, $4, $5::numeric, 'assigned')",
            [
                (contract_id, n, sku, q, Decimal(price))
                for n, (sku, q, price) in enumerate(parts, 1)
            ],
        )
        if status == "active":
            await conn.execute(
                "UPDATE psa_contracts SET status = 'active', activated_at = now(),"
                " activated_by = 'test' WHERE id = $1",
                contract_id,
            )
    return contract_id


async def onboarded_clients(
    pool, partner: Partner, n: int, parts: list[tuple[str, int, str]] | None = None, **contract
) -> list[tuple[str, str]]:
    """`n` clients with billing information and an active contract: (client, contract)."""
    ids = await new_clients(pool, partner, n, prefix=f"K{uuid.uuid4().hex[:6].upper()}")
    out = []
    for a in ids:
        await give_billing_information(pool, a)
        out.append(
            (a, await give_active_contract(pool, a, parts or [("Premium", 3, "19.90")], **contract))
        )
    return out
