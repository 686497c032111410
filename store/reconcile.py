"""The records a process leaves open while its workflow runs, and how the reconciliation
closes them (domain/reconcile.py says when). Every open state of store/: a change order
awaiting the partner (and its quotes not yet accepted), a CLASSOUND order before it is
active (and the reseller's ticket for its documents), a renegotiation's open deal, its
unsigned contract and the customer's ticket it took, a PSA onboarding's draft contract."""

from dataclasses import dataclass
from typing import Any

from domain import notices
from domain.reconcile import ACTOR, OPS_TEAM, STEP
from domain.renegotiation import DEAL_STAGE_LOST
from store.notices import tell
from store.steps import once

Conn = Any

OPEN_CLASSOUND = ("awaiting_reseller", "porting_requested", "porting_scheduled", "carrier_refused")

# kind: (the open rows of every process, by process id; the statement that closes one
# process's rows, with $1 = process id, $2 = reason, returning the ids it closed)
RECORDS: dict[str, tuple[str, str]] = {
    "order": (
        "SELECT process_id, id FROM orders WHERE status = 'awaiting_partner_confirmation'",
        "UPDATE orders SET status = 'cancelled', closed_reason = $2 WHERE process_id = $1"
        " AND status = 'awaiting_partner_confirmation' RETURNING id",
    ),
    "quote": (
        "SELECT process_id, id FROM quotes WHERE status IN ('draft', 'published')",
        "UPDATE quotes SET status = 'cancelled', is_primary = false, rejection_reason = $2"
        " WHERE process_id = $1 AND status IN ('draft', 'published') RETURNING id",
    ),
    "CLASSOUND order": (
        "SELECT process_id, process_id AS id FROM classound_orders"
        f" WHERE status IN {OPEN_CLASSOUND}",
        "UPDATE classound_orders SET status = 'cancelled', closed_reason = $2"
        f" WHERE process_id = $1 AND status IN {OPEN_CLASSOUND} RETURNING process_id AS id",
    ),
    "deal": (
        "SELECT process_id, id FROM deals WHERE status = 'open'",
        f"UPDATE deals SET status = 'lost', stage = '{DEAL_STAGE_LOST}', closed_reason = $2,"
        " closed_at = now() WHERE process_id = $1 AND status = 'open' RETURNING id",
    ),
    "contract": (
        "SELECT process_id, id FROM contracts WHERE process_id IS NOT NULL"
        " AND status IN ('draft', 'sent', 'expired')",
        "UPDATE contracts SET status = 'cancelled', cancelled_reason = $2 WHERE process_id = $1"
        " AND status IN ('draft', 'sent', 'expired') RETURNING id",
    ),
    # the reseller's ticket for a CLASSOUND order's documents, the customer's ticket a
    # renegotiation took (other tickets are work for people: left to them)
    "ticket": (
        "SELECT process_id, id FROM tickets WHERE status <> 'closed' AND queue = 'reseller'"
        " AND process_id IS NOT NULL UNION SELECT d.process_id, t.id FROM deals d"
        " JOIN tickets t ON t.id = d.ticket_id WHERE d.status = 'open' AND t.status <> 'closed'",
        "UPDATE tickets SET status = 'closed', closed_reason = $2, updated_at = now()"
        " WHERE status <> 'closed' AND ((process_id = $1 AND queue = 'reseller')"
        " OR id IN (SELECT ticket_id FROM deals WHERE process_id = $1)) RETURNING id",
    ),
    "PSA contract": (
        "SELECT process_id, id FROM psa_contracts WHERE status = 'draft'",
        "UPDATE psa_contracts SET status = 'cancelled', closed_reason = $2"
        " WHERE process_id = $1 AND status = 'draft' RETURNING id",
    ),
}


@dataclass(frozen=True)
class OpenRecord:
    kind: str
    process_id: str
    record_id: str


async def open_records(conn: Conn) -> list[OpenRecord]:
    found = []
    for kind, (select, _) in RECORDS.items():
        found += [OpenRecord(kind, r["process_id"], str(r["id"])) for r in await conn.fetch(select)]
    return found


async def close_process(pool: Any, process_id: str, run: str, reason: str) -> dict:
    """Closes every open record of one process, with an audit row and a notice to ops: one
    step (process, run, "reconcile-close"), so a second pass (or a second job running at the
    same time) writes nothing."""

    async def write(conn: Conn) -> dict:
        closed = []
        for kind, (_, update) in RECORDS.items():
            closed += [f"{kind} {r['id']}" for r in await conn.fetch(update, process_id, reason)]
        if closed:
            await tell(
                conn,
                notices.ClosedByReconciliation(records=closed, reason=reason),
                process_id=process_id,
                step=STEP,
                recipient_kind="role",
                recipient_id=OPS_TEAM,
            )
        return {"records": closed, "reason": reason}

    return await once(
        pool, process_id=process_id, run=run, step=STEP, actor=ACTOR, action=reason, write=write
    )
