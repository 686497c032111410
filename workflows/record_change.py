"""A staff change of a service-desk ticket, a time entry or a sales item: create,
answer, resolve and close a ticket; log and approve time; create and move a sales item.

These are record operations, not long processes, yet they go through Temporal like every
other step: the starter stays a Temporal client (staff need no database credentials; only
workers hold them), each change is written once under its request id with its actor in
the audit log, a database hiccup is retried, and ops find the change in the UI. A change
the store refuses (no billing information) ends at once in stage `refused` with the reason."""

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.psa import PsaActivities
    from domain.errors import Refused
    from domain.permissions import Facts
    from domain.psa import ProcessKind
    from domain.service_desk import (
        RecordChangeRequest,
        RecordChangeResult,
        RecordChangeStep,
        RecordStage,
        named_account,
    )
    from domain.steps import StepKey

# Workflow code: imported again in each run's sandbox (see worker.workflow_runner).
from workflows.process import authorize, refused_reason, run_activity, run_chain
from workflows.rollout import versioning
from workflows.visibility import ACCOUNT_ID, PROCESS_KIND, STAGE


@workflow.defn(name="RecordChange", versioning_behavior=versioning("RecordChange"))
class RecordChange:
    @workflow.init
    def __init__(self, request: RecordChangeRequest) -> None:
        self.result = RecordChangeResult(
            process_id=workflow.info().workflow_id,
            stage=RecordStage.DONE,
            message="in progress",
            operation=request.change.operation,
        )

    @workflow.query
    def status(self) -> RecordChangeResult:
        return self.result

    @workflow.run
    async def run(self, request: RecordChangeRequest) -> RecordChangeResult:
        change = request.change
        permission = "RecordChange.start"
        facts = Facts(account_id=named_account(change))
        try:
            why = await authorize(permission, request.actor, facts)
            if why is not None:
                raise Refused(why)
            done = await run_activity(
                PsaActivities.change_record,
                RecordChangeStep(
                    key=StepKey(
                        process_id=self.result.process_id,
                        step=change.operation,
                        actor=request.actor,
                        run=run_chain(),
                        permission=permission,
                        facts=facts,
                    ),
                    change=change,
                ),
                change.operation.replace("-", " "),
            )
        except (Refused, ActivityError) as err:
            reason = refused_reason(err)
            if reason is None:
                raise
            self.result.stage, self.result.message = RecordStage.REFUSED, reason
            self.result.account_id = named_account(change)
        else:
            self.result.message = done.message
            self.result.record_id, self.result.account_id = done.record_id, done.account_id
        self.result.at = workflow.now()
        attributes = [
            PROCESS_KIND.value_set(ProcessKind.RECORD_CHANGE.value),
            STAGE.value_set(self.result.stage.value),
        ]
        if self.result.account_id:
            attributes.append(ACCOUNT_ID.value_set(self.result.account_id))
        workflow.upsert_search_attributes(attributes)
        return self.result
