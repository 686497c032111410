"""Reads and writes for lead queues, leads, claims and opportunities (each write runs inside
`steps.once`), and the files of leads that arrive: kept outside Temporal, read by the worker.

PostgreSQL is the arbiter of ownership: `claims_one_owner_per_lead` (a unique index over the
current claims) makes a double owner impossible, and a claim counts the partner's open leads
under the partner account's row lock, so the claim cap holds even if two claims race."""

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from domain.errors import Refused
from domain.leads import (
    LeadBatchRef,
    LeadRow,
    OpportunityWrite,
    RoutingWrite,
    dedupe_key,
)
from store.partners import require_management, roster
from store.steps import notify

Conn = Any  # an asyncpg connection; not imported so that this module stays I/O-library free

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
        raise Refused(f"the file of {ref.leads} lead(s) ({ref.sha256[:12]}) is not in the "
                      "documents folder the workers read (PARTNERFLOW_DOCUMENTS_DIR); send "
                      "the leads again") from None
    if len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.sha256:
        raise Refused(f"the file of leads {ref.sha256[:12]} does not match what was sent; send "
                      "the leads again")
    return [LeadRow(**r) for r in json.loads(data)]


def forget_batch(root: Path, ref: LeadBatchRef) -> None:
    """Once the leads are rows, the file (personal data) is not kept."""
    batch_path(root, ref.sha256).unlink(missing_ok=True)


# --- queues -----------------------------------------------------------------------------------

async def _members(conn: Conn, queue_id: str, partners: list[str], actor: str,
                   first_position: int) -> list[dict]:
    """Adds the partners to the queue; returns their rosters. The share lock on each account
    orders this against logins and deactivations: whichever comes second sees the other."""
    problems = []
    for partner_id in partners:
        status = await conn.fetchval(
            "SELECT status FROM partner_accounts WHERE partner_id = $1 FOR SHARE", partner_id)
        if status is None:
            problems.append(f"{partner_id} is not a partner account")
        elif status != "active":
            problems.append(f"partner account {partner_id} is deactivated")
    if problems:
        raise Refused("; ".join(problems))
    rosters = []
    for n, partner_id in enumerate(partners):
        await conn.execute(
            "INSERT INTO lead_queue_partners (queue_id, partner_id, position, added_by)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            queue_id, partner_id, first_position + n, actor)
        rosters.append((await roster(conn, partner_id))["roster"])
    return rosters


async def open_queue(conn: Conn, process_id: str, actor: str, queue_id: str, name: str,
                     channel_managers: list[str], partners: list[str], claim_cap: int,
                     routing: str) -> dict:
    await require_management(conn)
    existing = await conn.fetchval("SELECT process_id FROM lead_queues WHERE id = $1", queue_id)
    if existing is not None:
        raise Refused(f"lead queue {queue_id} already exists")
    await conn.execute(
        "INSERT INTO lead_queues (id, name, channel_managers, claim_cap, routing, process_id,"
        " opened_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        queue_id, name, channel_managers, claim_cap, routing, process_id, actor)
    return {"rosters": await _members(conn, queue_id, partners, actor, 1)}


async def add_partners(conn: Conn, actor: str, queue_id: str, partners: list[str]) -> dict:
    last = await conn.fetchval(
        "SELECT coalesce(max(position), 0) FROM lead_queue_partners WHERE queue_id = $1",
        queue_id)
    return {"rosters": await _members(conn, queue_id, partners, actor, last + 1)}


async def add_rule(conn: Conn, actor: str, queue_id: str, rule: dict, position: int) -> dict:
    if rule["to_queue"] and await conn.fetchval(
            "SELECT 1 FROM lead_queues WHERE id = $1", rule["to_queue"]) is None:
        raise Refused(f"there is no lead queue {rule['to_queue']}; open it first")
    await conn.execute(
        "UPDATE assignment_rules SET position = position + 1 WHERE queue_id = $1"
        " AND position >= $2", queue_id, position)
    await conn.execute(
        "INSERT INTO assignment_rules (queue_id, rule_id, position, country, postal_prefix,"
        " product, to_partner_id, to_queue_id, created_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        queue_id, rule["rule_id"], position, rule["country"], rule["postal_prefix"],
        rule["product"], rule["to_partner"], rule["to_queue"], actor)
    return {"rule": rule["rule_id"], "position": position}


# --- leads arriving ---------------------------------------------------------------------------

def _routing(row) -> dict:
    return {"lead_id": row["id"], "dedupe_key": row["dedupe_key"], "country": row["country"],
            "postal_code": row["postal_code"], "product": row["product"]}


async def import_leads(conn: Conn, process_id: str, step: str, queue_id: str,
                       rows: list[LeadRow]) -> dict:
    """One row per person: a lead already known (here or in another queue) is not added
    again, the answer says where it is."""
    new, duplicates = [], []
    for row in rows:
        key = dedupe_key(row)
        inserted = await conn.fetchrow(
            "INSERT INTO leads (dedupe_key, company, name, email, phone, country, postal_code,"
            " product, source, queue_id, process_id, step)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            " ON CONFLICT (dedupe_key) DO NOTHING"
            " RETURNING id, dedupe_key, country, postal_code, product",
            key, row.company, row.name, row.email, row.phone, row.country, row.postal_code,
            row.product, row.source, queue_id, process_id, step)
        if inserted is not None:
            new.append(_routing(inserted))
            continue
        known = await conn.fetchrow("SELECT id, queue_id FROM leads WHERE dedupe_key = $1", key)
        duplicates.append({"dedupe_key": key, "lead_id": known["id"],
                           "queue_id": known["queue_id"]})
    return {"new": new, "duplicates": duplicates}


# --- owners -----------------------------------------------------------------------------------

async def _receiver_refusal(conn: Conn, user_id: str, partner_id: str) -> str | None:
    """Checked under the partner account's lock: the newest truth about the receiver."""
    account = await conn.fetchval(
        "SELECT status FROM partner_accounts WHERE partner_id = $1 FOR UPDATE", partner_id)
    if account != "active":
        return f"partner account {partner_id} is deactivated"
    user = await conn.fetchrow(
        "SELECT partner_id, status FROM partner_users WHERE id = $1 FOR SHARE", user_id)
    if user is None or user["partner_id"] != partner_id:
        return f"{user_id} is not a user of partner {partner_id}"
    if user["status"] == "invited":
        return f"{user_id} has not logged in yet"
    if user["status"] != "active":
        return f"{user_id} is deactivated"
    return None


async def _current_owner(conn: Conn, lead_id: str) -> str:
    row = await conn.fetchrow(
        "SELECT user_id, partner_id FROM claims WHERE lead_id = $1 AND ended_at IS NULL",
        lead_id)
    return f"{row['user_id']} ({row['partner_id']})" if row else "nobody"


async def _own(conn: Conn, *, lead_id: str, queue_id: str, user_id: str, partner_id: str,
               how: str, actor: str, process_id: str, step: str,
               rule_id: int | None = None) -> None:
    await conn.execute(
        "INSERT INTO claims (lead_id, queue_id, user_id, partner_id, how, rule_id, by_actor,"
        " process_id, step) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        lead_id, queue_id, user_id, partner_id, how, rule_id, actor, process_id, step)
    await conn.execute("UPDATE leads SET status = 'owned' WHERE id = $1", lead_id)


async def open_leads(conn: Conn, partner_id: str, queue_id: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM claims c JOIN leads l ON l.id = c.lead_id"
        " WHERE c.partner_id = $1 AND c.queue_id = $2 AND c.ended_at IS NULL"
        " AND l.status = 'owned'", partner_id, queue_id)


async def claim(conn: Conn, process_id: str, step: str, queue_id: str, lead_id: str,
                user_id: str, partner_id: str, claim_cap: int) -> dict:
    """"Accepter": first come, first served, within the vendor's claim cap."""
    reason = await _receiver_refusal(conn, user_id, partner_id)
    if reason:
        raise Refused(f"{user_id} is not eligible for queue {queue_id}: {reason}")
    lead = await conn.fetchrow("SELECT queue_id, status FROM leads WHERE id = $1 FOR UPDATE",
                               lead_id)
    if lead is None or lead["queue_id"] != queue_id:
        raise Refused(f"there is no lead {lead_id} in queue {queue_id}")
    if lead["status"] != "queued":
        raise Refused(f"lead {lead_id} is already claimed by {await _current_owner(conn, lead_id)}")
    held = await open_leads(conn, partner_id, queue_id)
    if held >= claim_cap:
        raise Refused(f"partner {partner_id} is at the claim cap of queue {queue_id}: {held} "
                      f"open leads of {claim_cap}; convert one before claiming more")
    await _own(conn, lead_id=lead_id, queue_id=queue_id, user_id=user_id,
               partner_id=partner_id, how="claim", actor=user_id, process_id=process_id,
               step=step)
    return {"lead": lead_id, "owner": user_id, "partner": partner_id, "open_leads": held + 1}


async def route(conn: Conn, process_id: str, actor: str, w: RoutingWrite) -> dict:
    """Owners chosen by assignment rules and round-robin, and leads sent to other queues.
    An owner who stopped being eligible since the plan was made is skipped, not forced."""
    owned, not_owned, refusals = [], {}, {}
    by_user: dict[str, list[str]] = {}
    for o in sorted(w.owners, key=lambda o: (o.partner_id, o.lead_id)):
        key = (o.user_id, o.partner_id)
        if key not in refusals:
            refusals[key] = await _receiver_refusal(conn, o.user_id, o.partner_id)
        if refusals[key]:
            not_owned[o.lead_id] = refusals[key]
            continue
        status = await conn.fetchval(
            "SELECT status FROM leads WHERE id = $1 AND queue_id = $2 FOR UPDATE",
            o.lead_id, w.queue_id)
        if status != "queued":
            not_owned[o.lead_id] = f"lead is {status or 'not in this queue'}"
            continue
        await _own(conn, lead_id=o.lead_id, queue_id=w.queue_id, user_id=o.user_id,
                   partner_id=o.partner_id, how=o.how, actor=actor, process_id=process_id,
                   step=w.key.step, rule_id=o.rule_id)
        owned.append(o.lead_id)
        by_user.setdefault(o.user_id, []).append(o.lead_id)
    forwarded = []
    for f in w.forwards:
        row = await conn.fetchrow(
            "UPDATE leads SET queue_id = $3 WHERE id = $1 AND queue_id = $2 AND status = 'queued'"
            " RETURNING id, dedupe_key, country, postal_code, product",
            f.lead_id, w.queue_id, f.to_queue)
        if row is not None:
            forwarded.append({**_routing(row), "to_queue": f.to_queue})
    for user_id, lead_ids in by_user.items():
        # Leads given by a rule or in turn are announced to their new owner.
        await notify(conn, process_id=process_id, step=f"{w.key.step}/{user_id}",
                     recipient_kind="contact", recipient_id=user_id, template="leads_assigned",
                     payload={"queue_id": w.queue_id, "lead_ids": lead_ids})
    return {"owned": owned, "not_owned": not_owned, "forwarded": forwarded}


async def change_owner(conn: Conn, process_id: str, step: str, actor: str, queue_id: str,
                       lead_ids: list[str], to_user: str, to_partner: str,
                       notify_owner: bool) -> dict:
    """"Change Lead Owner" by a channel manager, for one lead or many (mass reassignment).
    With the notification box ticked, the new owner gets one e-mail naming the leads."""
    reason = await _receiver_refusal(conn, to_user, to_partner)
    if reason:
        raise Refused(f"{to_user} cannot receive leads: {reason}")
    changed, skipped, previous = [], {}, {}
    for lead_id in sorted(lead_ids):
        lead = await conn.fetchrow("SELECT queue_id, status FROM leads WHERE id = $1 FOR UPDATE",
                                   lead_id)
        if lead is None or lead["queue_id"] != queue_id:
            skipped[lead_id] = f"not in queue {queue_id}"
            continue
        if lead["status"] == "converted":
            skipped[lead_id] = "converted to an opportunity"
            continue
        before = await conn.fetchval(
            "UPDATE claims SET ended_at = now(), ended_reason = $2"
            " WHERE lead_id = $1 AND ended_at IS NULL RETURNING user_id",
            lead_id, f"owner changed by {actor}")
        if before is not None:
            previous[lead_id] = before
        await _own(conn, lead_id=lead_id, queue_id=queue_id, user_id=to_user,
                   partner_id=to_partner, how="assignment", actor=actor,
                   process_id=process_id, step=step)
        changed.append(lead_id)
    if notify_owner and changed:
        await notify(conn, process_id=process_id, step=step, recipient_kind="contact",
                     recipient_id=to_user, template="lead_owner_changed",
                     payload={"queue_id": queue_id, "lead_ids": changed, "by": actor})
    return {"changed": changed, "skipped": skipped, "previous": previous,
            "open_leads": await open_leads(conn, to_partner, queue_id)}


# --- opportunities ----------------------------------------------------------------------------

async def convert(conn: Conn, actor: str, queue_id: str, lead_id: str, opportunity_id: str,
                  stage: str, amount, close_date) -> dict:
    lead = await conn.fetchrow(
        "SELECT l.status, l.queue_id, c.user_id, c.partner_id FROM leads l"
        " LEFT JOIN claims c ON c.lead_id = l.id AND c.ended_at IS NULL"
        " WHERE l.id = $1 FOR UPDATE OF l", lead_id)
    if lead is None or lead["queue_id"] != queue_id:
        raise Refused(f"there is no lead {lead_id} in queue {queue_id}")
    if lead["user_id"] != actor or lead["status"] != "owned":
        raise Refused(f"only the owner converts lead {lead_id}: it is {lead['status']}, owned "
                      f"by {lead['user_id'] or 'nobody'}")
    await conn.execute(
        "INSERT INTO opportunities (id, lead_id, queue_id, owner_user_id, partner_id, stage,"
        " amount, close_date, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $4)",
        opportunity_id, lead_id, queue_id, actor, lead["partner_id"], stage, amount, close_date)
    await conn.execute("UPDATE leads SET status = 'converted' WHERE id = $1", lead_id)
    return {"lead": lead_id, "opportunity": opportunity_id, "stage": stage}


async def update_opportunity(conn: Conn, actor: str, w: OpportunityWrite) -> dict:
    opp = await conn.fetchrow(
        "SELECT owner_user_id, stage FROM opportunities WHERE id = $1 FOR UPDATE",
        w.opportunity_id)
    if opp is None:
        raise Refused(f"there is no opportunity {w.opportunity_id}")
    if opp["owner_user_id"] != actor:
        raise Refused(f"opportunity {w.opportunity_id} belongs to {opp['owner_user_id']}")
    if opp["stage"] in ("closed-won", "closed-lost"):
        raise Refused(f"opportunity {w.opportunity_id} is {opp['stage']}; a closed opportunity "
                      "no longer changes")
    await conn.execute(
        "UPDATE opportunities SET stage = coalesce($2, stage), amount = coalesce($3, amount),"
        " close_date = coalesce($4, close_date), updated_at = now(), updated_by = $5"
        " WHERE id = $1", w.opportunity_id, w.stage, w.amount, w.close_date, actor)
    changes = {k: str(v) for k, v in (("stage", w.stage), ("amount", w.amount),
                                      ("close_date", w.close_date)) if v is not None}
    return {"opportunity": w.opportunity_id, "changes": changes}
