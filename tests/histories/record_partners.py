"""Records the partner management and partner account histories that tests/test_replay.py
replays. Run it when one of these workflows changes on purpose (and keep old histories that
running processes may still have):

    .venv/bin/python -m tests.histories.record_partners

Each history is a real run on the dev server with the real activities."""

import asyncio
import os
import sys
import tempfile
import uuid

from domain.partners import (
    Deactivation,
    FirstLogin,
    Invitation,
    PartnerAccountRequest,
    PartnerManagementRequest,
    hash_password,
    partner_account_process_id,
    token_digest,
)
from tests.histories.recording import recording, save
from tests.records_partners import login_link_token, new_partner
from tests.workflows.harness import running_worker, start_process
from workflows.partner_onboarding import PartnerManagement, PartnerOnboarding

CM = "cm-eva"


async def partner_management(env, pool, q) -> None:
    for action, name in (
        ("enable", "partner_management_enabled"),
        ("enable", "partner_management_already_enabled"),
        ("disable", "partner_management_disable_refused"),
    ):
        handle, _ = await start_process(
            env.client,
            q,
            PartnerManagement,
            PartnerManagementRequest(action=action, requested_by=CM),
            process_id=f"partner-management-{action}-{uuid.uuid4().hex[:8]}",
        )
        await handle.result()
        await save(handle, name)


async def partner_account(env, pool, q) -> None:
    leaving = await new_partner(pool, contacts=2, account=False)
    anna, bo = leaving.contacts
    account, _ = await start_process(
        env.client,
        q,
        PartnerOnboarding,
        PartnerAccountRequest(partner_id=leaving.id, channel_manager=CM, requested_by=CM),
        process_id=partner_account_process_id(leaving.id),
    )
    for user in (anna, bo, anna):  # anna twice: a new link replaces the first
        await account.execute_update(
            PartnerOnboarding.invite_partner_user, Invitation(actor=CM, contact_id=user)
        )
    for user in (anna, bo):
        token = await login_link_token(pool, account.id, user)
        await account.execute_update(
            PartnerOnboarding.partner_login,
            FirstLogin(
                actor=user,
                token_digest=token_digest(token),
                password_hash=hash_password("Fjord-Lynx-2026!", uuid.uuid4().bytes),
            ),
        )
    await account.execute_update(
        PartnerOnboarding.deactivate, Deactivation(actor=CM, reason="contract ended")
    )
    await account.result()
    await save(account, "partner_account_invited_logged_in_deactivated")


async def main() -> None:
    os.environ["PARTNERFLOW_DOCUMENTS_DIR"] = tempfile.mkdtemp(prefix="partnerflow-partners-")
    async with recording() as r:
        async with running_worker(r.dev_env.client, r.pool) as q:
            for record in (partner_management, partner_account):
                await record(r.dev_env, r.pool, q)


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)  # the SDK may crash at interpreter exit after a worker ran
