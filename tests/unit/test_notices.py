"""Every message renders from the payload its step builds: each kind's model (domain/notices.py,
the one the store's steps construct) rendered in every language with a template, through the
context the relay gives it. A template that reads a field its step does not write, or of
another shape, fails here and not at delivery."""

import pytest

from domain import notices
from domain.notifications import KINDS, channel_of
from relay.messages import Templates, message_context

PORTAL = "https://partners.example"

# One of each, as the steps build them (store/*.py call these constructors).
BUILT: list[notices.Notice] = [
    notices.OrderAwaitingConfirmation(
        order_id="O-1", account_id="ACME", pbx_id="PBX-A", portal_path=notices.order_page("O-1")
    ),
    notices.OrderConfirmationReminder(
        order_id="O-1", reminder=2, portal_path=notices.order_page("O-1")
    ),
    notices.OrderApplied(
        order_id="O-1", changes=["Premium 8 -> 10"], portal_path=notices.order_page("O-1")
    ),
    notices.OrderClosed(
        status="cancelled", order_id="O-1", reason="r", portal_path=notices.order_page("O-1")
    ),
    notices.OrderClosed(
        status="expired", order_id="O-1", reason="r", portal_path=notices.order_page("O-1")
    ),
    notices.OrderDeclined(
        order_id="O-1",
        account_id="ACME",
        partner_id="P-NORDTEL",
        declined_by="C-NORD-1",
        reason="the customer wants 3",
    ),
    notices.PasswordReset(user_id="C-NORD-1", expires_at="2026-12-02T10:00:00+00:00"),
    notices.DocumentsRequested(process_id="c-1", portal_path=notices.documents_page("c-1")),
    notices.DocumentsReminder(
        process_id="c-1",
        reminder=1,
        waiting_for="LOA, last invoice",
        portal_path=notices.documents_page("c-1"),
    ),
    notices.PortingRequest(porting_request_id=3, pbx_id="PBX-A", attempt=1),
    notices.PortingAnswered(
        refused=False,
        process_id="c-1",
        attempt=1,
        porting_date="2026-12-20",
        portal_path=notices.documents_page("c-1"),
    ),
    notices.PortingAnswered(
        refused=True,
        process_id="c-1",
        attempt=1,
        porting_date=None,
        portal_path=notices.documents_page("c-1"),
    ),
    notices.ClassoundActive(
        process_id="c-1",
        dids=["+49 30 1234501", "+49 30 1234502"],
        activated_on="2026-12-20",
        portal_path=notices.documents_page("c-1"),
    ),
    notices.ClassoundClosed(
        status="cancelled", process_id="c-1", reason="r", portal_path=notices.documents_page("c")
    ),
    notices.ClassoundClosed(
        status="expired", process_id="c-1", reason="r", portal_path=notices.documents_page("c")
    ),
    notices.ContractForSigning(channel="email", contract_id="K-1", signing_deadline="2026-12-09"),
    notices.ContractForSigning(channel="sms", contract_id="K-1", signing_deadline="2026-12-09"),
    notices.SigningReminder(contract_id="K-1", reminder=1, signing_deadline="2026-12-09"),
    notices.SigningDeadlineExtended(contract_id="K-1", signing_deadline="2026-12-16"),
    notices.SigningDeadlinePassed(
        process_id="r-1", ticket_id=1, contract_id="K-1", signing_deadline="2026-12-09"
    ),
    notices.IncreaseForSalesCredit(
        account_id="F",
        deal_id="D",
        contract_id="K-1",
        licences_before=20,
        licences_after=25,
        originally_signed_on="2025-01-15",
        signed_on="2026-12-02",
    ),
    notices.ContractDeclined(
        process_id="r-1",
        ticket_id=1,
        contract_id="K-1",
        account_id="F",
        declined_on="2026-12-03",
        reason="for dyrt",
    ),
    notices.ContractSignedReceipt(
        contract_id="K-1",
        company="Fjordkraft AS",
        signed_at="2026-12-02T10:31:00+00:00",
        reader_language="nb",
    ),
    notices.ContractDeclinedReceipt(
        contract_id="K-1",
        company="Fjordkraft AS",
        declined_at="2026-12-02T10:31:00+00:00",
        reason="for dyrt",
        reader_language="en",
    ),
    notices.PartnerUserLogin(
        partner_id="P-NORDTEL",
        partner_name="Nordtel Partner GmbH",
        user_id="C-NORD-1",
        expires_at="2026-12-14T09:31:00.450893+00:00",
    ),
    notices.LeadsAssigned(queue_id="Q", lead_ids=["L-1", "L-2"], portal_path="/my-leads"),
    notices.LeadOwnerChanged(queue_id="Q", lead_ids=["L-1"], by="cm-eva", portal_path="/my-leads"),
    notices.LeadRecalled(
        queue_id="Q",
        lead_id="L-1",
        user_id="C-NORD-1",
        partner_id="P-NORDTEL",
        work_within_minutes=240,
        portal_path="/my-leads",
    ),
    notices.LeadNotInterested(
        queue_id="Q", lead_id="L-3", user_id="C-NORD-1", partner_id="P-NORDTEL", reason="r"
    ),
    notices.ClosedByReconciliation(records=["order O-1"], reason="closed by reconciliation"),
]

TEMPLATES = Templates()
CASES = [(n, language) for n in BUILT for language in sorted(TEMPLATES.available(n.template))]


def test_every_kind_has_a_model_and_a_template_in_its_products_language():
    models = {c for c in vars(notices).values() if isinstance(c, type) and c is not notices.Notice}
    models = {c for c in models if issubclass(c, notices.Notice)}
    assert models == {type(n) for n in BUILT}  # every model is rendered here
    assert {n.template for n in BUILT} == set(KINDS)
    for kind, language in KINDS.items():
        assert language in TEMPLATES.available(kind), kind


def render(n: notices.Notice, language: str) -> tuple[str, str, str]:
    link = "https://x.example/one-time?token=abc"
    context = message_context(
        n.payload(),
        recipient_name="Anna Holm",
        link=link,
        process_id="p-1",
        language=language,
        portal_url=PORTAL,
    )
    return TEMPLATES.render(n.template, language, context)


@pytest.mark.parametrize(
    ("notice", "language"), CASES, ids=[f"{n.template}-{lang}" for n, lang in CASES]
)
def test_each_template_renders_the_payload_its_step_builds(notice, language):
    subject, text, html = render(notice, language)
    assert subject and "\n" not in subject and text.strip()
    if channel_of(notice.template) == "email":
        assert html.startswith("<!doctype html>") and f'lang="{language}"' in html
    path = notice.payload().get("portal_path")
    if path:  # a partner's notice leads to its item, through the login
        assert f"{PORTAL}/login?next=" in text and f'href="{PORTAL}/login?next=' in html
    assert (
        "Ticket" not in text
        and "ticket" not in text
        or notice.template.startswith("renegotiation_")
    )


def test_the_active_numbers_are_listed_one_by_one():
    n = next(n for n in BUILT if n.template == "classound_active")
    _, text, _ = render(n, "de")
    assert "  - +49 30 1234501\n" in text and "  - +49 30 1234502\n" in text
    assert "20. Dezember 2026" in text


def test_the_invitation_names_the_user_id_and_the_expiry_in_the_readers_zone_and_format():
    n = next(n for n in BUILT if n.template == "partner_user_login")
    _, de, _ = render(n, "de")
    assert "Ihr Benutzername: C-NORD-1" in de
    assert "14. Dezember 2026, 10:31:00 MEZ" in de, de
    assert "Passwort fest" in de and "temporär" not in de.lower() and "+00:00" not in de
    _, nb, _ = render(n, "nb")
    assert "Brukernavnet ditt: C-NORD-1" in nb and "14. desember 2026" in nb, nb
    _, en, _ = render(n, "en")
    assert "Your user name: C-NORD-1" in en and "temporary" not in en
