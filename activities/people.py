"""The workflow's permission check: a short local activity that reads the people
directory and applies domain/permissions.py to one step of one process. A refusal is written
to the security log here; nothing else is."""

from pydantic import BaseModel
from temporalio import activity

from domain.permissions import Facts
from store import people


class Authorization(BaseModel):
    permission: str  # e.g. FastChangeOrder.confirm
    actor: str
    process_id: str
    facts: Facts = Facts()


class Verdict(BaseModel):
    refused: str | None = None  # why not, in words; None: allowed


class PeopleActivities:
    def __init__(self, pool) -> None:
        self.pool = pool

    @activity.defn
    async def authorize(self, a: Authorization) -> Verdict:
        async with self.pool.acquire() as conn:
            return Verdict(
                refused=await people.check(
                    conn,
                    permission=a.permission,
                    actor=a.actor,
                    process_id=a.process_id,
                    facts=a.facts,
                    checked_in="workflow",
                )
            )

    def all(self) -> list:
        return [self.authorize]
