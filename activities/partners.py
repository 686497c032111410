"""Activities of partner management and partner accounts: each runs one store write as one
idempotent step (see activities/common.py). None of them returns or logs a credential."""

from temporalio import activity

import config
from activities.common import StepActivities, refusals_are_final
from domain.errors import Refused
from domain.partners import (
    AccountOpening,
    DeactivationOutcome,
    DeactivationWrite,
    FirstLoginOutcome,
    FirstLoginWrite,
    InvitationOutcome,
    InvitationWrite,
    ManagementEnabling,
    ManagementSetting,
    RosterChange,
)
from store import partners


def _change(result: dict) -> RosterChange:
    return RosterChange(
        roster=result["roster"], queues=result["queues"], returned=result.get("returned", {})
    )


class PartnerActivities(StepActivities):
    @activity.defn
    async def enable_partner_management(self, e: ManagementEnabling) -> ManagementSetting:
        # Already enabled (by this or any earlier process): nothing is written, and the answer
        # says when and by whom it was.
        async with refusals_are_final(), self.pool.acquire() as conn:
            setting = await partners.management_setting(conn)
        if setting is not None:
            return ManagementSetting(already=True, **setting)
        result = await self._once(
            e.key,
            "partner management enabled",
            lambda c: partners.enable_management(c, e.key.process_id, e.key.actor),
        )
        return ManagementSetting(**result)

    @activity.defn
    async def open_partner_account(self, a: AccountOpening) -> RosterChange:
        async with refusals_are_final(), self.pool.acquire() as conn:
            existing = await partners.account_status(conn, a.partner_id)
            # The process id is the same for every run of this partner's account process:
            # a deactivated account must not find its first run's step and look created.
            if existing is not None and existing["status"] == "inactive":
                raise Refused(
                    f"partner account {a.partner_id} was deactivated on "
                    f"{existing['deactivated_at']:%Y-%m-%d}; a deactivated partner account is "
                    "not opened again"
                )
        result = await self._once(
            a.key,
            "partner account created",
            lambda c: partners.open_account(
                c, a.key.process_id, a.key.actor, a.partner_id, a.channel_manager, a.name
            ),
        )
        return _change(result)

    @activity.defn
    async def invite_partner_user(self, w: InvitationWrite) -> InvitationOutcome:
        result = await self._once(
            w.key,
            "partner user invited",
            lambda c: partners.invite_user(
                c, w.key.process_id, w.key.step, w.key.actor, w, config.partner_portal_url()
            ),
        )
        return InvitationOutcome(user=result["user"], change=_change(result))

    @activity.defn
    async def partner_first_login(self, w: FirstLoginWrite) -> FirstLoginOutcome:
        result = await self._once(
            w.key,
            "partner user first login, password changed",
            lambda c: partners.first_login(c, w),
        )
        return FirstLoginOutcome(
            user=result["user"], change=_change(result), already=result["already"]
        )

    @activity.defn
    async def deactivate_partner_account(self, w: DeactivationWrite) -> DeactivationOutcome:
        result = await self._once(
            w.key,
            "partner account deactivated",
            lambda c: partners.deactivate_account(
                c, w.key.process_id, w.key.actor, w.partner_id, w.reason
            ),
        )
        return DeactivationOutcome(change=_change(result), users=result["users"])
