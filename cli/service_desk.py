"""Staff changes of tickets, time entries and sales items: each a short process of its own
(RecordChange), which the store gates on the client's billing information."""

import uuid
from datetime import UTC, datetime

from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from cli.common import FORMATTERS, Commands, answered, emit, settings, temporal
from cli.forms import CODE, DATE, RECORD_NUMBER, REQUEST_ID, price, validated, whole
from client.failures import OK, REFUSED
from domain.business_time import Family, business_today
from domain.psa import ProcessKind
from domain.service_desk import RecordChangeRequest, RecordChangeResult, RecordStage
from workflows.record_change import RecordChange
from workflows.visibility import ACCOUNT_ID, PROCESS_KIND


async def record_change(args, change: dict) -> int:
    request = validated(RecordChangeRequest, actor=args.actor, change=change)
    operation = request.change.operation
    ref = args.request_id or uuid.uuid4().hex[:12]
    process_id = f"{ProcessKind.RECORD_CHANGE.value}-{operation}-{ref}"
    client = await temporal()
    attributes = [SearchAttributePair(PROCESS_KIND, ProcessKind.RECORD_CHANGE.value)]
    if getattr(request.change, "account_id", None):
        attributes.append(SearchAttributePair(ACCOUNT_ID, request.change.account_id))
    try:
        handle = await client.start_workflow(
            RecordChange.run,
            request,
            id=process_id,
            task_queue=settings().task_queue,
            # --request-id: the same request again gets the first one's answer
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=operation.replace("-", " "),
            search_attributes=TypedSearchAttributes(attributes),
        )
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle_for(RecordChange.run, process_id)
    # Waits visibly, and at most the starter's wait (exit 6 with the reason).
    result: RecordChangeResult = await answered(
        client, process_id, process_id, handle.result(), resend=ref
    )
    ok = result.stage == RecordStage.DONE
    emit(args, ok, result.message, result)
    return OK if ok else REFUSED


async def cmd_create_ticket(args) -> int:
    return await record_change(
        args,
        {
            "operation": "create-ticket",
            "account_id": args.account,
            "subject": args.subject,
            "text": args.text or "",
        },
    )


async def cmd_ticket_action(args) -> int:
    return await record_change(
        args, {"operation": args.cmd, "ticket_id": args.ticket, "text": args.text or ""}
    )


async def cmd_log_time(args) -> int:
    work_date = args.date or business_today(datetime.now(UTC), Family.PSA)
    return await record_change(
        args,
        {
            "operation": "log-time",
            "ticket_id": args.ticket,
            "minutes": args.minutes,
            "work_date": work_date,
            "note": args.note or "",
        },
    )


async def cmd_approve_time(args) -> int:
    return await record_change(args, {"operation": "approve-time", "time_entry_id": args.entry})


async def cmd_create_sales_item(args) -> int:
    return await record_change(
        args,
        {
            "operation": "create-sales-item",
            "account_id": args.account,
            "description": args.description,
            "quantity": args.quantity,
            "unit_price": price(args.price, "--price"),
        },
    )


async def cmd_move_sales_item(args) -> int:
    return await record_change(
        args, {"operation": "move-sales-item", "sales_item_id": args.item, "account_id": args.to}
    )


def show_record(raw: dict) -> str:
    r = RecordChangeResult.model_validate(raw)
    return f"{r.process_id}\n  {r.operation}: {r.stage.value}: {r.message}"


FORMATTERS[ProcessKind.RECORD_CHANGE.value] = show_record


def register(commands: Commands) -> None:
    def record(name: str, help_: str, fn):
        c = commands.add(name, help_, fn)
        c.add_argument(
            "--request-id",
            type=REQUEST_ID,
            help="make a repeated command the same request (applied once)",
        )
        return c

    c = record("create-ticket", "open a service-desk ticket for a client", cmd_create_ticket)
    c.add_argument("--account", required=True, type=CODE)
    c.add_argument("--subject", required=True)
    c.add_argument("--text")
    for name, help_ in (
        ("answer-ticket", "answer a ticket"),
        ("resolve-ticket", "resolve a ticket"),
        ("close-ticket", "close a ticket"),
    ):
        c = record(name, help_, cmd_ticket_action)
        c.add_argument("ticket", type=RECORD_NUMBER)
        c.add_argument("--text", required=name == "answer-ticket")
    c = record("log-time", "log time on a ticket", cmd_log_time)
    c.add_argument("--ticket", type=RECORD_NUMBER, required=True)
    c.add_argument("--minutes", type=whole(1, 1440), required=True)
    c.add_argument("--date", type=DATE, help="YYYY-MM-DD (default: today)")
    c.add_argument("--note")
    c = record(
        "approve-time",
        "approve a time entry (needs the client's billing information)",
        cmd_approve_time,
    )
    c.add_argument("entry", type=RECORD_NUMBER)
    c = record(
        "create-sales-item",
        "create a sales item for a client (needs its billing information)",
        cmd_create_sales_item,
    )
    c.add_argument("--account", required=True, type=CODE)
    c.add_argument("--description", required=True)
    c.add_argument("--quantity", type=whole(1, 100_000), default=1)
    c.add_argument("--price", required=True)
    c = record(
        "move-sales-item",
        "move a sales item to another client (needs its billing information)",
        cmd_move_sales_item,
    )
    c.add_argument("item", type=RECORD_NUMBER)
    c.add_argument("--to", required=True, type=CODE, help="the client it moves to")
