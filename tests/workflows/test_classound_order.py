"""Every branch of the CLASSOUND order with the real activities, PostgreSQL and document
store. Timers (reminders, escalation, expiry, the carrier chase, the porting day) run on the
time-skipping server; steps refused by an update validator run on the dev server (the
time-skipping server answers those with "update not found")."""

import re
import uuid
from datetime import timedelta

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from domain.business_time import Family, business_today
from domain.change_order import FastChangeRequest
from domain.classound import (
    CARRIER_ANSWER_DUE,
    ESCALATE_AFTER,
    EXPIRES_AFTER,
    REMIND_EVERY,
    CarrierAnswer,
    DocumentUpload,
    Extension,
    Stage,
)
from domain.documents import DocumentKind
from domain.order_lines import FastChangeLine
from domain.steps import Cancellation, StaffStep
from store.documents import DocumentStore
from tests.records import new_account
from tests.records_classound import (
    classound_request,
    fresh_numbers,
    jpeg_bytes,
    pdf_bytes,
    png_bytes,
    store_numbers,
    stored_document,
)
from tests.workflows.harness import outcome, running_worker, server_today, start_process
from workflows.classound_order import ClassoundOrder
from workflows.fast_change_order import FastChangeOrder

LOA, INVOICE = DocumentKind.LOA, DocumentKind.LAST_INVOICE
RESELLER = StaffStep(actor="reseller-anna")
CLASSOUND = Family.CLASSOUND  # porting days are its business days (Europe/Berlin)


@pytest.fixture
def documents(tmp_path, monkeypatch) -> DocumentStore:
    """The document store of this test: the worker's activities and the test share it."""
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(tmp_path / "documents"))
    return DocumentStore(tmp_path / "documents")


async def start(
    env,
    queue,
    pool,
    documents,
    *,
    licences=None,
    existing_flats=(),
    numbers: int | list[str] = 2,
    **fields,
) -> tuple[WorkflowHandle, object, object]:
    """A new account and a CLASSOUND order on its PBX; `fields` go into the request."""
    acc = await new_account(
        pool, licences=licences or {"Premium": 3, "Basic": 2}, flats=list(existing_flats)
    )
    listed = fresh_numbers(numbers) if isinstance(numbers, int) else numbers
    handle, answer = await start_process(
        env.client,
        queue,
        ClassoundOrder,
        classound_request(acc, store_numbers(documents, listed), **fields),
        process_id=f"classound-order-{acc.id}-{uuid.uuid4().hex[:8]}",
    )
    return handle, answer, acc


async def upload(
    handle,
    documents,
    kind,
    data: bytes,
    name: str,
    *,
    actor="reseller-anna",
    update_id: str | None = None,
):
    doc = stored_document(documents, kind, data, name)
    return await handle.execute_update(
        ClassoundOrder.upload, DocumentUpload(actor=actor, document=doc), id=update_id
    )


async def both_documents(handle, documents) -> None:
    await upload(handle, documents, LOA, pdf_bytes("LOA signed"), "LOA.pdf")
    await upload(handle, documents, INVOICE, jpeg_bytes(), "last-invoice.jpg")


async def refused(handle, update, arg) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(update, arg)
    return err.value.cause.message


async def details(handle) -> str:
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return meta.current_details


def date_answer(day) -> CarrierAnswer:
    return CarrierAnswer(actor="staff-porting", porting_date=day)


async def test_documents_in_any_order_then_confirmed_ported_and_active(time_env, pool, documents):
    async with running_worker(time_env.client, pool) as q:
        handle, answer, acc = await start(time_env, q, pool, documents, numbers=3)
        assert answer.stage == Stage.AWAITING_DOCUMENTS
        assert "waiting for: LOA, last invoice" in await details(handle)
        order = await pool.fetchrow(
            "SELECT * FROM classound_orders WHERE process_id = $1", handle.id
        )
        assert (order["status"], order["kind"], order["numbers"]) == (
            "awaiting_reseller",
            "activation",
            3,
        )
        ticket = await pool.fetchrow("SELECT * FROM tickets WHERE id = $1", order["ticket_id"])
        assert ticket["queue"] == "reseller" and "LOA" in ticket["subject"]

        # a reminder names what is missing
        await time_env.sleep(REMIND_EVERY + timedelta(hours=1))
        reminder = await pool.fetchrow(
            "SELECT payload FROM notifications WHERE process_id = $1"
            " AND template = 'classound_documents_reminder'",
            handle.id,
        )
        assert reminder["payload"]["waiting_for"] == "waiting for: LOA, last invoice"

        # the last invoice first, then the LOA
        got = await upload(handle, documents, INVOICE, png_bytes(), "rechnung.png")
        assert got.stage == Stage.AWAITING_DOCUMENTS
        assert "waiting for: LOA" in await details(handle)
        assert "last invoice" not in await details(handle)
        got = await upload(handle, documents, LOA, pdf_bytes(), "LOA.pdf")
        assert got.stage == Stage.AWAITING_CONFIRMATION

        confirmed = await handle.execute_update(ClassoundOrder.confirm, RESELLER)
        assert confirmed.stage == Stage.PORTING_REQUESTED
        assert "waiting for carrier porting date" in await details(handle)
        request = await pool.fetchrow(
            "SELECT * FROM porting_requests WHERE process_id = $1", handle.id
        )
        assert (request["status"], request["numbers"], request["submitted_by"]) == (
            "submitted",
            3,
            "reseller-anna",
        )

        day = await server_today(time_env, Family.CLASSOUND) + timedelta(days=7)
        scheduled = await handle.execute_update(ClassoundOrder.carrier_answer, date_answer(day))
        assert scheduled.stage == Stage.PORTING_SCHEDULED
        assert f"porting on {day}" in await details(handle)
        assert (
            await pool.fetchval("SELECT count(*) FROM dids WHERE pbx_id = $1", acc.pbx_id) == 0
        )  # not before
        result = await outcome(time_env, handle)  # the durable timer runs to the porting day

    assert result.stage == Stage.ACTIVE
    assert business_today(result.since, Family.CLASSOUND) == day
    dids = await pool.fetch("SELECT * FROM dids WHERE pbx_id = $1", acc.pbx_id)
    assert len(dids) == 3 and {d["status"] for d in dids} == {"active"}
    flats = await pool.fetch(
        "SELECT licence_type, start_date FROM pbx_products WHERE pbx_id = $1"
        " AND sku = 'CLASSOUND-FLAT' AND status = 'active'",
        acc.pbx_id,
    )
    assert sorted(f["licence_type"] for f in flats) == ["Basic"] * 2 + ["Premium"] * 3
    assert {f["start_date"] for f in flats} == {day}
    plans = {
        r["licence_type"]: (r["plan"], r["free_minutes_per_user"])
        for r in await pool.fetch(
            "SELECT * FROM classound_billing_plans WHERE pbx_id = $1", acc.pbx_id
        )
    }
    assert plans == {"Basic": ("per-minute", 0), "Premium": ("free-minutes", 3000)}
    assert "Premium: 3,000 free minutes per user per month" in result.billing
    order = await pool.fetchrow("SELECT * FROM classound_orders WHERE process_id = $1", handle.id)
    assert (order["status"], order["activated_on"]) == ("active", day)
    assert (
        await pool.fetchval("SELECT status FROM porting_requests WHERE process_id = $1", handle.id)
        == "completed"
    )
    assert (
        await pool.fetchval("SELECT status FROM tickets WHERE id = $1", order["ticket_id"])
        == "closed"
    )


async def test_reupload_the_newest_counts_and_the_same_file_is_recognised(
    time_env, pool, documents
):
    first, second = pdf_bytes("LOA unsigned"), pdf_bytes("LOA signed")
    async with running_worker(time_env.client, pool) as q:
        handle, _, _ = await start(time_env, q, pool, documents)
        await upload(handle, documents, LOA, first, "loa-draft.pdf")
        await upload(handle, documents, LOA, second, "loa-signed.pdf")
        again = await upload(handle, documents, LOA, second, "loa-signed-copy.pdf")
        assert again.message.startswith("already uploaded: LOA loa-signed.pdf")
        status = await handle.query(ClassoundOrder.status)
        assert status.document(LOA).file_name == "loa-signed.pdf"
        assert status.uploads == 2
        # an older file uploaded again is the newest upload: it counts again
        back = await upload(handle, documents, LOA, first, "loa-draft.pdf", actor="reseller-bo")
        assert "recorded" in back.message
        status = await handle.query(ClassoundOrder.status)
        assert (status.document(LOA).file_name, status.document(LOA).uploaded_by) == (
            "loa-draft.pdf",
            "reseller-bo",
        )
        await handle.execute_update(
            ClassoundOrder.cancel, Cancellation(actor="staff", reason="test done")
        )
        await outcome(time_env, handle)
    rows = await pool.fetch(
        "SELECT file_name, is_current, uploaded_by, storage_path FROM"
        " documents WHERE process_id = $1 ORDER BY id",
        handle.id,
    )
    assert [(r["file_name"], r["is_current"], r["uploaded_by"]) for r in rows] == [
        ("loa-draft.pdf", True, "reseller-bo"),
        ("loa-signed.pdf", False, "reseller-anna"),
    ]
    assert all((documents.root / r["storage_path"]).is_file() for r in rows)
    uploads = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE process_id = $1 AND step LIKE 'upload-%'", handle.id
    )
    assert uploads == 3  # draft, signed, draft again; the repeat wrote nothing


async def test_confirm_is_refused_until_both_documents_are_there(dev_env, pool, documents):
    async with running_worker(dev_env.client, pool) as q:
        handle, _, _ = await start(dev_env, q, pool, documents)
        message = await refused(handle, ClassoundOrder.confirm, RESELLER)
        assert "cannot be confirmed yet: waiting for: LOA, last invoice" in message
        await upload(handle, documents, LOA, pdf_bytes(), "LOA.pdf")
        message = await refused(handle, ClassoundOrder.confirm, RESELLER)
        assert "waiting for: last invoice" in message and "LOA," not in message
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM porting_requests WHERE process_id = $1", handle.id
            )
            == 0
        )
        # no carrier answer before there is a porting request
        day = await server_today(dev_env, CLASSOUND) + timedelta(days=3)
        message = await refused(handle, ClassoundOrder.carrier_answer, date_answer(day))
        assert "no porting request is waiting for the carrier" in message

        await upload(handle, documents, INVOICE, pdf_bytes("invoice"), "invoice.pdf")
        await handle.execute_update(ClassoundOrder.confirm, RESELLER)
        # with the carrier: documents and deadlines are locked, past dates are refused
        message = await refused(
            handle,
            ClassoundOrder.upload,
            DocumentUpload(
                actor="reseller-anna",
                document=stored_document(documents, LOA, pdf_bytes("v2"), "LOA2.pdf"),
            ),
        )
        assert "porting request is with the carrier" in message
        message = await refused(handle, ClassoundOrder.extend, Extension(actor="staff", days=5))
        assert "no deadline to extend" in message
        day = await server_today(dev_env, CLASSOUND) - timedelta(days=1)
        message = await refused(handle, ClassoundOrder.carrier_answer, date_answer(day))
        assert "is in the past" in message
        message = await refused(
            handle,
            ClassoundOrder.carrier_answer,
            CarrierAnswer(actor="staff", refused="number +49 30 12345678 is not ours"),
        )
        assert "phone or customer number" in message

        # cancelling while the carrier has the request withdraws it there
        cancelled = await handle.execute_update(
            ClassoundOrder.cancel, Cancellation(actor="staff", reason="customer withdrew")
        )
        assert cancelled.stage == Stage.CANCELLED
        result = await outcome(dev_env, handle)
    assert any("withdraw the porting request" in n for n in result.notes)
    assert (
        await pool.fetchval("SELECT status FROM porting_requests WHERE process_id = $1", handle.id)
        == "withdrawn"
    )
    ticket = await pool.fetchrow(
        "SELECT * FROM tickets WHERE process_id = $1 AND queue = 'customer_care'", handle.id
    )
    assert "Withdraw porting request" in ticket["subject"]


async def test_reminders_escalation_then_expiry(time_env, pool, documents):
    async with running_worker(time_env.client, pool) as q:
        handle, answer, acc = await start(time_env, q, pool, documents)
        assert answer.stage == Stage.AWAITING_DOCUMENTS
        placed = await handle.query(ClassoundOrder.status)
        assert placed.expires_at - placed.escalates_at == EXPIRES_AFTER - ESCALATE_AFTER
        await upload(handle, documents, LOA, pdf_bytes(), "LOA.pdf")
        result = await outcome(time_env, handle)
    assert result.stage == Stage.EXPIRED
    assert timedelta(0) <= result.since - placed.expires_at < timedelta(minutes=1)
    assert "not confirmed within 30 days (waiting for: last invoice" in result.waiting_for
    assert result.reminders_sent == 9  # days 3, 6, ..., 27
    templates = [
        r["template"]
        for r in await pool.fetch(
            "SELECT template FROM notifications WHERE process_id = $1 ORDER BY id", handle.id
        )
    ]
    assert templates == (
        ["classound_documents_requested"]
        + ["classound_documents_reminder"] * 9
        + ["classound_expired"]
    )
    escalation = await pool.fetchrow(
        "SELECT * FROM tickets WHERE process_id = $1 AND queue = 'customer_care'", handle.id
    )
    assert escalation["id"] == result.escalation_ticket
    assert "waiting for: last invoice" in escalation["body"]
    order = await pool.fetchrow("SELECT * FROM classound_orders WHERE process_id = $1", handle.id)
    assert order["status"] == "expired"
    assert await pool.fetchval("SELECT count(*) FROM dids WHERE pbx_id = $1", acc.pbx_id) == 0


async def test_extend_moves_escalation_and_expiry(time_env, pool, documents):
    async with running_worker(time_env.client, pool) as q:
        handle, _, _ = await start(time_env, q, pool, documents)
        expiry = (await handle.query(ClassoundOrder.status)).expires_at
        await time_env.sleep(ESCALATE_AFTER - timedelta(days=1))
        moved = await handle.execute_update(
            ClassoundOrder.extend, Extension(actor="staff-lea", days=5)
        )
        assert "deadlines moved by 5 days" in moved.message
        await time_env.sleep(timedelta(days=3))  # day 12: past the old escalation
        status = await handle.query(ClassoundOrder.status)
        assert status.escalation_ticket is None
        assert status.expires_at == expiry + timedelta(days=5)
        await time_env.sleep(timedelta(days=4))  # day 16: past the new one
        status = await handle.query(ClassoundOrder.status)
        assert status.escalation_ticket is not None
        assert status.stage == Stage.AWAITING_DOCUMENTS
        assert "escalated to customer care" in await details(handle)
        result = await outcome(time_env, handle)
    assert result.stage == Stage.EXPIRED
    assert timedelta(0) <= result.since - (expiry + timedelta(days=5)) < timedelta(minutes=1)
    order = await pool.fetchrow("SELECT * FROM classound_orders WHERE process_id = $1", handle.id)
    assert order["expires_at"] == expiry + timedelta(days=5)
    assert await pool.fetchval(
        "SELECT action FROM audit_log WHERE process_id = $1 AND step = 'extend-1'", handle.id
    ) == ("deadlines extended by 5 days")


async def test_cancel_before_confirmation(time_env, pool, documents):
    async with running_worker(time_env.client, pool) as q:
        handle, _, _ = await start(time_env, q, pool, documents)
        await upload(handle, documents, INVOICE, pdf_bytes(), "invoice.pdf")
        answer = await handle.execute_update(
            ClassoundOrder.cancel, Cancellation(actor="staff", reason="ordered twice")
        )
        assert answer.stage == Stage.CANCELLED
        result = await outcome(time_env, handle)
    assert result.waiting_for == "nothing: cancelled by staff: ordered twice"
    order = await pool.fetchrow("SELECT * FROM classound_orders WHERE process_id = $1", handle.id)
    assert (order["status"], order["closed_reason"]) == (
        "cancelled",
        "cancelled by staff: ordered twice",
    )
    assert (
        await pool.fetchval("SELECT status FROM tickets WHERE id = $1", order["ticket_id"])
        == "closed"
    )
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM porting_requests WHERE process_id = $1", handle.id
        )
        == 0
    )


async def test_carrier_refusal_goes_back_to_the_reseller_who_fixes_and_resubmits(
    time_env, pool, documents
):
    async with running_worker(time_env.client, pool) as q:
        handle, _, acc = await start(time_env, q, pool, documents)
        await both_documents(handle, documents)
        await handle.execute_update(ClassoundOrder.confirm, RESELLER)
        back = await handle.execute_update(
            ClassoundOrder.carrier_answer,
            CarrierAnswer(actor="staff-porting", refused="LOA not signed by the contract holder"),
        )
        assert back.stage == Stage.CARRIER_REFUSED
        assert "the carrier refused: LOA not signed by the contract holder" in (
            await details(handle)
        )
        ticket = await pool.fetchrow(
            "SELECT * FROM tickets WHERE process_id = $1 AND queue = 'reseller'"
            " AND step LIKE 'carrier-answer-%'",
            handle.id,
        )
        assert "LOA not signed by the contract holder" in ticket["body"]

        fixed = await upload(handle, documents, LOA, png_bytes((1, 2, 3)), "loa-scan.png")
        assert fixed.stage == Stage.AWAITING_CONFIRMATION
        assert "confirm order again" in fixed.message
        again = await handle.execute_update(ClassoundOrder.confirm, RESELLER)
        assert again.stage == Stage.PORTING_REQUESTED
        day = await server_today(time_env, Family.CLASSOUND) + timedelta(days=4)
        await handle.execute_update(ClassoundOrder.carrier_answer, date_answer(day))
        result = await outcome(time_env, handle)
    assert result.stage == Stage.ACTIVE
    assert [(a.attempt, a.refused is not None) for a in result.attempts] == [(1, True), (2, False)]
    requests = await pool.fetch(
        "SELECT attempt, status, loa_document_id FROM porting_requests"
        " WHERE process_id = $1 ORDER BY attempt",
        handle.id,
    )
    assert [(r["attempt"], r["status"]) for r in requests] == [(1, "refused"), (2, "completed")]
    assert requests[0]["loa_document_id"] != requests[1]["loa_document_id"]
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM dids WHERE pbx_id = $1 AND status = 'active'", acc.pbx_id
        )
        == 2
    )


async def test_resubmitting_without_a_new_document_is_refused(dev_env, pool, documents):
    async with running_worker(dev_env.client, pool) as q:
        handle, _, _ = await start(dev_env, q, pool, documents)
        await both_documents(handle, documents)
        await handle.execute_update(ClassoundOrder.confirm, RESELLER)
        refusal = CarrierAnswer(actor="staff", refused="address differs from the contract")
        await handle.execute_update(ClassoundOrder.carrier_answer, refusal)
        message = await refused(handle, ClassoundOrder.confirm, RESELLER)
        assert "upload a corrected LOA or last invoice before confirming again" in message
        repeat = await handle.execute_update(ClassoundOrder.carrier_answer, refusal)
        assert repeat.message.startswith("already recorded")
        message = await refused(
            handle,
            ClassoundOrder.carrier_answer,
            date_answer(await server_today(dev_env, Family.CLASSOUND) + timedelta(days=2)),
        )
        assert "must fix the documents and confirm again" in message
        await handle.execute_update(
            ClassoundOrder.cancel, Cancellation(actor="staff", reason="test done")
        )
        await outcome(dev_env, handle)
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM porting_requests WHERE process_id = $1", handle.id
        )
        == 1
    )


async def test_porting_date_moved_by_the_carrier_waits_for_the_new_day(time_env, pool, documents):
    async with running_worker(time_env.client, pool) as q:
        handle, _, acc = await start(time_env, q, pool, documents)
        await both_documents(handle, documents)
        await handle.execute_update(ClassoundOrder.confirm, RESELLER)
        today = await server_today(time_env, Family.CLASSOUND)
        await handle.execute_update(
            ClassoundOrder.carrier_answer, date_answer(today + timedelta(days=3))
        )
        moved = await handle.execute_update(
            ClassoundOrder.carrier_answer, date_answer(today + timedelta(days=9))
        )
        assert moved.message.startswith(f"porting moved to {today + timedelta(days=9)}")
        await time_env.sleep(timedelta(days=5))  # past the first date
        assert (await handle.query(ClassoundOrder.status)).stage == Stage.PORTING_SCHEDULED
        assert await pool.fetchval("SELECT count(*) FROM dids WHERE pbx_id = $1", acc.pbx_id) == 0
        result = await outcome(time_env, handle)
    assert result.stage == Stage.ACTIVE
    assert await pool.fetchval(
        "SELECT activated_on FROM classound_orders WHERE process_id = $1", handle.id
    ) == today + timedelta(days=9)


async def test_a_silent_carrier_is_chased_once(time_env, pool, documents):
    async with running_worker(time_env.client, pool) as q:
        handle, _, _ = await start(time_env, q, pool, documents)
        await both_documents(handle, documents)
        await handle.execute_update(ClassoundOrder.confirm, RESELLER)
        await time_env.sleep(CARRIER_ANSWER_DUE * 3)
        status = await handle.query(ClassoundOrder.status)
        assert status.stage == Stage.PORTING_REQUESTED
        assert status.attempt.chase_ticket is not None
        assert "customer care chases the carrier" in await details(handle)
        await handle.execute_update(
            ClassoundOrder.carrier_answer,
            date_answer(await server_today(time_env, Family.CLASSOUND)),
        )
        result = await outcome(time_env, handle)
    assert result.stage == Stage.ACTIVE  # a porting date of today: live at once
    chases = await pool.fetch(
        "SELECT subject FROM tickets WHERE process_id = $1 AND queue = 'customer_care'", handle.id
    )
    assert len(chases) == 1 and "No carrier answer" in chases[0]["subject"]


async def test_classound_ordering_for_an_existing_customer(time_env, pool, documents):
    async with running_worker(time_env.client, pool) as q:
        handle, answer, acc = await start(
            time_env,
            q,
            pool,
            documents,
            licences={"Business": 4, "Essential": 2},
            existing_flats=[("Business", [])],
            existing_customer=True,
            flats={"Essential": 2},
        )
        assert answer.stage == Stage.AWAITING_DOCUMENTS  # the same document rule
        await both_documents(handle, documents)
        await handle.execute_update(ClassoundOrder.confirm, RESELLER)
        await handle.execute_update(
            ClassoundOrder.carrier_answer,
            date_answer(await server_today(time_env, Family.CLASSOUND) + timedelta(days=1)),
        )
        result = await outcome(time_env, handle)
    assert result.stage == Stage.ACTIVE
    flats = await pool.fetch(
        "SELECT licence_type FROM pbx_products WHERE pbx_id = $1"
        " AND sku = 'CLASSOUND-FLAT' ORDER BY id",
        acc.pbx_id,
    )
    assert [f["licence_type"] for f in flats] == ["Business", "Essential", "Essential"]
    assert (
        await pool.fetchval("SELECT kind FROM classound_orders WHERE process_id = $1", handle.id)
        == "ordering"
    )
    plans = {
        r["licence_type"]: r["free_minutes_per_user"]
        for r in await pool.fetch(
            "SELECT * FROM classound_billing_plans WHERE pbx_id = $1", acc.pbx_id
        )
    }
    assert plans == {"Business": 3000, "Essential": 3000}
    # the ported numbers belong to the two flats this order booked
    linked = await pool.fetch(
        "SELECT f.licence_type, f.order_id FROM dids d JOIN pbx_products f ON f.id = d.flat_id"
        " WHERE d.pbx_id = $1",
        acc.pbx_id,
    )
    assert [(r["licence_type"], r["order_id"]) for r in linked] == [("Essential", handle.id)] * 2


async def test_classound_ordering_without_new_flats_adds_numbers_to_the_pbx_flats(
    time_env, pool, documents
):
    numbers = fresh_numbers(3)
    async with running_worker(time_env.client, pool) as q:
        handle, _, acc = await start(
            time_env,
            q,
            pool,
            documents,
            licences={"Business": 4},
            numbers=numbers,
            existing_flats=[("Business", []), ("Business", [])],
            existing_customer=True,
        )
        await both_documents(handle, documents)
        await handle.execute_update(ClassoundOrder.confirm, RESELLER)
        await handle.execute_update(
            ClassoundOrder.carrier_answer,
            date_answer(await server_today(time_env) + timedelta(days=1)),
        )
        result = await outcome(time_env, handle)
    assert result.stage == Stage.ACTIVE
    assert any(
        "3 DID(s) active" in r and "linked to 2 CLASSOUND-FLAT(s)" in r for r in result.records
    )
    linked = {
        r["number"]: r["flat_id"]
        for r in await pool.fetch("SELECT number, flat_id FROM dids WHERE pbx_id = $1", acc.pbx_id)
    }
    first, second = acc.flat_ids
    assert linked == {numbers[0]: first, numbers[1]: first, numbers[2]: second}


async def refusal_at_start(env, pool, documents, **kw) -> str:
    async with running_worker(env.client, pool) as q:
        handle, answer, _ = await start(env, q, pool, documents, **kw)
        result = await outcome(env, handle)
    assert result.stage == Stage.REFUSED
    assert isinstance(answer, WorkflowUpdateFailedError)
    assert (
        await pool.fetchval("SELECT count(*) FROM audit_log WHERE process_id = $1", handle.id) == 0
    )
    return answer.cause.message


async def test_orders_that_cannot_be_placed_are_refused_at_start(time_env, pool, documents):
    message = await refusal_at_start(time_env, pool, documents, existing_flats=[("Premium", [])])
    assert "already uses CLASSOUND (1 flat(s)): use Classound ordering" in message
    message = await refusal_at_start(time_env, pool, documents, existing_customer=True)
    assert "has no CLASSOUND yet" in message
    message = await refusal_at_start(
        time_env, pool, documents, licences={"Premium": 2}, flats={"Premium": 3}
    )
    assert "3 CLASSOUND-FLAT(s) on Premium" in message and "one flat per licence" in message

    taken = fresh_numbers(3)
    other = await new_account(pool, licences={"Basic": 1})
    await pool.execute(
        "INSERT INTO dids (number, pbx_id) VALUES ($1, $2)",
        f"{taken[1][:3]} {taken[1][3:5]} {taken[1][5:]}",
        other.pbx_id,
    )
    message = await refusal_at_start(time_env, pool, documents, numbers=taken)
    assert "1 of the 3 numbers are already active on a PBX" in message
    assert "entries 2 of the number list" in message
    assert taken[1] not in message and taken[1][3:] not in message  # never the number


async def test_a_number_being_ported_cannot_be_ordered_twice(time_env, pool, documents):
    numbers = fresh_numbers(2)
    async with running_worker(time_env.client, pool) as q:
        first, _, _ = await start(time_env, q, pool, documents, numbers=numbers)
        second, answer, _ = await start(
            time_env, q, pool, documents, numbers=[fresh_numbers(1)[0], numbers[0]]
        )
        assert isinstance(answer, WorkflowUpdateFailedError)
        assert "being ported by another order (entries 2 " in answer.cause.message
        await first.execute_update(
            ClassoundOrder.cancel, Cancellation(actor="staff", reason="test done")
        )
        await outcome(time_env, first)
        await outcome(time_env, second)


async def test_a_damaged_stored_file_is_refused_by_the_activity(time_env, pool, documents):
    async with running_worker(time_env.client, pool) as q:
        handle, _, _ = await start(time_env, q, pool, documents)
        doc = stored_document(documents, LOA, pdf_bytes(), "LOA.pdf")
        documents.path_of(doc.sha256).write_bytes(pdf_bytes("forged"))
        message = await refused(
            handle, ClassoundOrder.upload, DocumentUpload(actor="reseller-anna", document=doc)
        )
        assert message.startswith("LOA not accepted: the stored file")
        status = await handle.query(ClassoundOrder.status)
        assert status.documents == [] and status.stage == Stage.AWAITING_DOCUMENTS
        await handle.execute_update(
            ClassoundOrder.cancel, Cancellation(actor="staff", reason="test done")
        )
        await outcome(time_env, handle)
    assert (
        await pool.fetchval("SELECT count(*) FROM documents WHERE process_id = $1", handle.id) == 0
    )


async def test_steps_sent_twice_are_applied_once(time_env, pool, documents):
    async with running_worker(time_env.client, pool) as q:
        handle, _, _ = await start(time_env, q, pool, documents)
        loa = stored_document(documents, LOA, pdf_bytes(), "LOA.pdf")
        step = DocumentUpload(actor="reseller-anna", document=loa)
        first = await handle.execute_update(ClassoundOrder.upload, step, id="upload-loa")
        assert await handle.execute_update(ClassoundOrder.upload, step, id="upload-loa") == first
        await upload(handle, documents, INVOICE, pdf_bytes("invoice"), "invoice.pdf")
        confirmed = await handle.execute_update(ClassoundOrder.confirm, RESELLER, id="c-1")
        assert await handle.execute_update(ClassoundOrder.confirm, RESELLER, id="c-1") == confirmed
        repeat = await handle.execute_update(ClassoundOrder.confirm, RESELLER, id="c-2")
        assert repeat.message.startswith("already confirmed by reseller-anna")
        day = await server_today(time_env, Family.CLASSOUND) + timedelta(days=1)
        await handle.execute_update(ClassoundOrder.carrier_answer, date_answer(day))
        same = await handle.execute_update(ClassoundOrder.carrier_answer, date_answer(day))
        assert same.message.startswith("already recorded: porting on")
        await outcome(time_env, handle)
    counts = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM documents WHERE process_id = $1) AS documents,"
        " (SELECT count(*) FROM porting_requests WHERE process_id = $1) AS requests,"
        " (SELECT count(*) FROM audit_log WHERE process_id = $1"
        "  AND step LIKE 'carrier-answer-%') AS answers",
        handle.id,
    )
    assert dict(counts) == {"documents": 2, "requests": 1, "answers": 1}


async def test_ported_dids_belong_to_their_flat_so_a_reduction_lists_exactly_those(
    time_env, pool, documents
):
    """A licence reduction cancels the CLASSOUND-FLAT of the removed seat, and
    its DIDs go to customer care. Four numbers over three Premium flats: the first numbers
    go to the flat booked first (cancelled last): [n1, n2], [n3], [n4]."""
    numbers = fresh_numbers(4)
    async with running_worker(time_env.client, pool) as q:
        handle, _, acc = await start(
            time_env, q, pool, documents, licences={"Premium": 3}, numbers=numbers
        )
        await both_documents(handle, documents)
        await handle.execute_update(ClassoundOrder.confirm, RESELLER)
        day = await server_today(time_env) + timedelta(days=2)
        await handle.execute_update(ClassoundOrder.carrier_answer, date_answer(day))
        assert (await outcome(time_env, handle)).stage == Stage.ACTIVE

        flats = [
            r["id"]
            for r in await pool.fetch(
                "SELECT id FROM pbx_products WHERE pbx_id = $1 AND sku = 'CLASSOUND-FLAT'"
                " AND order_id = $2 ORDER BY id",
                acc.pbx_id,
                handle.id,
            )
        ]
        assert len(flats) == 3
        linked = {
            r["number"]: r["flat_id"]
            for r in await pool.fetch(
                "SELECT number, flat_id FROM dids WHERE pbx_id = $1", acc.pbx_id
            )
        }
        assert linked == {
            numbers[0]: flats[0],
            numbers[1]: flats[0],
            numbers[2]: flats[1],
            numbers[3]: flats[2],
        }

        # Two Premium seats go: the two newest flats with them, and a ticket for their DIDs.
        reduction, _ = await start_process(
            time_env.client,
            q,
            FastChangeOrder,
            FastChangeRequest(
                account_id=acc.id,
                pbx_id=acc.pbx_id,
                requested_by="staff",
                lines=[FastChangeLine(sku="Premium", quantity=1)],
            ),
        )
        await reduction.execute_update(FastChangeOrder.confirm, StaffStep(actor="partner"))
        assert (await outcome(time_env, reduction)).stage == "applied"

    assert [
        r["id"]
        for r in await pool.fetch(
            "SELECT id FROM pbx_products WHERE pbx_id = $1 AND status = 'cancelled' ORDER BY id",
            acc.pbx_id,
        )
    ] == flats[1:]
    (ticket,) = await pool.fetch("SELECT * FROM tickets WHERE process_id = $1", reduction.id)
    assert ticket["queue"] == "customer_care"
    assert sorted(re.findall(r"\+\d{6,}", ticket["body"])) == sorted(numbers[2:])
    # The DIDs stay live until customer care cancels them.
    assert {
        r["status"]
        for r in await pool.fetch("SELECT status FROM dids WHERE pbx_id = $1", acc.pbx_id)
    } == {"active"}
