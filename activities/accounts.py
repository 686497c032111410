"""Activities of customer accounts: fill in or correct an account, the new pipeline
(customer, project and contact in one step), and the overview staff read before a change
order. Each write is one idempotent step (activities/common.py)."""

from temporalio import activity

from activities.common import StepActivities, refusals_are_final
from domain.accounts import (
    AccountChanged,
    AccountChangeStep,
    AccountLookup,
    AccountOverview,
    NewPipeline,
)
from store import accounts


class AccountActivities(StepActivities):
    @activity.defn
    async def change_account(self, s: AccountChangeStep) -> AccountChanged:
        change = s.change
        if isinstance(change, NewPipeline):
            action = "new pipeline: customer, project and contact created"
            write = lambda c: accounts.create_pipeline(c, change)  # noqa: E731
        else:
            action = "account fields filled in or corrected"
            write = lambda c: accounts.update_account(c, change)  # noqa: E731
        return AccountChanged(**await self._once(s.key, action, write))

    @activity.defn
    async def load_account_overview(self, lookup: AccountLookup) -> AccountOverview:
        async with refusals_are_final(), self.pool.acquire() as conn:
            return await accounts.overview(conn, lookup.account_id)
