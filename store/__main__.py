"""`python -m store migrate` applies the migrations (the compose file's one-shot job);
`python -m store demo` loads the demo data (its staff: admin-ida is an admin);
`python -m store first-admin ID NAME EMAIL` makes the first admin of a directory that has none
(who then adds staff with `starter.py staff add`); `python -m store outbox` shows the ten newest
outbox rows with their payload (`starter.py outbox` shows their delivery status; the messages
themselves, one-time links included, arrive in ./run's mail catcher).
All read DATABASE_URL."""

import asyncio
import json
import sys

import config
from store import demo, people
from store.db import connect, migrate


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
                " FROM notifications ORDER BY id DESC LIMIT 10")
            return "\n".join(
                f"{r['id']:>6} {r['created_at']:%Y-%m-%d %H:%M} {r['status']:<8} "
                f"{r['template']} -> "
                f"{r['recipient_kind']} {r['recipient_id']}: {json.dumps(r['payload'])}"
                for r in rows) or "the outbox is empty"
        if command == "first-admin":
            return await people.first_admin(conn, *args)
        return "demo data loaded" if await demo.load(conn) else "demo data already there"
    finally:
        await conn.close()


if __name__ == "__main__":
    if not ((len(sys.argv) == 2 and sys.argv[1] in ("migrate", "demo", "outbox"))
            or (len(sys.argv) == 5 and sys.argv[1] == "first-admin")):
        sys.exit("usage: python -m store migrate|demo|outbox, or python -m store first-admin "
                 "ID NAME EMAIL")
    print(asyncio.run(main(sys.argv[1], *sys.argv[2:])))
