"""`python -m store migrate` applies the migrations (the compose file's one-shot job);
`python -m store demo` loads the demo data (its staff: admin-ida is an admin);
`python -m store first-admin ID NAME EMAIL` makes the first admin of a directory that has none
(who then adds staff with `starter.py staff add`); `python -m store outbox` shows the ten newest
outbox rows with their payload (`starter.py outbox` shows their delivery status; the messages
themselves, one-time links included, arrive in ./run's mail catcher); `python -m store
reconcile [--every SECONDS]` closes the records of processes whose workflow ended without
closing them (ops/reconcile.py; it also reads TEMPORAL_*). All read DATABASE_URL."""

import asyncio
import json
import os
import sys

import config
from store import demo, people
from store.db import connect, create_pool, migrate


async def reconcile(every: float | None) -> str:
    import signal

    from ops import reconcile as job
    from telemetry import logs

    logs.configure()
    pool = await create_pool(config.database_url(), max_size=2)
    try:
        client = await config.connect_temporal()
        if every is None:
            closed = await job.reconcile(pool, client)
            return (
                "\n".join(
                    f"{c['process_id']}: {', '.join(c['records'])} ({c['reason']})" for c in closed
                )
                or "nothing to close"
            )
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await job.run_every(pool, client, every, stop)
        return "reconciliation stopped"
    finally:
        await pool.close()


async def main(command: str, *args: str) -> str:
    dsn = config.database_url()
    if command == "migrate":
        applied = await migrate(dsn)
        return f"migrations applied: {', '.join(applied) or 'none new'}"
    conn = await connect(dsn)
    try:
        if command == "outbox":
            rows = await conn.fetch(
                "SELECT id, created_at, recipient_kind, recipient_id, template, payload, status"
                " FROM notifications ORDER BY id DESC LIMIT 10"
            )
            return (
                "\n".join(
                    f"{r['id']:>6} {r['created_at']:%Y-%m-%d %H:%M} {r['status']:<8} "
                    f"{r['template']} -> "
                    f"{r['recipient_kind']} {r['recipient_id']}: {json.dumps(r['payload'])}"
                    for r in rows
                )
                or "the outbox is empty"
            )
        if command == "first-admin":
            return await people.first_admin(conn, *args)
        return "demo data loaded" if await demo.load(conn) else "demo data already there"
    finally:
        await conn.close()


USAGE = (
    "usage: python -m store migrate|demo|outbox|reconcile [--every SECONDS], or python -m "
    "store first-admin ID NAME EMAIL"
)

if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["reconcile"]:
        if args[1:2] == ["--every"] and len(args) == 3 and args[2].isdigit() and int(args[2]):
            every: float | None = float(args[2])
        elif len(args) == 1:
            every = None
        else:
            sys.exit(USAGE)
        try:
            print(asyncio.run(reconcile(every)))
        except config.NotConfigured as e:
            sys.exit(f"reconcile: {e}")
        sys.stdout.flush()
        os._exit(0)  # the SDK runtime may abort the interpreter at exit (sdk-python #300)
    if not (
        (len(args) == 1 and args[0] in ("migrate", "demo", "outbox"))
        or (len(args) == 4 and args[0] == "first-admin")
    ):
        sys.exit(USAGE)
    print(asyncio.run(main(args[0], *args[1:])))
