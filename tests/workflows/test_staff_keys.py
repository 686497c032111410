"""Staff identity the worker verifies: with the shared key ring but not ops-ben's own key, no
one can start, update or signal a process as ops-ben; ops-ben with his key can; a revoked key
and the portal's service key cannot act as staff. Each refusal is one security_log row.

On the dev server with a worker as worker.py builds it (its own key, the directory's check),
the real PostgreSQL."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.worker import Worker

from codec import (
    EncryptionCodec,
    binding,
    client_interceptors,
    data_converter,
    new_key_entry,
    parse_key_ring,
)
from codec.binding import STEP_REFUSED
from codec.signing import SERVICE, WORKER, Verifier, directory_lookup, load_signer
from domain.change_order import StaffStep, Stage
from store.staff_keys import key_file_enrolled, revoke
from tests.records import new_account
from tests.records_partners import enable_partner_management, new_partner
from tests.workflows.harness import WORKFLOWS, fast_lines
from tests.workflows.test_fast_change_order import request as fast_request
from tests.workflows.test_forged_steps import refusal_rows, rows_when_written, start
from tests.workflows.test_lead_queue_router import CM, router_request
from worker import activities_for, refusals_written, workflow_runner
from workflows.fast_change_order import FastChangeOrder
from workflows.lead_queue_router import LeadQueueRouter


class Keys:
    """Key files made and enrolled as an admin would, and clients signing with them."""

    def __init__(self, dev_env, pool, folder: Path) -> None:
        self.dev_env, self.pool, self.folder = dev_env, pool, folder
        self.ring = new_key_entry("t1")

    async def enrolled(self, holder: str, kind: str = "staff") -> Path:
        path = self.folder / f"{holder}-{uuid.uuid4().hex[:6]}.key"
        async with self.pool.acquire() as conn:
            await key_file_enrolled(conn, path, holder=holder, kind=kind, enrolled_by="admin-ida")
        return path

    def codec(self, key: Path | None) -> EncryptionCodec:
        codec = EncryptionCodec(parse_key_ring(self.ring))
        codec.signer = load_signer(key) if key else None
        return codec

    async def client(self, codec: EncryptionCodec) -> Client:
        return await Client.connect(
            self.dev_env.client.service_client.config.target_host,
            namespace=self.dev_env.client.namespace,
            data_converter=data_converter(codec),
            interceptors=client_interceptors(codec),
        )

    async def signing_with(self, key: Path | None) -> Client:
        return await self.client(self.codec(key))

    async def worker_client(self) -> Client:
        """As worker.py: its own key, and the directory's check of every staff step."""
        codec = self.codec(await self.enrolled("worker", WORKER))
        codec.verifier = Verifier(directory_lookup(self.pool))
        return await self.client(codec)


@pytest.fixture
async def keys(dev_env, pool, tmp_path) -> Keys:
    return Keys(dev_env, pool, tmp_path)


def a_worker(client: Client, queue: str, pool) -> Worker:
    return Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=activities_for(pool),
        workflow_runner=workflow_runner(),
    )


async def refused_start(client: Client, queue: str, request) -> str:
    """Starts a fast change order; its run must fail refused, before anything is done."""
    process_id = f"fast-change-order-{request.account_id}-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        FastChangeOrder.run, request, id=process_id, task_queue=queue
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), 30)
    assert STEP_REFUSED in repr(failed.value.cause), failed.value.cause
    return process_id


def requested_by(actor: str, acc):
    request = fast_request(acc, fast_lines(Premium=3))
    return request.model_copy(update={"requested_by": actor})


async def refused_update(client: Client, process_id: str, step) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await client.get_workflow_handle(process_id).execute_update(FastChangeOrder.confirm, step)
    assert "refused" in str(failed.value.cause), failed.value.cause
    return str(failed.value.cause)


async def test_the_shared_ring_without_bens_key_cannot_act_as_ben(keys, pool):
    queue = f"test-{uuid.uuid4().hex[:8]}"
    ben, anna = await keys.enrolled("ops-ben"), await keys.enrolled("ops-anna")
    ring_only = await keys.signing_with(None)  # the shared ring, no key of one's own
    as_anna = await keys.signing_with(anna)
    as_ben = await keys.signing_with(ben)
    acc, other = [await new_account(pool, licences={"Premium": 2}) for _ in range(2)]
    async with refusals_written(pool), a_worker(await keys.worker_client(), queue, pool):
        # Starts naming ops-ben: unsigned, and signed by ops-anna.
        forged = [
            await refused_start(c, queue, requested_by("ops-ben", a))
            for c, a in ((ring_only, acc), (as_anna, other))
        ]
        forged_rows = await rows_when_written(pool, forged, 2)
        assert len(forged_rows) == 2
        assert (
            await pool.fetchval("SELECT count(*) FROM audit_log WHERE process_id = ANY($1)", forged)
            == 0
        )
        reasons = sorted(r["reason"] for r in forged_rows)
        assert reasons == [
            "names ops-ben, but is signed with the key of ops-anna",
            "names staff member ops-ben but is not signed with ops-ben's own key",
        ]

        # ops-ben with his own key starts; an update naming him without it is refused.
        handle = await start(as_ben, queue, FastChangeOrder, requested_by("ops-ben", acc))
        for client in (ring_only, as_anna):
            await refused_update(client, handle.id, StaffStep(actor="ops-ben"))
        rows = await rows_when_written(pool, [handle.id], 2)
        assert len(rows) == 2 and {r["checked_in"] for r in rows} == {"workflow"}
        # who: the person the step claimed to be, said as not proven
        assert {r["actor"] for r in [*rows, *forged_rows]} == {"ops-ben (claimed, not proven)"}
        assert (await handle.query(FastChangeOrder.status)).stage == Stage.AWAITING_PARTNER

        # And his own step is taken.
        answer = await as_ben.get_workflow_handle(handle.id).execute_update(
            FastChangeOrder.confirm, StaffStep(actor="ops-ben")
        )
        assert answer.stage == Stage.APPLIED


async def test_a_signal_naming_ben_without_his_key_is_dropped_and_logged(
    keys, pool, tmp_path, monkeypatch
):
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(tmp_path))
    await enable_partner_management(pool)
    queue = f"test-{uuid.uuid4().hex[:8]}"
    partner = await new_partner(pool, users=1)
    cm = await keys.signing_with(await keys.enrolled(CM))
    ring_only = await keys.signing_with(None)
    async with refusals_written(pool), a_worker(await keys.worker_client(), queue, pool):
        router = await start(cm, queue, LeadQueueRouter, router_request([partner]))
        before = await router.query("status")
        # A signal whose input names ops-ben (a field the signal itself does not read).
        forged = {"lead_ids": ["L-1"], "actor": "ops-ben"}
        await ring_only.get_workflow_handle(router.id).signal("leads_returned", forged)
        (row,) = await rows_when_written(pool, [router.id], 1)
        assert "ops-ben" in row["reason"] and row["checked_in"] == "workflow"
        # Taken by the worker (the row is written) and dropped: the queue is as it was.
        assert await router.query("status") == before
    assert len(await refusal_rows(pool, [router.id])) == 1


async def test_a_revoked_key_and_the_portal_key_cannot_act_as_staff(keys, pool, monkeypatch):
    queue = f"test-{uuid.uuid4().hex[:8]}"
    bo = await keys.enrolled("cm-bo")
    portal = await keys.enrolled("portal", SERVICE)
    as_bo, as_portal = await keys.signing_with(bo), await keys.signing_with(portal)
    acc = await new_account(pool, licences={"Premium": 2})
    async with refusals_written(pool), a_worker(await keys.worker_client(), queue, pool):
        handle = await start(
            as_bo, queue, FastChangeOrder, requested_by("cm-bo", acc)
        )  # his key works
        why = await refused_update(as_portal, handle.id, StaffStep(actor="cm-bo"))
        assert "service key of portal" in why
        async with pool.acquire() as conn:
            assert await revoke(conn, holder="cm-bo", revoked_by="admin-ida")
        why = await refused_update(as_bo, handle.id, StaffStep(actor="cm-bo"))
        assert "revoked" in why
        # The holder of the revoked key dates the step back to before the revocation.
        an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        monkeypatch.setattr(binding, "_now", lambda: an_hour_ago)
        why = await refused_update(as_bo, handle.id, StaffStep(actor="cm-bo"))
        assert f"a step issued at {an_hour_ago}, not now" in why
        rows = await rows_when_written(pool, [handle.id], 3)
        assert len(rows) == 3
        assert (await handle.query(FastChangeOrder.status)).stage == Stage.AWAITING_PARTNER
