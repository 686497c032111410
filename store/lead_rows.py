"""The rows of a lead queue as the rules read them (domain/leads/steps.py), under the locks
that make each decision hold: the lead's row, the partner account's row (the claim cap), and
the unique index over current claims (`claims_one_owner_per_lead`) as the last word."""

from typing import Any

from domain.leads.steps import OPEN, LeadFacts, QueueFacts, ReceiverFacts, no_such_queue
from domain.notices import Notice
from store.notices import tell

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free


async def queue_facts(conn: Conn, queue_id: str) -> QueueFacts:
    queue = await conn.fetchrow(
        "SELECT id, channel_managers, claim_cap, work_within_minutes FROM lead_queues"
        " WHERE id = $1",
        queue_id,
    )
    if queue is None:
        raise no_such_queue(queue_id)
    return QueueFacts(
        queue_id=queue["id"],
        channel_managers=list(queue["channel_managers"]),
        claim_cap=queue["claim_cap"],
        work_within_minutes=queue["work_within_minutes"],
    )


async def locked_lead(conn: Conn, lead_id: str) -> LeadFacts | None:
    """The lead, its row locked for the step, with its current claim. The claim is read by a
    statement of its own, after the lock: one that waited for the lock sees the claim of the
    step it waited for (a join in the locking statement would not)."""
    row = await conn.fetchrow(
        "SELECT id, status, queue_id FROM leads WHERE id = $1 FOR UPDATE", lead_id
    )
    if row is None:
        return None
    claim = await conn.fetchrow(
        "SELECT id, user_id, partner_id FROM claims WHERE lead_id = $1 AND ended_at IS NULL",
        lead_id,
    )
    return LeadFacts(
        lead_id=row["id"],
        queue_id=row["queue_id"],
        status=row["status"],
        owner=claim["user_id"] if claim else None,
        partner=claim["partner_id"] if claim else None,
        claim_id=claim["id"] if claim else None,
    )


async def locked_lead_and_held(
    conn: Conn, lead_id: str, partner_id: str, queue_id: str
) -> tuple[LeadFacts | None, int]:
    """As `locked_lead`, with the partner's open leads in the queue (`open_leads`) read by the
    same statement as the lead's claim: a claim asks both under its partner's row lock."""
    row = await conn.fetchrow(
        "SELECT id, status, queue_id FROM leads WHERE id = $1 FOR UPDATE", lead_id
    )
    counted = await conn.fetchrow(
        "SELECT c.id, c.user_id, c.partner_id, (SELECT count(*) FROM claims h"
        " JOIN leads l ON l.id = h.lead_id WHERE h.partner_id = $2 AND h.queue_id = $3"
        " AND h.ended_at IS NULL AND l.status = ANY($4::text[])) AS held"
        " FROM (SELECT 1) one LEFT JOIN claims c ON c.lead_id = $1 AND c.ended_at IS NULL",
        lead_id,
        partner_id,
        queue_id,
        list(OPEN),
    )
    if row is None:
        return None, counted["held"]
    lead = LeadFacts(
        lead_id=row["id"],
        queue_id=row["queue_id"],
        status=row["status"],
        owner=counted["user_id"],
        partner=counted["partner_id"],
        claim_id=counted["id"],
    )
    return lead, counted["held"]


async def current_receiver(conn: Conn, user_id: str, partner_id: str) -> ReceiverFacts:
    """The receiver as it is now, under its partner account's row lock (which also orders
    claims of one partner, so that its open leads are counted one claim at a time)."""
    account = await conn.fetchval(
        "SELECT status FROM partner_accounts WHERE partner_id = $1 FOR UPDATE", partner_id
    )
    user = await conn.fetchrow(
        "SELECT partner_id, status FROM partner_users WHERE id = $1 FOR SHARE", user_id
    )
    return ReceiverFacts(
        user_id=user_id,
        partner_id=partner_id,
        account_status=account,
        user_partner=user["partner_id"] if user else None,
        user_status=user["status"] if user else None,
    )


async def partner_in_queue(conn: Conn, queue_id: str, user_id: str) -> str | None:
    """The partner of `user_id`, if it is one of the queue's partners."""
    return await conn.fetchval(
        "SELECT u.partner_id FROM partner_users u JOIN lead_queue_partners qp"
        " ON qp.partner_id = u.partner_id AND qp.queue_id = $2 WHERE u.id = $1",
        user_id,
        queue_id,
    )


async def open_leads(conn: Conn, partner_id: str, queue_id: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM claims c JOIN leads l ON l.id = c.lead_id"
        " WHERE c.partner_id = $1 AND c.queue_id = $2 AND c.ended_at IS NULL"
        " AND l.status = ANY($3::text[])",
        partner_id,
        queue_id,
        list(OPEN),
    )


async def own(
    conn: Conn,
    *,
    lead_id: str,
    queue_id: str,
    user_id: str,
    partner_id: str,
    how: str,
    actor: str,
    process_id: str,
    step: str,
    rule_id: int | None = None,
) -> int:
    # one statement for the claim and the lead's status: a claim holds its partner's row lock
    # while it writes, so each round trip saved is one the partner's next claim waits less
    claim_id = await conn.fetchval(
        "WITH claimed AS (INSERT INTO claims (lead_id, queue_id, user_id, partner_id, how,"
        " rule_id, by_actor, process_id, step) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " RETURNING id), owned AS (UPDATE leads SET status = 'owned' WHERE id = $1)"
        " SELECT id FROM claimed",
        lead_id,
        queue_id,
        user_id,
        partner_id,
        how,
        rule_id,
        actor,
        process_id,
        step,
    )
    return claim_id


async def end_claim(conn: Conn, claim_id: int | None, lead_id: str, why: str) -> None:
    """The lead goes back to the queue: its claim ends, saying why."""
    await conn.execute(
        "UPDATE claims SET ended_at = now(), ended_reason = $2 WHERE id = $1",
        claim_id,
        why[:500],
    )
    await conn.execute("UPDATE leads SET status = 'queued' WHERE id = $1", lead_id)


async def tell_managers(
    conn: Conn, queue: QueueFacts, process_id: str, step: str, notice: Notice
) -> None:
    """Channel managers are people of the directory: each at their own address there."""
    for manager in queue.channel_managers:
        await tell(
            conn,
            notice,
            process_id=process_id,
            step=f"{step}/{manager}",
            recipient_kind="staff",
            recipient_id=manager,
        )
