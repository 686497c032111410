"""One worker process for the benchmarks that measure a worker on its own (capacity_bench,
scale_bench): worker.build_worker with the settings from the environment (config.py
PARTNERFLOW_MAX_CACHED_WORKFLOWS ...), plus the no-op twins, on PARTNERFLOW_TASK_QUEUE.

    DATABASE_URL=... TEMPORAL_ADDRESS=host:port PARTNERFLOW_TASK_QUEUE=q python bench/worker_proc.py

Prints `ready <pid>` once it polls; stops on SIGTERM."""

import asyncio
import os
import signal
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from temporalio.client import Client  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.plugin import SimplePlugin  # noqa: E402

import config  # noqa: E402
import worker  # noqa: E402
from bench.change_twin import ACTIVITIES as CHANGE_TWIN_ACTIVITIES  # noqa: E402
from bench.change_twin import NoopChangeTwin  # noqa: E402
from bench.common import run  # noqa: E402
from bench.noop_twin import ACTIVITIES as TWIN_ACTIVITIES  # noqa: E402
from bench.noop_twin import NoopTwin  # noqa: E402
from store.db import create_pool  # noqa: E402
from telemetry import logs  # noqa: E402


async def main_async() -> int:
    tuning = worker.settings()
    pool = await create_pool(os.environ["DATABASE_URL"], max_size=tuning.pool_size)
    plugin = SimplePlugin(
        "partnerflow-bench-noop-twins",
        workflows=[NoopTwin, NoopChangeTwin],
        activities=[*TWIN_ACTIVITIES, *CHANGE_TWIN_ACTIVITIES],
    )
    client = await Client.connect(
        os.environ["TEMPORAL_ADDRESS"], data_converter=pydantic_data_converter, plugins=[plugin]
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with worker.build_worker(
            client, pool, task_queue=config.Settings.from_environment().task_queue, tuning=tuning
        ):
            print(f"ready {os.getpid()}", flush=True)
            await stop.wait()
    finally:
        await pool.close()
    return 0


def main() -> int:
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    logs.configure("WARNING")
    return asyncio.run(main_async())


if __name__ == "__main__":
    run(main)
