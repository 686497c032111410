"""RecordsRead: what the starter shows without SQL (lead cards, an invoice, contacts). A read,
not a process: it sets no ProcessKind, so `list` leaves it out; it gives up after two minutes."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.records import RecordActivities
    from domain.records import Records, RecordsLookup

# Workflow code: imported again in each run's sandbox (see worker.workflow_runner).
from workflows.accounts import READ_DEADLINE
from workflows.process import ACTIVITY_TIMEOUT
from workflows.rollout import versioning


@workflow.defn(name="RecordsRead", versioning_behavior=versioning("RecordsRead"))
class RecordsRead:
    @workflow.run
    async def run(self, lookup: RecordsLookup) -> Records:
        return await workflow.execute_activity_method(
            RecordActivities.read_records,
            lookup,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            schedule_to_close_timeout=READ_DEADLINE,
            summary=f"read {lookup.what}",
        )
