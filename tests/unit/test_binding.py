"""Each payload sealed for its process: it opens for that process and for the codec server
(no context), and only as a refusal marker for any other process."""

from temporalio.api.common.v1 import Payload
from temporalio.converter import WorkflowSerializationContext

from codec import EncryptionCodec, new_key_entry, parse_key_ring
from codec.binding import BOUND, MISBOUND_ENCODING

CODEC = EncryptionCodec(parse_key_ring(new_key_entry("k1")))


def payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


def of(workflow_id: str) -> EncryptionCodec:
    return CODEC.with_context(WorkflowSerializationContext("default", workflow_id))


async def test_a_payload_opens_for_its_process_and_for_the_codec_server():
    plain = payload('{"actor": "ops-ben"}')
    (sealed,) = await of("change-order-A").encode([plain])
    assert sealed.metadata[BOUND] == b"default/change-order-A"
    assert await of("change-order-A").decode([sealed]) == [plain]
    assert await CODEC.decode([sealed]) == [plain]  # the codec server: no context


async def test_a_payload_sent_to_another_process_is_a_refusal_marker_not_an_error():
    (sealed,) = await of("change-order-A").encode([payload('{"actor": "ops-ben"}')])
    (refused,) = await of("change-order-B").decode([sealed])
    assert refused.metadata["encoding"] == MISBOUND_ENCODING.encode()
    assert b"change-order-A" in refused.data and b"ops-ben" not in refused.data


async def test_a_binding_edited_to_the_other_process_does_not_open():
    (sealed,) = await of("change-order-A").encode([payload('{"actor": "ops-ben"}')])
    sealed.metadata[BOUND] = b"default/change-order-B"
    (refused,) = await of("change-order-B").decode([sealed])
    assert refused.metadata["encoding"] == MISBOUND_ENCODING.encode()
    assert b"does not open" in refused.data
