"""Reads and writes for lead queues: opening one, its partners and assignment rules, and a
queue of the previous release as PostgreSQL has it, for the process that takes it over."""

from domain.errors import Refused
from domain.leads import Turn
from domain.leads.steps import check_members, no_such_queue
from store import people
from store.lead_rows import Conn
from store.partners import require_management, roster


async def _members(
    conn: Conn, queue_id: str, partners: list[str], actor: str, first_position: int
) -> list[dict]:
    """Adds the partners to the queue; returns their rosters. The share lock on each account
    orders this against logins and deactivations: whichever comes second sees the other."""
    statuses = {
        partner_id: await conn.fetchval(
            "SELECT status FROM partner_accounts WHERE partner_id = $1 FOR SHARE", partner_id
        )
        for partner_id in partners
    }
    check_members(statuses)
    rosters = []
    for n, partner_id in enumerate(partners):
        await conn.execute(
            "INSERT INTO lead_queue_partners (queue_id, partner_id, position, added_by)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            queue_id,
            partner_id,
            first_position + n,
            actor,
        )
        rosters.append((await roster(conn, partner_id))["roster"])
    return rosters


async def open_queue(
    conn: Conn,
    process_id: str,
    actor: str,
    queue_id: str,
    name: str,
    channel_managers: list[str],
    partners: list[str],
    claim_cap: int,
    routing: str,
    work_within_minutes: int | None = None,
) -> dict:
    await require_management(conn)
    await people.require_channel_managers(conn, channel_managers)
    existing = await conn.fetchval("SELECT process_id FROM lead_queues WHERE id = $1", queue_id)
    if existing is not None:
        raise Refused(f"lead queue {queue_id} already exists")
    await conn.execute(
        "INSERT INTO lead_queues (id, name, channel_managers, claim_cap, routing, process_id,"
        " opened_by, work_within_minutes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        queue_id,
        name,
        channel_managers,
        claim_cap,
        routing,
        process_id,
        actor,
        work_within_minutes,
    )
    return {"rosters": await _members(conn, queue_id, partners, actor, 1)}


async def add_partners(conn: Conn, actor: str, queue_id: str, partners: list[str]) -> dict:
    last = await conn.fetchval(
        "SELECT coalesce(max(position), 0) FROM lead_queue_partners WHERE queue_id = $1", queue_id
    )
    return {"rosters": await _members(conn, queue_id, partners, actor, last + 1)}


async def add_rule(conn: Conn, actor: str, queue_id: str, rule: dict, position: int) -> dict:
    if (
        rule["to_queue"]
        and await conn.fetchval("SELECT 1 FROM lead_queues WHERE id = $1", rule["to_queue"]) is None
    ):
        raise Refused(f"{no_such_queue(rule['to_queue'])}; open it first")
    await conn.execute(
        "UPDATE assignment_rules SET position = position + 1 WHERE queue_id = $1"
        " AND position >= $2",
        queue_id,
        position,
    )
    await conn.execute(
        "INSERT INTO assignment_rules (queue_id, rule_id, position, country, postal_prefix,"
        " product, to_partner_id, to_queue_id, created_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        queue_id,
        rule["rule_id"],
        position,
        rule["country"],
        rule["postal_prefix"],
        rule["product"],
        rule["to_partner"],
        rule["to_queue"],
        actor,
    )
    return {"rule": rule["rule_id"], "position": position}


async def take_over(conn: Conn, queue_id: str) -> dict:
    """A queue opened by the earlier design, as PostgreSQL has it: its settings, partners (in
    the order they joined), rules (in their order), the round-robin turn where its last lead
    given in turn left it, and how many leads it holds. Its leads and owners stay where they
    are: the process taking it over reads them here, as it does for every queue."""
    queue = await conn.fetchrow(
        "SELECT name, channel_managers, claim_cap, routing, work_within_minutes"
        " FROM lead_queues WHERE id = $1 FOR UPDATE",
        queue_id,
    )
    if queue is None:
        raise no_such_queue(queue_id)
    partners = [
        r["partner_id"]
        for r in await conn.fetch(
            "SELECT partner_id FROM lead_queue_partners WHERE queue_id = $1 ORDER BY position",
            queue_id,
        )
    ]
    rules = await conn.fetch(
        "SELECT rule_id, country, postal_prefix, product, to_partner_id, to_queue_id"
        " FROM assignment_rules WHERE queue_id = $1 ORDER BY position",
        queue_id,
    )
    return {
        **dict(queue),
        "channel_managers": list(queue["channel_managers"]),
        "partners": partners,
        "rosters": [(await roster(conn, p))["roster"] for p in partners],
        "rules": [
            {
                "rule_id": r["rule_id"],
                "country": r["country"],
                "postal_prefix": r["postal_prefix"],
                "product": r["product"],
                "to_partner": r["to_partner_id"],
                "to_queue": r["to_queue_id"],
            }
            for r in rules
        ],
        "last_rule": max((r["rule_id"] for r in rules), default=0),
        "turn": (await _last_turn(conn, queue_id)).model_dump(),
        "leads": await conn.fetchval("SELECT count(*) FROM leads WHERE queue_id = $1", queue_id),
    }


async def _last_turn(conn: Conn, queue_id: str) -> Turn:
    """Round-robin goes on after the partner, and each partner's user, given a lead last:
    the newest step's leads, the highest numbered last (leads are routed in their order)."""
    rows = await conn.fetch(
        "SELECT partner_id, user_id, how FROM claims WHERE queue_id = $1"
        " AND how IN ('round-robin', 'rule')"
        " ORDER BY started_at, (regexp_replace(lead_id, '\\D', '', 'g'))::bigint",
        queue_id,
    )
    turn = Turn()
    for r in rows:
        turn.last_user[r["partner_id"]] = r["user_id"]
        if r["how"] == "round-robin":
            turn.last_partner = r["partner_id"]
    return turn
