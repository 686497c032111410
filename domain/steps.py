"""What every process's steps share: who sends them, their keys and their answers."""

from pydantic import BaseModel, Field

from domain.permissions import Facts

# The error type of data the database rejects: never retried, the process needs attention.
BAD_DATA = "BadData"

Actor = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")


class StepKey(BaseModel):
    """Names one write of one process: the idempotency key and the audit row.

    `run` is the process's run chain: the first run id of its workflow (the same across
    continue-as-new, new when an ended process id is started again), so a process started
    again under an old id writes its own steps. Empty for steps scheduled before runs were
    part of the key (their retries still find their audit rows)."""

    process_id: str
    step: str
    actor: str
    run: str = ""
    # The permission (domain/permissions.py, e.g. "FastChangeOrder.confirm") the actor needs
    # for this write, and the process's facts: store/steps.py once() checks it again in the
    # step's transaction. Empty for the system's own steps.
    permission: str = ""
    facts: Facts | None = None


class StaffStep(BaseModel):
    actor: str = Actor


class Cancellation(BaseModel):
    actor: str = Actor
    reason: str = Field(min_length=3, max_length=500)


class Decline(BaseModel):
    """A partner says no to what it was asked to confirm, and why."""

    actor: str = Actor
    reason: str = Field(min_length=3, max_length=500)


class StepAnswer(BaseModel):
    """What the sender of a step is told."""

    message: str
    stage: str
    rejected: bool = False  # the step ran, and its outcome is a rejection (e.g. a quote)
    notes: list[str] = []
    # The same answer as a code and its values (e.g. "order.confirmed", {"order": ...}), for a
    # reader that says it in its own words and language (the portal); `message` is the
    # English the starter prints. Empty: the message is all there is.
    code: str = ""
    params: dict[str, str | int] = {}
