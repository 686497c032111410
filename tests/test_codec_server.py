"""The codec server decodes for the UI only for the person holding the codec key: a browser
with the ops cookie (got once from a one-time link or the login form) or a bearer token; never
a token in the URL. CORS answers only the UI's origin, with credentials."""

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from codec import EncryptionCodec, new_key_entry, parse_key_ring
from codec.server import build_app
from ops.identity import COOKIE, login_token, session_value

TOKEN = "s3cret-token-of-enough-length"
UI = "http://localhost:8233"


@pytest.fixture
async def server():
    codec = EncryptionCodec(parse_key_ring(new_key_entry("k1")))
    # unsafe: the test server is 127.0.0.1, whose cookies aiohttp keeps only so
    client = TestClient(TestServer(build_app(codec, TOKEN, UI)), cookie_jar=CookieJar(unsafe=True))
    await client.start_server()
    yield client, codec
    await client.close()


async def sealed_body(codec) -> str:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"phone": "+49 30 1"}')
    return json_format.MessageToJson(Payloads(payloads=await codec.encode([plain])))


async def decode(client, codec, path="/decode", **headers):
    return await client.post(
        path,
        data=await sealed_body(codec),
        headers={"Content-Type": "application/json", "Origin": UI, **headers},
    )


async def test_a_one_time_link_sets_an_httponly_samesite_cookie_that_decodes(server):
    client, codec = server
    assert (await decode(client, codec)).status == 401  # nothing yet
    link = login_token(TOKEN)
    resp = await client.get(
        "/login", params={"once": link, "next": "/partnerflow/ready"}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"] == "/partnerflow/ready"
    set_cookie = resp.headers["Set-Cookie"]
    assert set_cookie.startswith(f"{COOKIE}=") and "HttpOnly" in set_cookie
    assert "SameSite=Strict" in set_cookie and TOKEN not in set_cookie
    resp = await decode(client, codec)
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == UI
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    decoded = json_format.Parse(await resp.text(), Payloads())
    assert decoded.payloads[0].data == b'{"phone": "+49 30 1"}'


async def test_a_login_link_works_once_and_only_with_the_key(server):
    client, _ = server
    link = login_token(TOKEN)
    first = await client.get("/login", params={"once": link}, allow_redirects=False)
    again = await client.get("/login", params={"once": link}, allow_redirects=False)
    forged = await client.get(
        "/login", params={"once": login_token("another-key-of-enough-length")}
    )
    expired = await client.get("/login", params={"once": login_token(TOKEN, now=0)})
    assert first.status == 303
    assert (again.status, forged.status, expired.status) == (403, 403, 403)
    assert "Set-Cookie" not in again.headers and "Set-Cookie" not in forged.headers


async def test_a_login_goes_on_only_to_this_origin_or_the_ui(server):
    client, _ = server
    for wanted, where in (
        ("https://evil.example/", f"{UI}/"),
        ("//evil.example/x", f"{UI}/"),
        (f"{UI}/namespaces/default/workflows", f"{UI}/namespaces/default/workflows"),
    ):
        resp = await client.get(
            "/login", params={"once": login_token(TOKEN), "next": wanted}, allow_redirects=False
        )
        assert resp.headers["Location"] == where, wanted


async def test_the_login_form_takes_the_token_in_the_body_not_the_url(server):
    client, codec = server
    wrong = await client.post("/login", data={"token": "not-the-token-at-all"})
    assert wrong.status == 403 and "Set-Cookie" not in wrong.headers
    assert (await decode(client, codec)).status == 401
    right = await client.post("/login", data={"token": TOKEN}, allow_redirects=False)
    assert right.status == 303 and right.headers["Location"] == f"{UI}/"
    assert (await decode(client, codec)).status == 200


async def test_decodes_with_a_bearer_token(server):
    client, codec = server
    assert (await decode(client, codec, Authorization=f"Bearer {TOKEN}")).status == 200


async def test_refuses_without_the_cookie_or_token_and_never_takes_it_in_the_url(server):
    client, codec = server
    for path, headers in (
        ("/decode", {}),
        (f"/{TOKEN}/decode", {}),  # the token in the path opens nothing
        ("/decode", {"Authorization": "Bearer nope"}),
        ("/decode", {"Cookie": f"{COOKIE}={session_value('another-key-of-enough-length')}"}),
        ("/decode", {"Cookie": f"{COOKIE}={session_value(TOKEN, now=0)}"}),  # expired
    ):
        resp = await decode(client, codec, path, **headers)
        assert resp.status in (401, 404), path
        assert "payloads" not in await resp.text()


async def test_cors_only_for_the_ui_origin(server):
    client, _ = server
    ok = await client.options("/decode", headers={"Origin": UI})
    other = await client.options("/decode", headers={"Origin": "https://evil.example"})
    assert ok.headers.get("Access-Control-Allow-Origin") == UI
    assert ok.headers.get("Access-Control-Allow-Credentials") == "true"
    assert "Access-Control-Allow-Origin" not in other.headers
