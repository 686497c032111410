"""What every activity class shares: one idempotent store write per process step, and
business refusals turned into non-retryable errors a person can read. Data the database
rejects (a value out of range, a broken constraint) is final too: trying again cannot
help, so the process is told at once (it then needs attention, see workflows/process.py).
Anything else (the database is down) is retried by Temporal with backoff, up to the
activity deadline."""

import re
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

import asyncpg
from temporalio.exceptions import ApplicationError

from domain.errors import NOT_PERMITTED, REFUSED, NotPermitted, Refused
from domain.steps import BAD_DATA, StepKey
from store.steps import Write, once


def _words(err: Exception) -> str:
    """NumericValueOutOfRangeError -> 'numeric value out of range'."""
    name = type(err).__name__.removesuffix("Error")
    if name == "Data":
        return "invalid value"
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def bad_data_reason(err: Exception) -> str:
    """A plain reason without the offending value (it may be personal data): the kind of
    error, asyncpg's parenthesised detail ("value out of int64 range"), the constraint."""
    reason = f"the database rejected the data: {_words(err)}"
    detail = re.search(r"\(([^()]{1,80})\)\s*$", str(err))
    if detail:
        reason += f" ({detail.group(1)})"
    constraint = getattr(err, "constraint_name", None)
    if constraint:
        reason += f" (constraint {constraint})"
    return reason


@asynccontextmanager
async def refusals_are_final():
    try:
        yield
    except NotPermitted as refusal:  # the workflow tells it from a business refusal
        raise ApplicationError(str(refusal), type=NOT_PERMITTED, non_retryable=True) from None
    except Refused as refusal:
        raise ApplicationError(str(refusal), type=REFUSED, non_retryable=True) from None
    except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as err:
        raise ApplicationError(bad_data_reason(err), type=BAD_DATA, non_retryable=True) from None


class StepActivities:
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def _store_rules(self) -> AbstractAsyncContextManager[None]:
        """Where the store's own rules refuse a write, a class turns them into refusals."""
        return nullcontext()

    async def _once(self, key: StepKey, action: str, write: Write) -> dict:
        """The write as the step `key` names: (process_id, run, step, actor)."""
        async with refusals_are_final(), self._store_rules():
            return await once(
                self.pool,
                process_id=key.process_id,
                step=key.step,
                actor=key.actor,
                action=action,
                write=write,
                run=key.run,
                permission=key.permission,
                facts=key.facts,
            )

    def all(self) -> list:
        """Every activity of the class, for the worker."""
        return [
            getattr(self, name)
            for name in dir(type(self))
            if hasattr(getattr(type(self), name), "__temporal_activity_definition")
        ]
