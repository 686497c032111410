"""Lead queue (seed 003 "Se og opdatere dine leads", seed 004 "Affectation de prospects à des
partenaires"): one long-lived process per queue.

Leads arrive (singly or by file) -> assignment rules (first match wins: to a partner or to
another queue) -> round-robin over the eligible partners (in a round-robin queue) -> the
rest wait for partners to claim them, first come first served, within the vendor's claim
cap -> a channel manager may change an owner (optionally with an e-mail), also in bulk ->
the owner converts the lead to an opportunity and keeps it up to date.

The state is ids, owners and dedupe keys only; lead data stays in PostgreSQL. Every step on
a lead reserves it (`busy`) before its write and settles it after, so concurrent claims see
each other without a lock. The queue continues as new when its history grows large, after
its handlers have finished, carrying every lead and dedupe key."""

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.leads import LeadActivities
    from domain.errors import Refused
    from domain.leads import (
        QUEUE_FINAL,
        ROLLING_OVER,
        Assignment,
        AssignmentRule,
        Claim,
        ClaimWrite,
        Conversion,
        ConversionWrite,
        ForwardedLeads,
        LeadBatch,
        LeadImport,
        LeadKind,
        LeadQueueRequest,
        LeadRouting,
        LeadSlot,
        MassReassignment,
        OpportunityUpdate,
        OpportunityWrite,
        OwnerChange,
        QueueMembers,
        QueueOpening,
        QueuePartners,
        QueueStage,
        QueueState,
        RoutingDone,
        RoutingPlan,
        RoutingWrite,
        RuleInput,
        RuleWrite,
        check_assignment,
        check_channel_manager,
        check_claim,
        check_conversion,
        check_rule,
        opportunity_id,
        opportunity_lead,
        plan_routing,
        queue_process_id,
        reassignment_selection,
        with_rule,
    )
    from domain.partners import PartnerRoster, QueueRosterChange
    from domain.permissions import Facts
    from domain.steps import StepAnswer
    from workflows.process import SYSTEM, Process, refusal, refused_reason
    from workflows.rollout import versioning

SHOWN = 20  # lead ids named in one answer


def _ids(lead_ids: list[str]) -> str:
    more = f" and {len(lead_ids) - SHOWN} more" if len(lead_ids) > SHOWN else ""
    return ", ".join(lead_ids[:SHOWN]) + more


def _rule(check, *args):
    """A domain rule's refusal, as the refusal of the step."""
    try:
        return check(*args)
    except Refused as r:
        raise refusal(str(r)) from None


@workflow.defn(name="LeadQueue", versioning_behavior=versioning("LeadQueue"))
class LeadQueue(Process):
    kind = LeadKind.LEAD_QUEUE
    final_stages = QUEUE_FINAL

    @workflow.init
    def __init__(self, request: LeadQueueRequest) -> None:
        self._init_process()
        self.request = request
        self.rolling_over = False
        self.returned_meanwhile: set[str] = set()  # see partner_roster_changed
        if request.carried is not None:
            self.state = request.carried
            self.state.runs += 1
            self.validated = True
            return
        self.state = QueueState(
            process_id=workflow.info().workflow_id,
            stage=QueueStage.VALIDATING,
            waiting_for="checking partner management and the queue's partners",
            since=workflow.now(),
            queue_id=request.queue_id,
            name=request.name,
            channel_managers=list(dict.fromkeys(request.channel_managers)),
            claim_cap=request.claim_cap,
            routing=request.routing,
        )

    @workflow.run
    async def run(self, request: LeadQueueRequest) -> QueueState:
        if request.carried is None:
            self._publish_ids()
            if (why := await self._refused_start(request.requested_by)) is not None:
                self._refused_at_start(QueueStage.REFUSED, why)
                return await self._end()
            partners = list(dict.fromkeys(request.partners))
            try:
                opened = await self._act(
                    LeadActivities.open_lead_queue,
                    QueueOpening(
                        key=self._key("open-queue", request.requested_by),
                        queue_id=request.queue_id,
                        name=request.name,
                        channel_managers=self.state.channel_managers,
                        partners=partners,
                        claim_cap=request.claim_cap,
                        routing=request.routing,
                    ),
                    f"open lead queue {request.queue_id}",
                )
            except ActivityError as err:
                reason = refused_reason(err)
                if reason is None:
                    raise
                self._refused_at_start(QueueStage.REFUSED, reason)
                return await self._end()
            self.state.partners = partners
            for roster in opened.rosters:
                self._take_roster(roster)
            self._set_stage(QueueStage.OPEN, self._waiting())
            self._accepted()
        else:
            self._details()
        while True:
            await workflow.wait_condition(lambda: bool(self.state.to_route) or self._rollover_due())
            if not self.state.to_route:
                break
            await self._route_waiting()
        # Continue as new once every step in progress has finished, so none is cut off.
        # Meanwhile new steps are turned away with ROLLING_OVER (no trace in history): the
        # sender sends them again, and they reach the next run. Without that, a steady stream
        # of claims could keep this run from ever finishing its handlers.
        self.rolling_over = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(request.model_copy(update={"carried": self.state}))

    def _rollover_due(self) -> bool:
        info = workflow.info()
        if info.is_continue_as_new_suggested():
            return True
        limit = self.request.rollover_after
        return limit is not None and info.get_current_history_length() >= limit

    def _facts(self) -> Facts:
        return Facts(partner_ids=list(self.state.partners), queue_id=self.state.queue_id)

    @workflow.query
    def status(self) -> QueueState:
        return self.state

    # --- what ops see -------------------------------------------------------------------------

    def _waiting(self) -> str:
        s = self.state
        how = "round-robin, then claims" if s.routing == "round-robin" else "claims"
        return (
            f"queue {s.queue_id}: {s.count('queued')} lead(s) waiting for {how}, "
            f"{s.count('owned')} owned, {s.count('converted')} converted; "
            f"{len(s.partners)} partner(s), claim cap {s.claim_cap}"
        )

    def _details(self) -> None:
        self.state.waiting_for = self._waiting()
        self.state.revision += 1
        workflow.set_current_details(f"{self.state.stage.value}: {self.state.waiting_for}")

    def _answer(self, message: str, notes: list[str] | None = None) -> StepAnswer:
        self._details()
        return StepAnswer(message=message, stage=self.state.stage, notes=notes or [])

    def _admit(self) -> None:
        """Every validator's first check: while the queue rolls over, steps are sent again."""
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

    def _check_staff(self, actor: str) -> None:
        if self.state.roster_of(actor) is not None:
            raise refusal(f"{actor} is a partner user; leads are added by the vendor's staff")

    # --- partners and their users -------------------------------------------------------------

    def _take_roster(self, roster: PartnerRoster) -> None:
        current = self.state.rosters.get(roster.partner_id)
        if current is None or roster.version > current.version:
            self.state.rosters[roster.partner_id] = roster

    @workflow.signal
    def partner_roster_changed(self, change: QueueRosterChange) -> None:
        """From a partner account's process: users invited, logged in or deactivated, and
        the open leads of a deactivated partner, returned to this queue."""
        partner_id = change.roster.partner_id
        if partner_id not in self.state.partners:
            return
        self._take_roster(change.roster)
        for lead_id in change.returned:
            slot = self.state.leads.get(lead_id)
            if slot is not None and slot.busy and slot.partner != partner_id:
                # a change of owner is being written: if it fails, the lead is not restored
                # to its old owner but stays back in the queue
                self.returned_meanwhile.add(lead_id)
                continue
            if slot is None or slot.partner != partner_id or slot.status != "owned":
                continue  # already settled otherwise
            self._back_in_queue(lead_id)
        self._details()

    def _back_in_queue(self, lead_id: str) -> None:
        slot = self.state.leads[lead_id]
        slot.owner = slot.partner = slot.how = slot.busy = None
        slot.status = "queued"
        slot.version += 1
        if self.state.routing == "round-robin":
            self.state.to_route.append(lead_id)

    @workflow.update
    async def add_queue_partners(self, p: QueuePartners) -> StepAnswer:
        await self._authorize("add_queue_partners", p.actor)
        self._check_add_partners(p)
        new = [x for x in dict.fromkeys(p.partners) if x not in self.state.partners]
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

    def _check_add_partners(self, p: QueuePartners) -> None:
        self._check_open()
        _rule(check_channel_manager, self.state, p.actor)
        if all(x in self.state.partners for x in p.partners):
            raise refusal(f"{', '.join(p.partners)} already in queue {self.state.queue_id}")

    # --- leads arriving -----------------------------------------------------------------------

    @workflow.update
    async def add_leads(self, b: LeadBatch) -> StepAnswer:
        await self._authorize("add_leads", b.actor)
        self._check_open()
        self._check_staff(b.actor)
        n = self.state.next_number("batch")
        imported = await self._act_or_refuse(
            LeadActivities.import_leads,
            LeadImport(
                key=self._key(f"import-{n}", b.actor), queue_id=self.state.queue_id, batch=b.batch
            ),
            f"receive {b.batch.leads} lead(s), batch {n}",
        )
        token = f"route-{n}"
        new: list[LeadRouting] = []
        for lead in imported.new:
            if lead.dedupe_key in self.state.dedupe or lead.lead_id in self.state.leads:
                continue
            self.state.leads[lead.lead_id] = LeadSlot(dedupe_key=lead.dedupe_key, busy=token)
            self.state.dedupe[lead.dedupe_key] = lead.lead_id
            new.append(lead)
        plan = plan_routing(self.state, new)
        done = await self._apply_routing(plan, token, b.actor)
        here = [d.lead_id for d in imported.duplicates if d.queue_id == self.state.queue_id]
        elsewhere = [
            f"{d.lead_id} (queue {d.queue_id})"
            for d in imported.duplicates
            if d.queue_id != self.state.queue_id
        ]
        parts = [f"{b.batch.leads} lead(s) received: {len(new)} new"]
        if here:
            parts.append(f"{len(here)} already in this queue ({_ids(here)})")
        if elsewhere:
            parts.append(f"{len(elsewhere)} already in another queue ({_ids(elsewhere)})")
        parts += self._routing_summary(plan, done)
        return self._answer("; ".join(parts), plan.notes + self._not_owned_notes(done))

    @add_leads.validator
    def _validate_add_leads(self, b: LeadBatch) -> None:
        self._admit()
        self._check_staff(b.actor)

    @workflow.signal
    def leads_forwarded(self, f: ForwardedLeads) -> None:
        """Leads an assignment rule of another queue sent here. They skip this queue's rules
        (rules apply once, so two queues can never pass a lead back and forth)."""
        for lead in f.leads:
            if lead.lead_id in self.state.leads or lead.dedupe_key in self.state.dedupe:
                continue  # a repeated signal
            self.state.leads[lead.lead_id] = LeadSlot(dedupe_key=lead.dedupe_key)
            self.state.dedupe[lead.dedupe_key] = lead.lead_id
            if self.state.routing == "round-robin":
                self.state.to_route.append(lead.lead_id)
        self._details()

    async def _route_waiting(self) -> None:
        """Leads back in a round-robin queue (returned or forwarded) get their turn."""
        lead_ids = [
            i
            for i in dict.fromkeys(self.state.to_route)
            if self.state.leads[i].status == "queued" and not self.state.leads[i].busy
        ]
        self.state.to_route = []
        if not lead_ids:
            return
        token = f"reroute-{self.state.next_number('reroute')}"
        for lead_id in lead_ids:
            self.state.leads[lead_id].busy = token
        await self._apply_routing(plan_routing(self.state, list(lead_ids)), token, SYSTEM)
        self._details()

    async def _apply_routing(self, plan: RoutingPlan, token: str, actor: str) -> RoutingDone:
        """Reserves the planned owners and forwards, writes them, then settles each lead:
        owned, forwarded, or back to waiting if its owner stopped being eligible meanwhile."""
        self.state.turn = plan.turn
        for o in plan.owners:
            slot = self.state.leads[o.lead_id]
            slot.owner, slot.partner, slot.how, slot.status = (
                o.user_id,
                o.partner_id,
                o.how,
                "owned",
            )
        done = RoutingDone()
        if plan.owners or plan.forwards:
            done = await self._act(
                LeadActivities.route_leads,
                RoutingWrite(
                    key=self._key(token, actor),
                    queue_id=self.state.queue_id,
                    owners=plan.owners,
                    forwards=plan.forwards,
                ),
                f"{token}: {len(plan.owners)} owner(s), {len(plan.forwards)} to other queues",
            )
        owned = set(done.owned)
        for o in plan.owners:
            slot = self.state.leads[o.lead_id]
            if slot.busy != token:
                continue  # settled meanwhile (its partner was deactivated)
            if o.lead_id in owned:
                slot.version += 1
            else:
                slot.owner = slot.partner = slot.how = None
                slot.status = "queued"
        by_queue: dict[str, list[LeadRouting]] = {}
        for lead in done.forwarded:
            slot = self.state.leads[lead.lead_id]
            target = next(f.to_queue for f in plan.forwards if f.lead_id == lead.lead_id)
            slot.status, slot.forwarded_to = "forwarded", target
            by_queue.setdefault(target, []).append(lead)
        for slot in self.state.leads.values():
            if slot.busy == token:
                slot.busy = None
        for queue_id, leads in sorted(by_queue.items()):
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
        return done

    def _routing_summary(self, plan: RoutingPlan, done: RoutingDone) -> list[str]:
        owned = set(done.owned)
        by_rule = [o.lead_id for o in plan.owners if o.how == "rule" and o.lead_id in owned]
        in_turn = [o for o in plan.owners if o.how == "round-robin" and o.lead_id in owned]
        parts = []
        if by_rule:
            parts.append(f"{len(by_rule)} given by assignment rule ({_ids(by_rule)})")
        if in_turn:
            who = ", ".join(f"{o.lead_id}->{o.user_id}" for o in in_turn[:SHOWN])
            parts.append(f"{len(in_turn)} given round-robin ({who})")
        if done.forwarded:
            targets = sorted({f.to_queue for f in plan.forwards})
            parts.append(f"{len(done.forwarded)} sent to queue(s) {', '.join(targets)} by rule")
        waiting = len(plan.waiting) + len(done.not_owned)
        if waiting:
            parts.append(f"{waiting} wait in the queue to be claimed")
        return parts

    def _not_owned_notes(self, done: RoutingDone) -> list[str]:
        return [
            f"lead {lead_id} was not given: {why}; it waits in the queue"
            for lead_id, why in done.not_owned.items()
        ]

    # --- claims -------------------------------------------------------------------------------

    @workflow.update
    async def claim_lead(self, c: Claim) -> StepAnswer:
        """ "Accepter": first come, first served; once claimed, no other partner can."""
        await self._authorize("claim_lead", c.actor)
        self._check_open()
        verdict = _rule(check_claim, self.state, c.actor, c.lead_id)
        slot = self.state.leads[c.lead_id]
        if verdict == "repeat":  # e.g. sent twice: answered once the first one has settled
            await workflow.wait_condition(lambda: self.state.leads[c.lead_id].busy is None)
            slot = self.state.leads[c.lead_id]
            if slot.owner != c.actor:
                raise refusal(f"lead {c.lead_id} is already claimed by {slot.owner}")
            return self._answer(f"lead {c.lead_id} is already yours, {c.actor}")
        roster = self.state.roster_of(c.actor)
        assert roster is not None
        token = f"claim-{c.lead_id}-v{slot.version + 1}"
        slot.busy, slot.owner, slot.partner, slot.how, slot.status = (
            token,
            c.actor,
            roster.partner_id,
            "claim",
            "owned",
        )
        try:
            await self._act_or_refuse(
                LeadActivities.claim_lead,
                ClaimWrite(
                    key=self._key(token, c.actor),
                    queue_id=self.state.queue_id,
                    lead_id=c.lead_id,
                    user_id=c.actor,
                    partner_id=roster.partner_id,
                    claim_cap=self.state.claim_cap,
                ),
                f"claim lead {c.lead_id} for {c.actor}",
            )
        except BaseException:
            if slot.busy == token:
                slot.busy = slot.owner = slot.partner = slot.how = None
                slot.status = "queued"
            raise
        if slot.busy != token:
            raise refusal(
                f"lead {c.lead_id} went back to the queue while it was being "
                f"claimed: partner account {roster.partner_id} was deactivated"
            )
        slot.busy = None
        slot.version += 1
        held = self.state.open_leads(roster.partner_id)
        return self._answer(
            f"lead {c.lead_id} is yours, {c.actor}: no other partner can claim it now "
            f"({roster.partner_id} holds {held} of {self.state.claim_cap} open leads in queue "
            f"{self.state.queue_id})"
        )

    @claim_lead.validator
    def _validate_claim(self, c: Claim) -> None:
        self._admit()
        _rule(check_claim, self.state, c.actor, c.lead_id)

    # --- change of owner by a channel manager -------------------------------------------------

    async def _change_owners(
        self, lead_ids: list[str], to_user: str, notify: bool, actor: str, token: str
    ) -> tuple[list[str], dict[str, str], int]:
        roster = self.state.roster_of(to_user)
        assert roster is not None
        before: dict[str, LeadSlot] = {}
        for lead_id in lead_ids:
            slot = self.state.leads[lead_id]
            before[lead_id] = slot.model_copy()
            slot.busy, slot.owner, slot.partner, slot.how, slot.status = (
                token,
                to_user,
                roster.partner_id,
                "assignment",
                "owned",
            )

        def restore(lead_id: str) -> None:
            slot = self.state.leads[lead_id]
            if slot.busy != token:
                return
            if lead_id in self.returned_meanwhile:  # its old owner's partner left meanwhile
                self.returned_meanwhile.discard(lead_id)
                self._back_in_queue(lead_id)
                return
            for name, value in before[lead_id]:  # in place: a waiting handler may hold it
                setattr(slot, name, value)
            slot.busy = None

        try:
            result = await self._act_or_refuse(
                LeadActivities.change_lead_owner,
                OwnerChange(
                    key=self._key(token, actor),
                    queue_id=self.state.queue_id,
                    lead_ids=lead_ids,
                    to_user=to_user,
                    to_partner=roster.partner_id,
                    notify=notify,
                ),
                f"{token}: {len(lead_ids)} lead(s) to {to_user}",
            )
        except BaseException:
            for lead_id in lead_ids:
                restore(lead_id)
            raise
        changed = []
        for lead_id in lead_ids:
            slot = self.state.leads[lead_id]
            if lead_id in result.changed and slot.busy == token:
                self.returned_meanwhile.discard(lead_id)
                slot.busy = None
                slot.version += 1
                changed.append(lead_id)
            else:
                restore(lead_id)
        return changed, result.skipped, self.state.open_leads(roster.partner_id)

    def _over_cap(self, to_user: str, held: int) -> list[str]:
        roster = self.state.roster_of(to_user)
        if roster is None or held <= self.state.claim_cap:
            return []
        return [
            f"{roster.partner_id} now holds {held} open leads, above the claim cap of "
            f"{self.state.claim_cap}: it cannot claim more until it converts some"
        ]

    @workflow.update
    async def assign_lead(self, a: Assignment) -> StepAnswer:
        """ "Change Lead Owner" (seed 004), with the optional notification e-mail."""
        await self._authorize("assign_lead", a.actor)
        self._check_open()
        if _rule(check_assignment, self.state, a) == "repeat":
            return self._answer(f"lead {a.lead_id} already belongs to {a.to_user}")
        slot = self.state.leads[a.lead_id]
        token = f"assign-{a.lead_id}-v{slot.version + 1}"
        changed, skipped, held = await self._change_owners(
            [a.lead_id], a.to_user, a.notify, a.actor, token
        )
        if not changed:
            raise refusal(
                f"lead {a.lead_id} did not change owner: "
                f"{skipped.get(a.lead_id, 'it changed meanwhile')}"
            )
        told = "; notified by e-mail" if a.notify else ""
        return self._answer(
            f"lead {a.lead_id} now belongs to {a.to_user}{told}", self._over_cap(a.to_user, held)
        )

    @assign_lead.validator
    def _validate_assign(self, a: Assignment) -> None:
        self._admit()
        _rule(check_assignment, self.state, a)

    @workflow.update
    async def reassign_leads(self, r: MassReassignment) -> StepAnswer:
        """Mass reassignment (seed 004 « réaffecter des prospects en masse »)."""
        await self._authorize("reassign_leads", r.actor)
        self._check_open()
        lead_ids = _rule(reassignment_selection, self.state, r)
        token = f"reassign-{self.state.next_number('reassign')}"
        changed, skipped, held = await self._change_owners(
            lead_ids, r.to_user, r.notify, r.actor, token
        )
        if not changed:
            why = "; ".join(skipped.values()) or "they changed meanwhile"
            raise refusal(f"no lead changed owner: {why}")
        told = f"; {r.to_user} notified by one e-mail" if r.notify else ""
        notes = self._over_cap(r.to_user, held) + [
            f"lead {lead_id} unchanged: {why}" for lead_id, why in skipped.items()
        ]
        return self._answer(
            f"{len(changed)} lead(s) now belong to {r.to_user}: {_ids(changed)}{told}", notes
        )

    @reassign_leads.validator
    def _validate_reassign(self, r: MassReassignment) -> None:
        self._admit()
        _rule(reassignment_selection, self.state, r)

    # --- conversion and the opportunity -------------------------------------------------------

    @workflow.update
    async def convert_lead(self, c: Conversion) -> StepAnswer:
        await self._authorize("convert_lead", c.actor, lead_id=c.lead_id)
        self._check_open()
        slot = self.state.leads.get(c.lead_id)
        if _rule(check_conversion, self.state, c) == "repeat":
            return self._answer(f"lead {c.lead_id} is already opportunity {slot.opportunity_id}")
        token = f"convert-{c.lead_id}"
        opp = opportunity_id(c.lead_id)
        slot.busy = token
        try:
            await self._act_or_refuse(
                LeadActivities.convert_lead_to_opportunity,
                ConversionWrite(
                    key=self._key(token, c.actor),
                    queue_id=self.state.queue_id,
                    lead_id=c.lead_id,
                    opportunity_id=opp,
                    stage=c.stage,
                    amount=c.amount,
                    close_date=c.close_date,
                ),
                f"convert lead {c.lead_id} to opportunity",
            )
        finally:
            if slot.busy == token:
                slot.busy = None
        slot.status, slot.opportunity_id, slot.opportunity_stage = "converted", opp, c.stage
        return self._answer(
            f"lead {c.lead_id} converted to opportunity {opp} ({c.stage}), "
            f"owned by {c.actor}; keep it up to date with update-opportunity"
        )

    @convert_lead.validator
    def _validate_convert(self, c: Conversion) -> None:
        self._admit()
        _rule(check_conversion, self.state, c)

    @workflow.update
    async def update_opportunity(self, u: OpportunityUpdate) -> StepAnswer:
        """The partner keeps their opportunity up to date (seed 003 "Mine muligheder")."""
        await self._authorize("update_opportunity", u.actor, opportunity_id=u.opportunity_id)
        self._check_open()
        lead_id = _rule(opportunity_lead, self.state, u)
        n = self.state.next_number("opportunity")
        await self._act_or_refuse(
            LeadActivities.update_lead_opportunity,
            OpportunityWrite(
                key=self._key(f"opportunity-{lead_id}-{n}", u.actor),
                opportunity_id=u.opportunity_id,
                stage=u.stage,
                amount=u.amount,
                close_date=u.close_date,
            ),
            f"update opportunity {u.opportunity_id}",
        )
        slot = self.state.leads[lead_id]
        if u.stage is not None:
            slot.opportunity_stage = u.stage
        changes = ", ".join(
            f"{k} {v}"
            for k, v in (("stage", u.stage), ("amount", u.amount), ("close date", u.close_date))
            if v is not None
        )
        return self._answer(f"opportunity {u.opportunity_id} updated: {changes}")

    @update_opportunity.validator
    def _validate_update_opportunity(self, u: OpportunityUpdate) -> None:
        self._admit()
        _rule(opportunity_lead, self.state, u)

    # --- assignment rules ---------------------------------------------------------------------

    @workflow.update
    async def add_assignment_rule(self, r: RuleInput) -> StepAnswer:
        await self._authorize("add_assignment_rule", r.actor)
        async with self._lock:  # positions and rule numbers in the order the rules were sent
            self._check_open()
            _rule(check_rule, self.state, r)
            rule = AssignmentRule(
                rule_id=self.state.next_number("rule"),
                country=r.country.upper() if r.country else None,
                postal_prefix=r.postal_prefix,
                product=r.product,
                to_partner=r.to_partner,
                to_queue=r.to_queue,
            )
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
        _rule(check_rule, self.state, r)
