"""Commands of the PSA processes: onboarding a client, the onboarding
campaign over all existing clients, the invoicing run, and staff changes of tickets, time
entries and sales items (which the store gates on billing information)."""

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)

from cli import service_desk
from cli.common import (
    FORMATTERS,
    Commands,
    answered,
    emit,
    send,
    settings,
    start,
    temporal,
    waiting_line,
)
from cli.forms import CODE, DATE, price, validated, whole
from cli.terminal import harmless
from client.failures import OK, BadInput, Failure, update_failure
from client.processes import ANY_END
from domain.billing_information import BillingInformation
from domain.business_time import Family, business_today
from domain.contracts import ContractTerms, PartChange
from domain.errors import Refused
from domain.invoicing import parse_period, period_label
from domain.psa import (
    BillingInformationStep,
    CampaignRequest,
    CampaignStatus,
    ContractTermsStep,
    InvoicingRequest,
    InvoicingStatus,
    NumberingReview,
    OnboardingRequest,
    OnboardingStatus,
    PartChangesStep,
    ProcessKind,
    onboarding_id,
    progress_line,
)
from domain.steps import StaffStep
from workflows.client_onboarding import ClientOnboarding
from workflows.invoicing_run import InvoicingRun
from workflows.onboarding_campaign import OnboardingCampaign
from workflows.visibility import PARTNER_ID, PROCESS_KIND


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadInput(f"{what}: {text!r} is not a whole number") from None


def _pair(text: str, option: str) -> tuple[str, str]:
    sku, sep, value = text.partition("=")
    if not sep or not sku.strip() or not value.strip():
        raise BadInput(f"{option} {text!r}: give SKU=VALUE")
    return sku.strip(), value.strip()


# --- client onboarding ----------------------------------------------------------------------


async def cmd_onboard(args) -> int:
    request = validated(OnboardingRequest, account_id=args.account, requested_by=args.actor)
    process_id = onboarding_id(args.account)
    try:
        # An ended onboarding (cancelled, say) may be started again, as the campaign does.
        return await start(
            args,
            ClientOnboarding,
            request,
            process_id=process_id,
            kind=ProcessKind.CLIENT_ONBOARDING.value,
            account_id=args.account,
            summary=f"Onboarding of client {args.account}",
            again_after=ANY_END,
        )
    except Failure as f:
        if "already exists" not in str(f):
            raise
        # One onboarding per client: say so, and where it stands.
        stage = str(f).split(":")[0].removeprefix(f"{process_id} already exists ")
        raise Failure(
            f.code,
            f"client {args.account} is being onboarded already {stage}; "
            f"see `starter.py status {process_id}`",
        ) from None


async def cmd_billing_info(args) -> int:
    info = validated(
        BillingInformation,
        legal_name=args.legal_name,
        street=args.street,
        postal_code=args.postal_code,
        city=args.city,
        country=args.country,
        billing_email=args.billing_email,
        currency=args.currency,
        tax_id=args.tax_id,
        payment_terms_days=None
        if args.payment_terms is None
        else _int(args.payment_terms, "--payment-terms"),
    )
    return await send(
        args,
        ClientOnboarding.billing_information,
        validated(BillingInformationStep, actor=args.actor, info=info),
    )


async def cmd_contract_terms(args) -> int:
    terms = validated(
        ContractTerms,
        start_date=args.start,
        end_date=args.end,
        payment_method=args.payment,
        mandate_reference=args.mandate,
    )
    return await send(
        args,
        ClientOnboarding.contract_terms,
        validated(ContractTermsStep, actor=args.actor, terms=terms),
    )


def part_changes(args) -> list[PartChange]:
    """--add adds units (to the part at its price, or a new part); --quantity and --price
    replace them; --remove drops the part. --quantity and --price may go together; each
    other pairing for one SKU is refused, so that nothing is read two ways."""
    changes: dict[str, dict] = {}
    named: dict[str, list[str]] = {}

    def change(sku: str, option: str) -> dict:
        if option in named.setdefault(sku, []):
            raise BadInput(f"{sku}: {option} given twice; give one change per part")
        named[sku].append(option)
        if len(named[sku]) > 1 and set(named[sku]) != {"--price", "--quantity"}:
            raise BadInput(
                f"{sku}: {' and '.join(named[sku])} together; --add adds units, "
                "--quantity and --price replace them, --remove drops the part"
            )
        return changes.setdefault(sku, {"sku": sku})

    for text in args.price or []:
        sku, value = _pair(text, "--price")
        change(sku, "--price")["unit_price"] = price(value, f"--price {sku}")
    for text in args.quantity or []:
        sku, value = _pair(text, "--quantity")
        change(sku, "--quantity")["quantity"] = _int(value, f"--quantity {sku}")
    for text in args.add or []:
        sku, value = _pair(text, "--add")
        quantity, _, unit_price = value.partition("@")
        c = change(sku, "--add")
        c["add"] = _int(quantity, f"--add {sku}")
        if unit_price:
            c["unit_price"] = price(unit_price, f"--add {sku}")
    for sku in args.remove or []:
        change(sku.strip(), "--remove")["remove"] = True
    if not changes:
        raise BadInput("give at least one --price, --quantity, --add or --remove")
    return [validated(PartChange, **c) for c in changes.values()]


async def cmd_change_parts(args) -> int:
    return await send(
        args,
        ClientOnboarding.change_parts,
        validated(PartChangesStep, actor=args.actor, changes=part_changes(args)),
    )


async def cmd_confirm_contract(args) -> int:
    return await send(
        args, ClientOnboarding.confirm_contract, validated(StaffStep, actor=args.actor)
    )


def show_onboarding(raw: dict) -> str:
    s = OnboardingStatus.model_validate(raw)
    lines = [
        s.process_id,
        f"  stage:       {s.stage.value}",
        waiting_line(s),
        f"  client:      {s.account_id}   partner: {s.partner_id or '-'}"
        + (f"   campaign: {s.campaign_id}" if s.campaign_id else ""),
        f"  billing:     {'provided' if s.billing_information else 'missing'}"
        + (f" ({s.currency})" if s.currency else ""),
    ]
    if s.terms:
        t = s.terms
        lines.append(
            f"  terms:       from {t.start_date} to {t.end_date or 'open end'}, "
            f"{t.payment_method.value}, billed monthly"
        )
    if s.contract_id:
        state = "active" if s.contract_active else "draft"
        lines.append(
            f"  contract:    {s.contract_id} ({state})"
            + (f", {s.currency} {s.monthly_total} a month" if s.monthly_total else "")
        )
    for p in s.parts:
        price = f"{p.unit_price}" if p.unit_price is not None else "NO PRICE"
        listed = f" (list {p.list_price})" if p.list_price is not None else ""
        lines.append(f"  part:        {p.sku} x{p.quantity} at {price}{listed}")
    lines += [f"  lacks:       {item}" for item in s.lacks]
    lines += [f"  note:        {n}" for n in s.notes]
    return "\n".join(lines)


# --- onboarding campaign --------------------------------------------------------------------


def campaign_id(partner_id: str | None) -> str:
    return f"{ProcessKind.ONBOARDING_CAMPAIGN.value}-{partner_id or 'all'}"


class Progress:
    """A bar on a terminal; plain lines (at most every few seconds) when not a tty.
    `clock` is injectable so tests do not depend on the machine's uptime."""

    def __init__(
        self, stream=sys.stderr, every: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream, self.every, self.clock = stream, every, clock
        self.tty = stream.isatty()
        # None = nothing printed yet. Never 0.0: monotonic() starts near 0 at boot.
        self.last_line, self.last_at = "", None  # type: str, float | None

    def show(self, s: CampaignStatus) -> None:
        p = s.progress
        total = max(p.total, p.handled, 1)
        if self.tty:
            width = 30
            filled = int(width * p.handled / total)
            self.stream.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] "
                f"{p.handled}/{max(p.total, p.handled)} "
                f"({100 * p.handled // total}%) started {p.started}, "
                f"already onboarding {p.already_onboarding}   "
            )
            self.stream.flush()
            return
        line = f"{s.process_id}: {progress_line(p, done=s.finished)}"
        now = self.clock()
        due = self.last_at is None or now - self.last_at >= self.every
        if line != self.last_line and (s.finished or due):
            print(line, file=self.stream, flush=True)
            self.last_line, self.last_at = line, now

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


async def follow_campaign(handle, args) -> CampaignStatus:
    """Polls the campaign's status (across its continue-as-new runs) until it is done."""
    progress = None if args.json else Progress()
    while True:
        status: CampaignStatus = await handle.query(OnboardingCampaign.status)
        if progress:
            progress.show(status)
        if status.finished:
            if progress:
                progress.close()
            return status
        await asyncio.sleep(args.poll)


async def cmd_onboard_all(args) -> int:
    request = validated(
        CampaignRequest,
        partner_id=args.partner,
        requested_by=args.actor,
        batch_size=args.batch_size,
        window=args.window,
    )
    process_id = campaign_id(args.partner)
    client = await temporal()
    attributes = [SearchAttributePair(PROCESS_KIND, ProcessKind.ONBOARDING_CAMPAIGN.value)]
    if args.partner:
        attributes.append(SearchAttributePair(PARTNER_ID, args.partner))
    scope = f"partner {args.partner}" if args.partner else "all partners"
    start_op = WithStartWorkflowOperation(
        OnboardingCampaign.run,
        request,
        id=process_id,
        task_queue=settings().task_queue,
        # One campaign at a time per scope: running the command again joins it; once it
        # has ended, a new one starts and skips what is onboarding or done.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Onboarding campaign: every client of {scope} lacking billing "
        "information or a contract",
        search_attributes=TypedSearchAttributes(attributes),
    )
    try:
        answer = await answered(
            client,
            process_id,
            f"campaign {process_id}",
            client.execute_update_with_start_workflow(
                OnboardingCampaign.started, start_workflow_operation=start_op
            ),
        )
    except WorkflowUpdateFailedError as e:
        raise update_failure(e) from None
    # No run id: queries follow the campaign across continue-as-new.
    handle = client.get_workflow_handle(process_id)
    if args.no_wait:
        status = await handle.query(OnboardingCampaign.status)
        emit(args, True, f"{answer.message}\nprocess id: {process_id}", status)
        return OK
    if not args.json:
        said = answer.message.removeprefix(process_id + " started: ")
        print(harmless(f"{process_id}: {said}"), flush=True)
    status = await follow_campaign(handle, args)
    emit(args, True, f"{process_id} done: {progress_line(status.progress, done=True)}", status)
    return OK


def show_campaign(raw: dict) -> str:
    s = CampaignStatus.model_validate(raw)
    p = s.progress
    return "\n".join(
        [
            s.process_id,
            f"  stage:       {s.stage.value}",
            f"  progress:    {progress_line(p, done=s.finished)}",
            f"  scope:       {('partner ' + s.partner_id) if s.partner_id else 'all partners'}",
            f"  runs:        {p.runs} (it continues as new after every page of clients)",
            f"  next after:  {p.cursor or '-'}",
        ]
    )


# --- invoicing run --------------------------------------------------------------------------


async def cmd_invoice_run(args) -> int:
    period_text = args.period or f"{business_today(datetime.now(UTC), Family.PSA):%Y-%m}"
    try:
        period = parse_period(period_text)
    except Refused as e:
        raise BadInput(str(e)) from None
    request = validated(
        InvoicingRequest,
        partner_id=args.partner,
        period=period,
        requested_by=args.actor,
        batch_size=args.batch_size,
    )
    process_id = f"{ProcessKind.INVOICING_RUN.value}-{args.partner}-{period_label(period)}" + (
        f"-{args.ref}" if args.ref else ""
    )
    return await start(
        args,
        InvoicingRun,
        request,
        process_id=process_id,
        kind=ProcessKind.INVOICING_RUN.value,
        account_id=None,
        summary=f"Invoicing run {period_label(period)} of partner {args.partner}",
    )


async def cmd_review_numbering(args) -> int:
    review = validated(
        NumberingReview,
        actor=args.actor,
        prefix=args.prefix,
        next_number=None if args.next_number is None else _int(args.next_number, "--next-number"),
        format=args.format,
    )
    return await send(args, InvoicingRun.review_numbering, review)


def show_invoicing(raw: dict) -> str:
    s = InvoicingStatus.model_validate(raw)
    lines = [
        s.process_id,
        f"  stage:       {s.stage.value}",
        waiting_line(s),
        f"  partner:     {s.partner_id}   period: {s.period}",
    ]
    if s.numbering:
        n = s.numbering
        reviewed = (
            f"reviewed by {n.confirmed_by} {n.confirmed_at:%Y-%m-%d}"
            if n.reviewed
            else "NOT REVIEWED"
        )
        lines.append(
            f"  numbering:   prefix {n.prefix!r}, next {n.next_number}, format "
            f"{n.format} ({reviewed}); next invoice {s.next_invoice_number}"
        )
    if s.issued:
        lines.append(
            f"  issued:      {s.issued} ({s.first_number} to {s.last_number})"
            if s.issued > 1
            else f"  issued:      1 ({s.first_number})"
        )
    if s.already_issued:
        lines.append(f"  before:      {s.already_issued} already issued for {s.period}")
    lines += [f"  note:        {n}" for n in s.notes]
    return "\n".join(lines)


FORMATTERS[ProcessKind.CLIENT_ONBOARDING.value] = show_onboarding
FORMATTERS[ProcessKind.ONBOARDING_CAMPAIGN.value] = show_campaign
FORMATTERS[ProcessKind.INVOICING_RUN.value] = show_invoicing


def register(commands: Commands) -> None:
    c = commands.add(
        "onboard",
        "start onboarding an existing client: billing information, contract, part prices",
        cmd_onboard,
    )
    c.add_argument("--account", required=True, type=CODE, help="the client (account id)")

    c = commands.add(
        "billing-info",
        "provide the client's billing information (every bad field is named in the refusal)",
        cmd_billing_info,
        process=True,
        step=True,
    )
    for option, help_ in (
        ("--legal-name", "registered company name"),
        ("--street", "street and number"),
        ("--postal-code", None),
        ("--city", None),
        ("--country", "ISO 3166 code, e.g. DE"),
        ("--billing-email", "where invoices go"),
        ("--currency", "ISO 4217 code, e.g. EUR"),
        ("--payment-terms", "days net, 0 to 90"),
        ("--tax-id", "VAT number with country prefix, e.g. DE123456789"),
    ):
        c.add_argument(option, default=None if option == "--payment-terms" else "", help=help_)

    c = commands.add(
        "contract-terms",
        "payment details and contract period of the client's "
        "contract (may change until it is confirmed)",
        cmd_contract_terms,
        process=True,
        step=True,
    )
    c.add_argument("--start", required=True, type=DATE, help="YYYY-MM-DD")
    c.add_argument("--end", type=DATE, help="YYYY-MM-DD; none: runs until ended")
    c.add_argument("--payment", required=True, choices=["bank-transfer", "direct-debit"])
    c.add_argument("--mandate", help="SEPA mandate reference (direct debit)")

    c = commands.add(
        "change-parts",
        "add units or parts, replace prices or quantities, or "
        "remove parts of the draft (the answer shows the parts before and after)",
        cmd_change_parts,
        process=True,
        step=True,
    )
    c.add_argument(
        "--price",
        action="append",
        metavar="SKU=PRICE",
        help="replace the part's monthly unit price",
    )
    c.add_argument(
        "--quantity", action="append", metavar="SKU=N", help="replace the part's quantity"
    )
    c.add_argument(
        "--add",
        action="append",
        metavar="SKU=N[@PRICE]",
        help="add N units: to the part, at its price (another price is refused), "
        "or as a new part (default price: the list price)",
    )
    c.add_argument("--remove", action="append", metavar="SKU")

    commands.add(
        "confirm-contract",
        "confirm the part prices: the contract becomes active and the client is onboarded",
        cmd_confirm_contract,
        process=True,
        step=True,
    )

    c = commands.add(
        "onboard-all",
        "onboard every existing client lacking billing "
        "information or a contract (a campaign; shows its progress)",
        cmd_onboard_all,
    )
    c.add_argument("--partner", type=CODE, help="only this partner's clients (default: all)")
    c.add_argument(
        "--batch-size",
        type=whole(1, 1000),
        default=250,
        help="clients per run of the campaign (it continues as new between)",
    )
    c.add_argument(
        "--window",
        type=whole(1, 200),
        default=25,
        help="onboardings being started at the same time",
    )
    c.add_argument("--no-wait", action="store_true", help="start (or join) it and return")
    c.add_argument("--poll", type=float, default=1.0, help=argparse.SUPPRESS)

    c = commands.add(
        "invoice-run",
        "issue the invoices of a month for a partner's active "
        "contracts (the first run asks for a numbering review)",
        cmd_invoice_run,
    )
    c.add_argument("--partner", required=True, type=CODE)
    c.add_argument("--period", help="YYYY-MM (default: this month)")
    c.add_argument("--ref", type=CODE, help="a separate run of the same period")
    c.add_argument(
        "--batch-size", type=whole(1, 1000), default=100, help="invoices per transaction"
    )

    c = commands.add(
        "review-numbering",
        "confirm the invoice numbering, optionally changed",
        cmd_review_numbering,
        process=True,
        step=True,
    )
    c.add_argument("--prefix")
    c.add_argument("--next-number")
    c.add_argument("--format", help="placeholders {prefix} {year} {month} {number} {number:06}")
    service_desk.register(commands)
