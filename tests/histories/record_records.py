"""Records the RecordsRead history that tests/test_replay.py replays (contacts of an account):

    .venv/bin/python -m tests.histories.record_records

A real run with the real activity, on the dev server (see record_accounts.py)."""

import asyncio
import os
import sys

from domain.records import RecordsLookup
from tests.histories.recording import recording, save
from tests.records import new_account
from tests.workflows.harness import outcome, running_worker
from workflows.records import RecordsRead


async def records_read(env, pool, q) -> None:
    acc = await new_account(pool, licences={"Premium": 2})
    handle = await env.client.start_workflow(
        RecordsRead.run,
        RecordsLookup(what="contacts", account_id=acc.id),
        id=f"records-contacts-{acc.id}",
        task_queue=q,
    )
    await outcome(env, handle)
    await save(handle, "records_read_contacts")


async def main() -> None:
    async with recording() as r, running_worker(r.dev_env.client, r.pool) as q:
        await records_read(r.dev_env, r.pool, q)


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)
