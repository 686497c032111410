"""One human step on the leads of a queue: claim ("Accepter"), accept, not interested (with a
reason), change of owner, mass reassignment, conversion, opportunity.

Each step is a short process of its own (`lead-<kind>-<lead>-<request>`), not an update on
the queue's workflow: steps on different leads never queue behind one another, and no
workflow gathers them (Temporal admits 10 updates in flight per workflow). The step itself is
one guarded transaction in PostgreSQL (store/lead_steps.py), decided by the rules of
domain/leads/steps.py: row lock on the lead, the partner account's row for the claim cap, the
unique index over current owners. First come, first served is the order in which those
transactions take the lead's lock; exactly once is the step key in audit_log (a step sent
again under its request id is this same process).

A partner user's claim is no longer sent here: the portal and the starter decide it
themselves, in the same one transaction (store/lead_claims.py), and the queue's process keeps
its service level. A claim sent as a process (by a client of the earlier release) is still
served, and in a queue with a service level lives on as the claim's watch: it sleeps until
the lead is due and then sends the lead back to the queue, with notices, unless its status
changed meanwhile (accepted, converted, given back, reassigned: PostgreSQL says). Its state
is this one lead's; nothing here grows with the queue."""

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.leads import LeadActivities
    from domain.errors import Refused
    from domain.leads import (
        LeadRecall,
        LeadsReturned,
        LeadStepDone,
        LeadStepRequest,
        LeadStepStage,
        LeadStepStatus,
        LeadStepWrite,
        queue_process_id,
    )
    from domain.permissions import Facts
    from domain.steps import StepAnswer, StepKey

# Workflow code: imported again in each run's sandbox (see worker.workflow_runner).
from workflows.process import (
    authorize,
    refusal,
    refused_reason,
    run_activity,
    run_chain,
    show_stage,
)
from workflows.rollout import versioning
from workflows.visibility import PROCESS_KIND, STAGE

LEAD_STEP = "lead-step"


@workflow.defn(name="LeadStep", versioning_behavior=versioning("LeadStep"))
class LeadStep:
    @workflow.init
    def __init__(self, request: LeadStepRequest) -> None:
        self.request = request
        self.progress = LeadStepStatus(
            process_id=workflow.info().workflow_id,
            queue_id=request.queue_id,
            lead_id=request.lead_id,
            step=request.kind,
            since=workflow.now(),
        )
        self.done: LeadStepDone | None = None
        self.refused: str | None = None
        self.run_keys = ""
        self.kind_published = False

    @workflow.query
    def status(self) -> LeadStepStatus:
        return self.progress

    def _key(self, step: str, permission: str = "") -> StepKey:
        return StepKey(
            process_id=self.progress.process_id,
            step=step,
            actor=self.request.actor,
            run=self.run_keys,
            permission=permission,
            facts=self._facts() if permission else None,
        )

    def _facts(self) -> Facts:
        r = self.request
        return Facts(queue_id=r.queue_id, lead_id=r.lead_id, opportunity_id=r.opportunity_id)

    def _stage(self, stage: LeadStepStage, waiting_for: str) -> None:
        self.progress.stage, self.progress.waiting_for = stage, waiting_for
        self.progress.since = workflow.now()
        self.progress.revision += 1
        # the kind with the first stage: one command, not two (a claim is a small process)
        kind = [] if self.kind_published else [PROCESS_KIND.value_set(LEAD_STEP)]
        self.kind_published = True
        workflow.upsert_search_attributes([*kind, STAGE.value_set(stage)])
        show_stage(stage, waiting_for, self.progress.since)

    @workflow.run
    async def run(self, request: LeadStepRequest) -> LeadStepStatus:
        self.run_keys = run_chain()
        what = f"{request.kind} {request.lead_id or request.opportunity_id or ''}".strip()
        permission = f"LeadStep.{request.kind}"
        try:
            why = await authorize(permission, request.actor, self._facts())
            if why is not None:
                raise Refused(why)
            done: LeadStepDone = await run_activity(
                LeadActivities.lead_step,
                LeadStepWrite(key=self._key(request.kind, permission), request=request),
                f"{what} in queue {request.queue_id}",
            )
        except (Refused, ActivityError) as err:
            reason = refused_reason(err)
            if reason is None:
                raise
            done = LeadStepDone(message=reason, refused=True)
        if done.refused:
            self.refused = done.message
            self.progress.message = done.message
            self._stage("refused", f"nothing: refused, {done.message}")
            return self.progress
        self.done = done
        self.progress.message, self.progress.notes = done.message, done.notes
        await self._returned(done.returned)
        if done.claim_id is None or not done.work_within_minutes:
            self._stage("done", "nothing: done")
            return self.progress
        minutes = done.work_within_minutes
        due = workflow.now() + timedelta(minutes=minutes)
        owner = request.for_user or request.actor
        self._stage(
            "watching",
            f"{owner} to work lead {request.lead_id} by "
            f"{due:%Y-%m-%d %H:%M} UTC (accept-lead, convert-lead or not-interested); "
            "else it goes back to the queue",
        )
        await workflow.sleep(timedelta(minutes=minutes))
        checked: LeadStepDone = await run_activity(
            LeadActivities.recall_unworked_lead,
            LeadRecall(
                key=self._key("service-level"),
                queue_id=request.queue_id,
                lead_id=request.lead_id,
                claim_id=done.claim_id,
                minutes=minutes,
            ),
            f"service level of lead {request.lead_id}",
        )
        await self._returned(checked.returned)
        self.progress.notes = [*self.progress.notes, checked.message]
        self._stage("recalled" if checked.returned else "done", checked.message)
        return self.progress

    async def _returned(self, lead_ids: list[str]) -> None:
        """Leads back in the queue: its workflow gives them out again in a round-robin
        queue. Told by signal; a queue that has ended has nothing to do with them."""
        if not lead_ids:
            return
        handle = workflow.get_external_workflow_handle(queue_process_id(self.request.queue_id))
        try:
            await handle.signal("leads_returned", LeadsReturned(lead_ids=lead_ids))
        except FailureError as err:
            workflow.logger.warning(
                "lead queue not told of returned leads",
                extra={"queue_id": self.request.queue_id, "error": str(err)},
            )

    @workflow.update
    async def answer(self) -> StepAnswer:
        """The starter's answer: what the step did, or why it was refused."""
        await workflow.wait_condition(lambda: self.done is not None or self.refused is not None)
        if self.refused is not None:
            raise refusal(self.refused)
        assert self.done is not None
        return StepAnswer(
            message=self.done.message,
            stage=self.progress.stage,
            notes=self.done.notes,
            code=self.done.code,
            params=self.done.params,
        )
