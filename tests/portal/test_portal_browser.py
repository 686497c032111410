"""The partner portal in a real Chromium (Debian's chromium and chromedriver, driven by
Selenium; nothing is downloaded), against the real stack: a partner user's whole way from the
invitation e-mail's link to a converted lead. Each page is checked for the basics of
accessibility (one h1, every field labelled, errors tied to fields, keyboard reachable) and
saved as a screenshot in tests/artifacts/screenshots/."""

import asyncio

import pytest

from tests.chromium import after_click, installed
from tests.chromium import chromium as open_chromium
from tests.e2e.cli import ROOT
from tests.portal.conftest import PASSWORD

pytestmark = pytest.mark.e2e

SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"

if not installed():
    pytest.skip(
        "Debian's chromium and chromium-driver are not installed (.ci/run installs them)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def chromium():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with open_chromium() as driver:
        yield driver


class Page:
    """What the test does in the browser, as a person would, plus the page checks."""

    def __init__(self, driver, base: str) -> None:
        from selenium.webdriver.common.by import By

        self.d, self.base, self.By = driver, base, By
        self.shots: list[str] = []

    def css(self, selector: str):
        return self.d.find_element(self.By.CSS_SELECTOR, selector)

    def text(self) -> str:
        return self.css("body").text

    def submit(self, selector: str) -> None:
        """Clicks a form's button and waits for the next page."""
        after_click(self.d, self.css(selector))

    def check(self, name: str) -> None:
        """One h1; every visible field has a label; fields marked invalid name their error;
        nothing scrolls sideways; the first Tab reaches the skip link. And a screenshot."""
        facts = self.d.execute_script("""
            const unlabelled = [...document.querySelectorAll('input, select, textarea')]
              .filter(e => e.type !== 'hidden' && !e.hidden)
              .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
              .map(e => e.name);
            const untied = [...document.querySelectorAll('[aria-invalid=true]')]
              .filter(e => !(e.getAttribute('aria-describedby') || '').split(' ')
                .some(id => id && document.getElementById(id)))
              .map(e => e.name);
            return {h1: document.querySelectorAll('h1').length, unlabelled, untied,
                    lang: document.documentElement.lang,
                    wide: document.documentElement.scrollWidth
                          > document.documentElement.clientWidth,
                    viewport: !!document.querySelector('meta[name=viewport]')};""")
        assert facts["h1"] == 1, (name, facts)
        assert facts["unlabelled"] == [] and facts["untied"] == [], (name, facts)
        assert facts["lang"] in ("de", "en") and facts["viewport"], (name, facts)
        assert not facts["wide"], (name, "scrolls sideways")  # also on a phone
        path = SCREENSHOTS / f"portal-{len(self.shots) + 1:02d}-{name}.png"
        self.d.save_screenshot(str(path))
        self.shots.append(path.name)
        from selenium.webdriver.common.keys import Keys

        self.css("body").send_keys(Keys.TAB)
        focused = self.d.switch_to.active_element
        assert focused.get_attribute("class") == "skip", name


async def test_a_partner_user_from_the_invitation_link_to_a_converted_lead(stack, chromium):
    link = await stack.login_link("C-NORD-1")  # as the invitation e-mail carries it
    assert link.startswith(stack.url + "/first-login?")
    order, classound = stack.made["nord-order"], stack.made["nord-classound"]
    lead = await stack.db.fetchval("SELECT id FROM leads WHERE company = 'Hafenlogistik GmbH'")
    p = Page(chromium, stack.url)

    def first_login_and_back():
        p.d.get(link)
        assert "Set your password" in p.text()  # the browser asks for English before login
        p.css("#password").send_keys("too-short")
        p.css("#password2").send_keys("too-short")
        p.submit("form button[type=submit]")
        assert "needs at least 12 characters" in p.text()
        p.check("first-login-refused")
        p.css("#password").send_keys(PASSWORD)
        p.css("#password2").send_keys(PASSWORD)
        p.submit("main form button[type=submit]")
        # logged in: Nordtel's users read German (the Wildix partners' language)
        assert p.d.current_url.endswith("/home") and "Erledigt: welcome, C-NORD-1" in p.text()
        p.submit(".logout button")
        assert p.d.current_url.endswith("/login") and "You are logged out." in p.text()
        p.check("login")
        p.css("#user").send_keys("C-NORD-1")
        p.css("#password").send_keys(PASSWORD)
        p.submit("main form button[type=submit]")
        assert p.d.current_url.endswith("/home")

    def confirm_the_order():
        p.d.get(stack.url + "/orders")
        body = p.text()
        assert "Zu bestätigende Bestellungen" in body and p.css(f"#order-{order}")
        # what confirming does: Premium 8 -> 1 cancels the newest flat; its DID stays
        assert "Premium: 1 CLASSOUND-FLAT(s) werden sofort gekündigt" in body
        assert "+49 30 5550123" in body and "Premium: 1 CLASSOUND-FLAT(s) bleiben" in body
        p.check("orders")
        p.submit(f"form[action='/orders/{order}/confirm'] button")
        assert "Erledigt:" in p.text(), p.text()
        p.check("orders-confirmed")

    def upload_documents():
        p.d.get(stack.url + "/documents")
        assert "Es fehlen noch: LOA (Portierungsauftrag), letzte Rechnung." in p.text()
        # the quote with CLASSOUND-FLATs waits for its documents too
        assert p.css(f"#documents-{stack.made['nord-change-order']}")
        assert "CLASSOUND-FLATs im Angebot: Premium 2" in p.text()
        form = f"form[action='/documents/{classound}/upload']"
        p.css(f"{form} input[type=file]").send_keys(str(ROOT / "demo" / "LOA.pdf"))
        p.submit(f"{form} button")
        assert "Erledigt:" in p.text() and "Es fehlen noch: letzte Rechnung." in p.text()
        p.css(f"{form} input[value='last-invoice']").click()
        p.css(f"{form} input[type=file]").send_keys(str(ROOT / "demo" / "last-invoice.pdf"))
        p.submit(f"{form} button")
        assert "Beide Unterlagen liegen vor" in p.text(), p.text()
        p.check("documents")

    def accept_and_convert_a_lead():
        p.d.get(stack.url + "/leads")
        assert "Hafenlogistik GmbH" in p.text() and "Isar Dental" in p.text()
        p.check("lead-inbox")
        p.submit(f"form[action='/leads/{lead}/claim'] button")
        assert "/my-leads?answer=" in p.d.current_url and "Erledigt:" in p.text()
        assert "j.petersen@hafenlogistik.example" in p.text()  # the contact, once claimed
        p.check("my-leads")
        form = f"form[action='/leads/{lead}/convert']"
        p.css(f"{form} input[name=amount]").send_keys("12.500,50")
        p.d.execute_script(
            "arguments[0].value = '2027-01-29'", p.css(f"{form} input[name=close_date]")
        )
        p.submit(f"{form} button")
        assert "Erledigt:" in p.text(), p.text()
        p.d.get(stack.url + "/opportunities")
        body = p.text()
        # German amounts and dates
        assert f"OPP-{lead}" in body and "12.500,50 EUR" in body and "29.01.2027" in body
        p.css(f"#stage-OPP-{lead} option[value='proposal']").click()
        p.submit(f"form[action='/opportunities/OPP-{lead}'] button")
        assert "Erledigt:" in p.text() and "Angebot" in p.text()
        p.check("opportunities")
        p.d.set_window_size(390, 844)  # a phone
        p.d.get(stack.url + "/documents")
        p.check("phone-documents")
        p.d.set_window_size(1280, 1400)

    await asyncio.to_thread(first_login_and_back)
    await asyncio.to_thread(confirm_the_order)
    assert (
        await stack.db.fetchval(
            "SELECT status, confirmed_by FROM orders WHERE process_id = $1", order
        )
        == "applied"
    )
    assert (
        await stack.db.fetchval("SELECT confirmed_by FROM orders WHERE process_id = $1", order)
        == "C-NORD-1"
    )
    await asyncio.to_thread(upload_documents)
    docs = await stack.db.fetch(
        "SELECT kind, uploaded_by FROM documents WHERE process_id = $1"
        " AND is_current ORDER BY kind",
        classound,
    )
    assert [(d["kind"], d["uploaded_by"]) for d in docs] == [
        ("last-invoice", "C-NORD-1"),
        ("loa", "C-NORD-1"),
    ]
    await asyncio.to_thread(accept_and_convert_a_lead)
    opp = await stack.db.fetchrow(
        "SELECT owner_user_id, stage, amount FROM opportunities WHERE lead_id = $1", lead
    )
    assert (opp["owner_user_id"], opp["stage"], str(opp["amount"])) == (
        "C-NORD-1",
        "proposal",
        "12500.50",
    )
    assert len(p.shots) == 9
