"""OISA flits: both codecs agree byte for byte; the CRC catches every corrupted flit."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oisa.errors import CrcError, FrameError
from oisa.testing import strategies as oisa_st
from oisa.wire.oisa import (
    ControlCode,
    Flit,
    FlitKind,
    decode_flit,
    decode_flit_construct,
    encode_flit,
    encode_flit_construct,
)


@given(oisa_st.flits(size=oisa_st.flit_sizes()))
def test_both_codecs_write_the_same_bytes_and_read_them_back(flit_and_size):
    flit, size = flit_and_size
    encoded = encode_flit(flit, size)
    assert len(encoded) == size
    assert encoded == encode_flit_construct(flit, size)
    assert decode_flit(encoded, size) == flit == decode_flit_construct(encoded, size)


@given(oisa_st.flits(), st.data())
def test_any_single_bit_flip_is_caught_by_the_crc(flit_and_size, data):
    flit, size = flit_and_size
    raw = bytearray(encode_flit(flit, size))
    bit = data.draw(st.integers(0, size * 8 - 1))
    raw[bit // 8] ^= 0x80 >> (bit % 8)
    for decode in (decode_flit, decode_flit_construct):
        with pytest.raises(CrcError):
            decode(bytes(raw), size)


@given(oisa_st.mutated_bytes(oisa_st.flits(size=st.just(64)).map(lambda fs: encode_flit(*fs))))
def test_both_decoders_agree_on_mutated_flits(data):
    outcomes = []
    for decode in (decode_flit, decode_flit_construct):
        try:
            outcomes.append(decode(data, 64))
        except FrameError as exc:
            outcomes.append(type(exc))
    assert outcomes[0] == outcomes[1]


def test_padding_that_is_not_zero_is_refused_even_with_a_good_crc():
    import zlib

    raw = bytearray(encode_flit(Flit(FlitKind.DATA, payload=b"abc"), 64))
    raw[40] = 1
    raw[-4:] = zlib.crc32(raw[:-4]).to_bytes(4, "big")
    with pytest.raises(FrameError, match="padding") as info:
        decode_flit_construct(bytes(raw), 64)
    assert info.value.offset == 40


@pytest.mark.parametrize(
    ("flit", "field"),
    [
        (Flit(FlitKind.DATA, seq=4096), "seq"),
        (Flit(FlitKind.DATA, code=ControlCode.NOP), "code"),
        (Flit(FlitKind.CONTROL, ControlCode.NOP, seq=3), "seq"),
        (Flit(FlitKind.DATA, payload=b"x" * 45), "payload"),
        (Flit(FlitKind.DATA, payload=b"xy", first_msg=2), "first_msg"),
        (Flit(FlitKind.CONTROL, ControlCode.CREDIT), "used"),
    ],
)
def test_encoders_refuse_invalid_flits(flit, field):
    for encode in (encode_flit, encode_flit_construct):
        with pytest.raises(FrameError) as info:
            encode(flit, 64)
        assert info.value.field == field


@pytest.mark.parametrize("length", [0, 10, 63, 65, 300])
def test_a_flit_of_the_wrong_length_is_refused(length):
    for decode in (decode_flit, decode_flit_construct):
        with pytest.raises(FrameError):
            decode(bytes(length), 64)


@given(oisa_st.flits(size=st.sampled_from([64, 256])), st.data())
def test_both_decoders_agree_on_flits_changed_under_a_good_crc(flit_and_size, data):
    # A bad CRC ends both decoders at the first check; here the CRC is made right again after
    # the change, so it reaches every rule behind it (reserved bits, kinds, codes, lengths,
    # offsets, credit fields, padding), where the fast decoder reads the fields its own way.
    import zlib

    flit, size = flit_and_size
    raw = bytearray(encode_flit(flit, size))
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.integers(0, 15) | st.integers(16, size - 5))  # the header, or payload and padding
        raw[where] ^= data.draw(st.integers(1, 255))
    raw[-4:] = zlib.crc32(raw[:-4]).to_bytes(4, "big")
    outcomes = []
    for decode in (decode_flit, decode_flit_construct):
        try:
            outcomes.append(decode(bytes(raw), size))
        except FrameError as exc:
            outcomes.append((type(exc), exc.field, exc.offset))
    assert outcomes[0] == outcomes[1]


@given(oisa_st.flits(size=oisa_st.flit_sizes()), st.data())
def test_fast_encoder_agrees_with_the_schema_on_flits_with_one_field_out_of_range(flit_and_size, data):
    import dataclasses

    flit, size = flit_and_size
    name = data.draw(st.sampled_from(["seq", "ack_seq", "first_msg"]))
    value = data.draw(st.sampled_from([-1, 4096, 65535, 65536]))
    bad = dataclasses.replace(flit, **{name: value})
    outcomes = []
    for encode in (encode_flit, encode_flit_construct):
        try:
            outcomes.append(encode(bad, size))
        except FrameError as exc:
            outcomes.append((type(exc), exc.field))
    assert outcomes[0] == outcomes[1]


def test_both_decoders_agree_on_every_single_bit_change_of_a_header_under_a_good_crc():
    # Every bit of the 16-byte header flipped in turn (CRC made right again), on a data flit
    # with a credit return, a data flit without, a plain control flit and one with entries:
    # each reserved bit, kind, code, length and offset the fast decoder reads its own way.
    import zlib

    from oisa.wire.oisa import AckKind, CreditReturn, FcClass

    credit = CreditReturn(3, FcClass.NON_POSTED, 17, 300)
    flits = [Flit(FlitKind.DATA, seq=5, ack_kind=AckKind.ACK, ack_seq=9, credit=credit, first_msg=3, payload=b"x" * 40),
             Flit(FlitKind.DATA, seq=4095, ack_kind=AckKind.NAK, ack_seq=1, payload=b"abc"),
             Flit(FlitKind.CONTROL, ControlCode.ACK, ack_kind=AckKind.ACK, ack_seq=4000),
             Flit(FlitKind.CONTROL, ControlCode.CREDIT, entries=[credit])]
    for flit in flits:
        good = encode_flit(flit, 64)
        for bit in range(16 * 8):
            raw = bytearray(good)
            raw[bit // 8] ^= 0x80 >> (bit % 8)
            raw[-4:] = zlib.crc32(raw[:-4]).to_bytes(4, "big")
            outcomes = []
            for decode in (decode_flit, decode_flit_construct):
                try:
                    outcomes.append(decode(bytes(raw), 64))
                except FrameError as exc:
                    outcomes.append((type(exc), exc.field, exc.offset))
            assert outcomes[0] == outcomes[1], (flit, bit)


@given(oisa_st.flits(size=oisa_st.flit_sizes(), kinds=st.just(FlitKind.DATA)))
def test_the_data_flit_encoder_writes_the_schema_s_bytes(flit_and_size):
    from oisa.wire.oisa import encode_data_flit

    flit, size = flit_and_size
    assert (encode_data_flit(flit.seq, flit.first_msg, flit.payload, flit.ack_kind, flit.ack_seq, flit.credit, size)
            == encode_flit_construct(flit, size))


@pytest.mark.parametrize(("change", "field"), [({"seq": 4096}, "seq"), ({"ack_seq": -1}, "ack_seq"),
                                               ({"first_msg": 3}, "first_msg"), ({"payload": b"x" * 45}, "payload")])
def test_the_data_flit_encoder_refuses_what_the_schema_refuses(change, field):
    from oisa.wire.oisa import AckKind, encode_data_flit

    fields = {"seq": 1, "first_msg": 0, "payload": b"abc", "ack_kind": AckKind.ACK, "ack_seq": 2, "credit": None,
              "size": 64} | change
    with pytest.raises(FrameError) as info:
        encode_data_flit(**fields)
    assert info.value.field == field
