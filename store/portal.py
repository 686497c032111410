"""What the partner portal reads, and its own small write (a rehashed password; login
attempts, sessions and password links are in store/logins.py and store/sessions.py). Every
read of business items takes the partner (or user) of the verified session and filters by it
in SQL: a page can only ever list that partner's items, and `*_of_partner`
answer whether one item belongs to it before the portal sends any step for it.

The business steps themselves (confirm, upload, ...) are never written here: the portal
sends them to the workflows, as the starter does; a claim it decides itself, through
store/lead_claims.py."""

from typing import Any

from domain.licence import FlatSeat, reduction_cascade
from domain.order_prices import DEFAULT_CURRENCY, FLAT, monthly_totals

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


async def orders_awaiting_confirmation(
    conn: Conn, partner_id: str, limit: int | None = None, offset: int = 0
) -> list[dict]:
    """The partner's fast change orders and change orders waiting for its confirmation, each
    with its lines, the totals (fast change), and what confirming does to the PBX's
    CLASSOUND-FLATs and DIDs; the oldest first, `limit` of them from `offset` (a page: each
    order's figures cost a few reads, so a page reads only the orders it shows)."""
    orders = await conn.fetch(
        "SELECT o.id, o.process_id, o.kind, o.account_id, o.pbx_id, o.quote_id, o.targets,"
        " o.created_at, a.name AS account_name FROM orders o"
        " JOIN accounts a ON a.id = o.account_id"
        " WHERE o.partner_id = $1 AND o.status = 'awaiting_partner_confirmation'"
        " ORDER BY o.created_at, o.id LIMIT $2 OFFSET $3",
        partner_id,
        limit,
        offset,
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
    prices_of: dict[str, tuple[str, dict[str, Any]]] = {}  # and one account several PBXs
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
        flats = await _flat_effects(conn, o["pbx_id"], lines, targets, totals)
        if o["account_id"] not in prices_of:
            prices_of[o["account_id"]] = await _monthly_prices(conn, o["account_id"])
        currency, prices = prices_of[o["account_id"]]
        for item in (*lines, *targets):
            item["price"] = prices.get(item["sku"])  # per unit and month; None: one-off
        after = _licences_after(lines, targets, totals)
        money = monthly_totals(
            {**totals, FLAT: sum(f["active"] for f in flats)},
            {**after, FLAT: sum(f["kept"] + f["added"] for f in flats)},
            prices,
            currency,
        )
        out.append({**dict(o), "lines": lines, "targets": targets, "flats": flats, "money": money})
    return out


async def _monthly_prices(conn: Conn, account_id: str) -> tuple[str, dict[str, Any]]:
    """The monthly list prices in the account's billing currency (EUR without one)."""
    currency = (
        await conn.fetchval(
            "SELECT currency FROM psa_billing_information WHERE account_id = $1", account_id
        )
        or DEFAULT_CURRENCY
    )
    rows = await conn.fetch(
        "SELECT sku, unit_price FROM psa_list_prices WHERE currency = $1", currency
    )
    return currency, {r["sku"]: r["unit_price"] for r in rows}


def _licences_after(lines: list[dict], targets: list[dict], totals: dict[str, int]) -> dict:
    """Licences per type once the order is applied: a fast change's totals, or the change
    order's licence lines added to today's."""
    after = dict(totals)
    for t in targets:
        after[t.get("licence_type") or t["sku"]] = t["total"]
    for ln in lines:
        if ln["kind"] == "licence" and not targets:
            after[ln["licence_type"]] = after.get(ln["licence_type"], 0) + ln["quantity"]
    return after


async def order_named(conn: Conn, process_id: str, partner_id: str) -> Any:
    """The partner's order of this process with its account's name, else None."""
    return await conn.fetchrow(
        "SELECT o.id, o.status, a.name AS account_name FROM orders o"
        " JOIN accounts a ON a.id = o.account_id WHERE o.process_id = $1 AND o.partner_id = $2",
        process_id,
        partner_id,
    )


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
        "SELECT d.process_id, d.kind, d.file_name, d.content_type, d.size, d.uploaded_by,"
        " d.uploaded_at, coalesce(c.name, s.name) AS uploaded_by_name FROM documents d"
        " LEFT JOIN contacts c ON c.id = d.uploaded_by"
        " LEFT JOIN staff_users s ON s.id = d.uploaded_by"
        " WHERE d.process_id = ANY($1::text[]) AND d.is_current ORDER BY d.process_id, d.kind",
        process_ids,
    ):
        doc = dict(d)
        out.setdefault(doc.pop("process_id"), []).append(doc)
    return out


async def change_orders_awaiting_documents(conn: Conn, partner_id: str) -> list[dict]:
    """The partner's open change orders whose current quote has CLASSOUND-FLAT lines (booked
    only with the LOA and the last invoice), until the order is confirmed."""
    rows = await conn.fetch(
        f"SELECT * FROM ({_open_change_orders('$1')}) w ORDER BY w.process_id", partner_id
    )
    flats_of: dict[str, dict[str, int]] = {}
    for f in await conn.fetch(
        "SELECT l.quote_id, l.licence_type, l.quantity FROM quote_lines l JOIN catalogue c"
        " ON c.sku = l.sku AND c.kind = 'classound_flat' WHERE l.quote_id = ANY($1::text[])"
        " AND l.quantity > 0 ORDER BY l.quote_id, l.line_no",
        [r["quote_id"] for r in rows],
    ):
        flats_of.setdefault(f["quote_id"], {})[f["licence_type"]] = f["quantity"]
    out = [{**dict(r), "flats": flats_of[r["quote_id"]]} for r in rows if r["quote_id"] in flats_of]
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


async def lead_inbox(conn: Conn, partner_id: str, limit: int = 200, offset: int = 0) -> list[Any]:
    """Unowned leads of the queues the partner is in: what a claim can take, the oldest first,
    a page at a time. No name, e-mail or phone before a claim: the company, where, what, and
    since when are enough to decide."""
    return await conn.fetch(
        "SELECT l.id, l.queue_id, q.name AS queue_name, l.company, l.country, l.postal_code,"
        " l.product, l.created_at FROM leads l JOIN lead_queues q ON q.id = l.queue_id"
        " JOIN lead_queue_partners p ON p.queue_id = l.queue_id AND p.partner_id = $1"
        " WHERE l.status = 'queued' ORDER BY l.created_at, l.id LIMIT $2 OFFSET $3",
        partner_id,
        limit,
        offset,
    )


async def my_leads(
    conn: Conn, user_id: str, limit: int | None = None, offset: int = 0
) -> list[Any]:
    """The user's own open leads (claimed or given, accepted or not), with the contact; the
    oldest claim first, `limit` of them from `offset` (a page)."""
    return await conn.fetch(
        "SELECT l.id, l.queue_id, q.name AS queue_name, l.company, l.name, l.email, l.phone,"
        " l.country, l.postal_code, l.product, l.status, c.how, c.started_at"
        " FROM claims c JOIN leads l ON l.id = c.lead_id JOIN lead_queues q ON q.id = l.queue_id"
        " WHERE c.user_id = $1 AND c.ended_at IS NULL AND l.status IN ('owned', 'accepted')"
        " ORDER BY c.started_at, l.id LIMIT $2 OFFSET $3",
        user_id,
        limit,
        offset,
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


async def own_opportunity(conn: Conn, opportunity_id: str, user_id: str) -> Any:
    """The queue and company of an opportunity the user owns, else None."""
    return await conn.fetchrow(
        "SELECT o.queue_id, l.company FROM opportunities o JOIN leads l ON l.id = o.lead_id"
        " WHERE o.id = $1 AND o.owner_user_id = $2",
        opportunity_id,
        user_id,
    )


async def queue_of_own_opportunity(conn: Conn, opportunity_id: str, user_id: str) -> str | None:
    return await conn.fetchval(
        "SELECT queue_id FROM opportunities WHERE id = $1 AND owner_user_id = $2",
        opportunity_id,
        user_id,
    )


# --- what waits for a partner user (the home page and the menu's counts) ----------------------


def _open_change_orders(partner: str) -> str:
    """The partner's open change orders, each with its current quote (`partner`: the query's
    parameter, e.g. "$1"). Open: the current quote is not yet accepted into an order (draft,
    published, rejected for a fix), or its order waits for the partner unconfirmed. Read from
    those few rows (partial indexes), never from every quote the partner's customers had."""
    return (
        "SELECT q.id AS quote_id, q.process_id, q.account_id, q.pbx_id, q.status, q.created_at,"
        " a.name AS account_name FROM quotes q JOIN accounts a ON a.id = q.account_id"
        f" WHERE a.partner_id = {partner} AND q.status IN ('draft', 'published', 'rejected')"
        " AND NOT EXISTS (SELECT 1 FROM quotes n WHERE n.process_id = q.process_id"
        " AND n.version > q.version)"
        " UNION ALL SELECT q.id, q.process_id, q.account_id, q.pbx_id, q.status, q.created_at,"
        " a.name FROM orders o JOIN quotes q ON q.id = o.quote_id"
        " JOIN accounts a ON a.id = o.account_id"
        f" WHERE o.partner_id = {partner} AND o.status = 'awaiting_partner_confirmation'"
        " AND o.kind = 'change_order' AND o.confirmed_by IS NULL"
    )


def _change_orders_missing_documents(partner: str) -> str:
    """Open change orders whose current quote books CLASSOUND-FLATs and lacks a document."""
    return (
        f"SELECT w.process_id, w.account_name, w.created_at FROM ({_open_change_orders(partner)}) w"
        " WHERE EXISTS (SELECT 1 FROM quote_lines l JOIN catalogue c ON c.sku = l.sku"
        " AND c.kind = 'classound_flat' WHERE l.quote_id = w.quote_id AND l.quantity > 0)"
        " AND (SELECT count(*) FROM documents d WHERE d.process_id = w.process_id"
        " AND d.is_current) < 2"
    )


def _leads_due(user: str) -> str:
    """The user's claimed leads not yet worked on in a queue with a service level, and when
    they go back to the queue."""
    return (
        "SELECT l.id, l.company, c.started_at + make_interval(mins => lq.work_within_minutes)"
        " AS due_at FROM claims c JOIN leads l ON l.id = c.lead_id"
        " JOIN lead_queues lq ON lq.id = c.queue_id"
        f" WHERE c.user_id = {user} AND c.ended_at IS NULL AND c.how = 'claim'"
        " AND l.status = 'owned' AND lq.work_within_minutes IS NOT NULL"
    )


def _closing(user: str, start: str, end: str) -> str:
    """The user's open opportunities with a close date in [start, end]."""
    return (
        "SELECT o.id, l.company, o.close_date, o.stage FROM opportunities o"
        f" JOIN leads l ON l.id = o.lead_id WHERE o.owner_user_id = {user}"
        f" AND o.close_date BETWEEN {start} AND {end}"
        " AND o.stage NOT IN ('closed-won', 'closed-lost')"
    )


async def waiting_counts(
    conn: Conn, partner_id: str, user_id: str, month: tuple[Any, Any]
) -> dict[str, int]:
    """How many items wait for the user, per kind, in one round trip (every page's menu)."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM orders WHERE partner_id = $1"
        " AND status = 'awaiting_partner_confirmation') AS orders,"
        " (SELECT count(*) FROM classound_orders WHERE partner_id = $1"
        " AND status = 'awaiting_reseller')"
        f" + (SELECT count(*) FROM ({_change_orders_missing_documents('$1')}) d) AS documents,"
        f" (SELECT count(*) FROM ({_leads_due('$2')}) x) AS leads,"
        f" (SELECT count(*) FROM ({_closing('$2', '$3', '$4')}) y) AS opportunities",
        partner_id,
        user_id,
        month[0],
        month[1],
    )
    return dict(row)


async def waiting_items(
    conn: Conn, partner_id: str, user_id: str, month: tuple[Any, Any], limit: int = 20
) -> dict[str, list[Any]]:
    """The first items of each kind, soonest first, for the home page."""
    orders = await conn.fetch(
        "SELECT o.process_id, o.id, o.kind, o.created_at, a.name AS account_name"
        " FROM orders o JOIN accounts a ON a.id = o.account_id WHERE o.partner_id = $1"
        " AND o.status = 'awaiting_partner_confirmation' ORDER BY o.created_at, o.id LIMIT $2",
        partner_id,
        limit,
    )
    documents = await conn.fetch(
        "SELECT * FROM (SELECT o.process_id, a.name AS account_name, o.created_at"
        " FROM classound_orders o JOIN accounts a ON a.id = o.account_id"
        " WHERE o.partner_id = $1 AND o.status = 'awaiting_reseller'"
        f" UNION ALL {_change_orders_missing_documents('$1')}) d"
        " ORDER BY created_at LIMIT $2",
        partner_id,
        limit,
    )
    leads = await conn.fetch(f"{_leads_due('$1')} ORDER BY due_at, l.id LIMIT $2", user_id, limit)
    closing = await conn.fetch(
        f"{_closing('$1', '$2', '$3')} ORDER BY o.close_date, o.id LIMIT $4",
        user_id,
        month[0],
        month[1],
        limit,
    )
    return {"orders": orders, "documents": documents, "leads": leads, "opportunities": closing}


# --- CLASSOUND orders after the documents: what happens next, and the partner's files --------


async def classound_orders_under_way(conn: Conn, partner_id: str, limit: int = 50) -> list[dict]:
    """The partner's CLASSOUND orders past the documents (porting requested or scheduled,
    refused by the carrier, active), the newest first, with the porting date, the carrier's
    refusal and the numbers now active, and the documents the partner uploaded."""
    rows = await conn.fetch(
        "SELECT o.process_id, o.kind, o.status, o.account_id, o.pbx_id, o.numbers,"
        " o.porting_date, o.activated_on, o.created_at, a.name AS account_name,"
        " (SELECT r.refusal_reason FROM porting_requests r WHERE r.process_id = o.process_id"
        " ORDER BY r.attempt DESC LIMIT 1) AS refusal_reason,"
        " CASE WHEN o.status = 'active' THEN (SELECT coalesce(array_agg(n.number"
        " ORDER BY n.position), '{}') FROM classound_numbers n JOIN dids d"
        " ON d.number = n.number AND d.status = 'active' WHERE n.process_id = o.process_id)"
        " END AS active_numbers"
        " FROM classound_orders o JOIN accounts a ON a.id = o.account_id"
        " WHERE o.partner_id = $1 AND o.status IN"
        " ('porting_requested', 'porting_scheduled', 'carrier_refused', 'active')"
        " ORDER BY o.created_at DESC, o.process_id LIMIT $2",
        partner_id,
        limit,
    )
    docs = await _current_documents(conn, [r["process_id"] for r in rows])
    return [{**dict(r), "documents": docs.get(r["process_id"], [])} for r in rows]


async def document_of_partner(conn: Conn, process_id: str, kind: str, partner_id: str) -> Any:
    """The current document of this kind of one of the partner's orders, else None."""
    return await conn.fetchrow(
        "SELECT d.file_name, d.content_type, d.size, d.sha256 FROM documents d"
        " WHERE d.process_id = $1 AND d.kind = $2 AND d.is_current AND ("
        " EXISTS (SELECT 1 FROM classound_orders o WHERE o.process_id = $1"
        " AND o.partner_id = $3) OR EXISTS (SELECT 1 FROM quotes q JOIN accounts a"
        " ON a.id = q.account_id WHERE q.process_id = $1 AND a.partner_id = $3))",
        process_id,
        kind,
        partner_id,
    )
