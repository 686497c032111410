"""Ours against a no-op twin of the same Temporal shape, in one run.

The machine may be shared: each round runs N of ours and N of the twin back to back (the
order alternates between rounds), and the figure is the median of the rounds' ratios with
their spread, each printed with the load average at that moment."""

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.plugin import SimplePlugin

import worker
from bench.common import (
    CpuMeter,
    Postgres,
    migrate_with_staff,
    progress,
    say,
    start_dev_server,
)
from store.db import create_pool
from tests.records import load_catalogue


def load() -> str:
    """The machine's load average (1, 5, 15 min), to print next to every figure."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}/{fifteen:.2f} on {os.cpu_count()} CPUs"


@dataclass
class Kind:
    """One process kind to time: `prepare(pool, n)` makes n requests before the clock starts;
    `run_one(client, queue, request)` runs one process end to end as the starter and the
    people would, and returns its workflow id (raises if it does not end as expected);
    `check(pool, ids)` counts what the database shows done (None: nothing to check)."""

    name: str
    prepare: Callable[[Any, int], Awaitable[list]]
    run_one: Callable[[Client, str, Any], Awaitable[str]]
    check: Callable[[Any, list[str]], Awaitable[int]] | None = None


@dataclass
class Phase:
    kind: str
    n: int
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    load: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process group

    def cpu_per_process(self) -> str:
        n = max(len(self.ids), 1)
        return ", ".join(f"{k} {1000 * v / n:.1f}" for k, v in self.cpu.items())

    @property
    def throughput(self) -> float:
        return len(self.ids) / self.wall if self.wall else 0.0


async def run_phase(
    kind: Kind, client: Client, queue: str, requests: list, concurrency: int, timeout: float
) -> Phase:
    phase = Phase(kind.name, len(requests))
    gate = asyncio.Semaphore(concurrency)

    async def one(request: Any) -> None:
        async with gate:
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(timeout):
                    process_id = await kind.run_one(client, queue, request)
            except TimeoutError:
                phase.failures.append(f"no result within {timeout:g} s")
                return
            except Exception as e:  # noqa: BLE001 - counted and reported
                phase.failures.append(f"{type(e).__name__}: {e}")
                return
            phase.latencies.append(time.perf_counter() - t0)
            phase.ids.append(process_id)

    start = time.perf_counter()
    await asyncio.gather(*(one(r) for r in requests))
    phase.wall = time.perf_counter() - start
    phase.load = load()
    return phase


async def history_events(client: Client, workflow_id: str | None) -> Counter:
    if workflow_id is None:
        return Counter()
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events)


def event_diff(a: Counter, b: Counter) -> str:
    more = a - b
    return ", ".join(f"{name} x{k}" for name, k in sorted(more.items())) or "nothing"


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


def parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--n", type=int, default=50, help="processes per kind per round (default 50)")
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of N of each kind, order alternating (default 3)",
    )
    p.add_argument(
        "--concurrency", type=int, default=10, help="processes in flight at once (default 10)"
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=5,
        help="uncounted processes of each kind first (default 5; 0: none)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=120,
        help="seconds one process may take before it counts as failed",
    )
    p.add_argument(
        "--twin-stages",
        action="store_true",
        help="the twin also writes its Stage search attribute where ours does: "
        "the ratio then leaves out the visibility writes both need and "
        "isolates our code",
    )
    return p


async def compare(
    args: argparse.Namespace, ours: Kind, twin: Kind, twin_workflows: list, twin_activities: list
) -> int:
    """Starts PostgreSQL, the dev server and one worker (build_worker as worker.py builds it,
    plus the twin through a client plugin), then the rounds; prints the figures."""
    pg = Postgres()
    env = pool = None
    if args.twin_stages:
        import bench.noop_twin

        bench.noop_twin.SHOW_STAGES = True
    try:
        progress("starting PostgreSQL and the Temporal dev server ...")
        dsn = await pg.start()
        await migrate_with_staff(dsn)
        pool = await create_pool(dsn, max_size=worker.settings().pool_size)
        async with pool.acquire() as conn:
            await load_catalogue(conn)
        env = await start_dev_server()
        plugin = SimplePlugin(
            "partnerflow-bench-noop-twin", workflows=twin_workflows, activities=twin_activities
        )
        client = Client(**{**env.client.config(), "plugins": [plugin]})
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        meter = CpuMeter(pg.tmp)
        rounds: list[tuple[Phase, Phase]] = []
        failures: list[str] = []
        done_in_db = expected_in_db = 0
        async with worker.build_worker(client, pool, task_queue=queue):
            if args.warmup:
                for kind in (ours, twin):
                    warm = await run_phase(
                        kind,
                        client,
                        queue,
                        await kind.prepare(pool, args.warmup),
                        args.concurrency,
                        args.timeout,
                    )
                    if warm.failures:
                        progress(f"warm-up {kind.name} failed: {warm.failures[0]}")
                        return 1
            for r in range(args.rounds):
                phases = {}
                for kind in (ours, twin) if r % 2 == 0 else (twin, ours):
                    progress(f"round {r + 1}: {args.n} x {kind.name} ...")
                    requests = await kind.prepare(pool, args.n)
                    meter.take()
                    phases[kind.name] = await run_phase(
                        kind, client, queue, requests, args.concurrency, args.timeout
                    )
                    phases[kind.name].cpu = meter.take()
                    failures += [f"{kind.name}: {f}" for f in phases[kind.name].failures[:3]]
                o, t = phases[ours.name], phases[twin.name]
                rounds.append((o, t))
                if ours.check is not None:
                    done_in_db += await ours.check(pool, o.ids)
                    expected_in_db += len(o.ids)
                say(
                    f"round {r + 1}: {ours.name} {o.throughput:.2f}/s ({o.load}), "
                    f"{twin.name} {t.throughput:.2f}/s ({t.load}), ratio "
                    f"{o.throughput / t.throughput if t.throughput else 0:.2f}"
                )
                say(
                    f"  CPU ms per process: {ours.name}: {o.cpu_per_process()}; "
                    f"{twin.name}: {t.cpu_per_process()}"
                )
            ours_events = await history_events(
                client, rounds[-1][0].ids[0] if rounds[-1][0].ids else None
            )
            twin_events = await history_events(
                client, rounds[-1][1].ids[0] if rounds[-1][1].ids else None
            )
        ratios = [o.throughput / t.throughput for o, t in rounds if t.throughput]
        ours_tp = [o.throughput for o, _ in rounds]
        twin_tp = [t.throughput for _, t in rounds]
        ours_lat = sorted(x for o, _ in rounds for x in o.latencies)
        twin_lat = sorted(x for _, t in rounds for x in t.latencies)
        say(
            f"n={args.n} x {args.rounds} rounds, concurrency={args.concurrency}, "
            f"warmup={args.warmup}"
            f"{', the twin shows its stages' if args.twin_stages else ''}; "
            f"worker settings {worker.settings()}; {load()} at the end"
        )
        say(
            f"{ours.name}: {spread(ours_tp)} processes/s; mean latency "
            f"{1000 * statistics.fmean(ours_lat) if ours_lat else 0:.0f} ms; history events "
            f"per process {ours_events.total()}"
        )
        say(
            f"{twin.name}: {spread(twin_tp)} processes/s; mean latency "
            f"{1000 * statistics.fmean(twin_lat) if twin_lat else 0:.0f} ms; history events "
            f"per process {twin_events.total()}"
        )
        say(
            f"history events only in {ours.name}: {event_diff(ours_events, twin_events)}; "
            f"only in {twin.name}: {event_diff(twin_events, ours_events)}"
        )
        if ratios:
            say(f"ratio {ours.name}/{twin.name} throughput: {spread(ratios)}")
        if ours.check is not None:
            say(f"done in the database: {done_in_db}/{expected_in_db}")
        for f in failures[:10]:
            say(f"  failure: {f}")
        say(
            json.dumps(
                {
                    "n": args.n,
                    "rounds": args.rounds,
                    "concurrency": args.concurrency,
                    "twin_stages": args.twin_stages,
                    "ours": ours.name,
                    "twin": twin.name,
                    "ours_per_s": [round(x, 2) for x in ours_tp],
                    "twin_per_s": [round(x, 2) for x in twin_tp],
                    "ratios": [round(x, 3) for x in ratios],
                    "ratio_median": round(statistics.median(ratios), 3) if ratios else None,
                    "ours_events": ours_events.total(),
                    "twin_events": twin_events.total(),
                    "ours_cpu_ms": [
                        {k: round(1000 * v / max(len(o.ids), 1), 1) for k, v in o.cpu.items()}
                        for o, _ in rounds
                    ],
                    "twin_cpu_ms": [
                        {k: round(1000 * v / max(len(t.ids), 1), 1) for k, v in t.cpu.items()}
                        for _, t in rounds
                    ],
                    "loadavg_end": os.getloadavg(),
                }
            )
        )
        return 1 if failures or done_in_db != expected_in_db else 0
    finally:
        if pool is not None:
            await pool.close()
        if env is not None:
            await env.shutdown()
        await pg.stop()
