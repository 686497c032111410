"""What `starter.py status` prints for a lead queue and a partner account."""

from datetime import UTC, datetime

from cli.leads import show_router
from cli.partners import login_token, show_account
from domain.leads import AssignmentRule, RouterState
from domain.partners import PartnerAccountStatus, PartnerRoster, PartnerUserView

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def test_a_queue_shows_its_partners_rules_and_newest_leads():
    state = RouterState(
        process_id="lead-queue-fair",
        stage="open",
        waiting_for="claims",
        since=NOW,
        queue_id="fair",
        name="Trade fair",
        channel_managers=["cm-eva"],
        claim_cap=2,
        routing="claim",
        work_within_minutes=60,
        partners=["P-A", "P-B"],
        rosters={
            "P-A": PartnerRoster(
                partner_id="P-A", version=3, active=True, users={"C-1": "active", "C-2": "invited"}
            ),
            "P-B": PartnerRoster(partner_id="P-B", version=2, active=False),
        },
        rules=[AssignmentRule(rule_id=1, country="DE", postal_prefix="80", to_queue="south")],
        received={"new": 3, "duplicates": 1},
    )
    card = {"company": "Acme", "country": "DE", "postal_code": "80331", "product": "Premium"}
    cards = {
        "L-1": {
            **card,
            "arrived": NOW.isoformat(),
            "status": "owned",
            "owner": "C-1",
            "partner": "P-A",
        },
        "L-2": {**card, "arrived": NOW.isoformat(), "status": "queued"},
    }
    text = show_router({**state.model_dump(mode="json"), "lead_cards": cards})
    assert "claim cap 2, leads worked within 60 min, channel managers cm-eva" in text
    assert "P-A: can receive leads: C-1" in text
    assert "P-B (deactivated): can receive leads: nobody yet" in text
    assert "rule 1:      rule 1: country DE and postal prefix 80 -> queue south" in text
    assert "leads:       new 3, duplicates 1" in text
    assert "L-1 owned C-1 (P-A)  (Acme, DE 80331, Premium," in text
    assert "L-2 queued  (Acme, DE 80331, Premium," in text


def test_a_partner_account_shows_its_users():
    status = PartnerAccountStatus(
        process_id="partner-account-P-A",
        stage="active",
        waiting_for="logins",
        since=NOW,
        partner_id="P-A",
        channel_manager="cm-eva",
        users={
            "C-1": PartnerUserView(user_id="C-1", status="active", first_login_at=NOW),
            "C-2": PartnerUserView(user_id="C-2", status="invited", link_expires_at=NOW),
        },
    )
    text = show_account(status.model_dump(mode="json"))
    assert "C-1 active logged in 2026-11-23" in text
    assert "C-2 invited link valid until 2026-11-23 09:30" in text


def test_the_login_link_or_its_token():
    assert login_token("https://p.example/first-login?user=C-1&token=abc-123") == "abc-123"
    assert login_token(" abc-123 ") == "abc-123"
