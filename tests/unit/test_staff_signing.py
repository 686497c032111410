"""The signature of a step and what the worker decides from it (codec.signing), with the
directory's answers given as they would come back."""

import json
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.api.common.v1 import Payload

from codec.binding import FACTS, StepFacts
from codec.signing import KeyRow, Signer, Verifier, public_bytes

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def step(actor: str, issued: datetime = NOW) -> Payload:
    facts = StepFacts("update", "confirm", "u-1", "fast-change-order-A-1", issued.isoformat())
    return Payload(
        metadata={"encoding": b"json/plain", FACTS: facts.to_json()},
        data=json.dumps({"actor": actor}).encode(),
    )


def verifier(holder: str, private: Ed25519PrivateKey, kind="staff", revoked=None) -> Verifier:
    row = KeyRow(holder, kind, public_bytes(private.public_key()), revoked)

    async def lookup(key_id, actors):
        known = key_id == Signer(private).key_id
        return (row if known else None), {"ops-ben", "ops-anna"} & set(actors)

    return Verifier(lookup)


async def test_a_step_signed_by_its_actor_is_taken():
    ben = Ed25519PrivateKey.generate()
    assert await verifier("ops-ben", ben).refusal(Signer(ben).sign(step("ops-ben"))) is None


async def test_a_signed_step_whose_actor_was_changed_afterwards_is_refused():
    ben = Ed25519PrivateKey.generate()
    signed = Signer(ben).sign(step("ops-ben"))
    signed.data = json.dumps({"actor": "ops-anna"}).encode()
    why = await verifier("ops-ben", ben).refusal(signed)
    assert why == "names ops-anna, and its signature does not match (altered or made up)"


async def test_a_partner_users_step_needs_no_staff_signature():
    assert await verifier("x", Ed25519PrivateKey.generate()).refusal(step("partner-1")) is None


async def test_a_key_revoked_after_the_step_was_issued_still_reads_as_it_did():
    """A history replayed after the revocation decides as it did the first time."""
    ben = Ed25519PrivateKey.generate()
    revoked = NOW + timedelta(minutes=5)
    v = verifier("ops-ben", ben, revoked=revoked)
    assert await v.refusal(Signer(ben).sign(step("ops-ben", NOW))) is None
    late = await v.refusal(Signer(ben).sign(step("ops-ben", revoked)))
    assert late is not None and "revoked" in late


async def test_the_workers_key_signs_for_anyone_a_service_key_for_no_staff():
    key = Ed25519PrivateKey.generate()
    signed = Signer(key).sign(step("ops-ben"))
    assert await verifier("worker", key, kind="worker").refusal(signed) is None
    why = await verifier("portal", key, kind="service").refusal(signed)
    assert why is not None and "service key of portal" in why


async def test_a_revoked_key_with_an_issue_time_without_a_zone_is_refused():
    ben = Ed25519PrivateKey.generate()
    v = verifier("ops-ben", ben, revoked=NOW)
    naive = step("ops-ben", (NOW - timedelta(days=1)).replace(tzinfo=None))
    why = await v.refusal(Signer(ben).sign(naive))
    assert why is not None and "revoked" in why
