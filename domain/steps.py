"""What every process's steps share: who sends them, their keys and their answers."""

from pydantic import BaseModel, Field

Actor = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")


class StepKey(BaseModel):
    """Names one write of one process: the idempotency key and the audit row."""

    process_id: str
    step: str
    actor: str


class StaffStep(BaseModel):
    actor: str = Actor


class Cancellation(BaseModel):
    actor: str = Actor
    reason: str = Field(min_length=3, max_length=500)


class StepAnswer(BaseModel):
    """What the sender of a step is told."""

    message: str
    stage: str
    rejected: bool = False  # the step ran, and its outcome is a rejection (e.g. a quote)
    notes: list[str] = []
