"""The fast PCIe codec: the same bytes as the construct schemas of :mod:`oisa.wire.pcie.tlp` and
:mod:`oisa.wire.pcie.dll`, with ``struct``, integer arithmetic and ``zlib``.

PCIe-native devices run through this on every TLP and DLLP, so it packs header double words
directly from the :class:`~oisa.wire.pcie.tlp.Tlp` fields instead of going through a dict. The
rules live once, in :func:`~oisa.wire.pcie.tlp.check_tlp` / :func:`~oisa.wire.pcie.tlp.build_tlp`
and their DLLP twins, which both codecs call; ``tests/wire/test_pcie.py`` and
``tests/wire/test_pcie_dll.py`` prove the two codecs equal on generated and mutated frames.
"""

from __future__ import annotations

import struct
import zlib

from oisa.errors import CrcError, FrameError
from oisa.wire.pcie.crc import dllp_crc16, ecrc32
from oisa.wire.pcie.dll import (
    FMT_DLL_TLP,
    FMT_DLLP,
    INFO_BY_TYPE_BYTE,
    Dllp,
    DllpLayout,
    build_dllp,
    check_dll_frame,
    check_dllp,
    check_dllp_frame,
    check_wrap,
)
from oisa.wire.pcie.tlp import (
    DIGEST_SIZE,
    FMT,
    Layout,
    Tlp,
    build_tlp,
    check_tlp,
    check_tlp_frame,
)

__all__ = ["decode_dllp", "decode_tlp", "encode_dllp", "encode_tlp", "unwrap_tlp", "wrap_tlp"]

_DW2 = struct.Struct(">II")
_DW3 = struct.Struct(">III")
_DW2Q = struct.Struct(">IIQ")


def encode_tlp(t: Tlp) -> bytes:
    """The bytes of ``t``: header, data, and the ECRC when TD is set."""
    info = check_tlp(t)
    tag = t.tag
    dw0 = ((info.kind | t.routing) << 24 | (tag >> 9 & 1) << 23 | t.tc << 20 | (tag >> 8 & 1) << 19
           | (t.attr >> 2) << 18 | t.ln << 17 | t.th << 16 | t.td << 15 | t.ep << 14 | (t.attr & 3) << 12
           | t.at << 10 | (t.length & 0x3FF))
    layout = info.layout
    if layout is Layout.COMPLETION:
        head = _DW3.pack(dw0, t.completer_id << 16 | t.status << 13 | t.bcm << 12 | (t.byte_count & 0xFFF),
                         t.requester_id << 16 | (tag & 0xFF) << 8 | t.lower_address)
    elif layout is Layout.MESSAGE:
        head = _DW2.pack(dw0, t.requester_id << 16 | (tag & 0xFF) << 8 | t.message_code) + t.message_data
    else:
        dw1 = t.requester_id << 16 | (tag & 0xFF) << 8 | t.last_be << 4 | t.first_be
        if layout is Layout.REQUEST64:
            head = _DW2Q.pack(dw0, dw1, t.address | t.ph)
        elif layout is Layout.CONFIG:
            head = _DW3.pack(dw0, dw1, t.completer_id << 16 | t.ext_register << 8 | t.register << 2)
        else:
            head = _DW3.pack(dw0, dw1, t.address | t.ph)
    body = head + t.data
    if t.td:
        return body + ecrc32(body).to_bytes(DIGEST_SIZE, "little")
    return body


def decode_tlp(data: bytes | bytearray | memoryview) -> Tlp:
    """Decode exactly one TLP: framing, then ECRC, then every rule of :func:`check_tlp`."""
    info = check_tlp_frame(data)
    end = len(data)
    if data[2] & 0x80:
        end -= DIGEST_SIZE
        if ecrc32(memoryview(data)[:end]) != int.from_bytes(data[end:], "little"):
            raise CrcError("ECRC does not match the TLP's contents", fmt=FMT, field="ecrc", offset=end)
    dw0, dw1, dw2 = _DW3.unpack_from(data)
    raw = dict(fmt=dw0 >> 29, type=dw0 >> 24 & 0x1F, t9=dw0 >> 23 & 1, tc=dw0 >> 20 & 7, t8=dw0 >> 19 & 1,
               attr2=dw0 >> 18 & 1, ln=dw0 >> 17 & 1, th=dw0 >> 16 & 1, td=dw0 >> 15 & 1, ep=dw0 >> 14 & 1,
               attr=dw0 >> 12 & 3, at=dw0 >> 10 & 3, length=dw0 & 0x3FF)
    layout = info.layout
    if layout is Layout.COMPLETION:
        raw.update(completer_id=dw1 >> 16, status=dw1 >> 13 & 7, bcm=dw1 >> 12 & 1, byte_count=dw1 & 0xFFF,
                   requester_id=dw2 >> 16, tag=dw2 >> 8 & 0xFF, reserved=dw2 >> 7 & 1, lower_address=dw2 & 0x7F)
    elif layout is Layout.MESSAGE:
        raw.update(requester_id=dw1 >> 16, tag=dw1 >> 8 & 0xFF, message_code=dw1 & 0xFF,
                   message_data=int.from_bytes(data[8:16], "big"))
    else:
        raw.update(requester_id=dw1 >> 16, tag=dw1 >> 8 & 0xFF, last_be=dw1 >> 4 & 0xF, first_be=dw1 & 0xF)
        if layout is Layout.CONFIG:
            raw.update(completer_id=dw2 >> 16, reserved_0=dw2 >> 12 & 0xF, ext_register=dw2 >> 8 & 0xF,
                       register=dw2 >> 2 & 0x3F, reserved_1=dw2 & 3)
        else:
            low = int.from_bytes(data[8:16], "big") if layout is Layout.REQUEST64 else dw2
            raw["address"] = low >> 2
            raw["reserved" if layout is Layout.IO else "ph"] = low & 3
    return build_tlp(raw, bytes(data[info.header_size:end]))


def encode_dllp(d: Dllp) -> bytes:
    """The 6 bytes of ``d``, CRC included."""
    info = check_dllp(d)
    layout = info.layout
    if layout is DllpLayout.ACK_NAK:
        word = info.kind << 24 | d.seq
    elif layout is DllpLayout.FLOW_CONTROL:
        word = ((info.kind | d.vc) << 24 | d.hdr_scale << 22 | d.hdr_fc << 14 | d.data_scale << 12 | d.data_fc)
    elif layout is DllpLayout.FEATURE:
        word = info.kind << 24 | d.feature_ack << 23 | d.feature_support
    else:
        word = info.kind << 24 | d.data
    body = word.to_bytes(4, "big")
    return body + dllp_crc16(body).to_bytes(2, "little")


def decode_dllp(data: bytes | bytearray | memoryview) -> Dllp:
    """Decode one 6-byte DLLP: length, then CRC, then type and fields."""
    if len(data) != 6:
        check_dllp_frame(data)
    if dllp_crc16(memoryview(data)[:4]) != data[4] | data[5] << 8:
        raise CrcError("CRC does not match the DLLP's contents", fmt=FMT_DLLP, field="crc", offset=4)
    word = int.from_bytes(data[:4], "big")
    info = INFO_BY_TYPE_BYTE.get(data[0])
    layout = info.layout if info is not None else None
    if layout is DllpLayout.ACK_NAK:
        raw = dict(reserved=word >> 12 & 0xFFF, seq=word & 0xFFF)
    elif layout is DllpLayout.FLOW_CONTROL:
        raw = dict(vc=data[0] & 7, hdr_scale=word >> 22 & 3, hdr_fc=word >> 14 & 0xFF, data_scale=word >> 12 & 3,
                   data_fc=word & 0xFFF)
    elif layout is DllpLayout.FEATURE:
        raw = dict(feature_ack=word >> 23 & 1, feature_support=word & 0x7FFFFF)
    elif layout is DllpLayout.NO_CONTENT:
        raw = dict(reserved=word & 0xFFFFFF)
    else:
        raw = dict(data=word & 0xFFFFFF)
    return build_dllp(data[0], raw)


def wrap_tlp(seq: int, tlp: bytes | bytearray | memoryview) -> bytes:
    """The TLP as the data link layer sends it: sequence-number field, TLP, LCRC."""
    check_wrap(seq, tlp)
    body = seq.to_bytes(2, "big") + bytes(tlp)
    return body + zlib.crc32(body).to_bytes(4, "little")


def unwrap_tlp(data: bytes | bytearray | memoryview) -> tuple[int, bytes]:
    """``(seq, tlp)`` from a wrapped TLP whose LCRC is good (else :class:`CrcError`)."""
    check_dll_frame(data)
    end = len(data) - 4
    if zlib.crc32(memoryview(data)[:end]) != int.from_bytes(data[end:], "little"):
        raise CrcError("LCRC does not match the sequence number and TLP", fmt=FMT_DLL_TLP, field="lcrc",
                       offset=end)
    if data[0] & 0xF0:
        raise FrameError("reserved bits are set", fmt=FMT_DLL_TLP, field="reserved", offset=0)
    return (data[0] & 0xF) << 8 | data[1], bytes(data[2:end])
