"""CXL.mem messages as CXL 2.0 sends them in 68B flit mode: the normative construct schemas
and the in-memory form.

Four message classes cross a CXL.mem link (CXL spec §3.3): from the host (Master) to the
memory device (Subordinate) a request without data (M2S Req) and a request with a 64-byte line
of data (M2S RwD); back from the device a response without data (S2M NDR) and a response with
data (S2M DRS). The bit groups below are the messages exactly as they sit in a 68B-flit slot,
bit 0 first (``oisa.wire.cxl.slots`` places them); widths and encodings follow the "68B Flit"
column of the spec's field tables (§3.3.5-3.3.10), which keeps the CXL 2.0 definition. Opcodes
that CXL 3.x added (MemClnEvct, Cmp-M, MemData-NXM, BIConflict, the TEE variants) are reserved
here, as in CXL 2.0. Section and table numbers are those of the CXL 3.x text that was read.

A message on its own (``oisa decode --format cxl-mem``) is serialised as our own frame, not the
spec's: one byte naming the class (:class:`MemClass`), the message bits as in a slot (bit 0 =
bit 0 of byte 1) padded with zero bits to a whole byte, then for RwD the 64 data bytes and the 8
byte-enable bytes (little-endian, bit *i* enables data byte *i*) and for DRS the 64 data bytes.
Inside a flit the data travels in data slots instead; a message whose ``data`` is ``None`` is
such a header-only message.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, TypeAlias

import construct as c

from oisa.errors import FrameError
from oisa.wire.bits import le_bits, lsb_field_table, lsb_first
from oisa.wire.plain_fields import FieldProblem, as_bool, as_enum, as_int, check_width, require_keys
from oisa.wire.schema import Field, field_at, parse_exact

__all__ = [
    "ALL_BYTES",
    "CLASS_OF",
    "FRAME",
    "FRAME_FIELDS",
    "FRAME_SIZE",
    "LINE_SIZE",
    "MESSAGE_BITS",
    "MESSAGE_FIELDS",
    "S2MDRS",
    "S2MNDR",
    "CxlMemMessage",
    "DevLoad",
    "Direction",
    "M2SReq",
    "M2SReqOpcode",
    "M2SRwD",
    "M2SRwDOpcode",
    "MemClass",
    "MetaField",
    "MetaValue",
    "S2MDRSOpcode",
    "S2MNDROpcode",
    "SnpType",
    "check_cxl_mem",
    "cxl_mem_from_fields",
    "decode_cxl_mem",
    "direction_of",
    "encode_cxl_mem",
]

FMT = "cxl-mem"
LINE_SIZE = 64
ALL_BYTES = (1 << LINE_SIZE) - 1


class Direction(enum.Enum):
    """Which way a message or flit travels; the 68B slot formats differ by direction."""

    M2S = "m2s"  # host to device (downstream): H2D/M2S slot formats
    S2M = "s2m"  # device to host (upstream): D2H/S2M slot formats


class MemClass(enum.IntEnum):
    """CXL.mem message class; its value is the leading byte of a standalone frame (our choice)."""

    M2S_REQ = 1
    M2S_RWD = 2
    S2M_NDR = 3
    S2M_DRS = 4


class M2SReqOpcode(enum.IntEnum):
    """MemOpcode of M2S Req (CXL spec Table 3-35, the encodings CXL 2.0 defines)."""

    MEM_INV = 0b0000
    MEM_RD = 0b0001
    MEM_RD_DATA = 0b0010
    MEM_RD_FWD = 0b0011
    MEM_WR_FWD = 0b0100
    MEM_SPEC_RD = 0b1000
    MEM_INV_NT = 0b1001


class M2SRwDOpcode(enum.IntEnum):
    """MemOpcode of M2S RwD (CXL spec Table 3-41)."""

    MEM_WR = 0b0001
    MEM_WR_PTL = 0b0010


class S2MNDROpcode(enum.IntEnum):
    """Opcode of S2M NDR (CXL spec Table 3-50)."""

    CMP = 0b000
    CMP_S = 0b001
    CMP_E = 0b010


class S2MDRSOpcode(enum.IntEnum):
    """Opcode of S2M DRS (CXL spec Table 3-53)."""

    MEM_DATA = 0b000


class SnpType(enum.IntEnum):
    """Snoop the device's coherence engine must do first (CXL spec Table 3-38)."""

    NO_OP = 0b000
    SNP_DATA = 0b001
    SNP_CUR = 0b010
    SNP_INV = 0b011


class MetaField(enum.IntEnum):
    """Which metadata field the message updates or reports (CXL spec Table 3-36)."""

    META0_STATE = 0b00
    NO_OP = 0b11


class MetaValue(enum.IntEnum):
    """Meta0-State values: what the host may hold of the line (CXL spec Table 3-37)."""

    INVALID = 0b00
    ANY = 0b10
    SHARED = 0b11


class DevLoad(enum.IntEnum):
    """Device load reported in every response, for host QoS throttling (CXL spec Table 3-51)."""

    LIGHT_LOAD = 0b00
    OPTIMAL_LOAD = 0b01
    MODERATE_OVERLOAD = 0b10
    SEVERE_OVERLOAD = 0b11


# --- the normative bit groups, bit 0 first (CXL spec Tables 3-34, 3-40, 3-49, 3-52) ---------------

_VALID = "valid" / c.Flag * "1: this position holds a message; 0: the position is empty"
_META_FIELD = "meta_field" / c.BitsInteger(2) * "metadata field: 0 Meta0-State, 3 No-Op (1, 2 reserved)"
_TAG = "tag" / c.BitsInteger(16) * "requester's tracking entry; responses reflect it"
_LD_ID = "ld_id" / c.BitsInteger(4) * "LD-ID[3:0]: logical device within a multi-logical device"
_TC = "tc" / c.BitsInteger(2) * "traffic class, reserved by the spec for future QoS use; carried as is"
_DEV_LOAD = "dev_load" / c.BitsInteger(2) * "device load: 0 light, 1 optimal, 2 moderate overload, 3 severe"
_POISON = "poison" / c.Flag * "the data is known to be bad"

M2S_REQ_BITS = lsb_first(
    _VALID,
    "mem_opcode" / c.BitsInteger(4) * "memory operation (M2S Req opcode table)",
    "snp_type" / c.BitsInteger(3) * "snoop first: 0 No-Op, 1 SnpData, 2 SnpCur, 3 SnpInv (4-7 reserved)",
    _META_FIELD,
    "meta_value" / c.BitsInteger(2) * "Meta0-State to set: 0 I, 2 A, 3 S (1 reserved; 0 when MetaField is No-Op)",
    _TAG,
    "address" / c.BitsInteger(47) * "Address[51:5]: host physical address of the 32-byte half line",
    _TC,
    _LD_ID,
    "reserved" / c.BitsInteger(6) * "must be zero",
)

M2S_RWD_BITS = lsb_first(
    _VALID,
    "mem_opcode" / c.BitsInteger(4) * "memory operation: 1 MemWr, 2 MemWrPtl (others reserved)",
    "snp_type" / c.BitsInteger(3) * "snoop first: 0 No-Op, 1 SnpData, 2 SnpCur, 3 SnpInv (4-7 reserved)",
    _META_FIELD,
    "meta_value" / c.BitsInteger(2) * "Meta0-State to set: 0 I, 2 A, 3 S (1 reserved; 0 when MetaField is No-Op)",
    _TAG,
    "address" / c.BitsInteger(46) * "Address[51:6]: host physical address of the 64-byte line",
    _POISON,
    _TC,
    _LD_ID,
    "reserved" / c.BitsInteger(6) * "must be zero",
)

S2M_NDR_BITS = lsb_first(
    _VALID,
    "opcode" / c.BitsInteger(3) * "completion: 0 Cmp, 1 Cmp-S, 2 Cmp-E (others reserved)",
    _META_FIELD,
    "meta_value" / c.BitsInteger(2) * "Meta0-State read from memory (don't care when MetaField is No-Op)",
    _TAG,
    _LD_ID,
    _DEV_LOAD,
)

# The NDR without its DevLoad: slot formats H4, G4 and G5 put the two DevLoad bits of each NDR
# after all the messages, in bits that CXL 1.1 reserved (CXL spec §4.2.3.2).
S2M_NDR_NO_LOAD_BITS = lsb_first(*[sub for sub in reversed(S2M_NDR_BITS.subcons) if sub.name != "dev_load"])

S2M_DRS_BITS = lsb_first(
    _VALID,
    "opcode" / c.BitsInteger(3) * "data response: 0 MemData (others reserved)",
    _META_FIELD,
    "meta_value" / c.BitsInteger(2) * "Meta0-State read from memory (don't care when MetaField is No-Op)",
    _TAG,
    _POISON,
    _LD_ID,
    _DEV_LOAD,
    "reserved" / c.BitsInteger(9) * "must be zero",
)

MESSAGE_BITS: dict[MemClass, c.Struct] = {
    MemClass.M2S_REQ: M2S_REQ_BITS,
    MemClass.M2S_RWD: M2S_RWD_BITS,
    MemClass.S2M_NDR: S2M_NDR_BITS,
    MemClass.S2M_DRS: S2M_DRS_BITS,
}
MESSAGE_FIELDS: dict[MemClass, list[Field]] = {cls: lsb_field_table(bits) for cls, bits in MESSAGE_BITS.items()}
MESSAGE_WIDTH = {cls: sum(f.bits for f in table) for cls, table in MESSAGE_FIELDS.items()}  # 87, 87, 30, 40
_HEADER_BYTES = {cls: (width + 7) // 8 for cls, width in MESSAGE_WIDTH.items()}
_CARRIES_DATA = (MemClass.M2S_RWD, MemClass.S2M_DRS)


def _frame_header(cls: MemClass) -> c.Construct:
    pad = _HEADER_BYTES[cls] * 8 - MESSAGE_WIDTH[cls]
    if not pad:
        return le_bits("message" / MESSAGE_BITS[cls])
    return le_bits("message" / MESSAGE_BITS[cls], "pad" / c.BitsInteger(pad) * "zero bits up to a whole byte")


FRAME = c.Struct(
    "class" / c.Int8ub * "message class: 1 M2S Req, 2 M2S RwD, 3 S2M NDR, 4 S2M DRS (our framing, not the spec's)",
    "header" / c.Switch(c.this["class"], {int(cls): _frame_header(cls) for cls in MemClass}),
    "data" / c.If(lambda ctx: ctx["class"] in _CARRIES_DATA, c.Bytes(LINE_SIZE)) * "the 64-byte line, byte 0 first",
    "byte_enable" / c.If(c.this["class"] == MemClass.M2S_RWD, c.Int64ul) * "RwD only: bit i enables data byte i",
)


def _frame_fields(cls: MemClass) -> list[Field]:
    header_end = 8 + _HEADER_BYTES[cls] * 8
    table = [Field("class", 0, 8, FRAME.subcons[0].docs)]
    table += [Field(f.name, 8 + f.bit_offset, f.bits, f.doc) for f in MESSAGE_FIELDS[cls]]
    if header_end > 8 + MESSAGE_WIDTH[cls]:
        table.append(Field("pad", 8 + MESSAGE_WIDTH[cls], header_end - 8 - MESSAGE_WIDTH[cls],
                           "zero bits up to a whole byte"))
    if cls in _CARRIES_DATA:
        table.append(Field("data", header_end, LINE_SIZE * 8, "the 64-byte line, byte 0 first"))
    if cls is MemClass.M2S_RWD:
        table.append(Field("byte_enable", header_end + LINE_SIZE * 8, 64, "bit i enables data byte i"))
    return table


FRAME_FIELDS: dict[MemClass, list[Field]] = {cls: _frame_fields(cls) for cls in MemClass}
FRAME_SIZE = {cls: (table[-1].bit_offset + table[-1].bits) // 8 for cls, table in FRAME_FIELDS.items()}


# --- the in-memory form -----------------------------------------------------------------------------

@dataclass(slots=True, frozen=True)
class M2SReq:
    """A request without data from host to device (reads, invalidations, forwards)."""

    mem_opcode: M2SReqOpcode
    address: int  # byte address; bits 4:0 must be zero
    tag: int = 0
    snp_type: SnpType = SnpType.NO_OP
    meta_field: MetaField = MetaField.NO_OP
    meta_value: int = 0
    ld_id: int = 0
    tc: int = 0

    msg_class: ClassVar[MemClass] = MemClass.M2S_REQ

    def to_fields(self) -> dict[str, Any]:
        return _to_fields(self)


@dataclass(slots=True, frozen=True)
class M2SRwD:
    """A write of one 64-byte line from host to device; ``data`` is ``None`` for the header
    alone, as a slot carries it."""

    mem_opcode: M2SRwDOpcode
    address: int  # byte address; bits 5:0 must be zero
    data: bytes | None = None
    byte_enable: int = ALL_BYTES  # MemWrPtl: bit i enables data byte i
    tag: int = 0
    snp_type: SnpType = SnpType.NO_OP
    meta_field: MetaField = MetaField.NO_OP
    meta_value: int = 0
    poison: bool = False
    ld_id: int = 0
    tc: int = 0

    msg_class: ClassVar[MemClass] = MemClass.M2S_RWD

    def to_fields(self) -> dict[str, Any]:
        return _to_fields(self)


@dataclass(slots=True, frozen=True)
class S2MNDR:
    """A completion without data from device to host."""

    opcode: S2MNDROpcode
    tag: int = 0
    meta_field: MetaField = MetaField.NO_OP
    meta_value: int = 0
    ld_id: int = 0
    dev_load: DevLoad = DevLoad.LIGHT_LOAD

    msg_class: ClassVar[MemClass] = MemClass.S2M_NDR

    def to_fields(self) -> dict[str, Any]:
        return _to_fields(self)


@dataclass(slots=True, frozen=True)
class S2MDRS:
    """Read data (one 64-byte line) from device to host; ``data`` is ``None`` for the header alone."""

    opcode: S2MDRSOpcode
    tag: int = 0
    data: bytes | None = None
    meta_field: MetaField = MetaField.NO_OP
    meta_value: int = 0
    poison: bool = False
    ld_id: int = 0
    dev_load: DevLoad = DevLoad.LIGHT_LOAD

    msg_class: ClassVar[MemClass] = MemClass.S2M_DRS

    def to_fields(self) -> dict[str, Any]:
        return _to_fields(self)


CxlMemMessage: TypeAlias = M2SReq | M2SRwD | S2MNDR | S2MDRS
CLASS_OF: dict[MemClass, type[CxlMemMessage]] = {
    MemClass.M2S_REQ: M2SReq, MemClass.M2S_RWD: M2SRwD, MemClass.S2M_NDR: S2MNDR, MemClass.S2M_DRS: S2MDRS,
}
_OPCODE_TYPE: dict[MemClass, type[enum.IntEnum]] = {
    MemClass.M2S_REQ: M2SReqOpcode, MemClass.M2S_RWD: M2SRwDOpcode,
    MemClass.S2M_NDR: S2MNDROpcode, MemClass.S2M_DRS: S2MDRSOpcode,
}
_ADDRESS_SHIFT = {MemClass.M2S_REQ: 5, MemClass.M2S_RWD: 6}


def direction_of(message: CxlMemMessage) -> Direction:
    return Direction.M2S if message.msg_class in (MemClass.M2S_REQ, MemClass.M2S_RWD) else Direction.S2M


def _opcode_name(message: CxlMemMessage) -> str:
    return "mem_opcode" if direction_of(message) is Direction.M2S else "opcode"


# --- the rules, once, for every codec ---------------------------------------------------------------

def check_cxl_mem(message: CxlMemMessage, *, header_only: bool = False) -> None:
    """Raise :class:`FrameError` naming the first field of ``message`` that breaks the spec's
    rules (the offset is where the field sits in a standalone frame).

    ``header_only`` is the form a slot carries: no data, and byte enables (which travel in a
    byte-enable slot of their own) left at all ones.
    """
    try:
        validate_cxl_mem(message, header_only=header_only)
    except FieldProblem as problem:
        raise _located(problem, message.msg_class) from None


def validate_cxl_mem(message: CxlMemMessage, *, header_only: bool = False) -> None:
    """:func:`check_cxl_mem` for the other CXL wire modules, which place the field themselves:
    raises :class:`FieldProblem`."""
    cls = message.msg_class
    opcode_name = _opcode_name(message)
    opcode = getattr(message, opcode_name)
    if opcode not in _OPCODE_TYPE[cls]._value2member_map_:
        raise FieldProblem(opcode_name, f"reserved or unknown {cls.name} opcode {opcode!r}")
    for name, bits in (("tag", 16), ("ld_id", 4), ("tc", 2), ("meta_value", 2)):
        if hasattr(message, name):
            check_width(name, getattr(message, name), bits)
    if message.meta_field not in MetaField._value2member_map_:
        raise FieldProblem("meta_field", f"reserved MetaField encoding {message.meta_field!r}")
    _check_meta_value(message)
    if isinstance(message, (S2MNDR, S2MDRS)) and message.dev_load not in DevLoad._value2member_map_:
        raise FieldProblem("dev_load", f"{message.dev_load!r} is not a DevLoad encoding")
    if isinstance(message, (M2SReq, M2SRwD)):
        _check_m2s(message)
    if isinstance(message, (M2SRwD, S2MDRS)):
        _check_payload(message, header_only)


def _check_meta_value(message: CxlMemMessage) -> None:
    if message.meta_field == MetaField.META0_STATE:
        if message.meta_value not in MetaValue._value2member_map_:
            raise FieldProblem("meta_value", f"reserved Meta0-State value {message.meta_value}")
    elif direction_of(message) is Direction.M2S and message.meta_value:
        raise FieldProblem("meta_value", "MetaValue is reserved (zero) when MetaField is No-Op")


def _check_m2s(message: M2SReq | M2SRwD) -> None:
    if message.snp_type not in SnpType._value2member_map_:
        raise FieldProblem("snp_type", f"reserved SnpType encoding {message.snp_type!r}")
    shift = _ADDRESS_SHIFT[message.msg_class]
    check_width("address", message.address, 52)  # Address[51:0]
    if message.address % (1 << shift):
        raise FieldProblem("address", f"0x{message.address:x} is not {1 << shift}-byte aligned: the message "
                                      f"carries Address[51:{shift}] only")
    if isinstance(message, M2SReq) and message.mem_opcode == M2SReqOpcode.MEM_SPEC_RD:
        for name in ("tag", "snp_type", "meta_field", "meta_value"):
            if getattr(message, name):
                raise FieldProblem(name, "MemSpecRd reserves Tag, MetaField, MetaValue and SnpType (zero)")
    if isinstance(message, M2SReq) and message.mem_opcode in (M2SReqOpcode.MEM_RD_FWD, M2SReqOpcode.MEM_WR_FWD):
        if message.snp_type != SnpType.NO_OP:
            raise FieldProblem("snp_type", f"{M2SReqOpcode(message.mem_opcode).name} always has SnpType No-Op")
    if isinstance(message, M2SRwD) and message.poison not in (True, False):
        raise FieldProblem("poison", f"{message.poison!r} is not a flag")


def _check_payload(message: M2SRwD | S2MDRS, header_only: bool) -> None:
    if isinstance(message, S2MDRS) and message.poison not in (True, False):
        raise FieldProblem("poison", f"{message.poison!r} is not a flag")
    if isinstance(message, M2SRwD):
        check_width("byte_enable", message.byte_enable, 64)
    if header_only:
        if message.data is not None:
            raise FieldProblem("data", "a header in a slot carries no data; it follows in data slots")
        if isinstance(message, M2SRwD) and message.byte_enable != ALL_BYTES:
            raise FieldProblem("byte_enable", "a header in a slot carries no byte enables; they follow in a "
                                              "byte-enable slot")
        return
    data = message.data
    if not isinstance(data, (bytes, bytearray)) or len(data) != LINE_SIZE:
        got = ("no data" if data is None else f"{len(data)} bytes" if isinstance(data, (bytes, bytearray))
               else type(data).__name__)
        raise FieldProblem("data", f"{got}: a {message.msg_class.name} carries one {LINE_SIZE}-byte line")
    if isinstance(message, M2SRwD) and message.mem_opcode == M2SRwDOpcode.MEM_WR and message.byte_enable != ALL_BYTES:
        raise FieldProblem("byte_enable", "MemWr writes a full line; partial writes are MemWrPtl")


def raw_cxl_mem(message: CxlMemMessage) -> dict[str, Any]:
    """The schema's raw field values of ``message`` (valid set, reserved zero, address shifted),
    for the CXL wire modules that build slots."""
    raw = {f.name: int(getattr(message, f.name, 0)) for f in MESSAGE_FIELDS[message.msg_class]}
    raw.update(valid=1, reserved=0)
    if isinstance(message, (M2SReq, M2SRwD)):
        raw["address"] = message.address >> _ADDRESS_SHIFT[message.msg_class]
    return raw


def build_cxl_mem(cls: MemClass, raw: Mapping[str, Any], *, data: bytes | None = None,
                  byte_enable: int = ALL_BYTES) -> CxlMemMessage:
    """A checked message from the schema's raw field values; every decoder ends here, so all
    apply the same rules. For the CXL wire modules: raises :class:`FieldProblem`."""
    if not raw["valid"]:
        raise FieldProblem("valid", "valid is 0: an empty position holds no message")
    if raw.get("reserved"):
        raise FieldProblem("reserved", "reserved bits are set")
    values = {f.name: raw[f.name] for f in MESSAGE_FIELDS[cls] if f.name not in ("valid", "reserved")}
    if cls in _ADDRESS_SHIFT:
        values["address"] = raw["address"] << _ADDRESS_SHIFT[cls]
    if cls in _CARRIES_DATA:
        values["data"] = data
    if cls is MemClass.M2S_RWD:
        values["byte_enable"] = byte_enable
    message = CLASS_OF[cls](**values)
    validate_cxl_mem(message, header_only=data is None)
    return _with_enums(message)


def _with_enums(message: CxlMemMessage) -> CxlMemMessage:
    """The same message with its encoded fields as enum members (after it passed the checks)."""
    cls = message.msg_class
    changes: dict[str, Any] = {_opcode_name(message): _OPCODE_TYPE[cls](getattr(message, _opcode_name(message))),
                               "meta_field": MetaField(message.meta_field)}
    if isinstance(message, (M2SReq, M2SRwD)):
        changes["snp_type"] = SnpType(message.snp_type)
    if isinstance(message, (S2MNDR, S2MDRS)):
        changes["dev_load"] = DevLoad(message.dev_load)
    if isinstance(message, (M2SRwD, S2MDRS)):
        changes["poison"] = bool(message.poison)
        if message.data is not None:
            changes["data"] = bytes(message.data)
    return replace(message, **changes)


# --- the standalone frame (``--format cxl-mem``) ---------------------------------------------------

def _located(problem: FieldProblem, cls: MemClass) -> FrameError:
    table = {f.name: f.offset for f in FRAME_FIELDS[cls]}
    return FrameError(problem.reason, fmt=FMT, field=problem.field, offset=table.get(problem.field))


def encode_cxl_mem(message: CxlMemMessage) -> bytes:
    """One complete message (data included) as a standalone ``cxl-mem`` frame."""
    check_cxl_mem(message)
    cls = message.msg_class
    value: dict[str, Any] = {"class": int(cls), "header": {"message": raw_cxl_mem(message), "pad": 0},
                             "data": None, "byte_enable": None}
    if isinstance(message, (M2SRwD, S2MDRS)):
        value["data"] = bytes(message.data or b"")
    if isinstance(message, M2SRwD):
        value["byte_enable"] = message.byte_enable
    return bytes(FRAME.build(value))


def decode_cxl_mem(data: bytes) -> CxlMemMessage:
    """Exactly one standalone ``cxl-mem`` frame; every problem is a :class:`FrameError`."""
    if not data:
        raise FrameError("truncated: 0 bytes is too short", fmt=FMT, field="class", offset=0)
    if data[0] not in MemClass._value2member_map_:
        raise FrameError(f"unknown message class 0x{data[0]:02x}", fmt=FMT, field="class", offset=0)
    cls = MemClass(data[0])
    size = FRAME_SIZE[cls]
    if len(data) < size:
        raise FrameError(f"truncated: {len(data)} of {size} bytes", fmt=FMT,
                         field=field_at(FRAME_FIELDS[cls], len(data)), offset=len(data))
    parsed = parse_exact(FRAME, bytes(data), FMT)
    try:
        if parsed.header.get("pad"):
            raise FieldProblem("pad", "padding bits after the message are set")
        byte_enable = parsed.byte_enable if parsed.byte_enable is not None else ALL_BYTES
        return build_cxl_mem(cls, parsed.header.message, data=parsed.data, byte_enable=byte_enable)
    except FieldProblem as problem:
        raise _located(problem, cls) from None


# --- fields by name (``oisa decode`` / ``oisa encode``) ----------------------------------------------

def _to_fields(message: CxlMemMessage) -> dict[str, Any]:
    """The message's fields named as the spec names them, in snake_case; ``data`` as hex."""
    out: dict[str, Any] = {"class": message.msg_class, "valid": True}
    for f in fields(message):
        value = getattr(message, f.name)
        if f.name == "data":
            if value is not None:
                out["data"] = bytes(value).hex()
        elif f.name == "byte_enable":
            if isinstance(message, M2SRwD) and message.data is not None:
                out["byte_enable"] = value
        elif f.name == "meta_value" and message.meta_field == MetaField.META0_STATE:
            out[f.name] = MetaValue(value)
        else:
            out[f.name] = value
    return out


_ENUM_FIELDS: dict[str, type[enum.IntEnum]] = {
    "snp_type": SnpType, "meta_field": MetaField, "dev_load": DevLoad,
}


def _field_names(cls: MemClass, header_only: bool) -> tuple[str, ...]:
    names = ["class", "valid"] + [f.name for f in fields(CLASS_OF[cls])]
    if header_only:
        names = [n for n in names if n not in ("data", "byte_enable")]
    return tuple(names)


def cxl_mem_from_fields(values: Mapping[str, Any], *, header_only: bool = False) -> CxlMemMessage:
    """The inverse of ``to_fields()``: every field required, none unknown, each in range.

    Enumerated fields take the member, its number or its name; ``data`` takes hex or bytes.
    Problems raise :class:`FrameError` naming the field (no offset: there are no bytes yet).
    """
    try:
        return message_from_values(values, header_only=header_only)
    except FieldProblem as problem:
        raise FrameError(problem.reason, fmt=FMT, field=problem.field) from None


def message_from_values(values: Mapping[str, Any], *, header_only: bool) -> CxlMemMessage:
    """:func:`cxl_mem_from_fields` for the other CXL modules: raises :class:`FieldProblem`."""
    if not isinstance(values, Mapping):
        raise FieldProblem("class", "a message is a table of fields")
    if "class" not in values:
        raise FieldProblem("class", "missing field: which message class (m2s_req, m2s_rwd, s2m_ndr, s2m_drs)")
    cls = as_enum("class", values["class"], MemClass)
    require_keys(values, _field_names(cls, header_only), cls.name)
    if not as_bool("valid", values["valid"]):
        raise FieldProblem("valid", "valid is 0: an empty position holds no message")
    kwargs: dict[str, Any] = {}
    for name in _field_names(cls, header_only)[2:]:
        value = values[name]
        if name in ("mem_opcode", "opcode"):
            kwargs[name] = as_enum(name, value, _OPCODE_TYPE[cls])
        elif name in _ENUM_FIELDS:
            kwargs[name] = as_enum(name, value, _ENUM_FIELDS[name])
        elif name == "meta_value":
            kwargs[name] = as_enum(name, value, MetaValue) if isinstance(value, str) else as_int(name, value)
        elif name == "poison":
            kwargs[name] = as_bool(name, value)
        elif name == "data":
            kwargs[name] = _as_data(value)
        else:
            kwargs[name] = as_int(name, value)
    message = CLASS_OF[cls](**kwargs)
    validate_cxl_mem(message, header_only=header_only)
    return _with_enums(message)


def _as_data(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise FieldProblem("data", "not hexadecimal bytes") from None
    raise FieldProblem("data", f"{type(value).__name__} is not hex or bytes")
