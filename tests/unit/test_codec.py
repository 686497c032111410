"""The payload codec: AES-GCM, key id in the metadata, rotation, clear errors."""

import base64

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.exceptions import ApplicationError

from codec import (
    ENCODING,
    KEY_ID,
    PLAINTEXT_REFUSED,
    EncryptionCodec,
    KeyRingError,
    codec_from_environment,
    data_converter,
    new_key_entry,
    parse_key_ring,
)

K1, K2 = new_key_entry("k1"), new_key_entry("k2")


def payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_encrypts_with_the_first_key_and_round_trips():
    codec = EncryptionCodec(parse_key_ring(f"{K2},{K1}"))
    (sealed,) = await codec.encode([payload('{"email": "a@b.example"}')])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k2"
    assert b"a@b.example" not in sealed.data
    (opened,) = await codec.decode([sealed])
    assert opened == payload('{"email": "a@b.example"}')


async def test_rotated_ring_still_decrypts_payloads_of_the_old_key():
    (old,) = await EncryptionCodec(parse_key_ring(K1)).encode([payload('"x"')])
    rotated = EncryptionCodec(parse_key_ring(f"{K2},{K1}"))
    assert (await rotated.decode([old]))[0] == payload('"x"')


async def test_a_removed_key_is_named_in_the_error():
    (old,) = await EncryptionCodec(parse_key_ring(K1)).encode([payload('"x"')])
    with pytest.raises(KeyRingError, match="'k1', which is not in the key ring"):
        await EncryptionCodec(parse_key_ring(K2)).decode([old])


async def test_an_unencrypted_payload_is_refused_with_the_reason():
    """Fail closed: a plaintext payload reaching a codec with keys (a starter without the key
    ring) becomes an error where it is converted, never a value."""
    plain = payload('{"account_id": "ACME"}')
    (decoded,) = await EncryptionCodec(parse_key_ring(K1)).decode([plain])
    assert b"ACME" not in decoded.SerializeToString()
    converter = data_converter(EncryptionCodec(parse_key_ring(K1))).payload_converter
    with pytest.raises(ApplicationError) as refused:
        converter.from_payloads([decoded], [dict])
    assert refused.value.type == PLAINTEXT_REFUSED and refused.value.non_retryable
    assert "PARTNERFLOW_ENCRYPTION_KEYS" in refused.value.message


async def test_plaintext_history_is_read_only_when_chosen():
    plain = payload('"written before encryption"')
    codec = EncryptionCodec(parse_key_ring(K1), accept_plaintext=True)
    assert await codec.decode([plain]) == [plain]


def test_the_environment_chooses_plaintext_history_explicitly(monkeypatch):
    monkeypatch.setenv("PARTNERFLOW_ENCRYPTION_KEYS", K1)
    monkeypatch.delenv("PARTNERFLOW_ACCEPT_PLAINTEXT_HISTORY", raising=False)
    assert codec_from_environment().accept_plaintext is False
    monkeypatch.setenv("PARTNERFLOW_ACCEPT_PLAINTEXT_HISTORY", "1")
    assert codec_from_environment().accept_plaintext is True


async def test_encrypted_payloads_still_convert_with_the_refusing_converter():
    converter = data_converter(EncryptionCodec(parse_key_ring(K1)))
    sealed = await converter.encode([{"account_id": "ACME"}])
    assert await converter.decode(sealed, [dict]) == [{"account_id": "ACME"}]


async def test_tampered_payload_is_rejected():
    codec = EncryptionCodec(parse_key_ring(K1))
    (sealed,) = await codec.encode([payload('"x"')])
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
        await codec.decode([sealed])


@pytest.mark.parametrize(
    "ring, message",
    [
        ("", "empty"),
        ("k1", "is not id:base64key"),
        ("k1:not-base64!", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "has 5 bytes"),
    ],
)
def test_bad_key_rings_are_explained(ring, message):
    with pytest.raises(KeyRingError, match=message):
        parse_key_ring(ring)
