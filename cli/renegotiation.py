"""Commands of the Dealbuilder renegotiation."""

from decimal import Decimal, InvalidOperation

from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from cli.common import FORMATTERS, Commands, send, start, temporal, waiting_line
from cli.forms import CODE, DATE, RECORD_NUMBER, same_day_ref, validated, whole
from client.failures import NO_PROCESS, BadInput, Failure
from client.processes import ended_stage
from domain.business_time import Family
from domain.renegotiation import MAX_EXTENSION_DAYS, SIGNING_DAYS, Extension, money
from domain.renegotiation_models import ProcessKind, RenegotiationRequest, RenegotiationStatus
from domain.steps import Cancellation, StaffStep
from workflows.renegotiation import Renegotiation


def price(text: str) -> Decimal:
    """450, 450.50 or the Norwegian 450,50."""
    try:
        return Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        raise BadInput(f"--price {text!r} is not an amount; e.g. 450 or 450,50") from None


async def cmd_renegotiate(args) -> int:
    request = validated(
        RenegotiationRequest,
        ticket_id=args.ticket,
        account_id=args.company,
        contact_id=args.contact,
        original_contract_id=args.original_contract,
        licences=args.licences,
        price=price(args.price),
        agreed_start=args.start_date,
        requested_by=args.actor,
    )
    kind = ProcessKind.RENEGOTIATION
    ref = args.ref or same_day_ref(
        kind.value,
        request.model_dump(mode="json", exclude={"requested_by"}),
        family=Family.RENEGOTIATION,
    )
    summary = (
        f"Renegotiation of contract {request.original_contract_id} for company "
        f"{request.account_id} from ticket {request.ticket_id}: {request.licences} "
        f"licences at {money(request.price)}"
    )
    return await start(
        args,
        Renegotiation,
        request,
        kind=kind.value,
        process_id=f"{kind.value}-{request.account_id}-{ref}",
        account_id=request.account_id,
        summary=summary,
    )


async def _refuse_if_ended(process_id: str) -> None:
    """A renegotiation that has ended cannot be signed: say why in its own words."""
    try:
        desc = await (await temporal()).get_workflow_handle(process_id).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return  # `send` says "no process"
        raise
    if desc.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
        return
    stage = ended_stage(desc)
    why = {
        "cancelled": "a cancelled renegotiation cannot be signed; its contract was withdrawn. "
        "Start a new renegotiation if the customer still wants the change",
        "signed": "the contract was already recorded as signed; nothing was done again",
        "refused": "it was refused at start and no contract was sent",
        "declined": "the customer declined the contract on the signing page; customer care "
        "has the ticket back and may start a new renegotiation",
    }.get(stage, "nothing can be sent to it")
    raise Failure(NO_PROCESS, f"the process has ended ({stage}): {why}")


async def cmd_contract_signed(args) -> int:
    await _refuse_if_ended(args.process_id)
    return await send(args, Renegotiation.contract_signed, validated(StaffStep, actor=args.actor))


async def cmd_extend(args) -> int:
    return await send(
        args,
        Renegotiation.extend_signing_deadline,
        validated(Extension, actor=args.actor, days=args.days),
    )


async def cmd_cancel(args) -> int:
    return await send(
        args, Renegotiation.cancel, validated(Cancellation, actor=args.actor, reason=args.reason)
    )


def show_status(raw: dict) -> str:
    s = RenegotiationStatus.model_validate(raw)
    lines = [
        s.process_id,
        f"  kind:        {s.kind.value}",
        f"  stage:       {s.stage.value}",
        waiting_line(s),
        f"  company:     {s.account_id}   ticket: {s.ticket_id}   contact: {s.contact_id}   "
        f"owner: {s.owner}",
        f"  contract:    {s.contract_id or '-'} (renegotiates {s.original_contract_id})   "
        f"deal: {s.deal_id or '-'}",
    ]
    if s.licences_before is not None and s.price_before is not None:
        lines.append(
            f"  licences:    {s.licences_before} -> {s.licences_after}   price: "
            f"{money(s.price_before)} -> {money(s.price_after)}"
        )
    if s.signing_deadline:
        lines.append(
            f"  signing:     sent {s.sent_on}, deadline {s.signing_deadline}, start "
            f"{s.delivery_start}; reminders {s.reminders_sent}, deadlines passed "
            f"{s.deadlines_passed}, extensions {s.extensions}"
        )
    if s.signed_by:
        lines.append(f"  signed:      {s.signed_on}, recorded by {s.signed_by}")
    lines += [f"  record:      {r}" for r in s.records]
    lines += [f"  note:        {n}" for n in s.notes]
    return "\n".join(lines)


FORMATTERS[ProcessKind.RENEGOTIATION.value] = show_status


def register(commands: Commands) -> None:
    c = commands.add(
        "renegotiate",
        "start a renegotiation in Dealbuilder from a ticket: deal, "
        "contract sent by e-mail and SMS, wait for the signature",
        cmd_renegotiate,
    )
    c.add_argument(
        "--ticket",
        required=True,
        type=RECORD_NUMBER,
        help="the ticket the customer's request came in on (its number)",
    )
    c.add_argument(
        "--company", required=True, type=CODE, help="the company's customer card (account id)"
    )
    c.add_argument(
        "--licences", required=True, type=whole(1, 100_000), help="the new number of licences"
    )
    c.add_argument("--price", required=True, help="the new price per licence, NOK (450 or 450,50)")
    c.add_argument(
        "--start-date",
        metavar="YYYY-MM-DD",
        type=DATE,
        help="an agreed start date; default: the day the contract is sent",
    )
    c.add_argument("--contact", required=True, type=CODE, help="the contact with signing authority")
    c.add_argument(
        "--original-contract", required=True, type=CODE, help="the signed contract in force"
    )
    c.add_argument(
        "--ref",
        type=CODE,
        help="your reference; default: the same request on the same day is the same process",
    )

    commands.add(
        "contract-signed",
        "the customer has signed the contract",
        cmd_contract_signed,
        process=True,
        step=True,
    )
    c = commands.add(
        "extend-signing-deadline",
        "give the customer more time to sign (also after the deadline passed)",
        cmd_extend,
        process=True,
        step=True,
    )
    c.add_argument(
        "--days",
        type=whole(1, MAX_EXTENSION_DAYS),
        default=SIGNING_DAYS,
        help=f"days to add, 1 to {MAX_EXTENSION_DAYS} (default {SIGNING_DAYS}); from "
        "the deadline, or from today once it has passed",
    )
    c = commands.add(
        "cancel-renegotiation",
        "cancel: the deal is lost, the contract withdrawn, the ticket closed with the reason",
        cmd_cancel,
        process=True,
        step=True,
    )
    c.add_argument("--reason", required=True)
