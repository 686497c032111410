"""Commands of the lead queues (seed 003 "Se og opdatere dine leads", seed 004 "Affectation de
prospects à des partenaires"), and `deliver`, which sends a step to a queue."""

import asyncio
import random
import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

import config
from cli import records
from cli.common import (
    CODE,
    DATE,
    EXTRAS,
    FORMATTERS,
    NAME,
    NO_PROCESS,
    OK,
    REFUSED,
    USER,
    BadInput,
    Commands,
    Failure,
    answered,
    emit,
    failure_message,
    read_text,
    rpc_failure,
    running_handle,
    start,
    temporal,
    validated,
    waiting_line,
    whole,
)
from domain.errors import Refused
from domain.leads import (
    OPPORTUNITY_STAGES,
    ROLLING_OVER,
    Assignment,
    Claim,
    Conversion,
    LeadBatch,
    LeadKind,
    LeadQueueRequest,
    LeadRow,
    MassReassignment,
    OpportunityUpdate,
    QueuePartners,
    QueueState,
    RuleInput,
    batches,
    parse_lead_file,
    queue_process_id,
)
from domain.steps import StepAnswer
from store.leads import forget_batch, save_batch
from workflows.lead_queue import LeadQueue

# --- sending a step to a queue ----------------------------------------------------------------

RESEND = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.RESOURCE_EXHAUSTED)
# Server answers for a step that was never applied: it was in the task in which the run
# closed (continue-as-new), or it arrived while the run was closing.
UNAPPLIED = (ROLLING_OVER, "UnprocessedUpdate")


def _again(err: Exception) -> bool:
    """A step that did not reach a decision and must be sent again: the queue was moving to
    a new run (turned away, unprocessed or aborted), or had 10 steps in flight already."""
    if isinstance(err, RPCError):
        return err.status in RESEND or (err.status == RPCStatusCode.NOT_FOUND
                                        and "aborted by closing workflow" in err.message)
    cause = getattr(err, "cause", None)
    return isinstance(cause, ApplicationError) and cause.type in UNAPPLIED


async def deliver(handle, update, step, *, update_id: str, patience: float = 60.0):
    """Sends a step to a lead queue and returns its answer. Sent again under the same update
    id while `_again` says so (with a growing pause, for up to `patience` seconds): the run
    that takes it applies it once, and nothing sent is lost in a rollover."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    pause = 0.05
    while True:
        try:
            return await handle.execute_update(update, step, id=update_id)
        except (RPCError, WorkflowUpdateFailedError) as err:
            if not _again(err) or loop.time() > deadline:
                raise
        await asyncio.sleep(pause * (0.5 + random.random()))
        pause = min(pause * 2, 0.5)


async def send_to_queue(args, update, step) -> int:
    args.process_id = queue_process_id(args.queue)
    handle = await running_handle(args.process_id)
    update_id = args.request_id or f"{update.__name__}-{uuid.uuid4().hex[:12]}"
    try:
        answer: StepAnswer = await answered(
            await temporal(), args.process_id, f"lead queue {args.queue}",
            deliver(handle, update, step, update_id=update_id), resend=update_id)
    except WorkflowUpdateFailedError as e:
        raise Failure(REFUSED, failure_message(e)) from None
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Failure(NO_PROCESS, f"lead queue {args.queue} has ended") from None
        raise rpc_failure(e, args.process_id) from None
    emit(args, True, answer.message, answer, label="")
    return OK


# --- commands ---------------------------------------------------------------------------------

async def cmd_open_queue(args) -> int:
    request = validated(LeadQueueRequest, queue_id=args.queue, name=args.name or args.queue,
                        channel_managers=args.channel_manager or [args.actor],
                        partners=args.partner or [], claim_cap=args.claim_cap,
                        routing="round-robin" if args.round_robin else "claim",
                        requested_by=args.actor)
    return await start(args, LeadQueue, request, process_id=queue_process_id(args.queue),
                       kind=LeadKind.LEAD_QUEUE.value, account_id=None,
                       summary=f"Lead queue {args.queue}: {len(request.partners)} partner(s), "
                               f"claim cap {request.claim_cap}, {request.routing}")


async def cmd_add_partners(args) -> int:
    return await send_to_queue(args, LeadQueue.add_queue_partners,
                               validated(QueuePartners, actor=args.actor, partners=args.partner))


def _leave_for_workers(rows: list[LeadRow]):
    """The leads go to the documents folder the workers read, in batches of at most 500; the
    queue gets a reference to each (personal data never enters Temporal)."""
    root = config.documents_dir()
    try:
        return [save_batch(root, chunk) for chunk in batches(rows)]
    except OSError as e:
        raise BadInput(f"cannot write the leads to {root}: {e.strerror}") from None


async def _add(args, rows: list[LeadRow]) -> int:
    handle = await running_handle(queue_process_id(args.queue))  # before any file is written
    refs = _leave_for_workers(rows)
    answers = []
    for n, ref in enumerate(refs, 1):
        # one step per batch; --request-id names a single batch (a repeated file is answered
        # with its duplicates anyway)
        update_id = (args.request_id if len(refs) == 1 else None) or \
            f"add_leads-{ref.sha256[:16]}-{uuid.uuid4().hex[:6]}"
        step = validated(LeadBatch, actor=args.actor, batch=ref)
        try:
            answer = await deliver(handle, LeadQueue.add_leads, step, update_id=update_id)
        except WorkflowUpdateFailedError as e:
            for unused in refs[n - 1:]:  # refused: the files (personal data) are not kept
                forget_batch(config.documents_dir(), unused)
            raise Failure(REFUSED, f"batch {n} of {len(refs)}: {failure_message(e)}") from None
        answers.append(answer)
    message = "\n".join(a.message for a in answers)
    emit(args, True, message, answers[-1] if len(answers) == 1 else
         {"batches": [a.model_dump(mode="json") for a in answers]}, label="")
    return OK


async def cmd_add_leads(args) -> int:
    path = Path(args.file)
    text = read_text(path)
    try:
        rows = parse_lead_file(path.name, text)
    except Refused as r:
        raise BadInput(str(r)) from None
    return await _add(args, rows)


async def cmd_add_lead(args) -> int:
    fields = {k: getattr(args, k) or "" for k in ("company", "name", "email", "phone",
                                                   "country", "postal_code", "product",
                                                   "source")}
    return await _add(args, [validated(LeadRow, **fields)])


async def cmd_claim(args) -> int:
    return await send_to_queue(args, LeadQueue.claim_lead,
                               validated(Claim, actor=args.actor, lead_id=args.lead))


async def cmd_assign(args) -> int:
    return await send_to_queue(args, LeadQueue.assign_lead, validated(
        Assignment, actor=args.actor, lead_id=args.lead, to_user=args.to, notify=args.notify))


async def cmd_reassign(args) -> int:
    return await send_to_queue(args, LeadQueue.reassign_leads, validated(
        MassReassignment, actor=args.actor, from_user=args.from_user, lead_ids=args.lead or [],
        to_user=args.to, notify=args.notify))


def _amount(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text.replace(",", "").replace(" ", ""))
    except InvalidOperation:
        raise BadInput(f"amount {text!r} is not a number (e.g. 12500 or 12500.50)") from None



async def cmd_convert(args) -> int:
    return await send_to_queue(args, LeadQueue.convert_lead, validated(
        Conversion, actor=args.actor, lead_id=args.lead, stage=args.stage or "prospecting",
        amount=_amount(args.amount), close_date=args.close_date))


async def cmd_update_opportunity(args) -> int:
    return await send_to_queue(args, LeadQueue.update_opportunity, validated(
        OpportunityUpdate, actor=args.actor, opportunity_id=args.opportunity, stage=args.stage,
        amount=_amount(args.amount), close_date=args.close_date))


async def cmd_add_rule(args) -> int:
    return await send_to_queue(args, LeadQueue.add_assignment_rule, validated(
        RuleInput, actor=args.actor, country=args.country, postal_prefix=args.postal_prefix,
        product=args.product, to_partner=args.to_partner, to_queue=args.to_queue,
        position=args.position))


def show_queue(raw: dict) -> str:
    s = QueueState.model_validate(raw)
    cards, now = raw.get("lead_cards") or {}, records.now()
    lines = [s.process_id,
             f"  stage:       {s.stage.value}",
             waiting_line(s),
             f"  queue:       {s.queue_id} ({s.name}), {s.routing}, claim cap {s.claim_cap}, "
             f"channel managers {', '.join(s.channel_managers)}, run {s.runs}"]
    for partner_id in s.partners:
        roster = s.rosters.get(partner_id)
        active = sorted(u for u, st in (roster.users if roster else {}).items() if st == "active")
        state = "" if roster is None or roster.active else " (deactivated)"
        lines.append(f"  partner:     {partner_id}{state}: {s.open_leads(partner_id)} open "
                     f"lead(s); can receive leads: {', '.join(active) or 'nobody yet'}")
    for n, rule in enumerate(s.rules, 1):
        lines.append(f"  rule {n}:      {rule.describe()}")
    shown = list(s.leads.items())[-50:]
    if len(s.leads) > len(shown):
        lines.append(f"  ({len(s.leads) - len(shown)} older leads not shown)")
    for lead_id, slot in shown:
        owner = f" {slot.owner} ({slot.partner}, by {slot.how})" if slot.owner else ""
        opp = f" -> {slot.opportunity_id} {slot.opportunity_stage}" if slot.opportunity_id else ""
        moved = f" -> queue {slot.forwarded_to}" if slot.forwarded_to else ""
        card = records.lead_card_words(cards.get(lead_id), now)
        lines.append(f"  lead:        {lead_id} {slot.status}{owner}{opp}{moved}"
                     + (f"  ({card})" if card else ""))
    return "\n".join(lines)


FORMATTERS[LeadKind.LEAD_QUEUE.value] = show_queue
EXTRAS[LeadKind.LEAD_QUEUE.value] = records.lead_cards


def register(commands: Commands) -> None:
    c = commands.add("open-lead-queue", "open a lead queue that partners claim from",
                     cmd_open_queue)
    c.add_argument("--queue", required=True, type=NAME, help="queue id, e.g. trade-fair-2026")
    c.add_argument("--name", help="what people call it")
    c.add_argument("--partner", action="append", type=CODE,
                   help="a partner whose users may claim (repeatable)")
    c.add_argument("--claim-cap", type=whole(1, 10_000), default=10,
                   help="open leads one partner may hold from this queue (default 10)")
    c.add_argument("--round-robin", action="store_true",
                   help="give arriving leads in turn to the partners (else they wait to be "
                   "claimed)")
    c.add_argument("--channel-manager", action="append", type=USER,
                   help="who may change owners and rules (repeatable; default: --as)")

    def queue(c, lead: bool = False):
        c.add_argument("--queue", required=True, type=NAME)
        if lead:
            c.add_argument("--lead", required=True, type=NAME, help="lead id, e.g. L-17")

    c = commands.add("add-queue-partner", "let another partner claim from the queue",
                     cmd_add_partners, step=True)
    queue(c)
    c.add_argument("--partner", action="append", required=True, type=CODE)

    c = commands.add("add-leads", "add leads from a file (.json list or .csv with a header)",
                     cmd_add_leads, step=True)
    queue(c)
    c.add_argument("--file", required=True, help="columns: company, name, email, phone, "
                   "country, postal_code, product, source")

    c = commands.add("add-lead", "add one lead", cmd_add_lead, step=True)
    queue(c)
    c.add_argument("--company", required=True)
    for name in ("name", "email", "phone", "country", "postal-code", "product", "source"):
        c.add_argument(f"--{name}", dest=name.replace("-", "_"))

    c = commands.add("claim-lead", "a partner user claims a lead (first come, first served)",
                     cmd_claim, step=True)
    queue(c, lead=True)

    c = commands.add("assign-lead", "change a lead's owner (a channel manager)", cmd_assign,
                     step=True)
    queue(c, lead=True)
    c.add_argument("--to", required=True, type=USER, help="the partner user who gets the lead")
    c.add_argument("--notify", action="store_true", help="send the new owner an e-mail")

    c = commands.add("reassign-leads", "give many leads to another partner user at once",
                     cmd_reassign, step=True)
    queue(c)
    c.add_argument("--from", dest="from_user", type=USER,
                   help="move all open leads of this user")
    c.add_argument("--lead", action="append", type=NAME,
                   help="and/or these leads (repeatable)")
    c.add_argument("--to", required=True, type=USER)
    c.add_argument("--notify", action="store_true", help="send the new owner one e-mail")

    def opportunity_fields(c):
        c.add_argument("--stage", choices=OPPORTUNITY_STAGES)
        c.add_argument("--amount", help="expected amount, e.g. 12500")
        c.add_argument("--close-date", type=DATE, help="expected close date, YYYY-MM-DD")

    c = commands.add("convert-lead", "the owner converts a lead to an opportunity", cmd_convert,
                     step=True)
    queue(c, lead=True)
    opportunity_fields(c)

    c = commands.add("update-opportunity", "the owner updates their opportunity",
                     cmd_update_opportunity, step=True)
    queue(c)
    c.add_argument("--opportunity", required=True, type=NAME, help="e.g. OPP-L-17")
    opportunity_fields(c)

    c = commands.add("add-assignment-rule",
                     "route arriving leads by country, postal code prefix, product interest "
                     "to a partner or a queue (first matching rule wins)", cmd_add_rule,
                     step=True)
    queue(c)
    c.add_argument("--country", help="two-letter country code")
    c.add_argument("--postal-prefix")
    c.add_argument("--product")
    c.add_argument("--to-partner", type=CODE)
    c.add_argument("--to-queue", type=NAME)
    c.add_argument("--position", type=whole(1, 10_000), help="1 = tried first (default: last)")
