"""A link from an e-mail leads to its item through the login: the portal remembers where the
reader was going (`/login?next=<path>`) and goes there after login, to a path of its own only.
The app in process (httpx), a real PostgreSQL."""

import re
import secrets

import httpx

from portal.app import PortalSettings, create_app
from tests.records_partners import new_partner

PASSWORD = "correct horse battery"


def client(pool) -> httpx.AsyncClient:
    app = create_app(
        PortalSettings(secret_key=secrets.token_hex(32), secure_cookies=False), pool=pool
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test")


async def log_in(c: httpx.AsyncClient, user: str, next_path: str | None) -> httpx.Response:
    page = await c.get("/login", params={"next": next_path} if next_path else None)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and csrf, page.text[:500]
    return await c.post("/login", data={"user": user, "password": PASSWORD, "csrf": csrf[1]})


async def test_after_login_the_reader_lands_on_the_item_of_the_email(pool):
    p = await new_partner(pool, users=1)
    (user,) = p.users
    async with client(pool) as c:
        done = await log_in(c, user, "/orders#order-O-1")
        assert done.status_code == 303 and done.headers["location"] == "/orders#order-O-1"
        # already logged in: the link goes straight on
        again = await c.get("/login", params={"next": "/documents#documents-c-1"})
        assert again.status_code == 303
        assert again.headers["location"] == "/documents#documents-c-1"


async def test_next_goes_nowhere_but_the_portals_own_paths(pool):
    p = await new_partner(pool, users=1)
    (user,) = p.users
    for hostile in (
        "//evil.example/orders",
        "https://evil.example/",
        "/\\evil.example",
        "orders",
        "/orders\r\nSet-Cookie: x=1",
        "/" + "x" * 500,
    ):
        async with client(pool) as c:
            done = await log_in(c, user, hostile)
            assert done.status_code == 303 and done.headers["location"] == "/home", hostile
