"""A browser the user has logged in with before is known by a cookie of its own: the user id,
a random nonce and an HMAC of both with the portal's secret. Its login attempts for that user
are judged apart from its address's (domain/portal.py), so a guesser behind the same proxy or
office address as the owner slows only the browsers that never logged in as that user. The
cookie opens nothing by itself: the password is still needed."""

import hashlib
import hmac
import re
import secrets

from fastapi import Request
from fastapi.responses import Response

DEVICE_COOKIE = "partnerflow_device"
KEPT_FOR = 365 * 24 * 3600  # seconds
_FORM = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]{0,63})\.([0-9a-f]{32})\.([0-9a-f]{64})$")


def _mac(secret: str, user_id: str, nonce: str) -> str:
    return hmac.new(
        secret.encode(), f"device\x00{user_id}\x00{nonce}".encode(), hashlib.sha256
    ).hexdigest()


def known_device(request: Request, user_id: str) -> str | None:
    """The key this browser's attempts for `user_id` are judged by, if it has logged in as that
    user before ("device:<nonce>"), else None."""
    found = _FORM.match(request.cookies.get(DEVICE_COOKIE, ""))
    if not found or found.group(1) != user_id:
        return None
    expected = _mac(request.app.state.secret_key, user_id, found.group(2))
    if not hmac.compare_digest(expected, found.group(3)):
        return None
    return f"device:{found.group(2)}"


def remember(request: Request, response: Response, user_id: str) -> None:
    """After a login of `user_id`: this browser is one of the user's (kept for a year)."""
    if known_device(request, user_id):
        return
    nonce = secrets.token_hex(16)
    response.set_cookie(
        DEVICE_COOKIE,
        f"{user_id}.{nonce}.{_mac(request.app.state.secret_key, user_id, nonce)}",
        max_age=KEPT_FOR,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
        path="/",
    )
