"""Reads of the customer signing page (portal/signing.py): the contract a signing link opens,
with everything its text shows. The page writes nothing itself: the workflow step that
records the signature or the refusal keeps the evidence (store/renegotiation.py)."""

from typing import Any

Conn = Any  # an asyncpg connection or pool


async def contract_for_signing(conn: Conn, contract_id: str) -> dict | None:
    """The contract, its lines, the customer, the signatory, the original agreement and
    whom the customer asks for help (the partner selling it, e.g. Avonova's kundesenter);
    None when there is no such contract."""
    row = await conn.fetchrow(
        "SELECT k.id, k.process_id, k.template, k.based_on, k.licences, k.price, k.currency,"
        "  k.terms, k.start_date, k.signing_deadline, k.status, k.signing_token_sha256,"
        "  k.signed_on, k.declined_at, k.signatory_contact_id,"
        "  a.id AS account_id, a.name AS company,"
        "  c.name AS signer_name, c.language AS signer_language,"
        "  p.name AS supplier, p.email AS supplier_email,"
        "  o.signed_on AS original_signed_on,"
        "  e.decided_at AS decided_at"
        " FROM contracts k"
        " JOIN accounts a ON a.id = k.account_id"
        " LEFT JOIN contacts c ON c.id = k.signatory_contact_id"
        " LEFT JOIN partners p ON p.id = a.partner_id"
        " LEFT JOIN contracts o ON o.id = k.based_on"
        " LEFT JOIN contract_signing_evidence e ON e.contract_id = k.id"
        " WHERE k.id = $1",
        contract_id,
    )
    if row is None:
        return None
    lines = await conn.fetch(
        "SELECT line_no, kind, product, quantity, unit_price, discount_percent"
        " FROM contract_lines WHERE contract_id = $1 ORDER BY line_no",
        contract_id,
    )
    return {**dict(row), "lines": [dict(r) for r in lines]}


async def evidence(conn: Conn, contract_id: str) -> dict | None:
    row = await conn.fetchrow(
        "SELECT * FROM contract_signing_evidence WHERE contract_id = $1", contract_id
    )
    return dict(row) if row else None
