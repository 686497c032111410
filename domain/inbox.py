"""A staff member's work list: what waits for them or their roles, oldest first, each with
the exact command that moves it on. The rules of what counts, who it waits for and what the
next command is are here; the store reads the rows (store/inbox.py), the starter prints them
(`starter.py inbox`).

What waits, and for which step (so for whom: domain/permissions.py decides who may take it):

- a quote rejected (a mandatory field of the account missing, a document missing): fill in
  what is missing, then mark it complete again — `ChangeOrder.mark_complete`;
- a CLASSOUND order with both documents in (LOA and last invoice): confirm it —
  `ClassoundOrder.confirm`;
- a contract waiting for the customer's signature whose deadline is within a week or has
  passed — `Renegotiation.extend_signing_deadline` (or a signature that came by post);
- a CLASSOUND order whose wait for the reseller expires within a week — `ClassoundOrder.extend`;
- an order whose wait for the partner's confirmation expires within a week: sales ops may
  confirm it for a partner who phoned — `FastChangeOrder.confirm`;
- a lead claimed and not worked that goes back to its queue within a week (the queue's service
  level), for the queue's channel managers — `LeadStep.reassign`;
- a process that needs attention: any staff member may retry it once the cause is fixed."""

import shlex
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel

from domain.account import OPTIONS, MandatoryFields
from domain.confirmation import EXPIRES_AFTER
from domain.permissions import Role, Who, allowed_for

SOON = timedelta(days=7)  # "deadlines within a week"


class Waits(StrEnum):
    QUOTE_REJECTED = "quote-rejected"
    READY_TO_CONFIRM = "ready-to-confirm"
    SIGNATURE_DUE = "signature-due"
    DEADLINE = "deadline"
    CONFIRMATION_DUE = "confirmation-due"
    LEAD_DUE_BACK = "lead-due-back"
    NEEDS_ATTENTION = "needs-attention"


# The step that moves each item on: who may take it is who it waits for.
STEP = {
    Waits.QUOTE_REJECTED: "ChangeOrder.mark_complete",
    Waits.READY_TO_CONFIRM: "ClassoundOrder.confirm",
    Waits.SIGNATURE_DUE: "Renegotiation.extend_signing_deadline",
    Waits.DEADLINE: "ClassoundOrder.extend",
    Waits.CONFIRMATION_DUE: "FastChangeOrder.confirm",
    Waits.LEAD_DUE_BACK: "LeadStep.reassign",
    Waits.NEEDS_ATTENTION: "FastChangeOrder.retry",  # the same for every process: any staff
}


class Item(BaseModel):
    """One thing that waits: since when, until when (if it has a deadline), what, why, and the
    command to run next."""

    waits: Waits
    process_id: str
    since: datetime
    due: datetime | None = None
    what: str
    why: str = ""
    next: str
    roles: list[str]  # who it waits for ("any staff" for everyone)
    queue_id: str | None = None  # a lead's queue: only its channel managers see it


def roles_for(waits: Waits) -> list[str]:
    allowed = allowed_for(STEP[waits])
    if Who.ANY_STAFF in allowed:
        return ["any staff"]
    return sorted(str(r.value) for r in allowed if isinstance(r, Role))


def command(*words: str) -> str:
    """A command line to paste: every word quoted as the shell needs."""
    return "starter.py " + " ".join(shlex.quote(w) for w in words)


# What to type for a missing field: the person fills in the value.
PLACEHOLDER = {"phone": "PHONE", "email": "EMAIL", "invoice_email": "EMAIL"}


def quote_rejected(
    process_id: str, account_id: str, since: datetime, reason: str, fields: MandatoryFields
) -> Item:
    """Fixed by filling in the account's missing fields, then marking it complete again; a
    quote rejected for something else (a document) says what in its status."""
    missing = [name for name in OPTIONS if not getattr(fields, name)]
    if missing:
        options = [w for name in missing for w in (OPTIONS[name], PLACEHOLDER[name])]
        first = command("update-account", "--account", account_id, *options)
    else:
        first = f"{command('status', process_id)} says what is missing"
    return Item(
        waits=Waits.QUOTE_REJECTED,
        process_id=process_id,
        since=since,
        what=f"quote of account {account_id} rejected",
        why=reason,
        next=f"{first}, then {command('mark-complete', process_id)}",
        roles=roles_for(Waits.QUOTE_REJECTED),
    )


def ready_to_confirm(process_id: str, account_id: str, partner_id: str, since: datetime) -> Item:
    return Item(
        waits=Waits.READY_TO_CONFIRM,
        process_id=process_id,
        since=since,
        what=f"CLASSOUND order of account {account_id} (partner {partner_id}): LOA and last "
        "invoice in, ready to confirm",
        next=command("confirm", process_id),
        roles=roles_for(Waits.READY_TO_CONFIRM),
    )


def signature_due(
    process_id: str, contract_id: str, account_id: str, since: datetime, deadline: datetime
) -> Item:
    return Item(
        waits=Waits.SIGNATURE_DUE,
        process_id=process_id,
        since=since,
        due=deadline,
        what=f"contract {contract_id} of account {account_id} waits for the customer's signature",
        next=f"{command('extend-signing-deadline', process_id, '--days', '14')}, or "
        f"{command('contract-signed', process_id)} for a signature that came by post",
        roles=roles_for(Waits.SIGNATURE_DUE),
    )


def reseller_deadline(
    process_id: str, account_id: str, partner_id: str, since: datetime, expires: datetime
) -> Item:
    return Item(
        waits=Waits.DEADLINE,
        process_id=process_id,
        since=since,
        due=expires,
        what=f"CLASSOUND order of account {account_id} expires unless partner {partner_id} "
        "sends its documents",
        next=command("extend", process_id, "--days", "14"),
        roles=roles_for(Waits.DEADLINE),
    )


def confirmation_due(
    process_id: str, order_id: str, account_id: str, partner_id: str, since: datetime
) -> Item:
    """An order waiting for its partner: it expires EXPIRES_AFTER after the wait began."""
    return Item(
        waits=Waits.CONFIRMATION_DUE,
        process_id=process_id,
        since=since,
        due=since + EXPIRES_AFTER,
        what=f"order {order_id} of account {account_id} expires unless partner {partner_id} "
        "confirms it",
        next=f"{command('confirm', process_id)} for a partner who confirmed by phone",
        roles=roles_for(Waits.CONFIRMATION_DUE),
    )


def confirmation_waits_since(now: datetime) -> datetime:
    """Orders waiting since before this expire within a week."""
    return now + SOON - EXPIRES_AFTER


def lead_due_back(
    process_id: str, queue_id: str, lead_id: str, owner: str, since: datetime, due: datetime
) -> Item:
    return Item(
        waits=Waits.LEAD_DUE_BACK,
        process_id=process_id,
        since=since,
        due=due,
        what=f"lead {lead_id} of queue {queue_id}, claimed by {owner} and not worked, goes "
        "back to the queue",
        next=command("reassign-leads", "--queue", queue_id, "--lead", lead_id, "--to", "USER"),
        roles=roles_for(Waits.LEAD_DUE_BACK),
        queue_id=queue_id,
    )


def needs_attention(process_id: str, kind: str, since: datetime) -> Item:
    return Item(
        waits=Waits.NEEDS_ATTENTION,
        process_id=process_id,
        since=since,
        what=f"{kind} needs attention: a step failed after its retries",
        next=f"{command('status', process_id)} says why; once fixed, "
        f"{command('retry', process_id)} (or {command('cancel', process_id, '--reason', '...')})",
        roles=roles_for(Waits.NEEDS_ATTENTION),
    )


def role_refusal(actor: str, role: str | None, roles: list[str]) -> str | None:
    """Why `actor` may not read the work list of `role`, or None: it is for those who hold
    the role, and for admins."""
    if role is None or role in roles or Role.ADMIN.value in roles:
        return None
    return f"--role {role}: {actor} does not hold it (holds: {', '.join(roles) or 'no role'})"


def waiting_for(items: list[Item], roles: list[str], queues: list[str]) -> list[Item]:
    """The items that wait for someone with `roles` (and, for leads, a channel manager of
    `queues`), oldest first; an admin sees what waits for anyone."""
    mine = set(roles)
    everyone = Role.ADMIN.value in mine

    def for_me(item: Item) -> bool:
        if "any staff" in item.roles:
            return True
        if not everyone and not mine & set(item.roles):
            return False
        return item.queue_id is None or everyone or item.queue_id in queues

    return sorted((i for i in items if for_me(i)), key=lambda i: (i.since, i.process_id))
