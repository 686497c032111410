"""The renegotiation's steps from the customer signing page: who may send them and
when a decline is refused. Refusals by update validators run on the dev server (the
time-skipping server answers those with "not found")."""

from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowUpdateFailedError

from domain.renegotiation_models import Declination, SignerStep, SigningEvidence, Stage
from tests.portal.signing_helpers import request_for
from tests.records_renegotiation import new_company
from tests.workflows.harness import running_worker, start_process
from tests.workflows.test_renegotiation import new_id, status
from workflows.renegotiation import Renegotiation


def evidence(contact_id: str, typed_name: str | None = "Kari Nordmann") -> SigningEvidence:
    return SigningEvidence(
        contact_id=contact_id,
        typed_name=typed_name,
        document_sha256="ab" * 32,
        language="nb",
        ip="127.0.0.1",
        user_agent="test",
        decided_at=datetime(2026, 12, 2, 12, tzinfo=UTC),
    )


async def test_only_the_signatory_signs_or_declines_with_the_pages_evidence(dev_env, pool):
    co = await new_company(pool)
    other = await new_company(pool)
    async with running_worker(dev_env.client, pool) as q:
        handle, _ = await start_process(
            dev_env.client, q, Renegotiation, request_for(co), process_id=new_id(co)
        )
        for step in (
            SignerStep(actor=other.contact_id, evidence=evidence(other.contact_id)),
            SignerStep(actor=co.contact_id, evidence=evidence(other.contact_id)),
            SignerStep(actor="kari.kundesenter", evidence=evidence(co.contact_id)),
        ):
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(Renegotiation.contract_signed, step)
            assert "only the signatory of contract" in refused.value.cause.message
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                Renegotiation.contract_declined,
                Declination(
                    actor=other.contact_id, reason="not mine", evidence=evidence(other.contact_id)
                ),
            )
        assert "only the signatory of contract" in refused.value.cause.message
        assert (await status(handle)).stage == Stage.AWAITING_SIGNATURE
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM contract_signing_evidence e JOIN"
                " contracts k ON k.id = e.contract_id WHERE k.process_id"
                " = $1",
                handle.id,
            )
            == 0
        )
        # staff recording a signature made elsewhere still works, without evidence
        signed = await handle.execute_update(
            Renegotiation.contract_signed, SignerStep(actor="kari.kundesenter")
        )
        assert signed.stage == Stage.SIGNED
        with pytest.raises(Exception):  # noqa: B017 - the process has ended: nothing to decline
            await handle.execute_update(
                Renegotiation.contract_declined,
                Declination(
                    actor=co.contact_id, reason="too late", evidence=evidence(co.contact_id)
                ),
            )
