"""PCIe DLLPs and LCRC-wrapped TLPs: both codecs agree, CRCs catch corruption before any field
is trusted, and malformed frames name field and offset."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oisa.errors import CrcError, FrameError
from oisa.testing import _pcie as pcie_st
from oisa.testing import strategies as oisa_st
from oisa.wire.oisa import FcClass
from oisa.wire.pcie import (
    DLLP_TYPES,
    Dllp,
    DllpType,
    FcPhase,
    decode_dllp,
    decode_dllp_construct,
    dllp_crc16,
    encode_dllp,
    encode_dllp_construct,
    encode_tlp,
    lcrc32,
    unwrap_tlp,
    unwrap_tlp_construct,
    wrap_tlp,
    wrap_tlp_construct,
)

DECODERS = (decode_dllp, decode_dllp_construct)
ENCODERS = (encode_dllp, encode_dllp_construct)
UNWRAPPERS = (unwrap_tlp, unwrap_tlp_construct)
WRAPPERS = (wrap_tlp, wrap_tlp_construct)


def with_crc(body: bytes) -> bytes:
    """Four DLLP bytes with a correct CRC, to reach the checks that come after it."""
    return body + dllp_crc16(body).to_bytes(2, "little")


@given(pcie_st.dllps())
def test_both_codecs_write_the_same_bytes_and_read_them_back(dllp):
    encoded = encode_dllp(dllp)
    assert len(encoded) == 6
    assert encoded == encode_dllp_construct(dllp)
    assert decode_dllp(encoded) == dllp == decode_dllp_construct(encoded)


@given(pcie_st.dllps(), st.integers(0, 47))
def test_any_single_bit_flip_is_a_bad_dllp(dllp, bit):
    raw = bytearray(encode_dllp(dllp))
    raw[bit // 8] ^= 0x80 >> (bit % 8)
    for decode in DECODERS:
        with pytest.raises(CrcError) as info:
            decode(bytes(raw))
        assert (info.value.field, info.value.offset) == ("crc", 4)


@given(oisa_st.mutated_bytes(pcie_st.dllps().map(encode_dllp)) | st.binary(max_size=8).map(bytes))
def test_both_decoders_agree_on_mutated_and_random_bytes(data):
    outcomes = []
    for decode in DECODERS:
        try:
            outcomes.append(decode(data))
        except FrameError as exc:
            outcomes.append((type(exc), exc.field, exc.offset))
    assert outcomes[0] == outcomes[1]


@given(st.binary(min_size=4, max_size=4))
def test_every_four_bytes_with_a_good_crc_decode_or_raise_frame_error(body):
    for decode in DECODERS:
        try:
            decode(with_crc(body))
        except FrameError as exc:
            assert type(exc) is FrameError and exc.field in ("type", "reserved")


@pytest.mark.parametrize(
    ("dllp", "body"),
    [
        (Dllp(DllpType.ACK, seq=0xABC), "00000abc"),
        (Dllp(DllpType.NAK, seq=0x001), "10000001"),
        # UpdateFC-P, VC0: HdrFC 0x20, DataFC 0x100, no scaling.
        (Dllp(DllpType.UPDATE_FC_P, hdr_fc=0x20, data_fc=0x100), "80080100"),
        # InitFC2-Cpl, VC5: HdrScale 01, HdrFC 0xFF, DataScale 11, DataFC 0xFFF.
        (Dllp(DllpType.INIT_FC2_CPL, vc=5, hdr_scale=1, hdr_fc=0xFF, data_scale=3, data_fc=0xFFF), "e57fffff"),
        (Dllp(DllpType.DATA_LINK_FEATURE, feature_ack=True, feature_support=1), "02800001"),
        (Dllp(DllpType.PM_ENTER_L1), "20000000"),
        (Dllp(DllpType.VENDOR, data=0x123456), "30123456"),
        (Dllp(DllpType.NOP, data=0xFFFFFF), "31ffffff"),
    ],
)
def test_known_layouts_match_the_specification_bit_for_bit(dllp, body):
    expected = with_crc(bytes.fromhex(body))
    for encode in ENCODERS:
        assert encode(dllp) == expected
    for decode in DECODERS:
        assert decode(expected) == dllp


def test_flow_control_types_name_their_phase_and_class():
    info = DLLP_TYPES[DllpType.INIT_FC1_NP]
    assert (info.name, info.fc_phase, info.fc_class) == ("InitFC1-NP", FcPhase.INIT1, FcClass.NON_POSTED)
    assert DLLP_TYPES[DllpType.ACK].fc_class is None


@pytest.mark.parametrize(
    ("data", "error", "field", "offset"),
    [
        (b"", FrameError, "type", 0),
        (bytes(5), FrameError, "crc", 5),
        (bytes(7), FrameError, None, 6),
        (with_crc(bytes.fromhex("00000000"))[:5] + b"\0", CrcError, "crc", 4),
        (with_crc(bytes.fromhex("01000000")), FrameError, "type", 0),  # MRInit: MR-IOV, not supported
        (with_crc(bytes.fromhex("70000000")), FrameError, "type", 0),  # MRInitFC1
        (with_crc(bytes.fromhex("48000000")), FrameError, "type", 0),  # bit 3 of an FC type set
        (with_crc(bytes.fromhex("22000000")), FrameError, "type", 0),  # reserved PM encoding
        (with_crc(bytes.fromhex("00100000")), FrameError, "reserved", 1),  # Ack reserved bits
        (with_crc(bytes.fromhex("24000001")), FrameError, "reserved", 1),  # PM_Request_Ack carries nothing
    ],
)
def test_malformed_dllps_name_the_field_and_offset(data, error, field, offset):
    for decode in DECODERS:
        with pytest.raises(error) as info:
            decode(data)
        assert type(info.value) is error
        assert (info.value.field, info.value.offset) == (field, offset)


@pytest.mark.parametrize(
    ("dllp", "field"),
    [
        (Dllp(DllpType.ACK, seq=4096), "seq"),
        (Dllp(DllpType.ACK, vc=1), "vc"),
        (Dllp(DllpType.UPDATE_FC_P, vc=8), "vc"),
        (Dllp(DllpType.UPDATE_FC_P, hdr_fc=256), "hdr_fc"),
        (Dllp(DllpType.PM_ENTER_L1, data=1), "data"),
        (Dllp(DllpType.NOP, data=1 << 24), "data"),
        (Dllp(0x41), "type"),  # a VC belongs in ``vc``, not in the kind
    ],
)
def test_encoders_refuse_invalid_dllps(dllp, field):
    for encode in ENCODERS:
        with pytest.raises(FrameError) as info:
            encode(dllp)
        assert info.value.field == field


# --- wrapped TLPs ----------------------------------------------------------------------------

tlp_bytes = pcie_st.tlps(max_length=st.just(8)).map(encode_tlp)


@given(st.integers(0, 4095), tlp_bytes)
def test_wrapping_is_the_same_in_both_codecs_and_undone_by_unwrapping(seq, tlp):
    wrapped = wrap_tlp(seq, tlp)
    assert wrapped == wrap_tlp_construct(seq, tlp)
    assert len(wrapped) == len(tlp) + 6
    for unwrap in UNWRAPPERS:
        assert unwrap(wrapped) == (seq, tlp)


@given(st.integers(0, 4095), tlp_bytes, st.data())
def test_any_single_bit_flip_breaks_the_lcrc(seq, tlp, data):
    raw = bytearray(wrap_tlp(seq, tlp))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 0x80 >> (bit % 8)
    for unwrap in UNWRAPPERS:
        with pytest.raises(CrcError) as info:
            unwrap(bytes(raw))
        assert (info.value.field, info.value.offset) == ("lcrc", len(raw) - 4)


@given(oisa_st.mutated_bytes(st.tuples(st.integers(0, 4095), tlp_bytes).map(lambda pair: wrap_tlp(*pair))))
def test_both_unwrappers_agree_on_mutated_bytes(data):
    outcomes = []
    for unwrap in UNWRAPPERS:
        try:
            outcomes.append(unwrap(data))
        except FrameError as exc:
            outcomes.append((type(exc), exc.field, exc.offset))
    assert outcomes[0] == outcomes[1]


def relcrc(body: bytes) -> bytes:
    return body + lcrc32(body).to_bytes(4, "little")


@pytest.mark.parametrize(
    ("data", "error", "field", "offset"),
    [
        (b"\x00", FrameError, "seq", 1),
        (relcrc(bytes(2 + 8)), FrameError, "tlp", 2),  # shorter than a 3DW header
        (relcrc(bytes(2 + 13)), FrameError, "tlp", 2),  # not whole double words
        (relcrc(bytes(2 + 4124)), FrameError, "tlp", 2),  # longer than the largest TLP
        (relcrc(b"\x10\x00" + bytes(12)), FrameError, "reserved", 0),
        (relcrc(bytes(14))[:-1] + b"\0", CrcError, "lcrc", 14),
    ],
)
def test_malformed_wrapped_tlps_name_the_field_and_offset(data, error, field, offset):
    for unwrap in UNWRAPPERS:
        with pytest.raises(error) as info:
            unwrap(data)
        assert type(info.value) is error
        assert (info.value.field, info.value.offset) == (field, offset)


@pytest.mark.parametrize(("seq", "tlp", "field"), [(4096, bytes(12), "seq"), (-1, bytes(12), "seq"),
                                                   (0, bytes(10), "tlp")])
def test_wrappers_refuse_what_unwrappers_would_refuse(seq, tlp, field):
    for wrap in WRAPPERS:
        with pytest.raises(FrameError) as info:
            wrap(seq, tlp)
        assert info.value.field == field
