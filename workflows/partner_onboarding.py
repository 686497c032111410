"""Partner onboarding ("Activation de la gestion des relations avec les partenaires",
"Création de comptes et de contacts partenaires"; the partner seller's first login).

PartnerManagement: enable partner relationship management, once and for good.
PartnerOnboarding, one per partner account, open while the account is active:
account created (owned by a channel manager) -> contacts become partner users (login e-mail
with a one-time link) -> each user sets a password with the link at the first login, and from then
on may claim and receive leads -> the account is deactivated: its users with it, and their
open leads go back to the queue they came from."""

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.partners import PartnerActivities
    from domain.leads import queue_process_id
    from domain.partners import (
        ACCOUNT_FINAL,
        DISABLE_REFUSED,
        LOGIN_LINK_VALID,
        MANAGEMENT_FINAL,
        AccountOpening,
        Deactivation,
        DeactivationWrite,
        FirstLogin,
        FirstLoginWrite,
        Invitation,
        InvitationWrite,
        ManagementEnabling,
        PartnerAccountRequest,
        PartnerAccountStatus,
        PartnerKind,
        PartnerManagementRequest,
        PartnerManagementStatus,
        PartnerStage,
        PartnerUserView,
        QueueRosterChange,
        RosterChange,
        StepAnswer,
    )

# Workflow code: imported again in each run's sandbox (see worker.workflow_runner).
from workflows.process import Process, closes_when_cancelled, refusal, refused_reason
from workflows.rollout import (
    continue_as_new_on_current_version,
    new_version_available,
    versioning,
)


@workflow.defn(name="PartnerManagement", versioning_behavior=versioning("PartnerManagement"))
class PartnerManagement(Process[PartnerManagementStatus, PartnerStage]):
    """ "Enable PRM": a second enable changes nothing and says so; a disable is refused."""

    kind = PartnerKind.PARTNER_MANAGEMENT
    final_stages = MANAGEMENT_FINAL

    @workflow.init
    def __init__(self, request: PartnerManagementRequest) -> None:
        self._init_process()
        self.state = PartnerManagementStatus(
            process_id=workflow.info().workflow_id,
            stage=PartnerStage.VALIDATING,
            waiting_for="checking the partner management setting",
            since=workflow.now(),
        )

    @workflow.run
    @closes_when_cancelled
    async def run(self, request: PartnerManagementRequest) -> PartnerManagementStatus:
        self._publish_ids()
        if (why := await self._refused_start(request.requested_by)) is not None:
            self._refused_at_start(PartnerStage.REFUSED, why)
            return await self._end()
        if request.action == "disable":
            self._refused_at_start(PartnerStage.REFUSED, DISABLE_REFUSED)
            return await self._end()
        setting = await self._act(
            PartnerActivities.enable_partner_management,
            ManagementEnabling(key=self._key("enable", request.requested_by)),
            "enable partner management (irreversible)",
        )
        self.state.enabled_at, self.state.enabled_by = setting.enabled_at, setting.enabled_by
        when = f"{setting.enabled_at:%Y-%m-%d %H:%M} UTC by {setting.enabled_by}"
        if setting.already:
            self._set_stage(
                PartnerStage.ALREADY_ENABLED,
                f"nothing: partner management was already enabled on {when}; nothing changed",
            )
        else:
            self._set_stage(
                PartnerStage.ENABLED,
                f"nothing: partner management enabled on {when}; it cannot be disabled",
            )
        self._accepted()
        return await self._end()

    def _started_answer(self) -> StepAnswer:
        return StepAnswer(
            message=self.state.waiting_for.removeprefix("nothing: "), stage=self.state.stage
        )

    @workflow.query
    def status(self) -> PartnerManagementStatus:
        return self.state


@workflow.defn(name="PartnerOnboarding", versioning_behavior=versioning("PartnerOnboarding"))
class PartnerOnboarding(Process[PartnerAccountStatus, PartnerStage]):
    kind = PartnerKind.PARTNER_ACCOUNT
    final_stages = ACCOUNT_FINAL

    @workflow.init
    def __init__(self, request: PartnerAccountRequest) -> None:
        self._init_process()
        if request.carried is not None:
            self.state = request.carried
            self.validated = True
            return
        self.state = PartnerAccountStatus(
            process_id=workflow.info().workflow_id,
            stage=PartnerStage.VALIDATING,
            waiting_for="checking partner management and the partner record",
            since=workflow.now(),
            partner_id=request.partner_id,
            channel_manager=request.channel_manager,
        )

    @workflow.run
    @closes_when_cancelled
    async def run(self, request: PartnerAccountRequest) -> PartnerAccountStatus:
        if request.carried is None:
            self._publish_ids()
            if (why := await self._refused_start(request.requested_by)) is not None:
                self._refused_at_start(PartnerStage.REFUSED, why)
                return await self._end()
            try:
                await self._act(
                    PartnerActivities.open_partner_account,
                    AccountOpening(
                        key=self._key("create-account", request.requested_by),
                        partner_id=request.partner_id,
                        channel_manager=request.channel_manager,
                        name=request.name,
                    ),
                    f"enable {request.partner_id} as partner account",
                )
            except ActivityError as err:
                reason = refused_reason(err)
                if reason is None:
                    raise
                self._refused_at_start(PartnerStage.REFUSED, reason)
                return await self._end()
            self._set_stage(PartnerStage.ACTIVE, self._waiting())
            self._accepted()
        # Open as long as the account is active; a long life continues as new. Each run is
        # pinned to the worker version it started on (no patches needed inside a run); when
        # a new version becomes current, the next event the account handles is its last on
        # the old code: it continues as new onto the new version (docs/deployment.md, "Rolling
        # out a new version").
        await workflow.wait_condition(lambda: self.finished or self._continue_as_new())
        if not self.finished:
            await workflow.wait_condition(workflow.all_handlers_finished)
            if not self.finished:
                continue_as_new_on_current_version(
                    request.model_copy(update={"carried": self.state})
                )
        return await self._end()

    @staticmethod
    def _continue_as_new() -> bool:
        return workflow.info().is_continue_as_new_suggested() or new_version_available()

    @workflow.signal
    def move_to_current_version(self) -> None:
        """Wakes the account so that it moves to the current worker version now, rather than
        at its next invitation or login (an idle account keeps its old version's workers
        busy). Changes nothing else, and nothing when it already runs the current version."""

    @workflow.query
    def status(self) -> PartnerAccountStatus:
        return self.state

    def _waiting(self) -> str:
        users = self.state.users.values()
        active = sum(1 for u in users if u.status == "active")
        invited = sum(1 for u in users if u.status == "invited")
        return (
            f"partner account {self.state.partner_id} of channel manager "
            f"{self.state.channel_manager}: {active} user(s) active, {invited} waiting for "
            "their first login; waiting for invitations, logins or a deactivation"
        )

    def _refresh(self) -> None:
        self.state.waiting_for = self._waiting()
        self.state.revision += 1
        workflow.set_current_details(f"{self.state.stage.value}: {self.state.waiting_for}")

    def _step(self, name: str) -> str:
        self.state.steps += 1
        return f"{name}-{self.state.steps}"

    def _check_open(self) -> None:
        if self.state.stage == PartnerStage.DEACTIVATED:
            raise refusal(f"partner account {self.state.partner_id} is deactivated")
        if self.state.stage != PartnerStage.ACTIVE:
            raise refusal(
                f"partner account {self.state.partner_id} is not open: {self.state.waiting_for}"
            )

    async def _tell_queues(self, change: RosterChange) -> None:
        """The lead queues the partner is in learn who can claim and receive leads now, and
        which leads came back to them."""
        for queue_id in sorted(set(change.queues) | set(change.returned)):
            handle = workflow.get_external_workflow_handle(queue_process_id(queue_id))
            try:
                await handle.signal(
                    "partner_roster_changed",
                    QueueRosterChange(
                        roster=change.roster, returned=change.returned.get(queue_id, [])
                    ),
                )
            except FailureError as err:  # the queue is gone: nothing there to tell
                workflow.logger.warning(
                    "lead queue not told of partner change",
                    extra={"queue_id": queue_id, "error": str(err)},
                )

    # --- a contact becomes a partner user -----------------------------------------------------

    def _check_invite(self, i: Invitation) -> PartnerUserView | None:
        self._check_open()
        user = self.state.users.get(i.contact_id)
        if user is not None and user.status == "inactive":
            raise refusal(f"{i.contact_id} is deactivated")
        return user

    @workflow.update
    async def invite_partner_user(self, i: Invitation) -> StepAnswer:
        """ "Activer l'utilisateur partenaire": the login e-mail goes out (outbox). Again,
        before the first login: a new link replaces the old one."""
        await self._authorize("invite_partner_user", i.actor)
        async with self._lock:
            user = self._check_invite(i)
            if user is not None and user.status == "active":
                return self._answer(
                    f"{i.contact_id} is already an active partner user (logged in); nothing sent"
                )
            expires_at = workflow.now() + LOGIN_LINK_VALID
            outcome = await self._act_or_refuse(
                PartnerActivities.invite_partner_user,
                InvitationWrite(
                    key=self._key(self._step(f"invite-{i.contact_id}"), i.actor),
                    partner_id=self.state.partner_id,
                    contact_id=i.contact_id,
                    expires_at=expires_at,
                ),
                f"invite partner user {i.contact_id}: login e-mail",
            )
            self.state.users[i.contact_id] = outcome.user
            await self._tell_queues(outcome.change)
            self._refresh()
            again = " (a new link: the earlier one no longer works)" if user else ""
            return self._answer(
                f"login e-mail sent to contact {i.contact_id}{again}: a one-time link, valid "
                f"until {expires_at:%Y-%m-%d %H:%M} UTC; the user sets a password with it at "
                "the first login (partner-login)"
            )

    @invite_partner_user.validator
    def _validate_invite(self, i: Invitation) -> None:
        self._check_invite(i)

    # --- first login: the user sets a password with the one-time link --------------------------

    def _check_login(self, login: FirstLogin) -> PartnerUserView:
        self._check_open()
        user = self.state.users.get(login.actor)
        if user is None:
            raise refusal(
                f"{login.actor} is not a user of partner {self.state.partner_id}; "
                "the channel manager invites them first"
            )
        if user.status == "inactive":
            raise refusal(f"{login.actor} is deactivated")
        return user

    @workflow.update
    async def partner_login(self, login: FirstLogin) -> StepAnswer:
        await self._authorize("partner_login", login.actor)
        async with self._lock:
            user = self._check_login(login)
            if user.status == "active":
                return self._answer(f"{login.actor} has already logged in and set a password")
            outcome = await self._act_or_refuse(
                PartnerActivities.partner_first_login,
                FirstLoginWrite(
                    key=self._key(self._step(f"first-login-{login.actor}"), login.actor),
                    partner_id=self.state.partner_id,
                    user_id=login.actor,
                    token_digest=login.token_digest,
                    password_hash=login.password_hash,
                    now=workflow.now(),
                ),
                f"first login of {login.actor}: new password",
            )
            self.state.users[login.actor] = outcome.user
            await self._tell_queues(outcome.change)
            self._refresh()
            return self._answer(
                f"welcome, {login.actor}: your password is changed; you can "
                "now claim leads and be given leads"
            )

    @partner_login.validator
    def _validate_login(self, login: FirstLogin) -> None:
        self._check_login(login)

    # --- deactivation -------------------------------------------------------------------------

    @workflow.update
    async def deactivate(self, d: Deactivation) -> StepAnswer:
        await self._authorize("deactivate", d.actor)
        async with self._lock:
            if self.state.stage == PartnerStage.DEACTIVATED:
                return self._answer(
                    f"partner account {self.state.partner_id} was already deactivated"
                )
            self._check_open()
            outcome = await self._act_or_refuse(
                PartnerActivities.deactivate_partner_account,
                DeactivationWrite(
                    key=self._key("deactivate", d.actor),
                    partner_id=self.state.partner_id,
                    reason=d.reason,
                ),
                f"deactivate partner account {self.state.partner_id}",
            )
            for user in self.state.users.values():
                user.status = "inactive"
            await self._tell_queues(outcome.change)
            returned = outcome.change.returned
            n = sum(len(ids) for ids in returned.values())
            where = ", ".join(f"{q} ({len(ids)})" for q, ids in sorted(returned.items()))
            back = (
                f"{n} open lead(s) went back to their queue: {where}"
                if n
                else "no open leads to return"
            )
            self._set_stage(
                PartnerStage.DEACTIVATED,
                f"nothing: deactivated by {d.actor} ({d.reason}); "
                f"{len(outcome.users)} user(s) deactivated, {back}",
            )
            return self._answer(
                f"partner account {self.state.partner_id} deactivated: "
                f"{len(outcome.users)} user(s) deactivated, {back}"
            )

    @deactivate.validator
    def _validate_deactivate(self, d: Deactivation) -> None:
        if self.state.stage != PartnerStage.DEACTIVATED:
            self._check_open()

    def _answer(self, message: str) -> StepAnswer:
        return StepAnswer(message=message, stage=self.state.stage)
