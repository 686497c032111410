"""Capacity: N processes that wait (half fast change orders waiting for the partner's
confirmation, half CLASSOUND orders waiting for documents), and what they cost; step
latency with them waiting.

    .venv/bin/python bench/capacity_bench.py [--n 1000] [--samples 30] [--concurrency 40]

One run: PostgreSQL (DATABASE_URL or embedded), the dev server with its SQLite database in a
file (--db-filename), one worker PROCESS (bench/worker_proc.py: build_worker with the
configured settings, max cached workflows raised to hold all N), accounts made before the
clock. It prints, each figure with the load average:
- start rate (processes/s, each answered `started`);
- worker RSS idle, with the N in its cache, and after a restart (cache empty), per process;
- PostgreSQL database size and the dev server's SQLite file size, per process;
- step latency, p50/p95/p99, from the update call to its answer and to the row in
  PostgreSQL: fast change `confirm` on cached and on evicted processes (replayed after the
  worker restart), a lead claim (LeadStep, as the starter sends it), and `starter.py confirm`
  once (the CLI's own start-up included);
- the same two steps under load: first as many as the box takes (`--load-steps` of them,
  `--concurrency` in flight: the step's capacity in steps/s), then `--load-steps` more sent
  at half that rate, evenly spaced whatever the answers (an open loop, as people would),
  with their p50/p95/p99 to the answer and to the row."""

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import psutil  # noqa: E402
from temporalio.client import Client, WithStartWorkflowOperation  # noqa: E402
from temporalio.common import (  # noqa: E402
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402

from bench.common import (  # noqa: E402
    CpuMeter,
    Postgres,
    WorkerProcess,
    migrate_with_staff,
    progress,
    run,
    say,
    start_dev_server,
)
from bench.ratio import load  # noqa: E402
from domain.change_order import FastChangeRequest, StaffStep, Stage  # noqa: E402
from domain.classound import Stage as ClassoundStage  # noqa: E402
from domain.order_lines import FastChangeLine  # noqa: E402
from store.db import create_pool  # noqa: E402
from store.documents import DocumentStore  # noqa: E402
from telemetry import logs  # noqa: E402
from tests.records import load_catalogue, new_account  # noqa: E402
from tests.records_classound import classound_request, store_numbers  # noqa: E402
from workflows.classound_order import ClassoundOrder  # noqa: E402
from workflows.fast_change_order import FastChangeOrder  # noqa: E402
from workflows.visibility import ACCOUNT_ID, PROCESS_KIND  # noqa: E402

PARTNER = StaffStep(actor="bench-partner")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def lat(values: list[float]) -> dict:
    if not values:
        return {}
    return {
        "n": len(values),
        "p50_ms": round(1000 * pct(values, 50), 1),
        "p95_ms": round(1000 * pct(values, 95), 1),
        "p99_ms": round(1000 * pct(values, 99), 1),
    }


def lat_words(d: dict) -> str:
    return (
        (
            f"p50 {d['p50_ms']:.0f} ms, p95 {d['p95_ms']:.0f} ms, p99 {d['p99_ms']:.0f} ms "
            f"(n={d['n']})"
        )
        if d
        else "none"
    )


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def file_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20


async def start_one(client: Client, queue: str, workflow, kind: str, request) -> str:
    process_id = f"{kind}-{request.account_id}-{uuid.uuid4().hex[:8]}"
    op = WithStartWorkflowOperation(
        workflow.run,
        request,
        id=process_id,
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(PROCESS_KIND, kind),
                SearchAttributePair(ACCOUNT_ID, request.account_id),
            ]
        ),
    )
    answer = await client.execute_update_with_start_workflow(
        workflow.started, start_workflow_operation=op, id=f"started-{process_id}"
    )
    waiting = {Stage.AWAITING_PARTNER, ClassoundStage.AWAITING_DOCUMENTS}
    if answer.stage not in waiting:
        raise RuntimeError(f"{process_id}: {answer.stage} {answer.message}")
    return process_id


class RowWatch:
    """When each step's row appears in PostgreSQL: one query every 2 ms for all the steps
    in flight (`query` takes the keys as $1 and returns those whose row is there), so
    watching many steps at once adds one query, not one per step."""

    def __init__(self, pool, query: str, *args) -> None:
        self.pool, self.query, self.args = pool, query, args
        self.pending: dict[str, tuple[float, asyncio.Future]] = {}
        self.task: asyncio.Task | None = None

    def expect(self, key: str, t0: float) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.pending[key] = (t0, future)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._watch())
        return future

    async def _watch(self) -> None:
        while self.pending:
            found = await self.pool.fetch(self.query, list(self.pending), *self.args)
            now = time.perf_counter()
            for row in found:
                t0, future = self.pending.pop(row[0])
                future.set_result(now - t0)
            await asyncio.sleep(0.002)


def applied_orders(pool) -> RowWatch:
    return RowWatch(
        pool,
        "SELECT process_id FROM orders WHERE process_id = ANY($1::text[]) AND status = 'applied'",
    )


async def timed_confirm(client: Client, watch: RowWatch, process_id: str) -> tuple[float, float]:
    """(seconds to the update's answer, seconds to the order's row `applied`)."""
    handle = client.get_workflow_handle(process_id)
    t0 = time.perf_counter()
    row = watch.expect(process_id, t0)
    answer = await handle.execute_update(FastChangeOrder.confirm, PARTNER)
    answered = time.perf_counter() - t0
    if answer.stage != Stage.APPLIED:
        raise RuntimeError(f"{process_id}: {answer.stage}")
    return answered, await asyncio.wait_for(row, 30)


async def under_load(step, items: list, concurrency: int) -> dict:
    """The step's capacity, then its latency at half of it: the first half of `items` as fast
    as `concurrency` steps in flight allow (steps/s), the second half sent evenly at half that
    rate whatever the answers (an open loop); p50/p95/p99 of both halves."""
    full, half = items[: len(items) // 2], items[len(items) // 2 :]
    gate = asyncio.Semaphore(concurrency)

    async def closed(item):
        async with gate:
            return await step(item)

    t0 = time.perf_counter()
    at_full = await asyncio.gather(*(closed(i) for i in full))
    capacity = len(full) / (time.perf_counter() - t0)
    rate = capacity / 2
    t0 = time.perf_counter()
    sent = []
    for k, item in enumerate(half):
        await asyncio.sleep(max(0.0, t0 + k / rate - time.perf_counter()))
        sent.append(asyncio.create_task(step(item)))
    at_half = await asyncio.gather(*sent)
    offered = len(half) / (time.perf_counter() - t0)
    return {
        "capacity_per_s": round(capacity, 1),
        "half_rate_per_s": round(rate, 1),
        "achieved_per_s": round(offered, 1),
        "in_flight_at_full": concurrency,
        "at_full": both(at_full),
        "at_half": both(at_half),
    }


def both(timings: list[tuple[float, float]]) -> dict:
    """p50/p95/p99 to the answer and to the row of (answer, row) timings."""
    return {"answer": lat([a for a, _ in timings]), "row": lat([r for _, r in timings])}


def load_words(name: str, d: dict) -> list[str]:
    return [
        f"{name}: capacity {d['capacity_per_s']:.1f} steps/s ({d['in_flight_at_full']} in "
        f"flight; to the row {lat_words(d['at_full']['row'])})",
        f"{name} at half of it, {d['half_rate_per_s']:.1f}/s offered evenly "
        f"({d['achieved_per_s']:.1f}/s achieved): to the answer "
        f"{lat_words(d['at_half']['answer'])}; to the row {lat_words(d['at_half']['row'])}",
    ]


async def lead_claims(
    client: Client, pool, queue: str, samples: int, load_steps: int, concurrency: int
) -> dict:
    """`samples` claims, one at a time, each by its own LeadStep process as the starter sends
    it, then `load_steps` x 2 under load (see under_load); latency to the answer and to the
    claims row."""
    from client.processes import run_lead_step
    from domain.leads import LeadStepRequest, RouterRequest, lead_step_process_id, queue_process_id
    from tests.records_partners import enable_partner_management, new_partner
    from workflows.lead_queue_router import LeadQueueRouter

    await enable_partner_management(pool)
    partner = await new_partner(pool, users=2)
    queue_id = f"bench-{uuid.uuid4().hex[:6]}"
    n = samples + 2 * load_steps
    request = RouterRequest(
        queue_id=queue_id,
        name="bench",
        channel_managers=["cm-bench"],
        partners=[partner.id],
        claim_cap=n + 10,
        requested_by="cm-bench",
    )
    op = WithStartWorkflowOperation(
        LeadQueueRouter.run,
        request,
        id=queue_process_id(queue_id),
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    await client.execute_update_with_start_workflow(
        LeadQueueRouter.started, start_workflow_operation=op
    )
    handle = await op.workflow_handle()
    await add_leads(handle, queue_id, n)
    leads = [
        r["id"]
        for r in await pool.fetch("SELECT id FROM leads WHERE queue_id = $1 ORDER BY id", queue_id)
    ]
    watch = RowWatch(
        pool,
        "SELECT lead_id FROM claims WHERE lead_id = ANY($1::text[])"
        " AND queue_id = $2 AND ended_at IS NULL",
        queue_id,
    )

    async def claim(lead: str) -> tuple[float, float]:
        step = LeadStepRequest(
            queue_id=queue_id, kind="claim", actor=partner.users[0], lead_id=lead
        )
        t0 = time.perf_counter()
        row = watch.expect(lead, t0)
        answer = await run_lead_step(
            client, step, lead_step_process_id(step, uuid.uuid4().hex[:12]), task_queue=queue
        )
        answered = time.perf_counter() - t0
        if " is yours, " not in answer.message:
            raise RuntimeError(f"claim of {lead}: {answer.message}")
        return answered, await asyncio.wait_for(row, 30)

    one_by_one = [await claim(lead) for lead in leads[:samples]]
    return {**both(one_by_one), "load": await under_load(claim, leads[samples:n], concurrency)}


async def add_leads(handle, queue_id: str, n: int) -> None:
    from cli.leads import deliver
    from domain.leads import LeadBatch
    from store.leads import forget_batch, save_batch
    from tests.records_partners import lead_rows
    from workflows.lead_queue_router import LeadQueueRouter

    documents = Path(os.environ["PARTNERFLOW_DOCUMENTS_DIR"])
    ref = save_batch(documents, lead_rows(n))
    try:
        await deliver(
            handle,
            LeadQueueRouter.add_leads,
            LeadBatch(actor="bench", batch=ref),
            update_id=f"add_leads-{queue_id}-{ref.sha256[:32]}",
        )
    finally:
        forget_batch(documents, ref)


def starter_confirm(dsn: str, address: str, queue: str, process_id: str) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "TEMPORAL_ADDRESS": address,
        "PARTNERFLOW_TASK_QUEUE": queue,
        "PARTNERFLOW_ALLOW_PLAINTEXT": "1",
    }
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), "confirm", process_id, "--as", PARTNER.actor],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return {
        "seconds": round(time.perf_counter() - t0, 3),
        "exit": done.returncode,
        "output": (done.stdout or done.stderr).strip()[:160],
    }


async def bench(args: argparse.Namespace) -> int:
    pg, env, pool, wp = Postgres(), None, None, None
    tmp = Path(tempfile.mkdtemp(prefix="partnerflow-capacity-"))
    os.environ["PARTNERFLOW_DOCUMENTS_DIR"] = str(tmp / "documents")
    db_file = tmp / "temporal.db"
    out: dict = {"n": args.n, "cpus": os.cpu_count(), "sqlite_pragmas": args.sqlite_pragma}
    say(f"dev server SQLite file, pragmas {' '.join(args.sqlite_pragma)}; {load()}")
    try:
        progress("starting PostgreSQL and the Temporal dev server (SQLite file) ...")
        dsn = await pg.start()
        await migrate_with_staff(dsn)
        pool = await create_pool(dsn, max_size=10)
        async with pool.acquire() as conn:
            await load_catalogue(conn)
        env = await start_dev_server(str(db_file), args.sqlite_pragma)
        address = env.client.service_client.config.target_host
        client = await Client.connect(address, data_converter=pydantic_data_converter)
        queue = f"capacity-{uuid.uuid4().hex[:8]}"
        settings = {
            "PARTNERFLOW_MAX_CACHED_WORKFLOWS": str(max(args.n + 2 * args.samples + 100, 1000)),
            **({"PARTNERFLOW_DB_POOL_SIZE": str(args.pool)} if args.pool else {}),
        }
        wp = WorkerProcess(dsn, address, queue, **settings)
        pid = await wp.start()
        documents = DocumentStore(tmp / "documents")

        # the samples and the load phases' orders are confirmed later
        n_fast = args.n // 2 + 2 * args.samples + 2 * args.load_steps
        n_cls = args.n - args.n // 2
        progress(f"making {n_fast + n_cls} accounts ...")
        gate = asyncio.Semaphore(8)

        async def account(licences):
            async with gate:
                while True:
                    try:
                        return await new_account(pool, licences=licences)
                    except asyncpg.UniqueViolationError:
                        continue  # its 6-hex-digit tag was drawn twice (likely at 10,000)

        fast_accounts = await asyncio.gather(*(account({"Premium": 5}) for _ in range(n_fast)))
        cls_accounts = await asyncio.gather(
            *(account({"Premium": 3, "Basic": 2}) for _ in range(n_cls))
        )
        requests = [
            (
                FastChangeOrder,
                "fast-change-order",
                FastChangeRequest(
                    account_id=a.id,
                    pbx_id=a.pbx_id,
                    lines=[FastChangeLine(sku="Premium", quantity=7)],
                    requested_by="bench-staff",
                ),
            )
            for a in fast_accounts
        ]
        # consecutive numbers from a random start: drawn at random, two of 10,000 orders'
        # numbers met (birthday odds in 10^8) and the second order was rightly refused
        first = random.randrange(10**8 - 2 * len(cls_accounts))
        requests += [
            (
                ClassoundOrder,
                "classound-order",
                classound_request(
                    a, store_numbers(documents, [f"+4930{first + 2 * k + j:08d}" for j in (0, 1)])
                ),
            )
            for k, a in enumerate(cls_accounts)
        ]
        # interleave the two kinds
        requests.sort(key=lambda r: uuid.uuid4().hex)
        await asyncio.sleep(2)
        rss_idle = rss_mb(pid)
        db_before, pg_before = (
            file_mb(db_file),
            await pool.fetchval("SELECT pg_database_size(current_database())") / 2**20,
        )

        progress(f"starting {len(requests)} processes, {args.concurrency} at a time ...")
        ids: dict[str, list[str]] = {"fast-change-order": [], "classound-order": []}
        failures: list[str] = []
        sem = asyncio.Semaphore(args.concurrency)

        async def start(wf, kind, req):
            async with sem:
                try:
                    ids[kind].append(await start_one(client, queue, wf, kind, req))
                except Exception as e:  # noqa: BLE001 - counted
                    cause = getattr(e, "cause", None)
                    failures.append(
                        f"{type(e).__name__}: {e}" + (f" ({cause})" if cause else "")[:300]
                    )

        meter = CpuMeter(pg.tmp, {"worker": pid})
        t0 = time.perf_counter()
        await asyncio.gather(*(start(*r) for r in requests))
        started_s = time.perf_counter() - t0
        cores = {k: round(v / started_s, 2) for k, v in meter.take().items()}
        total = sum(len(v) for v in ids.values())
        out["start"] = {
            "processes": total,
            "seconds": round(started_s, 1),
            "per_s": round(total / started_s, 1),
            "failures": len(failures),
            "cpu_cores": cores,
            "load": load(),
        }
        say(
            f"N={total} waiting ({len(ids['fast-change-order'])} fast change orders, "
            f"{len(ids['classound-order'])} CLASSOUND orders): started in {started_s:.1f} s "
            f"-> {total / started_s:.1f} starts/s; failures {len(failures)} ({load()})"
        )
        say(
            "  CPU cores used while starting: "
            + ", ".join(f"{k} {v:.2f}" for k, v in cores.items())
        )
        for f in failures[:5]:
            say(f"  failure: {f}")

        await asyncio.sleep(3)
        rss_full = rss_mb(pid)
        pg_mb = await pool.fetchval("SELECT pg_database_size(current_database())") / 2**20
        db_mb = file_mb(db_file)
        out["memory"] = {
            "rss_idle_mb": round(rss_idle, 1),
            "rss_cache_full_mb": round(rss_full, 1),
            "per_cached_process_kb": round(1024 * (rss_full - rss_idle) / total, 1),
        }
        out["disk"] = {
            "postgres_mb": round(pg_mb, 1),
            "postgres_per_process_kb": round(1024 * (pg_mb - pg_before) / total, 2),
            "temporal_sqlite_mb": round(db_mb, 1),
            "temporal_per_process_kb": round(1024 * (db_mb - db_before) / total, 2),
        }
        say(
            f"worker RSS: idle {rss_idle:.0f} MB, with the {total} in its cache "
            f"{rss_full:.0f} MB -> {out['memory']['per_cached_process_kb']:.0f} KB per cached "
            f"process ({load()})"
        )
        say(
            f"disk: PostgreSQL {pg_mb:.1f} MB ({out['disk']['postgres_per_process_kb']:.1f} KB "
            f"per process), Temporal SQLite {db_mb:.1f} MB "
            f"({out['disk']['temporal_per_process_kb']:.1f} KB per process)"
        )

        extra = 2 * args.samples + 2 * args.load_steps
        samples = ids["fast-change-order"][-extra:]
        cached_ids, evicted_ids = samples[: args.samples], samples[args.samples : 2 * args.samples]
        loaded_ids = samples[2 * args.samples :]
        watch = applied_orders(pool)
        progress("step latency on cached processes ...")
        cached = [await timed_confirm(client, watch, p) for p in cached_ids[:-1]]
        out["latency_confirm_cached"] = both(cached)
        say(
            f"confirm, cached process, with {total} waiting: to the answer "
            f"{lat_words(out['latency_confirm_cached']['answer'])}; to the row "
            f"{lat_words(out['latency_confirm_cached']['row'])} ({load()})"
        )
        progress("confirm under load ...")
        out["load_confirm"] = await under_load(
            lambda p: timed_confirm(client, watch, p), loaded_ids, args.concurrency
        )
        for line in load_words(f"confirm, with {total} waiting", out["load_confirm"]):
            say(f"{line} ({load()})")
        progress("lead claims ...")
        out["latency_claim"] = await lead_claims(
            client, pool, queue, args.samples, args.load_steps, args.concurrency
        )
        say(
            f"lead claim (LeadStep process each), with {total} waiting: to the answer "
            f"{lat_words(out['latency_claim']['answer'])}; to the claims row "
            f"{lat_words(out['latency_claim']['row'])} ({load()})"
        )
        for line in load_words(f"lead claim, with {total} waiting", out["latency_claim"]["load"]):
            say(f"{line} ({load()})")
        out["starter_confirm"] = await asyncio.to_thread(
            starter_confirm, dsn, address, queue, cached_ids[-1]
        )
        say(
            f"starter.py confirm (one, a new Python process): "
            f"{out['starter_confirm']['seconds']:.2f} s, exit {out['starter_confirm']['exit']} "
            f"({load()})"
        )

        progress("restarting the worker (cache empty) ...")
        await wp.stop()
        pid = await wp.start()
        await asyncio.sleep(3)
        rss_empty = rss_mb(pid)
        out["memory"]["rss_after_restart_mb"] = round(rss_empty, 1)
        say(
            f"worker RSS after a restart, cache empty, {total} still waiting: "
            f"{rss_empty:.0f} MB ({load()})"
        )
        evicted = [await timed_confirm(client, watch, p) for p in evicted_ids]
        out["latency_confirm_evicted"] = both(evicted)
        say(
            f"confirm, evicted process (replayed), with {total} waiting: to the answer "
            f"{lat_words(out['latency_confirm_evicted']['answer'])}; to the row "
            f"{lat_words(out['latency_confirm_evicted']['row'])} ({load()})"
        )
        out["load_end"] = os.getloadavg()
        say(json.dumps(out))
        return 1 if failures else 0
    finally:
        if wp is not None:
            await wp.stop()
        if pool is not None:
            await pool.close()
        if env is not None:
            await env.shutdown()
        await pg.stop()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000, help="processes left waiting (default 1000)")
    p.add_argument(
        "--samples", type=int, default=30, help="latency samples per kind of step (default 30)"
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=20,
        help="starts in flight, and steps in flight when measuring a step's capacity (default 20)",
    )
    p.add_argument(
        "--load-steps",
        type=int,
        default=200,
        help="steps of each kind for its capacity, and as many again at half of it (default 200)",
    )
    p.add_argument(
        "--sqlite-pragma",
        action="append",
        default=None,
        help="passed to the dev server (default: synchronous=OFF; "
        "synchronous=FULL: every commit synced to disk)",
    )
    p.add_argument("--pool", type=int, default=0, help="PARTNERFLOW_DB_POOL_SIZE of the worker")
    args = p.parse_args()
    args.sqlite_pragma = args.sqlite_pragma or ["synchronous=OFF"]
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    logs.configure("WARNING")
    os.environ.setdefault("PARTNERFLOW_ALLOW_PLAINTEXT", "1")
    return asyncio.run(bench(args))


if __name__ == "__main__":
    run(main)
