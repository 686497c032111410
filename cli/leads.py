"""Commands of the lead queues: open a queue, add partners, leads and assignment rules, the
steps on leads (each its own short process), and moving the queues of the earlier design over.
How a file of leads is checked and sent is cli/lead_imports.py's."""

import logging
import sys
import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path

import structlog
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from cli import records
from cli.common import (
    EXTRAS,
    FORMATTERS,
    Commands,
    answered,
    database_dsn,
    emit,
    processes,
    running_handle,
    settings,
    start,
    temporal,
    to_stderr,
)
from cli.forms import CODE, DATE, NAME, USER, validated, whole
from cli.lead_imports import (
    check_lead_file,
    deliver,
    import_file,
    same_person_twice,
)
from client.failures import (
    NO_PROCESS,
    OK,
    REFUSED,
    SETUP,
    BadInput,
    Failure,
    failure_message,
    rpc_failure,
    update_failure,
)
from domain.leads import (
    MAX_WORK_WITHIN_MINUTES,
    OPPORTUNITY_STAGES,
    LeadKind,
    LeadRow,
    LeadStepRequest,
    QueuePartners,
    RouterRequest,
    RouterState,
    RuleInput,
    lead_step_process_id,
    queue_process_id,
)
from domain.leads.files import FIELDS
from domain.steps import StepAnswer
from store import lead_claims
from store.db import create_pool
from workflows.lead_queue_router import LeadQueueRouter

# The earlier design's workflow type (every lead in its state): its open queues are moved
# over to LeadQueueRouter by `move-lead-queues`.
LEGACY_QUEUE = "LeadQueue"

# --- sending a step to a queue ----------------------------------------------------------------


async def send_to_queue(args, update, step) -> int:
    args.process_id = queue_process_id(args.queue)
    handle = await running_handle(args.process_id)
    update_id = args.request_id or f"{update.__name__}-{uuid.uuid4().hex[:12]}"
    try:
        answer: StepAnswer = await answered(
            await temporal(),
            args.process_id,
            f"lead queue {args.queue}",
            deliver(handle, update, step, update_id=update_id),
            resend=update_id,
        )
    except WorkflowUpdateFailedError as e:
        raise update_failure(e) from None
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Failure(NO_PROCESS, f"lead queue {args.queue} has ended") from None
        raise rpc_failure(e, args.process_id) from None
    emit(args, True, answer.message, answer, label="")
    return OK


async def lead_step(args, **fields) -> int:
    """A step on leads, as its own short process."""
    args.process_id = queue_process_id(args.queue)
    for_user = getattr(args, "for_user", None)
    if for_user:
        fields["for_user"] = for_user
    request = validated(LeadStepRequest, queue_id=args.queue, actor=args.actor, **fields)
    process_id = lead_step_process_id(request, args.request_id or uuid.uuid4().hex[:12])
    client = await temporal()
    try:
        answer = await answered(
            client,
            process_id,
            f"lead step {process_id}",
            processes(client).lead_step(request, process_id),
            resend=args.request_id or process_id.rsplit("-", 1)[-1],
        )
    except WorkflowUpdateFailedError as e:
        raise update_failure(e) from None
    except RPCError as e:
        raise rpc_failure(e, process_id) from None
    emit(args, True, answer.message, answer, label="")
    return OK


def quiet_store_log() -> None:
    """The store's step log to stderr, warnings only: stdout is the command's answer."""
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )


# --- commands ---------------------------------------------------------------------------------


async def cmd_open_queue(args) -> int:
    request = validated(
        RouterRequest,
        queue_id=args.queue,
        name=args.name or args.queue,
        channel_managers=args.channel_manager or [args.actor],
        partners=args.partner or [],
        claim_cap=args.claim_cap,
        routing="round-robin" if args.round_robin else "claim",
        work_within_minutes=args.work_within,
        requested_by=args.actor,
    )
    sla = (
        f", to be worked within {request.work_within_minutes} min"
        if request.work_within_minutes
        else ""
    )
    return await start(
        args,
        LeadQueueRouter,
        request,
        process_id=queue_process_id(args.queue),
        kind=LeadKind.LEAD_QUEUE.value,
        account_id=None,
        summary=f"Lead queue {args.queue}: {len(request.partners)} partner(s), "
        f"claim cap {request.claim_cap}, {request.routing}{sla}",
    )


async def cmd_add_partners(args) -> int:
    return await send_to_queue(
        args,
        LeadQueueRouter.add_queue_partners,
        validated(QueuePartners, actor=args.actor, partners=args.partner),
    )


async def _add(args, rows: list[LeadRow]) -> int:
    handle = await running_handle(queue_process_id(args.queue))  # before any file is written
    return await import_file(args, handle, rows)


async def cmd_add_leads(args) -> int:
    path = Path(args.file)
    rows = check_lead_file(path)
    twice = same_person_twice(rows)
    if twice and not args.json:
        more = f" (and {len(twice) - 10} more)" if len(twice) > 10 else ""
        to_stderr(
            f"{len(twice)} duplicate(s) in the file, added once: {'; '.join(twice[:10])}{more}"
        )
    return await _add(args, rows)


async def cmd_add_lead(args) -> int:
    fields = {k: getattr(args, k) or "" for k in FIELDS}
    return await _add(args, [validated(LeadRow, **fields)])


async def cmd_claim(args) -> int:
    """A claim is decided here, in one PostgreSQL transaction (store/lead_claims.py), like
    the portal's: no process of its own to start and wait for."""
    args.process_id = queue_process_id(args.queue)
    for_user = getattr(args, "for_user", None)
    fields = {"for_user": for_user} if for_user else {}
    request = validated(
        LeadStepRequest,
        queue_id=args.queue,
        kind="claim",
        actor=args.actor,
        lead_id=args.lead,
        **fields,
    )
    dsn = database_dsn()
    if not dsn:
        raise Failure(
            SETUP, "DATABASE_URL is not set: claims are decided in PostgreSQL (./run's banner)"
        )
    quiet_store_log()
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        done = await lead_claims.claim(pool, request, args.request_id or uuid.uuid4().hex[:12])
    finally:
        await pool.close()
    if not done.ok:
        raise Failure(REFUSED, done.message)
    emit(args, True, done.message, {"process_id": done.process_id}, label="")
    return OK


async def cmd_accept(args) -> int:
    return await lead_step(args, kind="accept", lead_id=args.lead)


async def cmd_not_interested(args) -> int:
    return await lead_step(args, kind="not-interested", lead_id=args.lead, reason=args.reason)


async def cmd_assign(args) -> int:
    return await lead_step(
        args, kind="assign", lead_id=args.lead, to_user=args.to, notify=args.notify
    )


async def cmd_reassign(args) -> int:
    return await lead_step(
        args,
        kind="reassign",
        from_user=args.from_user,
        lead_ids=args.lead or [],
        to_user=args.to,
        notify=args.notify,
    )


def _amount(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text.replace(",", "").replace(" ", ""))
    except InvalidOperation:
        raise BadInput(f"amount {text!r} is not a number (e.g. 12500 or 12500.50)") from None


async def cmd_convert(args) -> int:
    return await lead_step(
        args,
        kind="convert",
        lead_id=args.lead,
        stage=args.stage or "prospecting",
        amount=_amount(args.amount),
        close_date=args.close_date,
    )


async def cmd_update_opportunity(args) -> int:
    return await lead_step(
        args,
        kind="update-opportunity",
        opportunity_id=args.opportunity,
        stage=args.stage,
        amount=_amount(args.amount),
        close_date=args.close_date,
    )


async def cmd_add_rule(args) -> int:
    return await send_to_queue(
        args,
        LeadQueueRouter.add_assignment_rule,
        validated(
            RuleInput,
            actor=args.actor,
            country=args.country,
            postal_prefix=args.postal_prefix,
            product=args.product,
            to_partner=args.to_partner,
            to_queue=args.to_queue,
            position=args.position,
        ),
    )


# --- moving the queues of the earlier design over ---------------------------------------------


async def move_queue(client: Client, queue_id: str, actor: str, task_queue: str) -> str:
    """Carries a queue of the earlier design on as a LeadQueueRouter under the same id: its
    run is ended and the new process, started in the same call, reads the queue's settings,
    partners and rules from PostgreSQL, where its leads, owners and opportunities already
    are. A queue already moved is left as it is; one whose take-over was refused may be
    moved again."""
    process_id = queue_process_id(queue_id)
    try:
        now = await client.get_workflow_handle(process_id).describe()
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
        raise Failure(NO_PROCESS, f"there is no lead queue {queue_id}") from None
    if now.workflow_type != LEGACY_QUEUE and now.status == WorkflowExecutionStatus.RUNNING:
        return f"lead queue {queue_id}: already a {now.workflow_type}, nothing to move"
    handle = await client.start_workflow(
        LeadQueueRouter.run,
        RouterRequest(queue_id=queue_id, take_over=True, requested_by=actor),
        id=process_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        static_summary=f"Lead queue {queue_id}: taken over from the earlier design",
    )
    try:
        await handle.execute_update(LeadQueueRouter.started)
    except WorkflowUpdateFailedError as e:
        raise Failure(
            REFUSED,
            f"lead queue {queue_id}: its earlier run has ended, but the take-over was "
            f"refused: {failure_message(e)}; run move-lead-queues --queue {queue_id} again "
            "once that is mended",
        ) from None
    state = await handle.query(LeadQueueRouter.status)
    return f"lead queue {queue_id} moved: {'; '.join(state.notes)}; {state.waiting_for}"


async def legacy_queues(client: Client) -> list[str]:
    """The queues whose running process is of the earlier design."""
    query = f"WorkflowType = '{LEGACY_QUEUE}' AND ExecutionStatus = 'Running'"
    prefix = queue_process_id("")
    return sorted([w.id.removeprefix(prefix) async for w in client.list_workflows(query)])


async def cmd_move_lead_queues(args) -> int:
    client = await temporal()
    queue_ids = args.queue or await legacy_queues(client)
    if not queue_ids:
        emit(args, True, "no lead queue of the earlier design is running", {"moved": []}, label="")
        return OK
    lines = []
    for queue_id in queue_ids:
        try:
            lines.append(await move_queue(client, queue_id, args.actor, settings().task_queue))
        except RPCError as e:
            raise rpc_failure(e, queue_process_id(queue_id)) from None
    emit(args, True, "\n".join(lines), {"moved": queue_ids}, label="")
    return OK


def show_router(raw: dict) -> str:
    """A queue: settings, partners, rules and totals, and its newest leads as PostgreSQL has
    them (each step on a lead is a `lead-...` process: `starter.py list`)."""
    s = RouterState.model_validate(raw)
    sla = f", leads worked within {s.work_within_minutes} min" if s.work_within_minutes else ""
    lines = [
        s.process_id,
        f"  stage:       {s.stage.value}",
        f"  waiting for: {s.waiting_for} (since {s.since:%Y-%m-%d %H:%M} UTC)",
        f"  queue:       {s.queue_id} ({s.name}), {s.routing}, claim cap {s.claim_cap}"
        f"{sla}, channel managers {', '.join(s.channel_managers)}, run {s.runs}",
    ]
    for partner_id in s.partners:
        roster = s.rosters.get(partner_id)
        active = sorted(u for u, st in (roster.users if roster else {}).items() if st == "active")
        state = "" if roster is None or roster.active else " (deactivated)"
        lines.append(
            f"  partner:     {partner_id}{state}: can receive leads: "
            f"{', '.join(active) or 'nobody yet'}"
        )
    for n, rule in enumerate(s.rules, 1):
        lines.append(f"  rule {n}:      {rule.describe()}")
    if s.received:
        lines.append("  leads:       " + ", ".join(f"{k} {v}" for k, v in s.received.items()))
    cards, now = raw.get("lead_cards") or {}, records.now()
    if cards:
        lines.append(f"  newest {len(cards)} lead(s):")
    for lead_id, card in cards.items():
        owner = f" {card['owner']} ({card['partner']})" if card.get("owner") else ""
        lines.append(
            f"  lead:        {lead_id} {card.get('status', '')}{owner}  "
            f"({records.lead_card_words(card, now)})"
        )
    return "\n".join(lines)


FORMATTERS[LeadKind.LEAD_QUEUE.value] = show_router
EXTRAS[LeadKind.LEAD_QUEUE.value] = records.lead_cards


def for_partner_user(c) -> None:
    c.add_argument(
        "--for",
        dest="for_user",
        type=USER,
        metavar="USER",
        help="a channel manager of the queue acting for this partner user (who "
        "phoned); partner users act themselves in the partner portal",
    )


def register(commands: Commands) -> None:
    c = commands.add(
        "open-lead-queue", "open a lead queue that partners claim from", cmd_open_queue
    )
    c.add_argument("--queue", required=True, type=NAME, help="queue id, e.g. trade-fair-2026")
    c.add_argument("--name", help="what people call it")
    c.add_argument(
        "--partner", action="append", type=CODE, help="a partner whose users may claim (repeatable)"
    )
    c.add_argument(
        "--claim-cap",
        type=whole(1, 10_000),
        default=10,
        help="open leads one partner may hold from this queue (default 10)",
    )
    c.add_argument(
        "--round-robin",
        action="store_true",
        help="give arriving leads in turn to the partners (else they wait to be claimed)",
    )
    c.add_argument(
        "--channel-manager",
        action="append",
        type=USER,
        help="who may change owners and rules (repeatable; default: --as)",
    )
    c.add_argument(
        "--work-within",
        type=whole(1, MAX_WORK_WITHIN_MINUTES),
        metavar="MINUTES",
        help="service level: a claimed lead not worked (accepted, converted or "
        "given back) within this many minutes goes back to the queue, and its "
        "partner user and the channel managers are told (default: none)",
    )

    def queue(c, lead: bool = False):
        c.add_argument("--queue", required=True, type=NAME)
        if lead:
            c.add_argument("--lead", required=True, type=NAME, help="lead id, e.g. L-17")

    c = commands.add(
        "add-queue-partner", "let another partner claim from the queue", cmd_add_partners, step=True
    )
    queue(c)
    c.add_argument("--partner", action="append", required=True, type=CODE)

    c = commands.add(
        "add-leads",
        "add leads from a file (.json list or .csv with a header)",
        cmd_add_leads,
        step=True,
    )
    queue(c)
    c.add_argument(
        "--file",
        required=True,
        help="columns: company, name, email, phone, "
        "country, postal_code, product, source; at most 100,000 leads and 64 MiB, "
        "checked whole before anything is sent; run again to resume",
    )

    c = commands.add("add-lead", "add one lead", cmd_add_lead, step=True)
    queue(c)
    c.add_argument("--company", required=True)
    for name in ("name", "email", "phone", "country", "postal-code", "product", "source"):
        c.add_argument(f"--{name}", dest=name.replace("-", "_"))

    c = commands.add(
        "claim-lead",
        "a partner user claims a lead (first come, first served)",
        cmd_claim,
        step=True,
    )
    queue(c, lead=True)
    for_partner_user(c)

    c = commands.add(
        "accept-lead", "the owner accepts a lead: it is being worked", cmd_accept, step=True
    )
    queue(c, lead=True)
    for_partner_user(c)

    c = commands.add(
        "not-interested",
        "the owner gives a lead back to the queue, saying why (the channel managers are told)",
        cmd_not_interested,
        step=True,
    )
    queue(c, lead=True)
    for_partner_user(c)
    c.add_argument("--reason", required=True, help="why the lead is not of interest")

    c = commands.add(
        "assign-lead", "change a lead's owner (a channel manager)", cmd_assign, step=True
    )
    queue(c, lead=True)
    c.add_argument("--to", required=True, type=USER, help="the partner user who gets the lead")
    c.add_argument("--notify", action="store_true", help="send the new owner an e-mail")

    c = commands.add(
        "reassign-leads", "give many leads to another partner user at once", cmd_reassign, step=True
    )
    queue(c)
    c.add_argument("--from", dest="from_user", type=USER, help="move all open leads of this user")
    c.add_argument("--lead", action="append", type=NAME, help="and/or these leads (repeatable)")
    c.add_argument("--to", required=True, type=USER)
    c.add_argument("--notify", action="store_true", help="send the new owner one e-mail")

    def opportunity_fields(c):
        c.add_argument("--stage", choices=OPPORTUNITY_STAGES)
        c.add_argument("--amount", help="expected amount, e.g. 12500")
        c.add_argument("--close-date", type=DATE, help="expected close date, YYYY-MM-DD")

    c = commands.add(
        "convert-lead", "the owner converts a lead to an opportunity", cmd_convert, step=True
    )
    queue(c, lead=True)
    for_partner_user(c)
    opportunity_fields(c)

    c = commands.add(
        "update-opportunity",
        "the owner updates their opportunity",
        cmd_update_opportunity,
        step=True,
    )
    queue(c)
    for_partner_user(c)
    c.add_argument("--opportunity", required=True, type=NAME, help="e.g. OPP-L-17")
    opportunity_fields(c)

    c = commands.add(
        "add-assignment-rule",
        "route arriving leads by country, postal code prefix, product interest "
        "to a partner or a queue (first matching rule wins)",
        cmd_add_rule,
        step=True,
    )
    queue(c)
    c.add_argument("--country", help="two-letter country code")
    c.add_argument("--postal-prefix")
    c.add_argument("--product")
    c.add_argument("--to-partner", type=CODE)
    c.add_argument("--to-queue", type=NAME)
    c.add_argument("--position", type=whole(1, 10_000), help="1 = tried first (default: last)")

    c = commands.add(
        "move-lead-queues",
        "carry the running lead queues of the earlier design (LeadQueue) on as LeadQueueRouter "
        "processes, with their leads, owners, partners and rules",
        cmd_move_lead_queues,
    )
    c.add_argument(
        "--queue",
        action="append",
        type=NAME,
        help="only this queue (repeatable; default: every running queue of the earlier design)",
    )
