"""Commands of customer accounts: fill in or correct an account (how a quote
rejected for a missing mandatory field is fixed), the new pipeline (customer, project and
contact in one step), and `account` to see what a change order on it will act on.

Every value is checked here before anything is sent (exit 2, naming the option and the form
it expects); the activity checks again before it writes."""

import json
import uuid

from pydantic import ValidationError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from cli.common import FORMATTERS, Commands, answered, emit, settings, temporal
from cli.forms import CODE, REQUEST_ID, validated
from cli.records import reading
from client.failures import OK, REFUSED, BadInput, Failure
from domain import ids
from domain.accounts import (
    LABELS,
    AccountChangeRequest,
    AccountChangeStatus,
    AccountKind,
    AccountOverview,
    AccountStage,
    InvalidFields,
    NewPipeline,
    UpdateAccount,
    checked,
)
from domain.errors import Refused
from store import accounts
from workflows.accounts import AccountChange
from workflows.visibility import ACCOUNT_ID, PROCESS_KIND, STAGE

OPTIONS = {
    "account_id": "--account",
    "partner_id": "--partner",
    "project_id": "--project",
    "contact_id": "--contact-id",
    "name": "--name",
    "phone": "--phone",
    "email": "--email",
    "invoice_email": "--invoice-email",
    "project_name": "--project-name",
    "contact_name": "--contact-name",
    "contact_email": "--contact-email",
    "contact_phone": "--contact-phone",
}


def _id(text: str, option: str) -> str:
    """A derived default id (PBX-<account>, C-<account>-1) must have the form too."""
    try:
        return ids.checked(ids.CODE, text, option)
    except ids.IdError as e:
        raise BadInput(str(e)) from None


def _build(model, **fields):
    try:
        return model(**fields)
    except ValidationError as e:  # lengths: the rules themselves are in `checked`
        raise BadInput(
            "; ".join(
                f"{OPTIONS.get(str(err['loc'][0]), err['loc'][0])}: {err['msg']}"
                for err in e.errors()
            )
        ) from None


def _checked(change):
    """Every bad value named by its option, with the form expected: exit 2, nothing sent."""
    try:
        return checked(change)
    except InvalidFields as e:
        raise BadInput(
            "; ".join(f"{OPTIONS.get(f, LABELS.get(f, f))}: {m}" for f, m in e.problems.items())
        ) from None
    except Refused as e:
        raise BadInput(str(e)) from None


async def run_change(args, change) -> int:
    """Starts the change as its own short process and waits for its outcome. The same
    --request-id again joins the first one and gets its answer: nothing is done twice."""
    request = validated(AccountChangeRequest, actor=args.actor, change=change)
    ref = args.request_id or uuid.uuid4().hex[:12]
    operation, account = request.change.operation, request.change.account_id
    process_id = f"{AccountKind.ACCOUNT_CHANGE.value}-{operation}-{account}-{ref}"
    client = await temporal()
    try:
        handle = await client.start_workflow(
            AccountChange.run,
            request,
            id=process_id,
            task_queue=settings().task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"{operation.replace('-', ' ')} of account {account}",
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(PROCESS_KIND, AccountKind.ACCOUNT_CHANGE.value),
                    SearchAttributePair(ACCOUNT_ID, account),
                ]
            ),
        )
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle_for(AccountChange.run, process_id)
    result: AccountChangeStatus = await answered(
        client, process_id, f"process {process_id}", handle.result()
    )
    ok = result.stage == AccountStage.DONE
    emit(args, ok, result.message + f"\nprocess id: {process_id}", result)
    return OK if ok else REFUSED


async def cmd_update_account(args) -> int:
    change = _build(
        UpdateAccount,
        account_id=args.account,
        name=args.name,
        phone=args.phone,
        email=args.email,
        invoice_email=args.invoice_email,
    )
    if all(getattr(change, f) is None for f in ("name", "phone", "email", "invoice_email")):
        raise BadInput(
            "nothing to change: give at least one of --name, --phone, --email, --invoice-email"
        )
    return await run_change(args, _checked(change).model_dump())


async def cmd_new_pipeline(args) -> int:
    account = args.account
    change = _build(
        NewPipeline,
        account_id=account,
        name=args.name,
        partner_id=args.partner,
        phone=args.phone,
        email=args.email,
        invoice_email=args.invoice_email,
        project_id=_id(args.project or f"PBX-{account}", "--project"),
        project_name=args.project_name or args.name,
        contact_id=_id(args.contact_id or f"C-{account}-1", "--contact-id"),
        contact_name=args.contact_name,
        contact_email=args.contact_email or "",
        contact_phone=args.contact_phone or "",
    )
    return await run_change(args, _checked(change).model_dump())


def show_change(raw: dict) -> str:
    s = AccountChangeStatus.model_validate(raw)
    return f"{s.process_id}\n  {s.operation}: {s.stage.value}: {s.message}"


FORMATTERS[AccountKind.ACCOUNT_CHANGE.value] = show_change


# --- the overview -----------------------------------------------------------------------------


async def open_processes(client, account_id: str) -> list[dict]:
    """From Temporal's visibility (eventually consistent: a process started a moment ago may
    be missing for a second)."""
    query = (
        f"{ACCOUNT_ID.name} = {json.dumps(account_id)} AND ExecutionStatus = 'Running'"
        f" AND {PROCESS_KIND.name} IS NOT NULL"
    )
    rows = []
    async for wf in client.list_workflows(query, limit=100):
        sa = wf.typed_search_attributes
        rows.append(
            {
                "process_id": wf.id,
                "kind": sa.get(PROCESS_KIND),
                "stage": sa.get(STAGE),
                "started": wf.start_time.isoformat(timespec="seconds"),
            }
        )
    return sorted(rows, key=lambda r: r["started"])


def show_overview(o: AccountOverview, processes: list[dict]) -> str:
    a = o.account
    if a is None:  # refused: the overview says why
        return o.refused or "no such account"
    lines = [f"{a.id}  {a.name}  (partner {a.partner_id}, {a.partner_name})"]
    for label, value in (
        ("phone", a.phone),
        ("e-mail", a.email),
        ("invoice e-mail", a.invoice_email),
    ):
        lines.append(f"  {label + ':':<16}{value or '(missing)'}")
    missing = a.missing()
    if missing:
        lines.append(
            f"  {'quotes:':<16}rejected until {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} filled in "
            f"(starter.py update-account --account {a.id} ...)"
        )
    for c in o.contacts:
        details = ", ".join(v for v in (c.email, c.phone) if v)
        lines.append(f"  {'contact:':<16}{c.id} {c.name}" + (f" ({details})" if details else ""))
    for p in o.pbxs:
        lines.append(f'  PBX {p.id} "{p.name}" ({"active" if p.active else "not active"})')
        totals = p.licence_totals()
        for licence, total in totals.items():
            blocks = [b for b in p.licences if b.licence_type == licence]
            since = " + ".join(f"{b.quantity} from {b.start_date}" for b in blocks)
            lines.append(f"    {'licence:':<14}{licence} {total} ({since})")
        if not totals:
            lines.append(f"    {'licences:':<14}none")
        for pr in p.products:
            lines.append(f"    {pr.kind + ':':<14}{pr.sku} x{pr.quantity} from {pr.start_date}")
        for f in p.flats:
            dids = ", ".join(f.dids) or "no DIDs"
            lines.append(
                f"    {'flat:':<14}CLASSOUND-FLAT {f.id} on {f.licence_type} from "
                f"{f.start_date}: {dids}"
            )
        for d in p.dids_without_flat:
            lines.append(f"    {'DID:':<14}{d.number} ({d.status}, on no flat)")
    if processes:
        lines.append("  open processes:")
        lines += [f"    {r['process_id']:<50} {r['stage'] or '-'}" for r in processes]
    else:
        lines.append("  open processes: none")
    return "\n".join(lines)


async def cmd_account(args) -> int:
    """Read from PostgreSQL (cli/records.py `reading`); the open processes from Temporal's
    visibility. Neither starts anything."""
    async with reading(f"the account {args.account}") as conn:
        overview = await accounts.overview(conn, args.account)
    if overview.refused:
        raise Failure(REFUSED, overview.refused)
    processes = await open_processes(await temporal(), args.account)
    emit(
        args,
        True,
        show_overview(overview, processes),
        {**overview.model_dump(mode="json"), "open_processes": processes},
    )
    return OK


def register(commands: Commands) -> None:
    def change(name: str, help_: str, fn):
        c = commands.add(name, help_, fn)
        c.add_argument(
            "--request-id",
            type=REQUEST_ID,
            help="make a repeated command the same request (applied once)",
        )
        return c

    c = change(
        "update-account",
        "fill in or correct an account's name, phone, e-mail or "
        "invoice e-mail (then mark a rejected quote complete again)",
        cmd_update_account,
    )
    c.add_argument("--account", required=True, type=CODE, help="the account id, e.g. BERGMANN")
    c.add_argument("--name", help="the customer's name")
    c.add_argument("--phone", help='international form, e.g. "+49 30 1234567"')
    c.add_argument("--email", help="the account's e-mail, e.g. info@company.example")
    c.add_argument("--invoice-email", help="where invoices go, e.g. rechnung@company.example")

    c = change(
        "new-pipeline",
        "customer, project and contact in one step, with phone, e-mail and invoice e-mail",
        cmd_new_pipeline,
    )
    c.add_argument("--account", required=True, type=CODE, help="the new account's id, e.g. NEWCO")
    c.add_argument("--name", required=True, help='the customer\'s name, e.g. "NewCo GmbH"')
    c.add_argument("--partner", required=True, type=CODE, help="the reseller, e.g. P-NORDTEL")
    c.add_argument("--phone", required=True, help='international form, e.g. "+49 30 1234567"')
    c.add_argument("--email", required=True, help="the account's e-mail")
    c.add_argument("--invoice-email", required=True, help="where invoices go")
    c.add_argument(
        "--project",
        type=CODE,
        help="the project (PBX) id (default PBX-<account>); it is not active until delivered",
    )
    c.add_argument("--project-name", help="default: the customer's name")
    c.add_argument("--contact-name", required=True, help="the customer's contact person")
    c.add_argument("--contact-id", type=CODE, help="default C-<account>-1")
    c.add_argument("--contact-email")
    c.add_argument("--contact-phone", help="international form")

    c = commands.add(
        "account",
        "an account's fields, contacts, PBXs, licences, products, "
        "CLASSOUND-FLATs, DIDs and open processes: what a change order acts on",
        cmd_account,
    )
    c.add_argument("account", type=CODE, help="the account id, e.g. BERGMANN")
