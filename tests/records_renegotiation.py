"""Records for renegotiation tests: a Norwegian company with its customer card, a contact with
signing authority, an incoming ticket and the signed contract to renegotiate. Each test makes
its own company, so tests never share rows."""

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from domain.renegotiation import ACCESS_PRODUCT


@dataclass
class Company:
    id: str
    name: str
    partner_id: str
    contact_id: str
    ticket_id: int
    contract_id: str


async def new_company(
    pool,
    *,
    licences: int = 15,
    price: str = "500",
    signed_on: date = date(2025, 1, 15),
    can_sign: bool = True,
    email: str = "signatar@bedrift.example",
    phone: str = "+47 900 00 000",
) -> Company:
    tag = uuid.uuid4().hex[:6].upper()
    co = Company(
        id=f"R{tag}",
        name=f"Bedrift {tag} AS",
        partner_id=f"P-R{tag}",
        contact_id=f"C-R{tag}",
        ticket_id=0,
        contract_id=f"K-R{tag}",
    )
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO partners (id, name, email) VALUES ($1, $2, $3)",
            co.partner_id,
            f"Forhandler {tag}",
            "p@test.example",
        )
        await conn.execute(
            "INSERT INTO accounts (id, name, partner_id, phone, email, invoice_email)"
            " VALUES ($1, $2, $3, '+47 22 00 00 00', 'post@bedrift.example',"
            " 'faktura@bedrift.example')",
            co.id,
            co.name,
            co.partner_id,
        )
        await conn.execute(
            "INSERT INTO contacts (id, account_id, name, email, phone, signing_authority)"
            " VALUES ($1, $2, 'Kari Nordmann', $3, $4, $5)",
            co.contact_id,
            co.id,
            email,
            phone,
            can_sign,
        )
        # The customer wrote to kundesenter: a ticket that no process has taken yet.
        co.ticket_id = await conn.fetchval(
            "INSERT INTO tickets (queue, subject, body) VALUES ('customer_care',"
            " 'Endring av avtale', 'Kunden ønsker å endre antall lisenser.') RETURNING id"
        )
        await conn.execute(
            "INSERT INTO contracts (id, account_id, template, licences, price, terms, status,"
            " signed_on, signatory_contact_id) VALUES ($1, $2, 'Avtale om Avonova Assist', $3,"
            " $4, $5, 'signed', $6, $7)",
            co.contract_id,
            co.id,
            licences,
            Decimal(price),
            {"binding_months": 12, "invoicing": "kvartalsvis", "invoice_reference": tag},
            signed_on,
            co.contact_id,
        )
        await conn.executemany(
            "INSERT INTO contract_lines (contract_id, line_no, kind, product, quantity,"
            " unit_price, discount_percent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
                (co.contract_id, 1, "licence", "Avonova Assist", licences, Decimal(price), 0),
                (co.contract_id, 2, "onboarding", "Digital oppstart", 1, Decimal("4900"), 0),
                (co.contract_id, 3, "other", "HMS-rådgivning", 2, Decimal("1200"), 5),
            ],
        )
        await conn.execute(
            "INSERT INTO product_access (account_id, product, access_count) VALUES ($1, $2, $3)",
            co.id,
            ACCESS_PRODUCT,
            licences,
        )
    return co


async def access_count(pool, account_id: str) -> int | None:
    return await pool.fetchval(
        "SELECT access_count FROM product_access WHERE account_id = $1 AND product = $2",
        account_id,
        ACCESS_PRODUCT,
    )


async def outbox(pool, process_id: str) -> list[tuple[str, str, str]]:
    """(recipient kind, recipient id, template) of the process's notifications, in order."""
    return [
        (r["recipient_kind"], r["recipient_id"], r["template"])
        for r in await pool.fetch(
            "SELECT recipient_kind, recipient_id, template FROM notifications"
            " WHERE process_id = $1 ORDER BY id",
            process_id,
        )
    ]
