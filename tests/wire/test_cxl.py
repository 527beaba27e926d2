"""CXL.mem messages: standalone frames, fields by name, and packing into 68B flits and back."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oisa.errors import FrameError, UsageError
from oisa.testing._cxl import cxl_mem_messages, cxl_mem_streams
from oisa.testing.strategies import mutated_bytes
from oisa.wire.cxl import (
    FRAME_SIZE,
    MESSAGE_FIELDS,
    S2MDRS,
    S2MNDR,
    AllDataFlit,
    ControlFlit,
    DataSlot,
    DevLoad,
    Direction,
    Llcrd,
    M2SReq,
    M2SReqOpcode,
    M2SRwD,
    M2SRwDOpcode,
    MemClass,
    MessageSlot,
    MetaField,
    MetaValue,
    ProtocolFlit,
    S2MDRSOpcode,
    S2MNDROpcode,
    SnpType,
    cxl_flit_crc,
    cxl_mem_from_fields,
    decode_cxl_mem,
    direction_of,
    encode_cxl_flit,
    encode_cxl_mem,
    pack_cxl_mem,
    pack_cxl_mem_flits,
    unpack_cxl_mem,
    unpack_cxl_mem_flits,
)

LINE = bytes(range(64))


@given(cxl_mem_messages())
def test_a_message_round_trips_through_its_frame_and_its_fields(message):
    frame = encode_cxl_mem(message)
    assert len(frame) == FRAME_SIZE[message.msg_class]
    assert frame[0] == message.msg_class
    assert decode_cxl_mem(frame) == message
    assert cxl_mem_from_fields(message.to_fields()) == message


@given(cxl_mem_messages(header_only=st.just(True)))
def test_header_only_messages_round_trip_through_their_fields(message):
    fields = message.to_fields()
    assert "data" not in fields and "byte_enable" not in fields
    assert cxl_mem_from_fields(fields, header_only=True) == message


@given(mutated_bytes(cxl_mem_messages().map(encode_cxl_mem)))
def test_mutated_frames_raise_frame_error_or_decode_to_the_same_bytes(data):
    try:
        message = decode_cxl_mem(data)
    except FrameError:
        return
    assert encode_cxl_mem(message) == data


@given(st.binary(max_size=90))
def test_random_bytes_raise_only_frame_error(data):
    try:
        decode_cxl_mem(data)
    except FrameError:
        pass


def bit_of(cls: MemClass, name: str) -> tuple[int, int]:
    field = next(f for f in MESSAGE_FIELDS[cls] if f.name == name)
    return field.bit_offset, field.bits


READ = encode_cxl_mem(M2SReq(M2SReqOpcode.MEM_RD, 0x1000, tag=7, snp_type=SnpType.SNP_DATA,
                             meta_field=MetaField.META0_STATE, meta_value=MetaValue.SHARED))
WRITE = encode_cxl_mem(M2SRwD(M2SRwDOpcode.MEM_WR, 0x2000, LINE, tag=8))
DONE = encode_cxl_mem(S2MNDR(S2MNDROpcode.CMP, tag=7))
DATA = encode_cxl_mem(S2MDRS(S2MDRSOpcode.MEM_DATA, tag=7, data=LINE))
REQ, NDR, DRS = MemClass.M2S_REQ, MemClass.S2M_NDR, MemClass.S2M_DRS


def set_field(frame: bytes, cls: MemClass, name: str, value: int) -> bytes:
    bit, width = bit_of(cls, name)
    number = int.from_bytes(frame[1:], "little")
    number = number & ~(((1 << width) - 1) << bit) | value << bit
    return frame[:1] + number.to_bytes(len(frame) - 1, "little")


@pytest.mark.parametrize(
    ("data", "field", "offset"),
    [
        (b"", "class", 0),
        (b"\x00", "class", 0),
        (b"\x05" + READ[1:], "class", 0),
        (READ[:3], "tag", 3),
        (WRITE[:20], "data", 20),
        (WRITE[:80], "byte_enable", 80),
        (DATA[:69], "data", 69),
        (READ + b"\0", None, 12),
        (set_field(READ, REQ, "valid", 0), "valid", 1),
        (set_field(READ, REQ, "mem_opcode", 0b0101), "mem_opcode", 1),
        (set_field(READ, REQ, "snp_type", 0b100), "snp_type", 1),
        (set_field(READ, REQ, "meta_field", 0b01), "meta_field", 2),
        (set_field(READ, REQ, "meta_value", 0b01), "meta_value", 2),
        (set_field(set_field(READ, REQ, "meta_field", 3), REQ, "meta_value", 2), "meta_value", 2),
        (set_field(READ, REQ, "reserved", 1), "reserved", 11),
        (set_field(READ, REQ, "mem_opcode", M2SReqOpcode.MEM_RD_FWD), "snp_type", 1),
        (set_field(set_field(READ, REQ, "mem_opcode", M2SReqOpcode.MEM_SPEC_RD), REQ, "snp_type", 0), "tag", 2),
        (READ[:11] + bytes([READ[11] | 0x80]), "pad", 11),
        (set_field(DONE, NDR, "opcode", 0b011), "opcode", 1),
        (DONE[:4] + bytes([DONE[4] | 0x40]), "pad", 4),
        (set_field(DATA, DRS, "opcode", 0b001), "opcode", 1),
        (set_field(DATA, DRS, "reserved", 1), "reserved", 4),
        (WRITE[:-8] + bytes(8), "byte_enable", 76),
    ],
)
def test_malformed_frames_name_the_field_and_offset(data, field, offset):
    with pytest.raises(FrameError) as info:
        decode_cxl_mem(data)
    assert (info.value.field, info.value.offset) == (field, offset)


def test_the_frame_puts_each_field_where_the_slot_figures_do():
    """Bit positions from the spec's H5 figure, independent of the construct schema."""
    expected = 1 | M2SReqOpcode.MEM_RD << 1 | SnpType.SNP_DATA << 5 | MetaValue.SHARED << 10 | 7 << 12
    expected |= (0x1000 >> 5) << 28
    assert READ == bytes([MemClass.M2S_REQ]) + expected.to_bytes(11, "little")


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (M2SReq(M2SReqOpcode.MEM_RD, 0x1001), "address"),
        (M2SReq(M2SReqOpcode.MEM_RD, 1 << 52), "address"),
        (M2SReq(M2SReqOpcode.MEM_RD, 0, tag=1 << 16), "tag"),
        (M2SReq(M2SReqOpcode.MEM_RD, 0, ld_id=16), "ld_id"),
        (M2SReq(7, 0), "mem_opcode"),  # type: ignore[arg-type]
        (M2SReq(M2SReqOpcode.MEM_RD, 0, meta_value=2), "meta_value"),
        (M2SRwD(M2SRwDOpcode.MEM_WR, 0x20, LINE), "address"),
        (M2SRwD(M2SRwDOpcode.MEM_WR, 0, None), "data"),
        (M2SRwD(M2SRwDOpcode.MEM_WR, 0, LINE[:63]), "data"),
        (M2SRwD(M2SRwDOpcode.MEM_WR, 0, LINE, byte_enable=1), "byte_enable"),
        (M2SRwD(M2SRwDOpcode.MEM_WR_PTL, 0, LINE, byte_enable=1 << 64), "byte_enable"),
        (S2MNDR(S2MNDROpcode.CMP, dev_load=4), "dev_load"),  # type: ignore[arg-type]
        (S2MDRS(S2MDRSOpcode.MEM_DATA, data=LINE, poison=2), "poison"),  # type: ignore[arg-type]
    ],
)
def test_the_encoder_refuses_what_the_decoder_would_refuse(message, field):
    with pytest.raises(FrameError) as info:
        encode_cxl_mem(message)
    assert info.value.field == field


def test_fields_take_enum_names_numbers_and_hex():
    fields = {"class": "m2s_rwd", "valid": 1, "mem_opcode": "MEM_WR_PTL", "address": "0x40", "data": LINE.hex(),
              "byte_enable": 0xFF, "tag": 3, "snp_type": 3, "meta_field": "meta0_state", "meta_value": "any",
              "poison": False, "ld_id": 2, "tc": 1}
    assert cxl_mem_from_fields(fields) == M2SRwD(
        M2SRwDOpcode.MEM_WR_PTL, 0x40, LINE, byte_enable=0xFF, tag=3, snp_type=SnpType.SNP_INV,
        meta_field=MetaField.META0_STATE, meta_value=MetaValue.ANY, ld_id=2, tc=1)


NDR_FIELDS = S2MNDR(S2MNDROpcode.CMP_S, tag=1, dev_load=DevLoad.OPTIMAL_LOAD).to_fields()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"class": None}, "class"),
        ({"class": "m2s_snoop"}, "class"),
        ({"tag": None}, "tag"),
        ({"colour": "blue"}, "colour"),
        ({"tag": 70000}, "tag"),
        ({"tag": "seven"}, "tag"),
        ({"opcode": "CMP_M"}, "opcode"),
        ({"opcode": 3}, "opcode"),
        ({"dev_load": True}, "dev_load"),
        ({"valid": False}, "valid"),
        ({"valid": "yes"}, "valid"),
    ],
)
def test_fields_name_what_is_missing_unknown_or_out_of_range(changes, field):
    fields = {**NDR_FIELDS, **changes}
    fields = {k: v for k, v in fields.items() if v is not None}
    with pytest.raises(FrameError) as info:
        cxl_mem_from_fields(fields)
    assert info.value.field == field


def test_data_fields_must_be_a_whole_line_of_hex():
    fields = S2MDRS(S2MDRSOpcode.MEM_DATA, data=LINE).to_fields()
    for bad in ("zz", LINE[:10].hex(), 5):
        with pytest.raises(FrameError) as info:
            cxl_mem_from_fields({**fields, "data": bad})
        assert info.value.field == "data"
    with pytest.raises(FrameError, match="unknown field") as info:
        cxl_mem_from_fields(fields, header_only=True)
    assert info.value.field == "data"


# --- packing ------------------------------------------------------------------------------------------

@given(cxl_mem_streams())
def test_unpacking_packed_messages_gives_them_back_in_order(messages):
    direction = direction_of(messages[0]) if messages else Direction.M2S
    flits = pack_cxl_mem(messages)
    assert all(len(flit) == 68 for flit in flits)
    assert unpack_cxl_mem(flits, direction=direction) == messages
    assert unpack_cxl_mem_flits(pack_cxl_mem_flits(messages)) == messages


def test_a_read_fits_in_one_flit_and_a_write_rolls_its_last_chunk_over():
    read = M2SReq(M2SReqOpcode.MEM_RD, 0x40, tag=1)
    write = M2SRwD(M2SRwDOpcode.MEM_WR, 0x80, LINE, tag=2)
    flits = pack_cxl_mem_flits([read, write])
    assert len(flits) == 2
    first, second = flits
    assert isinstance(first, ProtocolFlit) and isinstance(second, ProtocolFlit)
    assert [type(s) for s in first.slots] == [MessageSlot, MessageSlot, DataSlot, DataSlot]
    assert first.slots[1] == MessageSlot("G5", (M2SRwD(M2SRwDOpcode.MEM_WR, 0x80, None, tag=2),))
    assert [s.chunk for s in first.slots[2:]] + [second.slots[1].chunk] == [LINE[0:16], LINE[16:32], LINE[32:48]]
    assert second.slots[2].chunk == LINE[48:]


def test_a_partial_write_sends_its_byte_enables_after_the_data():
    write = M2SRwD(M2SRwDOpcode.MEM_WR_PTL, 0, LINE, byte_enable=0x0F0F)
    enables = (0x0F0F).to_bytes(8, "little") + bytes(8)
    first, second = pack_cxl_mem_flits([write])
    assert first.be and first.sz and first.slots[0].fmt == "H4"
    assert second.slots[1:3] == (DataSlot(LINE[48:]), DataSlot(enables))
    after_two_reads = pack_cxl_mem_flits([M2SReq(M2SReqOpcode.MEM_RD, 0)] * 2 + [write])
    assert isinstance(after_two_reads[-1], AllDataFlit) and after_two_reads[-1].data[48:] == enables
    assert unpack_cxl_mem(pack_cxl_mem([write]), direction="m2s") == [write]


def test_read_data_and_its_completion_share_the_header_slot():
    data = S2MDRS(S2MDRSOpcode.MEM_DATA, tag=5, data=LINE)
    done = S2MNDR(S2MNDROpcode.CMP_E, tag=5)
    (flit, rest) = pack_cxl_mem_flits([data, done])
    assert flit.slots[0] == MessageSlot("H3", (S2MDRS(S2MDRSOpcode.MEM_DATA, tag=5), done))
    assert rest.slots[1] == DataSlot(LINE[48:])


def test_control_flits_between_protocol_flits_are_skipped():
    messages = [M2SRwD(M2SRwDOpcode.MEM_WR, 0, LINE), M2SReq(M2SReqOpcode.MEM_INV, 0x40)]
    flits = pack_cxl_mem(messages)
    credit = encode_cxl_flit(ControlFlit(Direction.M2S, Llcrd(full_ack=16, rsp_crd=0b1011)))
    assert unpack_cxl_mem([flits[0], credit, *flits[1:]], direction=Direction.M2S) == messages


def test_packing_refuses_mixed_directions_and_invalid_messages():
    with pytest.raises(FrameError) as info:
        pack_cxl_mem([M2SReq(M2SReqOpcode.MEM_RD, 0), S2MNDR(S2MNDROpcode.CMP)])
    assert info.value.field == "messages[1]"
    with pytest.raises(FrameError) as info:
        pack_cxl_mem([M2SReq(M2SReqOpcode.MEM_RD, 3)])
    assert info.value.field == "messages[0].address"
    with pytest.raises(FrameError) as info:
        pack_cxl_mem([M2SRwD(M2SRwDOpcode.MEM_WR, 0)])
    assert info.value.field == "messages[0].data"


def test_a_stream_that_stops_before_the_data_is_refused():
    flits = pack_cxl_mem([S2MDRS(S2MDRSOpcode.MEM_DATA, data=LINE)])
    with pytest.raises(FrameError, match=r"flit 0: .*short") as info:
        unpack_cxl_mem(flits[:1], direction="s2m")
    assert info.value.field == "data"


def _flit(direction, *slots, **header):
    return encode_cxl_flit(ProtocolFlit(direction, tuple(slots), **header))


EMPTY_H5 = MessageSlot("H5", (None,))
EMPTY_G4 = MessageSlot("G4", (None,))
WRITE_HEADER = MessageSlot("H4", (M2SRwD(M2SRwDOpcode.MEM_WR, 0),))
CHUNK = DataSlot(bytes(16))
BAD_ENABLES = DataSlot(b"\xff" * 16)
M2S, S2M = Direction.M2S, Direction.S2M


@pytest.mark.parametrize(
    ("direction", "flits", "field", "offset"),
    [
        # data with no data header owed
        (M2S, [_flit(M2S, EMPTY_H5, CHUNK, EMPTY_G4, EMPTY_G4)], "slot1", 18),
        # one chunk rolled over, but slot 1 of the next flit holds messages
        (M2S, [_flit(M2S, WRITE_HEADER, CHUNK, CHUNK, CHUNK), _flit(M2S, EMPTY_H5, EMPTY_G4, EMPTY_G4, EMPTY_G4)],
         "slot1", 18),
        # read data sent as 32-byte halves
        (S2M, [_flit(S2M, MessageSlot("H3", (S2MDRS(S2MDRSOpcode.MEM_DATA), None)), CHUNK, CHUNK,
                     MessageSlot("G5", (None, None)), sz=False)], "sz", 2),
        # byte enables whose reserved upper half is set
        (M2S, [_flit(M2S, WRITE_HEADER, CHUNK, CHUNK, CHUNK, be=True),
               _flit(M2S, EMPTY_H5, CHUNK, BAD_ENABLES, EMPTY_G4)], "byte_enable", 42),
        # a full-line write whose byte enables are not all set
        (M2S, [_flit(M2S, WRITE_HEADER, CHUNK, CHUNK, CHUNK, be=True), _flit(M2S, EMPTY_H5, CHUNK, CHUNK, EMPTY_G4)],
         "byte_enable", 34),
    ],
)
def test_unpacking_refuses_streams_that_break_the_packing_rules(direction, flits, field, offset):
    with pytest.raises(FrameError, match=f"flit {len(flits) - 1}: ") as info:
        unpack_cxl_mem(flits, direction=direction)
    assert (info.value.field, info.value.offset) == (field, offset)


def test_unpacking_needs_a_direction():
    with pytest.raises(UsageError):
        unpack_cxl_mem([], direction="sideways")


@given(cxl_mem_streams(max_messages=st.just(6)), st.data())
def test_unpacking_a_corrupted_stream_raises_only_frame_error(messages, data):
    """One byte of one flit changed, CRC made good again: the receiver must notice or cope."""
    flits = pack_cxl_mem(messages)
    if not flits:
        return
    index = data.draw(st.integers(0, len(flits) - 1))
    body = bytearray(flits[index][2:66])
    body[data.draw(st.integers(0, 63))] ^= data.draw(st.integers(1, 255))
    flits[index] = b"\x55\x55" + bytes(body) + cxl_flit_crc(bytes(body)).to_bytes(2, "little")
    try:
        unpack_cxl_mem(flits, direction=direction_of(messages[0]))
    except FrameError:
        pass
