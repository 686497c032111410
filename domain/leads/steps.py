"""The rules of the human steps on leads, each decided here once: who may act, on which lead,
and what the step answers. The store (store/leads.py) reads the rows under their locks, asks
these rules, and writes what they decide; every refusal is raised as `Refused` with a reason a
person can act on. A verdict of "repeat" means the step already happened: it is answered, not
done again."""

from typing import Literal

from pydantic import BaseModel

from domain.errors import Refused
from domain.leads.requests import CLOSED, OWNER_CHANGES, LeadStepRequest

Verdict = Literal["ok", "repeat"]
OPEN = ("owned", "accepted")  # a lead its owner holds: what the claim cap counts
SHOWN = 20  # lead ids named in one answer


class Said(Refused):
    """A refusal with its words and values apart, so that a door can say it in the reader's
    language (the words are the English text, the key of a translation)."""

    def __init__(self, words: str, **values: object) -> None:
        self.words = words
        self.values = {k: str(v) for k, v in values.items()}
        super().__init__(words.format(**self.values))


class NotTheirs(Said):
    """A refusal of who acts or whose lead it is (a channel manager not of the queue, a claim
    for a user who may not hold leads, another user's lead or opportunity): unlike "already
    claimed" or "at the cap", it is someone trying what is not theirs, so the door or store
    that refused it writes it to the security log."""


class QueueFacts(BaseModel):
    """A queue's row, as the rules of its steps need it."""

    queue_id: str
    channel_managers: list[str]
    claim_cap: int
    work_within_minutes: int | None = None


class LeadFacts(BaseModel):
    """A lead's row with its current claim (owner and partner), read under the lead's lock."""

    lead_id: str
    queue_id: str
    status: str
    owner: str | None = None
    partner: str | None = None
    claim_id: int | None = None


class ReceiverFacts(BaseModel):
    """A partner user about to hold a lead, read under the partner account's lock."""

    user_id: str
    partner_id: str
    account_status: str | None  # None: no such partner account
    user_partner: str | None = None  # None: no such user
    user_status: str | None = None


def shown(lead_ids: list[str]) -> str:
    more = f" and {len(lead_ids) - SHOWN} more" if len(lead_ids) > SHOWN else ""
    return ", ".join(lead_ids[:SHOWN]) + more


# --- who acts ---------------------------------------------------------------------------------


def check_channel_manager(queue_id: str, channel_managers: list[str], actor: str) -> None:
    if actor not in channel_managers:
        raise NotTheirs(
            "only a channel manager of queue {queue} ({managers}) does this; {actor} is not one",
            queue=queue_id,
            managers=", ".join(channel_managers),
            actor=actor,
        )


def acting_user(queue: QueueFacts, r: LeadStepRequest) -> str:
    """Whose step it is: the sender's, or the partner user's a channel manager of this queue
    acts for (who phoned). A change of owner is always the channel manager's own."""
    if r.for_user and r.kind not in OWNER_CHANGES:
        check_channel_manager(queue.queue_id, queue.channel_managers, r.actor)
        return r.for_user
    if r.kind in OWNER_CHANGES:
        check_channel_manager(queue.queue_id, queue.channel_managers, r.actor)
    return r.actor


def receiver_problem(f: ReceiverFacts) -> str | None:
    """Only an active partner user of an active partner account, who has logged in once,
    claims or is given leads."""
    if f.account_status != "active":
        return f"partner account {f.partner_id} is deactivated"
    if f.user_partner != f.partner_id:
        return f"{f.user_id} is not a user of partner {f.partner_id}"
    if f.user_status == "invited":
        return f"{f.user_id} has not logged in yet"
    if f.user_status != "active":
        return f"{f.user_id} is deactivated"
    return None


def claimant_outside(user_id: str, queue_id: str) -> Refused:
    return NotTheirs(
        "{user} is not eligible for queue {queue}: not a user of one of its partners",
        user=user_id,
        queue=queue_id,
    )


def receiver_outside(user_id: str, queue_id: str) -> Refused:
    return Refused(
        f"{user_id} cannot receive leads of queue {queue_id}: not a user "
        "of one of its partners (add the partner to the queue first)"
    )


def check_members(statuses: dict[str, str | None]) -> None:
    """A queue's partners are active partner accounts. `statuses`: each partner's account
    status (None: no such account)."""
    problems = [
        f"{p} is not a partner account" if status is None else f"partner account {p} is deactivated"
        for p, status in statuses.items()
        if status != "active"
    ]
    if problems:
        raise Refused("; ".join(problems))


def no_such_queue(queue_id: str) -> Refused:
    return Refused(f"there is no lead queue {queue_id}")


def lead_in_queue(lead: LeadFacts | None, lead_id: str, queue_id: str) -> LeadFacts:
    if lead is None or lead.queue_id != queue_id:
        raise Said("there is no lead {lead} in queue {queue}", lead=lead_id, queue=queue_id)
    return lead


# --- claim ------------------------------------------------------------------------------------


def check_claim(
    queue: QueueFacts, lead_id: str, found: LeadFacts | None, receiver: ReceiverFacts, held: int
) -> Verdict:
    """First come, first served, within the claim cap; once claimed, no other partner can
    claim it. `held`: the partner's open leads in the queue, counted under its account's
    lock."""
    reason = receiver_problem(receiver)
    if reason:
        raise NotTheirs(
            "{user} is not eligible for queue {queue}: {reason}",
            user=receiver.user_id,
            queue=queue.queue_id,
            reason=reason,
        )
    lead = lead_in_queue(found, lead_id, queue.queue_id)
    if lead.status != "queued":
        if lead.owner == receiver.user_id and lead.status in OPEN:
            return "repeat"  # the same user's claim sent again (another request)
        raise Said(
            "lead {lead} is already claimed by {owner}", lead=lead_id, owner=owner_words(lead)
        )
    if held >= queue.claim_cap:
        raise Said(
            "partner {partner} is at the claim cap of queue {queue}: {held} open leads of "
            "{cap}; convert one before claiming more",
            partner=receiver.partner_id,
            queue=queue.queue_id,
            held=held,
            cap=queue.claim_cap,
        )
    return "ok"


def owner_words(lead: LeadFacts) -> str:
    return f"{lead.owner} ({lead.partner})" if lead.owner else "nobody"


CLAIMED = (
    "lead {lead} is yours, {user}: no other partner can claim it now ({partner} holds {held} "
    "of {cap} open leads in queue {queue})"
)
CLAIMED_WITHIN = (
    CLAIMED + "; work it (accept-lead, convert-lead or not-interested) within {minutes} "
    "minute(s), or it goes back to the queue"
)
ALREADY_YOURS = "lead {lead} is already yours, {user}"


def claimed_words(
    queue: QueueFacts, lead_id: str, user_id: str, partner_id: str, held: int
) -> tuple[str, dict[str, str]]:
    """A claim's answer, its words and values apart (see `Said`)."""
    sla = queue.work_within_minutes
    values = {
        "lead": lead_id,
        "user": user_id,
        "partner": partner_id,
        "held": str(held),
        "cap": str(queue.claim_cap),
        "queue": queue.queue_id,
    }
    if sla:
        return CLAIMED_WITHIN, {**values, "minutes": str(sla)}
    return CLAIMED, values


def claimed(queue: QueueFacts, lead_id: str, user_id: str, partner_id: str, held: int) -> str:
    words, values = claimed_words(queue, lead_id, user_id, partner_id, held)
    return words.format(**values)


def already_yours(lead_id: str, user_id: str) -> str:
    return ALREADY_YOURS.format(lead=lead_id, user=user_id)


# --- the owner's answer: accept, not interested -----------------------------------------------


def _not_owner(lead: LeadFacts, actor: str) -> type[Said]:
    """Another user's lead is not theirs; one back in the queue (recalled, given back) is
    only too late."""
    return NotTheirs if lead.owner not in (None, actor) else Said


def check_owner_answer(lead: LeadFacts, actor: str, kind: str) -> Verdict:
    if lead.owner != actor or lead.status not in OPEN:
        who = (
            f"it belongs to {lead.owner}" if lead.owner else f"it is {lead.status}, owned by nobody"
        )
        raise _not_owner(lead, actor)(
            "only the owner answers for lead {lead}: {who}", lead=lead.lead_id, who=who
        )
    return "repeat" if kind == "accept" and lead.status == "accepted" else "ok"


def accepted(lead_id: str, actor: str, verdict: Verdict) -> str:
    if verdict == "repeat":
        return f"lead {lead_id} is already accepted by {actor}"
    return (
        f"lead {lead_id} accepted by {actor}: it is yours to work "
        "(convert-lead when it becomes an opportunity)"
    )


def given_back(queue: QueueFacts, lead_id: str, actor: str, reason: str) -> str:
    # Not given out again by round-robin (it would go back to the same partner in turn): it
    # waits to be claimed, and the channel managers, told why, may assign it.
    return (
        f"lead {lead_id} is back in queue {queue.queue_id}: {actor} is not interested "
        f"({reason}); the channel manager(s) {', '.join(queue.channel_managers)} are told and "
        "may assign it"
    )


# --- change of owner by a channel manager -----------------------------------------------------


def leads_to_move(r: LeadStepRequest, of_from_user: list[str], owners: dict[str, str]) -> list[str]:
    """The leads a change of owner moves: the lead named (assign), or the leads named and the
    open leads of `from_user` (reassign), less those the new owner holds already. `owners`:
    each chosen lead's current owner. Empty for an assignment is a repeat (answered)."""
    chosen = [r.lead_id] if r.kind == "assign" and r.lead_id else list(r.lead_ids)
    chosen += of_from_user
    moving = [x for x in dict.fromkeys(chosen) if owners.get(x) != r.to_user]
    if not moving and r.kind == "reassign":
        whose = f" of {r.from_user}" if r.from_user else ""
        raise Refused(f"no open leads{whose} to move to {r.to_user} in queue {r.queue_id}")
    return moving


def already_theirs(lead_id: str | None, to_user: str | None) -> str:
    return f"lead {lead_id} already belongs to {to_user}"


def receiver_refusal(receiver: ReceiverFacts) -> None:
    reason = receiver_problem(receiver)
    if reason:
        raise Refused(f"{receiver.user_id} cannot receive leads: {reason}")


def why_not_moved(lead: LeadFacts | None, queue_id: str) -> str | None:
    """A lead of a change of owner that keeps its owner: it left the queue, or it is an
    opportunity already (its owner no longer changes)."""
    if lead is None or lead.queue_id != queue_id:
        return f"not in queue {queue_id}"
    if lead.status == "converted":
        return "converted to an opportunity"
    return None


def owners_changed(
    queue: QueueFacts,
    r: LeadStepRequest,
    changed: list[str],
    skipped: dict[str, str],
    to_partner: str,
    held: int,
) -> tuple[str, list[str]]:
    """The answer to a change of owner, and its notes; refused if no lead changed."""
    if not changed:
        why = "; ".join(skipped.values()) or "they changed meanwhile"
        raise Refused(f"no lead changed owner: {why}")
    notes = [f"lead {x} unchanged: {why}" for x, why in skipped.items()]
    if held > queue.claim_cap:
        notes.append(
            f"{to_partner} now holds {held} open leads, above the claim cap of "
            f"{queue.claim_cap}: it cannot claim more until it converts some"
        )
    told = "; notified by e-mail" if r.notify else ""
    return f"{len(changed)} lead(s) now belong to {r.to_user}: {shown(changed)}{told}", notes


# --- conversion and the opportunity -----------------------------------------------------------


def check_conversion(lead: LeadFacts, actor: str, opportunity_owner: str | None) -> Verdict:
    """The owner converts a lead far enough along to an opportunity, once."""
    if opportunity_owner == actor:
        return "repeat"
    if lead.owner != actor or lead.status not in OPEN:
        raise _not_owner(lead, actor)(
            "only the owner converts lead {lead}: it is {status}, owned by {owner}",
            lead=lead.lead_id,
            status=lead.status,
            owner=lead.owner or "nobody",
        )
    return "ok"


def converted(lead_id: str, opportunity: str, stage: str, actor: str, verdict: Verdict) -> str:
    if verdict == "repeat":
        return f"lead {lead_id} is already opportunity {opportunity}"
    return (
        f"lead {lead_id} converted to opportunity {opportunity} ({stage}), owned by {actor}; "
        "keep it up to date with update-opportunity"
    )


def check_opportunity_update(
    opportunity: str, owner: str | None, stage: str | None, actor: str
) -> None:
    """Partners keep their own opportunities up to date, until they are closed. `owner`
    None: there is no such opportunity."""
    if owner is None:
        raise Refused(f"there is no opportunity {opportunity}")
    if owner != actor:
        raise NotTheirs("opportunity {opp} belongs to {owner}", opp=opportunity, owner=owner)
    if stage in CLOSED:
        raise Refused(
            f"opportunity {opportunity} is {stage}; a closed opportunity no longer changes"
        )


def opportunity_updated(opportunity: str, changes: dict[str, str]) -> str:
    words = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in changes.items())
    return f"opportunity {opportunity} updated: {words}"


# --- the service level ------------------------------------------------------------------------


def recall_due(lead: LeadFacts, claim_id: int) -> bool:
    """A claimed lead whose status has not changed since its claim goes back to the queue;
    one accepted, converted, given back or reassigned meanwhile is left as it is."""
    return lead.claim_id == claim_id and lead.status == "owned"


def recalled(lead_id: str, queue_id: str, minutes: int, returned: bool) -> str:
    if not returned:
        return f"lead {lead_id} was worked in time"
    return f"lead {lead_id} went back to queue {queue_id}: not worked within {minutes} minute(s)"
