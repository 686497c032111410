"""What the partner portal reads, and its own small write (a rehashed password; login
attempts, sessions and password links are in store/logins.py and store/sessions.py). Every
read of business items takes the partner (or user) of the verified session and filters by it
in SQL: a page can only ever list that partner's items, and `*_of_partner`
answer whether one item belongs to it before the portal sends any step for it.

The business steps themselves (confirm, upload, claim, ...) are never written here: the
portal sends them to the workflows, as the starter does."""

from typing import Any

from domain.licence import FlatSeat, reduction_cascade

Conn = Any  # an asyncpg connection


# --- users, logins ----------------------------------------------------------------------------

USER_SQL = (
    "SELECT u.id, u.partner_id, u.status, u.password_hash, a.status AS account_status,"
    " p.name AS partner_name, c.name, coalesce(c.language, p.language) AS language"
    " FROM partner_users u JOIN partner_accounts a ON a.partner_id = u.partner_id"
    " JOIN partners p ON p.id = u.partner_id JOIN contacts c ON c.id = u.id WHERE u.id = $1"
)


async def partner_user(conn: Conn, user_id: str) -> Any:
    """The partner user with its partner, status, password hash and language, or None."""
    return await conn.fetchrow(USER_SQL, user_id)


async def replace_password_hash(conn: Conn, user_id: str, old: str, new: str) -> bool:
    """A stronger hash of the same password (made at a successful login): only if the hash is
    still the one verified (a concurrent change wins)."""
    done = await conn.fetchval(
        "UPDATE partner_users SET password_hash = $3 WHERE id = $1 AND password_hash = $2"
        " AND status = 'active' RETURNING true",
        user_id,
        old,
        new,
    )
    return bool(done)


# --- orders waiting for the partner's confirmation --------------------------------------------


async def orders_awaiting_confirmation(conn: Conn, partner_id: str) -> list[dict]:
    """The partner's fast change orders and change orders waiting for its confirmation, each
    with its lines, the totals (fast change), and what confirming does to the PBX's
    CLASSOUND-FLATs and DIDs."""
    orders = await conn.fetch(
        "SELECT o.id, o.process_id, o.kind, o.account_id, o.pbx_id, o.quote_id, o.targets,"
        " o.created_at, a.name AS account_name FROM orders o"
        " JOIN accounts a ON a.id = o.account_id"
        " WHERE o.partner_id = $1 AND o.status = 'awaiting_partner_confirmation'"
        " ORDER BY o.created_at, o.id",
        partner_id,
    )
    lines_of: dict[str, list[dict]] = {}
    for r in await conn.fetch(
        "SELECT l.order_id, l.sku, l.kind, l.quantity, l.licence_type, l.start_date, c.name"
        " FROM order_lines l JOIN catalogue c ON c.sku = l.sku"
        " WHERE l.order_id = ANY($1::text[]) ORDER BY l.order_id, l.line_no",
        [o["id"] for o in orders],
    ):
        line = dict(r)
        lines_of.setdefault(line.pop("order_id"), []).append(line)
    totals_of: dict[str, dict[str, int]] = {}  # one PBX may have several orders waiting
    out = []
    for o in orders:
        lines = lines_of.get(o["id"], [])
        if o["pbx_id"] not in totals_of:
            totals_of[o["pbx_id"]] = await _licence_totals(conn, o["pbx_id"])
        totals = totals_of[o["pbx_id"]]
        targets = [
            {**t, "now": totals.get(t.get("licence_type") or t["sku"], 0)}
            for t in (o["targets"] or [])
        ]
        out.append(
            {
                **dict(o),
                "lines": lines,
                "targets": targets,
                "flats": await _flat_effects(conn, o["pbx_id"], lines, targets, totals),
            }
        )
    return out


async def _licence_totals(conn: Conn, pbx_id: str) -> dict[str, int]:
    """Every licence type the PBX has rows of, a total of 0 included (store.change_orders.
    licence_totals leaves those out: here a type of 0 licences with flats still shows)."""
    return {
        r["licence_type"]: r["quantity"]
        for r in await conn.fetch(
            "SELECT licence_type, sum(quantity)::int AS quantity FROM licences WHERE pbx_id = $1"
            " GROUP BY licence_type",
            pbx_id,
        )
    }


async def order_of_partner(conn: Conn, process_id: str, partner_id: str) -> bool:
    """The order of this process belongs to the partner (any status: the workflow answers
    for the rest)."""
    return bool(
        await conn.fetchval(
            "SELECT true FROM orders WHERE process_id = $1 AND partner_id = $2",
            process_id,
            partner_id,
        )
    )


async def _flat_effects(
    conn: Conn, pbx_id: str, lines: list[dict], targets: list[dict], totals: dict[str, int]
) -> list[dict]:
    """Per licence type: flats the order adds, flats its reduction cancels (the same cascade
    the order applies, domain/licence.py) and the DIDs on those, which stay active until
    customer care cancels them."""
    after = dict(totals)
    for t in targets:
        after[t.get("licence_type") or t["sku"]] = t["total"]
    added: dict[str, int] = {}
    for ln in lines:
        if ln["kind"] == "licence" and not targets:
            after[ln["licence_type"]] = after.get(ln["licence_type"], 0) + ln["quantity"]
        if ln["kind"] == "classound_flat" and ln["quantity"] > 0:
            added[ln["licence_type"]] = added.get(ln["licence_type"], 0) + ln["quantity"]
    effects = []
    for licence_type in sorted(set(totals) | set(after) | set(added)):
        seats = [
            FlatSeat(id=r["id"], start_date=r["start_date"], dids=r["dids"])
            for r in await conn.fetch(
                "SELECT f.id, f.start_date, coalesce(array_agg(d.number ORDER BY d.number)"
                " FILTER (WHERE d.number IS NOT NULL AND d.status <> 'cancelled'), '{}') AS dids"
                " FROM pbx_products f"
                " JOIN catalogue c ON c.sku = f.sku AND c.kind = 'classound_flat'"
                " LEFT JOIN dids d ON d.flat_id = f.id"
                " WHERE f.pbx_id = $1 AND f.licence_type = $2 AND f.status = 'active'"
                " GROUP BY f.id, f.start_date",
                pbx_id,
                licence_type,
            )
        ]
        left = after.get(licence_type, 0)
        cascade = reduction_cascade(seats, left) if left < totals.get(licence_type, 0) else None
        cancelled = len(cascade.cancelled_flats) if cascade else 0
        if not (cancelled or added.get(licence_type) or seats):
            continue
        effects.append(
            {
                "licence_type": licence_type,
                "active": len(seats),
                "added": added.get(licence_type, 0),
                "cancelled": cancelled,
                "dids_to_cancel": cascade.dids_to_cancel if cascade else [],
                "kept": len(seats) - cancelled,
            }
        )
    return effects


# --- CLASSOUND orders waiting for documents ---------------------------------------------------


async def classound_orders_awaiting_documents(conn: Conn, partner_id: str) -> list[dict]:
    rows = await conn.fetch(
        "SELECT o.process_id, o.kind, o.account_id, o.pbx_id, o.numbers, o.flats,"
        " o.created_at, o.expires_at, o.ticket_id, a.name AS account_name"
        " FROM classound_orders o JOIN accounts a ON a.id = o.account_id"
        " WHERE o.partner_id = $1 AND o.status = 'awaiting_reseller'"
        " ORDER BY o.created_at, o.process_id",
        partner_id,
    )
    docs = await _current_documents(conn, [r["process_id"] for r in rows])
    return [{**dict(r), "documents": docs.get(r["process_id"], [])} for r in rows]


async def _current_documents(conn: Conn, process_ids: list[str]) -> dict[str, list[dict]]:
    """The current documents of each process, by kind, in one query for all of them."""
    out: dict[str, list[dict]] = {}
    for d in await conn.fetch(
        "SELECT process_id, kind, file_name, content_type, size, uploaded_by, uploaded_at"
        " FROM documents WHERE process_id = ANY($1::text[]) AND is_current"
        " ORDER BY process_id, kind",
        process_ids,
    ):
        doc = dict(d)
        out.setdefault(doc.pop("process_id"), []).append(doc)
    return out


async def change_orders_awaiting_documents(conn: Conn, partner_id: str) -> list[dict]:
    """The partner's open change orders whose current quote has CLASSOUND-FLAT lines (booked
    only with the LOA and the last invoice), until the order is confirmed."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (q.process_id) q.process_id, q.id AS quote_id, q.account_id,"
        " q.pbx_id, q.status, q.created_at, a.name AS account_name"
        " FROM quotes q JOIN accounts a ON a.id = q.account_id WHERE a.partner_id = $1"
        " ORDER BY q.process_id, q.version DESC",
        partner_id,
    )
    out = []
    for r in rows:
        if r["status"] in ("cancelled", "superseded"):
            continue
        if await conn.fetchval(
            "SELECT true FROM orders WHERE process_id = $1 AND (status <> "
            "'awaiting_partner_confirmation' OR confirmed_by IS NOT NULL)",
            r["process_id"],
        ):
            continue  # confirmed, applied or closed: documents can no longer change
        flats = await conn.fetch(
            "SELECT l.licence_type, l.quantity FROM quote_lines l JOIN catalogue c"
            " ON c.sku = l.sku AND c.kind = 'classound_flat' WHERE l.quote_id = $1"
            " AND l.quantity > 0 ORDER BY l.line_no",
            r["quote_id"],
        )
        if not flats:
            continue
        out.append({**dict(r), "flats": {f["licence_type"]: f["quantity"] for f in flats}})
    docs = await _current_documents(conn, [r["process_id"] for r in out])
    return [{**r, "documents": docs.get(r["process_id"], [])} for r in out]


async def classound_order_of_partner(conn: Conn, process_id: str, partner_id: str) -> bool:
    """A CLASSOUND order, or a change order, of one of the partner's accounts."""
    return bool(
        await conn.fetchval(
            "SELECT true FROM classound_orders WHERE process_id = $1 AND partner_id = $2"
            " UNION ALL SELECT true FROM quotes q JOIN accounts a ON a.id = q.account_id"
            " WHERE q.process_id = $1 AND a.partner_id = $2 LIMIT 1",
            process_id,
            partner_id,
        )
    )


# --- leads and opportunities ------------------------------------------------------------------


async def partner_queues(conn: Conn, partner_id: str) -> list[Any]:
    return await conn.fetch(
        "SELECT q.id, q.name FROM lead_queues q JOIN lead_queue_partners p ON p.queue_id = q.id"
        " WHERE p.partner_id = $1 ORDER BY q.id",
        partner_id,
    )


async def lead_inbox(conn: Conn, partner_id: str, limit: int = 200) -> list[Any]:
    """Unowned leads of the queues the partner is in: what a claim can take. No name, e-mail
    or phone before a claim: the company, where, what, and since when are enough to decide."""
    return await conn.fetch(
        "SELECT l.id, l.queue_id, q.name AS queue_name, l.company, l.country, l.postal_code,"
        " l.product, l.created_at FROM leads l JOIN lead_queues q ON q.id = l.queue_id"
        " JOIN lead_queue_partners p ON p.queue_id = l.queue_id AND p.partner_id = $1"
        " WHERE l.status = 'queued' ORDER BY l.created_at, l.id LIMIT $2",
        partner_id,
        limit,
    )


async def my_leads(conn: Conn, user_id: str) -> list[Any]:
    """The user's own open leads (claimed or given, accepted or not), with the contact."""
    return await conn.fetch(
        "SELECT l.id, l.queue_id, q.name AS queue_name, l.company, l.name, l.email, l.phone,"
        " l.country, l.postal_code, l.product, l.status, c.how, c.started_at"
        " FROM claims c JOIN leads l ON l.id = c.lead_id JOIN lead_queues q ON q.id = l.queue_id"
        " WHERE c.user_id = $1 AND c.ended_at IS NULL AND l.status IN ('owned', 'accepted')"
        " ORDER BY c.started_at, l.id",
        user_id,
    )


async def my_opportunities(conn: Conn, user_id: str) -> list[Any]:
    return await conn.fetch(
        "SELECT o.id, o.lead_id, o.queue_id, o.stage, o.amount, o.close_date, o.updated_at,"
        " l.company FROM opportunities o JOIN leads l ON l.id = o.lead_id"
        " WHERE o.owner_user_id = $1 ORDER BY o.created_at, o.id",
        user_id,
    )


async def queue_of_lead_for_partner(conn: Conn, lead_id: str, partner_id: str) -> str | None:
    """The queue of a lead the partner may see (a queue it is in), else None."""
    return await conn.fetchval(
        "SELECT l.queue_id FROM leads l JOIN lead_queue_partners p ON p.queue_id = l.queue_id"
        " AND p.partner_id = $2 WHERE l.id = $1",
        lead_id,
        partner_id,
    )


async def queue_of_own_lead(conn: Conn, lead_id: str, user_id: str) -> str | None:
    """The queue of a lead the user owns now, else None."""
    return await conn.fetchval(
        "SELECT queue_id FROM claims WHERE lead_id = $1 AND user_id = $2 AND ended_at IS NULL",
        lead_id,
        user_id,
    )


async def queue_of_own_opportunity(conn: Conn, opportunity_id: str, user_id: str) -> str | None:
    return await conn.fetchval(
        "SELECT queue_id FROM opportunities WHERE id = $1 AND owner_user_id = $2",
        opportunity_id,
        user_id,
    )
