"""Reads and writes for the leads that arrive in a queue (each write runs inside `steps.once`),
and the files of leads: kept outside Temporal, read by the worker. Where a lead goes is the
domain's plan (domain/leads/routing.py); the queues themselves are store/lead_queues.py's, the
steps on leads store/lead_steps.py's."""

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from domain import notices
from domain.errors import Refused
from domain.leads import (
    LeadBatchRef,
    LeadRouting,
    LeadRow,
    PlannedForward,
    PlannedOwner,
    RouteConfig,
    RoutingPlan,
    dedupe_key,
    plan_routing,
)
from domain.leads.files import FIELDS
from domain.leads.steps import OPEN, SHOWN, receiver_problem
from domain.partners import PartnerRoster
from store.lead_rows import Conn, current_receiver, own
from store.notices import tell
from store.partners import roster

FILE_MODE = 0o640  # personal data: not world-readable


# --- files of leads ---------------------------------------------------------------------------


def batch_path(root: Path, sha256: str) -> Path:
    return root / "leads" / f"{sha256}.json"


def save_batch(root: Path, rows: list[LeadRow]) -> LeadBatchRef:
    """Writes the checked leads where the workers read them (content-addressed, atomically)."""
    data = json.dumps([r.model_dump() for r in rows], sort_keys=True).encode()
    sha = hashlib.sha256(data).hexdigest()
    path = batch_path(root, sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return LeadBatchRef(sha256=sha, size=len(data), leads=len(rows))


def load_batch(root: Path, ref: LeadBatchRef) -> list[LeadRow]:
    path = batch_path(root, ref.sha256)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise Refused(
            f"the file of {ref.leads} lead(s) ({ref.sha256[:12]}) is not in the "
            "documents folder the workers read (PARTNERFLOW_DOCUMENTS_DIR); send "
            "the leads again"
        ) from None
    if len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.sha256:
        raise Refused(
            f"the file of leads {ref.sha256[:12]} does not match what was sent; send "
            "the leads again"
        )
    return [LeadRow(**r) for r in json.loads(data)]


def forget_batch(root: Path, ref: LeadBatchRef) -> None:
    """Once the leads are rows, the file (personal data) is not kept."""
    batch_path(root, ref.sha256).unlink(missing_ok=True)


# --- leads arriving ---------------------------------------------------------------------------


def _routing(row: Any) -> dict:
    return {
        "lead_id": row["id"],
        "dedupe_key": row["dedupe_key"],
        "country": row["country"],
        "postal_code": row["postal_code"],
        "product": row["product"],
    }


async def receive_batch(
    conn: Conn, process_id: str, actor: str, step: str, config: RouteConfig, rows: list[LeadRow]
) -> dict:
    """A batch of a file of leads: one INSERT for all its rows (a person already known, here
    or in another queue, is not added again: the answer counts and names them), then the new
    leads meet the assignment rules and round-robin, in the same transaction."""
    keys = [dedupe_key(r) for r in rows]
    cols = {f: [getattr(r, f) for r in rows] for f in FIELDS}
    # ORDER BY ord keeps the lead numbers in the file's order
    inserted = await conn.fetch(
        "INSERT INTO leads (dedupe_key, company, name, email, phone, country, postal_code,"
        " product, source, queue_id, process_id, step)"
        " SELECT k, c, n, e, p, co, pc, pr, s, $10, $11, $12 FROM unnest($1::text[],"
        " $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
        " $9::text[]) WITH ORDINALITY AS t(k, c, n, e, p, co, pc, pr, s, ord) ORDER BY ord"
        " ON CONFLICT (dedupe_key) DO NOTHING"
        " RETURNING id, dedupe_key, country, postal_code, product",
        keys,
        cols["company"],
        cols["name"],
        cols["email"],
        cols["phone"],
        cols["country"],
        cols["postal_code"],
        cols["product"],
        cols["source"],
        config.queue_id,
        process_id,
        step,
    )
    new_ids = {r["dedupe_key"]: r["id"] for r in inserted}
    repeated = [k for k in dict.fromkeys(keys) if k not in new_ids]
    known = (
        {
            r["dedupe_key"]: r
            for r in await conn.fetch(
                "SELECT dedupe_key, id, queue_id FROM leads WHERE dedupe_key = ANY($1::text[])",
                repeated,
            )
        }
        if repeated
        else {}
    )
    here: list[str] = []
    elsewhere: list[str] = []
    seen: set[str] = set()
    for k in keys:  # every row not added, in the file's order: the lead it already is
        if k in new_ids and k not in seen:
            seen.add(k)
        elif k in new_ids or (k in known and known[k]["queue_id"] == config.queue_id):
            here.append(new_ids.get(k) or known[k]["id"])
        elif k in known:
            elsewhere.append(f"{known[k]['id']} (queue {known[k]['queue_id']})")
    arrivals = sorted(
        (_routing(r) for r in inserted), key=lambda x: int(x["lead_id"].removeprefix("L-"))
    )
    routed = await _route(
        conn, process_id, actor, step, config, [LeadRouting(**a) for a in arrivals]
    )
    return {
        "received": len(rows),
        "new": len(inserted),
        "duplicates": len(rows) - len(inserted),
        "duplicates_here": here[:SHOWN],
        "duplicates_elsewhere": elsewhere[:SHOWN],
        "here": len(here),
        "elsewhere": len(elsewhere),
        **routed,
    }


# A batch this large is worth fresh statistics; a lead or a few added by hand are left to
# autovacuum (ANALYZE reads a sample of the whole table: tens of milliseconds at 100,000 leads).
ANALYZE_AFTER = 1000


async def refresh_statistics(pool: Any, new_leads: int) -> None:
    """PostgreSQL's statistics of the leads, after a large batch came in. A fair's import is
    followed at once by the rush on the inbox, sooner than autovacuum looks (a minute): planned
    on the statistics of an empty queue, the inbox sorted every waiting lead of the queue for
    each page (65-125 ms at 100,000 leads, against 0.5 ms on its index)."""
    if new_leads < ANALYZE_AFTER:
        return
    async with pool.acquire() as conn:
        await conn.execute("ANALYZE leads")


async def route_back(
    conn: Conn, process_id: str, actor: str, step: str, config: RouteConfig, lead_ids: list[str]
) -> dict:
    """Leads back in a round-robin queue get their turn again (skipping the rules)."""
    waiting = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM leads WHERE id = ANY($1::text[]) AND queue_id = $2"
            " AND status = 'queued' ORDER BY id",
            lead_ids,
            config.queue_id,
        )
    ]
    return await _route(conn, process_id, actor, step, config, waiting)


async def _route(
    conn: Conn,
    process_id: str,
    actor: str,
    step: str,
    config: RouteConfig,
    arrivals: list[LeadRouting] | list[str],
) -> dict:
    """The domain's plan (rules first, then round-robin) with the partners' open leads and
    users as PostgreSQL has them now, written; an owner no longer able is skipped."""
    if not arrivals or (config.routing != "round-robin" and not config.rules):
        return {"waiting": len(arrivals), "turn": config.turn.model_dump()}
    held = {
        r["partner_id"]: r["n"]
        for r in await conn.fetch(
            "SELECT c.partner_id, count(*) AS n FROM claims c JOIN leads l ON l.id = c.lead_id"
            " WHERE c.queue_id = $1 AND c.ended_at IS NULL AND l.status = ANY($2::text[])"
            " GROUP BY c.partner_id",
            config.queue_id,
            list(OPEN),
        )
    }
    rosters = {p: PartnerRoster(**(await roster(conn, p))["roster"]) for p in config.partners}
    plan = plan_routing(config, rosters, held, arrivals)
    owned, not_owned = await _give(conn, process_id, actor, step, config.queue_id, plan.owners)
    forwarded = await _forward(conn, config.queue_id, plan.forwards)
    return _routed(plan, owned, not_owned, forwarded)


def _routed(
    plan: RoutingPlan, owned: set[str], not_owned: dict[str, str], forwarded: dict[str, list]
) -> dict:
    given: dict[str, int] = {}
    for o in plan.owners:
        if o.lead_id in owned:
            given[o.how] = given.get(o.how, 0) + 1
    return {
        "given": given,
        "forwarded": forwarded,
        "not_owned": dict(list(not_owned.items())[:SHOWN]),
        "given_shown": [
            f"{o.lead_id}->{o.user_id}"
            for o in plan.owners
            if o.lead_id in owned and o.how == "round-robin"
        ][:SHOWN],
        "waiting": len(plan.waiting) + len(not_owned),
        "turn": plan.turn.model_dump(),
        "notes": plan.notes,
    }


async def _give(
    conn: Conn, process_id: str, actor: str, step: str, queue_id: str, owners: list[PlannedOwner]
) -> tuple[set[str], dict[str, str]]:
    """The owners chosen by rules and round-robin. One who stopped being able since the plan
    was made is skipped, not forced; the new owners are told of their leads."""
    owned: set[str] = set()
    not_owned: dict[str, str] = {}
    problems: dict[tuple[str, str], str | None] = {}
    by_user: dict[str, list[str]] = {}
    for o in sorted(owners, key=lambda o: (o.partner_id, o.lead_id)):
        who = (o.user_id, o.partner_id)
        if who not in problems:
            problems[who] = receiver_problem(await current_receiver(conn, *who))
        why = problems[who]
        if not why:
            status = await conn.fetchval(
                "SELECT status FROM leads WHERE id = $1 AND queue_id = $2 FOR UPDATE",
                o.lead_id,
                queue_id,
            )
            why = None if status == "queued" else f"lead is {status or 'not in this queue'}"
        if why:
            not_owned[o.lead_id] = why
            continue
        await own(
            conn,
            lead_id=o.lead_id,
            queue_id=queue_id,
            user_id=o.user_id,
            partner_id=o.partner_id,
            how=o.how,
            actor=actor,
            process_id=process_id,
            step=step,
            rule_id=o.rule_id,
        )
        owned.add(o.lead_id)
        by_user.setdefault(o.user_id, []).append(o.lead_id)
    for user_id, lead_ids in by_user.items():
        await tell(
            conn,
            notices.LeadsAssigned(
                queue_id=queue_id, lead_ids=lead_ids, portal_path=notices.my_leads_page()
            ),
            process_id=process_id,
            step=f"{step}/{user_id}",
            recipient_kind="contact",
            recipient_id=user_id,
        )
    return owned, not_owned


async def _forward(conn: Conn, queue_id: str, forwards: list[PlannedForward]) -> dict[str, list]:
    """Leads an assignment rule sends to another queue become that queue's (if still
    waiting); by target queue."""
    forwarded: dict[str, list] = {}
    for f in forwards:
        row = await conn.fetchrow(
            "UPDATE leads SET queue_id = $3 WHERE id = $1 AND queue_id = $2 AND status = 'queued'"
            " RETURNING id, dedupe_key, country, postal_code, product",
            f.lead_id,
            queue_id,
            f.to_queue,
        )
        if row is not None:
            forwarded.setdefault(f.to_queue, []).append(_routing(row))
    return forwarded
