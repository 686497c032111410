"""Commands of the change-order processes."""

import json
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from cli.common import FORMATTERS, Commands, running_handle, send, start, waiting_line
from cli.forms import CODE, QUOTE_ID, read_text, same_day_ref, validated
from client.failures import REFUSED, BadInput, Failure
from domain.business_time import Family
from domain.change_order import (
    Cancellation,
    ChangeOrderRequest,
    FastChangeRequest,
    ProcessKind,
    ProcessStatus,
    QuoteStep,
    Revision,
    StaffStep,
)
from domain.line_syntax import LineSyntaxError, parse_fast_change_line, parse_quote_line
from domain.order_lines import QuoteLine
from workflows.change_order import ChangeOrder
from workflows.fast_change_order import FastChangeOrder


def quote_lines(args, *, required: bool = True) -> list[QuoteLine]:
    try:
        lines = [parse_quote_line(text) for text in args.line or []]
    except LineSyntaxError as e:
        raise BadInput(str(e)) from None
    if args.lines:
        path = Path(args.lines)
        try:
            raw = json.loads(read_text(path))
        except json.JSONDecodeError as e:
            raise BadInput(f"{path} is not JSON: {e}") from None
        try:
            lines += TypeAdapter(list[QuoteLine]).validate_python(raw)
        except ValidationError as e:
            problems = "; ".join(
                f"line {int(err['loc'][0]) + 1 if err['loc'] else '?'}"
                f"{' ' + str(err['loc'][1]) if len(err['loc']) > 1 else ''}: {err['msg']}"
                for err in e.errors()
            )
            raise BadInput(f"{path}: {problems}") from None
    if not lines and required:
        raise BadInput("give at least one --line (e.g. --line Premium=+3) or --lines FILE")
    return lines


def process_id(args, kind: ProcessKind, request) -> str:
    ref = args.ref or same_day_ref(
        kind.value,
        request.account_id,
        request.pbx_id,
        [ln.model_dump(mode="json") for ln in request.lines],
        family=Family.CHANGE_ORDERS,
    )
    return f"{kind.value}-{request.account_id}-{ref}"


async def cmd_fast_change(args) -> int:
    try:
        lines = [parse_fast_change_line(t) for t in args.set]
    except LineSyntaxError as e:
        raise BadInput(str(e)) from None
    request = validated(
        FastChangeRequest,
        account_id=args.account,
        pbx_id=args.pbx,
        lines=lines,
        requested_by=args.actor,
    )
    summary = f"Fast change order on PBX {args.pbx} of account {args.account}: " + ", ".join(
        f"{ln.sku}={ln.quantity}" for ln in lines
    )
    kind = ProcessKind.FAST_CHANGE
    return await start(
        args,
        FastChangeOrder,
        request,
        kind=kind.value,
        process_id=process_id(args, kind, request),
        account_id=args.account,
        summary=summary,
    )


async def cmd_change_order(args) -> int:
    lines = quote_lines(args)
    request = validated(
        ChangeOrderRequest,
        account_id=args.account,
        pbx_id=args.pbx,
        lines=lines,
        requested_by=args.actor,
    )
    summary = f"Change order on PBX {args.pbx} of account {args.account}: {len(lines)} line(s)"
    kind = ProcessKind.CHANGE_ORDER
    return await start(
        args,
        ChangeOrder,
        request,
        kind=kind.value,
        process_id=process_id(args, kind, request),
        account_id=args.account,
        summary=summary,
    )


async def cmd_quote_step(args) -> int:
    update = {"mark-primary": ChangeOrder.mark_primary, "publish": ChangeOrder.publish}[args.cmd]
    quote_id = args.quote
    if quote_id is None:
        handle = await running_handle(args.process_id)
        current = (await handle.query(ChangeOrder.status)).current_quote
        if current is None:
            raise Failure(REFUSED, "the process has no quote yet")
        quote_id = current.quote_id
    return await send(args, update, validated(QuoteStep, actor=args.actor, quote_id=quote_id))


async def cmd_mark_complete(args) -> int:
    return await send(args, ChangeOrder.mark_complete, validated(StaffStep, actor=args.actor))


async def cmd_revise(args) -> int:
    lines = quote_lines(args, required=False)
    remove = [name.strip() for name in args.remove or []]
    if not lines and not remove:
        raise BadInput(
            "give the lines that change (--line Premium=+5, --lines FILE) or go (--remove WP480G)"
        )
    return await send(
        args, ChangeOrder.revise, validated(Revision, actor=args.actor, lines=lines, remove=remove)
    )


async def cmd_confirm(args) -> int:
    return await send(args, FastChangeOrder.confirm, validated(StaffStep, actor=args.actor))


async def cmd_cancel(args) -> int:
    return await send(
        args, FastChangeOrder.cancel, validated(Cancellation, actor=args.actor, reason=args.reason)
    )


def show_status(raw: dict) -> str:
    s = ProcessStatus.model_validate(raw)
    lines = [
        f"{s.process_id}",
        f"  kind:        {s.kind.value}",
        f"  stage:       {s.stage.value}",
        waiting_line(s),
        f"  account:     {s.account_id}   PBX: {s.pbx_id}   partner: {s.partner_id or '-'}",
    ]
    if s.order_id:
        lines.append(f"  order:       {s.order_id}   reminders sent: {s.reminders_sent}")
    for q in s.quotes:
        flags = ", ".join(f for f, on in (("primary", q.primary), ("published", q.published)) if on)
        why = f" - {q.rejection_reason}" if q.rejection_reason else ""
        lines.append(
            f"  quote:       {q.quote_id} v{q.version} {q.status}"
            f"{' (' + flags + ')' if flags else ''}{why}"
        )
    for t in s.targets:
        start_on = f" from {t.start_date}" if t.start_date else ""
        lines.append(f"  total:       {t.sku}={t.total}{start_on}")
    for ln in s.lines:
        start_on = f" from {ln.start_date}" if ln.start_date else ""
        link = f" ({ln.licence_type})" if ln.kind.value == "classound_flat" else ""
        lines.append(f"  line:        {ln.sku}{link} {ln.quantity:+d}{start_on}")
    lines += [f"  changed:     {c}" for c in s.changes]
    for d in s.documents:
        lines.append(
            f"  document:    {d.kind.value} {d.file_name} ({d.content_type}, "
            f"{d.size} bytes, sha256 {d.sha256[:12]}…) by {d.uploaded_by} "
            f"{d.uploaded_at:%Y-%m-%d %H:%M}"
        )
    if s.missing:
        lines.append(f"  missing:     {', '.join(s.missing)} (CLASSOUND-FLAT on the quote)")
    lines += [f"  record:      {r}" for r in s.records]
    lines += [f"  note:        {n}" for n in s.notes]
    return "\n".join(lines)


for _kind in ProcessKind:
    FORMATTERS[_kind.value] = show_status


def register(commands: Commands) -> None:
    def lines_args(c):
        c.add_argument(
            "--line",
            action="append",
            metavar="SKU[:LICENCE]=CHANGE[@DATE]",
            help="a quote line: Premium=+3, Basic=-2, WP480G=2@2026-12-01, "
            "CLASSOUND-FLAT:Premium=2 (repeatable)",
        )
        c.add_argument(
            "--lines",
            metavar="FILE.json",
            help='lines as JSON: [{"sku": "Premium", "quantity": 3, '
            '"start_date": "2026-12-01"}, {"sku": "CLASSOUND-FLAT", '
            '"licence": "Premium", "quantity": 2}]',
        )

    ref_help = "your reference; default: the same request on the same day is the same process"
    c = commands.add(
        "fast-change", "start a fast change order: new licence totals, no quote", cmd_fast_change
    )
    c.add_argument("--account", required=True, type=CODE)
    c.add_argument("--pbx", required=True, type=CODE)
    c.add_argument(
        "--set",
        action="append",
        required=True,
        metavar="LICENCE=TOTAL[@DATE]",
        help="new total of a licence type, e.g. Premium=12 or "
        "Premium=12@2026-12-01 (repeatable); the change is worked out against the "
        "PBX when the partner confirms; reductions take effect at once",
    )
    c.add_argument("--ref", type=CODE, help=ref_help)

    c = commands.add(
        "change-order", "start a change order: a quote for staff to publish", cmd_change_order
    )
    c.add_argument("--account", required=True, type=CODE)
    c.add_argument("--pbx", required=True, type=CODE)
    c.add_argument("--ref", type=CODE, help=ref_help)
    lines_args(c)

    for name, help_ in (
        ("mark-primary", "save & mark the quote as primary (one per project)"),
        ("publish", "submit proposal -> quick publish the primary quote"),
    ):
        c = commands.add(name, help_, cmd_quote_step, process=True, step=True)
        c.add_argument("--quote", type=QUOTE_ID, help="quote id (default: the newest quote)")
    commands.add(
        "mark-complete",
        "mark status as complete: accepted into an order, or rejected",
        cmd_mark_complete,
        process=True,
        step=True,
    )
    c = commands.add(
        "revise",
        "duplicate the quote with changes; the copy keeps every line and becomes primary",
        cmd_revise,
        process=True,
        step=True,
    )
    lines_args(c)
    c.add_argument(
        "--remove",
        action="append",
        metavar="SKU[:LICENCE]",
        help="drop a line of the original from the duplicate, e.g. WP480G or "
        "CLASSOUND-FLAT:Premium (repeatable); --line changes or adds a line",
    )
    commands.add(
        "confirm",
        "the partner confirms the order (Bestellung bestätigen)",
        cmd_confirm,
        process=True,
        step=True,
    )
    c = commands.add(
        "cancel",
        "cancel a process: a change order until applied, a CLASSOUND"
        " order until activation, a client onboarding, a renegotiation",
        cmd_cancel,
        process=True,
        step=True,
    )
    c.add_argument("--reason", required=True)
