"""The partnerflow worker: every workflow and activity on task queue `partnerflow`.

    DATABASE_URL=postgresql://... TEMPORAL_ADDRESS=localhost:7233 python worker.py

With PARTNERFLOW_DEPLOYMENT_NAME and PARTNERFLOW_BUILD_ID it serves one version of a worker
deployment (docs/deployment.md "Rolling out a new version"); without them it is unversioned.

Migrates the database at start (under an advisory lock), shares one asyncpg pool between
all activities, and on SIGTERM/SIGINT stops polling and lets running activities finish."""

import asyncio
import errno
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import structlog
from aiohttp import web
from temporalio.worker import Worker, WorkerDeploymentConfig, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import config
from activities.accounts import AccountActivities
from activities.change_orders import ChangeOrderActivities
from activities.classound import ClassoundActivities
from activities.leads import LeadActivities
from activities.partners import PartnerActivities
from activities.people import PeopleActivities
from activities.psa import PsaActivities
from activities.renegotiation import RenegotiationActivities
from codec import EncryptionCodec
from codec.binding import REFUSALS
from codec.signing import WORKER, Verifier, directory_lookup, load_signer
from relay import Relay
from relay.settings import Settings as RelaySettings
from store.db import create_pool, migrate
from store.people import record_refusal
from store.staff_keys import key_file_enrolled
from telemetry import logs
from telemetry.metrics import Endpoints, Observability, health_app, runtime_with_metrics
from workflows import rollout


def workflow_classes(versioned: bool = False) -> list[type]:
    """Every process's workflow class. Whether this worker serves a deployment version is
    fixed first: a class's versioning behaviour is declared with it (workflows/rollout.py),
    so the classes are imported here, after the worker's settings are read, not at import."""
    rollout.declare_versioned(versioned)
    from workflows.accounts import AccountChange
    from workflows.change_order import ChangeOrder
    from workflows.classound_order import ClassoundOrder
    from workflows.client_onboarding import ClientOnboarding
    from workflows.fast_change_order import FastChangeOrder
    from workflows.invoicing_run import InvoicingRun
    from workflows.lead_queue_router import LeadQueueRouter
    from workflows.lead_step import LeadStep
    from workflows.onboarding_campaign import OnboardingCampaign
    from workflows.partner_onboarding import PartnerManagement, PartnerOnboarding
    from workflows.record_change import RecordChange
    from workflows.renegotiation import Renegotiation

    return [
        FastChangeOrder,
        ChangeOrder,
        Renegotiation,
        ClassoundOrder,
        ClientOnboarding,
        OnboardingCampaign,
        InvoicingRun,
        RecordChange,
        PartnerManagement,
        PartnerOnboarding,
        AccountChange,
        LeadQueueRouter,
        LeadStep,
    ]


# Every process's activity classes, sharing the worker's pool.
ACTIVITY_CLASSES = [
    ChangeOrderActivities,
    RenegotiationActivities,
    ClassoundActivities,
    PsaActivities,
    PartnerActivities,
    LeadActivities,
    AccountActivities,
    PeopleActivities,
]
GRACEFUL_SHUTDOWN = timedelta(seconds=30)


def workflow_runner() -> WorkflowRunner:
    """The sandbox every workflow runs in, here and in the tests: each run imports its
    process's module afresh, with the determinism checks on (a process that reads the clock,
    randomness or the environment fails its task). Passed through, imported once: what is
    not a process's own code - the domain rules and models, the activities' interfaces,
    pydantic, the versioning this worker declared (workflow_classes) - and the kernel every
    process shares (KERNEL). Imported afresh in every run, the kernel cost a fifth of the fast
    change order's throughput (0.79 of its no-op twin, against 0.89-0.96 passed through); it
    keeps no state of its own between runs, and ruff bans the clock, randomness and the
    environment in workflows/ as in domain/, so the kernel is checked before it runs."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "domain", "activities", "pydantic", *KERNEL
        )
    )


# The workflow code every process shares: the process kernel, the order's, the decline step,
# the search attributes and the versioning.
KERNEL = (
    "workflows.process",
    "workflows.order_process",
    "workflows.order_decline",
    "workflows.visibility",
    "workflows.rollout",
)


log = structlog.get_logger("partnerflow.worker")


def activities_for(pool) -> list:
    classes: list[Any] = ACTIVITY_CLASSES  # each class's all(): its activities
    return [fn for cls in classes for fn in cls(pool).all()]


# A worker that cannot run as configured exits with sysexits' EX_CONFIG (78): restarting it
# with the same settings fails the same way, so a supervisor does not (devstack/supervision.py).
NOT_CONFIGURED = os.EX_CONFIG


@contextmanager
def refusing_to_start() -> Iterator[None]:
    """A setting that cannot be used stops the worker once, with one line naming it."""
    try:
        yield
    except config.NotConfigured as e:
        print(f"worker.py: refusing to start: {e}", file=sys.stderr, flush=True)
        raise SystemExit(NOT_CONFIGURED) from None


def _host_port(address: str, variable: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise config.NotConfigured(f"{variable}={address!r}: use HOST:PORT, e.g. 127.0.0.1:9464")
    return host.strip("[]"), int(port)


def check_ports(endpoints: Endpoints) -> None:
    """The metrics and health ports are free, before anything starts: a taken one is named
    with its variable, not a Prometheus exporter's error after the worker began polling."""
    for variable, (host, port) in (
        (
            "PARTNERFLOW_METRICS_ADDRESS",
            _host_port(endpoints.metrics_address, "PARTNERFLOW_METRICS_ADDRESS"),
        ),
        ("PARTNERFLOW_HEALTH_PORT", (endpoints.health_host, endpoints.health_port)),
    ):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # as both servers bind (a port a stopped worker left in TIME_WAIT is free)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as e:
                taken = e.errno == errno.EADDRINUSE
                raise config.NotConfigured(
                    f"port {port} on {host} is taken by another process ({variable}): stop "
                    "it, or set another port"
                    if taken
                    else f"cannot listen on {host}:{port} ({variable}): {e.strerror or e}"
                ) from None


def _database(dsn: str) -> str:
    """Where DATABASE_URL points, without its password."""
    url = urlsplit(dsn)
    where = f"{url.hostname or 'localhost'}:{url.port or 5432}{url.path}"
    return where if url.scheme else "the database DATABASE_URL names"


async def migrate_or_refuse(dsn: str) -> list[str]:
    """The migrations, once the database answers: one it cannot reach or log in to at start
    is a setting to fix (DATABASE_URL), not a crash to restart."""
    try:
        return await migrate(dsn)
    except (OSError, TimeoutError, asyncpg.PostgresError) as e:
        state = getattr(e, "sqlstate", "") or ""
        # connection (08), authorisation (28), no such database (3D)
        if isinstance(e, asyncpg.PostgresError) and state[:2] not in ("08", "28", "3D"):
            raise
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        with refusing_to_start():
            raise config.NotConfigured(
                f"cannot reach the database at {_database(dsn)} (DATABASE_URL): {why}"
            ) from None
        raise


def settings() -> config.WorkerSettings:
    with refusing_to_start():
        return config.worker_settings()


def build_worker(
    client,
    pool,
    task_queue: str | None = None,
    deployment: WorkerDeploymentConfig | None = None,
    tuning: config.WorkerSettings | None = None,
) -> Worker:
    """The worker on `task_queue` (None: the environment's, as for the benches)."""
    tuning = tuning or settings()
    task_queue = task_queue or config.Settings.from_environment().task_queue
    return Worker(
        client,
        task_queue=task_queue,
        workflows=workflow_classes(versioned=deployment is not None),
        activities=activities_for(pool),
        interceptors=[Observability()],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        deployment_config=deployment,
        max_cached_workflows=tuning.max_cached_workflows,
        max_concurrent_workflow_tasks=tuning.workflow_task_slots,
        max_concurrent_activities=tuning.activity_slots,
        workflow_runner=workflow_runner(),
    )


async def serve_health(client, pool, worker: Worker, endpoints: Endpoints) -> web.AppRunner:
    async def problems() -> list[str]:
        found = []
        if not worker.is_running:
            found.append("worker not polling")
        try:
            await pool.fetchval("SELECT 1")
        except Exception as e:  # noqa: BLE001 - reported, not raised
            found.append(f"database: {e}")
        try:
            await client.service_client.check_health()
        except Exception as e:  # noqa: BLE001
            found.append(f"temporal: {e}")
        return found

    runner = web.AppRunner(health_app(problems))
    await runner.setup()
    await web.TCPSite(runner, endpoints.health_host, endpoints.health_port).start()
    return runner


WORKER_KEY_ENV = "PARTNERFLOW_WORKER_KEY"


async def staff_steps_verified(client: Any, pool: Any, common: config.Settings) -> None:
    """With a key ring, a step naming a staff member is taken only signed with that person's
    own key (codec.signing), and what the processes send on is signed with the worker's own
    key (PARTNERFLOW_WORKER_KEY, else `<data>/staff-keys/worker.key`: made and enrolled at
    the first start, never overwritten)."""
    codec = client.data_converter.payload_codec
    if not isinstance(codec, EncryptionCodec):
        return  # plaintext (a test system): nobody is bound to anything
    chosen = os.environ.get(WORKER_KEY_ENV, "").strip()
    path = Path(chosen) if chosen else common.data_dir / "staff-keys" / "worker.key"
    async with pool.acquire() as conn:
        key_id = await key_file_enrolled(
            conn, path, holder="worker", kind=WORKER, enrolled_by="worker"
        )
    codec.signer = load_signer(path)
    codec.verifier = Verifier(directory_lookup(pool))
    log.info("staff steps verified", worker_key=key_id)


@asynccontextmanager
async def refusals_written(pool) -> AsyncIterator[None]:
    """Inputs refused while a workflow reads them (copied from another process or step, see
    codec.binding) become security_log rows, door "workflow": found in the workflow thread,
    written here, once each (a replay reports the same key again)."""
    queue = REFUSALS.attach()

    async def write() -> None:
        while True:
            refusal = await queue.get()
            for attempt in range(5):
                try:
                    async with pool.acquire() as conn:
                        await record_refusal(
                            conn,
                            actor=refusal.actor,
                            permission=refusal.permission,
                            process_id=refusal.process_id,
                            reason=refusal.reason,
                            checked_in="workflow",
                            quiet=True,  # logged where it was found
                            key=refusal.key,
                        )
                    break
                except Exception as e:  # noqa: BLE001 - the database may be back soon
                    log.error("refusal not written yet", key=refusal.key, error=str(e))
                    await asyncio.sleep(2**attempt)

    task = asyncio.create_task(write(), name="refusals")
    try:
        yield
    finally:
        REFUSALS.detach()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def check_encryption(common: config.Settings) -> None:
    """Fail closed: no key ring, no worker (unless plaintext was chosen, said loudly)."""
    with refusing_to_start():
        codec = config.encryption_codec(common.data_dir)
    if codec is None:
        log.warning("PAYLOADS NOT ENCRYPTED", reason=config.PLAINTEXT_WARNING)
    elif codec.accept_plaintext:
        log.warning(
            "unencrypted payloads accepted (PARTNERFLOW_ACCEPT_PLAINTEXT_HISTORY=1): "
            "only while processes started before encryption are still running"
        )
    else:
        log.info("payloads encrypted", key_id=codec.key_id, keys=len(codec.ciphers))


def worker_deployment() -> WorkerDeploymentConfig | None:
    with refusing_to_start():
        deployment = config.worker_deployment()
    if deployment is None:
        log.info("worker unversioned (no PARTNERFLOW_DEPLOYMENT_NAME / PARTNERFLOW_BUILD_ID)")
    return deployment


def start_relay(pool, runtime, stop: asyncio.Event) -> asyncio.Task | None:
    """The outbox relay runs in every worker (docs/ops.md "E-mail and SMS"): SKIP LOCKED lets the
    replicas share the rows. Off without an SMTP server or SMS gateway configured, or with
    PARTNERFLOW_RELAY=off (when it runs as its own service, `python -m relay`)."""
    settings = RelaySettings.from_environment()
    if os.environ.get("PARTNERFLOW_RELAY", "").strip().lower() == "off" or not settings.enabled:
        log.info("relay off in this worker", smtp=settings.smtp_host, sms=settings.sms_url)
        return None
    relay = Relay(pool, settings, meter=runtime.metric_meter)
    return asyncio.create_task(relay.run(stop), name="relay")


async def main() -> int:
    # The settings, read once here and passed down.
    common = config.Settings.from_environment()
    logs.configure(common.log_level)
    with refusing_to_start():
        endpoints = Endpoints.from_environment(common.environment)
        config.use_business_zones(common)
        check_ports(endpoints)
    check_encryption(common)
    deployment = worker_deployment()
    tuning = settings()
    try:
        dsn = config.database_url()
    except SystemExit as unset:  # its words name DATABASE_URL
        with refusing_to_start():
            raise config.NotConfigured(str(unset.code)) from None
        raise
    applied = await migrate_or_refuse(dsn)
    if applied:
        log.info("migrations applied", migrations=applied)
    runtime = runtime_with_metrics(endpoints.metrics_address)
    client = await config.connect_temporal(runtime, data_dir=common.data_dir)
    pool = await create_pool(dsn, max_size=tuning.pool_size)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    health = None
    await staff_steps_verified(client, pool, common)
    relay = start_relay(pool, runtime, stop)
    try:
        async with (
            refusals_written(pool),
            build_worker(
                client, pool, common.task_queue, deployment=deployment, tuning=tuning
            ) as worker,
        ):
            # `async with` starts Worker.run() in a task of its own: wait until it runs, so
            # that neither /readyz nor the "worker started" line comes before it polls.
            while not worker.is_running:
                await asyncio.sleep(0.01)
            health = await serve_health(client, pool, worker, endpoints)
            version = deployment.version.to_canonical_string() if deployment else None
            log.info(
                "worker started",
                task_queue=common.task_queue,
                namespace=client.namespace,
                pid=os.getpid(),
                version=version,
                metrics=endpoints.metrics_address,
                health_port=endpoints.health_port,
                settings=tuning.__dict__,
            )
            await stop.wait()
            log.info("worker stopping: no new tasks, letting running activities finish")
    finally:
        stop.set()
        if relay is not None:
            await relay
        if health is not None:
            await health.cleanup()
        await pool.close()
    log.info("worker stopped")
    return 0


if __name__ == "__main__":
    try:
        status = asyncio.run(main())
    except SystemExit as refused:  # refusing_to_start: its line is printed
        status = refused.code if isinstance(refused.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    # The SDK's runtime can crash at interpreter exit after a clean stop (sdk-python #300,
    # see DESIGN.md); leave without the interpreter's teardown.
    os._exit(status)
