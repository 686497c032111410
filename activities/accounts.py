"""Activities of customer accounts: fill in or correct an account, the new pipeline
(customer, project and contact in one step). Each write is one idempotent step
(activities/common.py); the overview staff read is no activity (store/accounts.py)."""

from temporalio import activity

from activities.common import StepActivities
from domain.accounts import AccountChanged, AccountChangeStep, NewPipeline
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
