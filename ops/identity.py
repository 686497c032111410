"""Who may read decrypted payloads and the local message archive in a browser: the person who
holds the codec key (the codec token). The browser proves it with an HttpOnly, SameSite cookie
signed with that key, got once by a one-time login link (`./run` prints it: only its user sees
that terminal) or by typing the token into the codec server's login form. Nothing secret is
put on a command line, in a lasting URL or in a file others can read.

The cookie is checked by the codec server and by `./run`'s Messages page; cookies do not depend
on the port, so one login on localhost serves both."""

import hashlib
import hmac
import secrets
import time

COOKIE = "partnerflow_ops"
SESSION_SECONDS = 7 * 24 * 3600  # a working week on one browser, then a new link
LINK_SECONDS = 3600  # a login link not opened within the hour is worthless


def _mac(key: str, what: str) -> str:
    return hmac.new(key.encode(), what.encode(), hashlib.sha256).hexdigest()


def session_value(key: str, now: float | None = None) -> str:
    """The cookie's value: its expiry and a MAC over it."""
    expires = int(now if now is not None else time.time()) + SESSION_SECONDS
    return f"{expires}.{_mac(key, f'session:{expires}')}"


def valid_session(key: str, value: str | None, now: float | None = None) -> bool:
    expires, _, mac = (value or "").partition(".")
    if not expires.isdigit() or int(expires) < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(mac, _mac(key, f"session:{expires}"))


def login_token(key: str, now: float | None = None) -> str:
    """A one-time login token for a link: expiry, a nonce and a MAC (anyone with the key,
    such as `python -m devstack link`, can make one; none is stored)."""
    expires = int(now if now is not None else time.time()) + LINK_SECONDS
    nonce = secrets.token_hex(12)
    return f"{expires}.{nonce}.{_mac(key, f'link:{expires}.{nonce}')}"


class OneTimeLinks:
    """Redeems each login token once (per server process; a token also expires)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.used: dict[str, int] = {}

    def redeem(self, token: str | None, now: float | None = None) -> bool:
        t = now if now is not None else time.time()
        expires, _, rest = (token or "").partition(".")
        nonce, _, mac = rest.partition(".")
        if not expires.isdigit() or int(expires) < t or not nonce or nonce in self.used:
            return False
        if not hmac.compare_digest(mac, _mac(self.key, f"link:{expires}.{nonce}")):
            return False
        self.used = {n: e for n, e in self.used.items() if e >= t}  # expired ones forgotten
        self.used[nonce] = int(expires)
        return True
