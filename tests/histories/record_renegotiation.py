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
    Cancellation,
    Extension,
    RenegotiationRequest,
    StaffStep,
    add_months,
    business_date,
    reminder_at,
    signing_closes_at,
)
from tests.histories.recording import recording, save
from tests.records_renegotiation import new_company
from tests.workflows.harness import outcome, running_worker, start_process
from workflows.renegotiation import Renegotiation

STAFF = "kari.kundesenter"


def request(co, licences: int, price: str) -> RenegotiationRequest:
    return RenegotiationRequest(
        ticket_id=co.ticket_id, account_id=co.id, contact_id=co.contact_id,
        original_contract_id=co.contract_id, licences=licences, price=Decimal(price),
        requested_by=STAFF)


async def start(env, q, co, req):
    # The workflow id is part of what replays: deal and contract ids derive from it.
    return await start_process(env.client, q, Renegotiation, req,
                               process_id=f"renegotiation-{co.id}-{uuid.uuid4().hex[:8]}")


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
    await handle.execute_update(Renegotiation.extend_signing_deadline,
                                Extension(actor=STAFF, days=5))
    await handle.execute_update(Renegotiation.contract_signed, StaffStep(actor=STAFF))
    await outcome(env, handle)
    await save(handle, "renegotiation_deadline_passed_extended_then_signed_increase")


async def cancelled_after_the_deadline(env, pool, q) -> None:
    co = await new_company(pool, licences=15)
    handle, _ = await start(env, q, co, request(co, 15, "420"))
    deadline = (await handle.query(Renegotiation.status)).signing_deadline
    await skip_to(env, signing_closes_at(deadline))
    await handle.execute_update(Renegotiation.cancel,
                                Cancellation(actor=STAFF, reason="kunden takket nei"))
    await outcome(env, handle)
    await save(handle, "renegotiation_cancelled_after_the_deadline")


async def refused_at_start(env, pool, q) -> None:
    co = await new_company(pool, licences=15, can_sign=False)
    handle, _ = await start(env, q, co, request(co, 12, "500"))
    await outcome(env, handle)
    await save(handle, "renegotiation_refused_at_start")


async def main() -> None:
    async with recording() as r, running_worker(r.time_env.client, r.pool) as q:
        for record in (signed_after_reminder_reduction_to_csc,
                       deadline_passed_extended_then_signed_increase,
                       cancelled_after_the_deadline, refused_at_start):
            await record(r.time_env, r.pool, q)


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)
