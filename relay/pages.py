"""The Messages page of `./run`'s local mail catcher and SMS sink: every e-mail and SMS that
arrived in one list, newest first, filtered by recipient; a page per e-mail with its text
(links clickable), its HTML shown in a sandboxed frame (no script runs, links open in a new
tab) and its attachments to download. With a key, every page needs the ops cookie
(ops/identity.py): the archive holds live login and signing links."""

import email
import email.policy
import html
import re
import time
from email.message import Message
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ops.identity import COOKIE, valid_session

if TYPE_CHECKING:
    from relay.sinks import Caught, SmsSink

# The page's own rules: inline style only, no script, frames from this page (srcdoc) only.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; "
    "base-uri 'none'; form-action 'self'"
)
STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:72em;padding:0 1em}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.35em .5em;
text-align:left;vertical-align:top}pre{white-space:pre-wrap;overflow-wrap:anywhere}
iframe{width:100%;height:40em;border:1px solid #ccc}.kind{font-size:.8em;color:#555}
</style>"""
LINK = re.compile(r"https?://[^\s<>\"']+")
NEEDS_LOGIN = """<!doctype html><meta charset=utf-8><title>partnerflow: messages</title>
<p>The messages hold live login and signing links: open the link <code>./run</code> printed
first (or make one: <code>.venv/bin/python -m devstack link</code>), then this page again.</p>"""


def needs_identity(key: str | None) -> Any:
    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        if key is None or request.path == "/sms" or valid_session(key, request.cookies.get(COOKIE)):
            return await handler(request)
        return web.Response(text=NEEDS_LOGIN, content_type="text/html", status=401)

    return check


def linked(text: str) -> str:
    """Escaped text with its web addresses as links (opened in a new tab)."""
    out, last = [], 0
    for m in LINK.finditer(text):
        out.append(html.escape(text[last : m.start()]))
        url = html.escape(m.group(0))
        out.append(f'<a href="{url}" target=_blank rel="noopener noreferrer">{url}</a>')
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def page(title: str, body: str) -> web.Response:
    text = (
        f'<!doctype html><meta charset=utf-8><meta name=viewport content="width=device-width">'
        f"<title>{html.escape(title)}</title>{STYLE}"
        f"<body>{body}</body>"
    )
    resp = web.Response(text=text, content_type="text/html")
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"  # links carry tokens: not to other sites
    return resp


def when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def attachments(msg: Message) -> list[Message]:
    return [p for p in msg.walk() if p.get_filename() and not p.is_multipart()]


def html_part(msg: Message) -> str | None:
    part = next((p for p in msg.walk() if p.get_content_type() == "text/html"), None)
    body = part.get_payload(decode=True) if part is not None else None
    if part is None or not isinstance(body, bytes):
        return None
    return body.decode(part.get_content_charset() or "utf-8", errors="replace")


def listing(mails: list["Caught"], sms: list[dict], wanted: str) -> list[tuple[float, str]]:
    """One row per e-mail and SMS to a recipient containing `wanted`: (time, HTML)."""
    rows: list[tuple[float, str]] = []
    for m in mails:
        if wanted in m.to.lower():
            subject = html.escape(m.subject or "(no subject)")
            rows.append(
                (
                    m.when,
                    f"<tr><td>{when(m.when)}</td><td class=kind>e-mail</td>"
                    f"<td>{html.escape(m.to)}</td><td><a href='/message/"
                    f"{html.escape(m.name)}'>{subject}</a></td></tr>",
                )
            )
    for s in sms:
        if wanted in str(s["to"]).lower():
            at = float(s.get("at", 0))
            rows.append(
                (
                    at,
                    f"<tr><td>{when(at)}</td><td class=kind>SMS</td>"
                    f"<td>{html.escape(str(s['to']))}</td>"
                    f"<td><pre>{linked(str(s['body']))}</pre></td></tr>",
                )
            )
    return rows


def add_routes(app: web.Application, sink: "SmsSink") -> None:
    def mails() -> list["Caught"]:
        return sink.mail.messages if sink.mail is not None else []

    def find(name: str) -> "Caught":
        found = next((m for m in mails() if m.name == name), None)
        if found is None:
            raise web.HTTPNotFound(text="no such message")
        return found

    async def index(request: web.Request) -> web.Response:
        wanted = request.query.get("to", "").strip().lower()
        rows = listing(mails(), sink.messages, wanted)
        rows.sort(key=lambda r: r[0], reverse=True)
        shown = f" to “{html.escape(wanted)}”" if wanted else ""
        return page(
            "partnerflow: messages",
            "<h1>Messages sent</h1><form method=get><label>Recipient contains "
            f"<input name=to value='{html.escape(wanted)}'></label> <button>Filter</button> "
            f"<a href='/'>all</a></form><p>{len(rows)} message(s){shown}, newest first.</p>"
            "<table><tr><th>When</th><th></th><th>To</th><th>Subject / text</th></tr>"
            + "".join(r[1] for r in rows)
            + "</table>",
        )

    async def one(request: web.Request) -> web.Response:
        m = find(request.match_info["name"])
        msg = email.message_from_bytes(m.raw, policy=email.policy.compat32)
        files = attachments(msg)
        listed = "".join(
            f"<li><a href='/message/{html.escape(m.name)}/attachment/{i}' download>"
            f"{html.escape(str(p.get_filename()))}</a> ({html.escape(p.get_content_type())})</li>"
            for i, p in enumerate(files)
        )
        rich = html_part(msg)
        frame = ""
        if rich is not None:
            # no allow-scripts, no allow-same-origin: the mail's HTML is inert; links open in
            # a new tab (allow-popups) outside the sandbox
            doc = "<base target=_blank>" + rich
            frame = (
                "<h2>As HTML</h2><iframe sandbox='allow-popups allow-popups-to-escape-sandbox'"
                f' srcdoc="{html.escape(doc, quote=True)}"></iframe>'
            )
        return page(
            f"partnerflow: {m.subject}",
            "<p><a href='/'>all messages</a></p>"
            f"<h1>{html.escape(m.subject or '(no subject)')}</h1><table>"
            f"<tr><th>To</th><td>{html.escape(m.to)}</td></tr>"
            f"<tr><th>When</th><td>{when(m.when)}</td></tr>"
            f"<tr><th>Language</th><td>{html.escape(m.language)}</td></tr>"
            f"<tr><th>Message-ID</th><td>{html.escape(m.message_id)}</td></tr></table>"
            + (f"<h2>Attachments</h2><ul>{listed}</ul>" if files else "")
            + f"<h2>Text</h2><pre>{linked(m.text)}</pre>"
            + frame,
        )

    async def attachment(request: web.Request) -> web.Response:
        m = find(request.match_info["name"])
        files = attachments(email.message_from_bytes(m.raw, policy=email.policy.compat32))
        index = int(request.match_info["n"])
        if index >= len(files):
            raise web.HTTPNotFound(text="no such attachment")
        part = files[index]
        data = part.get_payload(decode=True)
        name = re.sub(r"[^\w.\- ]", "_", str(part.get_filename()))[:120] or "attachment"
        resp = web.Response(
            body=data if isinstance(data, bytes) else b"",
            content_type="application/octet-stream",  # downloaded, never shown here
        )
        resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp

    app.router.add_get("/", index)
    app.router.add_get("/message/{name}", one)
    app.router.add_get(r"/message/{name}/attachment/{n:\d+}", attachment)
