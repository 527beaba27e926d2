"""PCIe TLPs: byte layouts checked by hand against the specification's bit positions, the fast
codec held equal to the construct schemas, and every malformed TLP refused with field and offset."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oisa.errors import CrcError, FrameError
from oisa.testing import _pcie as pcie_st
from oisa.testing import strategies as oisa_st
from oisa.wire.oisa import FcClass
from oisa.wire.pcie import (
    TLP_DW0_FIELDS,
    TLP_TYPES,
    Tlp,
    TlpType,
    decode_tlp,
    decode_tlp_construct,
    ecrc32,
    encode_tlp,
    encode_tlp_construct,
    tlp_from_fields,
    tlp_size,
    tlp_to_fields,
)

DECODERS = (decode_tlp, decode_tlp_construct)
ENCODERS = (encode_tlp, encode_tlp_construct)
small_tlps = pcie_st.tlps(max_length=st.just(8))


@given(pcie_st.tlps(max_length=st.just(64)))
def test_both_codecs_write_the_same_bytes_and_read_them_back(tlp):
    encoded = encode_tlp(tlp)
    assert encoded == encode_tlp_construct(tlp)
    assert len(encoded) == tlp.wire_size == tlp_size(encoded)
    assert decode_tlp(encoded) == tlp == decode_tlp_construct(encoded)


@settings(max_examples=10)
@given(pcie_st.tlps(kinds=st.sampled_from([TlpType.MWR_64, TlpType.CPLD, TlpType.MSGD])))
def test_full_size_payloads_round_trip(tlp):
    encoded = encode_tlp(tlp)
    assert encoded == encode_tlp_construct(tlp)
    assert decode_tlp(encoded) == tlp == decode_tlp_construct(encoded)


@given(oisa_st.mutated_bytes(small_tlps.map(encode_tlp)))
def test_both_decoders_agree_on_mutated_bytes(data):
    """Either both decode to the same TLP, or both raise the same kind of FrameError."""
    outcomes = []
    for decode in DECODERS:
        try:
            outcomes.append(decode(data))
        except FrameError as exc:
            outcomes.append((type(exc), exc.field, exc.offset))
    assert outcomes[0] == outcomes[1]


def known_byte0(byte: int) -> bool:
    try:
        tlp_size(bytes([byte, 0, 0, 1]))
    except FrameError:
        return False
    return True


@given(st.sampled_from([byte for byte in range(256) if known_byte0(byte)]), st.binary(min_size=15, max_size=15),
       st.data())
def test_both_decoders_agree_on_random_headers_of_known_kinds(byte0, rest, data):
    """Well framed, no digest, every other header bit random: this reaches the reserved-bit and
    rule checks, which mutated frames mostly do not get past framing to see."""
    head = bytearray([byte0]) + rest
    head[2] &= 0x7C  # no digest, Length below 256 DW
    size = tlp_size(head)
    frame = (bytes(head) + data.draw(st.binary(min_size=size, max_size=size)))[:size]
    outcomes = []
    for decode in DECODERS:
        try:
            outcomes.append(decode(frame))
        except FrameError as exc:
            outcomes.append((type(exc), exc.field, exc.offset))
    assert outcomes[0] == outcomes[1]


@given(st.binary(max_size=40))
def test_random_bytes_raise_only_frame_errors(data):
    for decode in DECODERS:
        try:
            decode(data)
        except FrameError:
            pass


@given(pcie_st.tlps(max_length=st.just(8), digests=st.just(True)), st.data())
def test_the_ecrc_catches_any_flip_that_keeps_the_framing(tlp, data):
    raw = bytearray(encode_tlp(tlp))
    byte = data.draw(st.sampled_from([1, *range(4, len(raw))]))  # not Fmt/Type, TD or Length
    raw[byte] ^= 1 << data.draw(st.integers(0, 7))
    for decode in DECODERS:
        with pytest.raises(CrcError) as info:
            decode(bytes(raw))
        assert (info.value.field, info.value.offset) == ("ecrc", len(raw) - 4)


@pytest.mark.parametrize(
    ("tlp", "hex_bytes"),
    [
        # 3DW MRd: 16 DW from 0xF7C00040 by 01:00.0, tag 0x0C, all byte enables.
        (Tlp(TlpType.MRD_32, length=16, requester_id=0x0100, tag=0x0C, last_be=0xF, first_be=0xF,
             address=0xF7C00040), "00000010 01000cff f7c00040"),
        # CplD: TC2, poisoned, 10-bit tag 0x1FF (T8 set), status CA, BCM, byte count 0x123.
        (Tlp(TlpType.CPLD, tc=2, ep=True, length=1, completer_id=0x0308, status=4, bcm=True, byte_count=0x123,
             requester_id=0x0100, tag=0x1FF, lower_address=0x44, data=b"abcd"),
         "4a284001 03089123 0100ff44 61626364"),
        # Assert_INTA (code 0x20), routed Local (r=100), from 00:03.0: Length reserved.
        (Tlp(TlpType.MSG, routing=0b100, requester_id=0x0018, message_code=0x20),
         "34000000 00180020 00000000 00000000"),
        # CfgRd0 of byte offset 0x1FC (ext register 1, register 0x3F) at 01:01.0.
        (Tlp(TlpType.CFGRD0, length=1, tag=1, first_be=0xF, completer_id=0x0108, ext_register=1, register=0x3F),
         "04000001 0000010f 010801fc"),
        # 4DW MWr, every DW0 flag set: T9, TC7, IDO, LN, TH with PH 3, RO+NS, AT 10; Length 1024 -> 0.
        (Tlp(TlpType.MWR_64, tc=7, attr=7, ln=True, th=True, at=2, length=1024, requester_id=0xFFFF, tag=0x200,
             last_be=0xF, first_be=0xF, address=0x1_2345_6000, ph=3, data=bytes(4096)),
         "60f73800 ffff00ff 00000001 23456003" + "00" * 4096),
    ],
)
def test_known_layouts_match_the_specification_bit_for_bit(tlp, hex_bytes):
    expected = bytes.fromhex(hex_bytes.replace(" ", ""))
    for encode in ENCODERS:
        assert encode(tlp) == expected
    for decode in DECODERS:
        assert decode(expected) == tlp


def test_dw0_field_positions_are_the_specifications():
    positions = {f.name: f.position for f in TLP_DW0_FIELDS}
    assert positions == {
        "fmt": "0[7:5]", "type": "0[4:0]", "t9": "1[7]", "tc": "1[6:4]", "t8": "1[3]", "attr2": "1[2]",
        "ln": "1[1]", "th": "1[0]", "td": "2[7]", "ep": "2[6]", "attr": "2[5:4]", "at": "2[3:2]",
        "length": "2-3[9:0]",
    }


def test_flow_control_classes_are_the_specifications():
    posted = {k for k, i in TLP_TYPES.items() if i.fc_class is FcClass.POSTED}
    completion = {k for k, i in TLP_TYPES.items() if i.fc_class is FcClass.COMPLETION}
    assert posted == {TlpType.MWR_32, TlpType.MWR_64, TlpType.MSG, TlpType.MSGD}
    assert completion == {TlpType.CPL, TlpType.CPLD, TlpType.CPLLK, TlpType.CPLDLK}


def mwr(**changes):
    fields = dict(length=1, requester_id=0x0100, first_be=0xF, address=0x1000, data=b"abcd")
    fields.update(changes)
    return Tlp(TlpType.MWR_32, **fields)


def patched(tlp, offset, value, mask=0xFF, redo_ecrc=True):
    """The bytes of ``tlp`` with bits ``mask`` of byte ``offset`` replaced by ``value`` (with
    ``mask`` 0, ``value`` is XORed in), and the ECRC recomputed unless told not to."""
    raw = bytearray(encode_tlp(tlp))
    raw[offset] = raw[offset] & ~mask | value if mask else raw[offset] ^ value
    if tlp.td and redo_ecrc:
        raw[-4:] = ecrc32(raw[:-4]).to_bytes(4, "little")
    return bytes(raw)


CPL = Tlp(TlpType.CPL, completer_id=1, byte_count=4, requester_id=2)
CFG = Tlp(TlpType.CFGRD1, length=1, first_be=0xF, completer_id=0x0200)
IOWR = Tlp(TlpType.IOWR, length=1, first_be=0xF, address=0x3F8, data=b"\1\2\3\4")


@pytest.mark.parametrize(
    ("data", "error", "field", "offset"),
    [
        (b"", FrameError, "fmt", 0),
        (b"\x40\x00", FrameError, "td", 2),
        (bytes.fromhex("80000000") + bytes(8), FrameError, "fmt", 0),  # a TLP prefix
        (bytes.fromhex("a0000000") + bytes(8), FrameError, "fmt", 0),  # Fmt 101 is reserved
        (bytes.fromhex("03000000") + bytes(8), FrameError, "type", 0),  # Type 00011 is undefined
        (bytes.fromhex("10000000") + bytes(8), FrameError, "type", 0),  # Msg needs a 4DW header
        (encode_tlp(mwr())[:9], FrameError, "address", 9),
        (encode_tlp(mwr())[:14], FrameError, "data", 14),
        (encode_tlp(mwr(td=True))[:17], FrameError, "ecrc", 17),
        (encode_tlp(mwr()) + b"\0", FrameError, "length", 16),
        (encode_tlp(CPL) + bytes(4), FrameError, "fmt", 12),
        (patched(mwr(td=True), 19, 0x01, mask=0x00, redo_ecrc=False), CrcError, "ecrc", 16),
        (patched(CPL, 3, 1), FrameError, "length", 2),  # Length is reserved in Cpl
        (patched(CPL, 11, 0x80), FrameError, "reserved", 11),
        (patched(CFG, 10, 0x10), FrameError, "reserved_0", 10),
        (patched(CFG, 11, 0x01), FrameError, "reserved_1", 11),
        (patched(IOWR, 11, 0x02, mask=0x03), FrameError, "reserved", 11),
        (patched(mwr(td=True), 11, 0x01), FrameError, "ph", 11),  # PH without TH
        (patched(IOWR, 1, 0x10), FrameError, "tc", 1),
        (patched(CFG, 1, 0x01), FrameError, "th", 1),
        (patched(CFG, 2, 0x10), FrameError, "attr", 2),
        (patched(CFG, 7, 0x10, mask=0xF0), FrameError, "last_be", 7),
        (patched(Tlp(TlpType.MRD_32, length=2, first_be=0xF, last_be=0xF, address=0xFF8), 3, 3), FrameError,
         "address", 8),  # 3 DW from 0xFF8 cross 4 KiB
        (bytes.fromhex("4e000003 00000000 00000100") + bytes(12), FrameError, "length", 2),  # a 3-DW CAS
        (patched(Tlp(TlpType.FETCHADD_32, length=2, address=0x100, data=bytes(8)), 11, 0x04), FrameError,
         "address", 8),  # an 8-byte FetchAdd at 0x104
    ],
)
def test_malformed_tlps_name_the_field_and_offset(data, error, field, offset):
    for decode in DECODERS:
        with pytest.raises(error) as info:
            decode(data)
        assert type(info.value) is error
        assert (info.value.field, info.value.offset) == (field, offset)


def test_a_4dw_header_may_carry_an_address_below_4_gib():
    tlp = Tlp(TlpType.MRD_64, length=1, first_be=0xF, address=0x1000)
    for decode in DECODERS:
        assert decode(encode_tlp(tlp)) == tlp


def test_a_poisoned_or_retyped_tlp_keeps_its_ecrc():
    """EP and Type[0] are the variant bits: a switch may poison a TLP, a bridge may turn a
    CfgRd1 into a CfgRd0, and the ECRC must still check."""
    cfg = Tlp(TlpType.CFGRD1, td=True, length=1, first_be=0xF, completer_id=0x0200)
    raw = bytearray(encode_tlp(cfg))
    raw[0] ^= 0x01
    raw[2] ^= 0x40
    for decode in DECODERS:
        assert decode(bytes(raw)) == Tlp(TlpType.CFGRD0, td=True, ep=True, length=1, first_be=0xF,
                                         completer_id=0x0200)


@pytest.mark.parametrize(
    ("tlp", "field"),
    [
        (mwr(tc=8), "tc"),
        (mwr(tag=1024), "tag"),
        (mwr(completer_id=3), "completer_id"),  # not a field of MWr
        (mwr(routing=1), "routing"),
        (mwr(length=2), "data"),
        (mwr(length=0, data=b""), "length"),
        (mwr(address=0x1002), "address"),
        (mwr(address=1 << 32), "address"),
        (mwr(ph=1), "ph"),
        (mwr(address=0xFFC, length=2, data=bytes(8)), "address"),
        (Tlp(TlpType.MSG, message_data=b"short"), "message_data"),
        (Tlp(TlpType.CPL, byte_count=0), "byte_count"),
        (Tlp(TlpType.CPL, byte_count=4, length=1), "length"),
        (Tlp(TlpType.IORD, length=1, at=1), "at"),
        (Tlp(TlpType.IORD, length=1, attr=4), "attr"),
        (Tlp(TlpType.SWAP_64, length=4, data=bytes(16)), "length"),
        (Tlp(0x31), "kind"),  # a message kind carries its routing in ``routing``
        (Tlp("MWr"), "kind"),  # type: ignore[arg-type]
    ],
)
def test_encoders_refuse_what_decoders_would_refuse(tlp, field):
    for encode in ENCODERS:
        with pytest.raises(FrameError) as info:
            encode(tlp)
        assert info.value.field == field


# --- fields ----------------------------------------------------------------------------------

@given(small_tlps)
def test_fields_survive_encode_then_decode(tlp):
    fields = tlp_to_fields(tlp)
    assert json.loads(json.dumps(fields)) == fields
    assert tlp_to_fields(decode_tlp(encode_tlp(tlp_from_fields(fields)))) == fields


def test_fields_are_named_as_the_specification_names_them():
    assert list(tlp_to_fields(mwr())) == [
        "kind", "fmt", "type", "tc", "attr", "ln", "th", "td", "ep", "at", "length", "requester_id", "tag",
        "last_be", "first_be", "address", "ph", "data"]
    assert list(tlp_to_fields(CPL)) == [
        "kind", "fmt", "type", "tc", "attr", "ln", "th", "td", "ep", "at", "completer_id", "status", "bcm",
        "byte_count", "requester_id", "tag", "lower_address"]
    assert tlp_to_fields(mwr())["data"] == "61626364"


FIELDS = tlp_to_fields(mwr())


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({k: v for k, v in FIELDS.items() if k != "tag"}, "tag"),
        ({k: v for k, v in FIELDS.items() if k != "type"}, "type"),
        (FIELDS | {"status": 0}, "status"),
        (FIELDS | {"tag": 4096}, "tag"),
        (FIELDS | {"tag": "7"}, "tag"),
        (FIELDS | {"tc": True}, "tc"),
        (FIELDS | {"ep": 2}, "ep"),
        (FIELDS | {"data": "6162"}, "data"),
        (FIELDS | {"data": "not hex"}, "data"),
        (FIELDS | {"kind": "MRD_32"}, "kind"),
        (FIELDS | {"fmt": 4}, "fmt"),
        (FIELDS | {"type": 99}, "type"),
        (tlp_to_fields(Tlp(TlpType.MSG, routing=3)) | {"routing": 2}, "routing"),
        ([("fmt", 2)], None),
    ],
)
def test_bad_fields_name_the_field(fields, field):
    with pytest.raises(FrameError) as info:
        tlp_from_fields(fields)
    assert info.value.field == field
