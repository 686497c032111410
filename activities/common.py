"""What every activity class shares: one idempotent store write per process step, and
business refusals turned into non-retryable errors a person can read. Anything else (the
database is down) is retried by Temporal with backoff."""

from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from temporalio.exceptions import ApplicationError

from domain.errors import REFUSED, Refused
from store.steps import once


@asynccontextmanager
async def refusals_are_final():
    try:
        yield
    except Refused as refusal:
        raise ApplicationError(str(refusal), type=REFUSED, non_retryable=True) from None


class StepActivities:
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def _once(self, key: Any, action: str, write: Callable[[Any], Awaitable[dict]]):
        """`key` is a StepKey: (process_id, step, actor)."""
        async with refusals_are_final():
            return await once(
                self.pool,
                process_id=key.process_id,
                step=key.step,
                actor=key.actor,
                action=action,
                write=write,
            )

    def all(self) -> list:
        """Every activity of the class, for the worker."""
        return [
            getattr(self, name)
            for name in dir(type(self))
            if hasattr(getattr(type(self), name), "__temporal_activity_definition")
        ]
