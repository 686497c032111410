"""Encryption of Temporal payloads: contact e-mails, phone numbers and document names are
personal data, and Temporal's history must not hold them in the clear.

AES-256-GCM per payload; the key id travels in the payload's metadata, so keys rotate:
the first key of the ring encrypts, every key of the ring decrypts.

Fail closed: a payload that is not encrypted (sent by a starter without the key ring, or
typed into the UI) is refused by a worker with keys. Decoding turns it into a marker that
the payload converter refuses with a non-retryable `PlaintextRefused` error, so a step is
rejected with the reason instead of entering the process (a start fails its workflow at
once, before any activity). Histories written before encryption was switched on need
`accept_plaintext` (PARTNERFLOW_ACCEPT_PLAINTEXT_HISTORY=1 on the workers) until those
processes have ended; the codec server always shows such payloads as they are.

    PARTNERFLOW_ENCRYPTION_KEYS="k2:<base64 32 bytes>,k1:<base64 32 bytes>"

`python -m codec new-key k3` prints a new entry for the ring."""

import base64
import dataclasses
import os
from collections.abc import Sequence
from itertools import zip_longest
from typing import Any, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    EncodingPayloadConverter,
    SerializationContext,
    WithSerializationContext,
)
from temporalio.converter import PayloadCodec as _PayloadCodec
from temporalio.exceptions import ApplicationError

from codec import binding
from codec.signing import Signer, Verifier, actors_of

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
# What a refused plaintext payload decodes to; only RefusePlaintext reads this encoding.
REFUSED_ENCODING = binding.PLAINTEXT_REFUSED_ENCODING.decode()
PLAINTEXT_REFUSED = "PlaintextRefused"
PLAINTEXT_MESSAGE = (
    "an unencrypted payload was refused: this worker encrypts Temporal "
    "payloads, so the sender needs the same PARTNERFLOW_ENCRYPTION_KEYS "
    "(nothing was done)"
)


class KeyRingError(ValueError):
    pass


def parse_key_ring(text: str) -> dict[str, bytes]:
    """`id:base64key,id:base64key` -> {id: key}, in order (the first one encrypts)."""
    ring: dict[str, bytes] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id:
            raise KeyRingError(f"key ring entry {entry[:12]!r}… is not id:base64key")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise KeyRingError(f"key {key_id!r} is not valid base64") from None
        if len(key) != 32:
            raise KeyRingError(f"key {key_id!r} has {len(key)} bytes; AES-256 needs 32")
        ring[key_id] = key
    if not ring:
        raise KeyRingError("the key ring is empty")
    return ring


class EncryptionCodec(_PayloadCodec, WithSerializationContext):
    """Seals each payload with the namespace and workflow id it belongs to (associated
    data, also kept in the metadata so that the codec server can open it without a
    context). Decoding for a workflow, a payload sealed for another one becomes a marker
    the workflow refuses (codec.binding): never an error, which would fail the workflow
    task again and again and stall the process."""

    def __init__(self, ring: dict[str, bytes], *, accept_plaintext: bool = False) -> None:
        self.key_id = next(iter(ring))
        self.ciphers = {key_id: AESGCM(key) for key_id, key in ring.items()}
        self.accept_plaintext = accept_plaintext
        self.bound: str | None = None  # the workflow this copy encodes and decodes for
        # The sender's own key: each step input sealed here is signed with it (codec.signing).
        self.signer: Signer | None = None
        # On a worker: who may name which actor, checked on each step input it opens.
        self.verifier: Verifier | None = None

    def with_context(self, context: SerializationContext) -> Self:
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.bound = binding.bound_to(context)
        return copy

    @staticmethod
    def _associated(key_id: str, bound: str | None) -> bytes:
        # A payload sealed before binding (no BOUND metadata) had the key id alone.
        return key_id.encode() if bound is None else f"{key_id}\x00{bound}".encode()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self.ciphers[self.key_id]
        out = []
        for p in payloads:
            if self.signer is not None:
                p = self.signer.sign(p)
            nonce = os.urandom(NONCE_BYTES)
            metadata = {"encoding": ENCODING, KEY_ID: self.key_id.encode()}
            if self.bound is not None:
                metadata[binding.BOUND] = self.bound.encode()
            sealed = cipher.encrypt(
                nonce, p.SerializeToString(), self._associated(self.key_id, self.bound)
            )
            out.append(Payload(metadata=metadata, data=nonce + sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                # Sent in the clear: refused where it is converted (see the module doc),
                # unless old histories written without encryption must still replay.
                out.append(
                    p
                    if self.accept_plaintext
                    else Payload(metadata={"encoding": REFUSED_ENCODING.encode()})
                )
                continue
            key_id = p.metadata.get(KEY_ID, b"").decode()
            cipher = self.ciphers.get(key_id)
            if cipher is None:
                raise KeyRingError(
                    f"payload encrypted with key {key_id!r}, which is not in "
                    "the key ring: add it to PARTNERFLOW_ENCRYPTION_KEYS"
                )
            raw_bound = p.metadata.get(binding.BOUND)
            bound = None if raw_bound is None else raw_bound.decode()
            if self.bound is not None and bound is not None and bound != self.bound:
                out.append(_misbound(f"sealed for another process ({bound})"))
                continue
            try:
                plain = cipher.decrypt(
                    p.data[:NONCE_BYTES], p.data[NONCE_BYTES:], self._associated(key_id, bound)
                )
            except InvalidTag:
                if self.bound is None:
                    raise  # no workflow to refuse it for: said to whoever decodes
                out.append(_misbound("the seal does not open: altered or made up"))
                continue
            inner = Payload.FromString(plain)
            if self.verifier is not None and self.bound is not None:
                # A staff step not signed by its actor is refused like a misbound payload.
                reason = await self.verifier.refusal(inner)
                if reason is not None:
                    out.append(_misbound(reason, claimed=actors_of(inner)))
                    continue
            out.append(inner)
        return out


def _misbound(reason: str, claimed: list[str] | None = None) -> Payload:
    metadata = {"encoding": binding.MISBOUND_ENCODING.encode()}
    if claimed:
        metadata[binding.CLAIMED] = claimed[0].encode()
    return Payload(metadata=metadata, data=reason.encode())


class RefusePlaintext(EncodingPayloadConverter):
    """Converts the marker of a refused plaintext payload into a non-retryable error: an
    update is rejected with it, a workflow fails with it (never a workflow task retried
    for ever)."""

    @property
    def encoding(self) -> str:
        return REFUSED_ENCODING

    def to_payload(self, value):
        return None  # never chosen to encode

    def from_payload(self, payload, type_hint=None):
        raise ApplicationError(PLAINTEXT_MESSAGE, type=PLAINTEXT_REFUSED, non_retryable=True)


class RefuseMisbound(EncodingPayloadConverter):
    """The marker of a payload sealed for another process (or one whose seal does not
    open): refused, reported once (codec.binding)."""

    @property
    def encoding(self) -> str:
        return binding.MISBOUND_ENCODING

    def to_payload(self, value):
        return None  # never chosen to encode

    def from_payload(self, payload, type_hint=None):
        if workflow.in_workflow():
            binding.refuse_misbound(payload)
        raise ApplicationError(
            f"refused: {payload.data.decode(errors='replace')}",
            type=binding.STEP_REFUSED,
            non_retryable=True,
        )


class EncryptedPayloadConverter(PydanticPayloadConverter, WithSerializationContext):
    """The pydantic converter that also reads (refuses) the plaintext and misbound markers,
    writes a step's facts under the seal (codec.binding.Stepped) and checks them where a
    workflow reads its own input."""

    # While histories written before encryption replay (accept_plaintext), an input without
    # facts is let through: a plaintext one is accepted in that mode anyway.
    lenient = False

    def __init__(self) -> None:
        super().__init__()
        markers = (RefusePlaintext(), RefuseMisbound())
        self.converters = {**self.converters, **{m.encoding.encode(): m for m in markers}}
        self.context: SerializationContext | None = None

    def with_context(self, context: SerializationContext) -> Self:
        copy = type(self)()
        copy.context = context
        return copy

    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        payloads = super().to_payloads(
            [v.value if isinstance(v, binding.Stepped) else v for v in values]
        )
        for value, payload in zip(values, payloads, strict=True):
            if isinstance(value, binding.Stepped):
                payload.metadata[binding.FACTS] = value.facts.to_json()
        return payloads

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[type] | None = None
    ) -> list[Any]:
        if binding.is_start_or_signal_input(self.context):
            # Read outside the run's code: a forged start or signal is refused here.
            out: list[Any] = []
            for payload, hint in zip_longest(payloads, type_hints or []):
                binding.check_start_or_signal_input(payload, self.context, hint, self.lenient)
                try:
                    (value,) = super().from_payloads([payload], [hint] if hint else None)
                except Exception:  # noqa: BLE001 - a step's input that fits no such input
                    facts = binding.StepFacts.from_payload(payload)
                    if facts is None:
                        raise
                    binding.refuse_input(
                        payload,
                        self.context,
                        hint,
                        f"an input of {facts.kind} {facts.step!r} that fits no such input here",
                    )
                binding.remember_start(payload, value, self.lenient)
                out.append(value)
            return out
        step_input = binding.is_step_input(self.context)
        if step_input:  # before conversion: a forged input is refused for what it is
            for payload in payloads:
                binding.check_step_input(payload, self.lenient)
        values = super().from_payloads(payloads, type_hints)
        if step_input:
            for payload, value in zip(payloads, values, strict=True):
                binding.remember_start_or_signal(payload, value, self.lenient)
        return values


class LenientPayloadConverter(EncryptedPayloadConverter):
    lenient = True


class FailureConverter(DefaultFailureConverterWithEncodedAttributes):
    """Failure messages and stack traces are encrypted, except the refusals of a plaintext
    or forged input: their sender may have no key ring to read them with, and their words
    carry no personal data."""

    def to_failure(self, exception, payload_converter, failure) -> None:
        if isinstance(exception, ApplicationError) and exception.type in (
            PLAINTEXT_REFUSED,
            binding.STEP_REFUSED,
        ):
            self._error_to_failure(exception, payload_converter, failure)
            failure.stack_trace = ""
            return
        super().to_failure(exception, payload_converter, failure)


def codec_from_environment() -> EncryptionCodec | None:
    text = os.environ.get("PARTNERFLOW_ENCRYPTION_KEYS", "").strip()
    accept = os.environ.get("PARTNERFLOW_ACCEPT_PLAINTEXT_HISTORY", "").strip() == "1"
    return EncryptionCodec(parse_key_ring(text), accept_plaintext=accept) if text else None


def data_converter(codec: EncryptionCodec | None = None) -> DataConverter:
    """Pydantic payloads; with a codec, payloads and failure messages are encrypted and
    unencrypted payloads are refused."""
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_converter_class=(
            LenientPayloadConverter if codec.accept_plaintext else EncryptedPayloadConverter
        ),
        payload_codec=codec,
        failure_converter_class=FailureConverter,
    )


def new_key_entry(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def client_interceptors(codec: EncryptionCodec | None) -> list[binding.StepBinding]:
    """With a key ring, each start, update and signal a client sends carries its step's facts
    under the seal, and a worker on that client checks them (codec.binding)."""
    return [binding.StepBinding()] if codec is not None else []
