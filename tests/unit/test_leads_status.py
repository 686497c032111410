"""What `starter.py status` prints for a lead queue and a partner account."""

from datetime import UTC, datetime

from cli.leads import show_queue
from cli.partners import login_token, show_account
from domain.leads import AssignmentRule, LeadSlot, QueueState
from domain.partners import PartnerAccountStatus, PartnerRoster, PartnerUserView

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def test_a_queue_shows_its_partners_rules_and_leads():
    state = QueueState(
        process_id="lead-queue-fair",
        stage="open",
        waiting_for="claims",
        since=NOW,
        queue_id="fair",
        name="Trade fair",
        channel_managers=["cm-eva"],
        claim_cap=2,
        routing="claim",
        partners=["P-A", "P-B"],
        rosters={
            "P-A": PartnerRoster(
                partner_id="P-A", version=3, active=True, users={"C-1": "active", "C-2": "invited"}
            ),
            "P-B": PartnerRoster(partner_id="P-B", version=2, active=False),
        },
        rules=[AssignmentRule(rule_id=1, country="DE", postal_prefix="80", to_queue="south")],
        leads={
            "L-1": LeadSlot(
                dedupe_key="k1", status="owned", owner="C-1", partner="P-A", how="claim"
            ),
            "L-2": LeadSlot(
                dedupe_key="k2",
                status="converted",
                owner="C-1",
                partner="P-A",
                how="assignment",
                opportunity_id="OPP-L-2",
                opportunity_stage="proposal",
            ),
            "L-3": LeadSlot(dedupe_key="k3", status="forwarded", forwarded_to="south"),
        },
    )
    text = show_queue(state.model_dump(mode="json"))
    assert "P-A: 1 open lead(s); can receive leads: C-1" in text
    assert "P-B (deactivated): 0 open lead(s); can receive leads: nobody yet" in text
    assert "rule 1:      rule 1: country DE and postal prefix 80 -> queue south" in text
    assert "L-1 owned C-1 (P-A, by claim)" in text
    assert "L-2 converted C-1 (P-A, by assignment) -> OPP-L-2 proposal" in text
    assert "L-3 forwarded -> queue south" in text


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
