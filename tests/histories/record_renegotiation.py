"""Records the renegotiation histories that tests/test_replay.py replays. Run it when the
workflow changes on purpose (and keep old histories that running processes may still have):

    .venv/bin/python -m tests.histories.record_renegotiation

Each history is a real run on the time-skipping server with the real activities."""

import asyncio
import os
import sys
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from domain.renegotiation import (
    Extension,
    add_months,
    business_date,
    reminder_at,
    signing_closes_at,
)
from domain.renegotiation_models import (
    Declination,
    RenegotiationRequest,
    SignerStep,
    SigningEvidence,
)
from domain.steps import Cancellation, StaffStep
from tests.histories.recording import recording, save
from tests.records_renegotiation import new_company
from tests.workflows.harness import outcome, running_worker, start_process
from workflows.renegotiation import Renegotiation

STAFF = "kari.kundesenter"


def request(co, licences: int, price: str) -> RenegotiationRequest:
    return RenegotiationRequest(
        ticket_id=co.ticket_id,
        account_id=co.id,
        contact_id=co.contact_id,
        original_contract_id=co.contract_id,
        licences=licences,
        price=Decimal(price),
        requested_by=STAFF,
    )


async def start(env, q, co, req):
    # The workflow id is part of what replays: deal and contract ids derive from it.
    return await start_process(
        env.client,
        q,
        Renegotiation,
        req,
        process_id=f"renegotiation-{co.id}-{uuid.uuid4().hex[:8]}",
    )


async def skip_to(env, moment: datetime) -> None:
    await env.sleep(moment - await env.get_current_time() + timedelta(minutes=5))


async def signed_after_reminder_reduction_to_csc(env, pool, q) -> None:
    co = await new_company(pool, licences=10)
    handle, _ = await start(env, q, co, request(co, 8, "450"))
    deadline = (await handle.query(Renegotiation.status)).signing_deadline
    await skip_to(env, reminder_at(deadline))
    await handle.execute_update(Renegotiation.contract_signed, StaffStep(actor=STAFF))
    await outcome(env, handle)
    await save(handle, "renegotiation_signed_after_reminder_reduction_to_csc")


async def deadline_passed_extended_then_signed_increase(env, pool, q) -> None:
    today = business_date(await env.get_current_time())
    co = await new_company(pool, licences=10, signed_on=add_months(today, -20))
    handle, _ = await start(env, q, co, request(co, 14, "500"))
    deadline = (await handle.query(Renegotiation.status)).signing_deadline
    await skip_to(env, signing_closes_at(deadline))
    # The step waits until the passed deadline has been handled, then moves it.
    await handle.execute_update(
        Renegotiation.extend_signing_deadline, Extension(actor=STAFF, days=5)
    )
    await handle.execute_update(Renegotiation.contract_signed, StaffStep(actor=STAFF))
    await outcome(env, handle)
    await save(handle, "renegotiation_deadline_passed_extended_then_signed_increase")


async def cancelled_after_the_deadline(env, pool, q) -> None:
    co = await new_company(pool, licences=15)
    handle, _ = await start(env, q, co, request(co, 15, "420"))
    deadline = (await handle.query(Renegotiation.status)).signing_deadline
    await skip_to(env, signing_closes_at(deadline))
    await handle.execute_update(
        Renegotiation.cancel, Cancellation(actor=STAFF, reason="kunden takket nei")
    )
    await outcome(env, handle)
    await save(handle, "renegotiation_cancelled_after_the_deadline")


async def refused_at_start(env, pool, q) -> None:
    co = await new_company(pool, licences=15, can_sign=False)
    handle, _ = await start(env, q, co, request(co, 12, "500"))
    await outcome(env, handle)
    await save(handle, "renegotiation_refused_at_start")


def evidence(co, typed_name: str | None) -> SigningEvidence:
    return SigningEvidence(
        contact_id=co.contact_id,
        typed_name=typed_name,
        document_sha256="ab" * 32,
        language="nb",
        ip="127.0.0.1",
        user_agent="recorder",
        decided_at=datetime(2026, 12, 2, 12),
    )


async def signed_on_the_signing_page(env, pool, q) -> None:
    co = await new_company(pool, licences=15)
    handle, _ = await start(env, q, co, request(co, 14, "450"))
    await handle.execute_update(
        Renegotiation.contract_signed,
        SignerStep(actor=co.contact_id, evidence=evidence(co, "Kari Nordmann")),
    )
    await outcome(env, handle)
    await save(handle, "renegotiation_signed_on_the_signing_page")


async def declined_on_the_signing_page(env, pool, q) -> None:
    co = await new_company(pool, licences=15)
    handle, _ = await start(env, q, co, request(co, 12, "450"))
    await handle.execute_update(
        Renegotiation.contract_declined,
        Declination(actor=co.contact_id, reason="for dyrt", evidence=evidence(co, None)),
    )
    await outcome(env, handle)
    await save(handle, "renegotiation_declined_on_the_signing_page")


RECORDS = (
    signed_after_reminder_reduction_to_csc,
    deadline_passed_extended_then_signed_increase,
    cancelled_after_the_deadline,
    refused_at_start,
    signed_on_the_signing_page,
    declined_on_the_signing_page,
)


async def main(names: list[str]) -> None:
    """All of them, or those named: `... record_renegotiation declined_on_the_signing_page`
    records a new one without re-recording the others."""
    chosen = [r for r in RECORDS if not names or r.__name__ in names]
    async with recording() as r, running_worker(r.time_env.client, r.pool) as q:
        for record in chosen:
            await record(r.time_env, r.pool, q)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
    sys.stdout.flush()
    os._exit(0)
