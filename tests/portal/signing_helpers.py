"""What the signing page's tests share: a renegotiation waiting for the customer, and its
signing link as the customer receives it."""

import re
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

from domain.renegotiation_models import RenegotiationRequest
from store.outbox import pending_link

FORM_FIELD = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def request_for(co, licences: int = 12, price: str = "450") -> RenegotiationRequest:
    return RenegotiationRequest(
        ticket_id=co.ticket_id,
        account_id=co.id,
        contact_id=co.contact_id,
        original_contract_id=co.contract_id,
        licences=licences,
        price=Decimal(price),
        requested_by="kari.kundesenter",
    )


async def signing_link(pool, process_id: str, ring: dict[str, bytes] | None = None) -> str:
    """The one-time link of the contract e-mail, from the outbox row that carries it (sealed
    at rest: opened with store/outbox.py's one reader; `ring`: the key ring of a worker
    running in another process)."""
    link = await pending_link(
        pool, process_id=process_id, template="contract_for_signing_email", ring=ring
    )
    assert link, f"no pending signing link for {process_id}"
    return link


def path_of(link: str) -> str:
    """/sign?contract=...&token=...: the link on whatever host serves the page."""
    u = urlparse(link)
    return f"{u.path}?{u.query}"


def token_of(link: str) -> str:
    return parse_qs(urlparse(link).query)["token"][0]


def form_fields(html: str) -> dict[str, str]:
    """The hidden fields of the page's sign form (both forms carry the same)."""
    return dict(FORM_FIELD.findall(html))
