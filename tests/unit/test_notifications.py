"""Rules of the outbox's delivery (domain/notifications.py) and its templates."""

import re
from datetime import timedelta
from pathlib import Path

import pytest

from domain.notifications import (
    KINDS,
    backoff,
    channel_of,
    language_for,
    message_id,
    needs_signing_authority,
)
from relay.messages import Templates, Undeliverable

ROOT = Path(__file__).resolve().parents[2]

# What the steps put in each kind's payload (store/*.py), one example each.
SAMPLES = {
    "order_awaiting_confirmation": {"order_id": "O-1", "account_id": "ACME", "pbx_id": "PBX-A"},
    "order_confirmation_reminder": {"order_id": "O-1", "reminder": 2},
    "order_applied": {"order_id": "O-1", "changes": ["Premium 8 -> 10"]},
    "order_cancelled": {"order_id": "O-1", "reason": "customer withdrew"},
    "order_expired": {"order_id": "O-1", "reason": "not confirmed in time"},
    "order_declined": {
        "order_id": "O-1",
        "account_id": "ACME",
        "partner_id": "P-NORDTEL",
        "declined_by": "C-NORD-1",
        "reason": "the customer wants 3",
    },
    "classound_documents_requested": {"process_id": "p", "ticket_id": 7},
    "classound_documents_reminder": {
        "process_id": "p",
        "reminder": 1,
        "waiting_for": "LOA, last invoice",
    },
    "porting_request": {"porting_request_id": 3, "pbx_id": "PBX-A", "attempt": 1},
    "porting_scheduled": {
        "process_id": "p",
        "attempt": 1,
        "porting_date": "2026-12-20",
        "ticket_id": None,
    },
    "porting_refused": {"process_id": "p", "attempt": 1, "porting_date": None, "ticket_id": 9},
    "classound_active": {"process_id": "p", "dids": ["+49 30 1"], "activated_on": "2026-12-20"},
    "classound_cancelled": {"process_id": "p", "reason": "r"},
    "classound_expired": {"process_id": "p", "reason": "r"},
    "contract_for_signing_email": {"contract_id": "K-1", "signing_deadline": "2026-12-09"},
    "contract_for_signing_sms": {"contract_id": "K-1", "signing_deadline": "2026-12-09"},
    "contract_signing_reminder": {
        "contract_id": "K-1",
        "reminder": 1,
        "signing_deadline": "2026-12-09",
    },
    "contract_signing_deadline_extended": {"contract_id": "K-1", "signing_deadline": "2026-12-16"},
    "renegotiation_signing_deadline_passed": {
        "process_id": "p",
        "ticket_id": 1,
        "contract_id": "K-1",
        "signing_deadline": "2026-12-09",
    },
    "renegotiation_increase_for_sales_credit": {
        "account_id": "F",
        "deal_id": "D",
        "contract_id": "K-1",
        "licences_before": 20,
        "licences_after": 25,
        "originally_signed_on": "2025-01-15",
        "signed_on": "2026-12-02",
    },
    "renegotiation_contract_declined": {
        "process_id": "p",
        "ticket_id": 1,
        "contract_id": "K-1",
        "account_id": "F",
        "declined_on": "2026-12-03",
        "reason": "for dyrt",
    },
    "partner_user_login": {
        "partner_id": "P-N",
        "user_id": "C-1",
        "expires_at": "2026-12-09T12:00:00+00:00",
        "must_change_password": True,
    },
    "leads_assigned": {"queue_id": "Q", "lead_ids": ["L-1", "L-2"]},
    "lead_owner_changed": {"queue_id": "Q", "lead_ids": ["L-1"], "by": "cm-eva"},
    "lead_recalled": {
        "queue_id": "Q",
        "lead_id": "L-1",
        "user_id": "C-NORD-1",
        "partner_id": "P-NORDTEL",
        "work_within_minutes": 240,
    },
    "lead_not_interested": {
        "queue_id": "Q",
        "lead_id": "L-3",
        "user_id": "C-NORD-1",
        "partner_id": "P-NORDTEL",
        "reason": "already a customer",
    },
    "process_closed_by_reconciliation": {
        "records": ["order O-1", "quote Q-1"],
        "reason": "closed by reconciliation: workflow terminated by ops-anna (duplicate)",
    },
    "password_reset": {"user_id": "C-NORD-1", "expires_at": "2026-12-02T10:00:00+00:00"},
}


def test_every_kind_a_step_writes_is_known_and_has_a_template_in_its_seeds_language():
    written = set()
    for path in (ROOT / "store").glob("*.py"):
        written |= set(re.findall(r'template="([a-z_]+)"', path.read_text()))
        for prefix in re.findall(r'template=f"([a-z_]+)\{', path.read_text()):
            written |= {k for k in KINDS if k.startswith(prefix)}
    assert written and written <= set(KINDS), written - set(KINDS)
    templates = Templates()
    for kind, language in KINDS.items():
        assert language in templates.available(kind), kind


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_template_renders_its_payload(kind):
    link = (
        "https://x.example/first-login?token=abc"
        if kind
        in (
            "partner_user_login",
            "contract_for_signing_email",
            "contract_for_signing_sms",
            "password_reset",
        )
        else None
    )
    context = {
        **SAMPLES[kind],
        "recipient_name": "Kari",
        "link": link,
        "process_id": "p",
        "language": KINDS[kind],
    }
    subject, text, html = Templates().render(kind, KINDS[kind], context)
    assert subject and "\n" not in subject and text.strip()
    if link:
        assert link in text
    if channel_of(kind) == "email":
        assert html.startswith("<!doctype html>") and f'lang="{KINDS[kind]}"' in html


def test_the_seeds_words():
    t = Templates()
    ctx = {"recipient_name": "Nordtel", "link": None, "process_id": "p", "language": "de"}
    _, text, _ = t.render(
        "order_awaiting_confirmation", "de", {**ctx, **SAMPLES["order_awaiting_confirmation"]}
    )
    assert "Bestellung bestätigen" in text  # the partner's own word for confirming
    subject, _, _ = t.render(
        "contract_for_signing_email",
        "nb",
        {**ctx, "link": "L", **SAMPLES["contract_for_signing_email"]},
    )
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
