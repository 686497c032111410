"""Every branch of the quote-based change order with the real activities and PostgreSQL.
Steps refused by an update validator run on the dev server (the time-skipping test server
answers them with "not found"); the rest run on the time-skipping server."""

from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from domain.change_order import (
    Cancellation,
    ChangeOrderRequest,
    QuoteStep,
    Revision,
    StaffStep,
    Stage,
)
from domain.classound import DocumentUpload
from domain.documents import DocumentKind
from domain.order_lines import QuoteLine
from store.documents import DocumentStore
from tests.records import licence_totals, new_account, set_account_field
from tests.records_classound import jpeg_bytes, pdf_bytes, stored_document
from tests.workflows.harness import (
    outcome,
    quote_lines,
    running_worker,
    server_today,
    start_process,
)
from workflows.change_order import ChangeOrder

STAFF = StaffStep(actor="staff")
PARTNER = StaffStep(actor="partner-user")


def request(acc, lines) -> ChangeOrderRequest:
    return ChangeOrderRequest(
        account_id=acc.id, pbx_id=acc.pbx_id, lines=lines, requested_by="staff"
    )


async def current_quote(handle: WorkflowHandle) -> str:
    return (await handle.query(ChangeOrder.status)).current_quote.quote_id


async def primary_and_publish(handle: WorkflowHandle) -> str:
    quote_id = await current_quote(handle)
    await handle.execute_update(
        ChangeOrder.mark_primary, QuoteStep(actor="staff", quote_id=quote_id)
    )
    await handle.execute_update(ChangeOrder.publish, QuoteStep(actor="staff", quote_id=quote_id))
    return quote_id


async def refused(handle: WorkflowHandle, update, arg) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(update, arg)
    return err.value.cause.message


@pytest.fixture
def documents(tmp_path, monkeypatch) -> DocumentStore:
    """The document store of this test: the worker's activities and the test share it."""
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(tmp_path / "documents"))
    return DocumentStore(tmp_path / "documents")


async def upload(handle: WorkflowHandle, documents: DocumentStore, kind: DocumentKind):
    """The LOA or the last invoice, as `starter.py upload` sends it."""
    data, name = (
        (pdf_bytes("LOA signed"), "LOA.pdf")
        if kind == DocumentKind.LOA
        else (jpeg_bytes(), "last-invoice.jpg")
    )
    doc = stored_document(documents, kind, data, name)
    return await handle.execute_update(
        "upload", DocumentUpload(actor="reseller-anna", document=doc), result_type=None
    )


async def test_quote_accepted_confirmed_and_applied_with_seed_start_dates(
    time_env, pool, documents
):
    acc = await new_account(pool, licences={"Premium": 2})
    today = await server_today(time_env)
    licence_start = today + timedelta(days=10)
    lines = quote_lines(
        ("Premium", 3, None, licence_start),
        ("WP480G", 2, None, today + timedelta(days=5)),  # capex: the date is ignored
        ("SVC-INSTALL", 1),
        ("CLASSOUND-FLAT", 2, "Premium"),
    )
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start_process(time_env.client, q, ChangeOrder, request(acc, lines))
        assert answer.stage == Stage.QUOTE_DRAFT
        assert any("WP480G" in n and "ignored" in n for n in answer.notes)
        quote_id = await primary_and_publish(handle)
        for kind in DocumentKind:  # the quote has CLASSOUND-FLATs
            await upload(handle, documents, kind)
        accepted = await handle.execute_update(ChangeOrder.mark_complete, STAFF)
        assert accepted.stage == Stage.AWAITING_PARTNER and not accepted.rejected
        order = await pool.fetchrow("SELECT * FROM orders WHERE process_id = $1", handle.id)
        assert (order["status"], order["quote_id"]) == ("awaiting_partner_confirmation", quote_id)
        await handle.execute_update(ChangeOrder.confirm, PARTNER)
        result = await outcome(time_env, handle)
    assert result.stage == Stage.APPLIED
    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 5}
    products = {
        r["sku"]: r
        for r in await pool.fetch(
            "SELECT sku, count(*) AS n, min(start_date) AS start FROM pbx_products"
            " WHERE pbx_id = $1 GROUP BY sku",
            acc.pbx_id,
        )
    }
    assert products["WP480G"]["start"] == today  # capex: always today
    assert products["SVC-INSTALL"]["start"] == today
    assert products["CLASSOUND-FLAT"]["n"] == 2
    assert products["CLASSOUND-FLAT"]["start"] == licence_start  # with its linked licence
    quote = await pool.fetchrow("SELECT * FROM quotes WHERE id = $1", quote_id)
    assert (quote["status"], quote["is_primary"]) == ("accepted", True)
    assert quote["published_at"] is not None


async def test_rejected_for_missing_mandatory_fields_then_fixed_and_accepted(time_env, pool):
    acc = await new_account(pool, licences={"Basic": 2}, missing=("phone", "invoice_email"))
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start_process(
            time_env.client, q, ChangeOrder, request(acc, quote_lines(("Basic", 1)))
        )
        quote_id = await primary_and_publish(handle)
        rejection = await handle.execute_update(ChangeOrder.mark_complete, STAFF)
        assert rejection.rejected and rejection.stage == Stage.QUOTE_REJECTED
        assert "phone" in rejection.message and "invoice e-mail" in rejection.message
        assert "e-mail," not in rejection.message.split("invoice")[0]  # e-mail is filled
        assert (
            await pool.fetchval("SELECT count(*) FROM orders WHERE process_id = $1", handle.id) == 0
        )
        # still rejected while only one of the two is fixed
        await set_account_field(pool, acc.id, "phone", "+49 30 1111111")
        again = await handle.execute_update(ChangeOrder.mark_complete, STAFF)
        assert again.rejected and "invoice e-mail" in again.message
        assert "phone" not in again.message
        await set_account_field(pool, acc.id, "invoice_email", "ap@test.example")
        accepted = await handle.execute_update(ChangeOrder.mark_complete, STAFF)
        assert not accepted.rejected and accepted.stage == Stage.AWAITING_PARTNER
        await handle.execute_update(ChangeOrder.confirm, PARTNER)
        result = await outcome(time_env, handle)
    assert result.stage == Stage.APPLIED
    assert await licence_totals(pool, acc.pbx_id) == {"Basic": 3}
    quote = await pool.fetchrow(
        "SELECT status, rejection_reason FROM quotes WHERE id = $1", quote_id
    )
    assert (quote["status"], quote["rejection_reason"]) == ("accepted", None)
    audit = [
        r["action"]
        for r in await pool.fetch(
            "SELECT action FROM audit_log WHERE process_id = $1 ORDER BY id", handle.id
        )
    ]
    assert audit.count("quote completed") == 3


async def test_revise_after_publish_duplicates_and_only_the_new_primary_becomes_the_order(
    dev_env, pool
):
    acc = await new_account(pool, licences={"Essential": 4})
    async with running_worker(dev_env.client, pool) as q:
        handle, _ = await start_process(
            dev_env.client, q, ChangeOrder, request(acc, quote_lines(("Essential", 2)))
        )
        v1 = await primary_and_publish(handle)
        revised = await handle.execute_update(
            ChangeOrder.revise, Revision(actor="staff", lines=quote_lines(("Essential", 5)))
        )
        assert revised.stage == Stage.QUOTE_PRIMARY  # the duplicate is primary, not published
        v2 = await current_quote(handle)
        assert v2 != v1
        # the published original is immutable and no longer usable
        assert "only the newest quote" in await refused(
            handle, ChangeOrder.publish, QuoteStep(actor="staff", quote_id=v1)
        )
        # the duplicate must be published before it can be marked complete
        assert "not published" in await refused(handle, ChangeOrder.mark_complete, STAFF)
        await handle.execute_update(ChangeOrder.publish, QuoteStep(actor="staff", quote_id=v2))
        await handle.execute_update(ChangeOrder.mark_complete, STAFF)
        await handle.execute_update(ChangeOrder.confirm, PARTNER)
        result = await outcome(dev_env, handle)
    assert await licence_totals(pool, acc.pbx_id) == {"Essential": 9}
    quotes = {
        r["id"]: r
        for r in await pool.fetch(
            "SELECT id, status, is_primary, revises FROM quotes WHERE process_id = $1", handle.id
        )
    }
    assert quotes[v1]["status"] == "superseded" and not quotes[v1]["is_primary"]
    assert quotes[v2]["status"] == "accepted" and quotes[v2]["revises"] == v1
    assert await pool.fetchval("SELECT quote_id FROM orders WHERE id = $1", result.order_id) == v2


async def test_only_a_primary_quote_can_be_published_and_only_a_published_one_completed(
    dev_env, pool
):
    acc = await new_account(pool, licences={"Basic": 1})
    async with running_worker(dev_env.client, pool) as q:
        handle, _ = await start_process(
            dev_env.client, q, ChangeOrder, request(acc, quote_lines(("Basic", 1)))
        )
        quote_id = await current_quote(handle)
        assert "not published" in await refused(handle, ChangeOrder.mark_complete, STAFF)
        assert "only a primary quote can be published" in await refused(
            handle, ChangeOrder.publish, QuoteStep(actor="staff", quote_id=quote_id)
        )
        assert "no quote nope" in await refused(
            handle, ChangeOrder.mark_primary, QuoteStep(actor="staff", quote_id="nope")
        )
        await handle.execute_update(
            ChangeOrder.cancel, Cancellation(actor="staff", reason="test done")
        )
        await outcome(dev_env, handle)


async def test_one_primary_quote_per_project(dev_env, pool):
    acc = await new_account(pool, licences={"Basic": 1})
    async with running_worker(dev_env.client, pool) as q:
        first, _ = await start_process(
            dev_env.client, q, ChangeOrder, request(acc, quote_lines(("Basic", 1)))
        )
        second, _ = await start_process(
            dev_env.client, q, ChangeOrder, request(acc, quote_lines(("Basic", 2)))
        )
        first_quote = await current_quote(first)
        await first.execute_update(
            ChangeOrder.mark_primary, QuoteStep(actor="staff", quote_id=first_quote)
        )
        await primary_and_publish(second)  # takes the project's primary flag
        primaries = await pool.fetch(
            "SELECT id FROM quotes WHERE pbx_id = $1 AND is_primary", acc.pbx_id
        )
        assert [r["id"] for r in primaries] == [await current_quote(second)]
        message = await refused(
            first, ChangeOrder.publish, QuoteStep(actor="staff", quote_id=first_quote)
        )
        assert "no longer the primary quote" in message
        for handle in (first, second):
            await handle.execute_update(
                ChangeOrder.cancel, Cancellation(actor="staff", reason="test done")
            )
            await outcome(dev_env, handle)


async def test_cancel_at_quote_stage_cancels_the_quotes(time_env, pool):
    acc = await new_account(pool, licences={"Basic": 1})
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start_process(
            time_env.client, q, ChangeOrder, request(acc, quote_lines(("Basic", 1)))
        )
        await primary_and_publish(handle)
        await handle.execute_update(
            ChangeOrder.cancel, Cancellation(actor="staff", reason="customer withdrew")
        )
        result = await outcome(time_env, handle)
    assert result.stage == Stage.CANCELLED
    assert "customer withdrew" in result.waiting_for
    rows = await pool.fetch(
        "SELECT status, is_primary FROM quotes WHERE process_id = $1", handle.id
    )
    assert [(r["status"], r["is_primary"]) for r in rows] == [("cancelled", False)]
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE process_id = $1", handle.id) == 0


async def test_inactive_pbx_is_refused_at_start(time_env, pool):
    acc = await new_account(pool, licences={"Basic": 1}, active=False)
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start_process(
            time_env.client, q, ChangeOrder, request(acc, quote_lines(("Basic", 1)))
        )
        result = await outcome(time_env, handle)
    assert result.stage == Stage.REFUSED
    assert isinstance(answer, WorkflowUpdateFailedError)
    assert "is not active" in answer.cause.message
    assert await pool.fetchval("SELECT count(*) FROM quotes WHERE pbx_id = $1", acc.pbx_id) == 0


async def test_quote_reduction_cascades_to_flats_and_a_did_ticket(time_env, pool):
    acc = await new_account(
        pool, licences={"Premium": 2}, flats=[("Premium", ["+4940111"]), ("Premium", ["+4940222"])]
    )
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start_process(
            time_env.client, q, ChangeOrder, request(acc, quote_lines(("Premium", -2)))
        )
        await primary_and_publish(handle)
        await handle.execute_update(ChangeOrder.mark_complete, STAFF)
        await handle.execute_update(ChangeOrder.confirm, PARTNER)
        await outcome(time_env, handle)
    assert await licence_totals(pool, acc.pbx_id) == {}
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM pbx_products WHERE pbx_id = $1 AND status = 'active'", acc.pbx_id
        )
        == 0
    )
    (ticket,) = await pool.fetch("SELECT * FROM tickets WHERE process_id = $1", handle.id)
    assert ticket["queue"] == "customer_care"
    assert "+4940111" in ticket["body"] and "+4940222" in ticket["body"]


async def test_steps_sent_twice_are_applied_once(time_env, pool):
    acc = await new_account(pool, licences={"Basic": 1})
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start_process(
            time_env.client, q, ChangeOrder, request(acc, quote_lines(("Basic", 2)))
        )
        quote_id = await current_quote(handle)
        step = QuoteStep(actor="staff", quote_id=quote_id)
        for _ in range(2):  # different update ids: the workflow itself sees the repeat
            await handle.execute_update(ChangeOrder.mark_primary, step)
            await handle.execute_update(ChangeOrder.publish, step)
        first = await handle.execute_update(ChangeOrder.mark_complete, STAFF)
        again = await handle.execute_update(ChangeOrder.mark_complete, STAFF)
        assert "already accepted" in again.message and not first.rejected
        await handle.execute_update(ChangeOrder.confirm, PARTNER)
        await outcome(time_env, handle)
    assert await licence_totals(pool, acc.pbx_id) == {"Basic": 3}
    actions = [
        r["action"]
        for r in await pool.fetch(
            "SELECT action FROM audit_log WHERE process_id = $1 ORDER BY id", handle.id
        )
    ]
    assert actions == [
        "quote saved",
        "quote marked primary",
        "quote published",
        "quote completed",
        "order applied",
    ]


# --- CLASSOUND documents, and revisions that keep their lines --------------------


async def test_a_quote_with_classound_is_booked_and_confirmed_only_with_both_documents(
    dev_env, pool, documents
):
    acc = await new_account(pool, licences={"Premium": 3})
    lines = quote_lines(("Premium", 1), ("CLASSOUND-FLAT", 2, "Premium"))
    async with running_worker(dev_env.client, pool) as q:
        handle, _ = await start_process(dev_env.client, q, ChangeOrder, request(acc, lines))
        await primary_and_publish(handle)
        message = await refused(handle, ChangeOrder.mark_complete, STAFF)
        assert "cannot be marked complete" in message
        assert "waiting for: LOA, last invoice" in message
        assert f"starter.py upload {handle.id} --kind loa|last-invoice" in message
        status = await handle.query(ChangeOrder.status)
        assert status.missing == ["LOA", "last invoice"]
        assert "CLASSOUND documents missing: LOA, last invoice" in status.waiting_for

        answer = await upload(handle, documents, DocumentKind.LOA)
        assert "still missing: last invoice" in answer["message"]
        message = await refused(handle, ChangeOrder.mark_complete, STAFF)
        assert "waiting for: last invoice" in message and "LOA," not in message
        assert (
            await pool.fetchval("SELECT count(*) FROM orders WHERE process_id = $1", handle.id) == 0
        )

        await upload(handle, documents, DocumentKind.LAST_INVOICE)
        accepted = await handle.execute_update(ChangeOrder.mark_complete, STAFF)
        assert accepted.stage == Stage.AWAITING_PARTNER
        await handle.execute_update(ChangeOrder.confirm, PARTNER)
        result = await outcome(dev_env, handle)
    assert result.stage == Stage.APPLIED and result.missing == []
    assert [d.kind for d in result.documents] == [DocumentKind.LOA, DocumentKind.LAST_INVOICE]
    rows = await pool.fetch(
        "SELECT kind FROM documents WHERE process_id = $1 AND is_current ORDER BY kind", handle.id
    )
    assert [r["kind"] for r in rows] == ["last-invoice", "loa"]
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM pbx_products WHERE pbx_id = $1 AND sku = 'CLASSOUND-FLAT'"
            " AND status = 'active'",
            acc.pbx_id,
        )
        == 2
    )


async def test_upload_to_a_change_order_without_classound_is_refused(dev_env, pool, documents):
    acc = await new_account(pool, licences={"Premium": 3})
    async with running_worker(dev_env.client, pool) as q:
        handle, _ = await start_process(
            dev_env.client, q, ChangeOrder, request(acc, quote_lines(("Premium", 1)))
        )
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await upload(handle, documents, DocumentKind.LOA)
        await handle.execute_update(
            ChangeOrder.cancel, Cancellation(actor="staff", reason="test done")
        )
        await outcome(dev_env, handle)
    assert "has no CLASSOUND-FLAT" in err.value.cause.message


async def test_a_revised_quote_keeps_every_line_it_does_not_change(dev_env, pool):
    acc = await new_account(pool, licences={"Premium": 2})
    lines = quote_lines(("Premium", 2), ("WP480G", 3), ("SVC-INSTALL", 1))
    async with running_worker(dev_env.client, pool) as q:
        handle, _ = await start_process(dev_env.client, q, ChangeOrder, request(acc, lines))
        v1 = await primary_and_publish(handle)
        revised = await handle.execute_update(
            ChangeOrder.revise,
            Revision(
                actor="staff",
                lines=[
                    QuoteLine(sku="Premium", quantity=5),
                    QuoteLine(sku="SVC-TRAINING", quantity=1),
                ],
                remove=["SVC-INSTALL"],
            ),
        )
        assert revised.stage == Stage.QUOTE_PRIMARY
        assert f"differences from {v1}" in revised.message
        assert revised.notes[:3] == [
            "removed SVC-INSTALL +1",
            "Premium +2 → +5",
            "added SVC-TRAINING +1",
        ]
        assert "no such line" in await refused(
            handle, ChangeOrder.revise, Revision(actor="staff", remove=["W-AIR-SYNC-PLUS"])
        )
        v2 = await current_quote(handle)
        await handle.execute_update(ChangeOrder.publish, QuoteStep(actor="staff", quote_id=v2))
        await handle.execute_update(ChangeOrder.mark_complete, STAFF)
        await handle.execute_update(ChangeOrder.confirm, PARTNER)
        await outcome(dev_env, handle)
    stored = [
        (r["sku"], r["quantity"])
        for r in await pool.fetch(
            "SELECT sku, quantity FROM quote_lines WHERE quote_id = $1 ORDER BY line_no", v2
        )
    ]
    assert stored == [("Premium", 5), ("WP480G", 3), ("SVC-TRAINING", 1)]
    assert await licence_totals(pool, acc.pbx_id) == {"Premium": 7}
    products = {
        r["sku"]: r["n"]
        for r in await pool.fetch(
            "SELECT sku, sum(quantity)::int AS n FROM pbx_products WHERE pbx_id = $1 GROUP BY sku",
            acc.pbx_id,
        )
    }
    assert products == {"WP480G": 3, "SVC-TRAINING": 1}
