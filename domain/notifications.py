"""Rules of the outbox's delivery, without I/O: which kinds of message exist and in which
language the product writes them, the channel, the Message-ID, the back-off."""

import hashlib
from datetime import timedelta

# Every notification kind the processes write (store/*.py; its payload's model in
# domain/notices.py), with the language its product speaks, used when the reader's own has
# no template: the Wildix partner notices and the partner portal's mails are German (the
# portal's own default), the Avonova contract, its reminders and tickets Norwegian.
KINDS: dict[str, str] = {
    "order_awaiting_confirmation": "de",
    "order_confirmation_reminder": "de",
    "order_applied": "de",
    "order_cancelled": "de",
    "order_expired": "de",
    "order_declined": "en",  # to staff: a partner declined an order, with its reason
    "classound_documents_requested": "de",
    "classound_documents_reminder": "de",
    "porting_request": "de",
    "porting_scheduled": "de",
    "porting_refused": "de",
    "classound_active": "de",
    "classound_cancelled": "de",
    "classound_expired": "de",
    "contract_for_signing_email": "nb",
    "contract_for_signing_sms": "nb",
    "contract_signing_reminder": "nb",
    "contract_signing_deadline_extended": "nb",
    "renegotiation_signing_deadline_passed": "nb",
    "renegotiation_increase_for_sales_credit": "nb",
    "renegotiation_contract_declined": "nb",
    # to the customer: the signed contract (PDF attached), or the decline confirmed
    "contract_signed_receipt": "nb",
    "contract_declined_receipt": "nb",
    "partner_user_login": "de",
    "leads_assigned": "de",
    "lead_owner_changed": "de",
    "lead_recalled": "de",
    "lead_not_interested": "en",
    # to ops, from the reconciliation after a workflow ended without closing its records
    "process_closed_by_reconciliation": "en",
    # from the portal itself: a link to set a forgotten password
    "password_reset": "en",
}

# How a reader of each language reads a date and a time: the locale of its format, and the
# zone a time is shown in (the partners' and customers' own: Germany, Norway; English
# readers are the vendor's partners elsewhere in Europe, shown in UK time).
LOCALES = {"de": "de_DE", "nb": "nb_NO", "en": "en_GB"}
ZONES = {"de": "Europe/Berlin", "nb": "Europe/Oslo", "en": "Europe/London"}


def locale_of(language: str) -> str:
    return LOCALES.get(language, "en_GB")


def zone_of(language: str) -> str:
    return ZONES.get(language, "Europe/London")


# Status of a row (migration 009).
QUEUED, SENT, FAILED, GIVEN_UP = "queued", "sent", "failed", "given_up"


def channel_of(kind: str) -> str:
    """An SMS is its own kind (the contract goes "by e-mail and SMS": two rows)."""
    return "sms" if kind.endswith("_sms") else "email"


def needs_signing_authority(kind: str) -> bool:
    """A contract and its reminders go only to a contact with signing authority."""
    return kind.startswith("contract_")


def language_for(kind: str, preferred: str | None, available: set[str]) -> str:
    """The recipient's own language when a template exists in it, else the product's."""
    if preferred and preferred in available:
        return preferred
    return KINDS.get(kind, "en")


def message_id(
    notification_id: int, process_id: str, run: str, step: str, resent: int, domain: str
) -> str:
    """Stable per row: a message sent again after a crash carries the same Message-ID, so the
    receiving side recognises it as the same message. A resend by staff (`starter.py resend`)
    is a new message: `resent` is part of the id. Process ids carry no personal data, but the
    step may be long: a digest keeps the id short and free of odd characters."""
    digest = hashlib.sha256(f"{process_id}\x00{run}\x00{step}".encode()).hexdigest()[:16]
    return f"<n{notification_id}.r{resent}.{digest}@{domain}>"


def backoff(attempts: int, base: float, cap: float) -> timedelta:
    """Wait before attempt `attempts + 1` after `attempts` failed ones: base, 2×, 4× … cap."""
    if attempts < 1:
        return timedelta(0)
    return timedelta(seconds=min(cap, base * 2 ** min(attempts - 1, 30)))


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
