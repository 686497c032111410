"""What ops see of a running worker: Prometheus metrics (the SDK runtime's and ours), log
lines that carry process id, run id, step and actor, and health/readiness endpoints."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from config import NotConfigured
from domain.errors import REFUSED


@dataclass(frozen=True)
class Endpoints:
    """Where a worker serves its metrics (Prometheus) and health endpoints. All interfaces
    by default, as in a container (the compose health check, Prometheus); ./run binds them
    to 127.0.0.1."""

    metrics_address: str = "0.0.0.0:9464"
    health_host: str = "0.0.0.0"
    health_port: int = 8081

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> "Endpoints":
        """PARTNERFLOW_METRICS_ADDRESS, PARTNERFLOW_HEALTH_HOST, PARTNERFLOW_HEALTH_PORT."""
        d = cls()
        port = env.get("PARTNERFLOW_HEALTH_PORT", "").strip() or str(d.health_port)
        if not port.isdigit():
            raise NotConfigured(f"PARTNERFLOW_HEALTH_PORT={port!r}: a port number is needed")
        return cls(
            metrics_address=env.get("PARTNERFLOW_METRICS_ADDRESS") or d.metrics_address,
            health_host=env.get("PARTNERFLOW_HEALTH_HOST") or d.health_host,
            health_port=int(port),
        )


def runtime_with_metrics(address: str) -> Runtime:
    """The SDK's own metrics (task latencies, slots, polls) and ours on one endpoint."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


class Observability(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityContext(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _StepMetrics


class _ActivityContext(ActivityInboundInterceptor):
    """Every log line an activity (or the store below it) writes names its process step."""

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        key = getattr(input.args[0], "key", None) if input.args else None
        with structlog.contextvars.bound_contextvars(
            process_id=info.workflow_id,
            run_id=info.workflow_run_id,
            activity=info.activity_type,
            step=getattr(key, "step", None),
            actor=getattr(key, "actor", None),
        ):
            return await super().execute_activity(input)


def _count(name: str, description: str, **attributes: str) -> None:
    workflow.metric_meter().create_counter(name, description).add(1, attributes)


class _StepMetrics(WorkflowInboundInterceptor):
    """Steps received and refused, processes completed, by process kind. Workflow metrics
    and workflow.logger are silent during replay, so nothing is counted twice."""

    def _kind(self) -> str:
        return workflow.info().workflow_type

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        try:
            super().handle_update_validator(input)
        except Exception as refusal:
            self._refused(input, refusal)
            raise

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        actor = getattr(input.args[0], "actor", None) if input.args else None
        _count(
            "partnerflow_steps_received",
            "human steps received",
            process_kind=self._kind(),
            step=input.update,
        )
        workflow.logger.info("step received", extra={"step": input.update, "actor": actor})
        try:
            return await super().handle_update_handler(input)
        except ApplicationError as refusal:
            if refusal.type == REFUSED:
                self._refused(input, refusal)
            raise

    def _refused(self, input: HandleUpdateInput, refusal: BaseException) -> None:
        _count(
            "partnerflow_steps_refused",
            "human steps refused",
            process_kind=self._kind(),
            step=input.update,
        )
        workflow.logger.info("step refused", extra={"step": input.update, "reason": str(refusal)})

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        result = await super().execute_workflow(input)
        stage = str(getattr(getattr(result, "stage", None), "value", "") or "")
        _count(
            "partnerflow_processes_completed",
            "processes completed",
            process_kind=self._kind(),
            stage=stage,
        )
        return result


class NotificationMetrics:
    """The relay's counters, by notification kind and channel, on the worker's endpoint:
    partnerflow_notifications_{sent,failed,given_up}. `failed` counts attempts (each is
    retried), `given_up` messages that need a person (`starter.py outbox --failed`)."""

    def __init__(self, meter: Any) -> None:
        self.counters = {
            "sent": meter.create_counter(
                "partnerflow_notifications_sent", "messages delivered, by kind and channel"
            ),
            "failed": meter.create_counter(
                "partnerflow_notifications_failed",
                "delivery attempts that failed, by kind and channel",
            ),
            "given_up": meter.create_counter(
                "partnerflow_notifications_given_up", "messages given up, by kind and channel"
            ),
        }

    def count(self, outcome: str, kind: str, channel: str) -> None:
        self.counters[outcome].add(1, {"kind": kind, "channel": channel})


def health_app(ready) -> web.Application:
    """/healthz: the process answers. /readyz: `await ready()` is true (worker polling,
    database and Temporal reachable): what a container platform's probes ask."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_: web.Request) -> web.Response:
        problems = await ready()
        if problems:
            return web.json_response({"status": "not ready", "problems": problems}, status=503)
        return web.json_response({"status": "ready"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
