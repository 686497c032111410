"""Records the CLASSOUND order histories that tests/test_replay.py replays. Run it when the
workflow changes on purpose (and keep old histories that running processes may still have):

    .venv/bin/python -m tests.histories.record_classound [NAME ...]

With names (the functions below), only those are recorded: the others stay as they were.

Each history is a real run on the time-skipping server with the real activities, a throwaway
PostgreSQL and a throwaway document store."""

import asyncio
import os
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from domain.business_time import Family
from domain.classound import CarrierAnswer, DocumentUpload, Extension
from domain.steps import Cancellation, StaffStep
from store.documents import DocumentStore
from tests.histories.recording import recording, save
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

RESELLER = StaffStep(actor="reseller-anna")


async def start(env, pool, documents, q, *, licences=None, flats=(), **fields):
    acc = await new_account(
        pool, licences=licences or {"Premium": 2, "Basic": 1}, flats=list(flats)
    )
    handle, _ = await start_process(
        env.client,
        q,
        ClassoundOrder,
        classound_request(acc, store_numbers(documents, fresh_numbers(2)), **fields),
        process_id=f"classound-order-{acc.id}-{uuid.uuid4().hex[:8]}",
    )
    return handle


async def upload(handle, documents, kind: str, data: bytes, name: str) -> None:
    await handle.execute_update(
        ClassoundOrder.upload,
        DocumentUpload(
            actor="reseller-anna", document=stored_document(documents, kind, data, name)
        ),
    )


async def activated_after_carrier_refusal(env, pool, documents, q) -> None:
    handle = await start(env, pool, documents, q)
    await env.sleep(timedelta(days=3, hours=1))  # a reminder
    await upload(handle, documents, "last-invoice", jpeg_bytes(), "invoice.jpg")
    await upload(handle, documents, "loa", pdf_bytes("unsigned"), "LOA.pdf")
    await handle.execute_update(ClassoundOrder.confirm, RESELLER)
    await handle.execute_update(
        ClassoundOrder.carrier_answer,
        CarrierAnswer(actor="staff-porting", refused="LOA not signed"),
    )
    await upload(handle, documents, "loa", png_bytes(), "LOA-signed.png")
    await handle.execute_update(ClassoundOrder.confirm, RESELLER)
    await handle.execute_update(
        ClassoundOrder.carrier_answer,
        CarrierAnswer(
            actor="staff-porting", porting_date=await server_today(env) + timedelta(days=5)
        ),
    )
    await outcome(env, handle)
    await save(handle, "classound_activated_after_carrier_refusal")


async def ported_at_midnight_berlin(env, pool, documents, q) -> None:
    """The porting timer runs to 00:00 Berlin time (porting days are business days)."""
    handle = await start(env, pool, documents, q)
    await upload(handle, documents, "loa", pdf_bytes(), "LOA.pdf")
    await upload(handle, documents, "last-invoice", pdf_bytes("invoice"), "invoice.pdf")
    await handle.execute_update(ClassoundOrder.confirm, RESELLER)
    day = await server_today(env, Family.CLASSOUND) + timedelta(days=2)
    await handle.execute_update(
        ClassoundOrder.carrier_answer, CarrierAnswer(actor="staff-porting", porting_date=day)
    )
    await outcome(env, handle)
    await save(handle, "classound_ported_at_midnight_berlin")


async def expired_after_escalation_and_extension(env, pool, documents, q) -> None:
    handle = await start(env, pool, documents, q)
    await upload(handle, documents, "loa", pdf_bytes(), "LOA.pdf")
    await env.sleep(timedelta(days=9))
    await handle.execute_update(ClassoundOrder.extend, Extension(actor="staff", days=5))
    await outcome(env, handle)
    await save(handle, "classound_expired_after_escalation_and_extension")


async def cancelled_while_the_carrier_is_chased(env, pool, documents, q) -> None:
    handle = await start(
        env,
        pool,
        documents,
        q,
        licences={"Business": 2},
        flats=[("Business", [])],
        existing_customer=True,
    )
    await upload(handle, documents, "loa", pdf_bytes(), "LOA.pdf")
    await upload(handle, documents, "last-invoice", pdf_bytes("invoice"), "invoice.pdf")
    await handle.execute_update(ClassoundOrder.confirm, RESELLER)
    await env.sleep(timedelta(days=11))  # the carrier is chased
    await handle.execute_update(
        ClassoundOrder.cancel, Cancellation(actor="staff", reason="customer stays")
    )
    await outcome(env, handle)
    await save(handle, "classound_cancelled_while_the_carrier_is_chased")


async def refused_at_start(env, pool, documents, q) -> None:
    handle = await start(env, pool, documents, q, flats=[("Premium", [])])
    await outcome(env, handle)
    await save(handle, "classound_refused_at_start")


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        os.environ["PARTNERFLOW_DOCUMENTS_DIR"] = folder
        documents = DocumentStore(Path(folder))
        async with recording() as r, running_worker(r.time_env.client, r.pool) as q:
            for record in (
                activated_after_carrier_refusal,
                expired_after_escalation_and_extension,
                cancelled_while_the_carrier_is_chased,
                refused_at_start,
                ported_at_midnight_berlin,
            ):
                if not sys.argv[1:] or record.__name__ in sys.argv[1:]:
                    await record(r.time_env, r.pool, documents, q)


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)
