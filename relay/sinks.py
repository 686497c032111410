"""A local mail catcher (aiosmtpd, in-process) and SMS sink (aiohttp) for `./run` and the
tests: they keep what arrives, in memory and, given a folder, on disk (mail/*.eml,
sms.jsonl; readable by their owner only, never overwritten), and show it on the Messages page
(the SMS sink's port: a list, a page per message; relay/pages.py)."""

import asyncio
import email
import email.policy
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP

from relay import pages


@dataclass
class Caught:
    message_id: str
    to: str
    subject: str
    text: str
    language: str
    raw: bytes = b""
    at: float = field(default_factory=time.monotonic)  # when it arrived (the bench)
    name: str = ""  # its file in the archive, or its place in memory: its page's address
    when: float = field(default_factory=time.time)


def archive_name(suffix: str) -> str:
    """A new file's name: the time, then randomness, so a restart never reuses a name and
    names sort as the messages came."""
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(4)}{suffix}"


def write_new(path: Path, data: bytes) -> None:
    """Created for its owner only, and never over an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def parse(raw: bytes, to: str, name: str, when: float) -> Caught:
    # compat32 parsing: the default policy's header objects cost more than the relay's
    # whole send, and the bench runs the catcher in the relay's process
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    plain = next((p for p in msg.walk() if p.get_content_type() == "text/plain"), None)
    text = ""
    body = plain.get_payload(decode=True) if plain is not None else None
    if plain is not None and isinstance(body, bytes):  # decoded: a single part is bytes
        text = body.decode(plain.get_content_charset() or "utf-8", errors="replace")
    return Caught(
        message_id=str(msg["Message-ID"]),
        to=to or str(msg["To"] or ""),
        subject=str(make_header(decode_header(msg["Subject"] or ""))),
        text=text,
        language=str(msg["Content-Language"]),
        raw=raw,
        name=name,
        when=when,
    )


@dataclass
class MailCatcher:
    """`answer`: None accepts; an SMTP reply such as "451 4.3.0 try later" refuses.
    `gate`: when set, the DATA of a message waits on it (a test holds a relay mid-send):
    before the message is kept, or, with `gate_after_keeping`, after it was kept but before
    the "250" answer (the window in which SMTP cannot tell the sender that it arrived)."""

    folder: Path | None = None
    answer: str | None = None
    gate: asyncio.Event | None = None
    gate_after_keeping: bool = False
    messages: list[Caught] = field(default_factory=list)
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    server: Any = None
    port: int = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> "MailCatcher":
        if self.folder is not None and self.folder.is_dir():  # what came before a restart
            for path in sorted(self.folder.glob("*.eml")):
                raw = path.read_bytes()
                self.messages.append(parse(raw, "", path.stem, path.stat().st_mtime))
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: SMTP(self, hostname="catcher"), host, port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd
        if self.answer:
            return self.answer
        if not self.gate_after_keeping:
            await self._held()
        name = archive_name("") if self.folder is not None else str(len(self.messages) + 1)
        caught = parse(envelope.content, ",".join(envelope.rcpt_tos), name, time.time())
        self.messages.append(caught)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_new(self.folder / f"{name}.eml", envelope.content)
        if self.gate_after_keeping:
            await self._held()
        return "250 OK"

    async def _held(self) -> None:
        if self.gate is not None and not self.gate.is_set():
            self.holding.set()
            await self.gate.wait()

    def by_message_id(self) -> dict[str, list[Caught]]:
        out: dict[str, list[Caught]] = {}
        for m in self.messages:
            out.setdefault(m.message_id, []).append(m)
        return out


@dataclass
class SmsSink:
    """POST /sms {"to", "body"} with `Authorization: Bearer <token>`: what an SMS gateway
    takes. `status`: the HTTP status it answers (a test makes it refuse)."""

    token: str | None = None
    folder: Path | None = None
    mail: MailCatcher | None = None
    page_key: str | None = None  # given: the page needs the ops cookie (ops/identity.py)
    status: int = 202
    messages: list[dict] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> "SmsSink":
        if self.folder is not None and (self.folder / "sms.jsonl").exists():
            with (self.folder / "sms.jsonl").open() as f:
                self.messages += [json.loads(line) for line in f if line.strip()]
        app = web.Application(middlewares=[pages.needs_identity(self.page_key)])
        app.router.add_post("/sms", self._sms)
        pages.add_routes(app, self)
        self.runner = runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self.port = runner.addresses[0][1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _sms(self, request: web.Request) -> web.Response:
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "bad token"}, status=401)
        if self.status >= 300:
            return web.json_response({"error": "gateway refuses"}, status=self.status)
        data = await request.json()
        sms = {
            "to": data["to"],
            "body": data["body"],
            "message_id": request.headers.get("Idempotency-Key", ""),
            "at": time.time(),
        }
        self.messages.append(sms)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.folder / "sms.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write(json.dumps(sms, ensure_ascii=False) + "\n")
        return web.json_response({"accepted": True}, status=202)
