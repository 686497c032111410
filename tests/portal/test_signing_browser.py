"""The customer signing page in a real Chromium (Debian's chromium and chromium-driver,
driven by Selenium; nothing is downloaded) against the real stack: the Temporal dev server,
worker.py and starter.py as subprocesses, PostgreSQL, and the page served by uvicorn. Each
page is saved as a screenshot in tests/artifacts/screenshots/."""

import asyncio
import secrets
import socket
import sys
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from codec import parse_key_ring
from domain.signing import document_sha256
from portal.contract import render_document
from store.signing import contract_for_signing
from tests.chromium import chromium, installed
from tests.e2e.cli import ROOT, environment, starter, worker
from tests.portal.signing_helpers import path_of, signing_link
from tests.records_renegotiation import new_company, outbox

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not installed(),
        reason="needs Debian's chromium and chromium-driver",
    ),
]

SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"
PHONE, DESKTOP = (390, 844), (1280, 900)


class Server:
    """uvicorn serving portal.app:create_app on a socket bound here (no port race)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env, self.lines = env, []

    async def __aenter__(self) -> "Server":
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "portal.app:create_app",
            "--factory",
            "--fd",
            str(self.sock.fileno()),
            cwd=ROOT,
            env=self.env,
            pass_fds=(self.sock.fileno(),),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # the access log is on stdout
        while True:  # until uvicorn says it serves; fails if it exits first
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=60)
            if not line:
                raise AssertionError("uvicorn exited:\n" + "".join(self.lines))
            self.lines.append(line.decode())
            if "Application startup complete" in self.lines[-1]:
                break
        self._drain = asyncio.get_running_loop().create_task(self._read())
        return self

    async def _read(self) -> None:
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode())

    async def __aexit__(self, *exc) -> None:
        self.proc.terminate()
        await asyncio.wait_for(self.proc.wait(), timeout=30)
        self.sock.close()


class Browser:
    """Headless Chromium; every blocking call runs in a thread so the test's event loop (the
    worker's and uvicorn's log readers) keeps going."""

    def __init__(self) -> None:
        self._closing = ExitStack()
        self.driver = self._closing.enter_context(chromium(lang="nb-NO"))

    async def run(self, fn, *args):
        return await asyncio.to_thread(fn, *args)

    async def open(self, url: str, size=PHONE) -> None:
        def go():
            self.driver.set_window_size(*size)
            self.driver.get(url)

        await self.run(go)

    async def text(self) -> str:
        return await self.run(lambda: self.driver.find_element(By.TAG_NAME, "body").text)

    async def screenshot(self, name: str) -> Path:
        """The whole page at the window's width."""

        def shoot():
            width = self.driver.get_window_size()["width"]
            self.driver.set_window_size(width, 600)  # so that the page's own height shows
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.set_window_size(width, max(height + 140, 600))
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            path = SCREENSHOTS / f"signing-{name}.png"
            assert self.driver.save_screenshot(str(path))
            return path

        return await self.run(shoot)

    async def submitting(self, action) -> None:
        """Does what submits a form, then waits until the next page has replaced this one
        (a click returns before the browser has navigated)."""

        def go():
            old = self.driver.find_element(By.TAG_NAME, "html")
            action()
            WebDriverWait(self.driver, 90).until(expected_conditions.staleness_of(old))
            WebDriverWait(self.driver, 30).until(
                lambda d: d.execute_script("return document.readyState") == "complete"
            )

        await self.run(go)

    async def click(self, by: str, what: str) -> None:
        await self.submitting(lambda: self.driver.find_element(by, what).click())

    async def keys(self, *keys: str) -> None:
        """Typed into whatever has the focus: the page driven by the keyboard alone."""
        await self.run(lambda: webdriver.ActionChains(self.driver).send_keys(*keys).perform())

    async def focused(self) -> str:
        return await self.run(
            lambda: self.driver.execute_script(
                "const e = document.activeElement; return e.id || e.tagName"
            )
        )

    def quit(self) -> None:
        self._closing.close()


@pytest.fixture(scope="module")
async def stack(dev_env, database_url, pool):
    """The dev server, the test database, a worker (relay off: the link stays in the outbox
    for the test to read) and the page behind uvicorn, for the module's tests."""
    address = dev_env.client.service_client.config.target_host
    env = environment(address, database_url, f"signing-{uuid.uuid4().hex[:8]}")
    env["PARTNERFLOW_RELAY"] = "off"
    env["PARTNERFLOW_PORTAL_SECRET"] = secrets.token_hex(32)
    env["PARTNERFLOW_PORTAL_SECURE_COOKIES"] = "0"
    async with worker(env), Server(env) as server:
        browser = await asyncio.to_thread(Browser)
        try:
            yield env, server, browser
        finally:
            await asyncio.to_thread(browser.quit)


async def sent_contract(env, pool, **company):
    """A renegotiation started as staff start it, waiting for the customer's signature."""
    co = await new_company(pool, **company)
    started = await starter(
        env,
        "renegotiate",
        "--ticket",
        str(co.ticket_id),
        "--company",
        co.id,
        "--licences",
        "12",
        "--price",
        "450",
        "--contact",
        co.contact_id,
        "--original-contract",
        co.contract_id,
    )
    assert started.code == 0, started.text
    pid = started.body["data"]["process_id"]
    return (
        co,
        pid,
        await signing_link(pool, pid, parse_key_ring(env["PARTNERFLOW_ENCRYPTION_KEYS"])),
    )


async def process_stage(env, pid: str) -> str:
    answer = await starter(env, "status", pid)
    return answer.body["data"]["stage"]


async def unlabelled_fields(browser: Browser) -> list[str]:
    return await browser.run(
        lambda: browser.driver.execute_script("""
        return [...document.querySelectorAll('input:not([type=hidden]), textarea')]
          .filter(e => !e.id || !document.querySelector(`label[for="${e.id}"]`))
          .map(e => e.name);""")
    )


async def test_a_customer_signs(stack, pool):
    env, server, browser = stack
    co, pid, link = await sent_contract(env, pool)
    url = server.url + path_of(link)

    await browser.open(url, DESKTOP)
    await browser.screenshot("contract-desktop")
    # printed: the contract and its deadline, without the forms and links
    await browser.run(
        lambda: browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    )
    for hidden in ("typed_name", "sign-heading", "decline-heading"):
        assert not await browser.run(
            lambda h=hidden: browser.driver.find_element(By.ID, h).is_displayed()
        )
    assert await browser.run(
        lambda: browser.driver.find_element(By.ID, "contract-title").is_displayed()
    )
    await browser.screenshot("contract-print")
    await browser.run(
        lambda: browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    )
    await browser.open(url, PHONE)
    page = await browser.text()
    assert "Reforhandling av avtale om Avonova Assist" in page
    assert co.name in page and "Kari Nordmann" in page
    assert "450,00 kr" in page  # the price per licence, Norwegian format
    assert "Bindingstid\n12 måneder" in page
    assert await unlabelled_fields(browser) == []
    await browser.screenshot("contract-phone")

    # a wrong name is refused, with the error next to the field and in a summary
    await browser.run(
        lambda: browser.driver.find_element(By.ID, "typed_name").send_keys("Ola Hansen")
    )
    await browser.run(lambda: browser.driver.find_element(By.ID, "consent").click())
    await browser.click(By.CSS_SELECTOR, "button.primary")
    page = await browser.text()
    assert "Skjemaet har feil" in page and "Skriv Kari Nordmann" in page
    await browser.screenshot("wrong-name")

    # signed by keyboard alone: Tab to the name, type it, Tab, Space, Tab, Enter
    shown = await browser.run(
        lambda: browser.driver.find_element(By.NAME, "document_sha256").get_attribute("value")
    )
    agent = await browser.run(lambda: browser.driver.execute_script("return navigator.userAgent"))
    await browser.run(lambda: browser.driver.find_element(By.ID, "typed_name").clear())
    await browser.run(
        lambda: browser.driver.find_element(By.ID, "typed_name").send_keys(Keys.SHIFT, Keys.TAB)
    )  # the focus just before the field
    await browser.keys(Keys.TAB)
    assert await browser.focused() == "typed_name"
    await browser.keys("kari nordmann", Keys.TAB)
    assert await browser.focused() == "consent"
    await browser.keys(Keys.SPACE, Keys.TAB)
    assert await browser.focused() == "BUTTON"
    await browser.submitting(
        lambda: webdriver.ActionChains(browser.driver).send_keys(Keys.ENTER).perform()
    )
    page = await browser.text()
    assert "Avtalen er signert" in page and "Takk! Du signerte avtalen" in page
    await browser.screenshot("signed")
    pdf = await browser.run(
        lambda: browser.driver.find_element(By.PARTIAL_LINK_TEXT, "PDF").get_attribute("href")
    )
    assert pdf.startswith(server.url + "/sign/contract.pdf?")

    assert await process_stage(env, pid) == "signed"
    k = await contract_for_signing(pool, f"contract-{pid.removeprefix('renegotiation-')}")
    assert k["status"] == "signed"
    row = await pool.fetchrow(
        "SELECT * FROM contract_signing_evidence WHERE contract_id = $1", k["id"]
    )
    assert (
        row["decision"],
        row["contact_id"],
        row["typed_name"],
        row["ip"],
        row["user_agent"],
    ) == ("signed", co.contact_id, "kari nordmann", "127.0.0.1", agent)
    # the hash of the text the page showed, as the server renders it again
    k["status"] = "sent"
    assert row["document_sha256"] == shown == document_sha256(render_document(k, "nb"))

    # the link again: used
    await browser.open(url)
    page = await browser.text()
    assert "Avtalen er signert" in page and "er allerede signert" in page
    assert "kan bare brukes én gang" in page
    await browser.screenshot("used-link")
    assert not any("token=" in line and "[redacted]" not in line for line in server.lines)


async def test_a_customer_declines(stack, pool):
    env, server, browser = stack
    co, pid, link = await sent_contract(env, pool)
    await browser.open(server.url + path_of(link) + "&lang=en")
    assert "Sign the contract" in await browser.text()
    await browser.run(lambda: browser.driver.find_element(By.ID, "decline-heading").click())
    await browser.run(lambda: browser.driver.find_element(By.ID, "reason").send_keys("no"))
    await browser.click(By.CSS_SELECTOR, "button.secondary")
    page = await browser.text()  # too short: the form again, open, with the error
    assert "Give a reason (at least 3 characters)" in page
    await browser.run(lambda: browser.driver.find_element(By.ID, "reason").clear())
    await browser.run(
        lambda: browser.driver.find_element(By.ID, "reason").send_keys(
            "We are moving to another supplier"
        )
    )
    await browser.screenshot("decline-form")
    await browser.click(By.CSS_SELECTOR, "button.secondary")
    page = await browser.text()
    assert "The contract was declined" in page
    assert "Customer care has been told and will contact you" in page
    await browser.screenshot("declined")

    assert await process_stage(env, pid) == "declined"
    assert ("role", "customer_care", "renegotiation_contract_declined") in await outbox(pool, pid)
    row = await pool.fetchrow(
        "SELECT decision, reason, language FROM contract_signing_evidence e"
        " JOIN contracts k ON k.id = e.contract_id WHERE k.process_id = $1",
        pid,
    )
    assert tuple(row) == ("declined", "We are moving to another supplier", "en")

    await browser.open(server.url + path_of(link))
    page = await browser.text()
    assert "Avtalen er avslått" in page and "kan bare brukes én gang" in page
    await browser.screenshot("declined-used-link")


async def test_an_expired_link(stack, pool):
    env, server, browser = stack
    co, pid, link = await sent_contract(env, pool)
    # a contract whose deadline has passed (its process's timer is still ahead)
    await pool.execute(
        "UPDATE contracts SET signing_deadline = current_date - 1 WHERE process_id = $1", pid
    )
    await browser.open(server.url + path_of(link))
    page = await browser.text()
    assert "Lenken er utløpt" in page
    assert "Signeringsfristen for avtalen" in page
    assert f"Ta kontakt med Forhandler {co.id.removeprefix('R')} på p@test.example" in page
    assert await browser.run(lambda: browser.driver.find_elements(By.TAG_NAME, "form")) == []
    await browser.screenshot("expired")
    assert await process_stage(env, pid) == "awaiting-signature"


async def test_a_wrong_link(stack, pool):
    env, server, browser = stack
    await browser.open(server.url + "/sign?contract=contract-nope&token=not-a-token")
    page = await browser.text()
    assert "Lenken er ikke gyldig" in page and "contract-nope" not in page
    await browser.screenshot("invalid-link")
