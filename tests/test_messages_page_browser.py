"""The Messages page in Debian's Chromium, as a newcomer opens it after ./run's link: the
list, a message's page with its link clickable and its HTML inert in a sandboxed frame, at
desktop and phone width (screenshots in tests/artifacts/screenshots)."""

import asyncio

from ops.identity import COOKIE, session_value
from relay.sinks import MailCatcher, SmsSink
from tests.chromium import chromium
from tests.portal.test_portal_browser import SCREENSHOTS
from tests.test_messages_page import KEY, LINK, send


def browse(base: str) -> dict:
    from selenium.webdriver.common.by import By

    seen: dict = {}
    with chromium(1280, 900) as driver:
        driver.get(base + "/")
        seen["anonymous"] = driver.find_element(By.TAG_NAME, "body").text
        driver.add_cookie({"name": COOKIE, "value": session_value(KEY), "path": "/"})
        driver.get(base + "/")
        seen["list"] = driver.find_element(By.TAG_NAME, "body").text
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / "messages-list.png"))
        driver.find_element(By.LINK_TEXT, "Einladung").click()
        seen["links"] = [a.get_attribute("href") for a in driver.find_elements(By.TAG_NAME, "a")]
        frame = driver.find_element(By.TAG_NAME, "iframe")
        seen["sandbox"] = frame.get_attribute("sandbox")
        driver.switch_to.frame(frame)
        seen["frame"] = driver.find_element(By.TAG_NAME, "body").text
        seen["frame_title"] = driver.execute_script("return document.title")
        driver.switch_to.default_content()
        seen["title"] = driver.title
        driver.set_window_size(390, 844)  # a phone
        driver.save_screenshot(str(SCREENSHOTS / "messages-one-phone.png"))
        seen["phone_scroll"] = driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
    return seen


async def test_the_messages_page_in_chromium(tmp_path):
    catcher = await MailCatcher(folder=tmp_path / "mail").start()
    sink = await SmsSink(token="t", folder=tmp_path, mail=catcher, page_key=KEY).start()
    try:
        await send(catcher, sink)
        seen = await asyncio.to_thread(browse, f"http://localhost:{sink.port}")
    finally:
        await sink.stop()
        await catcher.stop()
    assert "open the link" in seen["anonymous"] and "Einladung" not in seen["anonymous"]
    assert "Bestellung O-1" in seen["list"] and "+4930123" in seen["list"]
    assert LINK in seen["links"]  # the text's login link is a link
    assert "https://example.org/x" not in seen["links"]  # the mail's HTML stays in its frame
    assert seen["sandbox"] == "allow-popups allow-popups-to-escape-sandbox"
    assert "portal" in seen["frame"]  # the HTML part is shown
    assert seen["frame_title"] != "owned" and seen["title"] != "owned"  # its script never ran
    assert seen["phone_scroll"] <= 0  # no sideways scrolling on a phone
