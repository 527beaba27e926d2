"""CXL 68B flits: round trips, the CRC against the spec's XOR trees, and every refusal located."""

import hashlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oisa.errors import CrcError, FrameError, UsageError
from oisa.testing._cxl import cxl_flits
from oisa.testing.strategies import mutated_bytes
from oisa.wire.cxl import (
    FLIT_SIZE,
    S2MDRS,
    S2MNDR,
    AllDataFlit,
    ControlFlit,
    DataSlot,
    DevLoad,
    Direction,
    InitParam,
    Llcrd,
    M2SReq,
    M2SReqOpcode,
    M2SRwD,
    M2SRwDOpcode,
    MessageSlot,
    ProtocolFlit,
    RetryAck,
    RetryIdle,
    S2MDRSOpcode,
    S2MNDROpcode,
    cxl_flit_crc,
    cxl_flit_from_fields,
    cxl_flit_to_fields,
    decode_cxl_flit,
    encode_cxl_flit,
)

M2S, S2M = Direction.M2S, Direction.S2M


def decode(flit_bytes: bytes, direction: Direction, flit=None):
    return decode_cxl_flit(flit_bytes, direction, all_data=isinstance(flit, AllDataFlit))


@given(cxl_flits())
def test_a_flit_round_trips_through_bytes_and_fields(flit):
    raw = encode_cxl_flit(flit)
    assert len(raw) == FLIT_SIZE and raw[:2] == b"\x55\x55"
    assert decode(raw, flit.direction, flit) == flit
    assert cxl_flit_from_fields(cxl_flit_to_fields(flit)) == flit


# --- the CRC -----------------------------------------------------------------------------------------

def crc_of_bit(bit: int) -> int:
    return cxl_flit_crc((1 << bit).to_bytes(64, "little"))


def test_the_crc_reproduces_the_spec_xor_tree_data_masks():
    """CXL spec §4.2.8.7.2 lists 16 data masks DM[15]..DM[0] over flit bits [511:0]: CRC bit j
    is the parity of DM[j] AND the flit. CRC bit j of a flit with only bit i set is therefore bit
    i of DM[j]. We keep a SHA-256 of the spec's masks (each 512 bits, big-endian, DM[15] first)
    and four of their words, not the table itself."""
    columns = [crc_of_bit(i) for i in range(512)]
    masks = [sum(((columns[i] >> j) & 1) << i for i in range(512)) for j in range(16)]
    assert masks[15] >> 480 == 0xEF9CD9F9 and masks[0] & 0xFFFFFFFF == 0xE8D64863
    assert masks[7] >> 480 == 0x150BFD5D and masks[8] & 0xFFFFFFFF == 0x9351F53C
    blob = b"".join(mask.to_bytes(64, "big") for mask in reversed(masks))
    assert hashlib.sha256(blob).hexdigest() == "c14c2d06d9155202bc611e39557a3a2e25f1be909e468e43fa0066f0d8dc4c9d"


def test_every_one_two_and_three_bit_error_changes_the_syndrome():
    """The CRC is linear, so an error pattern goes unseen only if the syndromes of its bits XOR
    to zero. Data bit i has syndrome crc_of_bit(i); CRC bit k has syndrome 1 << k."""
    syndromes = [crc_of_bit(i) for i in range(512)] + [1 << k for k in range(16)]
    assert 0 not in syndromes  # single-bit errors
    assert len(set(syndromes)) == len(syndromes)  # double-bit errors
    known = set(syndromes)
    assert not any(a ^ b in known for a, b in itertools.combinations(syndromes, 2))  # triple-bit errors


@given(cxl_flits(), st.lists(st.integers(0, 527), min_size=1, max_size=3, unique=True))
def test_flipped_bits_are_caught_by_the_crc(flit, bits):
    raw = bytearray(encode_cxl_flit(flit))
    for bit in bits:
        raw[2 + bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(CrcError) as info:
        decode(bytes(raw), flit.direction, flit)
    assert (info.value.field, info.value.offset) == ("crc", 66)


# --- bad input ---------------------------------------------------------------------------------------

def with_crc(body: bytes) -> bytes:
    """A 68-byte flit of ``body`` (flit bits [511:0]) with protocol ID and a correct CRC."""
    return b"\x55\x55" + body + cxl_flit_crc(body).to_bytes(2, "little")


@given(mutated_bytes(cxl_flits().map(lambda flit: encode_cxl_flit(flit)[2:66])).map(
    lambda body: with_crc(body.ljust(64, b"\0")[:64])), st.sampled_from(list(Direction)))
def test_mutated_flits_with_good_crcs_decode_canonically_or_raise_frame_error(raw, direction):
    try:
        flit = decode_cxl_flit(raw, direction)
    except FrameError:
        return
    assert encode_cxl_flit(flit) == raw


@given(st.binary(min_size=64, max_size=64), st.sampled_from(list(Direction)))
def test_random_flits_raise_only_frame_error(body, direction):
    try:
        flit = decode_cxl_flit(with_crc(body), direction)
    except FrameError:
        return
    assert encode_cxl_flit(flit) == with_crc(body)


REQ = M2SReq(M2SReqOpcode.MEM_RD, 0x1000, tag=0x1234)
WRITE = M2SRwD(M2SRwDOpcode.MEM_WR, 0x2000, tag=9)
NDR = S2MNDR(S2MNDROpcode.CMP_E, tag=0xBEEF, ld_id=3, dev_load=DevLoad.MODERATE_OVERLOAD)
DRS = S2MDRS(S2MDRSOpcode.MEM_DATA, tag=0x42, poison=True, dev_load=DevLoad.SEVERE_OVERLOAD)
CHUNK = DataSlot(bytes(range(16)))
EMPTY_G4 = MessageSlot("G4", (None,))
READS = ProtocolFlit(M2S, (MessageSlot("H5", (REQ,)), EMPTY_G4, EMPTY_G4, EMPTY_G4))
DONES = ProtocolFlit(S2M, (MessageSlot("H4", (NDR, NDR)), MessageSlot("G5", (None, None)), CHUNK, CHUNK))


EMPTY_BYTES = bytes(16)


def test_slot_fields_sit_where_the_spec_figures_put_them():
    """Bit positions from the H5 and H4 figures (CXL spec §4.2.3), independent of the schemas."""
    req = 1 | M2SReqOpcode.MEM_RD << 1 | 0x1234 << 12 | (0x1000 >> 5) << 28 | 0b11 << 8  # MetaField No-Op
    h5 = 5 << 5 | 4 << 8 | 4 << 11 | 4 << 14 | 1 << 4 | req << 32  # header: Sz, slot formats; then the Req
    assert encode_cxl_flit(READS) == with_crc(h5.to_bytes(16, "little") + EMPTY_BYTES * 3)
    ndr = 1 | S2MNDROpcode.CMP_E << 1 | 0b11 << 4 | 0xBEEF << 8 | 3 << 24  # 28 bits, DevLoad apart
    load = DevLoad.MODERATE_OVERLOAD
    h4 = 4 << 5 | 5 << 8 | 1 << 4 | ndr << 32 | ndr << 60 | load << 88 | load << 90
    assert encode_cxl_flit(DONES)[2:18] == h4.to_bytes(16, "little")


def replace_bits(raw: bytes, bit: int, width: int, value: int) -> bytes:
    """``raw`` (a 68-byte flit) with flit bits [bit + width - 1 : bit] set to ``value``, CRC redone."""
    number = int.from_bytes(raw[2:66], "little")
    number = number & ~(((1 << width) - 1) << bit) | value << bit
    return with_crc(number.to_bytes(64, "little"))


READS_RAW = encode_cxl_flit(READS)
DONES_RAW = encode_cxl_flit(DONES)
LLCRD_RAW = encode_cxl_flit(ControlFlit(M2S, Llcrd(full_ack=8, rsp_crd=0b1010)))
IDLE_RAW = encode_cxl_flit(ControlFlit(S2M, RetryIdle()))
INIT_RAW = encode_cxl_flit(ControlFlit(S2M, InitParam(llr_wrap=31)))
ACK_RAW = encode_cxl_flit(ControlFlit(M2S, RetryAck(eseq=3)))


@pytest.mark.parametrize(
    ("raw", "direction", "field", "offset", "error"),
    [
        (b"\x55", M2S, "protocol_id", 1, FrameError),
        (READS_RAW[:40], M2S, "flit", 40, FrameError),
        (READS_RAW[:67], M2S, "crc", 67, FrameError),
        (READS_RAW + b"\0", M2S, None, 68, FrameError),
        (b"\x87\x87" + READS_RAW[2:], M2S, "protocol_id", 0, FrameError),
        (READS_RAW[:66] + b"\0\0", M2S, "crc", 66, CrcError),
        (replace_bits(READS_RAW, 1, 1, 1), M2S, "reserved_0", 2, FrameError),
        (replace_bits(READS_RAW, 17, 3, 1), M2S, "reserved_1", 4, FrameError),
        (replace_bits(READS_RAW, 5, 3, 0), M2S, "slot0", 2, FrameError),  # H0: CXL.cache only
        (replace_bits(READS_RAW, 5, 3, 6), M2S, "slot0", 2, FrameError),  # H6: IDE MAC
        (replace_bits(READS_RAW, 8, 3, 6), M2S, "slot1", 3, FrameError),  # G6: reserved downstream
        (replace_bits(READS_RAW, 14, 3, 7), M2S, "slot3", 3, FrameError),  # G7: reserved
        (replace_bits(READS_RAW, 24, 4, 0b1001), M2S, "req_crd", 5, FrameError),
        (replace_bits(READS_RAW, 33, 4, 0b0101), M2S, "slot0.req.mem_opcode", 6, FrameError),
        (replace_bits(READS_RAW, 113, 1, 1), M2S, "slot0.req.reserved", 16, FrameError),
        (replace_bits(READS_RAW, 119, 1, 1), M2S, "slot0.reserved", 16, FrameError),
        (replace_bits(READS_RAW, 128 + 12, 1, 1), M2S, "slot1.req.tag", 19, FrameError),  # empty but not zero
        (replace_bits(READS_RAW, 128 + 100, 1, 1), M2S, "slot1.h2d_data_header", 29, FrameError),
        (replace_bits(replace_bits(DONES_RAW, 32, 28, 0), 88, 2, 0), S2M, "slot0.ndr1", 9, FrameError),  # packing
        (replace_bits(DONES_RAW, 60, 1, 0), S2M, "slot0.ndr1.opcode", 9, FrameError),  # empty but not zero
        (replace_bits(replace_bits(DONES_RAW, 60, 28, 0), 88, 2, 1), S2M, "slot0.ndr1_dev_load", 13, FrameError),
        (replace_bits(DONES_RAW, 20, 4, 0b1001), S2M, "rsp_crd", 4, FrameError),
        (replace_bits(DONES_RAW, 4, 1, 0), S2M, None, None, None),  # Sz 0 is legal without data
        (replace_bits(LLCRD_RAW, 36, 4, 0), M2S, "sub_type", 6, FrameError),
        (replace_bits(LLCRD_RAW, 64 + 3, 1, 1), M2S, "payload.reserved_0", 10, FrameError),
        (replace_bits(LLCRD_RAW, 5, 3, 1), M2S, "ctl_fmt", 2, FrameError),
        (replace_bits(LLCRD_RAW, 3, 1, 1), M2S, "reserved_1", 2, FrameError),
        (replace_bits(LLCRD_RAW, 44, 1, 1), M2S, "reserved_3", 7, FrameError),
        (replace_bits(LLCRD_RAW, 32, 4, 0b0010), M2S, "llctrl", 6, FrameError),
        (replace_bits(LLCRD_RAW, 200, 1, 1), M2S, "slot1", 27, FrameError),
        (replace_bits(IDLE_RAW, 2, 1, 1), S2M, "ak", 2, FrameError),
        (replace_bits(IDLE_RAW, 28, 4, 1), S2M, "data_crd", 5, FrameError),
        (replace_bits(IDLE_RAW, 36, 4, 0b0101), S2M, "sub_type", 6, FrameError),
        (replace_bits(INIT_RAW, 64, 4, 3), S2M, "interconnect_version", 10, FrameError),
        (replace_bits(ACK_RAW, 64 + 48, 1, 1), M2S, "payload.reserved_1", 16, FrameError),
    ],
)
def test_malformed_flits_name_the_field_and_offset(raw, direction, field, offset, error):
    if error is None:
        decode_cxl_flit(raw, direction)
        return
    with pytest.raises(error) as info:
        decode_cxl_flit(raw, direction)
    assert (info.value.field, info.value.offset) == (field, offset)


def protocol(direction, *slots, **header):
    return ProtocolFlit(direction, tuple(slots), **header)


H3 = MessageSlot("H3", (DRS, None))
G5_EMPTY = MessageSlot("G5", (None, None))


@pytest.mark.parametrize(
    ("flit", "field", "offset"),
    [
        (protocol(M2S, MessageSlot("H5", (REQ,)), MessageSlot("G4", (REQ,)), MessageSlot("G4", (REQ,)), CHUNK),
         "slot2", 34),
        (protocol(S2M, H3, MessageSlot("G4", (DRS, None, None)), CHUNK, CHUNK), "slot1", 18),
        (protocol(S2M, H3, CHUNK, CHUNK, G5_EMPTY), "slot3", 3),
        (protocol(S2M, H3, CHUNK, CHUNK, CHUNK, be=True), "be", 2),
        (protocol(M2S, MessageSlot("H4", (WRITE,)), CHUNK, CHUNK, CHUNK, sz=False), "sz", 2),
        (protocol(M2S, MessageSlot("H5", (REQ,)), EMPTY_G4, EMPTY_G4, EMPTY_G4, be=True), "be", 2),
        (protocol(S2M, MessageSlot("H5", (DRS, None)), CHUNK, CHUNK, CHUNK), "slot0", 2),
        (protocol(S2M, MessageSlot("H5", (DRS, DRS)), CHUNK, CHUNK, CHUNK, sz=False), "sz", 2),
        (protocol(S2M, MessageSlot("H4", (None, NDR)), G5_EMPTY, G5_EMPTY, G5_EMPTY), "slot0.ndr1", 9),
        (protocol(S2M, MessageSlot("H4", (NDR, NDR)), MessageSlot("G5", (NDR, None)), G5_EMPTY, G5_EMPTY),
         "slot1", 18),
        (protocol(M2S, CHUNK, EMPTY_G4, EMPTY_G4, EMPTY_G4), "slot0", 2),
        (protocol(M2S, MessageSlot("H5", (NDR,)), EMPTY_G4, EMPTY_G4, EMPTY_G4), "slot0.req", 6),
        (protocol(M2S, MessageSlot("H5", (REQ, None)), EMPTY_G4, EMPTY_G4, EMPTY_G4), "slot0.req", 6),
        (protocol(M2S, MessageSlot("G4", (REQ,)), EMPTY_G4, EMPTY_G4, EMPTY_G4), "slot0", 2),
        (protocol(M2S, MessageSlot("H5", (REQ,)), MessageSlot("G0", ()), EMPTY_G4, EMPTY_G4), "slot1", 3),
        (protocol(M2S, MessageSlot("H5", (REQ,)), DataSlot(b"short"), EMPTY_G4, EMPTY_G4), "slot1.chunk", 18),
        (protocol(M2S, MessageSlot("H4", (M2SRwD(M2SRwDOpcode.MEM_WR, 0, bytes(64)),)), CHUNK, CHUNK, CHUNK),
         "slot0.rwd.data", 6),
        (protocol(M2S, MessageSlot("H5", (REQ,)), EMPTY_G4, EMPTY_G4, EMPTY_G4, rsp_crd=16), "rsp_crd", 4),
        (protocol(M2S, MessageSlot("H5", (REQ,)), EMPTY_G4, EMPTY_G4, EMPTY_G4, ak=2), "ak", 2),
        (protocol(M2S, MessageSlot("H5", (REQ,)), EMPTY_G4, EMPTY_G4), "slots", 2),
        (ControlFlit(M2S, Llcrd(full_ack=256)), "full_ack", 10),
        (ControlFlit(S2M, Llcrd(rsp_crd=0b1100)), "rsp_crd", 4),
        (ControlFlit(M2S, InitParam(llr_wrap=9, interconnect_version=0)), "interconnect_version", 10),
        (ControlFlit(M2S, RetryAck(eseq=1, viral=3)), "viral", 10),  # type: ignore[arg-type]
        (ControlFlit(M2S, REQ), "llctrl", 6),  # type: ignore[arg-type]
        (AllDataFlit(M2S, bytes(63)), "flit", 2),
        (AllDataFlit("m2s", bytes(64)), "direction", None),  # type: ignore[arg-type]
    ],
)
def test_encoders_refuse_what_decoders_would_refuse(flit, field, offset):
    with pytest.raises(FrameError) as info:
        encode_cxl_flit(flit)
    assert (info.value.field, info.value.offset) == (field, offset)


def test_multi_data_header_slots_carry_several_lines():
    flit = protocol(S2M, MessageSlot("H5", (DRS, DRS)), CHUNK, CHUNK, CHUNK)
    assert decode_cxl_flit(encode_cxl_flit(flit), S2M) == flit
    assert flit.messages == [DRS, DRS]


def test_decoding_needs_a_direction():
    with pytest.raises(UsageError):
        decode_cxl_flit(READS_RAW, "up")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "fancy"}, "kind"),
        ({"direction": "diagonal"}, "direction"),
        ({"direction": None}, "direction"),
        ({"ak": "maybe"}, "ak"),
        ({"slots": []}, "slots"),
        ({"extra": 1}, "extra"),
        ({"slots": [{"format": "H5"}] * 4}, "slots[0].messages"),
        ({"slots": [{"format": "H5", "messages": [{"class": "m2s_req"}]}] + [{"format": "G4", "messages": [None]}] * 3},
         "slots[0].messages[0].valid"),
    ],
)
def test_flit_fields_name_what_is_wrong(changes, field):
    values = {**cxl_flit_to_fields(READS), **changes}
    values = {k: v for k, v in values.items() if v is not None}
    with pytest.raises(FrameError) as info:
        cxl_flit_from_fields(values)
    assert info.value.field == field


def test_control_and_all_data_fields_name_what_is_wrong():
    with pytest.raises(FrameError) as info:
        cxl_flit_from_fields({"direction": "m2s", "kind": "control", "control": "retry_nap"})
    assert info.value.field == "control"
    with pytest.raises(FrameError) as info:
        cxl_flit_from_fields({"direction": "m2s", "kind": "control", "control": "retry_req", "eseq": 1})
    assert info.value.field == "num_retry"
    with pytest.raises(FrameError) as info:
        cxl_flit_from_fields({"direction": "s2m", "kind": "all_data", "data": "xyz"})
    assert info.value.field == "data"
