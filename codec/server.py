"""The codec server: lets an authorised person read decrypted payloads in the Temporal UI.

The UI posts payloads to `<endpoint>/decode`. A request is authorised by the ops cookie
(ops/identity.py: an HttpOnly, SameSite cookie signed with the codec token, set by `/login`) or,
for a UI with its own login that passes the user's token, by `Authorization: Bearer <token>`.
The token is never part of a URL. CORS answers only the UI's origin, with credentials, so the
UI's `includeCredentials` setting sends the cookie across ports.

`/login?once=<token>` redeems a one-time link (`./run` prints one; `python -m devstack link`
or, wherever the token is set, `python -m codec.server link` makes another) and `/login`
without one shows a form that takes the codec token: either sets the cookie and goes on to
the UI.

    PARTNERFLOW_ENCRYPTION_KEYS=... PARTNERFLOW_CODEC_TOKEN=... \
    PARTNERFLOW_CODEC_CORS_ORIGIN=http://localhost:8080 python -m codec.server"""

import hmac
import html
import os
import sys
from urllib.parse import urlencode

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from codec import EncryptionCodec, codec_from_environment
from ops.identity import (
    COOKIE,
    SESSION_SECONDS,
    OneTimeLinks,
    login_token,
    session_value,
    valid_session,
)

PORT = int(os.environ.get("PARTNERFLOW_CODEC_PORT", "8234"))
HOST = os.environ.get("PARTNERFLOW_CODEC_HOST", "0.0.0.0")  # ./run: 127.0.0.1

LOGIN_FORM = """<!doctype html><meta charset=utf-8><title>partnerflow: read payloads</title>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>Read decrypted payloads in the Temporal UI</h1>
<p>{why}</p>
<form method=post action=login><input type=hidden name=next value="{next}">
<label>Codec token <input type=password name=token autocomplete=off autofocus></label>
<button>Log in</button></form>
<p>Under <code>./run</code>: open the link it printed, or make a new one with
<code>.venv/bin/python -m devstack link</code>.</p>"""


def next_page(ui_origin: str, wanted: str | None) -> str:
    """A path on this origin (behind ./run's UI front) or a page of the UI; else the UI."""
    if wanted and wanted.startswith("/") and not wanted.startswith("//") and "\\" not in wanted:
        return wanted
    if wanted and wanted.startswith(ui_origin + "/"):
        return wanted
    return ui_origin + "/"


def form(why: str, wanted: str | None, status: int = 200) -> web.Response:
    text = LOGIN_FORM.format(why=html.escape(why), next=html.escape(wanted or ""))
    return web.Response(text=text, content_type="text/html", status=status)


class Doors:
    """The login doors and the check every decode passes."""

    def __init__(self, token: str, ui_origin: str) -> None:
        self.token, self.ui_origin = token, ui_origin
        self.links = OneTimeLinks(token)

    def cors(self, resp: web.StreamResponse, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Origin") == self.ui_origin:
            resp.headers["Access-Control-Allow-Origin"] = self.ui_origin
            resp.headers["Access-Control-Allow-Methods"] = "POST"
            resp.headers["Access-Control-Allow-Headers"] = (
                "Content-Type, X-Namespace, Authorization, Authorization-Extras"
            )
            resp.headers["Access-Control-Allow-Credentials"] = "true"
            resp.headers["Vary"] = "Origin"
        return resp

    def authorised(self, request: web.Request) -> bool:
        if valid_session(self.token, request.cookies.get(COOKIE)):
            return True
        header = request.headers.get("Authorization", "")
        given = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    def logged_in(self, request: web.Request, wanted: str | None) -> web.StreamResponse:
        resp = web.Response(status=303, headers={"Location": next_page(self.ui_origin, wanted)})
        resp.set_cookie(
            COOKIE,
            session_value(self.token),
            max_age=SESSION_SECONDS,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=request.secure,
        )
        return resp

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        once, wanted = request.query.get("once"), request.query.get("next")
        if once is None:
            return form("Give the codec token once; this browser keeps a cookie for 7 days.", None)
        if self.links.redeem(once):
            return self.logged_in(request, wanted)
        return form("This login link was used already or has expired.", wanted, 403)

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        data = await request.post()
        given, wanted = str(data.get("token", "")), str(data.get("next", "")) or None
        if given and hmac.compare_digest(given.encode(), self.token.encode()):
            return self.logged_in(request, wanted)
        return form("That is not the codec token.", wanted, 403)


def build_app(codec: EncryptionCodec, token: str, ui_origin: str) -> web.Application:
    if len(token) < 16:
        raise SystemExit("PARTNERFLOW_CODEC_TOKEN must be at least 16 characters")
    doors = Doors(token, ui_origin)

    async def preflight(request: web.Request) -> web.StreamResponse:
        return doors.cors(web.Response(), request)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    def handler(decode: bool):
        async def handle(request: web.Request) -> web.StreamResponse:
            if not doors.authorised(request):
                return doors.cors(web.json_response({"error": "log in first"}, status=401), request)
            if request.content_type != "application/json":
                return doors.cors(
                    web.json_response({"error": "expected JSON"}, status=415), request
                )
            payloads = json_format.Parse(await request.read(), Payloads())
            done = await (codec.decode if decode else codec.encode)(payloads.payloads)
            body = json_format.MessageToJson(Payloads(payloads=done))
            return doors.cors(web.Response(text=body, content_type="application/json"), request)

        return handle

    app = web.Application()
    app.router.add_get("/login", doors.login_page)
    app.router.add_post("/login", doors.login_form)
    app.router.add_get("/healthz", healthz)
    for path in ("/decode", "/encode"):
        app.router.add_route("OPTIONS", path, preflight)
    app.router.add_post("/decode", handler(decode=True))
    app.router.add_post("/encode", handler(decode=False))
    return app


def link() -> None:
    """A one-time login link for a browser (the person running this holds the token)."""
    token = os.environ.get("PARTNERFLOW_CODEC_TOKEN", "")
    if len(token) < 16:
        sys.exit("PARTNERFLOW_CODEC_TOKEN is not set")
    public = os.environ.get("PARTNERFLOW_CODEC_PUBLIC_URL", f"http://localhost:{PORT}")
    origin = os.environ.get("PARTNERFLOW_CODEC_CORS_ORIGIN", "http://localhost:8233")
    query = urlencode({"once": login_token(token), "next": origin + "/"})
    print(f"{public.rstrip('/')}/login?{query}")


def main() -> None:
    if sys.argv[1:] == ["link"]:
        return link()
    codec = codec_from_environment()
    if codec is None:
        sys.exit("PARTNERFLOW_ENCRYPTION_KEYS is not set: nothing to decode with")
    codec.accept_plaintext = True  # the UI shows an unencrypted payload as it is
    token = os.environ.get("PARTNERFLOW_CODEC_TOKEN", "")
    origin = os.environ.get("PARTNERFLOW_CODEC_CORS_ORIGIN", "http://localhost:8233")
    web.run_app(build_app(codec, token, origin), host=HOST, port=PORT, print=None)


if __name__ == "__main__":
    main()
