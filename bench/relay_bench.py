"""The relay against the local mail catcher: messages/s, and the time from a step (its
transaction commits an outbox row) to the message arriving, p50/p95.

    .venv/bin/python bench/relay_bench.py [--n 500] [--relays 1] [--steps 200] [--every 0.02]

Needs no running services (a throwaway PostgreSQL as in the other benchmarks; the catcher
runs in this process, on 127.0.0.1). Results on stdout, progress on stderr."""

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Postgres, progress, run, say  # noqa: E402
from relay import Relay
from relay.settings import Settings
from relay.sinks import MailCatcher  # noqa: E402
from store.db import create_pool, migrate  # noqa: E402
from store.steps import notify, once  # noqa: E402
from telemetry import logs  # noqa: E402


async def step(pool, partner_id: str, tag: str) -> float:
    """One business step writing one outbox row; returns when it committed (monotonic)."""

    async def write(conn):
        await notify(
            conn,
            process_id=f"bench-{tag}",
            step="create-order",
            recipient_kind="partner",
            recipient_id=partner_id,
            template="order_awaiting_confirmation",
            payload={"order_id": f"O-{tag}", "account_id": "BENCH", "pbx_id": "PBX"},
        )
        return {}

    await once(
        pool,
        process_id=f"bench-{tag}",
        step="create-order",
        actor="bench",
        action="order created",
        write=write,
    )
    return time.monotonic()


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] if len(values) > 1 else values[0]


async def main_async(args) -> int:
    pg = Postgres()
    dsn = await pg.start()
    catcher = await MailCatcher().start()
    stop = asyncio.Event()
    try:
        await migrate(dsn)
        pool = await create_pool(dsn, max_size=4 + 2 * args.relays)
        await pool.execute(
            "INSERT INTO partners (id, name, email) VALUES"
            " ('P-BENCH', 'Bench Partner GmbH', 'orders@bench.example')"
        )
        settings = Settings(
            smtp_host="127.0.0.1", smtp_port=catcher.port, smtp_starttls=False, poll_seconds=1.0
        )

        # 1. throughput: N rows waiting, then the relays start and empty the outbox
        progress(f"writing {args.n} outbox rows")
        for _ in range(args.n):
            await step(pool, "P-BENCH", uuid.uuid4().hex[:10])
        relays = [Relay(pool, settings, name=f"r{i}") for i in range(args.relays)]
        began = time.monotonic()
        tasks = [asyncio.create_task(r.run(stop)) for r in relays]
        while len(catcher.messages) < args.n:
            await asyncio.sleep(0.01)
        took = catcher.messages[args.n - 1].at - began
        say(
            f"throughput: {args.n} messages by {args.relays} relay(s) in {took:.2f} s = "
            f"{args.n / took:.0f} messages/s"
        )
        ids = [m.message_id for m in catcher.messages]
        say(f"  duplicates: {len(ids) - len(set(ids))}")

        # 2. latency: relays idle (woken by the commit's NOTIFY); a step every --every s
        progress(f"{args.steps} steps, one every {args.every} s")
        committed: dict[str, float] = {}
        for _ in range(args.steps):
            tag = uuid.uuid4().hex[:10]
            committed[f"O-{tag}"] = await step(pool, "P-BENCH", tag)
            await asyncio.sleep(args.every)
        while len(catcher.messages) < args.n + args.steps:
            await asyncio.sleep(0.01)
        lat = []
        for m in catcher.messages[args.n :]:
            order = m.subject.split()[1]
            lat.append((m.at - committed[order]) * 1000)
        say(
            f"step -> arrival: p50 {percentile(lat, 50):.1f} ms, p95 {percentile(lat, 95):.1f}"
            f" ms, max {max(lat):.1f} ms ({len(lat)} messages)"
        )
        stop.set()
        await asyncio.gather(*tasks)
        await pool.close()
    finally:
        stop.set()
        await catcher.stop()
        await pg.stop()
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--relays", type=int, default=1)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--every", type=float, default=0.02)
    logs.configure("WARNING")  # results only on stdout
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    run(main)
