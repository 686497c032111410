"""The partner's own pages over HTTP against the real stack (dev server, worker, PostgreSQL,
the portal process): the home page with what waits, orders with their prices and the
partner's "no", what happens to a CLASSOUND order after its documents, and every answer in
the partner's language (German for Nordtel, Norwegian for a user who reads it) with names
instead of ids. The tests of this module run in order on one stack."""

import asyncio
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from portal.routes.home import this_month
from store.demo import LIST_PRICES
from tests.chromium import after_click, installed
from tests.chromium import chromium as open_chromium
from tests.e2e.cli import ROOT
from tests.portal.conftest import PASSWORD
from tests.portal.test_portal_http import browser, csrf_of, log_in

pytestmark = pytest.mark.e2e

LOA = (ROOT / "demo" / "LOA.pdf").read_bytes()
INVOICE = (ROOT / "demo" / "last-invoice.pdf").read_bytes()
EUR = {sku: Decimal(price) for sku, currency, price in LIST_PRICES if currency == "EUR"}


async def user_active(stack, partner: str, user: str) -> None:
    """The partner user has set its password (its first login, through the starter)."""
    if await stack.db.fetchval("SELECT status FROM partner_users WHERE id = $1", user) == "active":
        return
    await stack.ok("invite-partner-user", "--partner", partner, "--contact", user, "--as", "cm-eva")
    link = await stack.login_link(user)
    password = Path(stack.env["PARTNERFLOW_DATA_DIR"]) / f"password-{user}"
    password.write_text(PASSWORD + "\n")
    await stack.ok(
        "partner-login",
        "--partner",
        partner,
        "--user",
        user,
        "--token",
        link,
        "--password-file",
        str(password),
    )


@pytest.fixture(scope="module")
async def users(stack):
    """Anna Holm of Nordtel (German, her partner's language) and Chloé Martin of Alpcom, who
    reads Norwegian (her contact's language)."""
    await user_active(stack, "P-NORDTEL", "C-NORD-1")
    await user_active(stack, "P-ALPCOM", "C-ALP-1")
    await stack.db.execute("UPDATE contacts SET language = 'nb' WHERE id = 'C-ALP-1'")
    return stack


def answer_of(html: str) -> list[str]:
    return re.findall(r'<p class="flash (?:ok|error|info)"[^>]*>([^<]*)</p>', html)


def count_in_menu(html: str, href: str) -> int | None:
    found = re.search(rf'<a href="{href}"[^>]*>[^<]*<span class="count"[^>]*>(\d+)</span>', html)
    return int(found.group(1)) if found else None


def money(text: str) -> Decimal:
    """A German or Norwegian amount ("1.234,50", "1 234,50") as a number."""
    return Decimal(re.sub(r"[.\s\u00a0\u202f]", "", text).replace(",", "."))


async def test_the_home_page_shows_what_waits_with_its_counts_in_the_menu(users):
    stack = users
    # a queue with a service level: a lead Anna claims goes back if she does not work it
    await stack.ok(
        "open-lead-queue",
        "--queue",
        "sla",
        "--name",
        "Callbacks",
        "--partner",
        "P-NORDTEL",
        "--work-within",
        "240",
        "--as",
        "cm-eva",
    )
    await stack.ok(
        "add-lead",
        "--queue",
        "sla",
        "--company",
        "Elbe Zahntechnik",
        "--email",
        "info@elbe-zahn.example",
        "--country",
        "DE",
        "--postal-code",
        "20095",
        "--product",
        "Premium",
    )
    sla_lead = await stack.db.fetchval("SELECT id FROM leads WHERE queue_id = 'sla'")
    # an opportunity closing this month, and one closing later
    fair = [
        r["id"]
        for r in await stack.db.fetch(
            "SELECT id, company FROM leads WHERE queue_id = 'fair' AND status = 'queued'"
            " ORDER BY id LIMIT 2"
        )
    ]
    _, last_day = this_month()
    for lead, close in zip(fair, (last_day.isoformat(), "2099-12-31"), strict=True):
        await stack.ok(
            "claim-lead", "--queue", "fair", "--lead", lead, "--for", "C-NORD-1", "--as", "cm-eva"
        )
        await stack.ok(
            "convert-lead",
            "--queue",
            "fair",
            "--lead",
            lead,
            "--for",
            "C-NORD-1",
            "--close-date",
            close,
            "--stage",
            "proposal",
            "--as",
            "cm-eva",
        )
    closing = await stack.db.fetchval("SELECT company FROM leads WHERE id = $1", fair[0])
    later = await stack.db.fetchval("SELECT company FROM leads WHERE id = $1", fair[1])
    async with browser(stack) as c:
        done = await log_in(c, "C-NORD-1")
        assert done.headers["location"] == "/home"  # after login: what waits
        inbox = await c.get("/leads")
        claimed = await c.post(
            f"/leads/{sla_lead}/claim", data={"csrf": csrf_of(inbox.text), "request": "slaclaim01"}
        )
        assert claimed.status_code == 303
        await c.get(claimed.headers["location"])  # the claim's own answer, read there
        home = await c.get("/home")
    assert home.status_code == 200
    html = home.text
    assert "<h1>Willkommen, Anna Holm</h1>" in html
    assert "Angemeldet als Anna Holm, Nordtel Partner GmbH" in html and "C-NORD-1" not in html
    expected_orders = await stack.db.fetchval(
        "SELECT count(*) FROM orders WHERE partner_id = 'P-NORDTEL'"
        " AND status = 'awaiting_partner_confirmation'"
    )
    assert expected_orders >= 1
    assert count_in_menu(html, "/orders") == expected_orders
    # the CLASSOUND order and the change order with CLASSOUND-FLATs both lack documents
    assert count_in_menu(html, "/documents") == 2
    assert count_in_menu(html, "/my-leads") == 1
    assert count_in_menu(html, "/opportunities") == 1
    assert "Elbe Zahntechnik · zurück in die Warteschlange am" in html
    assert f"{closing} · Angebot · Abschluss am" in html and later not in html
    acme = await stack.db.fetchval("SELECT name FROM accounts WHERE id = 'ACME'")
    assert f'<a href="/orders#order-{stack.made["nord-order"]}">{acme}</a>' in html


async def test_orders_show_prices_and_monthly_totals_and_a_partner_declines_with_a_reason(users):
    stack = users
    order = stack.made["nord-order"]  # ACME: Premium 8 -> 1, one of two flats cancelled
    premium = await stack.db.fetchval(
        "SELECT sum(quantity) FROM licences WHERE pbx_id = 'PBX-ACME' AND licence_type = 'Premium'"
    )
    licences = await stack.db.fetch(
        "SELECT licence_type, sum(quantity) AS n FROM licences WHERE pbx_id = 'PBX-ACME'"
        " GROUP BY licence_type"
    )
    flats = await stack.db.fetchval(
        "SELECT count(*) FROM pbx_products f JOIN catalogue c ON c.sku = f.sku"
        " AND c.kind = 'classound_flat' WHERE f.pbx_id = 'PBX-ACME' AND f.status = 'active'"
    )
    before = sum(EUR[r["licence_type"]] * r["n"] for r in licences) + EUR["CLASSOUND-FLAT"] * flats
    after = before - EUR["Premium"] * (premium - 1) - EUR["CLASSOUND-FLAT"]
    async with browser(stack) as c:
        await log_in(c, "C-NORD-1")
        page = await c.get("/orders")
        section = page.text.split(f'id="order-{order}"')[1].split("</section>")[0]
        assert "19,90 EUR" in section  # Premium's monthly list price
        totals = re.findall(r"<dd>([\d.,]+) EUR</dd>", section)
        assert [money(t) for t in totals] == [before, after]
        assert "Listenpreise pro Monat, ohne MwSt." in section

        # no reason: refused on the page, in German, nothing sent
        short = await c.post(
            f"/orders/{order}/decline", data={"csrf": csrf_of(page.text), "reason": "ne"}
        )
        assert short.status_code == 400
        assert "Geben Sie einen Grund an (mindestens 3, höchstens 500 Zeichen)." in short.text
        assert f'id="{order}-reason-error"' in short.text
        assert (
            await stack.db.fetchval("SELECT status FROM orders WHERE process_id = $1", order)
            == "awaiting_partner_confirmation"
        )

        said = await c.post(
            f"/orders/{order}/decline",
            data={
                "csrf": csrf_of(page.text),
                "reason": "Der Kunde möchte 3 Premium-Lizenzen behalten",
                "request": "declineacme01",
            },
        )
        assert said.status_code == 303 and said.headers["location"].startswith("/orders?answer=")
        shown = await c.get(said.headers["location"])
        again = await c.get(said.headers["location"])  # the answer is shown once
    order_id = await stack.db.fetchval("SELECT id FROM orders WHERE process_id = $1", order)
    acme = await stack.db.fetchval("SELECT name FROM accounts WHERE id = 'ACME'")
    assert answer_of(shown.text) == [
        f"Erledigt: Bestellung {order_id} für {acme} ist abgelehnt; unser Team ist informiert."
    ]
    assert answer_of(again.text) == []
    row = await stack.db.fetchrow(
        "SELECT status, closed_reason FROM orders WHERE process_id = $1", order
    )
    assert dict(row) == {
        "status": "declined",
        "closed_reason": "Der Kunde möchte 3 Premium-Lizenzen behalten",
    }
    audit = await stack.db.fetchrow(
        "SELECT actor, action FROM audit_log WHERE process_id = $1 AND step = 'decline'", order
    )
    assert audit["actor"] == "C-NORD-1" and "3 Premium-Lizenzen behalten" in audit["action"]
    told = await stack.db.fetch(
        "SELECT recipient_kind, recipient_id FROM notifications"
        " WHERE process_id = $1 AND template = 'order_declined'",
        order,
    )
    assert [tuple(t) for t in told] == [("role", "ops")]


async def test_two_requests_of_one_session_each_show_their_own_answer_then_what_happens_next(
    users,
):
    stack = users
    classound = stack.made["nord-classound"]
    async with browser(stack) as c:
        await log_in(c, "C-NORD-1")
        page = await c.get("/documents")
        token = csrf_of(page.text)

        async def upload(kind: str, name: str, data: bytes, rid: str) -> httpx.Response:
            return await c.post(
                f"/documents/{classound}/upload",
                data={"csrf": token, "kind": kind, "request": rid},
                files={"file": (name, data, "application/pdf")},
            )

        # two tabs of one session, sent at once
        loa, invoice = await asyncio.gather(
            upload("loa", "LOA.pdf", LOA, "concurrentloa1"),
            upload("last-invoice", "last-invoice.pdf", INVOICE, "concurrentinv1"),
        )
        assert loa.status_code == invoice.status_code == 303
        loa_page, invoice_page = await asyncio.gather(
            c.get(loa.headers["location"]), c.get(invoice.headers["location"])
        )
        assert answer_of(loa_page.text) == [
            "Erledigt: LOA (Portierungsauftrag) LOA.pdf ist hochgeladen."
        ]
        assert answer_of(invoice_page.text) == [
            "Erledigt: letzte Rechnung last-invoice.pdf ist hochgeladen."
        ]
        section = invoice_page.text.split(f'id="documents-{classound}"')[1].split("</section>")[0]
        assert "Beide Unterlagen liegen vor: Als Nächstes bestätigt unser Team" in section
        assert "von Anna Holm" in section and "von C-NORD-1" not in section

        # staff confirm: the porting is requested; the carrier answers; the numbers go live
        await stack.ok("confirm", classound, "--as", "ops-anna")
        requested = await c.get("/documents")
        section = requested.text.split(f'id="documents-{classound}"')[1].split("</section>")[0]
        assert "Die Portierung ist beim bisherigen Anbieter beantragt" in section
        # a tab still open on the upload form: the process refuses, said in German
        late = await upload("loa", "LOA-2.pdf", LOA + b"\n", "lateupload01")
        assert answer_of((await c.get(late.headers["location"])).text) == [
            "Abgelehnt: Die Unterlagen dieser Bestellung können nicht mehr geändert werden."
        ]
        today = await stack.db.fetchval("SELECT (now() AT TIME ZONE 'Europe/Berlin')::date")
        await stack.ok(
            "carrier-answer", classound, "--porting-date", today.isoformat(), "--as", "ops-anna"
        )
        for _ in range(300):  # the porting date's timer fires at once: today has begun
            status = await stack.db.fetchval(
                "SELECT status FROM classound_orders WHERE process_id = $1", classound
            )
            if status == "active":
                break
            await asyncio.sleep(0.2)
        active = await c.get("/documents")
        section = active.text.split(f'id="documents-{classound}"')[1].split("</section>")[0]
        assert f"Aktiv seit {today:%d.%m.%Y}: +493055501" in section, section

        # its own documents, downloaded; another partner's are not found
        got = await c.get(f"/documents/{classound}/loa")
        assert got.status_code == 200 and got.content == LOA
        assert got.headers["content-type"] == "application/pdf"
    async with browser(stack) as other:
        await log_in(other, "C-ALP-1")
        assert (await other.get(f"/documents/{classound}/loa")).status_code == 404


async def test_a_norwegian_partner_user_reads_every_page_and_answer_in_norwegian(users):
    stack = users
    lead = await stack.db.fetchval(
        "SELECT id FROM leads WHERE queue_id = 'fair' AND status = 'queued' ORDER BY id LIMIT 1"
    )
    await stack.ok(
        "claim-lead", "--queue", "fair", "--lead", lead, "--for", "C-ALP-1", "--as", "cm-eva"
    )
    await stack.ok(
        "convert-lead", "--queue", "fair", "--lead", lead, "--for", "C-ALP-1", "--as", "cm-eva"
    )
    company = await stack.db.fetchval("SELECT company FROM leads WHERE id = $1", lead)
    alp_classound = stack.made["alp-classound"]
    async with browser(stack) as c:
        await log_in(c, "C-ALP-1")
        home = await c.get("/home")
        assert '<html lang="nb">' in home.text and "<h1>Velkommen, Chloé Martin</h1>" in home.text
        orders = await c.get("/orders")
        # DELTA is billed in CHF: its prices in CHF, in Norwegian format
        assert "Månedlig sum nå" in orders.text and "28,50 CHF" in orders.text

        documents = await c.get("/documents")
        bad = await c.post(
            f"/documents/{alp_classound}/upload",
            data={"csrf": csrf_of(documents.text), "kind": "loa"},
            files={"file": ("notapdf.txt", b"just some words", "text/plain")},
        )
        assert bad.status_code == 400
        assert "notapdf.txt er ikke en PDF-, PNG- eller JPEG-fil" in bad.text

        opportunities = await c.get("/opportunities")
        assert "Prospektering" in opportunities.text
        updated = await c.post(
            f"/opportunities/OPP-{lead}",
            data={"csrf": csrf_of(opportunities.text), "stage": "proposal", "amount": "4500"},
        )
        assert updated.status_code == 303
        shown = await c.get(updated.headers["location"])
    said = answer_of(shown.text)
    assert said == [
        f"Utført: salgsmulighet {company} oppdatert: Fase Tilbud, Beløp 4\u00a0500,00 EUR."
    ]
    assert not re.search(r"proposal|update-opportunity|OPP-|C-ALP-1", said[0])


# --- in Debian's Chromium, in German and Norwegian, at desktop and phone width ----------------

SHOTS = Path("/tmp/shots-portal")  # looked at by people, never part of the repository
WIDTHS = {"desktop": (1280, 1400), "phone": (390, 844)}


@pytest.fixture(scope="module")
def chromium():
    if not installed():
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with open_chromium() as driver:
        yield driver


class Browser:
    def __init__(self, driver, base: str) -> None:
        from selenium.webdriver.common.by import By

        self.d, self.base, self.By = driver, base, By

    def css(self, selector: str):
        return self.d.find_element(self.By.CSS_SELECTOR, selector)

    def text(self) -> str:
        return self.css("body").text

    def go(self, path: str) -> None:
        self.d.get(self.base + path)

    def submit(self, selector: str) -> None:
        """Clicks a form's button and waits until the next page replaced this one."""
        after_click(self.d, self.css(selector))

    def log_in(self, user: str) -> None:
        self.d.delete_all_cookies()
        self.go("/login")
        self.css("#user").send_keys(user)
        self.css("#password").send_keys(PASSWORD)
        self.submit("main form button[type=submit]")

    def shots(self, name: str, lang: str) -> None:
        """The page at desktop and at phone width: one h1, the page's language, nothing
        scrolling sideways; a screenshot of each."""
        for width, size in WIDTHS.items():
            self.d.set_window_size(*size)
            facts = self.d.execute_script(
                "return {h1: document.querySelectorAll('h1').length,"
                " lang: document.documentElement.lang,"
                " wide: document.documentElement.scrollWidth"
                " > document.documentElement.clientWidth};"
            )
            assert facts == {"h1": 1, "lang": lang, "wide": False}, (name, width, facts)
            self.d.save_screenshot(str(SHOTS / f"{lang}-{name}-{width}.png"))
        self.d.set_window_size(*WIDTHS["desktop"])


async def test_in_chromium_home_orders_with_decline_and_documents_in_german_and_norwegian(
    users, chromium
):
    stack = users
    # one order each to decline in the browser
    nord = await stack.ok(
        "fast-change", "--account", "ACME", "--pbx", "PBX-ACME", "--set", "Basic=9"
    )
    alp = await stack.ok(
        "fast-change", "--account", "DELTA", "--pbx", "PBX-DELTA", "--set", "Basic=4"
    )
    b = Browser(chromium, stack.url)

    def decline(process_id: str, reason: str) -> None:
        b.go("/orders")
        b.css(f"#order-{process_id} details.decline summary").click()
        b.css(f"#order-{process_id} textarea[name=reason]").send_keys(reason)
        b.submit(f"#order-{process_id} form[action$='/decline'] button")

    def in_german() -> None:
        b.log_in("C-NORD-1")
        assert b.d.current_url.endswith("/home")
        assert "Willkommen, Anna Holm" in b.text() and "Was auf Sie wartet" in b.text()
        b.shots("home", "de")
        b.go("/orders")
        assert "Monatlicher Gesamtbetrag nach der Bestellung" in b.text()
        b.shots("orders", "de")
        decline(nord["data"]["process_id"], "Falsche Lizenzart, bitte Premium")
        assert "ist abgelehnt; unser Team ist informiert." in b.text(), b.text()
        b.shots("orders-declined", "de")
        b.go("/documents")
        assert "Aktiv seit" in b.text() and "LOA.pdf herunterladen" in b.text()
        b.shots("documents", "de")

    def in_norwegian() -> None:
        b.log_in("C-ALP-1")
        assert "Velkommen, Chloé Martin" in b.text() and "Dette venter på deg" in b.text()
        b.shots("home", "nb")
        b.go("/orders")
        assert "Månedlig sum etter bestillingen" in b.text()
        b.shots("orders", "nb")
        decline(alp["data"]["process_id"], "Kunden vil vente til neste kvartal")
        assert "er avslått; våre medarbeidere er varslet." in b.text(), b.text()
        b.shots("orders-declined", "nb")
        b.go("/documents")
        assert "Mangler fortsatt: LOA (fullmakt til portering), siste faktura." in b.text()
        b.shots("documents", "nb")

    await asyncio.to_thread(in_german)
    await asyncio.to_thread(in_norwegian)
    for made in (nord, alp):
        assert (
            await stack.db.fetchval(
                "SELECT status FROM orders WHERE process_id = $1", made["data"]["process_id"]
            )
            == "declined"
        )
    assert len(list(SHOTS.glob("*.png"))) >= 16


# Last in this module: the relay sends every e-mail still waiting in the outbox, and the tests
# above read login links from there until they are sent.
async def test_in_chromium_an_order_e_mail_leads_through_login_to_the_order(users, chromium):
    """The partner's e-mail about an order to confirm, sent by the relay to a real SMTP
    catcher: its link opens the login page, and after login the partner is on its order."""
    from relay import Relay
    from relay.settings import Settings
    from relay.sinks import MailCatcher

    stack = users
    order = await stack.ok(
        "fast-change", "--account", "ACME", "--pbx", "PBX-ACME", "--set", "Basic=11"
    )
    process_id = order["data"]["process_id"]
    catcher = await MailCatcher().start()
    try:
        settings = Settings.from_environment(stack.env)
        settings.smtp_host, settings.smtp_port, settings.smtp_starttls = (
            "127.0.0.1",
            catcher.port,
            False,
        )
        settings.backoff_base = 0.0
        relay = Relay(stack.db, settings)
        try:
            while await relay.deliver_due():
                pass
        finally:
            await relay.close()
    finally:
        await catcher.stop()
    anchor = f"order-{process_id}"
    links = {
        link
        for m in catcher.messages
        for link in re.findall(r"https?://\S+/login\?next=\S+", m.text)
        if anchor in unquote(link)
    }
    assert len(links) == 1, [m.text for m in catcher.messages if process_id in m.text]
    (link,) = links
    assert link.startswith(stack.url)
    b = Browser(chromium, stack.url)

    def follow() -> None:
        b.d.delete_all_cookies()
        b.d.get(link)
        b.css("#user").send_keys("C-NORD-1")
        b.css("#password").send_keys(PASSWORD)
        b.submit("main form button[type=submit]")
        assert b.d.current_url == f"{stack.url}/orders#{anchor}", b.d.current_url
        assert b.css(f"#{anchor}").is_displayed()
        assert "Basic" in b.css(f"#{anchor}").text

    await asyncio.to_thread(follow)
