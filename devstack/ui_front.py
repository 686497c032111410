"""The Temporal UI as `./run` serves it: a small proxy on the UI's port in front of the dev
server's own UI (on a free loopback port), which also serves the codec server under `/codec`.

Why a front: the dev server's UI takes a codec endpoint but not the `includeCredentials`
setting, so it would send the codec server no cookie across ports; under one origin the
browser sends the ops cookie with every decode, and the endpoint it is given
(`http://localhost:<ui>/codec`) holds no secret. The front also serves `/partnerflow/ready`:
the ready view (the open processes with their ProcessKind, Stage, AccountId and PartnerId
columns), which the UI keeps in the browser's storage of this origin."""

import json
from urllib.parse import quote

import aiohttp
from aiohttp import web

# Request and answer headers that belong to one connection, not to the message.
HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}

OPEN_PROCESSES = 'ExecutionStatus = "Running" AND ProcessKind IS NOT NULL'
COLUMNS = ["Status", "Stage", "ProcessKind", "AccountId", "PartnerId", "Workflow ID", "Start"]


def ready_view_path(namespace: str = "default") -> str:
    return f"/namespaces/{namespace}/workflows?query={quote(OPEN_PROCESSES)}"


READY_PAGE = """<!doctype html><meta charset=utf-8><title>partnerflow: open processes</title>
<script>
// The UI keeps its table columns and saved views in this origin's storage: the columns
// with the stage and the view "Open processes" are set unless the person has changed them.
(function () {{
  var ns = {namespace};
  var columns = JSON.parse(localStorage.getItem("namespace-workflow-table-columns") || "{{}}");
  var mine = columns[ns] || [];
  if (!mine.some(function (c) {{ return c.label === "Stage"; }})) {{
    columns[ns] = {columns};
    localStorage.setItem("namespace-workflow-table-columns", JSON.stringify(columns));
  }}
  var views = JSON.parse(localStorage.getItem("saved-workflow-queries") || "{{}}");
  var saved = views[ns] || [];
  if (!saved.some(function (v) {{ return v.id === "partnerflow-open"; }})) {{
    saved.push({{id: "partnerflow-open", name: "Open processes", query: {query}}});
    views[ns] = saved;
    localStorage.setItem("saved-workflow-queries", JSON.stringify(views));
  }}
  location.replace({target});
}})();
</script>
<p>Opening the open processes…</p>"""


def ready_page(namespace: str = "default") -> str:
    return READY_PAGE.format(
        namespace=json.dumps(namespace),
        columns=json.dumps([{"label": c} for c in COLUMNS]),
        query=json.dumps(OPEN_PROCESSES),
        target=json.dumps(ready_view_path(namespace)),
    )


class UiFront:
    def __init__(self, ui_upstream: str, codec_upstream: str) -> None:
        self.ui, self.codec = ui_upstream.rstrip("/"), codec_upstream.rstrip("/")
        self.runner: web.AppRunner | None = None
        self.http: aiohttp.ClientSession | None = None

    async def start(self, host: str, port: int) -> "UiFront":
        # raw bytes through (no decompression), no cookies kept here: the browser's go along
        self.http = aiohttp.ClientSession(
            auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
        )
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_get("/partnerflow/ready", self._ready)
        app.router.add_route("*", "/codec/{rest:.*}", self._codec)
        app.router.add_route("*", "/{rest:.*}", self._ui)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, host, port).start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        if self.http is not None:
            await self.http.close()

    async def _ready(self, request: web.Request) -> web.Response:
        return web.Response(text=ready_page(), content_type="text/html")

    async def _codec(self, request: web.Request) -> web.StreamResponse:
        rest = request.match_info["rest"]
        query = f"?{request.query_string}" if request.query_string else ""
        return await self._forward(request, f"{self.codec}/{rest}{query}")

    async def _ui(self, request: web.Request) -> web.StreamResponse:
        return await self._forward(request, self.ui + request.path_qs)

    async def _forward(self, request: web.Request, url: str) -> web.StreamResponse:
        assert self.http is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        try:
            async with self.http.request(
                request.method,
                url,
                headers=headers,
                data=await request.read() if request.can_read_body else None,
                allow_redirects=False,
            ) as upstream:
                body = await upstream.read()
                answer = web.Response(status=upstream.status, body=body)
                for k, v in upstream.headers.items():
                    if k.lower() not in HOP:
                        answer.headers.add(k, v)
                return answer
        except aiohttp.ClientConnectionError:
            return web.Response(
                status=502, text="not up yet (or restarting): try again in a moment"
            )
