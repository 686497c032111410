"""Partner and lead records for tests: each test makes its own partners, users, queues and
leads, so tests never share rows (partner management itself is one setting for all)."""

import base64
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from domain.leads import LeadBatchRef, LeadRow, RouterRequest, Routing
from domain.partners import hash_password
from store import outbox
from store.leads import save_batch

PASSWORD_HASH = hash_password("correct horse battery", b"0123456789abcdef")


async def enable_partner_management(pool) -> None:
    await pool.execute(
        "INSERT INTO partner_management (enabled_by, process_id) VALUES ('tests', 'tests')"
        " ON CONFLICT DO NOTHING"
    )


@dataclass
class Partner:
    id: str
    users: list[str] = field(default_factory=list)  # active: logged in once
    invited: list[str] = field(default_factory=list)  # not logged in yet
    contacts: list[str] = field(default_factory=list)  # not partner users (yet)


def tag() -> str:
    return uuid.uuid4().hex[:6].upper()


async def new_partner(
    pool,
    *,
    users: int = 0,
    invited: int = 0,
    contacts: int = 0,
    account: bool = True,
    name: str | None = None,
) -> Partner:
    """A partner with `users` active partner users, `invited` users who have not logged in
    and `contacts` plain contacts; with `account=False` no partner account yet."""
    t = tag()
    p = Partner(id=f"P-{t}")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO partners (id, name, email) VALUES ($1, $2, $3)",
            p.id,
            name or f"Partner {t}",
            "",
        )
        if account:
            await conn.execute(
                "INSERT INTO partner_accounts (partner_id, channel_manager, process_id,"
                " created_by) VALUES ($1, 'cm-test', 'tests', 'tests')",
                p.id,
            )
        for kind, n in (("users", users), ("invited", invited), ("contacts", contacts)):
            for i in range(n):
                contact = f"C-{t}-{kind[0].upper()}{i + 1}"
                await conn.execute(
                    "INSERT INTO contacts (id, partner_id, name, email, phone)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    contact,
                    p.id,
                    f"Seller {i + 1}",
                    f"{contact.lower()}@partner.example",
                    "+45 70 000000",
                )
                if kind == "users":
                    await conn.execute(
                        "INSERT INTO partner_users (id, partner_id, status, password_hash,"
                        " first_login_at, invited_by) VALUES ($1, $2, 'active', $3, $4,"
                        " 'tests')",
                        contact,
                        p.id,
                        PASSWORD_HASH,
                        datetime.now(UTC),
                    )
                elif kind == "invited":
                    await conn.execute(
                        "INSERT INTO partner_users (id, partner_id, invited_by)"
                        " VALUES ($1, $2, 'tests')",
                        contact,
                        p.id,
                    )
                getattr(p, kind).append(contact)
    return p


def queue_request(
    partners: list[Partner],
    *,
    cap: int = 10,
    routing: Routing = "claim",
    rollover_after: int | None = None,
    queue_id: str | None = None,
    managers: tuple[str, ...] = ("cm-eva",),
) -> RouterRequest:
    queue_id = queue_id or f"q-{tag().lower()}"
    return RouterRequest(
        queue_id=queue_id,
        name=f"Queue {queue_id}",
        channel_managers=list(managers),
        partners=[p.id for p in partners],
        claim_cap=cap,
        routing=routing,
        requested_by="cm-eva",
        rollover_after=rollover_after,
    )


def lead_rows(
    n: int,
    *,
    country: str = "DE",
    postal_code: str = "10115",
    product: str = "Premium",
    start: int = 1,
) -> list[LeadRow]:
    t = tag().lower()
    return [
        LeadRow(
            company=f"Prospect {t} {i}",
            name=f"Buyer {i}",
            email=f"buyer{i}-{t}@prospect.example",
            phone="+49 30 1234567",
            country=country,
            postal_code=postal_code,
            product=product,
            source="trade fair",
        )
        for i in range(start, start + n)
    ]


def documents_root() -> Path:
    return Path(os.environ["PARTNERFLOW_DOCUMENTS_DIR"])


def batch(rows: list[LeadRow]) -> LeadBatchRef:
    """The leads as the starter leaves them for the workers."""
    return save_batch(documents_root(), rows)


async def login_link_token(
    pool, process_id: str, user_id: str, ring: dict[str, bytes] | None = None
) -> str:
    """The one-time token of the newest login e-mail to a partner user (from the outbox row,
    sealed until the relay has sent it: no relay runs in these tests); `ring`: the key ring
    of a worker running in another process (e2e)."""
    link = await outbox.pending_link(
        pool, process_id=process_id, recipient_id=user_id, template="partner_user_login", ring=ring
    )
    return parse_qs(urlparse(link).query)["token"][0]


async def owners(pool, queue_id: str) -> dict[str, str]:
    rows = await pool.fetch(
        "SELECT c.lead_id, c.user_id FROM claims c WHERE c.queue_id = $1 AND c.ended_at IS NULL",
        queue_id,
    )
    return {r["lead_id"]: r["user_id"] for r in rows}


async def history_text(handle) -> str:
    """A process's history as text with every payload decoded: what someone reading the
    history could see (payloads are base64 in the JSON form)."""
    raw = json.loads((await handle.fetch_history()).to_json())
    parts = [json.dumps(raw)]

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("data"), str) and "metadata" in node:
                parts.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(raw)
    return "\n".join(parts)
