"""Commands of the lead queues: open a queue, add partners, leads and assignment rules, the
steps on leads (each its own short process), moving the queues of the earlier design over, and
`deliver`, which sends a step to a queue."""

import asyncio
import random
import re
import sys
import time
import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

import config
from cli import records
from cli.common import (
    CODE,
    DATE,
    EXTRAS,
    FORMATTERS,
    NAME,
    NO_ANSWER,
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
    whole,
)
from domain.errors import Refused
from domain.leads import (
    IMPORT_BATCH,
    MAX_LEAD_FILE_BYTES,
    MAX_LEADS_PER_FILE,
    MAX_WORK_WITHIN_MINUTES,
    OPPORTUNITY_STAGES,
    ROLLING_OVER,
    LeadBatch,
    LeadKind,
    LeadRow,
    LeadStepRequest,
    LeadStepStatus,
    QueuePartners,
    RouterRequest,
    RouterState,
    RuleInput,
    dedupe_key,
    lead_step_process_id,
    parse_lead_file,
    queue_process_id,
)
from domain.leads.files import batches
from domain.steps import StepAnswer
from store.leads import forget_batch, save_batch
from workflows.lead_queue_router import LeadQueueRouter
from workflows.lead_step import LeadStep

# The earlier design's workflow type (every lead in its state): its open queues are moved
# over to LeadQueueRouter by `move-lead-queues`.
LEGACY_QUEUE = "LeadQueue"

# --- sending a step to a queue ----------------------------------------------------------------

RESEND = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.RESOURCE_EXHAUSTED)
# Server answers for a step that was never applied: it was in the task in which the run
# closed (continue-as-new), or it arrived while the run was closing.
UNAPPLIED = (ROLLING_OVER, "UnprocessedUpdate")


def _again(err: Exception) -> bool:
    """A step that did not reach a decision and must be sent again: the queue was moving to
    a new run (turned away, unprocessed or aborted), or had 10 steps in flight already."""
    if isinstance(err, RPCError):
        return err.status in RESEND or (
            err.status == RPCStatusCode.NOT_FOUND and "aborted by closing workflow" in err.message
        )
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
            await temporal(),
            args.process_id,
            f"lead queue {args.queue}",
            deliver(handle, update, step, update_id=update_id),
            resend=update_id,
        )
    except WorkflowUpdateFailedError as e:
        raise Failure(REFUSED, failure_message(e)) from None
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Failure(NO_PROCESS, f"lead queue {args.queue} has ended") from None
        raise rpc_failure(e, args.process_id) from None
    emit(args, True, answer.message, answer, label="")
    return OK


async def run_lead_step(
    client, request: LeadStepRequest, process_id: str, task_queue: str = config.TASK_QUEUE
) -> StepAnswer:
    """A step on leads as its own short process (update-with-start of its `answer`): steps
    on different leads never wait for each other. The same process id (the same
    --request-id) is the same step: answered by the process, never done twice. A refusal
    raises WorkflowUpdateFailedError, as a step on a queue does."""
    op = WithStartWorkflowOperation(
        LeadStep.run,
        request,
        id=process_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=f"{request.kind} {request.lead_id or request.opportunity_id or ''} "
        f"in lead queue {request.queue_id}",
    )
    try:
        return await client.execute_update_with_start_workflow(
            LeadStep.answer, start_workflow_operation=op
        )
    except WorkflowAlreadyStartedError:  # the same step, already ended: its outcome
        done: LeadStepStatus = await client.get_workflow_handle_for(
            LeadStep.run, process_id
        ).result()
        if done.stage == "refused":
            raise Failure(REFUSED, done.message) from None
        return StepAnswer(message=done.message, stage=done.stage, notes=done.notes)


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
            run_lead_step(client, request, process_id),
            resend=args.request_id or process_id.rsplit("-", 1)[-1],
        )
    except WorkflowUpdateFailedError as e:
        raise Failure(REFUSED, failure_message(e)) from None
    except RPCError as e:
        raise rpc_failure(e, process_id) from None
    emit(args, True, answer.message, answer, label="")
    return OK


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
    return await _import(args, handle, rows)


class ImportProgress:
    """A bar on a terminal (stderr); a line every few seconds otherwise. `clock` injectable."""

    def __init__(self, total: int, stream=None, every: float = 5.0, clock=time.monotonic):
        self.total, self.stream = total, stream or sys.stderr
        self.every, self.clock = every, clock
        self.tty = self.stream.isatty()
        self.last_at: float | None = None  # never 0.0: monotonic() is small after a boot

    def show(self, done: int, batch: int, batches_: int, new: int, duplicates: int) -> None:
        words = (
            f"{done}/{self.total} leads, batch {batch}/{batches_}: {new} new, "
            f"{duplicates} duplicate(s)"
        )
        if self.tty:
            filled = int(30 * done / max(self.total, 1))
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {words}   ")
            self.stream.flush()
            return
        now = self.clock()
        if self.last_at is None or now - self.last_at >= self.every or done == self.total:
            print(words, file=self.stream, flush=True)
            self.last_at = now

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


async def _import(args, handle, rows: list[LeadRow]) -> int:
    """A whole file, checked before (parse_lead_file, the limits), sent in batches of 5,000.
    Each batch is one step keyed by its content: the same command run again after an
    interruption sends the same batches, and those already in are answered from the audit
    log, not imported twice (resumable). One batch file exists at a time; it is removed once
    the worker has read it, or here if the step did not go through (no orphaned files)."""
    root = config.documents_dir()
    chunks = batches(rows, IMPORT_BATCH)
    progress = None if args.json else ImportProgress(len(rows))
    answers: list[StepAnswer] = []
    totals = {"new": 0, "duplicates": 0, "resumed": 0}
    done = 0
    try:
        for n, chunk in enumerate(chunks, 1):
            try:
                ref = save_batch(root, chunk)
            except OSError as e:
                raise BadInput(f"cannot write the leads to {root}: {e.strerror}") from None
            # A new id per run of the command: what makes a batch once is its step key (its
            # content) in the audit log, so a run after an interruption resumes, whatever
            # happened to the earlier run's request.
            invocation = args.request_id or uuid.uuid4().hex[:8]
            update_id = f"add_leads-{ref.sha256[:24]}-{invocation}-{n}"
            try:
                answer = await answered(
                    await temporal(),
                    handle.id,
                    f"lead queue {args.queue}",
                    deliver(
                        handle,
                        LeadQueueRouter.add_leads,
                        validated(LeadBatch, actor=args.actor, batch=ref),
                        update_id=update_id,
                    ),
                    resend=update_id,
                )
            except WorkflowUpdateFailedError as e:
                forget_batch(root, ref)  # refused: not needed (personal data, not kept)
                raise Failure(
                    REFUSED,
                    f"batch {n} of {len(chunks)} ({done} lead(s) before it "
                    f"are in): {failure_message(e)}",
                ) from None
            except Failure as f:
                if f.code != NO_ANSWER:
                    forget_batch(root, ref)
                    raise
                # the step may still be carried out: the worker needs the file (and removes
                # it once read); the same command run again resumes with this batch
                raise Failure(
                    NO_ANSWER,
                    f"batch {n} of {len(chunks)} ({done} lead(s) before "
                    f"it are in): {f}; run the same command again to resume",
                ) from None
            except BaseException:
                forget_batch(root, ref)  # not sent (interrupted, unreachable): not left
                raise
            forget_batch(root, ref)  # the worker read it (it removes it too)
            answers.append(answer)
            done += len(chunk)
            if answer.message.startswith("already received"):
                totals["resumed"] += len(chunk)  # in since an earlier run of this command
            else:
                for key in ("new", "duplicates"):
                    totals[key] += _count(answer.message, key)
            if progress:
                progress.show(done, n, len(chunks), totals["new"], totals["duplicates"])
    finally:
        if progress:
            progress.close()
    if len(answers) == 1:
        emit(args, True, answers[0].message, answers[0], label="")
    else:
        resumed = (
            f", {totals['resumed']} already in from an earlier run of this command"
            if totals["resumed"]
            else ""
        )
        emit(
            args,
            True,
            f"{len(rows)} lead(s) received in {len(answers)} batches: "
            f"{totals['new']} new, {totals['duplicates']} duplicate(s) not added{resumed}\n"
            + "\n".join(f"batch {n}: {a.message}" for n, a in enumerate(answers, 1)),
            {"batches": [a.model_dump(mode="json") for a in answers], **totals},
            label="",
        )
    return OK


def _count(message: str, what: str) -> int:
    """The counts in a batch's answer ("5000 lead(s) received: 4990 new; 10 duplicate(s)")."""
    if what == "new":
        m = re.search(r"(\d+) new", message)
        return int(m.group(1)) if m else 0
    return sum(int(n) for n in re.findall(r"(\d+) already in (?:this|another) queue", message))


def check_lead_file(path: Path) -> list[LeadRow]:
    """A file of leads is accepted or refused whole, before anything is written or sent: at
    most 64 MiB and 100,000 leads, every row valid (each problem named with its row)."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise BadInput(f"cannot read {path}: {e.strerror or e}") from None
    if size > MAX_LEAD_FILE_BYTES:
        raise BadInput(
            f"{path.name} is {size // (1024 * 1024)} MiB: a file of leads may have "
            f"at most {MAX_LEAD_FILE_BYTES // (1024 * 1024)} MiB and "
            f"{MAX_LEADS_PER_FILE} leads; split it. Nothing was sent"
        )
    text = read_text(path)
    try:
        rows = parse_lead_file(path.name, text)
    except Refused as r:
        raise BadInput(f"{r}. Nothing was sent") from None
    if len(rows) > MAX_LEADS_PER_FILE:
        raise BadInput(
            f"{path.name} has {len(rows)} leads: a file may have at most "
            f"{MAX_LEADS_PER_FILE}; split it. Nothing was sent"
        )
    return rows


def same_person_twice(rows: list[LeadRow]) -> list[str]:
    """Rows of one file that are the same person (one lead): named before sending."""
    first: dict[str, int] = {}
    out = []
    for n, row in enumerate(rows, 1):
        key = dedupe_key(row)
        if key in first:
            out.append(f"row {n} is the same person as row {first[key]}")
        else:
            first[key] = n
    return out


async def cmd_add_leads(args) -> int:
    path = Path(args.file)
    rows = check_lead_file(path)
    twice = same_person_twice(rows)
    if twice and not args.json:
        more = f" (and {len(twice) - 10} more)" if len(twice) > 10 else ""
        print(
            f"{len(twice)} duplicate(s) in the file, added once: {'; '.join(twice[:10])}{more}",
            file=sys.stderr,
            flush=True,
        )
    return await _add(args, rows)


async def cmd_add_lead(args) -> int:
    fields = {
        k: getattr(args, k) or ""
        for k in (
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
    return await _add(args, [validated(LeadRow, **fields)])


async def cmd_claim(args) -> int:
    return await lead_step(args, kind="claim", lead_id=args.lead)


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
            lines.append(await move_queue(client, queue_id, args.actor, config.TASK_QUEUE))
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
