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

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    EncodingPayloadConverter,
)
from temporalio.converter import PayloadCodec as _PayloadCodec
from temporalio.exceptions import ApplicationError

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
# What a refused plaintext payload decodes to; only RefusePlaintext reads this encoding.
REFUSED_ENCODING = "partnerflow/plaintext-refused"
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


class EncryptionCodec(_PayloadCodec):
    def __init__(self, ring: dict[str, bytes], *, accept_plaintext: bool = False) -> None:
        self.key_id = next(iter(ring))
        self.ciphers = {key_id: AESGCM(key) for key_id, key in ring.items()}
        self.accept_plaintext = accept_plaintext

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self.ciphers[self.key_id]
        out = []
        for p in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, p.SerializeToString(), self.key_id.encode())
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: self.key_id.encode()},
                    data=nonce + sealed,
                )
            )
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
            plain = cipher.decrypt(p.data[:NONCE_BYTES], p.data[NONCE_BYTES:], key_id.encode())
            out.append(Payload.FromString(plain))
        return out


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


class EncryptedPayloadConverter(PydanticPayloadConverter):
    """The pydantic converter that also reads (refuses) the plaintext marker."""

    def __init__(self) -> None:
        super().__init__()
        refuse = RefusePlaintext()
        self.converters = {**self.converters, refuse.encoding.encode(): refuse}


class FailureConverter(DefaultFailureConverterWithEncodedAttributes):
    """Failure messages and stack traces are encrypted, except the plaintext refusal: its
    sender has no key ring to read it with, and its words carry no personal data."""

    def to_failure(self, exception, payload_converter, failure) -> None:
        if isinstance(exception, ApplicationError) and exception.type == PLAINTEXT_REFUSED:
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
        payload_converter_class=EncryptedPayloadConverter,
        payload_codec=codec,
        failure_converter_class=FailureConverter,
    )


def new_key_entry(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"
