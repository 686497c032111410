"""What the history recorders share: a throwaway PostgreSQL, both Temporal test servers,
and saving a finished process's history where tests/test_replay.py finds it."""

import json
import sys
import tempfile
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pgserver
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from store.db import create_pool, migrate
from tests.conftest import register_search_attributes
from tests.people import add_test_staff
from tests.records import load_catalogue
from workflows.visibility import ALL as SEARCH_ATTRIBUTES

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent


@dataclass
class Recording:
    time_env: WorkflowEnvironment  # durable timers
    dev_env: WorkflowEnvironment  # updates that run activities in their handler
    pool: asyncpg.Pool


@asynccontextmanager
async def recording():
    with tempfile.TemporaryDirectory() as tmp:
        server = pgserver.get_server(tmp, cleanup_mode="stop")
        dsn = server.get_uri()
        await migrate(dsn)
        pool = await create_pool(dsn)
        async with pool.acquire() as conn:
            await load_catalogue(conn)
            await add_test_staff(conn)  # the people directory: the recorders' actors
        time_env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(BIN / "temporal-test-server"),
            data_converter=pydantic_data_converter,
        )
        await register_search_attributes(time_env.client, SEARCH_ATTRIBUTES)
        dev_env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(BIN / "temporal"),
            data_converter=pydantic_data_converter,
            search_attributes=SEARCH_ATTRIBUTES,
        )
        try:
            yield Recording(time_env, dev_env, pool)
        finally:
            await dev_env.shutdown()
            await time_env.shutdown()
            await pool.close()
            server.cleanup()


async def save(handle, name: str) -> None:
    history = await handle.fetch_history()
    # The workflow id is part of what replays: ids of quotes and orders derive from it.
    saved = {"workflow_id": handle.id, "history": json.loads(history.to_json())}
    (HERE / f"{name}.json").write_text(json.dumps(saved, indent=1))
    print(f"saved {name}.json ({len(history.events)} events)")
