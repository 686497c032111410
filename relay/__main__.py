"""`python -m relay`: the relay as its own service (when e-mail/SMS should scale apart from
the workers, or run where the workers cannot reach the SMTP server). Reads DATABASE_URL and
the PARTNERFLOW_SMTP_* / PARTNERFLOW_SMS_* settings; stops cleanly on SIGTERM/SIGINT."""

import asyncio
import signal
import sys

import config
from relay import Relay
from relay.settings import Settings
from store.db import create_pool
from telemetry import logs


async def main() -> int:
    common = config.Settings.from_environment()  # read once, passed down
    logs.configure(common.log_level)
    settings = Settings.from_environment()
    if not settings.enabled:
        sys.exit("relay: set PARTNERFLOW_SMTP_HOST and/or PARTNERFLOW_SMS_URL")
    pool = await create_pool(common.database_url or config.database_url(), max_size=3)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await Relay(pool, settings).run(stop)
    finally:
        await pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
