"""Records the account histories that tests/test_replay.py replays. Run it when a workflow
changes on purpose (and keep old histories that running processes may still have):

    .venv/bin/python -m tests.histories.record_accounts

Each history is a real run with the real activities, on the dev server: these short
processes have no timers, and the time-skipping server may time them out before their first
task (see record_psa.py)."""

import asyncio
import os
import sys

from domain.accounts import AccountChangeRequest
from tests.histories.recording import recording, save
from tests.records import new_account
from tests.workflows.harness import outcome, running_worker
from workflows.accounts import AccountChange


async def account_changes(env, pool, q) -> None:
    acc = await new_account(
        pool,
        licences={"Premium": 4},
        missing=("phone", "invoice_email"),
        flats=[("Premium", ["+49 30 5550121"])],
    )
    tag = acc.id.removeprefix("T")
    pipeline = {
        "operation": "new-pipeline",
        "account_id": f"N{tag}",
        "name": "NewCo GmbH",
        "partner_id": acc.partner_id,
        "phone": "+49 30 1234567",
        "email": "info@newco.example",
        "invoice_email": "rechnung@newco.example",
        "project_id": f"PBX-N{tag}",
        "project_name": "NewCo Berlin",
        "contact_id": f"C-N{tag}-1",
        "contact_name": "Nina Neu",
    }
    for name, change in (
        (
            "account_change_mandatory_fields_filled_in",
            {
                "operation": "update-account",
                "account_id": acc.id,
                "phone": "+49 30 1234567",
                "invoice_email": "rechnung@bergmann.example",
            },
        ),
        ("account_change_new_pipeline_created", pipeline),
        ("account_change_new_pipeline_refused", pipeline),  # the account exists by now
    ):
        handle = await env.client.start_workflow(
            AccountChange.run,
            AccountChangeRequest(actor="staff", change=change),
            id=f"account-change-{change['operation']}-{name}-{tag}",
            task_queue=q,
        )
        await outcome(env, handle)
        await save(handle, name)


async def main() -> None:
    async with recording() as r, running_worker(r.dev_env.client, r.pool) as q:
        await account_changes(r.dev_env, r.pool, q)


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)
