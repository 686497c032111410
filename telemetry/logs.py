"""structlog for our code and for the SDK's stdlib loggers (workflow.logger, activity.logger):
JSON lines when not on a terminal (in the cluster), readable lines on one."""

import logging
import sys

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

from domain.errors import REFUSED


class BusinessRefusals(logging.Filter):
    """A business refusal raised in an activity (an unknown account, say) is an answer, not a
    fault: the workflow logs it once, as "step refused" with the reason. The SDK would log it
    again as a warning with a full traceback ("Completing activity as failed")."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, ApplicationError) and error.type == REFUSED)


def _temporal_context(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """workflow.logger and activity.logger put their context in an `extra` dict: lift the
    ids ops search by to the top of the line."""
    for key in ("temporal_workflow", "temporal_activity"):
        ctx = event.pop(key, None)
        if isinstance(ctx, dict):
            event.setdefault("process_id", ctx.get("workflow_id"))
            event.setdefault("run_id", ctx.get("run_id") or ctx.get("workflow_run_id"))
            event.setdefault("process_type", ctx.get("workflow_type"))
            if "activity_type" in ctx:
                event.setdefault("activity", ctx.get("activity_type"))
    return event


def configure(level: str = "INFO") -> None:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.ExtraAdder(),
        _temporal_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = (
        structlog.dev.ConsoleRenderer()
        if sys.stderr.isatty()
        else structlog.processors.JSONRenderer()
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(BusinessRefusals())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Probes hit the health endpoints every few seconds: their access lines are noise.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # The SDK's loggers pass their context as `extra` (lifted above), not in the message.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
