"""Records the change-order histories that tests/test_replay.py replays. Run it when a
workflow changes on purpose (and keep old histories that running processes may still have,
see tests/histories/release.yaml):

    .venv/bin/python -m tests.histories.record_change_orders [NAME ...]

With names, only those histories are recorded (the others stay as they are). Each history
is a real run on the time-skipping server with the real activities."""

import asyncio
import os
import sys
import tempfile
from datetime import timedelta

from domain.change_order import (
    Cancellation,
    ChangeOrderRequest,
    FastChangeRequest,
    QuoteStep,
    Revision,
    StaffStep,
)
from domain.classound import DocumentUpload
from domain.documents import DocumentKind
from domain.order_lines import QuoteLine
from store.documents import DocumentStore
from tests.histories.recording import recording, save
from tests.records import new_account, set_account_field
from tests.records_classound import jpeg_bytes, pdf_bytes, stored_document
from tests.workflows.harness import (
    fast_lines,
    outcome,
    quote_lines,
    running_worker,
    start_process,
)
from workflows.change_order import ChangeOrder
from workflows.fast_change_order import FastChangeOrder

STAFF, PARTNER = StaffStep(actor="staff"), StaffStep(actor="partner-user")


async def active_partner_user(pool, partner_id: str, user_id: str) -> None:
    """A partner user of the order's partner who has logged in: may confirm its orders."""
    await pool.execute(
        "INSERT INTO partner_accounts (partner_id, channel_manager, process_id,"
        " created_by) VALUES ($1, 'cm', 'tests', 'tests') ON CONFLICT DO NOTHING",
        partner_id,
    )
    await pool.execute(
        "INSERT INTO contacts (id, partner_id, name, email, phone) VALUES"
        " ($2, $1, 'Rec', $3, '+45 70 000000')",
        partner_id,
        user_id,
        f"{user_id.lower()}@partner.example",
    )
    await pool.execute(
        "INSERT INTO partner_users (id, partner_id, status, password_hash,"
        " first_login_at, invited_by) VALUES ($2, $1, 'active', 'x' ||"
        " repeat('0', 30), now(), 'cm')",
        partner_id,
        user_id,
    )


async def fast_change_applied_after_reminder(env, pool, q) -> None:
    acc = await new_account(
        pool, licences={"Premium": 3}, flats=[("Premium", ["+4930999"]), ("Premium", ["+4930998"])]
    )
    handle, _ = await start_process(
        env.client,
        q,
        FastChangeOrder,
        FastChangeRequest(
            account_id=acc.id,
            pbx_id=acc.pbx_id,
            lines=fast_lines(Premium=1, Business=2),
            requested_by="staff",
        ),
    )
    await env.sleep(timedelta(days=2, hours=1))
    await handle.execute_update(FastChangeOrder.confirm, PARTNER)
    await outcome(env, handle)
    await save(handle, "fast_change_applied_after_reminder")


async def fast_change_steps_authorized(env, pool, q) -> None:
    """A made-up actor's confirmation is refused by the step's own transaction, the partner
    user of the order's partner confirms."""
    acc = await new_account(pool, licences={"Premium": 3})
    await active_partner_user(pool, acc.partner_id, "C-REC-1")
    handle, _ = await start_process(
        env.client,
        q,
        FastChangeOrder,
        FastChangeRequest(
            account_id=acc.id, pbx_id=acc.pbx_id, lines=fast_lines(Premium=4), requested_by="staff"
        ),
    )
    try:
        await handle.execute_update(FastChangeOrder.confirm, StaffStep(actor="mallory"))
    except Exception:  # noqa: BLE001 - refused: not in the directory
        pass
    await handle.execute_update(FastChangeOrder.confirm, StaffStep(actor="C-REC-1"))
    await outcome(env, handle)
    await save(handle, "fast_change_steps_authorized")


async def fast_change_expired(env, pool, q) -> None:
    acc = await new_account(pool, licences={"Basic": 1})
    handle, _ = await start_process(
        env.client,
        q,
        FastChangeOrder,
        FastChangeRequest(
            account_id=acc.id, pbx_id=acc.pbx_id, lines=fast_lines(Basic=2), requested_by="staff"
        ),
    )
    await outcome(env, handle)
    await save(handle, "fast_change_expired")


async def fast_change_refused(env, pool, q) -> None:
    acc = await new_account(pool, licences={"Basic": 1}, active=False)
    handle, _ = await start_process(
        env.client,
        q,
        FastChangeOrder,
        FastChangeRequest(
            account_id=acc.id, pbx_id=acc.pbx_id, lines=fast_lines(Basic=2), requested_by="staff"
        ),
    )
    await outcome(env, handle)
    await save(handle, "fast_change_refused")


async def change_order_rejected_revised_applied(env, pool, q) -> None:
    acc = await new_account(pool, licences={"Premium": 2}, missing=("invoice_email",))
    handle, _ = await start_process(
        env.client,
        q,
        ChangeOrder,
        ChangeOrderRequest(
            account_id=acc.id,
            pbx_id=acc.pbx_id,
            requested_by="staff",
            lines=quote_lines(("Premium", 2), ("WP480G", 1)),
        ),
    )
    v1 = (await handle.query(ChangeOrder.status)).current_quote.quote_id
    await handle.execute_update(ChangeOrder.mark_primary, QuoteStep(actor="staff", quote_id=v1))
    await handle.execute_update(ChangeOrder.publish, QuoteStep(actor="staff", quote_id=v1))
    await handle.execute_update(ChangeOrder.mark_complete, STAFF)  # rejected: no invoice e-mail
    await set_account_field(pool, acc.id, "invoice_email", "ap@test.example")
    await handle.execute_update(
        ChangeOrder.revise,
        Revision(actor="staff", lines=quote_lines(("Premium", 3), ("SVC-INSTALL", 1))),
    )
    v2 = (await handle.query(ChangeOrder.status)).current_quote.quote_id
    await handle.execute_update(ChangeOrder.publish, QuoteStep(actor="staff", quote_id=v2))
    await handle.execute_update(ChangeOrder.mark_complete, STAFF)
    await handle.execute_update(ChangeOrder.confirm, PARTNER)
    await outcome(env, handle)
    await save(handle, "change_order_rejected_revised_applied")


async def change_order_cancelled(env, pool, q) -> None:
    acc = await new_account(pool, licences={"Basic": 2})
    handle, _ = await start_process(
        env.client,
        q,
        ChangeOrder,
        ChangeOrderRequest(
            account_id=acc.id,
            pbx_id=acc.pbx_id,
            requested_by="staff",
            lines=quote_lines(("Basic", -1)),
        ),
    )
    await handle.execute_update(
        ChangeOrder.cancel, Cancellation(actor="staff", reason="customer withdrew")
    )
    await outcome(env, handle)
    await save(handle, "change_order_cancelled")


async def fast_change_second_order_found_nothing_to_change(env, pool, q) -> None:
    """Two orders set Premium=6 on a PBX with 5: the second, applied after the first, is
    planned again on apply and changes nothing."""
    acc = await new_account(pool, licences={"Premium": 5})
    handles = []
    for _ in range(2):
        handle, _ = await start_process(
            env.client,
            q,
            FastChangeOrder,
            FastChangeRequest(
                account_id=acc.id,
                pbx_id=acc.pbx_id,
                lines=fast_lines(Premium=6),
                requested_by="staff",
            ),
        )
        handles.append(handle)
    for handle in handles:
        await handle.execute_update(FastChangeOrder.confirm, PARTNER)
        await outcome(env, handle)
    await save(handles[1], "fast_change_second_order_found_nothing_to_change")


async def change_order_classound_documents_revision_kept_lines(env, pool, q) -> None:
    """A revision that keeps the original's lines and adds a CLASSOUND-FLAT, which is then
    booked only once the LOA and the last invoice are uploaded."""
    documents = DocumentStore(os.environ["PARTNERFLOW_DOCUMENTS_DIR"])
    acc = await new_account(pool, licences={"Premium": 2})
    handle, _ = await start_process(
        env.client,
        q,
        ChangeOrder,
        ChangeOrderRequest(
            account_id=acc.id,
            pbx_id=acc.pbx_id,
            requested_by="staff",
            lines=quote_lines(("Premium", 1), ("WP480G", 2), ("SVC-INSTALL", 1)),
        ),
    )
    v1 = (await handle.query(ChangeOrder.status)).current_quote.quote_id
    await handle.execute_update(ChangeOrder.mark_primary, QuoteStep(actor="staff", quote_id=v1))
    await handle.execute_update(ChangeOrder.publish, QuoteStep(actor="staff", quote_id=v1))
    await handle.execute_update(
        ChangeOrder.revise,
        Revision(
            actor="staff",
            lines=[QuoteLine(sku="CLASSOUND-FLAT", quantity=2, licence="Premium")],
            remove=["SVC-INSTALL"],
        ),
    )
    v2 = (await handle.query(ChangeOrder.status)).current_quote.quote_id
    await handle.execute_update(ChangeOrder.publish, QuoteStep(actor="staff", quote_id=v2))
    for kind, data, name in (
        (DocumentKind.LOA, pdf_bytes(), "LOA.pdf"),
        (DocumentKind.LAST_INVOICE, jpeg_bytes(), "invoice.jpg"),
    ):
        await handle.execute_update(
            "upload",
            DocumentUpload(actor="reseller", document=stored_document(documents, kind, data, name)),
            result_type=None,
        )
    await handle.execute_update(ChangeOrder.mark_complete, STAFF)
    await handle.execute_update(ChangeOrder.confirm, PARTNER)
    await outcome(env, handle)
    await save(handle, "change_order_classound_documents_revision_kept_lines")


async def quote_to_applied_order(env, pool, q, name: str) -> None:
    """A quote (Premium +2, a WP480G) marked primary, published, marked complete, confirmed."""
    acc = await new_account(pool, licences={"Premium": 2})
    handle, _ = await start_process(
        env.client,
        q,
        ChangeOrder,
        ChangeOrderRequest(
            account_id=acc.id,
            pbx_id=acc.pbx_id,
            requested_by="staff",
            lines=quote_lines(("Premium", 2), ("WP480G", 1)),
        ),
    )
    v1 = (await handle.query(ChangeOrder.status)).current_quote.quote_id
    await handle.execute_update(ChangeOrder.mark_primary, QuoteStep(actor="staff", quote_id=v1))
    await handle.execute_update(ChangeOrder.publish, QuoteStep(actor="staff", quote_id=v1))
    await handle.execute_update(ChangeOrder.mark_complete, STAFF)
    await handle.execute_update(ChangeOrder.confirm, PARTNER)
    await outcome(env, handle)
    await save(handle, name)


async def fast_change_start_refused_in_its_step(env, pool, q) -> None:
    """A start by someone outside the directory, refused by the opening step's own
    transaction."""
    acc = await new_account(pool, licences={"Premium": 3})
    handle, _ = await start_process(
        env.client,
        q,
        FastChangeOrder,
        FastChangeRequest(
            account_id=acc.id,
            pbx_id=acc.pbx_id,
            lines=fast_lines(Premium=4),
            requested_by="mallory",
        ),
    )
    await outcome(env, handle)
    await save(handle, "fast_change_start_refused_in_its_step")


async def change_order_opened_in_one_step_applied(env, pool, q) -> None:
    """PBX check, plan and quote v1 in one step, then the quote through to the applied
    order (the quote steps checked in their own transactions)."""
    await quote_to_applied_order(env, pool, q, "change_order_opened_in_one_step_applied")


TIME_SKIPPING = (
    fast_change_applied_after_reminder,
    fast_change_expired,
    fast_change_refused,
    fast_change_steps_authorized,
    fast_change_second_order_found_nothing_to_change,
    fast_change_start_refused_in_its_step,
)
DEV_SERVER = (
    change_order_rejected_revised_applied,
    change_order_cancelled,
    change_order_classound_documents_revision_kept_lines,
    change_order_opened_in_one_step_applied,
)


async def main(names: list[str]) -> None:
    unknown = set(names) - {f.__name__ for f in TIME_SKIPPING + DEV_SERVER}
    if unknown:
        raise SystemExit(f"no such history: {', '.join(sorted(unknown))}")

    def chosen(records):
        return [f for f in records if not names or f.__name__ in names]

    with tempfile.TemporaryDirectory() as documents:
        os.environ["PARTNERFLOW_DOCUMENTS_DIR"] = documents
        async with recording() as r:
            async with running_worker(r.time_env.client, r.pool) as q:
                for record in chosen(TIME_SKIPPING):
                    await record(r.time_env, r.pool, q)
            async with running_worker(r.dev_env.client, r.pool) as q:
                for record in chosen(DEV_SERVER):
                    await record(r.dev_env, r.pool, q)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
    sys.stdout.flush()
    os._exit(0)
