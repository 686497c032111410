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
    LeadRouting,
    LeadRow,
    OpportunityWrite,
    QueueState,
    RoutingWrite,
    StepKey,
    dedupe_key,
    plan_routing,
)
from domain.partners import PartnerRoster
from store import people
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


# --- queues -----------------------------------------------------------------------------------


async def _members(
    conn: Conn, queue_id: str, partners: list[str], actor: str, first_position: int
) -> list[dict]:
    """Adds the partners to the queue; returns their rosters. The share lock on each account
    orders this against logins and deactivations: whichever comes second sees the other."""
    problems = []
    for partner_id in partners:
        status = await conn.fetchval(
            "SELECT status FROM partner_accounts WHERE partner_id = $1 FOR SHARE", partner_id
        )
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
        raise Refused(f"there is no lead queue {rule['to_queue']}; open it first")
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


# --- leads arriving ---------------------------------------------------------------------------


def _routing(row) -> dict:
    return {
        "lead_id": row["id"],
        "dedupe_key": row["dedupe_key"],
        "country": row["country"],
        "postal_code": row["postal_code"],
        "product": row["product"],
    }


async def import_leads(
    conn: Conn, process_id: str, step: str, queue_id: str, rows: list[LeadRow]
) -> dict:
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
            key,
            row.company,
            row.name,
            row.email,
            row.phone,
            row.country,
            row.postal_code,
            row.product,
            row.source,
            queue_id,
            process_id,
            step,
        )
        if inserted is not None:
            new.append(_routing(inserted))
            continue
        known = await conn.fetchrow("SELECT id, queue_id FROM leads WHERE dedupe_key = $1", key)
        duplicates.append(
            {"dedupe_key": key, "lead_id": known["id"], "queue_id": known["queue_id"]}
        )
    return {"new": new, "duplicates": duplicates}


# --- owners -----------------------------------------------------------------------------------


async def _receiver_refusal(conn: Conn, user_id: str, partner_id: str) -> str | None:
    """Checked under the partner account's lock: the newest truth about the receiver."""
    account = await conn.fetchval(
        "SELECT status FROM partner_accounts WHERE partner_id = $1 FOR UPDATE", partner_id
    )
    if account != "active":
        return f"partner account {partner_id} is deactivated"
    user = await conn.fetchrow(
        "SELECT partner_id, status FROM partner_users WHERE id = $1 FOR SHARE", user_id
    )
    if user is None or user["partner_id"] != partner_id:
        return f"{user_id} is not a user of partner {partner_id}"
    if user["status"] == "invited":
        return f"{user_id} has not logged in yet"
    if user["status"] != "active":
        return f"{user_id} is deactivated"
    return None


async def _current_owner(conn: Conn, lead_id: str) -> str:
    row = await conn.fetchrow(
        "SELECT user_id, partner_id FROM claims WHERE lead_id = $1 AND ended_at IS NULL", lead_id
    )
    return f"{row['user_id']} ({row['partner_id']})" if row else "nobody"


async def _own(
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
    claim_id = await conn.fetchval(
        "INSERT INTO claims (lead_id, queue_id, user_id, partner_id, how, rule_id, by_actor,"
        " process_id, step) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
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
    await conn.execute("UPDATE leads SET status = 'owned' WHERE id = $1", lead_id)
    return claim_id


async def open_leads(conn: Conn, partner_id: str, queue_id: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM claims c JOIN leads l ON l.id = c.lead_id"
        " WHERE c.partner_id = $1 AND c.queue_id = $2 AND c.ended_at IS NULL"
        " AND l.status IN ('owned', 'accepted')",
        partner_id,
        queue_id,
    )


async def claim(
    conn: Conn,
    process_id: str,
    step: str,
    queue_id: str,
    lead_id: str,
    user_id: str,
    partner_id: str,
    claim_cap: int,
    by: str | None = None,
) -> dict:
    """ "Accepter": first come, first served, within the vendor's claim cap. `by`: who sent
    the claim, when not the user (a channel manager for a partner user who phoned)."""
    reason = await _receiver_refusal(conn, user_id, partner_id)
    if reason:
        raise Refused(f"{user_id} is not eligible for queue {queue_id}: {reason}")
    lead = await conn.fetchrow(
        "SELECT queue_id, status FROM leads WHERE id = $1 FOR UPDATE", lead_id
    )
    if lead is None or lead["queue_id"] != queue_id:
        raise Refused(f"there is no lead {lead_id} in queue {queue_id}")
    if lead["status"] != "queued":
        owner = await conn.fetchval(
            "SELECT user_id FROM claims WHERE lead_id = $1 AND ended_at IS NULL", lead_id
        )
        if owner == user_id and lead["status"] in ("owned", "accepted"):
            # the same partner user's claim sent again (another request): answered, not redone
            return {
                "lead": lead_id,
                "owner": user_id,
                "partner": partner_id,
                "repeat": True,
                "open_leads": await open_leads(conn, partner_id, queue_id),
            }
        raise Refused(f"lead {lead_id} is already claimed by {await _current_owner(conn, lead_id)}")
    held = await open_leads(conn, partner_id, queue_id)
    if held >= claim_cap:
        raise Refused(
            f"partner {partner_id} is at the claim cap of queue {queue_id}: {held} "
            f"open leads of {claim_cap}; convert one before claiming more"
        )
    claim_id = await _own(
        conn,
        lead_id=lead_id,
        queue_id=queue_id,
        user_id=user_id,
        partner_id=partner_id,
        how="claim",
        actor=by or user_id,
        process_id=process_id,
        step=step,
    )
    return {
        "lead": lead_id,
        "owner": user_id,
        "partner": partner_id,
        "open_leads": held + 1,
        "claim_id": claim_id,
    }


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
            o.lead_id,
            w.queue_id,
        )
        if status != "queued":
            not_owned[o.lead_id] = f"lead is {status or 'not in this queue'}"
            continue
        await _own(
            conn,
            lead_id=o.lead_id,
            queue_id=w.queue_id,
            user_id=o.user_id,
            partner_id=o.partner_id,
            how=o.how,
            actor=actor,
            process_id=process_id,
            step=w.key.step,
            rule_id=o.rule_id,
        )
        owned.append(o.lead_id)
        by_user.setdefault(o.user_id, []).append(o.lead_id)
    forwarded = []
    for f in w.forwards:
        row = await conn.fetchrow(
            "UPDATE leads SET queue_id = $3 WHERE id = $1 AND queue_id = $2 AND status = 'queued'"
            " RETURNING id, dedupe_key, country, postal_code, product",
            f.lead_id,
            w.queue_id,
            f.to_queue,
        )
        if row is not None:
            forwarded.append({**_routing(row), "to_queue": f.to_queue})
    for user_id, lead_ids in by_user.items():
        # Leads given by a rule or in turn are announced to their new owner.
        await notify(
            conn,
            process_id=process_id,
            step=f"{w.key.step}/{user_id}",
            recipient_kind="contact",
            recipient_id=user_id,
            template="leads_assigned",
            payload={"queue_id": w.queue_id, "lead_ids": lead_ids},
        )
    return {"owned": owned, "not_owned": not_owned, "forwarded": forwarded}


async def change_owner(
    conn: Conn,
    process_id: str,
    step: str,
    actor: str,
    queue_id: str,
    lead_ids: list[str],
    to_user: str,
    to_partner: str,
    notify_owner: bool,
) -> dict:
    """ "Change Lead Owner" by a channel manager, for one lead or many (mass reassignment).
    With the notification box ticked, the new owner gets one e-mail naming the leads."""
    reason = await _receiver_refusal(conn, to_user, to_partner)
    if reason:
        raise Refused(f"{to_user} cannot receive leads: {reason}")
    changed, skipped, previous = [], {}, {}
    for lead_id in sorted(lead_ids):
        lead = await conn.fetchrow(
            "SELECT queue_id, status FROM leads WHERE id = $1 FOR UPDATE", lead_id
        )
        if lead is None or lead["queue_id"] != queue_id:
            skipped[lead_id] = f"not in queue {queue_id}"
            continue
        if lead["status"] == "converted":
            skipped[lead_id] = "converted to an opportunity"
            continue
        before = await conn.fetchval(
            "UPDATE claims SET ended_at = now(), ended_reason = $2"
            " WHERE lead_id = $1 AND ended_at IS NULL RETURNING user_id",
            lead_id,
            f"owner changed by {actor}",
        )
        if before is not None:
            previous[lead_id] = before
        await _own(
            conn,
            lead_id=lead_id,
            queue_id=queue_id,
            user_id=to_user,
            partner_id=to_partner,
            how="assignment",
            actor=actor,
            process_id=process_id,
            step=step,
        )
        changed.append(lead_id)
    if notify_owner and changed:
        await notify(
            conn,
            process_id=process_id,
            step=step,
            recipient_kind="contact",
            recipient_id=to_user,
            template="lead_owner_changed",
            payload={"queue_id": queue_id, "lead_ids": changed, "by": actor},
        )
    return {
        "changed": changed,
        "skipped": skipped,
        "previous": previous,
        "open_leads": await open_leads(conn, to_partner, queue_id),
    }


# --- opportunities ----------------------------------------------------------------------------


async def convert(
    conn: Conn,
    actor: str,
    queue_id: str,
    lead_id: str,
    opportunity_id: str,
    stage: str,
    amount,
    close_date,
) -> dict:
    lead = await conn.fetchrow(
        "SELECT l.status, l.queue_id, c.user_id, c.partner_id FROM leads l"
        " LEFT JOIN claims c ON c.lead_id = l.id AND c.ended_at IS NULL"
        " WHERE l.id = $1 FOR UPDATE OF l",
        lead_id,
    )
    if lead is None or lead["queue_id"] != queue_id:
        raise Refused(f"there is no lead {lead_id} in queue {queue_id}")
    if lead["user_id"] != actor or lead["status"] not in ("owned", "accepted"):
        raise Refused(
            f"only the owner converts lead {lead_id}: it is {lead['status']}, owned "
            f"by {lead['user_id'] or 'nobody'}"
        )
    await conn.execute(
        "INSERT INTO opportunities (id, lead_id, queue_id, owner_user_id, partner_id, stage,"
        " amount, close_date, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $4)",
        opportunity_id,
        lead_id,
        queue_id,
        actor,
        lead["partner_id"],
        stage,
        amount,
        close_date,
    )
    await conn.execute("UPDATE leads SET status = 'converted' WHERE id = $1", lead_id)
    return {"lead": lead_id, "opportunity": opportunity_id, "stage": stage}


async def update_opportunity(conn: Conn, actor: str, w: OpportunityWrite) -> dict:
    opp = await conn.fetchrow(
        "SELECT owner_user_id, stage FROM opportunities WHERE id = $1 FOR UPDATE", w.opportunity_id
    )
    if opp is None:
        raise Refused(f"there is no opportunity {w.opportunity_id}")
    if opp["owner_user_id"] != actor:
        raise Refused(f"opportunity {w.opportunity_id} belongs to {opp['owner_user_id']}")
    if opp["stage"] in ("closed-won", "closed-lost"):
        raise Refused(
            f"opportunity {w.opportunity_id} is {opp['stage']}; a closed opportunity "
            "no longer changes"
        )
    await conn.execute(
        "UPDATE opportunities SET stage = coalesce($2, stage), amount = coalesce($3, amount),"
        " close_date = coalesce($4, close_date), updated_at = now(), updated_by = $5"
        " WHERE id = $1",
        w.opportunity_id,
        w.stage,
        w.amount,
        w.close_date,
        actor,
    )
    changes = {
        k: str(v)
        for k, v in (("stage", w.stage), ("amount", w.amount), ("close_date", w.close_date))
        if v is not None
    }
    return {"opportunity": w.opportunity_id, "changes": changes}


# --- issue 13: queues whose workflow keeps no leads -------------------------------------------
# The leads, their owners and the claim cap are decided here, each step in one transaction:
# row lock on the lead, the partner account's row (FOR UPDATE in _receiver_refusal) for the
# cap, and the unique index over current claims as the last word.

SHOWN = 20  # lead ids named in one answer


async def _queue(conn: Conn, queue_id: str) -> Any:
    queue = await conn.fetchrow(
        "SELECT id, channel_managers, claim_cap, routing, work_within_minutes, process_id"
        " FROM lead_queues WHERE id = $1",
        queue_id,
    )
    if queue is None:
        raise Refused(f"there is no lead queue {queue_id}")
    return queue


async def receive_batch(
    conn: Conn, process_id: str, actor: str, step: str, config, rows: list[LeadRow]
) -> dict:
    """A batch of a file of leads: one INSERT for all its rows (a person already known, here
    or in another queue, is not added again: the answer counts and names them), then the new
    leads meet the assignment rules and round-robin, in the same transaction."""
    keys = [dedupe_key(r) for r in rows]
    cols = {
        f: [getattr(r, f) for r in rows]
        for f in (
            "company",
            "name",
            "email",
            "phone",
            "country",
            "postal_code",
            "product",
            "source",
        )
    }
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
    here, elsewhere, seen = [], [], set()
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
    routed = await _route_in_db(
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


async def route_back(
    conn: Conn, process_id: str, actor: str, step: str, config, lead_ids: list[str]
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
    return await _route_in_db(conn, process_id, actor, step, config, waiting)


async def _route_in_db(
    conn: Conn, process_id: str, actor: str, step: str, config, arrivals: list
) -> dict:
    """The domain's plan (rules first, then round-robin) with the partners' open leads and
    users as PostgreSQL has them now; `route` writes it, skipping an owner no longer able."""

    result = {
        "given": {},
        "given_shown": [],
        "forwarded": {},
        "not_owned": {},
        "waiting": 0,
        "turn": config.turn.model_dump(),
        "notes": [],
    }
    if not arrivals or (config.routing != "round-robin" and not config.rules):
        result["waiting"] = len(arrivals)
        return result
    held = {
        r["partner_id"]: r["n"]
        for r in await conn.fetch(
            "SELECT c.partner_id, count(*) AS n FROM claims c JOIN leads l ON l.id = c.lead_id"
            " WHERE c.queue_id = $1 AND c.ended_at IS NULL AND l.status IN ('owned', 'accepted')"
            " GROUP BY c.partner_id",
            config.queue_id,
        )
    }
    rosters = {p: PartnerRoster(**(await roster(conn, p))["roster"]) for p in config.partners}
    q = QueueState(
        process_id=process_id,
        stage="open",
        waiting_for="",
        since="2000-01-01T00:00Z",
        queue_id=config.queue_id,
        name=config.queue_id,
        channel_managers=["-"],
        claim_cap=config.claim_cap,
        routing=config.routing,
        partners=config.partners,
        rosters=rosters,
        rules=config.rules,
        turn=config.turn,
    )
    plan = plan_routing(q, arrivals, held={p: held.get(p, 0) for p in config.partners})
    done = await route(
        conn,
        process_id,
        actor,
        RoutingWrite(
            key=StepKey(process_id=process_id, step=step, actor=actor),
            queue_id=config.queue_id,
            owners=plan.owners,
            forwards=plan.forwards,
        ),
    )
    owned = set(done["owned"])
    given: dict[str, int] = {}
    for o in plan.owners:
        if o.lead_id in owned:
            given[o.how] = given.get(o.how, 0) + 1
    forwarded: dict[str, list] = {}
    for f in done["forwarded"]:
        forwarded.setdefault(f.pop("to_queue"), []).append(f)
    result.update(
        given=given,
        forwarded=forwarded,
        not_owned=dict(list(done["not_owned"].items())[:SHOWN]),
        given_shown=[
            f"{o.lead_id}->{o.user_id}"
            for o in plan.owners
            if o.lead_id in owned and o.how == "round-robin"
        ][:SHOWN],
        waiting=len(plan.waiting) + len(done["not_owned"]),
        turn=plan.turn.model_dump(),
        notes=plan.notes,
    )
    return result


async def _lead(conn: Conn, queue_id: str, lead_id: str) -> Any:
    lead = await conn.fetchrow(
        "SELECT l.status, l.queue_id, c.id AS claim_id, c.user_id, c.partner_id FROM leads l"
        " LEFT JOIN claims c ON c.lead_id = l.id AND c.ended_at IS NULL"
        " WHERE l.id = $1 FOR UPDATE OF l",
        lead_id,
    )
    if lead is None or lead["queue_id"] != queue_id:
        raise Refused(f"there is no lead {lead_id} in queue {queue_id}")
    return lead


def _check_manager(queue, actor: str) -> None:
    if actor not in queue["channel_managers"]:
        raise Refused(
            f"only a channel manager of queue {queue['id']} "
            f"({', '.join(queue['channel_managers'])}) does this; {actor} is not one"
        )


async def _partner_in_queue(conn: Conn, queue_id: str, user_id: str) -> str | None:
    return await conn.fetchval(
        "SELECT u.partner_id FROM partner_users u JOIN lead_queue_partners qp"
        " ON qp.partner_id = u.partner_id AND qp.queue_id = $2 WHERE u.id = $1",
        user_id,
        queue_id,
    )


async def _tell_managers(
    conn: Conn, queue, process_id: str, step: str, template: str, payload: dict
) -> None:
    for manager in queue["channel_managers"]:
        await notify(
            conn,
            process_id=process_id,
            step=f"{step}/{manager}",
            recipient_kind="role",
            recipient_id=manager,
            template=template,
            payload=payload,
        )


async def lead_step(conn: Conn, process_id: str, step: str, r) -> dict:
    """One human step on leads (claim, accept, not interested, change of owner, conversion,
    opportunity): its checks and its write in one transaction."""
    queue = await _queue(conn, r.queue_id)
    actor = r.actor
    if r.for_user and r.kind not in ("assign", "reassign"):
        # a channel manager of this queue, for a partner user who phoned: the step is theirs
        _check_manager(queue, r.actor)
        actor = r.for_user
    if r.kind == "claim":
        partner_id = await _partner_in_queue(conn, r.queue_id, actor)
        if partner_id is None:
            raise Refused(
                f"{actor} is not eligible for queue {r.queue_id}: not a user of one of its partners"
            )
        done = await claim(
            conn,
            process_id,
            step,
            r.queue_id,
            r.lead_id,
            actor,
            partner_id,
            queue["claim_cap"],
            by=r.actor,
        )
        if done.get("repeat"):
            return {"message": f"lead {r.lead_id} is already yours, {actor}"}
        sla = queue["work_within_minutes"]
        due = (
            f"; work it (accept-lead, convert-lead or not-interested) within {sla} "
            "minute(s), or it goes back to the queue"
            if sla
            else ""
        )
        return {
            "message": f"lead {r.lead_id} is yours, {actor}: no other partner can claim "
            f"it now ({partner_id} holds {done['open_leads']} of {queue['claim_cap']} open "
            f"leads in queue {r.queue_id}){due}",
            "claim_id": done["claim_id"],
            "work_within_minutes": sla,
        }
    if r.kind in ("accept", "not-interested"):
        lead = await _lead(conn, r.queue_id, r.lead_id)
        if lead["user_id"] != actor or lead["status"] not in ("owned", "accepted"):
            who = (
                f"it belongs to {lead['user_id']}"
                if lead["user_id"]
                else f"it is {lead['status']}, owned by nobody"
            )
            raise Refused(f"only the owner answers for lead {r.lead_id}: {who}")
        if r.kind == "accept":
            if lead["status"] == "accepted":
                return {"message": f"lead {r.lead_id} is already accepted by {actor}"}
            await conn.execute("UPDATE leads SET status = 'accepted' WHERE id = $1", r.lead_id)
            return {
                "message": f"lead {r.lead_id} accepted by {actor}: it is yours to work "
                "(convert-lead when it becomes an opportunity)"
            }
        reason = r.reason.strip()
        await conn.execute(
            "UPDATE claims SET ended_at = now(), ended_reason = $2 WHERE id = $1",
            lead["claim_id"],
            f"not interested: {reason}"[:500],
        )
        await conn.execute("UPDATE leads SET status = 'queued' WHERE id = $1", r.lead_id)
        await _tell_managers(
            conn,
            queue,
            process_id,
            step,
            "lead_not_interested",
            {
                "queue_id": r.queue_id,
                "lead_id": r.lead_id,
                "user_id": actor,
                "partner_id": lead["partner_id"],
                "reason": reason,
            },
        )
        # Not given out again by round-robin (it would go back to the same partner in turn):
        # it waits to be claimed, and the channel managers, told why, may assign it.
        return {
            "message": f"lead {r.lead_id} is back in queue {r.queue_id}: {actor} is not "
            f"interested ({reason}); the channel manager(s) "
            f"{', '.join(queue['channel_managers'])} are told and may assign it"
        }
    if r.kind in ("assign", "reassign"):
        _check_manager(queue, actor)
        to_partner = await _partner_in_queue(conn, r.queue_id, r.to_user)
        if to_partner is None:
            raise Refused(
                f"{r.to_user} cannot receive leads of queue {r.queue_id}: not a user "
                "of one of its partners (add the partner to the queue first)"
            )
        chosen = [r.lead_id] if r.kind == "assign" else list(r.lead_ids)
        if r.from_user:
            chosen += [
                x["lead_id"]
                for x in await conn.fetch(
                    "SELECT c.lead_id FROM claims c JOIN leads l ON l.id = c.lead_id"
                    " WHERE c.queue_id = $1 AND c.user_id = $2 AND c.ended_at IS NULL"
                    " AND l.status IN ('owned', 'accepted') ORDER BY c.lead_id",
                    r.queue_id,
                    r.from_user,
                )
            ]
        current = {
            x["lead_id"]: x["user_id"]
            for x in await conn.fetch(
                "SELECT lead_id, user_id FROM claims WHERE lead_id = ANY($1::text[])"
                " AND ended_at IS NULL",
                chosen,
            )
        }
        chosen = [x for x in dict.fromkeys(chosen) if current.get(x) != r.to_user]
        if not chosen:
            if r.kind == "assign":
                return {"message": f"lead {r.lead_id} already belongs to {r.to_user}"}
            whose = f" of {r.from_user}" if r.from_user else ""
            raise Refused(f"no open leads{whose} to move to {r.to_user} in queue {r.queue_id}")
        done = await change_owner(
            conn, process_id, step, actor, r.queue_id, chosen, r.to_user, to_partner, r.notify
        )
        if not done["changed"]:
            why = "; ".join(done["skipped"].values()) or "they changed meanwhile"
            raise Refused(f"no lead changed owner: {why}")
        told = "; notified by e-mail" if r.notify else ""
        notes = [f"lead {x} unchanged: {why}" for x, why in done["skipped"].items()]
        if done["open_leads"] > queue["claim_cap"]:
            notes.append(
                f"{to_partner} now holds {done['open_leads']} open leads, above the "
                f"claim cap of {queue['claim_cap']}: it cannot claim more until it "
                "converts some"
            )
        changed = done["changed"]
        shown = ", ".join(changed[:SHOWN]) + (
            f" and {len(changed) - SHOWN} more" if len(changed) > SHOWN else ""
        )
        return {
            "message": f"{len(changed)} lead(s) now belong to {r.to_user}: {shown}{told}",
            "notes": notes,
        }
    if r.kind == "convert":
        opp = f"OPP-{r.lead_id}"
        exists = await conn.fetchval(
            "SELECT owner_user_id FROM opportunities WHERE lead_id = $1", r.lead_id
        )
        if exists == actor:
            return {"message": f"lead {r.lead_id} is already opportunity {opp}"}
        await convert(
            conn,
            actor,
            r.queue_id,
            r.lead_id,
            opp,
            r.stage or "prospecting",
            r.amount,
            r.close_date,
        )
        return {
            "message": f"lead {r.lead_id} converted to opportunity {opp} "
            f"({r.stage or 'prospecting'}), owned by {actor}; keep it up to date with "
            "update-opportunity"
        }
    done = await update_opportunity(
        conn,
        actor,
        OpportunityWrite(
            key=StepKey(process_id=process_id, step=step, actor=actor),
            opportunity_id=r.opportunity_id,
            stage=r.stage,
            amount=r.amount,
            close_date=r.close_date,
        ),
    )
    changes = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in done["changes"].items())
    return {"message": f"opportunity {r.opportunity_id} updated: {changes}"}


async def recall_unworked(
    conn: Conn, process_id: str, step: str, queue_id: str, lead_id: str, claim_id: int, minutes: int
) -> dict:
    """The service level: a claimed lead whose status has not changed since its claim goes
    back to the queue; its partner user and the channel managers are told. A lead that was
    accepted, converted, given back or reassigned meanwhile is left as it is."""
    lead = await _lead(conn, queue_id, lead_id)
    if lead["claim_id"] != claim_id or lead["status"] != "owned":
        return {"recalled": False, "returned": []}
    queue = await _queue(conn, queue_id)
    await conn.execute(
        "UPDATE claims SET ended_at = now(), ended_reason = $2 WHERE id = $1",
        claim_id,
        f"not worked within {minutes} minute(s)",
    )
    await conn.execute("UPDATE leads SET status = 'queued' WHERE id = $1", lead_id)
    payload = {
        "queue_id": queue_id,
        "lead_id": lead_id,
        "user_id": lead["user_id"],
        "partner_id": lead["partner_id"],
        "work_within_minutes": minutes,
    }
    await notify(
        conn,
        process_id=process_id,
        step=f"{step}/{lead['user_id']}",
        recipient_kind="contact",
        recipient_id=lead["user_id"],
        template="lead_recalled",
        payload=payload,
    )
    await _tell_managers(conn, queue, process_id, step, "lead_recalled", payload)
    return {"recalled": True, "returned": [lead_id]}
