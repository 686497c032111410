"""Reads and writes of PSA client onboarding and the onboarding campaign. Each
write runs inside `steps.once`. The rules that hold at all times are in migration 004;
when one refuses a write (SQLSTATE PF403), `gates_refuse` turns it into a `Refused` with
the database's own message."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from domain.billing_information import BillingInformation, normalised
from domain.catalogue import ProductKind
from domain.contracts import (
    AssignedService,
    CatalogueEntry,
    ContractPart,
    ContractTerms,
    PartChange,
    apply_part_changes,
    default_parts,
)
from domain.errors import Refused
from domain.psa import ClientSnapshot

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free

GATE = "PF403"  # the SQLSTATE of every refusal by a rule of migration 004


@asynccontextmanager
async def gates_refuse() -> AsyncIterator[None]:
    """A write refused by a database rule is a business refusal, not a fault to retry."""
    try:
        yield
    except Exception as e:
        if getattr(e, "sqlstate", None) == GATE:
            raise Refused(getattr(e, "message", None) or str(e)) from None
        raise


# --- the client -----------------------------------------------------------------------------


async def client_snapshot(conn: Conn, account_id: str) -> ClientSnapshot:
    row = await conn.fetchrow(
        "SELECT a.partner_id, b.currency, b.account_id IS NOT NULL AS has_billing,"
        " (SELECT c.id FROM psa_contracts c WHERE c.account_id = a.id AND c.status = 'active'"
        "  ORDER BY c.created_at LIMIT 1) AS active_contract"
        " FROM accounts a LEFT JOIN psa_billing_information b ON b.account_id = a.id"
        " WHERE a.id = $1",
        account_id,
    )
    if row is None:
        raise Refused(f"unknown client {account_id!r}")
    return ClientSnapshot(
        account_id=account_id,
        partner_id=row["partner_id"],
        has_billing_information=row["has_billing"],
        currency=row["currency"],
        active_contract_id=row["active_contract"],
        services=await assigned_services(conn, account_id),
    )


async def assigned_services(conn: Conn, account_id: str) -> list[AssignedService]:
    """What the client has on its active PBXs: licences per type, products per SKU."""
    rows = await conn.fetch(
        "SELECT c.sku, c.name, c.kind, sum(l.quantity)::int AS quantity"
        " FROM licences l JOIN pbxs p ON p.id = l.pbx_id AND p.active"
        " JOIN catalogue c ON c.kind = 'licence' AND c.licence_type = l.licence_type"
        " WHERE p.account_id = $1 GROUP BY c.sku, c.name, c.kind HAVING sum(l.quantity) > 0"
        " UNION ALL"
        " SELECT c.sku, c.name, c.kind, sum(pp.quantity)::int"
        " FROM pbx_products pp JOIN pbxs p ON p.id = pp.pbx_id AND p.active"
        " JOIN catalogue c ON c.sku = pp.sku"
        " WHERE p.account_id = $1 AND pp.status = 'active' GROUP BY c.sku, c.name, c.kind",
        account_id,
    )
    return [
        AssignedService(
            sku=r["sku"], name=r["name"], kind=ProductKind(r["kind"]), quantity=r["quantity"]
        )
        for r in rows
    ]


async def save_billing_information(
    conn: Conn, process_id: str, actor: str, account_id: str, info: BillingInformation
) -> dict:
    """Saves it unless the client has billing information already. The result (kept in the
    audit log) says whether it was saved and the currency, never the values."""
    i = normalised(info)
    currency = await conn.fetchval(
        "INSERT INTO psa_billing_information (account_id, legal_name, street, postal_code, city,"
        " country, billing_email, currency, payment_terms_days, tax_id, process_id, provided_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        " ON CONFLICT (account_id) DO NOTHING RETURNING currency",
        account_id,
        i.legal_name,
        i.street,
        i.postal_code,
        i.city,
        i.country,
        i.billing_email,
        i.currency,
        i.payment_terms_days,
        i.tax_id,
        process_id,
        actor,
    )
    if currency is not None:
        return {"saved": True, "currency": currency}
    existing = await conn.fetchval(
        "SELECT currency FROM psa_billing_information WHERE account_id = $1", account_id
    )
    return {"saved": False, "currency": existing}


# --- the contract ---------------------------------------------------------------------------


async def list_prices(conn: Conn, currency: str, skus: list[str]) -> dict[str, Decimal]:
    rows = await conn.fetch(
        "SELECT sku, unit_price FROM psa_list_prices WHERE currency = $1 AND sku = ANY($2)",
        currency,
        skus,
    )
    return {r["sku"]: r["unit_price"] for r in rows}


async def _write_parts(conn: Conn, contract_id: str, parts: list[ContractPart]) -> None:
    await conn.execute("DELETE FROM psa_contract_parts WHERE contract_id = $1", contract_id)
    await conn.executemany(
        "INSERT INTO psa_contract_parts (contract_id, line_no, sku, name, quantity, unit_price,"
        " list_price, source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            (contract_id, n, p.sku, p.name, p.quantity, p.unit_price, p.list_price, p.source)
            for n, p in enumerate(parts, 1)
        ],
    )


def _parts_result(contract_id: str, currency: str, parts: list[ContractPart]) -> dict:
    return {
        "contract_id": contract_id,
        "currency": currency,
        "parts": [p.model_dump(mode="json") for p in parts],
    }


async def draft_contract(
    conn: Conn, process_id: str, contract_id: str, account_id: str, terms: ContractTerms
) -> dict:
    """The contract with its parts defaulted from the services already assigned to the
    client, at list price in the client's currency."""
    currency = await conn.fetchval(
        "SELECT currency FROM psa_billing_information WHERE account_id = $1", account_id
    )
    if currency is None:
        raise Refused(f"client {account_id} has no billing information: a contract needs it")
    services = await assigned_services(conn, account_id)
    prices = await list_prices(conn, currency, [s.sku for s in services])
    parts = default_parts(services, prices)
    await conn.execute(
        "INSERT INTO psa_contracts (id, process_id, account_id, currency, payment_method,"
        " mandate_reference, start_date, end_date) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        contract_id,
        process_id,
        account_id,
        currency,
        terms.payment_method.value,
        terms.mandate_reference,
        terms.start_date,
        terms.end_date,
    )
    await _write_parts(conn, contract_id, parts)
    return _parts_result(contract_id, currency, parts)


async def set_terms(conn: Conn, contract_id: str, terms: ContractTerms) -> dict:
    changed = await conn.fetchval(
        "UPDATE psa_contracts SET payment_method = $2, mandate_reference = $3, start_date = $4,"
        " end_date = $5 WHERE id = $1 AND status = 'draft' RETURNING id",
        contract_id,
        terms.payment_method.value,
        terms.mandate_reference,
        terms.start_date,
        terms.end_date,
    )
    if changed is None:
        raise Refused(f"contract {contract_id} is no longer a draft; its terms stay as they are")
    return {"contract_id": contract_id, "terms": terms.model_dump(mode="json")}


async def contract_parts(conn: Conn, contract_id: str) -> list[ContractPart]:
    rows = await conn.fetch(
        "SELECT sku, name, quantity, unit_price, list_price, source FROM psa_contract_parts"
        " WHERE contract_id = $1 ORDER BY line_no",
        contract_id,
    )
    return [ContractPart(**dict(r)) for r in rows]


async def change_parts(conn: Conn, contract_id: str, changes: list[PartChange]) -> dict:
    """Staff edit, add or remove parts of the draft; refused as a whole, naming each bad
    change, or applied as a whole."""
    contract = await conn.fetchrow(
        "SELECT status, currency FROM psa_contracts WHERE id = $1 FOR UPDATE", contract_id
    )
    if contract is None:
        raise Refused(f"no contract {contract_id}")
    if contract["status"] != "draft":
        raise Refused(
            f"contract {contract_id} is {contract['status']}: its parts can no longer change"
        )
    parts = await contract_parts(conn, contract_id)
    skus = [c.sku for c in changes]
    catalogue = {
        r["sku"]: CatalogueEntry(sku=r["sku"], name=r["name"], kind=ProductKind(r["kind"]))
        for r in await conn.fetch("SELECT sku, name, kind FROM catalogue WHERE sku = ANY($1)", skus)
    }
    prices = await list_prices(conn, contract["currency"], skus)
    changed, problems = apply_part_changes(parts, changes, catalogue, prices)
    if problems:
        raise Refused("contract parts not changed: " + "; ".join(problems))
    await _write_parts(conn, contract_id, changed)
    return _parts_result(contract_id, contract["currency"], changed)


async def activate_contract(conn: Conn, contract_id: str, actor: str) -> dict:
    """The migration's trigger refuses a contract with no parts or a part without a price."""
    activated = await conn.fetchval(
        "UPDATE psa_contracts SET status = 'active', activated_by = $2, activated_at = now()"
        " WHERE id = $1 AND status = 'draft' RETURNING id",
        contract_id,
        actor,
    )
    if activated is None:
        status = await conn.fetchval("SELECT status FROM psa_contracts WHERE id = $1", contract_id)
        if status != "active":
            raise Refused(
                f"contract {contract_id} is {status or 'unknown'}: it cannot become active"
            )
    return {"contract_id": contract_id, "status": "active"}


async def cancel_contract(conn: Conn, contract_id: str | None, reason: str) -> dict:
    if contract_id:
        await conn.execute(
            "UPDATE psa_contracts SET status = 'cancelled', closed_reason = $2"
            " WHERE id = $1 AND status = 'draft'",
            contract_id,
            reason,
        )
    return {"contract_id": contract_id, "status": "cancelled", "reason": reason}


# --- the campaign ---------------------------------------------------------------------------

# A client lacks onboarding without billing information, or without an active contract
# while services are assigned to it (contracts are only for such clients).
LACKS_ONBOARDING = """
    ($1::text IS NULL OR a.partner_id = $1) AND (
        NOT EXISTS (SELECT 1 FROM psa_billing_information b WHERE b.account_id = a.id)
        OR (NOT EXISTS (SELECT 1 FROM psa_contracts c
                         WHERE c.account_id = a.id AND c.status = 'active')
            AND EXISTS (SELECT 1 FROM pbxs p WHERE p.account_id = a.id AND p.active AND (
                EXISTS (SELECT 1 FROM licences l WHERE l.pbx_id = p.id AND l.quantity > 0)
                OR EXISTS (SELECT 1 FROM pbx_products pp JOIN catalogue k ON k.sku = pp.sku
                            WHERE pp.pbx_id = p.id AND pp.status = 'active'
                              AND k.kind = 'classound_flat')))))
"""


async def count_clients_to_onboard(conn: Conn, partner_id: str | None) -> int:
    return await conn.fetchval(
        f"SELECT count(*) FROM accounts a WHERE {LACKS_ONBOARDING}", partner_id
    )


async def clients_to_onboard(
    conn: Conn, partner_id: str | None, after: str, limit: int
) -> list[str]:
    """The next page of clients to onboard, by id: the cursor survives continue-as-new, and
    clients onboarded meanwhile simply drop out."""
    rows = await conn.fetch(
        f"SELECT a.id FROM accounts a WHERE {LACKS_ONBOARDING} AND a.id > $2"
        " ORDER BY a.id LIMIT $3",
        partner_id,
        after,
        limit,
    )
    return [r["id"] for r in rows]
