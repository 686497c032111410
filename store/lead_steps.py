"""The human steps on leads (claim, accept, not interested, change of owner, conversion,
opportunity) and the service level, each in one transaction: the rows are read under their
locks (store/lead_rows.py), the domain's rule decides (domain/leads/steps.py), and what it
decided is written here. A refusal raises `Refused` and rolls the transaction back."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from domain import notices
from domain.leads import LeadStepRequest, opportunity_id
from domain.leads import steps as rules
from domain.leads.steps import OPEN, QueueFacts
from store.lead_rows import (
    ClaimFacts,
    Conn,
    StepRow,
    claim_facts,
    current_receiver,
    end_claim,
    locked_lead,
    open_leads,
    own,
    partner_in_queue,
    queue_facts,
    tell_managers,
    write_step_row,
)
from store.notices import tell


@dataclass
class Step:
    """One step being written: where, by whom, and for whom."""

    process_id: str
    step: str
    request: LeadStepRequest
    queue: QueueFacts
    user: str  # whose step it is: the sender, or the partner user a channel manager acts for

    @property
    def lead_id(self) -> str:
        assert self.request.lead_id is not None  # the request's shape: its kind names a lead
        return self.request.lead_id


async def lead_step(conn: Conn, process_id: str, step: str, r: LeadStepRequest) -> dict:
    """One human step on leads: its checks and its write in one transaction."""
    if r.kind == "claim":  # its facts and locks in one round trip: claims come in rushes
        assert r.lead_id is not None  # the request's shape: a claim names its lead
        facts = await claim_facts(
            conn, actor=r.actor, user=r.for_user or r.actor, lead_id=r.lead_id, queue_id=r.queue_id
        )
        return await claim(conn, process_id, step, r, facts, watched_by_queue=False)
    queue = await queue_facts(conn, r.queue_id)
    s = Step(process_id, step, r, queue, rules.acting_user(queue, r))
    return await STEPS[r.kind](conn, s)


async def claim(
    conn: Conn,
    process_id: str,
    step: str,
    r: LeadStepRequest,
    f: ClaimFacts,
    *,
    watched_by_queue: bool,
    audited_as: str | None = None,
) -> dict:
    """ "Accepter": first come, first served, within the claim cap, on facts read under the
    partner account's row lock (which orders the claims of one partner, so that the cap holds
    when they race) and the lead's. `watched_by_queue`: the claim carries its service level's
    due time, for the queue's process to recall it (a claim of the earlier release's own
    process is watched by that process). `audited_as`: the step's audit row is written here,
    with the claim (by the door; a process's step has it written by store.steps.once)."""
    assert r.lead_id is not None
    user = rules.acting_user(f.queue, r)
    if f.receiver is None or f.partner_id is None:
        raise rules.claimant_outside(user, f.queue.queue_id)
    if rules.check_claim(f.queue, r.lead_id, f.lead, f.receiver, f.held) == "repeat":
        said: dict[str, Any] = {
            "message": rules.already_yours(r.lead_id, user),
            "words": rules.ALREADY_YOURS,
            "values": {"lead": r.lead_id, "user": user},
        }
        if audited_as is not None:
            await write_step_row(conn, process_id, step, StepRow(r.actor, audited_as, said))
        return said
    words, values = rules.claimed_words(f.queue, r.lead_id, user, f.partner_id, f.held + 1)
    said = {"message": words.format(**values), "words": words, "values": values}
    claim_id = await own(
        conn,
        lead_id=r.lead_id,
        queue_id=f.queue.queue_id,
        user_id=user,
        partner_id=f.partner_id,
        how="claim",
        actor=r.actor,
        process_id=process_id,
        step=step,
        due_within_minutes=f.queue.work_within_minutes if watched_by_queue else None,
        audited=None if audited_as is None else StepRow(r.actor, audited_as, said),
    )
    return {**said, "claim_id": claim_id, "work_within_minutes": f.queue.work_within_minutes}


async def _accept(conn: Conn, s: Step) -> dict:
    lead = rules.lead_in_queue(await locked_lead(conn, s.lead_id), s.lead_id, s.queue.queue_id)
    verdict = rules.check_owner_answer(lead, s.user, "accept")
    if verdict == "ok":
        await conn.execute("UPDATE leads SET status = 'accepted' WHERE id = $1", s.lead_id)
    return {"message": rules.accepted(s.lead_id, s.user, verdict)}


async def _not_interested(conn: Conn, s: Step) -> dict:
    lead = rules.lead_in_queue(await locked_lead(conn, s.lead_id), s.lead_id, s.queue.queue_id)
    rules.check_owner_answer(lead, s.user, "not-interested")
    reason = (s.request.reason or "").strip()
    await end_claim(conn, lead.claim_id, s.lead_id, f"not interested: {reason}")
    given_back = notices.LeadNotInterested(
        queue_id=s.queue.queue_id,
        lead_id=s.lead_id,
        user_id=s.user,
        partner_id=lead.partner,
        reason=reason,
    )
    await tell_managers(conn, s.queue, s.process_id, s.step, given_back)
    return {"message": rules.given_back(s.queue, s.lead_id, s.user, reason)}


async def _change_owner(conn: Conn, s: Step) -> dict:
    """ "Change Lead Owner" by a channel manager, for one lead or many (mass reassignment).
    With the notification box ticked, the new owner gets one e-mail naming the leads."""
    r, queue_id = s.request, s.queue.queue_id
    assert r.to_user is not None  # the request's shape: a change of owner names the new owner
    to_partner = await partner_in_queue(conn, queue_id, r.to_user)
    if to_partner is None:
        raise rules.receiver_outside(r.to_user, queue_id)
    of_from_user = [] if r.from_user is None else await _open_leads_of(conn, queue_id, r.from_user)
    chosen = [r.lead_id] if r.kind == "assign" and r.lead_id else r.lead_ids
    owners = {
        x["lead_id"]: x["user_id"]
        for x in await conn.fetch(
            "SELECT lead_id, user_id FROM claims WHERE lead_id = ANY($1::text[])"
            " AND ended_at IS NULL",
            [*chosen, *of_from_user],
        )
    }
    moving = rules.leads_to_move(r, of_from_user, owners)
    if not moving:
        return {"message": rules.already_theirs(r.lead_id, r.to_user)}
    rules.receiver_refusal(await current_receiver(conn, r.to_user, to_partner))
    changed, skipped = await _move(conn, s, sorted(moving), to_partner)
    if r.notify and changed:
        await tell(
            conn,
            notices.LeadOwnerChanged(
                queue_id=queue_id, lead_ids=changed, by=s.user, portal_path=notices.my_leads_page()
            ),
            process_id=s.process_id,
            step=s.step,
            recipient_kind="contact",
            recipient_id=r.to_user,
        )
    held = await open_leads(conn, to_partner, queue_id)
    message, notes = rules.owners_changed(s.queue, r, changed, skipped, to_partner, held)
    return {"message": message, "notes": notes}


async def _open_leads_of(conn: Conn, queue_id: str, user_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT c.lead_id FROM claims c JOIN leads l ON l.id = c.lead_id"
        " WHERE c.queue_id = $1 AND c.user_id = $2 AND c.ended_at IS NULL"
        " AND l.status = ANY($3::text[]) ORDER BY c.lead_id",
        queue_id,
        user_id,
        list(OPEN),
    )
    return [x["lead_id"] for x in rows]


async def _move(
    conn: Conn, s: Step, lead_ids: list[str], to_partner: str
) -> tuple[list[str], dict[str, str]]:
    to_user, queue_id = s.request.to_user or "", s.queue.queue_id
    changed: list[str] = []
    skipped: dict[str, str] = {}
    for lead_id in lead_ids:
        why = rules.why_not_moved(await locked_lead(conn, lead_id), queue_id)
        if why:
            skipped[lead_id] = why
            continue
        await conn.execute(
            "UPDATE claims SET ended_at = now(), ended_reason = $2"
            " WHERE lead_id = $1 AND ended_at IS NULL",
            lead_id,
            f"owner changed by {s.user}",
        )
        await own(
            conn,
            lead_id=lead_id,
            queue_id=queue_id,
            user_id=to_user,
            partner_id=to_partner,
            how="assignment",
            actor=s.user,
            process_id=s.process_id,
            step=s.step,
        )
        changed.append(lead_id)
    return changed, skipped


async def _convert(conn: Conn, s: Step) -> dict:
    r, opp = s.request, opportunity_id(s.lead_id)
    stage = r.stage or "prospecting"
    holder = await conn.fetchval(
        "SELECT owner_user_id FROM opportunities WHERE lead_id = $1", s.lead_id
    )
    lead = rules.lead_in_queue(await locked_lead(conn, s.lead_id), s.lead_id, s.queue.queue_id)
    verdict = rules.check_conversion(lead, s.user, holder)
    if verdict == "ok":
        await conn.execute(
            "INSERT INTO opportunities (id, lead_id, queue_id, owner_user_id, partner_id, stage,"
            " amount, close_date, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $4)",
            opp,
            s.lead_id,
            s.queue.queue_id,
            s.user,
            lead.partner,
            stage,
            r.amount,
            r.close_date,
        )
        await conn.execute("UPDATE leads SET status = 'converted' WHERE id = $1", s.lead_id)
    return {
        "message": rules.converted(s.lead_id, opp, stage, s.user, verdict),
        "code": "lead.converted" if verdict == "ok" else "lead.already_converted",
        "params": {"lead": s.lead_id, "opportunity": opp, "stage": stage},
    }


async def _update_opportunity(conn: Conn, s: Step) -> dict:
    r = s.request
    opp = await conn.fetchrow(
        "SELECT owner_user_id, stage FROM opportunities WHERE id = $1 FOR UPDATE", r.opportunity_id
    )
    rules.check_opportunity_update(
        r.opportunity_id or "",
        opp["owner_user_id"] if opp else None,
        opp["stage"] if opp else None,
        s.user,
    )
    await conn.execute(
        "UPDATE opportunities SET stage = coalesce($2, stage), amount = coalesce($3, amount),"
        " close_date = coalesce($4, close_date), updated_at = now(), updated_by = $5"
        " WHERE id = $1",
        r.opportunity_id,
        r.stage,
        r.amount,
        r.close_date,
        s.user,
    )
    changes = {
        k: str(v)
        for k, v in (("stage", r.stage), ("amount", r.amount), ("close_date", r.close_date))
        if v is not None
    }
    return {
        "message": rules.opportunity_updated(r.opportunity_id or "", changes),
        "code": "opportunity.updated",
        "params": {"opportunity": r.opportunity_id or "", **changes},
    }


STEPS: dict[str, Callable[[Conn, Step], Awaitable[dict]]] = {
    "accept": _accept,
    "not-interested": _not_interested,
    "assign": _change_owner,
    "reassign": _change_owner,
    "convert": _convert,
    "update-opportunity": _update_opportunity,
}


async def recall_unworked(
    conn: Conn, process_id: str, step: str, queue_id: str, lead_id: str, claim_id: int, minutes: int
) -> dict:
    """The service level: a claimed lead not worked in time goes back to the queue; its
    partner user and the channel managers are told."""
    lead = rules.lead_in_queue(await locked_lead(conn, lead_id), lead_id, queue_id)
    if not rules.recall_due(lead, claim_id):
        return {"recalled": False, "returned": []}
    assert lead.owner is not None  # an owned lead: its claim has an owner
    queue = await queue_facts(conn, queue_id)
    await end_claim(conn, claim_id, lead_id, f"not worked within {minutes} minute(s)")
    recalled = notices.LeadRecalled(
        queue_id=queue_id,
        lead_id=lead_id,
        user_id=lead.owner,
        partner_id=lead.partner,
        work_within_minutes=minutes,
        portal_path=notices.lead_inbox_page(),
    )
    await tell(
        conn,
        recalled,
        process_id=process_id,
        step=f"{step}/{lead.owner}",
        recipient_kind="contact",
        recipient_id=lead.owner,
    )
    await tell_managers(conn, queue, process_id, step, recalled)
    return {"recalled": True, "returned": [lead_id]}
