"""Who may do what, on the dev server with the real workflows and activities and
the demo's people directory: the permission table's rows, allowed and refused, through each
process's start and updates, table-driven (one worker, many cases); the impersonations of the
issue; a step that bypasses the workflow's check refused by the store; the security log.

A row's verdict is read where it is decided: a refusal by the permission check is a row of
the security log (who, which step, which process) and a refusal to the sender with its reason;
an allowed step leaves no security log row (what the step then does is its own business)."""

import asyncio
import itertools
import uuid
from datetime import date
from decimal import Decimal

import pytest
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy

from activities.change_orders import ChangeOrderActivities
from activities.people import Authorization, Verdict
from domain.accounts import AccountChangeRequest, UpdateAccount
from domain.change_order import ChangeOrderRequest, FastChangeRequest, QuoteStep, Revision
from domain.classound import ClassoundRequest, DocumentUpload, Extension
from domain.documents import DocumentKind
from domain.leads import (
    LeadStepRequest,
    QueuePartners,
    RouterRequest,
    lead_step_process_id,
    queue_process_id,
)
from domain.order_lines import FastChangeLine, QuoteLine
from domain.partners import (
    Deactivation,
    Invitation,
    PartnerAccountRequest,
    PartnerManagementRequest,
    partner_account_process_id,
)
from domain.psa import (
    BillingInformationStep,
    InvoicingRequest,
    NumberingReview,
    OnboardingRequest,
)
from domain.renegotiation_models import RenegotiationRequest
from domain.service_desk import CreateTicket, RecordChangeRequest
from domain.steps import Cancellation, StaffStep
from store import demo
from store.db import connect, create_pool
from store.documents import DocumentStore
from tests.conftest import new_database
from tests.records import licence_totals
from tests.records_classound import store_numbers, stored_document
from tests.records_partners import PASSWORD_HASH
from tests.records_psa import billing
from tests.workflows.harness import running_worker, start_process
from workflows.accounts import AccountChange
from workflows.change_order import ChangeOrder
from workflows.classound_order import ClassoundOrder
from workflows.client_onboarding import ClientOnboarding
from workflows.fast_change_order import FastChangeOrder
from workflows.invoicing_run import InvoicingRun
from workflows.lead_queue_router import LeadQueueRouter
from workflows.lead_step import LeadStep
from workflows.partner_onboarding import PartnerManagement, PartnerOnboarding
from workflows.record_change import RecordChange
from workflows.renegotiation import Renegotiation

# The demo's people (store/demo.py): one staff member per role, the partners' users, a signer
SALES, CARE, INVOICE, CSC, CM, FIN, ADMIN = (
    "ops-ben",
    "care-carl",
    "inv-ines",
    "csc-kari",
    "cm-eva",
    "fin-finn",
    "admin-ida",
)
NORD, ALP, NORD_INVITED, SIGNER = "C-NORD-1", "C-ALP-1", "C-NORD-2", "C-FJORD-1"
ALPCOM_IS_NOT_NORDTEL = "C-ALP-1 is a user of partner P-ALPCOM; this order is for P-NORDTEL"


@pytest.fixture(autouse=True)
def documents(tmp_path, monkeypatch):
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(tmp_path / "documents"))
    return DocumentStore(tmp_path / "documents")


@pytest.fixture(scope="module")
async def people_pool(postgres_admin_dsn):
    """The demo data and its directory only (no test staff): roles matter here. Partner
    management on, both demo partners are partner accounts of cm-eva, C-NORD-1 and C-ALP-1
    active partner users, C-NORD-2 invited; a signer of ACME besides FJORDBYGG's."""
    dsn = await new_database(postgres_admin_dsn, "partnerflow_perms", test_staff=False)
    conn = await connect(dsn)
    try:
        await demo.load(conn)
        await conn.execute(
            "INSERT INTO partner_management (enabled_by, process_id) VALUES ('admin-ida', 'tests')"
        )
        for partner in ("P-NORDTEL", "P-ALPCOM"):
            await conn.execute(
                "INSERT INTO partner_accounts (partner_id, channel_manager,"
                " process_id, created_by) VALUES ($1, 'cm-eva', 'tests',"
                " 'cm-eva')",
                partner,
            )
        for user, partner in ((NORD, "P-NORDTEL"), (ALP, "P-ALPCOM")):
            await conn.execute(
                "INSERT INTO partner_users (id, partner_id, status, password_hash,"
                " first_login_at, invited_by) VALUES ($1, $2, 'active', $3, now(), 'cm-eva')",
                user,
                partner,
                PASSWORD_HASH,
            )
        await conn.execute(
            "INSERT INTO partner_users (id, partner_id, invited_by)"
            " VALUES ($1, 'P-NORDTEL', 'cm-eva')",
            NORD_INVITED,
        )
        await conn.execute(
            "INSERT INTO contacts (id, account_id, name, email, phone, signing_authority)"
            " VALUES ('C-ACME-9', 'ACME', 'Ada Acme', 'ada@acme.example', '+49 30 1', true)"
        )
        await _second_renegotiation_customer(conn)
    finally:
        await conn.close()
    pool = await create_pool(dsn, max_size=6)
    yield pool
    await pool.close()


async def _second_renegotiation_customer(conn) -> None:
    """Like the demo's FJORDBYGG (a signed contract, a signer, a ticket): FJELL, ticket 1002."""
    await conn.execute(
        "INSERT INTO accounts (id, name, partner_id, phone, email, invoice_email) VALUES"
        " ('FJELL', 'Fjell AS', 'P-AVONOVA', '+47 22 55 50 200', 'post@fjell.example',"
        " 'faktura@fjell.example')"
    )
    await conn.execute(
        "INSERT INTO contacts (id, account_id, name, email, phone, signing_authority) VALUES"
        " ('C-FJELL-1', 'FJELL', 'Ola Fjell', 'ola@fjell.example', '+47 900 55 502', true)"
    )
    await conn.execute(
        "INSERT INTO tickets (id, queue, subject, body, account_id) VALUES"
        " (1002, 'customer_care', 'Endring', 'Færre lisenser.', 'FJELL')"
    )
    await conn.execute("SELECT setval(pg_get_serial_sequence('tickets', 'id'), 1002)")
    await conn.execute(
        "INSERT INTO contracts (id, account_id, template, licences, price, terms, status,"
        " signed_on, signatory_contact_id) VALUES ('K-FJELL', 'FJELL',"
        " 'Avtale om Avonova Assist', 25, 390.00, $1, 'signed', '2024-03-01', 'C-FJELL-1')",
        {"binding_months": 12, "invoicing": "kvartalsvis"},
    )
    await conn.executemany(
        "INSERT INTO contract_lines (contract_id, line_no, kind, product, quantity, unit_price,"
        " discount_percent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [("K-FJELL", 1, "licence", "Avonova Assist", 25, 390, 0)],
    )
    await conn.execute(
        "INSERT INTO product_access (account_id, product, access_count)"
        " VALUES ('FJELL', 'Avonova digital', 25)"
    )


@pytest.fixture(scope="module")
async def env(dev_env):
    return dev_env


def pid(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


async def logged(pool, actor: str, permission: str, process_id: str) -> list[str]:
    return [
        r["reason"]
        for r in await pool.fetch(
            "SELECT reason FROM security_log WHERE actor = $1 AND permission = $2"
            " AND process_id = $3",
            actor,
            permission,
            process_id,
        )
    ]


async def expect_refused(
    pool, handle, update, arg, permission: str, reason: str | None = None
) -> str:
    """The step is refused by the permission check: the sender is told why, the security log
    has the row, nothing is written (no new audit row: every write is one)."""
    written = "SELECT count(*) FROM audit_log WHERE process_id = $1"
    before = await pool.fetchval(written, handle.id)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(update, arg)
    message = err.value.cause.message
    rows = await logged(pool, arg.actor, permission, handle.id)
    assert rows == [message], (permission, arg.actor, message, rows)
    if reason is not None:
        assert message == reason or reason in message, (message, reason)
    assert await pool.fetchval(written, handle.id) == before
    return message


async def expect_allowed(pool, handle, update, arg, permission: str):
    """The permission check lets the step through (no security log row); its answer, or the
    business refusal it met, is returned."""
    try:
        answer = await handle.execute_update(update, arg)
    except WorkflowUpdateFailedError as e:
        answer = e
    assert await logged(pool, arg.actor, permission, handle.id) == [], (
        permission,
        arg.actor,
        answer,
    )
    return answer


async def start(env, q, workflow, request, process_id: str, *, refused: bool = False):
    handle, answer = await start_process(env.client, q, workflow, request, process_id=process_id)
    if not refused:
        assert not isinstance(answer, Exception), (process_id, getattr(answer, "cause", answer))
    return handle, answer


_totals = itertools.count(20)


def _fast(actor: str) -> FastChangeRequest:
    """A new total each time: the orders of this module change ACME one after the other."""
    return FastChangeRequest(
        account_id="ACME",
        pbx_id="PBX-ACME",
        requested_by=actor,
        lines=[FastChangeLine(sku="Premium", quantity=next(_totals))],
    )


def _quote(actor: str) -> ChangeOrderRequest:
    return ChangeOrderRequest(
        account_id="ACME",
        pbx_id="PBX-ACME",
        requested_by=actor,
        lines=[
            QuoteLine(sku="Premium", quantity=1),
            QuoteLine(sku="CLASSOUND-FLAT", quantity=1, licence="Premium"),
        ],
    )


def _classound(actor: str, documents, account: str = "ACME") -> ClassoundRequest:
    """ACME has CLASSOUND already (Classound ordering), BERGMANN not (a new activation)."""
    return ClassoundRequest(
        account_id=account,
        pbx_id=f"PBX-{account}",
        requested_by=actor,
        existing_customer=account == "ACME",
        numbers=store_numbers(documents, [f"+49 30 555{next(_totals):04d}"]),
    )


def _starts(documents) -> list:
    """(workflow, process kind, request by an actor, refused actor, the words, allowed actor)
    for every process a person starts."""
    return [
        (
            FastChangeOrder,
            "fast-change-order-ACME",
            _fast,
            FIN,
            "start takes the role customer_care or sales_ops; fin-finn has finance",
            SALES,
        ),
        (
            FastChangeOrder,
            "fast-change-order-ACME",
            _fast,
            ALP,
            "C-ALP-1 is a user of partner P-ALPCOM, not staff",
            CARE,
        ),
        (
            ChangeOrder,
            "change-order-ACME",
            _quote,
            NORD,
            "C-NORD-1 is a user of partner P-NORDTEL, not staff",
            SALES,
        ),
        (ChangeOrder, "change-order-ACME", _quote, CARE, "start takes the role sales_ops", SALES),
        (
            ClassoundOrder,
            "classound-order-ACME",
            lambda a: _classound(a, documents),
            CARE,
            "start takes the role sales_ops",
            SALES,
        ),
        (
            AccountChange,
            "account-change-update-account-ACME",
            lambda a: AccountChangeRequest(
                actor=a, change=UpdateAccount(account_id="ACME", name="Acme Logistik GmbH")
            ),
            CM,
            "cm-eva has channel_manager",
            CARE,
        ),
        (
            Renegotiation,
            "renegotiation-FJORDBYGG",
            lambda a: RenegotiationRequest(
                ticket_id=1002,
                account_id="FJELL",
                contact_id="C-FJELL-1",
                original_contract_id="K-FJELL",
                licences=18,
                price=Decimal("390.00"),
                requested_by=a,
            ),
            SALES,
            "start takes the role csc or customer_care; ops-ben has sales_ops",
            CSC,
        ),
        (
            ClientOnboarding,
            "client-onboarding-BERGMANN",
            lambda a: OnboardingRequest(account_id="BERGMANN", requested_by=a),
            SALES,
            "start takes the role invoice_service",
            INVOICE,
        ),
        (
            InvoicingRun,
            "invoicing-run-P-ALPCOM",
            lambda a: InvoicingRequest(
                partner_id="P-ALPCOM", period=date(2026, 12, 1), requested_by=a
            ),
            CARE,
            "start takes the role finance or invoice_service",
            FIN,
        ),
        (
            PartnerManagement,
            "partner-management",
            lambda a: PartnerManagementRequest(action="enable", requested_by=a),
            "intern-joe",
            "intern-joe is not in the people directory",
            ADMIN,
        ),
        (
            PartnerManagement,
            "partner-management",
            lambda a: PartnerManagementRequest(action="enable", requested_by=a),
            CM,
            "start takes the role admin; cm-eva has channel_manager",
            ADMIN,
        ),
        (
            LeadQueueRouter,
            "lead-queue",
            lambda a: RouterRequest(
                queue_id=f"q-{uuid.uuid4().hex[:6]}",
                name="Fair",
                channel_managers=[CM],
                partners=["P-NORDTEL"],
                requested_by=a,
            ),
            SALES,
            "start takes the role channel_manager; ops-ben has sales_ops",
            CM,
        ),
    ]


async def test_every_start_is_allowed_for_its_roles_and_refused_for_others(
    env, people_pool, documents
):
    async with running_worker(env.client, people_pool) as q:
        for workflow, kind, request, refused_actor, words, allowed_actor in _starts(documents):
            name = workflow.__temporal_workflow_definition.name
            handle, answer = await start(
                env, q, workflow, request(refused_actor), pid(kind), refused=True
            )
            assert isinstance(answer, WorkflowUpdateFailedError), (name, refused_actor, answer)
            message = answer.cause.message
            assert words in message, (name, message)
            assert await logged(people_pool, refused_actor, f"{name}.start", handle.id) == [message]
            assert not await people_pool.fetchval(
                "SELECT count(*) FROM audit_log WHERE process_id = $1", handle.id
            )
            handle, answer = await start(
                env, q, workflow, request(allowed_actor), pid(kind), refused=True
            )  # business refusals are theirs
            assert await logged(people_pool, allowed_actor, f"{name}.start", handle.id) == [], (
                name,
                answer,
            )


async def test_a_fast_change_order_its_partner_confirms_and_no_one_else(env, people_pool):
    """ALPCOM's user confirming or cancelling NORDTEL's order, a made-up actor, the system's
    own name: refused, nothing written. NORDTEL's user, or sales ops for them: applied."""
    async with running_worker(env.client, people_pool) as q:
        order, _ = await start(env, q, FastChangeOrder, _fast(SALES), pid("fast-change-order"))
        p = "FastChangeOrder"
        await expect_refused(
            people_pool,
            order,
            FastChangeOrder.confirm,
            StaffStep(actor=ALP),
            f"{p}.confirm",
            ALPCOM_IS_NOT_NORDTEL,
        )
        await expect_refused(
            people_pool,
            order,
            FastChangeOrder.cancel,
            Cancellation(actor=ALP, reason="not mine"),
            f"{p}.cancel",
            "C-ALP-1 is a user of partner P-ALPCOM, not staff",
        )
        await expect_refused(
            people_pool,
            order,
            FastChangeOrder.cancel,
            Cancellation(actor=FIN, reason="budget"),
            f"{p}.cancel",
            "cancel takes the role customer_care or sales_ops",
        )
        await expect_refused(
            people_pool,
            order,
            FastChangeOrder.confirm,
            StaffStep(actor="mallory"),
            f"{p}.confirm",
            "mallory is not in the people directory",
        )
        await expect_refused(
            people_pool,
            order,
            FastChangeOrder.confirm,
            StaffStep(actor=NORD_INVITED),
            f"{p}.confirm",
            "C-NORD-2 is a partner user of P-NORDTEL who is invited, not active",
        )
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await order.execute_update(FastChangeOrder.confirm, StaffStep(actor="partnerflow"))
        assert "the processes' own name" in err.value.cause.message
        assert (
            await people_pool.fetchval(
                "SELECT count(*) FROM orders WHERE process_id = $1 AND status = 'applied'", order.id
            )
            == 0
        )
        answer = await expect_allowed(
            people_pool, order, FastChangeOrder.confirm, StaffStep(actor=NORD), f"{p}.confirm"
        )
        assert "confirmed by C-NORD-1 and applied" in answer.message

        by_phone, _ = await start(env, q, FastChangeOrder, _fast(CARE), pid("fast-change-order"))
        answer = await expect_allowed(
            people_pool, by_phone, FastChangeOrder.confirm, StaffStep(actor=SALES), f"{p}.confirm"
        )
        assert "confirmed by ops-ben" in answer.message  # recorded as the staff member
        assert (
            await people_pool.fetchval(
                "SELECT actor FROM audit_log WHERE process_id = $1 AND step = 'apply-order'",
                by_phone.id,
            )
            == SALES
        )

        cancelled, _ = await start(env, q, FastChangeOrder, _fast(SALES), pid("fast-change-order"))
        await expect_allowed(
            people_pool,
            cancelled,
            FastChangeOrder.cancel,
            Cancellation(actor=CARE, reason="customer withdrew"),
            f"{p}.cancel",
        )


async def test_a_partner_user_cannot_drive_a_quote_as_staff(env, people_pool, documents):
    """Every step of the change order: refused for the wrong people, allowed for the row's."""
    p = "ChangeOrder"
    async with running_worker(env.client, people_pool) as q:
        co, _ = await start(env, q, ChangeOrder, _quote(SALES), pid("change-order-ACME"))
        quote = (await co.query(ChangeOrder.status)).quotes[-1].quote_id
        for update, arg_of, wrong, words, right in [
            (
                ChangeOrder.mark_primary,
                lambda a: QuoteStep(actor=a, quote_id=quote),
                NORD,
                "C-NORD-1 is a user of partner P-NORDTEL, not staff: mark_primary",
                SALES,
            ),
            (
                ChangeOrder.publish,
                lambda a: QuoteStep(actor=a, quote_id=quote),
                CARE,
                "publish takes the role sales_ops; care-carl has customer_care",
                SALES,
            ),
            (
                ChangeOrder.revise,
                lambda a: Revision(actor=a, lines=[QuoteLine(sku="Premium", quantity=2)]),
                NORD,
                "not staff",
                SALES,
            ),
        ]:
            name = update.__name__
            await expect_refused(people_pool, co, update, arg_of(wrong), f"{p}.{name}", words)
            await expect_allowed(people_pool, co, update, arg_of(right), f"{p}.{name}")
        quote = (await co.query(ChangeOrder.status)).quotes[-1].quote_id
        await co.execute_update(ChangeOrder.publish, QuoteStep(actor=SALES, quote_id=quote))
        loa = stored_document(documents, DocumentKind.LOA, b"%PDF-1.4\n%%EOF\n", "LOA.pdf")
        invoice = stored_document(
            documents,
            DocumentKind.LAST_INVOICE,
            b"%PDF-1.4\n% invoice\n%%EOF\n",
            "last-invoice.pdf",
        )
        await expect_refused(
            people_pool,
            co,
            ChangeOrder.upload,
            DocumentUpload(actor=ALP, document=loa),
            f"{p}.upload",
            ALPCOM_IS_NOT_NORDTEL,
        )
        await expect_allowed(
            people_pool,
            co,
            ChangeOrder.upload,
            DocumentUpload(actor=NORD, document=loa),
            f"{p}.upload",
        )
        await expect_allowed(
            people_pool,
            co,
            ChangeOrder.upload,
            DocumentUpload(actor=SALES, document=invoice),
            f"{p}.upload",
        )
        await expect_refused(
            people_pool,
            co,
            ChangeOrder.mark_complete,
            StaffStep(actor=INVOICE),
            f"{p}.mark_complete",
            "mark_complete takes the role sales_ops",
        )
        await expect_allowed(
            people_pool, co, ChangeOrder.mark_complete, StaffStep(actor=SALES), f"{p}.mark_complete"
        )
        await expect_refused(
            people_pool,
            co,
            ChangeOrder.cancel,
            Cancellation(actor=CSC, reason="wrong"),
            f"{p}.cancel",
            "cancel takes the role customer_care or sales_ops",
        )
        await expect_refused(
            people_pool,
            co,
            ChangeOrder.confirm,
            StaffStep(actor=ALP),
            f"{p}.confirm",
            ALPCOM_IS_NOT_NORDTEL,
        )
        answer = await expect_allowed(
            people_pool, co, ChangeOrder.confirm, StaffStep(actor=NORD), f"{p}.confirm"
        )
        assert "applied" in answer.message


async def checked_in(pool, actor: str, permission: str, process_id: str) -> list[str]:
    return [
        r["checked_in"]
        for r in await pool.fetch(
            "SELECT checked_in FROM security_log WHERE actor = $1 AND permission = $2"
            " AND process_id = $3 ORDER BY id",
            actor,
            permission,
            process_id,
        )
    ]


async def test_quote_steps_are_checked_in_their_own_transaction_and_change_nothing(
    env, people_pool
):
    """A quote step whose first act is its write does not ask the directory from
    the workflow; the write's transaction refuses (logged `store`), and the process is as
    before: the quote keeps its primary flag when publishing is refused, the next mark
    complete uses the step's first key. A step that answers without a write (a repeat)
    still asks from the workflow (logged `workflow`)."""
    p = "ChangeOrder"
    request = ChangeOrderRequest(
        account_id="ACME",
        pbx_id="PBX-ACME",
        requested_by=SALES,
        lines=[QuoteLine(sku="Premium", quantity=1)],
    )
    async with running_worker(env.client, people_pool) as q:
        co, _ = await start(env, q, ChangeOrder, request, pid("change-order-ACME"))
        quote = (await co.query(ChangeOrder.status)).quotes[-1].quote_id
        step = QuoteStep(actor=NORD, quote_id=quote)
        await expect_refused(
            people_pool, co, ChangeOrder.mark_primary, step, f"{p}.mark_primary", "not staff"
        )
        assert not (await co.query(ChangeOrder.status)).quotes[-1].primary
        await co.execute_update(ChangeOrder.mark_primary, QuoteStep(actor=SALES, quote_id=quote))
        with pytest.raises(WorkflowUpdateFailedError) as again:  # already primary: no write
            await co.execute_update(ChangeOrder.mark_primary, step)
        assert "not staff" in again.value.cause.message
        assert await checked_in(people_pool, NORD, f"{p}.mark_primary", co.id) == [
            "store",
            "workflow",
        ]

        await expect_refused(
            people_pool,
            co,
            ChangeOrder.publish,
            QuoteStep(actor=CARE, quote_id=quote),
            f"{p}.publish",
            "publish takes the role sales_ops",
        )
        assert (await co.query(ChangeOrder.status)).quotes[-1].primary
        answer = await co.execute_update(
            ChangeOrder.publish, QuoteStep(actor=SALES, quote_id=quote)
        )
        assert answer.message == f"quote {quote} published"

        await expect_refused(
            people_pool,
            co,
            ChangeOrder.mark_complete,
            StaffStep(actor=INVOICE),
            f"{p}.mark_complete",
            "mark_complete takes the role sales_ops",
        )
        answer = await co.execute_update(ChangeOrder.mark_complete, StaffStep(actor=SALES))
        assert "accepted" in answer.message, answer.message
        assert (
            await people_pool.fetchval(
                "SELECT step FROM audit_log WHERE process_id = $1 AND step LIKE 'mark-complete%'",
                co.id,
            )
            == "mark-complete-v1-1"
        )
        assert await checked_in(people_pool, CARE, f"{p}.publish", co.id) == ["store"]
        assert await checked_in(people_pool, INVOICE, f"{p}.mark_complete", co.id) == ["store"]
        await co.execute_update(ChangeOrder.cancel, Cancellation(actor=SALES, reason="test"))


async def test_a_confirmation_is_checked_in_its_own_transaction_and_the_order_waits_on(
    env, people_pool
):
    """The partner's `confirm` applies the order in one step whose transaction
    checks the person (logged `store`); refused, the order waits as before (same stage, same
    since, no order applied) and the right person's confirmation applies it."""
    p = "FastChangeOrder.confirm"
    premium = (await licence_totals(people_pool, "PBX-ACME"))["Premium"]
    request = FastChangeRequest(
        account_id="ACME",
        pbx_id="PBX-ACME",
        requested_by=SALES,
        lines=[FastChangeLine(sku="Premium", quantity=premium + 3)],
    )
    async with running_worker(env.client, people_pool) as q:
        order, _ = await start(env, q, FastChangeOrder, request, pid("fast-change-order"))
        before = await order.query(FastChangeOrder.status)
        await expect_refused(
            people_pool,
            order,
            FastChangeOrder.confirm,
            StaffStep(actor=ALP),
            p,
            ALPCOM_IS_NOT_NORDTEL,
        )
        after = await order.query(FastChangeOrder.status)
        assert (after.stage, after.since, after.waiting_for) == (
            before.stage,
            before.since,
            before.waiting_for,
        )
        assert (
            await people_pool.fetchval("SELECT status FROM orders WHERE process_id = $1", order.id)
            == "awaiting_partner_confirmation"
        )
        answer = await order.execute_update(FastChangeOrder.confirm, StaffStep(actor=NORD))
        assert "applied" in answer.message
        assert await checked_in(people_pool, ALP, p, order.id) == ["store"]


async def test_two_confirmations_at_once_one_refused_the_other_applies(env, people_pool):
    """The wrong person's and the partner's confirmations sent together: whichever
    comes first, the wrong one is refused and writes nothing, the partner's applies the
    order once."""
    premium = (await licence_totals(people_pool, "PBX-ACME"))["Premium"]
    request = FastChangeRequest(
        account_id="ACME",
        pbx_id="PBX-ACME",
        requested_by=SALES,
        lines=[FastChangeLine(sku="Premium", quantity=premium + 2)],
    )
    async with running_worker(env.client, people_pool) as q:
        order, _ = await start(env, q, FastChangeOrder, request, pid("fast-change-order"))
        wrong, right = await asyncio.gather(
            order.execute_update(FastChangeOrder.confirm, StaffStep(actor=ALP)),
            order.execute_update(FastChangeOrder.confirm, StaffStep(actor=NORD)),
            return_exceptions=True,
        )
        assert isinstance(wrong, WorkflowUpdateFailedError), wrong
        assert wrong.cause.message == ALPCOM_IS_NOT_NORDTEL
        assert "applied" in right.message, right
        assert (await order.result()).stage == "applied"
    assert (
        await people_pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE process_id = $1 AND step = 'apply-order'",
            order.id,
        )
        == 1
    )
    assert (await licence_totals(people_pool, "PBX-ACME"))["Premium"] == premium + 2


async def test_classound_order_steps(env, people_pool, documents):
    p = "ClassoundOrder"
    async with running_worker(env.client, people_pool) as q:
        order, _ = await start(
            env,
            q,
            ClassoundOrder,
            _classound(SALES, documents, "BERGMANN"),
            pid("classound-order-BERGMANN"),
        )
        await expect_refused(
            people_pool,
            order,
            ClassoundOrder.extend,
            Extension(actor=FIN, days=3),
            f"{p}.extend",
            "fin-finn has finance",
        )
        await expect_allowed(
            people_pool, order, ClassoundOrder.extend, Extension(actor=CARE, days=3), f"{p}.extend"
        )
        doc = stored_document(documents, DocumentKind.LOA, b"%PDF-1.4\n%%EOF\n", "LOA.pdf")
        await expect_refused(
            people_pool,
            order,
            ClassoundOrder.upload,
            DocumentUpload(actor=ALP, document=doc),
            f"{p}.upload",
            ALPCOM_IS_NOT_NORDTEL,
        )
        await expect_allowed(
            people_pool,
            order,
            ClassoundOrder.upload,
            DocumentUpload(actor=NORD, document=doc),
            f"{p}.upload",
        )
        await expect_refused(
            people_pool,
            order,
            ClassoundOrder.cancel,
            Cancellation(actor=NORD, reason="not ours"),
            f"{p}.cancel",
            "not staff",
        )
        await expect_allowed(
            people_pool,
            order,
            ClassoundOrder.cancel,
            Cancellation(actor=SALES, reason="customer withdrew"),
            f"{p}.cancel",
        )


async def test_renegotiation_only_this_customers_signer_signs(env, people_pool):
    """Another partner's customer contract: a partner user cannot sign or renegotiate it; a
    signer of another customer cannot sign it; its own signer can."""
    p = "Renegotiation"
    async with running_worker(env.client, people_pool) as q:
        deal, answer = await start(
            env,
            q,
            Renegotiation,
            RenegotiationRequest(
                ticket_id=1001,
                account_id="FJORDBYGG",
                contact_id=SIGNER,
                original_contract_id="K-FJORD-2024",
                licences=18,
                price=Decimal("390.00"),
                requested_by=CARE,
            ),
            pid("renegotiation-FJORDBYGG"),
        )
        await expect_refused(
            people_pool,
            deal,
            Renegotiation.extend_signing_deadline,
            Extension(actor=ALP, days=3),
            f"{p}.extend_signing_deadline",
            "not staff",
        )
        await expect_refused(
            people_pool,
            deal,
            Renegotiation.cancel,
            Cancellation(actor=SALES, reason="not ours"),
            f"{p}.cancel",
            "cancel takes the role csc or customer_care",
        )
        await expect_refused(
            people_pool,
            deal,
            Renegotiation.contract_signed,
            StaffStep(actor=ALP),
            f"{p}.contract_signed",
            "not staff",
        )
        await expect_refused(
            people_pool,
            deal,
            Renegotiation.contract_signed,
            StaffStep(actor="C-ACME-9"),
            f"{p}.contract_signed",
            "C-ACME-9 signs for ACME; this contract is for FJORDBYGG",
        )
        await expect_allowed(
            people_pool,
            deal,
            Renegotiation.contract_signed,
            StaffStep(actor=SIGNER),
            f"{p}.contract_signed",
        )


async def test_partner_accounts_and_lead_queues_are_the_directorys_channel_managers(
    env, people_pool
):
    """ALPCOM's user making itself channel manager of NORDTEL's partner account, inviting or
    deactivating there; a queue naming a partner user as its manager; lead steps of another
    partner: refused. `--as cm-eva` is no longer a typed name: the directory decides."""
    async with running_worker(env.client, people_pool) as q:
        new_partner = f"P-{uuid.uuid4().hex[:6].upper()}"
        handle, answer = await start(
            env,
            q,
            PartnerOnboarding,
            PartnerAccountRequest(
                partner_id=new_partner, name="New Partner", channel_manager=ALP, requested_by=ALP
            ),
            partner_account_process_id(new_partner),
            refused=True,
        )
        assert "C-ALP-1 is a user of partner P-ALPCOM, not staff" in answer.cause.message
        handle, answer = await start(
            env,
            q,
            PartnerOnboarding,
            PartnerAccountRequest(
                partner_id=new_partner, name="New Partner", channel_manager=ALP, requested_by=CM
            ),
            partner_account_process_id(new_partner) + "-2",
            refused=True,
        )
        assert answer.cause.message.startswith("C-ALP-1: not an active channel manager")
        account, answer = await start(
            env,
            q,
            PartnerOnboarding,
            PartnerAccountRequest(
                partner_id=new_partner, name="New Partner", channel_manager=CM, requested_by=CM
            ),
            partner_account_process_id(new_partner) + "-3",
        )
        p = "PartnerOnboarding"
        await expect_refused(
            people_pool,
            account,
            PartnerOnboarding.invite_partner_user,
            Invitation(actor=ALP, contact_id=ALP),
            f"{p}.invite_partner_user",
            "not staff",
        )
        await expect_refused(
            people_pool,
            account,
            PartnerOnboarding.deactivate,
            Deactivation(actor=SALES, reason="ended"),
            f"{p}.deactivate",
            "deactivate takes the role channel_manager",
        )

        queue_id = f"q-{uuid.uuid4().hex[:6]}"
        _, answer = await start(
            env,
            q,
            LeadQueueRouter,
            RouterRequest(
                queue_id=queue_id,
                name="Fair",
                channel_managers=[CM, ALP],
                partners=["P-NORDTEL"],
                requested_by=CM,
            ),
            queue_process_id(queue_id),
            refused=True,
        )
        assert "C-ALP-1: not an active channel manager" in answer.cause.message
        queue_id = f"q-{uuid.uuid4().hex[:6]}"
        router, _ = await start(
            env,
            q,
            LeadQueueRouter,
            RouterRequest(
                queue_id=queue_id,
                name="Fair",
                channel_managers=[CM],
                partners=["P-NORDTEL"],
                requested_by=CM,
            ),
            queue_process_id(queue_id),
        )
        with pytest.raises(WorkflowUpdateFailedError) as err:  # the queue's own check first
            await router.execute_update(
                LeadQueueRouter.add_queue_partners, QueuePartners(actor=ALP, partners=["P-ALPCOM"])
            )
        assert "C-ALP-1 is not one" in err.value.cause.message
        lead = await people_pool.fetchval(
            "INSERT INTO leads (dedupe_key, company, queue_id, process_id, step) VALUES"
            " ($1, 'Isar Dental', $2, 'tests', 'tests') RETURNING id",
            uuid.uuid4().hex,
            queue_id,
        )

        async def lead_step(kind: str, actor: str, **fields):
            r = LeadStepRequest(queue_id=queue_id, kind=kind, actor=actor, **fields)
            step_id = lead_step_process_id(r, uuid.uuid4().hex[:8])
            op = WithStartWorkflowOperation(
                LeadStep.run,
                r,
                id=step_id,
                task_queue=q,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
            try:
                answer = await env.client.execute_update_with_start_workflow(
                    LeadStep.answer, start_workflow_operation=op
                )
            except WorkflowUpdateFailedError as e:
                answer = e.cause.message
            return step_id, answer

        step_id, answer = await lead_step("claim", ALP, lead_id=lead)
        assert answer == "C-ALP-1 is a user of partner P-ALPCOM; this lead queue is for P-NORDTEL"
        assert await logged(people_pool, ALP, "LeadStep.claim", step_id) == [answer]
        step_id, answer = await lead_step("assign", SALES, lead_id=lead, to_user=NORD)
        assert "assign takes the role channel_manager; ops-ben has sales_ops" in answer
        step_id, answer = await lead_step("claim", "cm-jon", lead_id=lead, for_user=NORD)
        assert answer.startswith("only a channel manager of queue")  # not of this queue
        step_id, answer = await lead_step("claim", CM, lead_id=lead, for_user=NORD)
        assert answer.message.startswith(f"lead {lead} is yours, C-NORD-1")
        assert (
            await people_pool.fetchval(
                "SELECT by_actor FROM claims WHERE lead_id = $1 AND ended_at IS NULL", lead
            )
            == CM
        )
        step_id, answer = await lead_step("accept", ALP, lead_id=lead)
        assert "C-ALP-1 is a user of partner P-ALPCOM" in answer
        step_id, answer = await lead_step("accept", NORD, lead_id=lead)
        assert answer.message.startswith(f"lead {lead} accepted by C-NORD-1")
        step_id, answer = await lead_step("convert", NORD_INVITED, lead_id=lead)
        assert "C-NORD-2 is a partner user of P-NORDTEL who is invited, not active" in answer


async def test_a_step_that_bypasses_the_workflow_check_writes_nothing(env, people_pool):
    """Even if the workflow's check were skipped (here: its local activity replaced by one
    that allows everyone, as for a process started before the check), the store refuses the
    write in the step's transaction and logs it."""
    from temporalio import activity

    @activity.defn(name="authorize")
    async def allow_everyone(a: Authorization) -> Verdict:
        return Verdict()

    async with running_worker(env.client, people_pool, replace=[allow_everyone]) as q:
        co, _ = await start(env, q, ChangeOrder, _quote(SALES), pid("change-order-ACME"))
        quote = (await co.query(ChangeOrder.status)).quotes[-1].quote_id
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await co.execute_update(
                ChangeOrder.mark_primary, QuoteStep(actor="mallory", quote_id=quote)
            )
        cause = err.value.cause
        assert "mallory is not in the people directory" in (cause.cause or cause).message
        assert await people_pool.fetch(
            "SELECT checked_in FROM security_log WHERE actor = 'mallory' AND process_id = $1", co.id
        ) == [("store",)]
        assert not await people_pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE process_id = $1 AND actor = 'mallory'", co.id
        )
        assert (await co.query(ChangeOrder.status)).stage == "quote-draft"


async def test_the_store_refuses_a_write_whose_actor_may_not_do_it(people_pool):
    """The activity itself, called with a key naming a permission its actor lacks."""
    from temporalio.testing import ActivityEnvironment

    from domain.change_order import OrderApplication
    from domain.permissions import Facts
    from domain.steps import StepKey

    key = StepKey(
        process_id=pid("fast-change-order-ACME"),
        step="apply-order",
        actor=ALP,
        permission="FastChangeOrder.confirm",
        facts=Facts(partner_ids=["P-NORDTEL"]),
    )
    with pytest.raises(Exception) as err:
        await ActivityEnvironment().run(
            ChangeOrderActivities(people_pool).apply_order,
            OrderApplication.model_construct(key=key),
        )
    assert ALPCOM_IS_NOT_NORDTEL in str(err.value)
    assert await logged(people_pool, ALP, "FastChangeOrder.confirm", key.process_id) == [
        ALPCOM_IS_NOT_NORDTEL
    ]
    assert not await people_pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE process_id = $1", key.process_id
    )


async def test_psa_steps(env, people_pool):
    async with running_worker(env.client, people_pool) as q:
        run, _ = await start(
            env,
            q,
            InvoicingRun,
            InvoicingRequest(
                partner_id="P-NORDTEL", period=date(2026, 11, 1), requested_by=INVOICE
            ),
            pid("invoicing-run-P-NORDTEL"),
        )
        await expect_refused(
            people_pool,
            run,
            InvoicingRun.review_numbering,
            NumberingReview(actor=INVOICE),
            "InvoicingRun.review_numbering",
            "review_numbering takes the role finance; inv-ines has invoice_service",
        )
        await expect_allowed(
            people_pool,
            run,
            InvoicingRun.review_numbering,
            NumberingReview(actor=FIN),
            "InvoicingRun.review_numbering",
        )
        onboarding, _ = await start(
            env,
            q,
            ClientOnboarding,
            OnboardingRequest(account_id="ACME", requested_by=INVOICE),
            pid("client-onboarding-ACME"),
        )
        step = "ClientOnboarding.billing_information"
        await expect_refused(
            people_pool,
            onboarding,
            ClientOnboarding.billing_information,
            BillingInformationStep(actor=SALES, info=billing()),
            step,
            "billing_information takes the role invoice_service",
        )
        await expect_allowed(
            people_pool,
            onboarding,
            ClientOnboarding.billing_information,
            BillingInformationStep(actor=INVOICE, info=billing()),
            step,
        )
        await expect_refused(
            people_pool,
            onboarding,
            ClientOnboarding.cancel,
            Cancellation(actor=CARE, reason="wrong client"),
            "ClientOnboarding.cancel",
            "care-carl has customer_care",
        )
        await expect_allowed(
            people_pool,
            onboarding,
            ClientOnboarding.cancel,
            Cancellation(actor=INVOICE, reason="wrong client"),
            "ClientOnboarding.cancel",
        )

        rc = pid("record-change")
        result = await env.client.execute_workflow(
            RecordChange.run,
            RecordChangeRequest(
                actor=CM, change=CreateTicket(account_id="ACME", subject="Phones drop calls")
            ),
            id=rc,
            task_queue=q,
        )
        assert result.stage == "refused" and "cm-eva has channel_manager" in result.message
        assert await logged(people_pool, CM, "RecordChange.start", rc) == [result.message]
