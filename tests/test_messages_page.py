"""The local Messages page (relay/sinks.py, relay/pages.py) and its archive: every e-mail and
SMS in one list, filtered by recipient; a page per e-mail with clickable links, its HTML inert
in a sandboxed frame and its attachments to download; nothing without the ops cookie; archive
files readable by their owner only and never overwritten, also after a restart."""

import stat
from email.message import EmailMessage

import aiosmtplib
import httpx
import pytest

from ops.identity import COOKIE, session_value
from relay.sinks import MailCatcher, SmsSink

KEY = "the-codec-token-of-enough-length"
LINK = "http://localhost:8040/first-login?token=abc123"
HOSTILE = "<script>document.title='owned'</script><a href='https://example.org/x'>portal</a>"


def mail(to: str, subject: str) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "partnerflow@example.com", to, subject
    m["Message-ID"] = f"<{subject.replace(' ', '-')}@partnerflow>"
    m.set_content(f"Hallo,\nbitte hier anmelden: {LINK}\n")
    m.add_alternative(f"<p>Hallo</p>{HOSTILE}", subtype="html")
    m.add_attachment(b"%PDF-1.7 signed", maintype="application", subtype="pdf", filename="v.pdf")
    return m


@pytest.fixture
async def stack(tmp_path):
    folder = tmp_path / "messages"
    catcher = await MailCatcher(folder=folder / "mail").start()
    sink = await SmsSink(token="t", folder=folder, mail=catcher, page_key=KEY).start()
    yield catcher, sink, folder
    await sink.stop()
    await catcher.stop()


async def send(catcher: MailCatcher, sink: SmsSink) -> None:
    await aiosmtplib.send(
        mail("orders@nordtel.example", "Bestellung O-1"), port=catcher.port, hostname="127.0.0.1"
    )
    await aiosmtplib.send(
        mail("anna@acme.example", "Einladung"), port=catcher.port, hostname="127.0.0.1"
    )
    async with httpx.AsyncClient() as http:
        r = await http.post(
            sink.url,
            json={"to": "+4930123", "body": f"Code: {LINK}"},
            headers={"Authorization": "Bearer t"},
        )
        assert r.status_code == 202


def client(sink: SmsSink, cookie: bool = True) -> httpx.AsyncClient:
    cookies = {COOKIE: session_value(KEY)} if cookie else {}
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{sink.port}", cookies=cookies)


async def test_the_page_needs_the_ops_identity(stack):
    catcher, sink, _ = stack
    await send(catcher, sink)
    name = catcher.messages[0].name
    async with client(sink, cookie=False) as anonymous:
        for path in ("/", f"/message/{name}", f"/message/{name}/attachment/0", "/?to=anna"):
            r = await anonymous.get(path)
            assert r.status_code == 401, path
            assert LINK not in r.text and "Bestellung" not in r.text
        forged = await anonymous.get(
            "/", headers={"Cookie": f"{COOKIE}={session_value('another-key-xxxxxxx')}"}
        )
        assert forged.status_code == 401


async def test_a_list_of_mail_and_sms_filtered_by_recipient(stack):
    catcher, sink, _ = stack
    await send(catcher, sink)
    async with client(sink) as http:
        everything = (await http.get("/")).text
        assert "Bestellung O-1" in everything and "Einladung" in everything
        assert "+4930123" in everything and f'href="{LINK}"' in everything  # the SMS, linked
        assert "3 message(s)" in everything
        anna = (await http.get("/", params={"to": "anna@"})).text
        assert "Einladung" in anna and "Bestellung O-1" not in anna and "+4930123" not in anna


async def test_a_page_per_message_with_links_inert_html_and_attachments(stack):
    catcher, sink, _ = stack
    await send(catcher, sink)
    first = catcher.messages[0]
    async with client(sink) as http:
        r = await http.get(f"/message/{first.name}")
        assert r.status_code == 200
        assert f'<a href="{LINK}" target=_blank' in r.text  # the text's link is clickable
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        # the HTML part: in a frame without scripts, never as markup of this page
        assert "<iframe sandbox='allow-popups allow-popups-to-escape-sandbox'" in r.text
        assert "allow-scripts" not in r.text and "<script>" not in r.text
        assert "&lt;script&gt;" in r.text
        assert "href='/message/" + first.name + "/attachment/0'" in r.text and "v.pdf" in r.text
        pdf = await http.get(f"/message/{first.name}/attachment/0")
        assert pdf.content == b"%PDF-1.7 signed"
        assert pdf.headers["Content-Disposition"] == 'attachment; filename="v.pdf"'
        assert (await http.get(f"/message/{first.name}/attachment/5")).status_code == 404
        assert (await http.get("/message/nope")).status_code == 404


async def test_archive_files_are_private_and_never_overwritten_after_a_restart(tmp_path):
    folder = tmp_path / "messages"
    catcher = await MailCatcher(folder=folder / "mail").start()
    sink = await SmsSink(token="t", folder=folder, mail=catcher, page_key=KEY).start()
    await send(catcher, sink)
    await sink.stop()
    await catcher.stop()
    before = {p.name: p.read_bytes() for p in (folder / "mail").glob("*.eml")}
    assert len(before) == 2

    # a restart: a new catcher on the same folder shows the old messages and adds files
    catcher = await MailCatcher(folder=folder / "mail").start()
    sink = await SmsSink(token="t", folder=folder, mail=catcher, page_key=KEY).start()
    try:
        assert len(catcher.messages) == 2 and len(sink.messages) == 1
        await send(catcher, sink)
        async with client(sink) as http:
            assert "6 message(s)" in (await http.get("/")).text
    finally:
        await sink.stop()
        await catcher.stop()
    after = {p.name: p.read_bytes() for p in (folder / "mail").glob("*.eml")}
    assert len(after) == 4 and all(after[name] == raw for name, raw in before.items())
    for path in [*(folder / "mail").glob("*.eml"), folder / "sms.jsonl"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert len((folder / "sms.jsonl").read_text().splitlines()) == 2
