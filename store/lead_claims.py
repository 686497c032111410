"""A partner user's claim, decided at the door, and the service level's recall of claims not
worked in time.

A claim is first come, first served: one transaction that checks the actor against the people
directory, takes the partner account's row lock (the claim cap), then the lead's row lock (the
order in which claims take it is the order they are served), writes the owner and the step's
audit row (exactly once: the same request sent again finds its audit row and is answered as
the first time). The portal and the starter run it themselves (`claim`): a claim needs no
process of its own, and 200 partner users claiming at once wait for nothing but PostgreSQL.

What has to survive and wait after a claim is the service level: in a queue that has one, the
claim carries its due time, and the queue's process (workflows/lead_queue_router.py) sends
back, in batches, the claims due and still not worked (`recall_due`); it does so when it next
runs if its worker was down at that moment."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from domain.errors import Refused
from domain.leads import LeadStepRequest, lead_step_process_id
from domain.leads.steps import NotTheirs, Said
from domain.permissions import decide
from store import lead_steps, people
from store.lead_rows import Conn, TakenMeanwhile, claim_facts
from store.steps import stored_result

log = structlog.get_logger("partnerflow.store")

CLAIM = "LeadStep.claim"  # the permission a claim needs, as the lead step's
STEP = "claim"


@dataclass(frozen=True)
class ClaimOutcome:
    """A claim's answer: its words (the English text, a translation's key) and values apart,
    so that a door says it in the reader's language; `message` is the English."""

    ok: bool
    message: str
    words: str
    values: dict[str, str] = field(default_factory=dict)
    process_id: str = ""


class OnConnection:
    """The one connection a request already holds, as the pool a claim takes: the portal
    looks up the lead's queue and decides the claim on one connection, so that in a rush a
    click waits for a free connection once, not twice."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Conn]:
        yield self.conn


async def claim(pool: Any, request: LeadStepRequest, request_id: str) -> ClaimOutcome:
    """One claim, exactly once per `request_id`. A refusal writes nothing; one of who acts or
    whose lead it is leaves one row in the security log."""
    assert request.kind == "claim" and request.lead_id is not None
    process_id = lead_step_process_id(request, request_id)
    try:
        try:
            done = await _decided(pool, process_id, request)
        except asyncpg.UniqueViolationError:
            # the unique index over current owners was the last word: another claim won
            # between the reads and the write; decided again, it is refused with its owner
            done = await _decided(pool, process_id, request)
    except NotTheirs as refused:
        await _refusal(pool, request, process_id, str(refused))
        return ClaimOutcome(False, str(refused), refused.words, refused.values, process_id)
    except Said as refused:
        return ClaimOutcome(False, str(refused), refused.words, refused.values, process_id)
    except _NotAllowed as refused:  # the directory's
        await _refusal(pool, request, process_id, str(refused))
        return ClaimOutcome(False, str(refused), str(refused), {}, process_id)
    except Refused as refused:  # no such queue
        return ClaimOutcome(False, str(refused), str(refused), {}, process_id)
    return ClaimOutcome(
        True,
        done["message"],
        done.get("words", done["message"]),
        done.get("values", {}),
        process_id,
    )


class _NotAllowed(Exception):
    pass


async def _decided(pool: Any, process_id: str, request: LeadStepRequest) -> dict:
    """The claim's transaction: its facts and locks in one round trip, the directory's and
    the domain's rules, then the claim with its audit row in one statement (keyed by the step:
    the same request sent again finds it and is answered as the first time, writing nothing).
    Four round trips in all, begin and commit included; two of them under the locks."""
    assert request.lead_id is not None
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                facts = await claim_facts(
                    conn,
                    actor=request.actor,
                    user=request.for_user or request.actor,
                    lead_id=request.lead_id,
                    queue_id=request.queue_id,
                    process_id=process_id,
                )
                reason = decide(CLAIM, request.actor, facts.person, facts.permission_facts)
                if reason is not None:
                    raise _NotAllowed(reason)
                if facts.done is not None:
                    return facts.done
                done = await lead_steps.claim(
                    conn,
                    process_id,
                    STEP,
                    request,
                    facts,
                    watched_by_queue=True,
                    audited_as=f"claim {request.lead_id} in queue {request.queue_id}",
                )
        except TakenMeanwhile:  # the same request, sent twice at once: the other copy's answer
            return await stored_result(conn, process_id, STEP)
    log.info("step written", step=STEP, actor=request.actor, process_id=process_id)
    return done


async def _refusal(pool: Any, request: LeadStepRequest, process_id: str, reason: str) -> None:
    async with pool.acquire() as conn:
        await people.record_refusal(
            conn,
            actor=request.actor,
            permission=CLAIM,
            process_id=process_id,
            reason=reason,
            checked_in="store",
        )


async def recall_due(
    conn: Conn, process_id: str, step: str, queue_id: str, minutes: int, as_of: datetime, limit: int
) -> dict:
    """The claims of the queue due by `as_of` and still only claimed go back to the queue,
    each as the service level of one claim decides (store/lead_steps.py). Rows a step holds
    locked right now are left for the next look. Answers the leads returned and the earliest
    due time still watched."""
    due = await conn.fetch(
        "SELECT c.id, c.lead_id FROM claims c JOIN leads l ON l.id = c.lead_id"
        " WHERE c.queue_id = $1 AND c.ended_at IS NULL AND c.due_at <= $2"
        " AND l.status = 'owned' ORDER BY c.due_at, c.id LIMIT $3"
        " FOR UPDATE OF c, l SKIP LOCKED",
        queue_id,
        as_of,
        limit,
    )
    returned: list[str] = []
    for row in due:
        done = await lead_steps.recall_unworked(
            conn,
            process_id,
            f"{step}/{row['lead_id']}",
            queue_id,
            row["lead_id"],
            row["id"],
            minutes,
        )
        returned += done["returned"]
    next_due = await conn.fetchval(
        "SELECT min(c.due_at) FROM claims c JOIN leads l ON l.id = c.lead_id"
        " WHERE c.queue_id = $1 AND c.ended_at IS NULL AND c.due_at IS NOT NULL"
        " AND l.status = 'owned'",
        queue_id,
    )
    return {"returned": returned, "next_due": next_due.isoformat() if next_due else None}
