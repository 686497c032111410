"""Encryption of Temporal payloads: contact e-mails, phone numbers and document names are
personal data, and Temporal's history must not hold them in the clear.

AES-256-GCM per payload; the key id travels in the payload's metadata, so keys rotate:
the first key of the ring encrypts, every key of the ring decrypts. Payloads without our
metadata (histories written before encryption was switched on) pass through unchanged.

    PARTNERFLOW_ENCRYPTION_KEYS="k2:<base64 32 bytes>,k1:<base64 32 bytes>"

`python codec.py new-key k3` prints a new entry for the ring."""

import base64
import dataclasses
import os
import sys
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.converter import PayloadCodec as _PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


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
    def __init__(self, ring: dict[str, bytes]) -> None:
        self.key_id = next(iter(ring))
        self.ciphers = {key_id: AESGCM(key) for key_id, key in ring.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self.ciphers[self.key_id]
        out = []
        for p in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, p.SerializeToString(), self.key_id.encode())
            out.append(Payload(metadata={"encoding": ENCODING,
                                         KEY_ID: self.key_id.encode()},
                               data=nonce + sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                out.append(p)  # written before encryption was on
                continue
            key_id = p.metadata.get(KEY_ID, b"").decode()
            cipher = self.ciphers.get(key_id)
            if cipher is None:
                raise KeyRingError(f"payload encrypted with key {key_id!r}, which is not in "
                                   "the key ring: add it to PARTNERFLOW_ENCRYPTION_KEYS")
            plain = cipher.decrypt(p.data[:NONCE_BYTES], p.data[NONCE_BYTES:], key_id.encode())
            out.append(Payload.FromString(plain))
        return out


def codec_from_environment() -> EncryptionCodec | None:
    text = os.environ.get("PARTNERFLOW_ENCRYPTION_KEYS", "").strip()
    return EncryptionCodec(parse_key_ring(text)) if text else None


def data_converter(codec: EncryptionCodec | None = None) -> DataConverter:
    """Pydantic payloads; with a codec, payloads and failure messages are encrypted."""
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def new_key_entry(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "new-key":
        print(new_key_entry(sys.argv[2]))
    else:
        sys.exit("usage: python codec.py new-key KEY_ID")
