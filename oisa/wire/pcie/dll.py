"""PCIe data link layer frames (non-flit mode): DLLPs, and TLPs wrapped with a sequence
number and LCRC. The construct schemas here are normative; :mod:`oisa.wire.pcie.codec` holds
the fast forms, proven equal to these by the tests.

A DLLP is 4 bytes and a 16-bit CRC (6 bytes; framing symbols add 2 more on the wire, which the
physical layer owns). Byte 0 is the DLLP Type; for flow-control DLLPs its low 3 bits carry the
virtual channel. The other 3 bytes are laid out per type (the ``*_DLLP`` schemas). The CRC is
checked before the type is looked at, as a receiver must: a corrupted type byte is a bad DLLP
(:class:`~oisa.errors.CrcError`), not an unknown one. Type encodings this module does not know
(the MR-IOV ones and the reserved ones) raise :class:`~oisa.errors.FrameError` on field
``type``; a link layer may count and drop them.

Reserved bits (in Ack/Nak, PM and the sequence-number field) must be zero, as for TLPs (see
:mod:`oisa.wire.pcie.tlp` for why we are stricter than a PCIe receiver). The three bytes after a
NOP's type byte have no meaning in the specification; they are kept as sent in ``data``, as are
the vendor-defined bytes of a Vendor-specific DLLP.

A wrapped TLP is 2 bytes (4 reserved bits and the 12-bit sequence number), the TLP, and the
4-byte LCRC over both (see :mod:`oisa.wire.pcie.crc` for the bit order).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any

import construct as c

from oisa.errors import CrcError, FrameError
from oisa.wire.fc_class import FcClass
from oisa.wire.pcie.crc import dllp_crc16, lcrc32
from oisa.wire.pcie.tlp import MAX_TLP_SIZE
from oisa.wire.schema import Field, field_at, field_table, parse_exact

__all__ = [
    "ACK_NAK_DLLP",
    "ACK_NAK_FIELDS",
    "DLLP",
    "DLLP_FIELDS",
    "DLLP_LAYOUT_FIELDS",
    "DLLP_SCHEMAS",
    "DLLP_SIZE",
    "DLLP_TYPES",
    "DLL_OVERHEAD",
    "DLL_TLP",
    "FEATURE_DLLP",
    "FEATURE_FIELDS",
    "FLOW_CONTROL_DLLP",
    "FLOW_CONTROL_FIELDS",
    "INFO_BY_TYPE_BYTE",
    "MIN_TLP_SIZE",
    "NO_CONTENT_DLLP",
    "NO_CONTENT_FIELDS",
    "OPAQUE_DLLP",
    "OPAQUE_FIELDS",
    "SEQUENCE_FIELDS",
    "SEQUENCE_PREFIX",
    "SEQ_MODULUS",
    "Dllp",
    "DllpLayout",
    "DllpType",
    "DllpTypeInfo",
    "FcPhase",
    "build_dllp",
    "check_dll_frame",
    "check_dllp",
    "check_dllp_frame",
    "check_wrap",
    "decode_dllp_construct",
    "dllp_info",
    "encode_dllp_construct",
    "unwrap_tlp_construct",
    "wrap_tlp_construct",
]

FMT_DLLP = "pcie-dllp"
FMT_DLL_TLP = "pcie-dll-tlp"
DLLP_SIZE = 6
SEQ_MODULUS = 4096
DLL_OVERHEAD = 6  # sequence-number field and LCRC
MIN_TLP_SIZE = 12


class DllpType(enum.IntEnum):
    """DLLP Type encodings (byte 0; for flow-control types, with VC 0)."""

    ACK = 0x00
    DATA_LINK_FEATURE = 0x02
    NAK = 0x10
    PM_ENTER_L1 = 0x20
    PM_ENTER_L23 = 0x21
    PM_ACTIVE_STATE_REQUEST_L1 = 0x23
    PM_REQUEST_ACK = 0x24
    VENDOR = 0x30
    NOP = 0x31
    INIT_FC1_P = 0x40
    INIT_FC1_NP = 0x50
    INIT_FC1_CPL = 0x60
    UPDATE_FC_P = 0x80
    UPDATE_FC_NP = 0x90
    UPDATE_FC_CPL = 0xA0
    INIT_FC2_P = 0xC0
    INIT_FC2_NP = 0xD0
    INIT_FC2_CPL = 0xE0


class DllpLayout(enum.Enum):
    ACK_NAK = "ack_nak"
    FLOW_CONTROL = "flow_control"
    FEATURE = "feature"
    NO_CONTENT = "no_content"
    OPAQUE = "opaque"


class FcPhase(enum.Enum):
    """Which part of flow control a flow-control DLLP belongs to."""

    INIT1 = "InitFC1"
    INIT2 = "InitFC2"
    UPDATE = "UpdateFC"


@dataclass(frozen=True)
class DllpTypeInfo:
    kind: DllpType
    name: str
    layout: DllpLayout
    fc_phase: FcPhase | None = None
    fc_class: FcClass | None = None


def _fc(kind: DllpType, phase: FcPhase, fc_class: FcClass) -> DllpTypeInfo:
    suffix = {FcClass.POSTED: "P", FcClass.NON_POSTED: "NP", FcClass.COMPLETION: "Cpl"}[fc_class]
    return DllpTypeInfo(kind, f"{phase.value}-{suffix}", DllpLayout.FLOW_CONTROL, phase, fc_class)


D, L = DllpType, DllpLayout
DLLP_TYPES: dict[DllpType, DllpTypeInfo] = {info.kind: info for info in (
    DllpTypeInfo(D.ACK, "Ack", L.ACK_NAK),
    DllpTypeInfo(D.NAK, "Nak", L.ACK_NAK),
    DllpTypeInfo(D.DATA_LINK_FEATURE, "Data_Link_Feature", L.FEATURE),
    DllpTypeInfo(D.PM_ENTER_L1, "PM_Enter_L1", L.NO_CONTENT),
    DllpTypeInfo(D.PM_ENTER_L23, "PM_Enter_L23", L.NO_CONTENT),
    DllpTypeInfo(D.PM_ACTIVE_STATE_REQUEST_L1, "PM_Active_State_Request_L1", L.NO_CONTENT),
    DllpTypeInfo(D.PM_REQUEST_ACK, "PM_Request_Ack", L.NO_CONTENT),
    DllpTypeInfo(D.VENDOR, "Vendor-specific", L.OPAQUE),
    DllpTypeInfo(D.NOP, "NOP", L.OPAQUE),
    *(_fc(kind, phase, fc_class) for kind, phase, fc_class in (
        (D.INIT_FC1_P, FcPhase.INIT1, FcClass.POSTED),
        (D.INIT_FC1_NP, FcPhase.INIT1, FcClass.NON_POSTED),
        (D.INIT_FC1_CPL, FcPhase.INIT1, FcClass.COMPLETION),
        (D.UPDATE_FC_P, FcPhase.UPDATE, FcClass.POSTED),
        (D.UPDATE_FC_NP, FcPhase.UPDATE, FcClass.NON_POSTED),
        (D.UPDATE_FC_CPL, FcPhase.UPDATE, FcClass.COMPLETION),
        (D.INIT_FC2_P, FcPhase.INIT2, FcClass.POSTED),
        (D.INIT_FC2_NP, FcPhase.INIT2, FcClass.NON_POSTED),
        (D.INIT_FC2_CPL, FcPhase.INIT2, FcClass.COMPLETION),
    )),
)}
del D, L


def _by_type_byte() -> dict[int, DllpTypeInfo]:
    table = {}
    for kind, info in DLLP_TYPES.items():
        vcs = range(8) if info.layout is DllpLayout.FLOW_CONTROL else range(1)
        table.update({kind | vc: info for vc in vcs})
    return table


INFO_BY_TYPE_BYTE = _by_type_byte()
"""Every known value of byte 0, flow-control types with each VC, to its table entry."""


# --- schemas ---------------------------------------------------------------------------------

_TYPE = "type" / c.BitsInteger(8) * "DLLP Type"
_CRC_DOC = "CRC-16 (polynomial 0x100B, preset 0xFFFF) of bytes 0-3, bit-reversed and complemented, little-endian"

ACK_NAK_DLLP = c.BitStruct(
    _TYPE,
    "reserved" / c.BitsInteger(12) * "must be zero",
    "seq" / c.BitsInteger(12) * "AckNak_Seq_Num: Ack, all TLPs up to it arrived; Nak, replay those after it",
)
FLOW_CONTROL_DLLP = c.BitStruct(
    "type" / c.BitsInteger(5) * "DLLP Type[7:3]: InitFC1, InitFC2 or UpdateFC, for P, NP or Cpl",
    "vc" / c.BitsInteger(3) * "virtual channel (VC ID)",
    "hdr_scale" / c.BitsInteger(2) * "HdrScale: 00 scaling not in use, 01 x1, 10 x4, 11 x16",
    "hdr_fc" / c.BitsInteger(8) * "HdrFC: header credits (InitFC: advertised, 0 = infinite; UpdateFC: limit)",
    "data_scale" / c.BitsInteger(2) * "DataScale: as HdrScale, for data credits",
    "data_fc" / c.BitsInteger(12) * "DataFC: data credits of 16 bytes (InitFC: advertised, 0 = infinite)",
)
FEATURE_DLLP = c.BitStruct(
    _TYPE,
    "feature_ack" / c.Flag * "Feature Ack: the sender has received the peer's Data_Link_Feature DLLP",
    "feature_support" / c.BitsInteger(23) * "Feature Support bits (bit 0: Scaled Flow Control)",
)
NO_CONTENT_DLLP = c.BitStruct(
    _TYPE,
    "reserved" / c.BitsInteger(24) * "must be zero (power-management DLLPs carry nothing else)",
)
OPAQUE_DLLP = c.BitStruct(
    _TYPE,
    "data" / c.BitsInteger(24) * "Vendor-specific: defined by the vendor; NOP: no meaning, kept as sent",
)

DLLP_SCHEMAS: dict[DllpLayout, c.Construct] = {
    DllpLayout.ACK_NAK: ACK_NAK_DLLP,
    DllpLayout.FLOW_CONTROL: FLOW_CONTROL_DLLP,
    DllpLayout.FEATURE: FEATURE_DLLP,
    DllpLayout.NO_CONTENT: NO_CONTENT_DLLP,
    DllpLayout.OPAQUE: OPAQUE_DLLP,
}

DLLP = c.Struct(
    "body" / c.RawCopy(c.Bytes(4)) * "type and content, laid out as the schema of the type says",
    "crc" / c.Checksum(c.Int16ul, dllp_crc16, c.this.body.data) * _CRC_DOC,
)
"""The DLLP envelope: checked first, so that no field is trusted before the CRC."""

SEQUENCE_PREFIX = c.BitStruct(
    "reserved" / c.BitsInteger(4) * "must be zero",
    "seq" / c.BitsInteger(12) * "TLP Sequence Number, modulo 4096",
)
DLL_TLP = c.Struct(
    "body" / c.RawCopy(c.Struct(
        "prefix" / SEQUENCE_PREFIX,
        "tlp" / c.Bytes(c.this._params.tlp_size) * "the TLP, ECRC included",
    )),
    "lcrc" / c.Checksum(c.Int32ul, lcrc32, c.this.body.data)
    * "LCRC: CRC-32 (zlib's) of the sequence-number field and the TLP, little-endian",
)


def _with_crc(table: list[Field]) -> list[Field]:
    return [*table, Field("crc", 32, 16, _CRC_DOC)]


DLLP_FIELDS = _with_crc(field_table(c.BitStruct(_TYPE, "content" / c.BitsInteger(24) * "laid out per type")))
ACK_NAK_FIELDS = _with_crc(field_table(ACK_NAK_DLLP))
FLOW_CONTROL_FIELDS = _with_crc(field_table(FLOW_CONTROL_DLLP))
FEATURE_FIELDS = _with_crc(field_table(FEATURE_DLLP))
NO_CONTENT_FIELDS = _with_crc(field_table(NO_CONTENT_DLLP))
OPAQUE_FIELDS = _with_crc(field_table(OPAQUE_DLLP))
SEQUENCE_FIELDS = field_table(SEQUENCE_PREFIX)

_TABLES = {
    DllpLayout.ACK_NAK: ACK_NAK_FIELDS,
    DllpLayout.FLOW_CONTROL: FLOW_CONTROL_FIELDS,
    DllpLayout.FEATURE: FEATURE_FIELDS,
    DllpLayout.NO_CONTENT: NO_CONTENT_FIELDS,
    DllpLayout.OPAQUE: OPAQUE_FIELDS,
}
_OFFSETS = {layout: {f.name: f.offset for f in table} | {"kind": 0} for layout, table in _TABLES.items()}


# --- the in-memory form ----------------------------------------------------------------------

@dataclass(slots=True, frozen=True)
class Dllp:
    """One DLLP; a field its type does not have must keep its default."""

    kind: DllpType
    seq: int = 0
    vc: int = 0
    hdr_scale: int = 0
    hdr_fc: int = 0
    data_scale: int = 0
    data_fc: int = 0
    feature_ack: bool = False
    feature_support: int = 0
    data: int = 0

    @property
    def info(self) -> DllpTypeInfo:
        return DLLP_TYPES[self.kind]


DLLP_LAYOUT_FIELDS: dict[DllpLayout, tuple[str, ...]] = {
    DllpLayout.ACK_NAK: ("seq",),
    DllpLayout.FLOW_CONTROL: ("vc", "hdr_scale", "hdr_fc", "data_scale", "data_fc"),
    DllpLayout.FEATURE: ("feature_ack", "feature_support"),
    DllpLayout.NO_CONTENT: (),
    DllpLayout.OPAQUE: ("data",),
}
_WIDTHS = dict(seq=12, vc=3, hdr_scale=2, hdr_fc=8, data_scale=2, data_fc=12, feature_ack=1, feature_support=23,
               data=24)
_NAMES = tuple(f.name for f in fields(Dllp) if f.name != "kind")
_DLLP_BY_CODE: dict[int, DllpTypeInfo] = {int(kind): info for kind, info in DLLP_TYPES.items()}


def dllp_info(kind: Any) -> DllpTypeInfo:
    """The table entry of ``kind``, or :class:`FrameError` if it is not a DLLP type."""
    info = _DLLP_BY_CODE.get(kind) if isinstance(kind, int) else None
    if info is None:
        raise FrameError(f"{kind!r} is not a DLLP type", fmt=FMT_DLLP, field="type", offset=0)
    return info


def check_dllp(d: Dllp) -> DllpTypeInfo:
    """Raise :class:`FrameError` naming the first field out of range or foreign to the type."""
    info = dllp_info(d.kind)
    used = DLLP_LAYOUT_FIELDS[info.layout]
    offsets = _OFFSETS[info.layout]
    for name in _NAMES:
        value = getattr(d, name)
        if name not in used:
            if value:
                raise FrameError(f"{info.name} has no {name} field (it must stay 0)", fmt=FMT_DLLP, field=name,
                                 offset=0)
        elif not 0 <= value < 1 << _WIDTHS[name]:
            raise FrameError(f"{value} does not fit in {_WIDTHS[name]} bits", fmt=FMT_DLLP, field=name,
                             offset=offsets[name])
    return info


def build_dllp(type_byte: int, raw: Any) -> Dllp:
    """A :class:`Dllp` from byte 0 and the raw fields of its layout (schema names); both
    decoders end here. The fields come out of bit fields of their own widths, so the range
    checks of :func:`check_dllp` cannot fail and are not repeated."""
    info = INFO_BY_TYPE_BYTE.get(type_byte)
    if info is None:
        raise FrameError(f"unknown or unsupported DLLP type 0x{type_byte:02x}", fmt=FMT_DLLP, field="type", offset=0)
    if raw.get("reserved"):
        raise FrameError("reserved bits are set", fmt=FMT_DLLP, field="reserved",
                         offset=_OFFSETS[info.layout]["reserved"])
    values = {name: raw[name] for name in DLLP_LAYOUT_FIELDS[info.layout]}
    if "feature_ack" in values:
        values["feature_ack"] = bool(values["feature_ack"])
    return Dllp(info.kind, **values)


def _raw_fields(d: Dllp, info: DllpTypeInfo) -> dict[str, Any]:
    """The raw fields of a checked ``d`` by schema name, as the construct encoder writes them."""
    raw: dict[str, Any] = {name: getattr(d, name) for name in DLLP_LAYOUT_FIELDS[info.layout]}
    if info.layout is DllpLayout.FLOW_CONTROL:
        raw["type"] = info.kind >> 3
    else:
        raw["type"] = int(info.kind)
    if info.layout in (DllpLayout.ACK_NAK, DllpLayout.NO_CONTENT):
        raw["reserved"] = 0
    return raw


def check_dllp_frame(data: bytes | bytearray | memoryview) -> None:
    """A DLLP is exactly 6 bytes: say which field a short one stops in, where a long one ends."""
    if len(data) < DLLP_SIZE:
        raise FrameError(f"truncated: {len(data)} of {DLLP_SIZE} bytes", fmt=FMT_DLLP,
                         field=field_at(DLLP_FIELDS, len(data)), offset=len(data))
    if len(data) > DLLP_SIZE:
        raise FrameError(f"{len(data) - DLLP_SIZE} bytes after the end of the DLLP", fmt=FMT_DLLP, offset=DLLP_SIZE)


def decode_dllp_construct(data: bytes) -> Dllp:
    """Decode one DLLP with the normative schemas: length, then CRC, then type and fields."""
    check_dllp_frame(data)
    body = parse_exact(DLLP, data, FMT_DLLP).body.data
    info = INFO_BY_TYPE_BYTE.get(body[0])
    raw = DLLP_SCHEMAS[info.layout].parse(body) if info is not None else {}
    return build_dllp(body[0], raw)


def encode_dllp_construct(d: Dllp) -> bytes:
    """Encode one DLLP with the normative schemas, CRC included (slow; for tools and tests)."""
    info = check_dllp(d)
    body = DLLP_SCHEMAS[info.layout].build(_raw_fields(d, info))
    return bytes(DLLP.build(dict(body=dict(value=body))))


# --- TLPs wrapped by the data link layer -----------------------------------------------------

def check_wrap(seq: int, tlp: bytes | bytearray | memoryview) -> None:
    """Refuse to wrap what :func:`check_dll_frame` would refuse to unwrap."""
    if not 0 <= seq < SEQ_MODULUS:
        raise FrameError(f"sequence number {seq} is not 0 to {SEQ_MODULUS - 1}", fmt=FMT_DLL_TLP, field="seq",
                         offset=0)
    _check_tlp_span(len(tlp))


def _check_tlp_span(size: int) -> None:
    if size < MIN_TLP_SIZE or size > MAX_TLP_SIZE or size % 4:
        raise FrameError(f"{size} bytes between sequence number and LCRC is not a TLP (whole double words, "
                         f"{MIN_TLP_SIZE} to {MAX_TLP_SIZE})", fmt=FMT_DLL_TLP, field="tlp", offset=2)


def check_dll_frame(data: bytes | bytearray | memoryview) -> None:
    """A wrapped TLP is the 2-byte sequence field, a whole TLP and the 4-byte LCRC."""
    if len(data) < 2:
        raise FrameError(f"truncated: {len(data)} bytes", fmt=FMT_DLL_TLP, field=field_at(SEQUENCE_FIELDS, len(data)),
                         offset=len(data))
    _check_tlp_span(len(data) - DLL_OVERHEAD)


def unwrap_tlp_construct(data: bytes) -> tuple[int, bytes]:
    """Check the LCRC and the sequence field with the normative schema; return ``(seq, tlp)``."""
    check_dll_frame(data)
    try:
        parsed = parse_exact(DLL_TLP, data, FMT_DLL_TLP, tlp_size=len(data) - DLL_OVERHEAD)
    except CrcError as exc:
        raise CrcError("LCRC does not match the sequence number and TLP", fmt=FMT_DLL_TLP, field="lcrc",
                       offset=len(data) - 4) from exc
    value = parsed.body.value
    if value.prefix.reserved:
        raise FrameError("reserved bits are set", fmt=FMT_DLL_TLP, field="reserved", offset=0)
    return value.prefix.seq, bytes(value.tlp)


def wrap_tlp_construct(seq: int, tlp: bytes) -> bytes:
    """Prefix the sequence-number field and append the LCRC with the normative schema (slow)."""
    check_wrap(seq, tlp)
    value = dict(body=dict(value=dict(prefix=dict(reserved=0, seq=seq), tlp=tlp)))
    return bytes(DLL_TLP.build(value, tlp_size=len(tlp)))
