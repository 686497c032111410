"""Commands of the CLASSOUND order. `confirm` ("Bestellung bestätigen")
and `cancel` are the commands every order process shares (cli/change_orders.py registers
them); they reach this process's updates of the same names.

Files are checked here, before Temporal is contacted: a bad file is refused with exit 2 and
nothing is stored or sent. A good file is stored in the document store and only its
reference travels to the process; if the process refuses it, the stored copy this command
made is removed again."""

from pathlib import Path

import config
from cli.common import FORMATTERS, Commands, running_handle, send, start, waiting_line
from cli.forms import CODE, DATE, read_text, same_day_ref, validated, whole
from client.failures import NO_PROCESS, REFUSED, BadInput, Failure
from domain.business_time import Family
from domain.classound import (
    MAX_EXTENSION_DAYS,
    CarrierAnswer,
    ClassoundRequest,
    ClassoundStatus,
    DocumentUpload,
    Extension,
    ProcessKind,
    check_no_phone_number,
    parse_flats,
)
from domain.documents import SNIFF_BYTES, DocumentKind, clean_file_name, sniff_content_type
from domain.errors import Refused
from domain.porting_numbers import NumberListError, canonical_list, parse_number_list
from store.documents import DocumentStore, StoredFile, read_upload, sha256_of
from workflows.classound_order import ClassoundOrder


def document_store() -> DocumentStore:
    return DocumentStore(config.documents_dir())


async def sent_or_discarded(stored: StoredFile, sending) -> int:
    """Runs the sending; if the process definitely refused, removes the stored copy this
    command created (an unknown outcome keeps it: the process may already refer to it)."""
    try:
        return await sending
    except Failure as f:
        if stored.created and f.code in (REFUSED, NO_PROCESS):
            document_store().discard(stored.sha256)
        raise


# --- starting -------------------------------------------------------------------------------


def numbers_from(args) -> list[str]:
    numbers: list[str] = []
    if args.numbers:
        text = read_text(args.numbers)
        try:
            numbers += parse_number_list(text)
        except NumberListError as e:
            raise BadInput(f"{args.numbers}: {e}") from None
    if args.number:
        try:
            numbers += parse_number_list("\n".join(args.number), entry="--number")
        except NumberListError as e:
            raise BadInput(str(e)) from None
    if not numbers:
        raise BadInput(
            "give the numbers to port: --number +49... (repeatable) or --numbers FILE "
            "(one number per line)"
        )
    if len(set(numbers)) < len(numbers):
        raise BadInput(f"a number given with --number is also in {args.numbers}")
    return numbers


async def cmd_classound_order(args) -> int:
    try:
        flats = parse_flats(args.flat or [])
    except ValueError as e:
        raise BadInput(str(e)) from None
    numbers = numbers_from(args)
    listing = canonical_list(numbers)
    request = validated(
        ClassoundRequest,
        account_id=args.account,
        pbx_id=args.pbx,
        existing_customer=args.existing_customer,
        flats=flats,
        numbers={"sha256": sha256_of(listing), "count": len(numbers)},
        requested_by=args.actor,
    )
    kind = ProcessKind.CLASSOUND_ORDER
    ref = args.ref or same_day_ref(
        kind.value,
        request.account_id,
        request.pbx_id,
        request.existing_customer,
        {t.value: n for t, n in sorted(flats.items())},
        request.numbers.sha256,
        family=Family.CLASSOUND,
    )
    what = "Classound ordering" if request.existing_customer else "CLASSOUND activation"
    flat_text = ", ".join(f"{t.value}={n}" for t, n in flats.items()) or (
        "none" if request.existing_customer else "one per licence"
    )
    summary = (
        f"{what} on PBX {args.pbx} of account {args.account}: {len(numbers)} number(s) "
        f"to port, CLASSOUND-FLATs {flat_text}"
    )
    # The numbers reach the worker through the document store, never through Temporal.
    stored = document_store().put(listing)
    return await sent_or_discarded(
        stored,
        start(
            args,
            ClassoundOrder,
            request,
            process_id=f"{kind.value}-{request.account_id}-{ref}",
            kind=kind.value,
            account_id=request.account_id,
            summary=summary,
        ),
    )


# --- steps ----------------------------------------------------------------------------------


async def cmd_upload(args) -> int:
    path = Path(args.file)
    try:
        data = read_upload(path)
    except Refused as e:
        raise BadInput(str(e)) from None
    upload = validated(
        DocumentUpload,
        actor=args.actor,
        document={
            "kind": args.kind,
            "file_name": clean_file_name(path.name),
            "content_type": sniff_content_type(data[:SNIFF_BYTES]),
            "size": len(data),
            "sha256": sha256_of(data),
        },
    )
    await running_handle(args.process_id)  # no such process: nothing is stored
    stored = document_store().put(data)
    return await sent_or_discarded(stored, send(args, ClassoundOrder.upload, upload))


async def cmd_extend(args) -> int:
    return await send(
        args, ClassoundOrder.extend, validated(Extension, actor=args.actor, days=args.days)
    )


async def cmd_carrier_answer(args) -> int:
    porting_date = args.porting_date
    if args.refused:
        try:
            check_no_phone_number(args.refused, "refusal reason")
        except Refused as e:
            raise BadInput(str(e)) from None
    return await send(
        args,
        ClassoundOrder.carrier_answer,
        validated(CarrierAnswer, actor=args.actor, porting_date=porting_date, refused=args.refused),
    )


# --- status ---------------------------------------------------------------------------------


def show_status(raw: dict) -> str:
    s = ClassoundStatus.model_validate(raw)
    what = "Classound ordering" if s.existing_customer else "CLASSOUND activation"
    lines = [
        s.process_id,
        f"  kind:        {s.kind.value} ({what})",
        f"  stage:       {s.stage.value}",
        waiting_line(s),
        f"  account:     {s.account_id}   PBX: {s.pbx_id}   partner: {s.partner_id or '-'}",
        f"  order:       {s.numbers} number(s) to port; CLASSOUND-FLATs "
        + (", ".join(f"{t.value}={n}" for t, n in s.flats.items()) or "none"),
    ]
    if s.ticket_id:
        lines.append(f"  ticket:      {s.ticket_id} (reseller: documents)")
    for d in s.documents:
        lines.append(
            f"  document:    {d.kind.value} {d.file_name} ({d.content_type}, "
            f"{d.size} bytes, sha256 {d.sha256[:12]}…) by {d.uploaded_by} "
            f"{d.uploaded_at:%Y-%m-%d %H:%M}"
        )
    if s.missing:
        lines.append(f"  missing:     {', '.join(s.missing)}")
    if s.expires_at:
        escalation = (
            f"escalation {s.escalates_at:%Y-%m-%d %H:%M}, "
            if s.escalates_at and not s.escalation_ticket
            else ""
        )
        lines.append(
            f"  deadlines:   {escalation}expiry {s.expires_at:%Y-%m-%d %H:%M} UTC"
            + (f" (extended by {s.extended_days} days)" if s.extended_days else "")
        )
    if s.reminders_sent or s.escalation_ticket:
        lines.append(
            f"  reminders:   {s.reminders_sent}"
            + (f"; escalated, ticket {s.escalation_ticket}" if s.escalation_ticket else "")
        )
    for a in s.attempts:
        answer = (
            f"refused: {a.refused}"
            if a.refused
            else f"porting on {a.porting_date}"
            if a.porting_date
            else "no answer yet"
        )
        lines.append(
            f"  porting:     request {a.request_id} (attempt {a.attempt}) by "
            f"{a.submitted_by} {a.submitted_at:%Y-%m-%d}: {answer}"
        )
    lines += [f"  billing:     {b}" for b in s.billing]
    lines += [f"  record:      {r}" for r in s.records]
    lines += [f"  note:        {n}" for n in s.notes]
    return "\n".join(lines)


FORMATTERS[ProcessKind.CLASSOUND_ORDER.value] = show_status


def register(commands: Commands) -> None:
    c = commands.add(
        "classound-order",
        "order CLASSOUND with number porting: activation, or Classound ordering for an "
        "existing CLASSOUND customer",
        cmd_classound_order,
    )
    c.add_argument("--account", required=True, type=CODE)
    c.add_argument("--pbx", required=True, type=CODE)
    c.add_argument(
        "--number",
        action="append",
        metavar="+49...",
        help="a number to port from the old carrier, with country code (repeatable)",
    )
    c.add_argument(
        "--numbers", metavar="FILE", help="the numbers to port, one per line (# comments allowed)"
    )
    c.add_argument(
        "--flat",
        action="append",
        metavar="LICENCE=N",
        help="CLASSOUND-FLATs to book on a licence type, e.g. Premium=5 "
        "(repeatable); an activation without --flat books one per licence seat",
    )
    c.add_argument(
        "--existing-customer",
        action="store_true",
        help="Classound ordering: more CLASSOUND services for a PBX that has it",
    )
    c.add_argument(
        "--ref",
        type=CODE,
        help="your reference; default: the same request on the same day is the same process",
    )

    c = commands.add(
        "upload",
        "upload the signed LOA or the last invoice of the old carrier "
        "(PDF, PNG or JPEG, at most 10 MB)",
        cmd_upload,
        process=True,
        step=True,
    )
    c.add_argument("--kind", required=True, choices=[k.value for k in DocumentKind])
    c.add_argument("--file", required=True, metavar="PATH")

    c = commands.add(
        "extend",
        "move the escalation and expiry deadlines of a CLASSOUND order",
        cmd_extend,
        process=True,
        step=True,
    )
    c.add_argument(
        "--days",
        type=whole(1, MAX_EXTENSION_DAYS),
        required=True,
        help=f"1 to {MAX_EXTENSION_DAYS}",
    )

    c = commands.add(
        "carrier-answer",
        "enter the old carrier's answer to the porting request",
        cmd_carrier_answer,
        process=True,
        step=True,
    )
    answer = c.add_mutually_exclusive_group(required=True)
    answer.add_argument(
        "--porting-date",
        metavar="YYYY-MM-DD",
        type=DATE,
        help="the date the carrier ports the numbers: they go live that day",
    )
    answer.add_argument(
        "--refused",
        metavar="REASON",
        help="the carrier refused the porting (no phone numbers in the text)",
    )
