"""Rules of the customer signing page, without I/O: what a signing link
may still do, whose name signs, the form's CSRF field bound to the link, the hash of the
document shown, the language."""

import hashlib
import hmac
import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from domain.renegotiation import signing_closes_at

# The page speaks the product's language (Norwegian: Avonova's customers) and English.
LANGUAGES = ("nb", "en")
SEED_LANGUAGE = "nb"
LOCALES = {"nb": "nb_NO", "en": "en_GB"}


class LinkState(StrEnum):
    OPEN = "open"  # can be signed or declined
    SIGNED = "signed"  # used: signed (or signed and since replaced by a newer contract)
    DECLINED = "declined"  # used: declined
    EXPIRED = "expired"  # the signing deadline has passed (an extension opens it again)
    WITHDRAWN = "withdrawn"  # staff cancelled the renegotiation
    INVALID = "invalid"  # no such contract, a wrong token, or never sent


def token_matches(token: str, token_sha256: str | None) -> bool:
    """The link's token against the hash the contract keeps (constant time)."""
    if not token or not token_sha256:
        return False
    digest = hashlib.sha256(token.encode()).hexdigest()
    return hmac.compare_digest(digest, token_sha256)


def link_state(status: str, deadline: date | None, now: datetime) -> LinkState:
    """What a valid link opens. The link lasts until the signing deadline (all through that
    day, Oslo time, as the workflow counts it): past it, the link is expired even before the
    workflow's timer has marked the contract expired."""
    if status in ("signed", "superseded"):
        return LinkState.SIGNED
    if status == "declined":
        return LinkState.DECLINED
    if status == "cancelled":
        return LinkState.WITHDRAWN
    if status == "expired":
        return LinkState.EXPIRED
    if status == "sent" and deadline is not None:
        return LinkState.OPEN if now < signing_closes_at(deadline) else LinkState.EXPIRED
    return LinkState.INVALID


def csrf_field(secret: bytes, contract_id: str, token: str) -> str:
    """The hidden field of the page's forms: an HMAC of the link with the app's secret. A
    post without it (a form forged elsewhere) is refused; no session is needed."""
    message = f"signing-form\x00{contract_id}\x00{token}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, contract_id: str, token: str, field: str) -> bool:
    # bytes: compare_digest refuses str with non-ASCII characters (a forged field may have)
    return hmac.compare_digest(
        csrf_field(secret, contract_id, token).encode(), (field or "").encode()
    )


def document_sha256(document: str) -> str:
    """The evidence's hash of the contract text exactly as the page showed it (UTF-8)."""
    return hashlib.sha256(document.encode()).hexdigest()


def same_document(document: str, shown_sha256: str) -> bool:
    """The document rendered now is the one whose hash the form carries."""
    return hmac.compare_digest(document_sha256(document).encode(), shown_sha256.encode())


def _normal(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def name_matches(typed: str, signer_name: str) -> bool:
    """To sign, the signer types their own name as the contract names them: any case, any
    spacing (Unicode-normalised), nothing else: a typed name is a deliberate act, and a link
    forwarded to someone else does not sign in their name."""
    return bool(_normal(typed)) and _normal(typed) == _normal(signer_name)


def language_for_signer(chosen: str | None, preferred: str | None) -> str:
    """The language the signer chose on the page, else the contact's own when the page has
    it; a contact who reads another language gets English; none known: the product's."""
    if chosen in LANGUAGES:
        return chosen
    if preferred in LANGUAGES:
        return preferred
    return "en" if preferred else SEED_LANGUAGE


def line_total(quantity: int, unit_price: Decimal, discount_percent: Decimal) -> Decimal:
    """quantity × price less the discount, to the øre."""
    gross = Decimal(quantity) * unit_price
    return (gross * (Decimal(100) - discount_percent) / Decimal(100)).quantize(Decimal("0.01"))


# A link's fields as the contract e-mail writes them: a contract id and a URL-safe token. Any
# other text (a NUL, a control character, a very long value) is no link of ours and opens
# nothing; it never reaches the database.
_CONTRACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,200}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def link_well_formed(contract_id: str, token: str) -> bool:
    return bool(_CONTRACT_ID.fullmatch(contract_id) and _TOKEN.fullmatch(token))


def hash_well_formed(sha256: str) -> bool:
    return bool(_SHA256.fullmatch(sha256))


def has_controls(text: str) -> bool:
    """A NUL or another control character (tabs and line breaks aside): refused in what the
    signer types, as nothing a person types on the page contains it."""
    return bool(_CONTROLS.search(text))


def bound_to_contract(shown_sha256: str, contract_hashes: set[str]) -> bool:
    """Evidence belongs to a contract only when the hash it carries is the hash of that
    contract's own text (in a language the page shows it in); a hash copied from another
    contract, or made up, is not."""
    return any(hmac.compare_digest(shown_sha256.encode(), h.encode()) for h in contract_hashes)


# The period a contract line's price is for, by the line's kind: licences are paid monthly,
# everything else (onboarding, courses) once.
MONTHLY_KINDS = frozenset({"licence"})


def priced_monthly(kind: str) -> bool:
    return kind in MONTHLY_KINDS
