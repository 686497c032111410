"""The partnerflow worker: every workflow and activity on task queue `partnerflow`.

    DATABASE_URL=postgresql://... TEMPORAL_ADDRESS=localhost:7233 python worker.py

With PARTNERFLOW_DEPLOYMENT_NAME and PARTNERFLOW_BUILD_ID it serves one version of a worker
deployment (README "Rolling out a new version"); without them it is unversioned.

Migrates the database at start (under an advisory lock), shares one asyncpg pool between
all activities, and on SIGTERM/SIGINT stops polling and lets running activities finish."""

import asyncio
import os
import signal
import sys
from datetime import timedelta

import structlog
from aiohttp import web
from temporalio.worker import Worker, WorkerDeploymentConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import config
from activities.accounts import AccountActivities
from activities.change_orders import ChangeOrderActivities
from activities.classound import ClassoundActivities
from activities.leads import LeadActivities
from activities.partners import PartnerActivities
from activities.people import PeopleActivities
from activities.psa import PsaActivities
from activities.records import RecordActivities
from activities.renegotiation import RenegotiationActivities
from relay import Relay
from relay import Settings as RelaySettings
from store.db import create_pool, migrate
from telemetry import logs
from telemetry.metrics import (
    HEALTH_HOST,
    HEALTH_PORT,
    METRICS_ADDRESS,
    Observability,
    health_app,
    runtime_with_metrics,
)
from workflows.accounts import AccountChange, AccountOverviewRead
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
from workflows.records import RecordsRead
from workflows.renegotiation import Renegotiation

# Every process: its workflows, and the activity classes that share the worker's pool.
WORKFLOWS = [
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
    AccountOverviewRead,
    RecordsRead,
    LeadQueueRouter,
    LeadStep,
]
ACTIVITY_CLASSES = [
    ChangeOrderActivities,
    RenegotiationActivities,
    ClassoundActivities,
    PsaActivities,
    PartnerActivities,
    LeadActivities,
    AccountActivities,
    RecordActivities,
    PeopleActivities,
]
GRACEFUL_SHUTDOWN = timedelta(seconds=30)
# The sandbox imports a workflow's module again for every process it runs (and applies
# @workflow.defn to its class again): 7% of the busy samples of a py-spy profile of
# bench/fast_change_bench.py (issue 14). Their code lives in workflows/,
# whose modules keep no mutable module state and already import the process base classes
# passed through; so workflows/ is passed through too and imported once.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows")
)

log = structlog.get_logger("partnerflow.worker")


def activities_for(pool) -> list:
    return [fn for cls in ACTIVITY_CLASSES for fn in cls(pool).all()]


def settings() -> config.WorkerSettings:
    try:
        return config.worker_settings()
    except config.NotConfigured as e:
        log.error("worker refuses to start", reason=str(e))
        raise SystemExit(f"worker.py: refusing to start: {e}") from None


def build_worker(
    client,
    pool,
    task_queue: str = config.TASK_QUEUE,
    deployment: WorkerDeploymentConfig | None = None,
    tuning: config.WorkerSettings | None = None,
) -> Worker:
    tuning = tuning or settings()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=activities_for(pool),
        interceptors=[Observability()],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        deployment_config=deployment,
        max_cached_workflows=tuning.max_cached_workflows,
        max_concurrent_workflow_tasks=tuning.workflow_task_slots,
        max_concurrent_activities=tuning.activity_slots,
        workflow_runner=WORKFLOW_RUNNER,
    )


async def serve_health(client, pool, worker: Worker) -> web.AppRunner:
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
    await web.TCPSite(runner, HEALTH_HOST, HEALTH_PORT).start()
    return runner


def check_encryption() -> None:
    """Fail closed: no key ring, no worker (unless plaintext was chosen, said loudly)."""
    try:
        codec = config.encryption_codec()
    except config.NotConfigured as e:
        log.error("worker refuses to start", reason=str(e))
        raise SystemExit(f"worker.py: refusing to start: {e}") from None
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
    try:
        deployment = config.worker_deployment()
    except config.NotConfigured as e:
        log.error("worker refuses to start", reason=str(e))
        raise SystemExit(f"worker.py: refusing to start: {e}") from None
    if deployment is None:
        log.info("worker unversioned (no PARTNERFLOW_DEPLOYMENT_NAME / PARTNERFLOW_BUILD_ID)")
    return deployment


def start_relay(pool, runtime, stop: asyncio.Event) -> asyncio.Task | None:
    """The outbox relay runs in every worker (README "Notifications"): SKIP LOCKED lets the
    replicas share the rows. Off without an SMTP server or SMS gateway configured, or with
    PARTNERFLOW_RELAY=off (when it runs as its own service, `python -m relay`)."""
    settings = RelaySettings.from_environment()
    if os.environ.get("PARTNERFLOW_RELAY", "").strip().lower() == "off" or not settings.enabled:
        log.info("relay off in this worker", smtp=settings.smtp_host, sms=settings.sms_url)
        return None
    relay = Relay(pool, settings, meter=runtime.metric_meter)
    return asyncio.create_task(relay.run(stop), name="relay")


async def main() -> int:
    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
    check_encryption()
    deployment = worker_deployment()
    dsn = config.database_url()
    applied = await migrate(dsn)
    if applied:
        log.info("migrations applied", migrations=applied)
    runtime = runtime_with_metrics()
    client = await config.connect_temporal(runtime)
    tuning = settings()
    pool = await create_pool(dsn, max_size=tuning.pool_size)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    health = None
    relay = start_relay(pool, runtime, stop)
    try:
        async with build_worker(client, pool, deployment=deployment, tuning=tuning) as worker:
            # `async with` starts Worker.run() in a task of its own: wait until it runs, so
            # that neither /readyz nor the "worker started" line comes before it polls.
            while not worker.is_running:
                await asyncio.sleep(0.01)
            health = await serve_health(client, pool, worker)
            version = deployment.version.to_canonical_string() if deployment else None
            log.info(
                "worker started",
                task_queue=config.TASK_QUEUE,
                namespace=client.namespace,
                pid=os.getpid(),
                version=version,
                metrics=METRICS_ADDRESS,
                health_port=HEALTH_PORT,
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
    status = asyncio.run(main())
    sys.stdout.flush()
    sys.stderr.flush()
    # The SDK's runtime can crash at interpreter exit after a clean stop (sdk-python #300,
    # see DESIGN.md); leave without the interpreter's teardown.
    os._exit(status)
