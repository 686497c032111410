"""Reads of the customer signing page (portal/signing.py): the contract a signing link opens,
with everything its text shows. The page writes no business record itself: the workflow step
that records the signature or the refusal keeps the evidence (store/renegotiation.py). It
writes only when the link was first opened (the evidence's trail) and what it refused (the
security log)."""

from typing import Any

from store import people

DOOR = "signing"

Conn = Any  # an asyncpg connection or pool


async def contract_for_signing(conn: Conn, contract_id: str) -> dict | None:
    """The contract, its lines, the customer, the signatory, the original agreement and
    whom the customer asks for help (the partner selling it, e.g. Avonova's kundesenter);
    None when there is no such contract."""
    row = await conn.fetchrow(
        "SELECT k.id, k.process_id, k.template, k.based_on, k.licences, k.price, k.currency,"
        "  k.terms, k.start_date, k.signing_deadline, k.status, k.signing_token_sha256,"
        "  k.signed_on, k.declined_at, k.signatory_contact_id, k.sent_at, k.opened_at,"
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


class EvidenceNotBound(Exception):
    """Signing evidence whose document hash is not the hash of this contract's text."""


async def check_bound(conn: Conn, contract_id: str, shown_sha256: str) -> None:
    """Evidence is this contract's only if the hash it carries is the hash of this
    contract's text as the page renders it (in either of its languages): evidence copied
    from another contract, or made up, is refused before anything is written."""
    from domain.signing import bound_to_contract
    from portal.contract import contract_hashes  # the page's own rendering of the text

    k = await contract_for_signing(conn, contract_id)
    if k is None or not bound_to_contract(shown_sha256, contract_hashes(k)):
        raise EvidenceNotBound(
            f"the evidence's document hash is not the hash of contract {contract_id}'s text"
        )


async def mark_opened(conn: Conn, contract_id: str) -> None:
    """The first time the link opened the contract (later opens change nothing)."""
    await conn.execute(
        "UPDATE contracts SET opened_at = now() WHERE id = $1 AND opened_at IS NULL", contract_id
    )


async def record_refusal(
    conn: Conn, *, contract_id: str, process_id: str | None, actor: str, reason: str
) -> None:
    """One security-log row for what the signing page refused (a replayed or forged
    signature, evidence for another contract), through the directory's writer."""
    await people.record_refusal(
        conn,
        actor=actor,
        permission="contract_signed",
        process_id=process_id or f"contract {contract_id}",
        reason=f"contract {contract_id}: {reason}",
        checked_in=DOOR,
    )
