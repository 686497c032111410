"""Hostile input stops at the door: a request whose path, query or form carries a NUL or
another control character, a broken percent-encoding or bytes that are no UTF-8, or a form
larger than any page sends, is answered with a 400 (413) page in the reader's language before
any route reads it — never with a 500 from deep inside (PostgreSQL refuses NUL in text).

A FastAPI dependency of the whole app, so that the answer is an ordinary error page with the
session around it. The signing page judges its own links (portal/routes/signing.py)."""

import re
from urllib.parse import unquote_to_bytes

from fastapi import Request

MAX_FORM_BYTES = 64 * 1024  # a form is small; an upload has its own limit (the 10 MB rule)
_UPLOADS = "/documents/"
_OWN_RULES = ("/sign",)
_BROKEN_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
# NUL and the C0/C1 controls; tab, line feed and carriage return are text (a reason's lines).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class BadInput(Exception):
    def __init__(self, status: int, why: str) -> None:
        self.status = status
        self.why = why


def hostile(raw: bytes) -> str | None:
    """Why these URL-encoded bytes are no input a page takes, or None."""
    if _BROKEN_ESCAPE.search(raw):
        return "a broken percent-encoding"
    try:
        text = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return "bytes that are no UTF-8"
    if _CONTROL.search(text):
        return "a NUL or another control character"
    return None


async def guard(request: Request) -> None:
    path = request.url.path
    if path.startswith(_OWN_RULES):
        return
    why = hostile(request.scope.get("raw_path") or path.encode()) or hostile(
        request.scope.get("query_string", b"")
    )
    if why:
        raise BadInput(400, why)
    if request.method != "POST" or path.startswith(_UPLOADS):
        return
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FORM_BYTES:
        raise BadInput(413, "a form larger than any page sends")
    body = b""
    async for chunk in request.stream():  # without a length: read no more than the limit
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise BadInput(413, "a form larger than any page sends")
    request._body = body  # the route's form() reads these bytes again
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        why = hostile(body)
    else:  # a form sent as multipart (no file is expected here): its values are the raw bytes
        why = "a NUL or bytes that are no UTF-8" if not _text(body) else None
    if why:
        raise BadInput(400, why)


def _text(body: bytes) -> bool:
    try:
        return "\x00" not in body.decode("utf-8")
    except UnicodeDecodeError:
        return False
