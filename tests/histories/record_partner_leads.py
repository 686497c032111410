"""Records the partner management, partner account and lead queue histories that
tests/test_replay.py replays. Run it when one of these workflows changes on purpose (and keep
old histories that running processes may still have):

    .venv/bin/python -m tests.histories.record_partner_leads

Each history is a real run on the dev server with the real activities."""

import asyncio
import os
import sys
import tempfile
import uuid

from domain.leads import (
    Assignment,
    Claim,
    Conversion,
    LeadBatch,
    MassReassignment,
    OpportunityUpdate,
    RuleInput,
    queue_process_id,
)
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
from tests.records_partners import (
    batch,
    lead_rows,
    login_link_token,
    new_partner,
    queue_request,
)
from tests.workflows.harness import running_worker, start_process
from workflows.lead_queue import LeadQueue
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


async def partner_account_and_lead_queues(env, pool, q) -> None:
    leaving = await new_partner(pool, contacts=2, account=False)
    staying = await new_partner(pool, users=1)
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

    south_request = queue_request([staying], routing="round-robin")
    south, _ = await start_process(
        env.client, q, LeadQueue, south_request, process_id=queue_process_id(south_request.queue_id)
    )
    request = queue_request([], cap=3)
    request.partners = [leaving.id, staying.id]
    queue, _ = await start_process(
        env.client, q, LeadQueue, request, process_id=queue_process_id(request.queue_id)
    )
    await queue.execute_update(
        LeadQueue.add_assignment_rule,
        RuleInput(actor=CM, country="DE", postal_prefix="80", to_queue=south_request.queue_id),
    )
    await queue.execute_update(
        LeadQueue.add_assignment_rule,
        RuleInput(actor=CM, product="Business", to_partner=staying.id, position=1),
    )
    await queue.execute_update(
        LeadQueue.add_leads,
        LeadBatch(
            actor="staff",
            batch=batch(
                lead_rows(4, country="DK", postal_code="2100")
                + lead_rows(1, country="DE", postal_code="80331")
                + lead_rows(1, country="FR", product="Business")
            ),
        ),
    )
    ids = sorted((await queue.query(LeadQueue.status)).leads, key=lambda i: int(i[2:]))
    l1, l2, l3, l4 = ids[:4]
    for user, lead in ((anna, l1), (anna, l2), (bo, l3)):
        await queue.execute_update(LeadQueue.claim_lead, Claim(actor=user, lead_id=lead))
    await queue.execute_update(
        LeadQueue.assign_lead, Assignment(actor=CM, lead_id=l4, to_user=bo, notify=True)
    )
    await queue.execute_update(
        LeadQueue.reassign_leads, MassReassignment(actor=CM, from_user=bo, to_user=anna)
    )
    await queue.execute_update(
        LeadQueue.convert_lead,
        Conversion(actor=anna, lead_id=l1, amount="9800", stage="qualification"),
    )
    await queue.execute_update(
        LeadQueue.update_opportunity,
        OpportunityUpdate(actor=anna, opportunity_id=f"OPP-{l1}", stage="closed-won"),
    )
    await account.execute_update(
        PartnerOnboarding.deactivate, Deactivation(actor=CM, reason="contract ended")
    )
    await account.result()
    await queue.execute_update(LeadQueue.claim_lead, Claim(actor=staying.users[0], lead_id=l2))
    await save(account, "partner_account_invited_logged_in_deactivated")
    await save(queue, "lead_queue_rules_claims_owners_conversion_returned_leads")
    await save(south, "lead_queue_round_robin_forwarded_lead")


async def lead_queue_rolled_over(env, pool, q) -> None:
    partner = await new_partner(pool, users=2)
    request = queue_request([partner], cap=20, rollover_after=40)
    queue, _ = await start_process(
        env.client, q, LeadQueue, request, process_id=queue_process_id(request.queue_id)
    )
    rows = lead_rows(6)
    await queue.execute_update(LeadQueue.add_leads, LeadBatch(actor="staff", batch=batch(rows)))
    ids = sorted((await queue.query(LeadQueue.status)).leads, key=lambda i: int(i[2:]))
    for n, lead in enumerate(ids):
        await queue.execute_update(
            LeadQueue.claim_lead, Claim(actor=partner.users[n % 2], lead_id=lead)
        )
    # the next run: the carried leads and keys answer a repeated lead, a new one is claimed
    await queue.execute_update(
        LeadQueue.add_leads, LeadBatch(actor="staff", batch=batch([rows[0], *lead_rows(1)]))
    )
    latest = env.client.get_workflow_handle(queue.id)
    new = [i for i in (await latest.query(LeadQueue.status)).leads if i not in ids]
    await latest.execute_update(LeadQueue.claim_lead, Claim(actor=partner.users[0], lead_id=new[0]))
    runs = [wf.run_id async for wf in env.client.list_workflows(f"WorkflowId = '{queue.id}'")]
    first_run = env.client.get_workflow_handle(queue.id, run_id=runs[-1])
    await save(first_run, "lead_queue_continued_as_new")
    await save(latest, "lead_queue_after_continue_as_new")


async def main() -> None:
    os.environ["PARTNERFLOW_DOCUMENTS_DIR"] = tempfile.mkdtemp(prefix="partnerflow-leads-")
    async with recording() as r:
        async with running_worker(r.dev_env.client, r.pool) as q:
            for record in (
                partner_management,
                partner_account_and_lead_queues,
                lead_queue_rolled_over,
            ):
                await record(r.dev_env, r.pool, q)


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)
