"""Staff identity the worker verifies: each step signed by its sender's own key.

The key ring says only "someone trusted wrote this"; the actor of a step is a field inside
the sealed input, so a ring holder could name anyone. So each sender holds an Ed25519 key of
its own (the private half in its own 0600 file, the public half in the `staff_keys` table of
the people directory), and the client's codec signs every step input it seals: the step's
facts (kind, name, request id, workflow id, when issued, see codec.binding), the key's id and
a digest of the input (which holds the actor). The worker's codec, outside the sandbox where
it may read the directory, checks the signature of every step input that names a staff
member as its actor:

- signed with an active staff key of that very person: taken;
- signed with the worker's own key (what a process sends on: a child, a signal, its next
  run): taken, the worker holds the ring and the database anyway;
- signed with a service key (the portal, the signing page): refused, those act only for
  partner users and customers' signers;
- unsigned, signed by someone else, with a key the directory does not know, with a key
  revoked before the step was issued, or a signature that does not match: refused.

A refused input becomes the same marker as a payload sealed for another process, so the
workflow refuses it before any handler runs and the worker logs it to security_log (door
"workflow"). Keys are never deleted, only revoked with a time: a history replayed later
decides as it did the first time (the step's issue time is signed, and checked to be fresh
where the workflow reads the input)."""

import base64
import dataclasses
import hashlib
import json
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from temporalio.api.common.v1 import Payload

from codec.binding import FACTS, SIGNED_WITH, StepFacts

KEY = SIGNED_WITH  # metadata: the id of the key that signed the step
SIGNATURE = "partnerflow-signature"  # metadata: base64 Ed25519 signature
# The fields of a step's input that name who acts.
ACTOR_FIELDS = ("actor", "requested_by")
STAFF, SERVICE, WORKER = "staff", "service", "worker"


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:24]


def public_bytes(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _message(facts: bytes, key_id: str, data: bytes) -> bytes:
    return b"\x00".join(
        [b"partnerflow-step-v1", facts, key_id.encode(), hashlib.sha256(data).digest()]
    )


@dataclasses.dataclass(frozen=True)
class Signer:
    """The private key a client signs its steps with."""

    private: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        return key_id_of(self.private.public_key())

    def sign(self, payload: Payload) -> Payload:
        """A step's input (it carries facts) signed; anything else as it is."""
        facts = payload.metadata.get(FACTS)
        if facts is None:
            return payload
        signed = Payload()
        signed.CopyFrom(payload)
        signed.metadata[KEY] = self.key_id.encode()
        signed.metadata[SIGNATURE] = base64.b64encode(
            self.private.sign(_message(facts, self.key_id, payload.data))
        )
        return signed


def new_key_file(path: Path) -> Ed25519PublicKey:
    """A new key pair: the private half written to `path` (0600, never over an existing
    file), the public half returned for the directory."""
    private = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return private.public_key()


class KeyFileError(ValueError):
    pass


def load_signer(path: Path) -> Signer:
    """The signer of a key file; refused when other users could read it."""
    if path.stat().st_mode & 0o077:
        raise KeyFileError(f"{path} can be read by other users: chmod 600 {path}")
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key")
    return Signer(private)


@dataclasses.dataclass(frozen=True)
class KeyRow:
    holder: str
    kind: str
    public_key: bytes
    revoked_at: datetime | None


# What the verifier asks the directory: the key (None: unknown) and which of the actors are
# staff members (ever: a deactivated one is still refused as staff, not as nobody).
Lookup = Callable[[str | None, list[str]], Awaitable[tuple[KeyRow | None, set[str]]]]


def actors_of(payload: Payload) -> list[str]:
    try:
        value = json.loads(payload.data)
    except ValueError:
        return []
    if not isinstance(value, dict):
        return []
    return [a for f in ACTOR_FIELDS if isinstance(a := value.get(f), str)]


class Verifier:
    """Decides, for the worker's codec, whether a step input may name its actor."""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup

    async def refusal(self, payload: Payload) -> str | None:
        """Why this step input is refused, or None (taken, or not a step naming staff)."""
        facts = StepFacts.from_payload(payload)
        if facts is None:
            return None
        actors = actors_of(payload)
        if not actors:
            return None
        raw_key = payload.metadata.get(KEY)
        key_id = raw_key.decode(errors="replace") if raw_key else None
        row, staff = await self.lookup(key_id, actors)
        named = [a for a in actors if a in staff]
        if not named:
            return None  # partner users and signers: decided by the directory's permissions
        actor = named[0]
        signature = payload.metadata.get(SIGNATURE)
        if key_id is None or signature is None:
            return f"names staff member {actor} but is not signed with {actor}'s own key"
        if row is None:
            return f"names {actor}, signed with a key the people directory does not know"
        try:
            Ed25519PublicKey.from_public_bytes(row.public_key).verify(
                base64.b64decode(signature), _message(payload.metadata[FACTS], key_id, payload.data)
            )
        except (InvalidSignature, ValueError):
            return f"names {actor}, and its signature does not match (altered or made up)"
        if row.kind == SERVICE:
            return (
                f"names staff member {actor}, signed with the service key of {row.holder}, "
                "which acts only for partner users and customers' signers"
            )
        if row.kind == STAFF and any(a != row.holder for a in named):
            return f"names {actor}, but is signed with the key of {row.holder}"
        if row.revoked_at is not None:
            issued = _issued(facts)
            if issued is None or issued >= row.revoked_at:
                return f"signed with {row.holder}'s key, revoked at {row.revoked_at.isoformat()}"
        return None


def _issued(facts: StepFacts) -> datetime | None:
    try:
        issued = datetime.fromisoformat(facts.issued)
    except ValueError:
        return None
    return issued if issued.tzinfo is not None else None  # a time without a zone: none


def directory_lookup(pool: Any) -> Lookup:
    """The verifier's questions, answered by the people directory (one round trip)."""

    async def lookup(key_id: str | None, actors: list[str]) -> tuple[KeyRow | None, set[str]]:
        row = await pool.fetchrow(
            "SELECT (SELECT coalesce(array_agg(id), '{}') FROM staff_users"
            "        WHERE id = ANY($2::text[])) AS staff,"
            "  k.holder, k.kind, k.public_key, k.revoked_at"
            " FROM (SELECT $1::text AS key_id) q LEFT JOIN staff_keys k ON k.key_id = q.key_id",
            key_id,
            actors,
        )
        key = (
            None
            if row["holder"] is None
            else KeyRow(row["holder"], row["kind"], bytes(row["public_key"]), row["revoked_at"])
        )
        return key, set(row["staff"])

    return lookup
