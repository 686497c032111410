"""A little demo data for the run command. Loading it twice changes nothing."""

from pathlib import Path
from typing import Any

from store.staff_keys import key_file_enrolled

CATALOGUE = [
    ("Basic", "Basic licence", "licence", "Basic"),
    ("Essential", "Essential licence", "licence", "Essential"),
    ("Premium", "Premium licence", "licence", "Premium"),
    ("Business", "Business licence", "licence", "Business"),
    ("WP480G", "WP480G desk phone", "capex", None),
    ("W-AIR-SYNC-PLUS", "W-AIR Sync Plus DECT base", "capex", None),
    ("SVC-INSTALL", "On-site installation", "service", None),
    ("SVC-TRAINING", "Admin training", "service", None),
    ("CLASSOUND-FLAT", "CLASSOUND flat (per licence)", "classound_flat", None),
]

PARTNERS = [
    ("P-NORDTEL", "Nordtel Partner GmbH", "orders@nordtel.example"),
    ("P-ALPCOM", "Alpcom Solutions AG", "sales@alpcom.example"),
]

# id, name, partner, phone, email, invoice e-mail
ACCOUNTS = [
    (
        "ACME",
        "Acme Logistik GmbH",
        "P-NORDTEL",
        "+49 30 5550100",
        "it@acme.example",
        "invoices@acme.example",
    ),
    (
        "DELTA",
        "Delta Praxis AG",
        "P-ALPCOM",
        "+41 44 5550200",
        "office@delta.example",
        "billing@delta.example",
    ),
    # the three mandatory fields not all filled: its quotes are rejected until they are
    ("BERGMANN", "Bergmann & Söhne KG", "P-NORDTEL", "", "info@bergmann.example", ""),
    # its PBX is not active: change orders are refused
    (
        "CORVUS",
        "Corvus Media GmbH",
        "P-ALPCOM",
        "+49 89 5550300",
        "hello@corvus.example",
        "ap@corvus.example",
    ),
]

CONTACTS = [
    ("C-ACME-1", "ACME", "Jana Weber", "jana.weber@acme.example", "+49 30 5550111"),
    ("C-DELTA-1", "DELTA", "Luca Meier", "luca.meier@delta.example", "+41 44 5550211"),
    ("C-BERG-1", "BERGMANN", "Otto Bergmann", "otto@bergmann.example", ""),
    ("C-CORVUS-1", "CORVUS", "Mira Hahn", "mira.hahn@corvus.example", "+49 89 5550311"),
]

PBXS = [
    ("PBX-ACME", "ACME", "Acme HQ Berlin", True),
    ("PBX-DELTA", "DELTA", "Delta Zürich", True),
    ("PBX-BERGMANN", "BERGMANN", "Bergmann Werk", True),
    ("PBX-CORVUS", "CORVUS", "Corvus Studio", False),
]

LICENCES = [
    ("PBX-ACME", "Basic", 5),
    ("PBX-ACME", "Essential", 10),
    ("PBX-ACME", "Premium", 8),
    ("PBX-ACME", "Business", 2),
    ("PBX-DELTA", "Business", 20),
    ("PBX-DELTA", "Essential", 5),
    ("PBX-BERGMANN", "Premium", 4),
    ("PBX-CORVUS", "Basic", 3),
]

HARDWARE = [("PBX-ACME", "WP480G", 3), ("PBX-DELTA", "W-AIR-SYNC-PLUS", 1)]

# CLASSOUND-FLATs on ACME's Premium licences, each with its DIDs
FLATS = [
    ("PBX-ACME", "Premium", ["+49 30 5550121", "+49 30 5550122"]),
    ("PBX-ACME", "Premium", ["+49 30 5550123"]),
]

START = "2025-01-01"


SECTIONS_LOADED_WHEN = {  # a row whose presence says the section is there
    "change orders": "SELECT 1 FROM accounts WHERE id = 'ACME'",
    "renegotiation": "SELECT 1 FROM accounts WHERE id = 'FJORDBYGG'",
    "partner users": "SELECT 1 FROM contacts WHERE id = 'C-NORD-1'",
    "psa": "SELECT 1 FROM psa_list_prices LIMIT 1",
    "staff": "SELECT 1 FROM staff_users WHERE id = 'admin-ida'",
}


async def load(conn: Any) -> bool:
    """Each section loads once; returns False when all of it was already there."""
    sections = {
        "change orders": _change_orders,
        "renegotiation": _renegotiation,
        "partner users": _partner_users,
        "psa": _psa,
        "staff": _staff,
    }
    loaded = False
    for name, section in sections.items():
        async with conn.transaction():
            if not await conn.fetchval(SECTIONS_LOADED_WHEN[name]):
                await section(conn)
                loaded = True
    return loaded


async def _change_orders(conn: Any) -> None:
    await conn.executemany(
        "INSERT INTO catalogue (sku, name, kind, licence_type) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        CATALOGUE,
    )
    await conn.executemany("INSERT INTO partners (id, name, email) VALUES ($1, $2, $3)", PARTNERS)
    await conn.executemany(
        "INSERT INTO accounts (id, name, partner_id, phone, email, invoice_email)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        ACCOUNTS,
    )
    await conn.executemany(
        "INSERT INTO contacts (id, account_id, name, email, phone) VALUES ($1, $2, $3, $4, $5)",
        CONTACTS,
    )
    await conn.executemany(
        "INSERT INTO pbxs (id, account_id, name, active) VALUES ($1, $2, $3, $4)", PBXS
    )
    await conn.executemany(
        "INSERT INTO licences (pbx_id, licence_type, quantity, start_date)"
        " VALUES ($1, $2, $3, $4::text::date)",
        [(*row, START) for row in LICENCES],
    )
    await conn.executemany(
        "INSERT INTO pbx_products (pbx_id, sku, quantity, start_date)"
        " VALUES ($1, $2, $3, $4::text::date)",
        [(*row, START) for row in HARDWARE],
    )
    for pbx, licence, numbers in FLATS:
        flat_id = await conn.fetchval(
            "INSERT INTO pbx_products (pbx_id, sku, quantity, licence_type, start_date)"
            " VALUES ($1, 'CLASSOUND-FLAT', 1, $2, $3::text::date) RETURNING id",
            pbx,
            licence,
            START,
        )
        await conn.executemany(
            "INSERT INTO dids (number, pbx_id, flat_id) VALUES ($1, $2, $3)",
            [(n, pbx, flat_id) for n in numbers],
        )


async def _renegotiation(conn: Any) -> None:
    """Dealbuilder: a Norwegian customer with a signed Avonova Assist contract
    (25 licences), a contact who can sign, and the ticket the customer wrote."""
    await conn.execute(
        "INSERT INTO partners (id, name, email) VALUES"
        " ('P-AVONOVA', 'Avonova Norge AS', 'kundesenter@avonova.example')"
        " ON CONFLICT DO NOTHING"
    )
    await conn.execute(
        "INSERT INTO accounts (id, name, partner_id, phone, email, invoice_email) VALUES"
        " ('FJORDBYGG', 'Fjordbygg AS', 'P-AVONOVA', '+47 22 55 50 100',"
        " 'post@fjordbygg.example', 'faktura@fjordbygg.example')"
    )
    await conn.execute(
        "INSERT INTO contacts (id, account_id, name, email, phone, signing_authority) VALUES"
        " ('C-FJORD-1', 'FJORDBYGG', 'Ingrid Berg', 'ingrid.berg@fjordbygg.example',"
        " '+47 900 55 501', true)"
    )
    await conn.execute(
        "INSERT INTO tickets (id, queue, subject, body) VALUES (1001, 'customer_care',"
        " 'Endring av avtale', 'Fjordbygg ønsker å endre antall lisenser og pris.')"
    )
    await conn.execute(
        "SELECT setval(pg_get_serial_sequence('tickets', 'id'),"
        " greatest((SELECT max(id) FROM tickets), 1001))"
    )
    await conn.execute(
        "INSERT INTO contracts (id, account_id, template, licences, price, terms, status,"
        " signed_on, signatory_contact_id) VALUES ('K-FJORD-2024', 'FJORDBYGG',"
        " 'Avtale om Avonova Assist', 25, 390.00, $1, 'signed', '2024-03-01', 'C-FJORD-1')",
        {"binding_months": 12, "invoicing": "kvartalsvis"},
    )
    await conn.executemany(
        "INSERT INTO contract_lines (contract_id, line_no, kind, product, quantity, unit_price,"
        " discount_percent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            ("K-FJORD-2024", 1, "licence", "Avonova Assist", 25, 390, 0),
            ("K-FJORD-2024", 2, "onboarding", "Digital oppstart", 1, 4900, 0),
        ],
    )
    await conn.execute(
        "INSERT INTO product_access (account_id, product, access_count)"
        " VALUES ('FJORDBYGG', 'Avonova digital', 25)"
    )


# Sellers of the partners: `invite-partner-user` makes them partner users.
PARTNER_CONTACTS = [
    ("C-NORD-1", "P-NORDTEL", "Anna Holm", "anna.holm@nordtel.example", "+49 40 5550101"),
    ("C-NORD-2", "P-NORDTEL", "Bo Jensen", "bo.jensen@nordtel.example", "+49 40 5550102"),
    ("C-ALP-1", "P-ALPCOM", "Chloé Martin", "chloe.martin@alpcom.example", "+41 44 5550103"),
]


async def _partner_users(conn: Any) -> None:
    await conn.executemany(
        "INSERT INTO contacts (id, partner_id, name, email, phone) VALUES ($1, $2, $3, $4, $5)",
        PARTNER_CONTACTS,
    )


# PSA: monthly list prices per SKU and currency, the default prices of contract parts
LIST_PRICES = [
    ("Basic", "EUR", "9.90"),
    ("Essential", "EUR", "14.90"),
    ("Premium", "EUR", "19.90"),
    ("Business", "EUR", "29.90"),
    ("CLASSOUND-FLAT", "EUR", "12.00"),
    ("Basic", "CHF", "9.50"),
    ("Essential", "CHF", "14.50"),
    ("Premium", "CHF", "19.50"),
    ("Business", "CHF", "28.50"),
    ("CLASSOUND-FLAT", "CHF", "11.50"),
]
# DELTA has billing information already: its onboarding skips that step
BILLING_INFORMATION = [
    (
        "DELTA",
        "Delta Praxis AG",
        "Bahnhofstrasse 10",
        "8001",
        "Zürich",
        "CH",
        "billing@delta.example",
        "CHF",
        30,
        "CHE123456789MWST",
    ),
]


async def _psa(conn: Any) -> None:
    await conn.executemany(
        "INSERT INTO psa_list_prices (sku, currency, unit_price) VALUES ($1, $2, $3::numeric)"
        " ON CONFLICT DO NOTHING",
        LIST_PRICES,
    )
    await conn.executemany(
        "INSERT INTO psa_billing_information (account_id, legal_name, street, postal_code,"
        " city, country, billing_email, currency, payment_terms_days, tax_id, process_id,"
        " provided_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'demo', 'demo')"
        " ON CONFLICT DO NOTHING",
        BILLING_INFORMATION,
    )


# The people directory: a few staff of each role. `ops-anna` leads operations and
# holds the ops roles (the README's walk-through acts as her: PARTNERFLOW_ACTOR=ops-anna);
# `admin-ida` is the first admin, who manages staff (`starter.py staff ...`).
STAFF = [
    ("admin-ida", "Ida Lund", ["admin"]),
    ("admin-al", "Al Berg", ["admin"]),
    ("ops-anna", "Anna Weber", ["sales_ops", "customer_care", "invoice_service", "csc", "finance"]),
    ("ops-ben", "Ben Krüger", ["sales_ops"]),
    ("sales-sara", "Sara Novak", ["sales_ops"]),
    ("care-carl", "Carl Dahl", ["customer_care"]),
    ("care-cora", "Cora Lind", ["customer_care"]),
    ("inv-ines", "Ines Roth", ["invoice_service"]),
    ("inv-ivo", "Ivo Marek", ["invoice_service"]),
    ("csc-kari", "Kari Nilsen", ["csc"]),
    ("csc-kim", "Kim Aas", ["csc"]),
    ("cm-eva", "Eva Schulz", ["channel_manager"]),
    ("cm-jon", "Jon Berg", ["channel_manager"]),
    ("fin-finn", "Finn Hale", ["finance"]),
    ("fin-fay", "Fay Moss", ["finance"]),
]


async def _staff(conn: Any) -> None:
    await conn.executemany(
        "INSERT INTO staff_users (id, name, email, created_by) VALUES ($1, $2, $3, 'demo')"
        " ON CONFLICT DO NOTHING",
        [(i, name, f"{i}@partnerflow.example") for i, name, _ in STAFF],
    )
    await conn.executemany(
        "INSERT INTO staff_roles (user_id, role, granted_by) VALUES ($1, $2, 'demo')"
        " ON CONFLICT DO NOTHING",
        [(i, r) for i, _, roles in STAFF for r in roles],
    )


async def staff_keys(conn: Any, folder: Path) -> list[str]:
    """Each demo staff member's own signing key under ./run (`<data>/staff-keys/<id>.key`,
    0600): made when missing, never overwritten, enrolled in the directory. A key an admin
    revoked stays revoked: the holder needs a new one (`starter.py staff-key new`)."""
    made = []
    for user_id, _, _ in STAFF:
        path = folder / f"{user_id}.key"
        if not path.exists():
            made.append(user_id)
        await key_file_enrolled(conn, path, holder=user_id, enrolled_by="demo")
    return made
