"""Rules of the outbox's delivery (domain/notifications.py) and its templates (each kind
rendered from its step's payload: tests/unit/test_notices.py)."""

import re
from datetime import timedelta
from pathlib import Path

import pytest

from domain import notices
from domain.notifications import (
    KINDS,
    backoff,
    channel_of,
    language_for,
    message_id,
    needs_signing_authority,
)
from relay.messages import Templates, Undeliverable, message_context

ROOT = Path(__file__).resolve().parents[2]


def test_the_seeds_words():
    t = Templates()

    def context(n: notices.Notice, link: str | None = None) -> dict:
        return message_context(
            n.payload(),
            recipient_name="Nordtel",
            link=link,
            process_id="p",
            language=KINDS[n.template],
            portal_url="https://partners.example",
        )

    order = notices.OrderAwaitingConfirmation(
        order_id="O-1", account_id="ACME", pbx_id="PBX-A", portal_path=notices.order_page("O-1")
    )
    _, text, _ = t.render(order.template, "de", context(order))
    assert "Bestellung bestätigen" in text  # the partner's own word for confirming
    contract = notices.ContractForSigning(
        channel="email", contract_id="K-1", signing_deadline="2026-12-09"
    )
    subject, _, _ = t.render(contract.template, "nb", context(contract, "L"))
    assert "Reforhandling av avtale om Avonova Assist" in subject  # the product's own name


def test_html_is_escaped_and_a_missing_field_is_undeliverable():
    t = Templates()
    ctx = {
        "recipient_name": "<script>x</script>",
        "link": None,
        "process_id": "p",
        "language": "de",
        "order_id": "O",
        "reason": "r",
        "portal_link": None,
    }
    _, text, html = t.render("order_cancelled", "de", ctx)
    assert "<script>" in text and "<script>" not in html and "&lt;script&gt;" in html
    with pytest.raises(Undeliverable, match="order_id"):
        t.render("order_cancelled", "de", {k: v for k, v in ctx.items() if k != "order_id"})
    with pytest.raises(Undeliverable, match="no template"):
        t.render("order_cancelled", "fr", ctx)


def test_channel_language_and_signing_authority():
    assert channel_of("contract_for_signing_sms") == "sms"
    assert channel_of("contract_for_signing_email") == "email"
    assert language_for("order_applied", "en", {"de"}) == "de"  # no English template
    assert language_for("order_applied", "en", {"de", "en"}) == "en"
    assert language_for("contract_signing_reminder", None, {"nb"}) == "nb"
    assert needs_signing_authority("contract_signing_reminder")
    assert not needs_signing_authority("renegotiation_signing_deadline_passed")


def test_the_message_id_is_stable_per_row_and_new_per_resend():
    a = message_id(7, "renegotiation-X", "run1", "send:email", 0, "pf.example")
    assert a == message_id(7, "renegotiation-X", "run1", "send:email", 0, "pf.example")
    assert a != message_id(7, "renegotiation-X", "run1", "send:email", 1, "pf.example")
    assert a != message_id(8, "renegotiation-X", "run1", "send:email", 0, "pf.example")
    assert re.fullmatch(r"<n7\.r0\.[0-9a-f]{16}@pf\.example>", a)


def test_backoff_doubles_up_to_the_cap():
    assert backoff(0, 30, 3600) == timedelta(0)
    assert [backoff(n, 30, 3600).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(40, 30, 3600) == timedelta(seconds=3600)
