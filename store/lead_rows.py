"""The rows of a lead queue as the rules read them (domain/leads/steps.py), under the locks
that make each decision hold: the lead's row, the partner account's row (the claim cap), and
the unique index over current claims (`claims_one_owner_per_lead`) as the last word."""

from dataclasses import dataclass
from typing import Any

from domain.leads.steps import OPEN, LeadFacts, QueueFacts, ReceiverFacts, no_such_queue
from domain.notices import Notice
from domain.permissions import Facts, Person
from store.notices import tell
from store.people import person_of

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


@dataclass(frozen=True)
class ClaimFacts:
    """What a claim is decided on, read in one round trip (migration 023's lead_claim_facts).
    `receiver` and `lead` are None when the claiming user is of none of the queue's partners
    (nothing was locked); `done`: this request's stored answer, when it was decided before."""

    queue: QueueFacts
    person: Person | None
    permission_facts: Facts
    partner_id: str | None
    receiver: ReceiverFacts | None
    lead: LeadFacts | None
    held: int
    done: dict | None


async def claim_facts(
    conn: Conn, *, actor: str, user: str, lead_id: str, queue_id: str, process_id: str = ""
) -> ClaimFacts:
    """A claim's facts, the partner account's and the lead's rows locked (in the order every
    step on leads takes them). `process_id`: the door's step, whose stored answer is looked up
    (a request sent again); the empty string for a claim whose step is kept by its caller."""
    f = await conn.fetchval(
        "SELECT lead_claim_facts($1, $2, $3, $4, $5, $6)",
        actor,
        user,
        lead_id,
        queue_id,
        list(OPEN),
        process_id,
    )
    if f["queue"] is None:
        raise no_such_queue(queue_id)
    lead = LeadFacts(**f["lead"]) if f.get("lead") else None
    return ClaimFacts(
        queue=QueueFacts(**f["queue"]),
        person=person_of(actor, f["person"]),
        permission_facts=Facts(
            partner_ids=f["partner_ids"],
            owner=lead.owner if lead else None,
            queue_id=queue_id,
            lead_id=lead_id,
        ),
        partner_id=f.get("partner_id"),
        receiver=ReceiverFacts(**f["receiver"]) if f.get("receiver") else None,
        lead=lead,
        held=f.get("held") or 0,
        done=f["done"],
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


@dataclass(frozen=True)
class StepRow:
    """A step's audit row, written by the step's own statement (see `own`)."""

    actor: str
    action: str
    result: dict


class TakenMeanwhile(Exception):
    """The same step (its audit row's key) was written first by another copy of it."""


_OWN = (
    "INSERT INTO claims (lead_id, queue_id, user_id, partner_id, how, rule_id, by_actor,"
    " process_id, step, due_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9,"
    " now() + make_interval(mins => $10)"
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
    due_within_minutes: int | None = None,
    audited: StepRow | None = None,
) -> int:
    """The lead is the user's: its claim and its status, and with `audited` the step's audit
    row, by one statement: a claim holds its partner's row lock while it writes, so each round
    trip saved is one the partner's next claim waits less. `due_within_minutes`: the service
    level the queue's process watches (None: none). Raises TakenMeanwhile when the audit row
    was there (nothing written)."""
    args = [lead_id, queue_id, user_id, partner_id, how, rule_id, actor, process_id, step]
    if audited is None:
        return await conn.fetchval(
            f"WITH claimed AS ({_OWN} RETURNING id),"
            " owned AS (UPDATE leads SET status = 'owned' WHERE id = $1)"
            " SELECT id FROM claimed",
            *args,
            due_within_minutes,
        )
    claim_id = await conn.fetchval(
        "WITH audited AS (INSERT INTO audit_log (process_id, run, step, actor, action, detail,"
        " result) VALUES ($8, '', $9, $11, $12, $13, $13)"
        " ON CONFLICT (process_id, run, step) DO NOTHING RETURNING id),"
        f" claimed AS ({_OWN} FROM audited RETURNING id),"
        " owned AS (UPDATE leads SET status = 'owned'"
        " WHERE id = $1 AND EXISTS (SELECT 1 FROM audited))"
        " SELECT id FROM claimed",
        *args,
        due_within_minutes,
        audited.actor,
        audited.action,
        audited.result,
    )
    if claim_id is None:
        raise TakenMeanwhile()
    return claim_id


async def write_step_row(conn: Conn, process_id: str, step: str, row: StepRow) -> None:
    """A step's audit row on its own (a step that writes nothing else); see `own`."""
    written = await conn.fetchval(
        "INSERT INTO audit_log (process_id, run, step, actor, action, detail, result)"
        " VALUES ($1, '', $2, $3, $4, $5, $5)"
        " ON CONFLICT (process_id, run, step) DO NOTHING RETURNING id",
        process_id,
        step,
        row.actor,
        row.action,
        row.result,
    )
    if written is None:
        raise TakenMeanwhile()


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
