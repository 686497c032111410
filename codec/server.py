"""The codec server: lets an authorised person read decrypted payloads in the Temporal UI.

The UI (Settings -> Codec Server, or the server's --ui-codec-endpoint) posts payloads to
`<endpoint>/decode`. Requests need the shared token: either in the endpoint's path
(`http://host:8234/<token>`, for a UI without login) or as `Authorization: Bearer <token>`
(a UI with login that passes the user's token). CORS answers only the UI's origin.

    PARTNERFLOW_ENCRYPTION_KEYS=... PARTNERFLOW_CODEC_TOKEN=... \
    PARTNERFLOW_CODEC_CORS_ORIGIN=http://localhost:8080 python -m codec.server"""

import hmac
import os
import sys

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from codec import EncryptionCodec, codec_from_environment

PORT = int(os.environ.get("PARTNERFLOW_CODEC_PORT", "8234"))
HOST = os.environ.get("PARTNERFLOW_CODEC_HOST", "0.0.0.0")  # ./run: 127.0.0.1


def build_app(codec: EncryptionCodec, token: str, ui_origin: str) -> web.Application:
    if len(token) < 16:
        raise SystemExit("PARTNERFLOW_CODEC_TOKEN must be at least 16 characters")

    def cors(resp: web.StreamResponse, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Origin") == ui_origin:
            resp.headers["Access-Control-Allow-Origin"] = ui_origin
            resp.headers["Access-Control-Allow-Methods"] = "POST"
            resp.headers["Access-Control-Allow-Headers"] = (
                "Content-Type, X-Namespace, Authorization"
            )
            resp.headers["Access-Control-Allow-Credentials"] = "true"
            resp.headers["Vary"] = "Origin"
        return resp

    def authorised(request: web.Request) -> bool:
        given = request.match_info.get("token") or ""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = given or header.removeprefix("Bearer ")
        return hmac.compare_digest(given.encode(), token.encode())

    async def preflight(request: web.Request) -> web.StreamResponse:
        return cors(web.Response(), request)

    def handler(decode: bool):
        async def handle(request: web.Request) -> web.StreamResponse:
            if not authorised(request):
                return cors(web.json_response({"error": "token required"}, status=401), request)
            if request.content_type != "application/json":
                return cors(web.json_response({"error": "expected JSON"}, status=415), request)
            payloads = json_format.Parse(await request.read(), Payloads())
            done = await (codec.decode if decode else codec.encode)(payloads.payloads)
            body = json_format.MessageToJson(Payloads(payloads=done))
            return cors(web.Response(text=body, content_type="application/json"), request)

        return handle

    app = web.Application()
    for prefix in ("", "/{token}"):
        app.router.add_route("OPTIONS", f"{prefix}/decode", preflight)
        app.router.add_route("OPTIONS", f"{prefix}/encode", preflight)
        app.router.add_post(f"{prefix}/decode", handler(decode=True))
        app.router.add_post(f"{prefix}/encode", handler(decode=False))
    return app


def main() -> None:
    codec = codec_from_environment()
    if codec is None:
        sys.exit("PARTNERFLOW_ENCRYPTION_KEYS is not set: nothing to decode with")
    codec.accept_plaintext = True  # the UI shows an unencrypted payload as it is
    token = os.environ.get("PARTNERFLOW_CODEC_TOKEN", "")
    origin = os.environ.get("PARTNERFLOW_CODEC_CORS_ORIGIN", "http://localhost:8233")
    web.run_app(build_app(codec, token, origin), host=HOST, port=PORT, print=None)


if __name__ == "__main__":
    main()
