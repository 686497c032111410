"""Scaling out: 1, 2, 3 worker processes on one task queue.

    .venv/bin/python bench/scale_bench.py [--n 60] [--workers 1 2 3] [--concurrency 20]

One run: PostgreSQL, the dev server, then for each worker count W: W worker processes
(bench/worker_proc.py, the configured settings), N fast change orders and N no-op twins
(bench/noop_twin.py) end to end (order alternating), the throughput of each and the CPU
each process used (from /proc through psutil): the workers, the dev server, PostgreSQL and
the bench process (the clients only). The CPU seconds per second of wall time name the
bottleneck: a process near 1.0 is using a whole core; the 2-core box is full at 2.0."""

import argparse
import asyncio
import json
import os
import sys
import uuid
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from temporalio.client import Client  # noqa: E402
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
from bench.fast_change_bench import OURS, TWIN  # noqa: E402
from bench.ratio import load, run_phase  # noqa: E402
from store.db import create_pool  # noqa: E402
from telemetry import logs  # noqa: E402
from tests.records import load_catalogue  # noqa: E402


async def bench(args: argparse.Namespace) -> int:
    pg, env, pool = Postgres(), None, None
    results = []
    bad = False
    try:
        progress("starting PostgreSQL and the Temporal dev server ...")
        dsn = await pg.start()
        await migrate_with_staff(dsn)  # the benches act as directory staff
        pool = await create_pool(dsn, max_size=10)
        async with pool.acquire() as conn:
            await load_catalogue(conn)
        env = await start_dev_server()
        address = env.client.service_client.config.target_host
        client = await Client.connect(address, data_converter=pydantic_data_converter)
        for w in args.workers:
            queue = f"scale-{w}-{uuid.uuid4().hex[:6]}"
            workers = [WorkerProcess(dsn, address, queue) for _ in range(w)]
            try:
                pids = [await wp.start() for wp in workers]
                meter = CpuMeter(pg.tmp, {f"worker {i + 1}": pid for i, pid in enumerate(pids)})
                for kind in (OURS, TWIN):  # warm-up, not counted
                    warm = await run_phase(
                        kind, client, queue, await kind.prepare(pool, 5), args.concurrency, 120
                    )
                    if warm.failures:  # nothing to measure: say why and stop
                        say(f"warm-up of {kind.name} failed: {warm.failures[0]}")
                        return 1
                row = {"workers": w}
                for r in range(args.rounds):
                    for kind in (OURS, TWIN) if r % 2 == 0 else (TWIN, OURS):
                        requests = await kind.prepare(pool, args.n)
                        meter.take()
                        phase = await run_phase(
                            kind, client, queue, requests, args.concurrency, 120
                        )
                        cpu = meter.take()
                        bad = bad or bool(phase.failures)
                        cores = {k: round(v / phase.wall, 2) for k, v in cpu.items()}
                        row.setdefault(kind.name, []).append(
                            {
                                "per_s": round(phase.throughput, 2),
                                "cores": cores,
                                "load": os.getloadavg(),
                            }
                        )
                        say(
                            f"{w} worker(s), {kind.name}: {phase.throughput:.2f} processes/s; "
                            "CPU cores used: "
                            + ", ".join(f"{k} {v:.2f}" for k, v in cores.items())
                            + f" ({phase.load})"
                        )
                results.append(row)
            finally:
                for wp in workers:
                    await wp.stop()
        base = {k: max(x["per_s"] for x in results[0][k]) for k in (OURS.name, TWIN.name)}
        for row in results:
            best = {k: max(x["per_s"] for x in row[k]) for k in (OURS.name, TWIN.name)}
            say(
                f"{row['workers']} worker(s): fast change {best[OURS.name]:.2f}/s "
                f"(x{best[OURS.name] / base[OURS.name]:.2f} of one worker), no-op twin "
                f"{best[TWIN.name]:.2f}/s (x{best[TWIN.name] / base[TWIN.name]:.2f}); ratio "
                f"ours/twin {best[OURS.name] / best[TWIN.name]:.2f} (best of "
                f"{args.rounds} rounds each)"
            )
        say(f"{load()} at the end")
        say(
            json.dumps(
                {
                    "n": args.n,
                    "concurrency": args.concurrency,
                    "rounds": args.rounds,
                    "results": results,
                }
            )
        )
        return 1 if bad else 0
    finally:
        if pool is not None:
            await pool.close()
        if env is not None:
            await env.shutdown()
        await pg.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=60, help="processes per kind per round (default 60)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--rounds", type=int, default=2, help="rounds per worker count (default 2)")
    p.add_argument("--concurrency", type=int, default=20, help="processes in flight (default 20)")
    args = p.parse_args()
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    logs.configure("WARNING")
    return asyncio.run(bench(args))


if __name__ == "__main__":
    run(main)
