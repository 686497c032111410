"""Lead queue: one long-lived process per queue that keeps the queue's settings, partners,
assignment rules and round-robin turn, and no leads.

- leads, owners and duplicates live in PostgreSQL only; this workflow's state is the size of
  its settings, whatever the number of leads (continue-as-new carries the same few KB);
- a batch of a file arrives as one step (`add_leads`): stored and routed (rules, then
  round-robin) in one transaction, keyed by the batch's content, so a file sent again (an
  interrupted import resumed) is answered from the audit log without importing it twice;
- claims, accept, not interested, owner changes and conversions do not come here at all: a
  claim is decided at the door (store/lead_claims.py), the others are short processes of
  their own (workflows/lead_step.py), each one guarded transaction; what comes back here is
  only leads to give out again in a round-robin queue;
- the service level of the claims: in a queue that has one, this process looks for claims
  due and not worked, sends them back in one step, and sleeps until the next is due (at most
  the service level: a claim made meanwhile is due no sooner); a timer that came due while no
  worker ran fires when one is back;
- a queue opened by the earlier design (type `LeadQueue`, every lead in its state) is taken
  over (`take_over`): its settings, partners and rules are read from PostgreSQL, where its
  leads and owners already are, and this process carries it on under the same id.

Leads arrive -> assignment rules (first match wins: to a partner or to another queue) ->
round-robin over the eligible partners (round-robin queue) -> the rest wait to be claimed."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.leads import LeadActivities
    from domain.errors import Refused
    from domain.leads import (
        QUEUE_FINAL,
        ROLLING_OVER,
        ForwardedLeads,
        LeadBatch,
        LeadKind,
        LeadReceipt,
        LeadsBack,
        LeadsReturned,
        QueueMembers,
        QueueOpening,
        QueuePartners,
        QueueSettings,
        QueueStage,
        QueueTakeOver,
        RecallDue,
        Recalled,
        Received,
        Rosters,
        RouterRequest,
        RouterState,
        RuleInput,
        RuleWrite,
        check_rule,
        next_recall_after,
        queue_process_id,
        received_notes,
        received_words,
        waiting_words,
        with_rule,
    )
    from domain.partners import PartnerRoster, QueueRosterChange
    from domain.permissions import Facts
    from domain.steps import StepAnswer
    from workflows.process import SYSTEM, Process, closes_when_cancelled, refusal, refused_reason
    from workflows.rollout import versioning

ROUTE_AT_ONCE = 5_000  # leads back in the queue given out in one step
T = TypeVar("T")


def _rule(check: Callable[..., T], *args: Any) -> T:
    """A domain rule's refusal, as the refusal of the step."""
    try:
        return check(*args)
    except Refused as e:
        raise refusal(str(e)) from None


@workflow.defn(name="LeadQueueRouter", versioning_behavior=versioning("LeadQueueRouter"))
class LeadQueueRouter(Process):
    kind = LeadKind.LEAD_QUEUE
    final_stages = QUEUE_FINAL

    @workflow.init
    def __init__(self, request: RouterRequest) -> None:
        self._init_process()
        self.request = request
        self.rolling_over = False
        if request.carried is not None:
            self.state = request.carried
            self.state.runs += 1
            self.validated = True
            return
        self.state = RouterState(
            process_id=workflow.info().workflow_id,
            stage=QueueStage.VALIDATING,
            waiting_for=(
                "reading the queue opened by the earlier design from PostgreSQL"
                if request.take_over
                else "checking partner management and the queue's partners"
            ),
            since=workflow.now(),
            queue_id=request.queue_id,
            name=request.name or request.queue_id,
            channel_managers=list(dict.fromkeys(request.channel_managers)),
            claim_cap=request.claim_cap,
            routing=request.routing,
            work_within_minutes=request.work_within_minutes,
        )

    @workflow.run
    @closes_when_cancelled
    async def run(self, request: RouterRequest) -> RouterState:
        if request.carried is None:
            self._publish_ids()
            if (why := await self._refused_start(request.requested_by)) is not None:
                self._refused_at_start(QueueStage.REFUSED, why)
                return await self._end()
            try:
                if request.take_over:
                    await self._take_over(request)
                else:
                    await self._open(request)
            except ActivityError as err:
                reason = refused_reason(err)
                if reason is None:
                    raise
                self._refused_at_start(QueueStage.REFUSED, reason)
                return await self._end()
            self._set_stage(QueueStage.OPEN, self._waiting())
            self._accepted()
        else:
            self._details()
        while True:
            try:
                await workflow.wait_condition(
                    lambda: bool(self.state.to_route) or self._rollover_due(),
                    timeout=self._until_recall(),
                )
            except TimeoutError:
                await self._recall_due()
                continue
            if not self.state.to_route:
                break
            await self._route_back()
        # Steps arriving now are turned away with ROLLING_OVER (no trace in history) and sent
        # again by the starter to the next run; the handlers in progress finish first, so a
        # steady stream of steps cannot keep this run from ending. What is carried is the
        # settings, never the leads.
        self.rolling_over = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(request.model_copy(update={"carried": self.state}))

    async def _open(self, request: RouterRequest) -> None:
        partners = list(dict.fromkeys(request.partners))
        opened: Rosters = await self._act(
            LeadActivities.open_lead_queue,
            QueueOpening(
                key=self._key("open-queue", request.requested_by),
                queue_id=request.queue_id,
                name=self.state.name,
                channel_managers=self.state.channel_managers,
                partners=partners,
                claim_cap=request.claim_cap,
                routing=request.routing,
                work_within_minutes=request.work_within_minutes,
            ),
            f"open lead queue {request.queue_id}",
        )
        self.state.partners = partners
        for roster in opened.rosters:
            self._take_roster(roster)

    async def _take_over(self, request: RouterRequest) -> None:
        got: QueueSettings = await self._act(
            LeadActivities.take_over_lead_queue,
            QueueTakeOver(
                key=self._key("take-over", request.requested_by), queue_id=request.queue_id
            ),
            f"take over lead queue {request.queue_id}",
        )
        self.state.carry_on(got)

    # --- the service level ----------------------------------------------------------------------

    def _until_recall(self) -> timedelta | None:
        """How long until this process looks for claims not worked in time (None: the queue
        has no service level). Claims are decided at the door and tell no process: the look
        is due `work_within` after the last one at the latest, which no claim made since can
        be due before."""
        minutes = self.state.work_within_minutes
        if not minutes or self.state.stage != QueueStage.OPEN:
            return None
        now = workflow.now()
        if self.state.next_recall is None:
            self.state.next_recall = next_recall_after(now, minutes, None)
        return max(self.state.next_recall - now, timedelta(0))

    async def _recall_due(self) -> None:
        """One look: the claims due by now and still only claimed go back to the queue, in
        one step; a round-robin queue gives them out again. A worker down when they were due
        runs this look when it is back (the timer waited for it)."""
        minutes = self.state.work_within_minutes or 0
        n = self.state.next_number("recall")
        now = workflow.now()
        done: Recalled = await self._act(
            LeadActivities.recall_due_claims,
            RecallDue(
                key=self._key(f"recall-{n}"),
                queue_id=self.state.queue_id,
                minutes=minutes,
                as_of=now,
            ),
            f"recall-{n}: claims not worked within {minutes} minute(s)",
        )
        self.state.next_recall = next_recall_after(now, minutes, done.next_due)
        if done.returned:
            self._count("recalled", len(done.returned))
            self._back(done.returned)

    def _rollover_due(self) -> bool:
        info = workflow.info()
        if info.is_continue_as_new_suggested():
            return True
        limit = self.request.rollover_after
        return limit is not None and info.get_current_history_length() >= limit

    def _facts(self) -> Facts:
        return Facts(partner_ids=list(self.state.partners), queue_id=self.state.queue_id)

    @workflow.query
    def status(self) -> RouterState:
        return self.state

    # --- what ops see -------------------------------------------------------------------------

    def _waiting(self) -> str:
        return waiting_words(self.state)

    def _details(self) -> None:
        self.state.waiting_for = self._waiting()
        self.state.revision += 1
        workflow.set_current_details(f"{self.state.stage.value}: {self.state.waiting_for}")

    def _answer(self, message: str, notes: list[str] | None = None) -> StepAnswer:
        self._details()
        return StepAnswer(message=message, stage=self.state.stage, notes=notes or [])

    def _admit(self) -> None:
        if self.rolling_over:
            raise ApplicationError(
                f"queue {self.state.queue_id} is moving to a new run; send the step again",
                type=ROLLING_OVER,
                non_retryable=True,
            )
        self._check_open()

    def _check_open(self) -> None:
        if self.state.stage != QueueStage.OPEN:
            raise refusal(f"queue {self.state.queue_id} is not open: {self.state.waiting_for}")

    def _count(self, name: str, n: int) -> None:
        self.state.received[name] = self.state.received.get(name, 0) + n

    # --- partners -----------------------------------------------------------------------------

    def _take_roster(self, roster: PartnerRoster) -> None:
        current = self.state.rosters.get(roster.partner_id)
        if current is None or roster.version > current.version:
            self.state.rosters[roster.partner_id] = roster

    @workflow.signal
    def partner_roster_changed(self, change: QueueRosterChange) -> None:
        """From a partner account's process: its users changed; the open leads of a
        deactivated partner are back in this queue (PostgreSQL already says so)."""
        if change.roster.partner_id not in self.state.partners:
            return
        self._take_roster(change.roster)
        self._back(change.returned)

    @workflow.signal
    def leads_returned(self, r: LeadsReturned) -> None:
        """From a lead step: leads given back (not interested) or recalled (service level)."""
        self._back(r.lead_ids)

    @workflow.signal
    def leads_forwarded(self, f: ForwardedLeads) -> None:
        """Leads an assignment rule of another queue sent here (already rows of this queue).
        They skip this queue's rules: rules apply once."""
        self._count("forwarded-here", len(f.leads))
        self._back([lead.lead_id for lead in f.leads])

    def _back(self, lead_ids: list[str]) -> None:
        if self.state.routing == "round-robin":
            self.state.to_route += [x for x in lead_ids if x not in self.state.to_route]
        self._details()

    async def _route_back(self) -> None:
        async with self._lock:  # one routing step at a time: each continues the turn
            lead_ids = self.state.to_route[:ROUTE_AT_ONCE]
            del self.state.to_route[:ROUTE_AT_ONCE]
            n = self.state.next_number("reroute")
            done: Received = await self._act(
                LeadActivities.route_leads_back,
                LeadsBack(
                    key=self._key(f"reroute-{n}"),
                    config=self.state.route_config(),
                    lead_ids=lead_ids,
                ),
                f"reroute-{n}: {len(lead_ids)} lead(s) back in the queue",
            )
            self.state.turn = done.turn
            await self._forward(done)
            self._details()

    @workflow.update
    async def add_queue_partners(self, p: QueuePartners) -> StepAnswer:
        await self._authorize("add_queue_partners", p.actor)
        async with self._lock:
            new = self._check_add_partners(p)
            n = self.state.next_number("partners")
            added = await self._act_or_refuse(
                LeadActivities.add_lead_queue_partners,
                QueueMembers(
                    key=self._key(f"add-partners-{n}", p.actor),
                    queue_id=self.state.queue_id,
                    partners=new,
                ),
                f"add partners {', '.join(new)}"[:200],
            )
            self.state.partners += [x for x in new if x not in self.state.partners]
            for roster in added.rosters:
                self._take_roster(roster)
            return self._answer(f"partner(s) {', '.join(new)} added to queue {self.state.queue_id}")

    @add_queue_partners.validator
    def _validate_add_partners(self, p: QueuePartners) -> None:
        self._admit()
        self._check_add_partners(p)

    def _check_add_partners(self, p: QueuePartners) -> list[str]:
        self._check_open()
        return _rule(self.state.new_partners, p.actor, p.partners)

    # --- leads arriving -----------------------------------------------------------------------

    @workflow.update
    async def add_leads(self, b: LeadBatch) -> StepAnswer:
        """One batch of a file. Its step key is its content: sent again, it is answered
        with what it did the first time."""
        await self._authorize("add_leads", b.actor)
        update = workflow.current_update_info()
        request_id = update.id if update is not None else ""
        async with self._lock:  # batches one after the other: each continues the turn
            self._check_open()
            _rule(self.state.check_adds_leads, b.actor)
            done: Received = await self._act_or_refuse(
                LeadActivities.receive_lead_batch,
                LeadReceipt(
                    key=self._key(f"import-{b.batch.sha256[:32]}", b.actor),
                    config=self.state.route_config(),
                    batch=b.batch,
                    request_id=request_id,
                ),
                f"receive {b.batch.leads} lead(s), batch {b.batch.sha256[:12]}",
            )
            if done.repeat:  # counted, routed and forwarded the first time
                if done.request_id and done.request_id == request_id:
                    # the same request again (its answer was lost when the queue rolled over
                    # and the starter sent it again): answered as the first time
                    return self._received(done)
                # a resumed import: another request with the same batch
                return self._answer(f"already received (sent before): {received_words(done)}")
            self.state.turn = done.turn
            for name, n in (
                ("received", done.received),
                ("new", done.new),
                ("duplicates", done.duplicates),
            ):
                self._count(name, n)
            await self._forward(done)
            return self._received(done)

    def _received(self, done: Received) -> StepAnswer:
        return self._answer(received_words(done), received_notes(done))

    @add_leads.validator
    def _validate_add_leads(self, b: LeadBatch) -> None:
        self._admit()
        _rule(self.state.check_adds_leads, b.actor)

    async def _forward(self, done: Received) -> None:
        for queue_id, leads in sorted(done.forwarded.items()):
            self._count("forwarded", len(leads))
            handle = workflow.get_external_workflow_handle(queue_process_id(queue_id))
            try:
                await handle.signal(
                    "leads_forwarded", ForwardedLeads(from_queue=self.state.queue_id, leads=leads)
                )
            except FailureError as err:
                workflow.logger.warning(
                    "lead queue not told of forwarded leads",
                    extra={"queue_id": queue_id, "error": str(err)},
                )

    # --- assignment rules ---------------------------------------------------------------------

    @workflow.update
    async def add_assignment_rule(self, r: RuleInput) -> StepAnswer:
        await self._authorize("add_assignment_rule", r.actor)
        async with self._lock:
            self._check_open()
            self._check_rule(r)
            rule = r.rule(self.state.next_number("rule"))
            position = r.position or len(self.state.rules) + 1
            await self._act_or_refuse(
                LeadActivities.add_assignment_rule,
                RuleWrite(
                    key=self._key(f"rule-{rule.rule_id}", r.actor),
                    queue_id=self.state.queue_id,
                    rule=rule,
                    position=position,
                ),
                f"add assignment rule {rule.rule_id}",
            )
            self.state.rules = with_rule(self.state.rules, rule, position)
            order = [f"{n}. {x.describe()}" for n, x in enumerate(self.state.rules, 1)]
            return self._answer(
                f"{rule.describe()} added at position {position}; the first rule that matches wins",
                order,
            )

    @add_assignment_rule.validator
    def _validate_rule(self, r: RuleInput) -> None:
        self._admit()
        self._check_rule(r)

    def _check_rule(self, r: RuleInput) -> None:
        s = self.state
        _rule(check_rule, s.queue_id, s.channel_managers, s.partners, s.rules, r)


__all__ = ["LeadQueueRouter", "SYSTEM"]
