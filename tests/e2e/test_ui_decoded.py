"""Under ./run the Temporal UI shows decoded payloads with no setup: the banner's one-time
link logs this browser in (an HttpOnly cookie) and opens the ready view (open processes with
their Stage, ProcessKind, AccountId and PartnerId columns); a process's page then shows its
summary in words. In Debian's Chromium; its screenshot is docs/images/ops-decoded.png."""

import asyncio
import os
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.chromium import chromium
from tests.e2e.forked import spawn
from tests.e2e.test_devstack import ROOT, devstack, up  # noqa: F401 - the fixture
from tests.portal.test_portal_browser import SCREENSHOTS

pytestmark = pytest.mark.e2e
# the docs' picture is refreshed on request only (PARTNERFLOW_DOCS_SCREENSHOTS=1), so a test
# run leaves the tree as it was
DOCS_SHOT = ROOT / "docs" / "images" / "ops-decoded.png"
SHOT = DOCS_SHOT if os.environ.get("PARTNERFLOW_DOCS_SCREENSHOTS") else SCREENSHOTS / DOCS_SHOT.name
# The page's text, also inside shadow roots (the UI shows payloads in a code editor there).
ALL_TEXT = """
const text = (n) => [...(n.shadowRoot ? [n.shadowRoot] : []), ...n.childNodes]
  .map((c) => (c.nodeType === 3 ? c.textContent : text(c))).join("");
return text(document.body);
"""


def page_text(driver) -> str:
    """The page's text and that of its frames (the UI renders summaries and details as
    Markdown in frames of its own `/render?content=` page)."""
    found = [driver.execute_script(ALL_TEXT)]
    for frame in driver.find_elements("tag name", "iframe"):  # each renders its `content`
        found += parse_qs(urlsplit(frame.get_attribute("src") or "").query).get("content", [])
    return "\n".join(found)


def wait_for_text(driver, text: str, timeout: float = 60) -> bool:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, timeout).until(lambda d: text in page_text(d))
        return True
    except TimeoutException:
        return False


async def test_the_banner_link_opens_the_ready_view_and_the_ui_decodes(devstack, tmp_path):  # noqa: F811
    run, started = devstack
    _, ports = await up(run)
    started += run.tree()
    (link,) = [m.group(1) for ln in run.lines if (m := re.search(r"Open first\s+(\S+)", ln))]
    ui = f"http://localhost:{ports['ui']}"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "PARTNERFLOW_ENCRYPTION_KEYS", "PARTNERFLOW_ACTOR")
    } | {
        "PARTNERFLOW_DATA_DIR": str(tmp_path / "data"),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
    }
    # a process of its own, forked from the pre-started interpreter (tests/e2e/forked.py)
    proc = await spawn(
        env,
        [str(ROOT / "starter.py"), "fast-change", "--account", "ACME", "--pbx", "PBX-ACME"]
        + ["--set", "Premium=7"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = (b.decode() for b in await proc.communicate())
    assert proc.returncode == 0, out + err
    (wid,) = set(re.findall(r"fast-change-order-ACME-[0-9a-f]+", out))

    def in_the_browser() -> tuple[bool, bool, bool, bool, bool]:
        page = f"{ui}/namespaces/default/workflows/{wid}"
        with chromium(1500, 1000) as driver:
            # a browser that has not opened the link sees no plaintext input: the UI asked
            # the codec server, was turned away (its banner says so), and shows what it has
            driver.get(page)
            refused = wait_for_text(driver, "Codec Server could not connect")
            before = '"account_id": "ACME"' in page_text(driver)
            driver.get(link)
            # the open processes, each with its stage, kind, account and partner in columns
            ready = wait_for_text(driver, "awaiting-partner-confirmation") and all(
                column in page_text(driver)
                for column in ("Stage", "ProcessKind", "AccountId", "PartnerId", "P-NORDTEL")
            )
            driver.get(page)
            decoded = wait_for_text(driver, '"account_id": "ACME"')
            driver.find_element("link text", "User Metadata").click()
            summary = wait_for_text(driver, "Fast change order on PBX PBX-ACME") and wait_for_text(
                driver, "awaiting-partner-confirmation: waiting for partner P-NORDTEL"
            )
            if summary:
                SHOT.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(SHOT))
            return refused, before, ready, decoded, summary

    refused, before, ready, decoded, summary = await asyncio.to_thread(in_the_browser)
    assert refused, "the UI did not say that the codec server turned it away"
    assert not before, "decoded without the login"
    assert ready, "the ready view has no Stage / ProcessKind columns"
    assert decoded, "the process's input was not decoded"
    assert summary, "the process's summary was not decoded"
