"""The message stream survives any cut into flits."""

from hypothesis import given
from hypothesis import strategies as st

from oisa.link.framing import StreamPacker, StreamUnpacker
from oisa.testing import strategies as oisa_st
from oisa.wire.oisa import NO_MESSAGE_START, encode_message, message_size


@given(st.lists(oisa_st.messages(max_length=st.just(600)), min_size=1, max_size=12),
       st.integers(1, 300), st.data())
def test_messages_come_out_as_they_went_in(batch, capacity, data):
    packer, unpacker = StreamPacker(), StreamUnpacker()
    received = []
    pushed = 0
    while pushed < len(batch) or packer.queued_bytes:
        # messages keep arriving while flits are being cut, as they do on a busy link
        arriving = data.draw(st.integers(0, 2)) if packer.queued_bytes else 1
        for message in batch[pushed:pushed + arriving]:
            packer.push(encode_message(message))
        pushed += arriving
        payload, first = packer.next_payload(capacity)
        assert 0 < len(payload) <= capacity
        if first != NO_MESSAGE_START:
            assert message_size(payload[first:first + 12] + bytes(12)) > 0  # a header starts there
        received += unpacker.feed(payload)
    assert received == batch
    assert unpacker.pending_bytes == 0


def test_short_messages_share_one_flit():
    from oisa.wire.oisa import Message, Opcode

    packer = StreamPacker()
    for tag in range(5):
        packer.push(encode_message(Message(Opcode.LOAD, 0, 1, tag=tag, length=64)))
    payload, first = packer.next_payload(236)
    assert (len(payload), first, packer.queued_bytes) == (100, 0, 0)
