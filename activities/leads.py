"""Activities of the lead queues: each runs one store write as one idempotent step (see
activities/common.py). Lead data is read from its file and written to PostgreSQL here; what
goes back to the workflow is ids, dedupe keys and routing fields."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

import config
from activities.common import StepActivities, refusals_are_final
from domain.errors import REFUSED
from domain.leads import (
    LeadRecall,
    LeadReceipt,
    LeadsBack,
    LeadStepDone,
    LeadStepWrite,
    QueueMembers,
    QueueOpening,
    QueueSettings,
    QueueTakeOver,
    RecallDue,
    Recalled,
    Received,
    Rosters,
    RuleWrite,
)
from domain.leads.steps import NotTheirs, recalled
from store import lead_claims, lead_queues, lead_steps, leads, people
from store.steps import once


class LeadActivities(StepActivities):
    @activity.defn
    async def open_lead_queue(self, o: QueueOpening) -> Rosters:
        result = await self._once(
            o.key,
            "lead queue opened",
            lambda c: lead_queues.open_queue(
                c,
                o.key.process_id,
                o.key.actor,
                o.queue_id,
                o.name,
                o.channel_managers,
                o.partners,
                o.claim_cap,
                o.routing,
                o.work_within_minutes,
            ),
        )
        return Rosters(**result)

    @activity.defn
    async def add_lead_queue_partners(self, m: QueueMembers) -> Rosters:
        result = await self._once(
            m.key,
            "partners added to the lead queue",
            lambda c: lead_queues.add_partners(c, m.key.actor, m.queue_id, m.partners),
        )
        return Rosters(**result)

    @activity.defn
    async def add_assignment_rule(self, w: RuleWrite) -> None:
        await self._once(
            w.key,
            f"assignment rule {w.rule.rule_id} added",
            lambda c: lead_queues.add_rule(
                c, w.key.actor, w.queue_id, w.rule.model_dump(), w.position
            ),
        )

    @activity.defn
    async def take_over_lead_queue(self, t: QueueTakeOver) -> QueueSettings:
        """A queue opened by the earlier design, read from PostgreSQL for the process that
        carries it on."""
        result = await self._once(
            t.key,
            f"lead queue {t.queue_id} taken over",
            lambda c: lead_queues.take_over(c, t.queue_id),
        )
        return QueueSettings(**result)

    @activity.defn
    async def receive_lead_batch(self, r: LeadReceipt) -> Received:
        """A batch of a file: stored and routed in one step. Sent again (a resumed import),
        it is answered from its audit row, without its file."""
        root = config.documents_dir()
        written = []

        async def write(conn) -> dict:
            rows = leads.load_batch(root, r.batch)  # a refusal if missing or altered
            written.append(True)
            return {
                **await leads.receive_batch(
                    conn, r.key.process_id, r.key.actor, r.key.step, r.config, rows
                ),
                "request_id": r.request_id,
            }

        result = await self._once(r.key, f"{r.batch.leads} lead(s) received", write)
        if written:
            await leads.refresh_statistics(self.pool, result.get("new", 0))
        leads.forget_batch(root, r.batch)
        return Received(**result, repeat=not written)

    @activity.defn
    async def route_leads_back(self, b: LeadsBack) -> Received:
        result = await self._once(
            b.key,
            f"{len(b.lead_ids)} lead(s) back in the queue given out again",
            lambda c: leads.route_back(
                c, b.key.process_id, b.key.actor, b.key.step, b.config, b.lead_ids
            ),
        )
        return Received(**result)

    @activity.defn
    async def lead_step(self, w: LeadStepWrite) -> LeadStepDone:
        """A refusal comes back as the step's outcome, not as a failed activity: most of
        200 colliding claims are refused ("already claimed"), and a failed activity costs a
        logged traceback and a failure round trip each. Nothing is written for a refusal
        (its transaction is rolled back), so it is decided again if the step is sent again."""
        try:
            async with refusals_are_final():
                result = await self._logged(w)
        except ApplicationError as e:
            if e.type != REFUSED:
                raise
            return LeadStepDone(message=e.message, refused=True)
        return LeadStepDone(**result)

    async def _logged(self, w: LeadStepWrite) -> dict:
        """The step; one refused as not the actor's to take (someone else's lead, a channel
        manager not of the queue) is written to the security log, outside its rolled-back
        transaction."""
        r, key = w.request, w.key
        try:
            return await once(
                self.pool,
                process_id=key.process_id,
                step=key.step,
                actor=key.actor,
                action=f"{r.kind} {r.lead_id or r.opportunity_id or ''} in queue {r.queue_id}",
                write=lambda c: lead_steps.lead_step(c, key.process_id, key.step, r),
                run=key.run,
                permission=key.permission,
                facts=key.facts,
            )
        except NotTheirs as refused:
            async with self.pool.acquire() as conn:
                await people.record_refusal(
                    conn,
                    actor=key.actor,
                    permission=key.permission or f"LeadStep.{r.kind}",
                    process_id=key.process_id,
                    reason=str(refused),
                    checked_in="store",
                )
            raise

    @activity.defn
    async def recall_due_claims(self, d: RecallDue) -> Recalled:
        """The queue's service level: its claims due and not worked go back, in one step."""
        result = await self._once(
            d.key,
            f"claims due by {d.as_of:%Y-%m-%d %H:%M} sent back to queue {d.queue_id}",
            lambda c: lead_claims.recall_due(
                c, d.key.process_id, d.key.step, d.queue_id, d.minutes, d.as_of, d.limit
            ),
        )
        return Recalled(**result)

    @activity.defn
    async def recall_unworked_lead(self, w: LeadRecall) -> LeadStepDone:
        result = await self._once(
            w.key,
            f"lead {w.lead_id}: service level checked",
            lambda c: lead_steps.recall_unworked(
                c, w.key.process_id, w.key.step, w.queue_id, w.lead_id, w.claim_id, w.minutes
            ),
        )
        returned = result.get("returned", [])
        message = recalled(w.lead_id, w.queue_id, w.minutes, bool(returned))
        return LeadStepDone(message=message, returned=returned)
