"""`python -m store migrate` applies the migrations (the compose file's one-shot job);
`python -m store demo` loads the demo data. Both read DATABASE_URL and are idempotent."""

import asyncio
import sys

import config
from store import demo
from store.db import connect, migrate


async def main(command: str) -> str:
    dsn = config.database_url()
    if command == "migrate":
        applied = await migrate(dsn)
        return f"migrations applied: {', '.join(applied) or 'none new'}"
    conn = await connect(dsn)
    try:
        return "demo data loaded" if await demo.load(conn) else "demo data already there"
    finally:
        await conn.close()


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("migrate", "demo"):
        sys.exit("usage: python -m store migrate|demo")
    print(asyncio.run(main(sys.argv[1])))
