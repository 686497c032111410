"""Onboarding campaign: one command onboards every existing client that lacks
billing information or a contract. A parent process pages through those clients by id
and starts one client onboarding per client as a child (`client-onboarding-<id>`), a
window of them at a time.

What a child is, for the campaign: the campaign *starts* the onboardings, it does not wait
for them: each child loads its client and then waits for staff, maybe for weeks. A client
counts as handled once its onboarding is running ("onboarding started"), or when one was
running already ("already onboarding": skipped, the same workflow id is refused). Clients
already onboarded are not selected at all. So running the campaign again is safe.

Children are abandoned (`ParentClosePolicy.ABANDON`): they outlive the campaign. The
campaign continues as new after every page of clients: its history stays a few hundred
events per page, and the onboardings started by one run (all still open) stay far below
the server's limit of pending children per run (2,000 by default)."""

import asyncio

from temporalio import workflow
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.client_onboarding import ClientOnboarding

with workflow.unsafe.imports_passed_through():
    from activities.psa import PsaActivities
    from domain.psa import (
        CampaignProgress,
        CampaignRequest,
        CampaignScope,
        CampaignStage,
        CampaignStatus,
        ClientPage,
        OnboardingRequest,
        ProcessKind,
        onboarding_id,
        progress_line,
    )

# Workflow code: imported again in each run's sandbox (see worker.workflow_runner).
from workflows.process import Process, closes_when_cancelled
from workflows.rollout import versioning
from workflows.visibility import ACCOUNT_ID, PARTNER_ID, PROCESS_KIND


@workflow.defn(name="OnboardingCampaign", versioning_behavior=versioning("OnboardingCampaign"))
class OnboardingCampaign(Process[CampaignStatus, CampaignStage]):
    kind = ProcessKind.ONBOARDING_CAMPAIGN
    final_stages = frozenset({CampaignStage.DONE})

    @workflow.init
    def __init__(self, request: CampaignRequest) -> None:
        self._init_process()
        progress = request.progress or CampaignProgress(began=workflow.now())
        self.state = CampaignStatus(
            process_id=workflow.info().workflow_id,
            stage=CampaignStage.STARTING,
            waiting_for=(
                "counting the clients to onboard"
                if request.progress is None
                else progress_line(progress)
            ),
            since=workflow.now(),
            partner_id=request.partner_id,
            progress=progress,
        )

    @workflow.query
    def status(self) -> CampaignStatus:
        return self.state

    @workflow.run
    @closes_when_cancelled
    async def run(self, request: CampaignRequest) -> CampaignStatus:
        p = self.state.progress
        if request.progress is None:
            self._publish_ids()  # later runs inherit the search attributes
            if (why := await self._refused_start(request.requested_by)) is not None:
                self._refused_at_start(CampaignStage.DONE, why)
                return await self._end()
            p.total = await self._act(
                PsaActivities.count_clients_to_onboard,
                CampaignScope(partner_id=request.partner_id),
                "count the clients to onboard",
            )
            self._set_stage(CampaignStage.STARTING, progress_line(p))
        else:
            self._details()
        self.validated = True

        page: list[str] = await self._act(
            PsaActivities.clients_to_onboard,
            ClientPage(partner_id=request.partner_id, after=p.cursor, limit=request.batch_size),
            f"the next {request.batch_size} clients to onboard"
            + (f" after {p.cursor}" if p.cursor else ""),
        )
        if page:
            await self._start_onboardings(page, request)
            p.cursor = page[-1]
        if len(page) == request.batch_size:
            await workflow.wait_condition(workflow.all_handlers_finished)
            p.runs += 1
            workflow.continue_as_new(request.model_copy(update={"progress": p}))

        p.total = p.handled  # clients onboarded meanwhile dropped out of the count
        self._set_stage(CampaignStage.DONE, f"nothing: {progress_line(p, done=True)}")
        return await self._end()

    def _details(self) -> None:
        """Progress for the UI's current details; no history event, so set per client."""
        self.state.waiting_for = progress_line(self.state.progress)
        self.state.revision += 1
        workflow.set_current_details(f"{self.state.stage.value}: {self.state.waiting_for}")

    async def _start_onboardings(self, accounts: list[str], request: CampaignRequest) -> None:
        window = asyncio.Semaphore(request.window)
        p = self.state.progress
        attributes = [SearchAttributePair(PROCESS_KIND, ProcessKind.CLIENT_ONBOARDING.value)]
        if request.partner_id:
            attributes.append(SearchAttributePair(PARTNER_ID, request.partner_id))

        async def start(account_id: str) -> None:
            async with window:
                try:
                    await workflow.start_child_workflow(
                        ClientOnboarding.run,
                        OnboardingRequest(
                            account_id=account_id,
                            requested_by=request.requested_by,
                            campaign_id=self.state.process_id,
                        ),
                        id=onboarding_id(account_id),
                        # A finished onboarding (cancelled, say) may be started again: the
                        # page holds only clients still lacking something.
                        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                        parent_close_policy=ParentClosePolicy.ABANDON,
                        static_summary=f"Onboarding of client {account_id} "
                        f"(campaign {self.state.process_id})",
                        search_attributes=TypedSearchAttributes(
                            [*attributes, SearchAttributePair(ACCOUNT_ID, account_id)]
                        ),
                    )
                    p.started += 1
                except WorkflowAlreadyStartedError:
                    p.already_onboarding += 1
                p.handled += 1
                self._details()

        await asyncio.gather(*(start(a) for a in accounts))
