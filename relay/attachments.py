"""Files a message carries, made from the records when it is sent (never kept in the
outbox): the signed contract with its evidence certificate, for the customer who signed."""

from typing import Any

from domain.signing import LANGUAGES, SEED_LANGUAGE
from relay.messages import Attachment, Undeliverable
from store import signing


async def attachments_for(conn: Any, payload: dict, language: str) -> list[Attachment]:
    if not payload.get("attach_signed_contract"):
        return []
    from portal.contract import signed_contract_pdf  # the same PDF as the used link's

    contract_id = payload["contract_id"]
    k = await signing.contract_for_signing(conn, contract_id)
    evidence = await signing.evidence(conn, contract_id)
    if k is None or evidence is None or evidence["decision"] != "signed":
        raise Undeliverable(f"contract {contract_id} has no signature to attach")
    lang = language if language in LANGUAGES else SEED_LANGUAGE
    return [
        Attachment(f"{contract_id}.pdf", "application/pdf", signed_contract_pdf(k, evidence, lang))
    ]
