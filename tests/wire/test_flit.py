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
