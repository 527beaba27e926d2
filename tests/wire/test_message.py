"""OISA messages: the construct schema and the fast codec agree, and bad bytes raise FrameError."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oisa.errors import FrameError
from oisa.testing import strategies as oisa_st
from oisa.wire.oisa import (
    CollDtype,
    CollExt,
    CollOp,
    Message,
    Opcode,
    decode_message,
    decode_message_construct,
    decode_messages,
    encode_message,
    encode_message_construct,
)


@given(oisa_st.messages())
def test_both_codecs_write_the_same_bytes_and_read_them_back(message):
    encoded = encode_message(message)
    assert encoded == encode_message_construct(message)
    assert len(encoded) == message.wire_size
    assert decode_message(encoded) == (message, len(encoded))
    assert decode_message_construct(encoded) == message


@given(oisa_st.mutated_bytes(oisa_st.messages(max_length=st.just(64)).map(encode_message)))
def test_both_decoders_agree_on_mutated_bytes(data):
    """Either both decode to the same message, or both raise FrameError; nothing else escapes."""
    try:
        fast = decode_message(data)
    except FrameError:
        fast = None
    try:
        slow = decode_message_construct(data)
    except FrameError:
        slow = None
    if fast is not None and fast[1] != len(data):
        fast = None  # the fast decoder reads a stream; trailing bytes belong to the next message
    assert (fast[0] if fast else None) == slow


@given(st.lists(oisa_st.messages(max_length=st.just(300)), max_size=8))
def test_a_stream_of_messages_decodes_to_the_same_list(batch):
    assert decode_messages(b"".join(map(encode_message, batch))) == batch


def dma_write(**changes):
    fields = dict(opcode=Opcode.DMA_WR, src=1, dst=2, tag=7, length=4, address=0x1000, payload=b"abcd")
    fields.update(changes)
    return Message(**fields)


@pytest.mark.parametrize(
    ("data", "field", "offset"),
    [
        (b"", "opcode", 0),
        (encode_message(dma_write())[:9], "tag", 9),
        (encode_message(dma_write())[:-1], "payload", 23),
        (b"\xee" + encode_message(dma_write())[1:], "opcode", 0),
    ],
)
def test_malformed_messages_name_the_field_and_offset(data, field, offset):
    with pytest.raises(FrameError) as info:
        decode_message_construct(data)
    assert (info.value.field, info.value.offset) == (field, offset)


def test_trailing_bytes_are_an_error_not_ignored():
    with pytest.raises(FrameError, match="1 bytes after the end"):
        decode_message_construct(encode_message(dma_write()) + b"\0")


def test_reserved_address_bits_are_refused():
    raw = bytearray(encode_message(dma_write()))
    raw[12] |= 0x80
    for decode in (decode_message_construct, lambda d: decode_message(d)[0]):
        with pytest.raises(FrameError, match="reserved"):
            decode(bytes(raw))


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (dma_write(length=5), "payload"),
        (dma_write(length=5000, payload=bytes(5000)), "length"),
        (dma_write(aux=3), "aux"),
        (dma_write(address=1 << 57), "address"),
        (Message(Opcode.LOAD, 0, 1, length=300), "length"),
        (Message(Opcode.CPL, 0, 1, aux=3), "aux"),
        # The fast encoder leaves these to struct's own range checks, then to check_message
        (dma_write(tc=8), "tc"),
        (dma_write(load=8), "load"),
        (dma_write(src=1 << 16), "src"),
        (dma_write(tag=-1), "tag"),
        # and tests these itself, since they would slip into a neighbouring bit field
        (dma_write(hops=32), "hops"),
        (dma_write(ro=2), "ro"),
        (dma_write(count=2), "opcode"),
        (Message(Opcode.COLL_REDUCE, 0, 1, length=8, payload=bytes(8)), "coll.group"),
        (dma_write(coll=CollExt(1, 2, CollOp.SUM, CollDtype.INT32)), "coll.group"),
        (Message(0xEE, 0, 1), "opcode"),  # type: ignore[arg-type]
    ],
)
def test_encoders_refuse_what_decoders_would_refuse(message, field):
    for encode in (encode_message, encode_message_construct):
        with pytest.raises(FrameError) as info:
            encode(message)
        assert info.value.field == field
