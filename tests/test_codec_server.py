"""The codec server decodes for the UI only with the token, and answers CORS only for the
UI's origin."""

import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from codec import EncryptionCodec, new_key_entry, parse_key_ring
from codec.server import build_app

TOKEN = "s3cret-token-of-enough-length"
UI = "http://localhost:8233"


@pytest.fixture
async def server():
    codec = EncryptionCodec(parse_key_ring(new_key_entry("k1")))
    client = TestClient(TestServer(build_app(codec, TOKEN, UI)))
    await client.start_server()
    yield client, codec
    await client.close()


async def sealed_body(codec) -> str:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"phone": "+49 30 1"}')
    return json_format.MessageToJson(Payloads(payloads=await codec.encode([plain])))


async def test_decodes_with_the_token_in_the_path(server):
    client, codec = server
    resp = await client.post(
        f"/{TOKEN}/decode",
        data=await sealed_body(codec),
        headers={"Content-Type": "application/json", "Origin": UI},
    )
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == UI
    decoded = json_format.Parse(await resp.text(), Payloads())
    assert decoded.payloads[0].data == b'{"phone": "+49 30 1"}'


async def test_decodes_with_a_bearer_token(server):
    client, codec = server
    resp = await client.post(
        "/decode",
        data=await sealed_body(codec),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    assert resp.status == 200


async def test_refuses_without_the_token(server):
    client, codec = server
    for path, headers in (
        ("/decode", {}),
        ("/wrong-token-xxxxxxxx/decode", {}),
        ("/decode", {"Authorization": "Bearer nope"}),
    ):
        resp = await client.post(
            path,
            data=await sealed_body(codec),
            headers={"Content-Type": "application/json", **headers},
        )
        assert resp.status == 401, path


async def test_cors_only_for_the_ui_origin(server):
    client, _ = server
    ok = await client.options(f"/{TOKEN}/decode", headers={"Origin": UI})
    other = await client.options(f"/{TOKEN}/decode", headers={"Origin": "https://evil.example"})
    assert ok.headers.get("Access-Control-Allow-Origin") == UI
    assert "Access-Control-Allow-Origin" not in other.headers
