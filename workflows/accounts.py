"""Customer accounts.

AccountChange: one audited step, then done: fill in or correct an account's fields (how a
quote rejected for a missing mandatory field is fixed), or the "new pipeline" (customer,
project and contact at once). Like the PSA record changes these are record operations, not
long processes, yet they go through Temporal: staff need no database credentials, the
change is written once under its request id with its actor in the audit log, a database
hiccup is retried, and ops find it in the UI (`ProcessKind = "account-change"`). What an
account holds is read straight from PostgreSQL (store/records.py `reading`): a read is not a
process."""

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.accounts import AccountActivities
    from domain.accounts import (
        FINAL_STAGES,
        AccountChangeRequest,
        AccountChangeStatus,
        AccountChangeStep,
        AccountKind,
        AccountStage,
        change_message,
    )

# Workflow code: imported again in each run's sandbox (see worker.workflow_runner).
from workflows.process import Process, closes_when_cancelled, refused_reason
from workflows.rollout import versioning


@workflow.defn(name="AccountChange", versioning_behavior=versioning("AccountChange"))
class AccountChange(Process[AccountChangeStatus, AccountStage]):
    kind = AccountKind.ACCOUNT_CHANGE
    final_stages = FINAL_STAGES

    @workflow.init
    def __init__(self, request: AccountChangeRequest) -> None:
        self._init_process()
        change = request.change
        self.state = AccountChangeStatus(
            process_id=workflow.info().workflow_id,
            stage=AccountStage.CHANGING,
            waiting_for=f"{change.operation} of account {change.account_id}",
            since=workflow.now(),
            operation=change.operation,
            account_id=change.account_id,
        )

    @workflow.query
    def status(self) -> AccountChangeStatus:
        return self.state

    @workflow.run
    @closes_when_cancelled
    async def run(self, request: AccountChangeRequest) -> AccountChangeStatus:
        change = request.change
        self._publish_ids()
        if (why := await self._refused_start(request.actor)) is not None:
            self.state.message = why
            self._refused_at_start(AccountStage.REFUSED, why)
            return await self._end()
        try:
            done = await self._act(
                AccountActivities.change_account,
                AccountChangeStep(key=self._key(change.operation, request.actor), change=change),
                f"{change.operation} {change.account_id}",
            )
        except ActivityError as err:
            reason = refused_reason(err)
            if reason is None:
                raise
            self.state.message = reason
            self._set_stage(AccountStage.REFUSED, f"nothing: refused, {reason}")
        else:
            self.state.message = change_message(change.operation, done)
            self.state.partner_id = done.partner_id
            self.state.changed, self.state.created = done.changed, done.created
            self.state.missing = done.missing
            self._publish_ids()
            self._set_stage(AccountStage.DONE, f"nothing: done, {self.state.message}")
        self._accepted()
        return await self._end()
