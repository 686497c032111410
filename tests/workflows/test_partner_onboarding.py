"""Partner management, partner accounts and partner users, with the real activities and
PostgreSQL. Steps refused by an update validator run on the dev server; the login link's
expiry runs on the time-skipping server."""

import asyncio
import uuid
from datetime import timedelta

import asyncpg
import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from domain.leads import LeadBatch, QueuePartners, queue_process_id
from domain.partners import (
    LOGIN_LINK_VALID,
    Deactivation,
    FirstLogin,
    Invitation,
    PartnerAccountRequest,
    PartnerManagementRequest,
    PartnerStage,
    hash_password,
    partner_account_process_id,
    token_digest,
    verify_password,
)
from store.db import create_pool
from tests.conftest import new_database
from tests.records_partners import (
    batch,
    enable_partner_management,
    history_text,
    lead_rows,
    login_link_token,
    new_partner,
    owners,
    queue_request,
)
from tests.workflows.harness import outcome, running_worker, start_process
from tests.workflows.test_lead_queue_router import lead_ids_of, send_step, step
from workflows.lead_queue_router import LeadQueueRouter
from workflows.partner_onboarding import PartnerManagement, PartnerOnboarding
from workflows.visibility import PARTNER_ID

CM = "cm-eva"
PASSWORD = "Fjord-Lynx-2026!"


@pytest.fixture(autouse=True)
def documents(tmp_path, monkeypatch):
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(tmp_path))


@pytest.fixture(scope="module")
async def fresh_pool(postgres_admin_dsn):
    """A database of its own, where partner management has never been enabled."""
    dsn = await new_database(postgres_admin_dsn, "partnerflow_prm")
    pool = await create_pool(dsn, max_size=4)
    yield pool
    await pool.close()


def management(action: str, actor: str = CM) -> PartnerManagementRequest:
    return PartnerManagementRequest(action=action, requested_by=actor)


async def start_management(env, q, request):
    return await start_process(
        env.client,
        q,
        PartnerManagement,
        request,
        process_id=f"partner-management-{uuid.uuid4().hex[:8]}",
    )


async def start_account(env, q, partner_id: str, name: str | None = None):
    request = PartnerAccountRequest(
        partner_id=partner_id, channel_manager=CM, name=name, requested_by=CM
    )
    return await start_process(
        env.client, q, PartnerOnboarding, request, process_id=partner_account_process_id(partner_id)
    )


async def settled(pool, handle, queue_id: str, done, seconds: float = 5.0) -> dict:
    """The queue's owners once `done(owners)` holds: the queue routes returned leads on its
    own, after the signal that returned them (each query is a round trip, no fixed wait)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        await handle.query(LeadQueueRouter.status)
        now = await owners(pool, queue_id)
        if done(now) or loop.time() > deadline:
            return now


async def refused(handle, update, arg) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(update, arg)
    return err.value.cause.message


async def invite(handle, contact: str):
    return await handle.execute_update(
        PartnerOnboarding.invite_partner_user, Invitation(actor=CM, contact_id=contact)
    )


def first_login(user: str, token: str, password: str = PASSWORD) -> FirstLogin:
    """What `starter.py partner-login` sends: digests only."""
    return FirstLogin(
        actor=user,
        token_digest=token_digest(token),
        password_hash=hash_password(password, uuid.uuid4().bytes),
    )


async def log_in(pool, handle, user: str) -> None:
    token = await login_link_token(pool, handle.id, user)
    await handle.execute_update(PartnerOnboarding.partner_login, first_login(user, token))


# --- partner management -----------------------------------------------------------------------


async def test_partner_management_is_enabled_once_and_never_disabled(time_env, fresh_pool):
    partner = await new_partner(fresh_pool, contacts=1, account=False)
    async with running_worker(time_env.client, fresh_pool) as q:
        # before: nothing partner-related can start
        handle, answer = await start_account(time_env, q, partner.id)
        assert "partner management is not enabled" in answer.cause.message
        assert (await outcome(time_env, handle)).stage == PartnerStage.REFUSED
        request = queue_request([])
        _, answer = await start_process(
            time_env.client,
            q,
            LeadQueueRouter,
            request,
            process_id=queue_process_id(request.queue_id),
        )
        assert "partner management is not enabled" in answer.cause.message

        first, answer = await start_management(time_env, q, management("enable"))
        assert answer.message.startswith("partner management enabled on")
        assert (await outcome(time_env, first)).stage == PartnerStage.ENABLED
        second, again = await start_management(time_env, q, management("enable", "cm-bo"))
        assert again.message.startswith("partner management was already enabled on")
        assert f"by {CM}; nothing changed" in again.message
        assert (await outcome(time_env, second)).stage == PartnerStage.ALREADY_ENABLED
        off, answer = await start_management(time_env, q, management("disable"))
        assert "cannot be disabled: enabling it is irreversible" in answer.cause.message
        assert (await outcome(time_env, off)).stage == PartnerStage.REFUSED
    setting = await fresh_pool.fetchrow("SELECT enabled_by, process_id FROM partner_management")
    assert (setting["enabled_by"], setting["process_id"]) == (CM, first.id)
    with pytest.raises(asyncpg.RaiseError, match="irreversible"):
        await fresh_pool.execute("DELETE FROM partner_management")


# --- partner accounts -------------------------------------------------------------------------


async def test_a_partner_account_is_owned_by_a_channel_manager(time_env, pool):
    await enable_partner_management(pool)
    known = await new_partner(pool, account=False)
    new_id = f"P-NEW{uuid.uuid4().hex[:6].upper()}"
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start_account(time_env, q, known.id)
        assert answer.stage == PartnerStage.ACTIVE
        with pytest.raises(RPCError, match="ALREADY_EXISTS"):  # its process is running
            await start_account(time_env, q, known.id)
        unknown, answer = await start_account(time_env, q, new_id)
        assert f"unknown partner {new_id!r}" in answer.cause.message
        await outcome(time_env, unknown)
        created, answer = await start_account(time_env, q, f"{new_id}X", name="Fjord IT ApS")
        assert answer.stage == PartnerStage.ACTIVE
        desc = await handle.describe()
        status = await handle.query(PartnerOnboarding.status)
    assert desc.typed_search_attributes.get(PARTNER_ID) == known.id
    assert status.channel_manager == CM and status.stage == PartnerStage.ACTIVE
    row = await pool.fetchrow("SELECT * FROM partner_accounts WHERE partner_id = $1", known.id)
    assert (row["channel_manager"], row["status"]) == (CM, "active")
    assert (
        await pool.fetchval("SELECT name FROM partners WHERE id = $1", f"{new_id}X")
        == "Fjord IT ApS"
    )


# --- partner users: the login e-mail and the first login --------------------------------------


async def test_a_contact_becomes_a_partner_user_and_the_credentials_stay_out_of_temporal(
    dev_env, pool
):
    await enable_partner_management(pool)
    partner = await new_partner(pool, contacts=2, account=False)
    other = await new_partner(pool, contacts=1, account=False)
    await pool.execute(
        "INSERT INTO contacts (id, partner_id, name) VALUES ($1, $2, 'No Mail')",
        f"{partner.id}-NOMAIL",
        partner.id,
    )
    anna, bo = partner.contacts
    async with running_worker(dev_env.client, pool) as q:
        handle, _ = await start_account(dev_env, q, partner.id)
        sent = await invite(handle, anna)
        assert f"login e-mail sent to contact {anna}" in sent.message
        old_token = await login_link_token(pool, handle.id, anna)
        again = await invite(handle, anna)  # before the first login: a new link
        assert "the earlier one no longer works" in again.message
        token = await login_link_token(pool, handle.id, anna)
        assert token != old_token
        assert f"belongs to partner {other.id}" in await refused(
            handle,
            PartnerOnboarding.invite_partner_user,
            Invitation(actor=CM, contact_id=other.contacts[0]),
        )
        assert "has no e-mail address" in await refused(
            handle,
            PartnerOnboarding.invite_partner_user,
            Invitation(actor=CM, contact_id=f"{partner.id}-NOMAIL"),
        )
        assert "unknown contact" in await refused(
            handle,
            PartnerOnboarding.invite_partner_user,
            Invitation(actor=CM, contact_id="C-NOBODY"),
        )
        # the first login: only an invited user, only with the newest link
        assert f"{bo} is not a user of partner" in await refused(
            handle, PartnerOnboarding.partner_login, first_login(bo, token)
        )
        assert "the login link is not valid" in await refused(
            handle, PartnerOnboarding.partner_login, first_login(anna, old_token)
        )
        welcome = await handle.execute_update(
            PartnerOnboarding.partner_login, first_login(anna, token)
        )
        assert welcome.message.startswith(f"welcome, {anna}")
        repeat = await handle.execute_update(
            PartnerOnboarding.partner_login, first_login(anna, token)
        )
        assert "already logged in" in repeat.message
        status = await handle.query(PartnerOnboarding.status)
        history = await history_text(handle)
    assert status.users[anna].status == "active"
    user = await pool.fetchrow("SELECT * FROM partner_users WHERE id = $1", anna)
    assert (user["status"], user["login_token_sha256"]) == ("active", None)
    assert verify_password(PASSWORD, user["password_hash"])
    assert user["invitations"] == 2 and user["first_login_at"] is not None
    # the token lives in the outbox rows only; the password nowhere but as its argon2id hash
    for secret in (token, old_token, PASSWORD):
        assert secret not in history
        assert secret not in str(status.model_dump())
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM audit_log WHERE process_id = $1"
                " AND (detail::text LIKE $2 OR result::text LIKE $2)",
                handle.id,
                f"%{secret}%",
            )
            == 0
        )
    # what the first login carried instead: the token's digest (dead now) and the argon2id hash
    assert token_digest(token) in history and user["password_hash"] in history
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM notifications WHERE process_id = $1 AND recipient_id = $2"
            " AND template = 'partner_user_login'",
            handle.id,
            anna,
        )
        == 2
    )


async def test_the_login_link_expires(time_env, pool):
    await enable_partner_management(pool)
    partner = await new_partner(pool, contacts=1, account=False)
    (anna,) = partner.contacts
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start_account(time_env, q, partner.id)
        await invite(handle, anna)
        token = await login_link_token(pool, handle.id, anna)
        await time_env.sleep(LOGIN_LINK_VALID + timedelta(hours=1))
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(PartnerOnboarding.partner_login, first_login(anna, token))
        assert "the login link has expired" in err.value.cause.message
        await invite(handle, anna)
        await log_in(pool, handle, anna)
        status = await handle.query(PartnerOnboarding.status)
    assert status.users[anna].status == "active"


# --- who can receive leads, and deactivation --------------------------------------------------


async def test_only_a_user_who_has_logged_in_can_claim(dev_env, pool):
    await enable_partner_management(pool)
    partner = await new_partner(pool, contacts=1, account=False)
    (anna,) = partner.contacts
    async with running_worker(dev_env.client, pool) as q:
        account, _ = await start_account(dev_env, q, partner.id)
        request = queue_request([])
        queue, _ = await start_process(
            dev_env.client,
            q,
            LeadQueueRouter,
            request,
            process_id=queue_process_id(request.queue_id),
        )
        await queue.execute_update(
            LeadQueueRouter.add_queue_partners, QueuePartners(actor="cm-eva", partners=[partner.id])
        )
        await queue.execute_update(
            LeadQueueRouter.add_leads, LeadBatch(actor="staff", batch=batch(lead_rows(1)))
        )
        (lead,) = await lead_ids_of(pool, request.queue_id)
        claim = step(request.queue_id, "claim", anna, lead_id=lead)
        assert "is not in the people directory" in await send_step(dev_env.client, q, claim)
        await invite(account, anna)
        assert "who is invited, not active" in await send_step(dev_env.client, q, claim)
        await log_in(pool, account, anna)
        assert f"lead {lead} is yours" in await send_step(dev_env.client, q, claim)


async def test_deactivation_deactivates_the_users_and_returns_their_open_leads(dev_env, pool):
    await enable_partner_management(pool)
    leaving = await new_partner(pool, contacts=2, account=False)
    staying = await new_partner(pool, users=1)
    anna, bo = leaving.contacts
    async with running_worker(dev_env.client, pool) as q:
        account, _ = await start_account(dev_env, q, leaving.id)
        for user in (anna, bo):
            await invite(account, user)
            await log_in(pool, account, user)
        fair = queue_request([], cap=5)
        fair.partners = [leaving.id, staying.id]
        queue, _ = await start_process(
            dev_env.client, q, LeadQueueRouter, fair, process_id=queue_process_id(fair.queue_id)
        )
        turns = queue_request([], cap=5, routing="round-robin")
        turns.partners = [leaving.id, staying.id]
        in_turn, _ = await start_process(
            dev_env.client, q, LeadQueueRouter, turns, process_id=queue_process_id(turns.queue_id)
        )
        await queue.execute_update(
            LeadQueueRouter.add_leads, LeadBatch(actor="staff", batch=batch(lead_rows(4)))
        )
        await in_turn.execute_update(
            LeadQueueRouter.add_leads, LeadBatch(actor="staff", batch=batch(lead_rows(2)))
        )
        l1, l2, l3, l4 = await lead_ids_of(pool, fair.queue_id)
        for user, lead in ((anna, l1), (anna, l2), (bo, l3), (staying.users[0], l4)):
            claim = step(fair.queue_id, "claim", user, lead_id=lead)
            assert "is yours" in await send_step(dev_env.client, q, claim)
        convert = step(fair.queue_id, "convert", anna, lead_id=l1)
        assert "converted" in await send_step(dev_env.client, q, convert)
        rr_owners = await owners(pool, turns.queue_id)
        rr_leaving = next(i for i, u in rr_owners.items() if u in (anna, bo))

        answer = await account.execute_update(
            PartnerOnboarding.deactivate, Deactivation(actor=CM, reason="contract ended")
        )
        assert "2 user(s) deactivated" in answer.message
        assert "3 open lead(s) went back to their queue" in answer.message
        assert f"{fair.queue_id} (2)" in answer.message
        assert f"{turns.queue_id} (1)" in answer.message
        result = await account.result()  # a deactivated account's process has ended
        # the queue took its leads back: another partner can claim them
        again_l2 = step(fair.queue_id, "claim", staying.users[0], lead_id=l2)
        assert "is yours" in await send_step(dev_env.client, q, again_l2)
        by_bo = step(fair.queue_id, "claim", bo, lead_id=l3)
        assert "is deactivated" in await send_step(dev_env.client, q, by_bo)
        # in a round-robin queue a returned lead gets its next turn at once
        rr_after = await settled(
            pool, in_turn, turns.queue_id, lambda o: o.get(rr_leaving) == staying.users[0]
        )
        again, answer = await start_account(dev_env, q, leaving.id)
        assert "was deactivated on" in answer.cause.message
    assert result.stage == PartnerStage.DEACTIVATED
    assert await owners(pool, fair.queue_id) == {
        l1: anna,
        l2: staying.users[0],
        l4: staying.users[0],
    }
    statuses = dict(
        await pool.fetch("SELECT id, status FROM leads WHERE id = ANY($1::text[])", [l1, l3])
    )
    assert statuses == {l1: "converted", l3: "queued"}
    assert rr_after[rr_leaving] == staying.users[0]
    how = await pool.fetchval(
        "SELECT how FROM claims WHERE lead_id = $1 AND ended_at IS NULL", rr_leaving
    )
    assert how == "round-robin"
    users = await pool.fetch("SELECT status FROM partner_users WHERE partner_id = $1", leaving.id)
    assert [u["status"] for u in users] == ["inactive", "inactive"]
    ended = await pool.fetch(
        "SELECT lead_id, ended_reason FROM claims WHERE partner_id = $1"
        " AND ended_at IS NOT NULL ORDER BY lead_id",
        leaving.id,
    )
    assert {r["lead_id"] for r in ended} == {l2, l3, rr_leaving}
    assert {r["ended_reason"] for r in ended} == {"partner account deactivated"}
