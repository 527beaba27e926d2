"""PCIe transaction-layer packets (non-flit mode, Gen1-5): the normative construct schemas and
the in-memory form, byte-exact with the PCIe base specification.

A TLP is a 3- or 4-double-word header, the data (``Length`` double words, 0 meaning 1024) when
the Fmt says so, and a 4-byte ECRC when TD is 1. Header double words are big-endian: byte 0 is
Fmt/Type. Data bytes are in address order, as on the link. The header layouts are the
``*_HEADER`` schemas below, each written out whole (DW0 included) so that the field tables
:data:`REQUEST_FIELDS` and friends carry true byte offsets; ``specs/`` renders them.

:class:`Tlp` is one flat record for every kind. Its fields mean what the specification means,
decoded once: ``length`` is the double-word count (1-1024, 0 where Length is reserved),
``byte_count`` is 1-4096, ``tag`` is the 10-bit tag (T9, T8 and Tag[7:0]), ``attr`` is
Attr[2:0] (IDO, RO, NS), ``address`` is the byte address of a double word (the two bits below
it travel as ``ph``), and ``routing`` is a message's r[2:0]. A field a kind does not have must
keep its default; that keeps one byte string for one value and nothing lost on the way.

What the decoders refuse (always :class:`~oisa.errors.FrameError`, naming field and offset):

* an Fmt/Type pair the specification does not define, and TLP prefixes (Fmt 100);
* a byte count that is not header + data + digest (truncated or trailing bytes);
* a wrong ECRC (:class:`~oisa.errors.CrcError`, field ``ecrc``);
* reserved bits that are set: Length in Cpl, CplLk and Msg, PH while TH is 0, the two low
  bits of an IO address, the reserved bits of configuration and completion headers, and the
  DW0 bits the IO and configuration rules call reserved (LN, TH, and Attr[2] for IO). This is
  stricter than a PCIe receiver, which must ignore reserved bits: oisa's own frames never set
  them, so a set one is an adapter bug worth a loud error, and refusing them keeps every
  decoded TLP re-encodable to the same bytes;
* the "must" rules of IO and configuration requests: Length 1, Last DW BE 0000, TC 0,
  Attr[1:0] 00, AT 00;
* a memory request (MRd, MRdLk, MWr) whose address and length cross a 4 KiB boundary;
* an AtomicOp whose length is not an operand size it allows (FetchAdd and Swap: 1 or 2 DW;
  CAS: 2, 4 or 8 DW) or whose address is not aligned to the operand.

What they accept, because the specification allows it or leaves it to the layers above: a
4DW header with an address below 4 GiB (a "should not"), byte-enable patterns, unknown
message codes, reserved completion status values (the requester treats them as UR), the TC
rules of messages and locked reads, byte-count arithmetic across completions, and the
Steering Tag that TH=1 puts in the tag or byte-enable bits (kept as raw bits).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import construct as c

from oisa.errors import CrcError, FrameError
from oisa.wire.fc_class import FcClass
from oisa.wire.pcie.crc import ecrc32
from oisa.wire.schema import Field, field_at, field_table, parse_exact

__all__ = [
    "ATOMIC_LENGTHS",
    "COMPLETION_FIELDS",
    "COMPLETION_HEADER",
    "CONFIG_FIELDS",
    "CONFIG_HEADER",
    "DIGEST_SIZE",
    "HEADERS",
    "IO_REQUEST_FIELDS",
    "IO_REQUEST_HEADER",
    "LAYOUT_FIELDS",
    "MAX_DATA_DW",
    "MAX_PAYLOAD_SIZES",
    "MAX_TLP_SIZE",
    "MESSAGE_FIELDS",
    "MESSAGE_HEADER",
    "REQUEST64_FIELDS",
    "REQUEST64_HEADER",
    "REQUEST_FIELDS",
    "REQUEST_HEADER",
    "TLP",
    "TLP_DW0",
    "TLP_DW0_FIELDS",
    "TLP_TYPES",
    "CplStatus",
    "Layout",
    "LengthUse",
    "Tlp",
    "TlpGroup",
    "TlpType",
    "TlpTypeInfo",
    "build_tlp",
    "check_tlp",
    "check_tlp_frame",
    "decode_tlp_construct",
    "encode_tlp_construct",
    "tlp_fields",
    "tlp_info",
    "tlp_info_of_byte0",
    "tlp_size",
]

FMT = "pcie-tlp"
MAX_DATA_DW = 1024
DIGEST_SIZE = 4
MAX_TLP_SIZE = 16 + MAX_DATA_DW * 4 + DIGEST_SIZE
# The Max Payload Sizes Device Control[7:5] can set (encodings 0-5; protocol facts 4.1)
MAX_PAYLOAD_SIZES = (128, 256, 512, 1024, 2048, 4096)


class Layout(enum.Enum):
    """Which header layout a TLP kind uses (one schema each)."""

    REQUEST = "request"  # memory requests and AtomicOps, 32-bit address (3DW)
    REQUEST64 = "request64"  # the same, 64-bit address (4DW)
    IO = "io"
    CONFIG = "config"
    MESSAGE = "message"
    COMPLETION = "completion"


class TlpGroup(enum.Enum):
    """Kinds that share the rules of one section of the specification."""

    MEMORY = "memory"
    ATOMIC = "atomic"
    IO = "io"
    CONFIG = "config"
    MESSAGE = "message"
    COMPLETION = "completion"


class LengthUse(enum.Enum):
    """What the Length field means for a kind."""

    DATA = "data"  # double words of data that follow the header
    REQUESTED = "requested"  # double words a read asks for (no data follow)
    RESERVED = "reserved"  # Cpl, CplLk, Msg: Length is reserved and must be 0


class TlpType(enum.IntEnum):
    """The TLP kinds; each value is the Fmt/Type byte (byte 0), routing bits 0 for messages."""

    MRD_32 = 0x00
    MRD_64 = 0x20
    MRDLK_32 = 0x01
    MRDLK_64 = 0x21
    MWR_32 = 0x40
    MWR_64 = 0x60
    IORD = 0x02
    IOWR = 0x42
    CFGRD0 = 0x04
    CFGWR0 = 0x44
    CFGRD1 = 0x05
    CFGWR1 = 0x45
    MSG = 0x30
    MSGD = 0x70
    CPL = 0x0A
    CPLD = 0x4A
    CPLLK = 0x0B
    CPLDLK = 0x4B
    FETCHADD_32 = 0x4C
    FETCHADD_64 = 0x6C
    SWAP_32 = 0x4D
    SWAP_64 = 0x6D
    CAS_32 = 0x4E
    CAS_64 = 0x6E


class CplStatus(enum.IntEnum):
    """Completion status codes; the other values are reserved (a requester treats them as UR)."""

    SC = 0b000  # successful completion
    UR = 0b001  # unsupported request
    CRS = 0b010  # configuration request retry status (called RRS from PCIe 6.0)
    CA = 0b100  # completer abort


@dataclass(frozen=True)
class TlpTypeInfo:
    """Everything the codecs and the transaction layer need to know about one kind.

    ``fmt``, ``type``, ``has_data`` and ``header_size`` follow from the others; they are
    stored rather than computed because the codecs read them on every TLP.
    """

    kind: TlpType
    mnemonic: str
    group: TlpGroup
    layout: Layout
    fc_class: FcClass
    length_use: LengthUse
    fmt: int
    type: int  # for messages, with routing 0
    has_data: bool
    header_size: int


def _info(kind: TlpType, mnemonic: str, group: TlpGroup, fc_class: FcClass, length_use: LengthUse) -> TlpTypeInfo:
    fmt = kind >> 5
    if group in (TlpGroup.MEMORY, TlpGroup.ATOMIC):
        layout = Layout.REQUEST64 if fmt & 1 else Layout.REQUEST
    else:
        layout = Layout(group.value)
    return TlpTypeInfo(kind, mnemonic, group, layout, fc_class, length_use, fmt, kind & 0x1F,
                       length_use is LengthUse.DATA, 16 if fmt & 1 else 12)


_P, _NP, _CPL = FcClass.POSTED, FcClass.NON_POSTED, FcClass.COMPLETION
_DATA, _READ, _RSVD = LengthUse.DATA, LengthUse.REQUESTED, LengthUse.RESERVED
T, G = TlpType, TlpGroup

TLP_TYPES: dict[TlpType, TlpTypeInfo] = {info.kind: info for info in (
    _info(T.MRD_32, "MRd", G.MEMORY, _NP, _READ),
    _info(T.MRD_64, "MRd", G.MEMORY, _NP, _READ),
    _info(T.MRDLK_32, "MRdLk", G.MEMORY, _NP, _READ),
    _info(T.MRDLK_64, "MRdLk", G.MEMORY, _NP, _READ),
    _info(T.MWR_32, "MWr", G.MEMORY, _P, _DATA),
    _info(T.MWR_64, "MWr", G.MEMORY, _P, _DATA),
    _info(T.IORD, "IORd", G.IO, _NP, _READ),
    _info(T.IOWR, "IOWr", G.IO, _NP, _DATA),
    _info(T.CFGRD0, "CfgRd0", G.CONFIG, _NP, _READ),
    _info(T.CFGWR0, "CfgWr0", G.CONFIG, _NP, _DATA),
    _info(T.CFGRD1, "CfgRd1", G.CONFIG, _NP, _READ),
    _info(T.CFGWR1, "CfgWr1", G.CONFIG, _NP, _DATA),
    _info(T.MSG, "Msg", G.MESSAGE, _P, _RSVD),
    _info(T.MSGD, "MsgD", G.MESSAGE, _P, _DATA),
    _info(T.CPL, "Cpl", G.COMPLETION, _CPL, _RSVD),
    _info(T.CPLD, "CplD", G.COMPLETION, _CPL, _DATA),
    _info(T.CPLLK, "CplLk", G.COMPLETION, _CPL, _RSVD),
    _info(T.CPLDLK, "CplDLk", G.COMPLETION, _CPL, _DATA),
    _info(T.FETCHADD_32, "FetchAdd", G.ATOMIC, _NP, _DATA),
    _info(T.FETCHADD_64, "FetchAdd", G.ATOMIC, _NP, _DATA),
    _info(T.SWAP_32, "Swap", G.ATOMIC, _NP, _DATA),
    _info(T.SWAP_64, "Swap", G.ATOMIC, _NP, _DATA),
    _info(T.CAS_32, "CAS", G.ATOMIC, _NP, _DATA),
    _info(T.CAS_64, "CAS", G.ATOMIC, _NP, _DATA),
)}
del T, G


# Lookups by byte value use 256-entry tuples: indexing with an IntEnum costs nothing, while
# hashing one runs Enum.__hash__ in Python, which the hot path cannot afford.
_INFO_BY_KIND: tuple[TlpTypeInfo | None, ...] = tuple(TLP_TYPES.get(byte) for byte in range(256))  # type: ignore[call-overload]
_INFO_BY_BYTE0: tuple[TlpTypeInfo | None, ...] = tuple(
    _INFO_BY_KIND[byte & ~7 if byte & 0b1011_1000 == 0b0011_0000 else byte] for byte in range(256))


# --- schemas ---------------------------------------------------------------------------------

_DW0 = (
    "fmt" / c.BitsInteger(3) * "Fmt: 000 3DW no data, 001 4DW no data, 010 3DW with data, 011 4DW with data",
    "type" / c.BitsInteger(5) * "Type; with Fmt it names the kind; for Msg/MsgD the low 3 bits are the routing r[2:0]",
    "t9" / c.Flag * "Tag[9] of a 10-bit tag",
    "tc" / c.BitsInteger(3) * "Traffic Class; IO and configuration requests use 0",
    "t8" / c.Flag * "Tag[8] of a 10-bit tag",
    "attr2" / c.Flag * "Attr[2], ID-Based Ordering (IDO); reserved in IO requests",
    "ln" / c.Flag * "Lightweight Notification; reserved in IO and configuration requests",
    "th" / c.Flag * "TLP Processing Hints: the PH bits are valid; reserved in IO and configuration requests",
    "td" / c.Flag * "TLP Digest: a 4-byte ECRC follows the data",
    "ep" / c.Flag * "Poisoned: the data are known to be bad",
    "attr" / c.BitsInteger(2) * "Attr[1:0]: Relaxed Ordering (bit 13), No Snoop (bit 12)",
    "at" / c.BitsInteger(2) * "Address Type: 00 untranslated, 01 translation request, 10 translated",
    "length" / c.BitsInteger(10) * ("double words of data (or asked for by a read); 0 means 1024; "
                                    "reserved in Cpl, CplLk, Msg"),
)
_REQUESTER = (
    "requester_id" / c.BitsInteger(16) * "Requester ID: bus[15:8], device[7:3], function[2:0]",
    "tag" / c.BitsInteger(8) * "Tag[7:0]; with T9 and T8 a 10-bit tag",
)
_BYTE_ENABLES = (
    "last_be" / c.BitsInteger(4) * "Last DW Byte Enables (0000 when Length is 1)",
    "first_be" / c.BitsInteger(4) * "First DW Byte Enables",
)
_PH = "ph" / c.BitsInteger(2) * "Processing Hint when TH is 1; reserved (0) when TH is 0"
_ID = "bus[15:8], device[7:3], function[2:0]"

TLP_DW0 = c.BitStruct(*_DW0)
REQUEST_HEADER = c.BitStruct(
    *_DW0, *_REQUESTER, *_BYTE_ENABLES,
    "address" / c.BitsInteger(30) * "Address[31:2]: the byte address of a double word, shifted right by 2",
    _PH,
)
REQUEST64_HEADER = c.BitStruct(
    *_DW0, *_REQUESTER, *_BYTE_ENABLES,
    "address" / c.BitsInteger(62) * "Address[63:2]: bits 63:32 in DW2, bits 31:2 in DW3",
    _PH,
)
IO_REQUEST_HEADER = c.BitStruct(
    *_DW0, *_REQUESTER, *_BYTE_ENABLES,
    "address" / c.BitsInteger(30) * "Address[31:2] of the IO double word",
    "reserved" / c.BitsInteger(2) * "must be zero",
)
CONFIG_HEADER = c.BitStruct(
    *_DW0, *_REQUESTER, *_BYTE_ENABLES,
    "completer_id" / c.BitsInteger(16) * f"Completer ID of the target function: {_ID}",
    "reserved_0" / c.BitsInteger(4) * "must be zero",
    "ext_register" / c.BitsInteger(4) * "Extended Register Number: bits 11:8 of the configuration byte offset",
    "register" / c.BitsInteger(6) * "Register Number: bits 7:2 of the configuration byte offset",
    "reserved_1" / c.BitsInteger(2) * "must be zero",
)
MESSAGE_HEADER = c.BitStruct(
    *_DW0, *_REQUESTER,
    "message_code" / c.BitsInteger(8) * "Message Code",
    "message_data" / c.BitsInteger(64) * "DW2-DW3, defined by the message code (an address for r=001, the "
                                         "target ID for r=010); kept as raw bytes",
)
COMPLETION_HEADER = c.BitStruct(
    *_DW0,
    "completer_id" / c.BitsInteger(16) * f"Completer ID: {_ID}",
    "status" / c.BitsInteger(3) * "Completion Status: 000 SC, 001 UR, 010 CRS, 100 CA; others reserved",
    "bcm" / c.Flag * "Byte Count Modified (set only by PCI-X completers)",
    "byte_count" / c.BitsInteger(12) * "bytes still to be returned for the request, this TLP's included; 0 means 4096",
    *_REQUESTER,
    "reserved" / c.BitsInteger(1) * "must be zero",
    "lower_address" / c.BitsInteger(7) * "Lower Address: bits 6:0 of the byte address of the first data byte",
)

HEADERS: dict[Layout, c.Construct] = {
    Layout.REQUEST: REQUEST_HEADER,
    Layout.REQUEST64: REQUEST64_HEADER,
    Layout.IO: IO_REQUEST_HEADER,
    Layout.CONFIG: CONFIG_HEADER,
    Layout.MESSAGE: MESSAGE_HEADER,
    Layout.COMPLETION: COMPLETION_HEADER,
}


def _layout_of(ctx: Any) -> Layout | None:
    info = _INFO_BY_BYTE0[ctx.fmt_type]
    return info.layout if info is not None else None


def _data_size(ctx: Any) -> int:
    info = _INFO_BY_BYTE0[ctx.fmt_type]
    if info is None or not info.has_data:
        return 0
    return (ctx.header.length or MAX_DATA_DW) * 4


TLP = c.Struct(
    "body" / c.RawCopy(c.Struct(
        "fmt_type" / c.Peek(c.Int8ub) * "byte 0 read ahead: Fmt and Type choose the header layout",
        "header" / c.Switch(_layout_of, HEADERS, c.Error) * "the header layout of the kind",
        "data" / c.Bytes(_data_size) * "data, in address order, when Fmt says so",
    )),
    "ecrc" / c.If(c.this.body.value.header.td, c.Checksum(c.Int32ul, ecrc32, c.this.body.data))
    * "ECRC (TLP digest) when TD is 1: CRC-32 of the TLP with Type[0] and EP taken as 1, little-endian",
)

TLP_DW0_FIELDS = field_table(TLP_DW0)
REQUEST_FIELDS = field_table(REQUEST_HEADER)
REQUEST64_FIELDS = field_table(REQUEST64_HEADER)
IO_REQUEST_FIELDS = field_table(IO_REQUEST_HEADER)
CONFIG_FIELDS = field_table(CONFIG_HEADER)
MESSAGE_FIELDS = field_table(MESSAGE_HEADER)
COMPLETION_FIELDS = field_table(COMPLETION_HEADER)

_TABLES: dict[Layout, list[Field]] = {
    Layout.REQUEST: REQUEST_FIELDS,
    Layout.REQUEST64: REQUEST64_FIELDS,
    Layout.IO: IO_REQUEST_FIELDS,
    Layout.CONFIG: CONFIG_FIELDS,
    Layout.MESSAGE: MESSAGE_FIELDS,
    Layout.COMPLETION: COMPLETION_FIELDS,
}
_RESERVED: dict[Layout, tuple[str, ...]] = {
    layout: tuple(f.name for f in table if f.name.startswith("reserved")) for layout, table in _TABLES.items()
}


def _offsets(table: list[Field]) -> dict[str, int]:
    """Byte offset of every raw field, and of the :class:`Tlp` fields that stand for raw ones."""
    offsets = {f.name: f.offset for f in table}
    offsets.update(kind=0, routing=0)
    return offsets


_OFFSETS = {layout: _offsets(table) for layout, table in _TABLES.items()}


# --- the in-memory form ----------------------------------------------------------------------

@dataclass(slots=True)
class Tlp:
    """One TLP as the emulation handles it; see the module docstring for what each field holds."""

    kind: TlpType
    tc: int = 0
    attr: int = 0
    ln: bool = False
    th: bool = False
    td: bool = False
    ep: bool = False
    at: int = 0
    length: int = 0
    requester_id: int = 0
    tag: int = 0
    last_be: int = 0
    first_be: int = 0
    address: int = 0
    ph: int = 0
    completer_id: int = 0
    ext_register: int = 0
    register: int = 0
    message_code: int = 0
    routing: int = 0
    message_data: bytes = bytes(8)
    status: int = 0
    bcm: bool = False
    byte_count: int = 0
    lower_address: int = 0
    data: bytes = b""

    @property
    def info(self) -> TlpTypeInfo:
        return tlp_info(self.kind)

    @property
    def fc_class(self) -> FcClass:
        return tlp_info(self.kind).fc_class

    @property
    def wire_size(self) -> int:
        """Bytes of the TLP: header, data and digest (the link adds sequence number and LCRC)."""
        return tlp_info(self.kind).header_size + len(self.data) + (DIGEST_SIZE if self.td else 0)


_DW0_NAMES = ("tc", "attr", "ln", "th", "td", "ep", "at")
LAYOUT_FIELDS: dict[Layout, tuple[str, ...]] = {
    Layout.REQUEST: ("requester_id", "tag", "last_be", "first_be", "address", "ph"),
    Layout.REQUEST64: ("requester_id", "tag", "last_be", "first_be", "address", "ph"),
    Layout.IO: ("requester_id", "tag", "last_be", "first_be", "address"),
    Layout.CONFIG: ("requester_id", "tag", "last_be", "first_be", "completer_id", "ext_register", "register"),
    Layout.MESSAGE: ("requester_id", "tag", "message_code", "routing", "message_data"),
    Layout.COMPLETION: ("completer_id", "status", "bcm", "byte_count", "requester_id", "tag", "lower_address"),
}
"""The :class:`Tlp` fields each layout has beyond DW0, in wire order."""

_DIRECT = frozenset({"requester_id", "last_be", "first_be", "ph", "completer_id", "ext_register", "register",
                     "message_code", "status", "lower_address"})
"""Fields whose raw value is the :class:`Tlp` value (the others are shifted, joined or decoded)."""
_WIDTHS = dict(tc=3, attr=3, ln=1, th=1, td=1, ep=1, at=2, requester_id=16, tag=10, last_be=4, first_be=4, ph=2,
               completer_id=16, ext_register=4, register=6, message_code=8, routing=3, status=3, bcm=1,
               lower_address=7)


def tlp_fields(info: TlpTypeInfo) -> tuple[str, ...]:
    """The :class:`Tlp` fields a kind has, in wire order (``kind`` and ``data`` aside)."""
    length = ("length",) if info.length_use is not LengthUse.RESERVED else ()
    return _DW0_NAMES + length + LAYOUT_FIELDS[info.layout]


def _fail(message: str, name: str, layout: Layout) -> FrameError:
    return FrameError(message, fmt=FMT, field=name, offset=_OFFSETS[layout].get(name))


def tlp_info(kind: Any) -> TlpTypeInfo:
    """The table entry of ``kind``, or :class:`FrameError` if it is not a TLP kind."""
    info = _INFO_BY_KIND[kind] if isinstance(kind, int) and 0 <= kind < 256 else None
    if info is None:
        raise FrameError(f"{kind!r} is not a TLP kind", fmt=FMT, field="kind", offset=0)
    return info


def _check_memory(t: Tlp, info: TlpTypeInfo) -> None:
    if (t.address & 0xFFF) + t.length * 4 > 0x1000:
        raise _fail(f"{t.length} double words at {t.address:#x} cross a 4 KiB boundary", "address", info.layout)


ATOMIC_LENGTHS = {"FetchAdd": (1, 2), "Swap": (1, 2), "CAS": (2, 4, 8)}
"""Legal Length (in DW) per AtomicOp: one or two 32/64-bit operands; CAS carries compare and swap."""


def _check_atomic(t: Tlp, info: TlpTypeInfo) -> None:
    lengths = ATOMIC_LENGTHS[info.mnemonic]
    if t.length not in lengths:
        raise _fail(f"{info.mnemonic} carries {' or '.join(map(str, lengths))} double words, not {t.length}",
                    "length", info.layout)
    operand = t.length * 2 if info.mnemonic == "CAS" else t.length * 4
    if t.address % operand:
        raise _fail(f"address {t.address:#x} is not aligned to the {operand}-byte operand", "address", info.layout)


def _check_io_or_config(t: Tlp, info: TlpTypeInfo) -> None:
    reserved_attr = 0b111 if info.group is TlpGroup.IO else 0b011
    for name, bad, rule in (
        ("length", t.length != 1, "Length must be 1"),
        ("last_be", t.last_be != 0, "Last DW BE must be 0000"),
        ("tc", t.tc != 0, "TC must be 0"),
        ("attr", t.attr & reserved_attr, "Attr must be 0" if reserved_attr == 7 else "Attr[1:0] must be 00"),
        ("at", t.at != 0, "AT must be 00"),
        ("ln", t.ln, "LN is reserved"),
        ("th", t.th, "TH is reserved"),
    ):
        if bad:
            raise _fail(f"{rule} in {info.mnemonic} requests", name, info.layout)


def _no_rules(t: Tlp, info: TlpTypeInfo) -> None:
    """Messages and completions: the header format has no further rules the codec can check."""


_GROUP_RULES: dict[TlpGroup, Callable[[Tlp, TlpTypeInfo], None]] = {
    TlpGroup.MEMORY: _check_memory,
    TlpGroup.ATOMIC: _check_atomic,
    TlpGroup.IO: _check_io_or_config,
    TlpGroup.CONFIG: _check_io_or_config,
    TlpGroup.MESSAGE: _no_rules,
    TlpGroup.COMPLETION: _no_rules,
}


@dataclass(frozen=True)
class _Plan:
    """What the checks need to know about one kind, computed once so the hot path only reads."""

    limits: tuple[tuple[str, int], ...]
    unused_names: tuple[str, ...]
    unused: Callable[[Tlp], tuple[Any, ...]]  # reads the unused fields in one C call
    defaults: tuple[Any, ...]
    address_limit: int  # 0 when the kind has no address
    rules: Callable[[Tlp, TlpTypeInfo], None]
    reserved: tuple[str, ...]  # raw reserved fields of the layout
    direct: tuple[str, ...]  # fields whose raw value is the Tlp value


def _plan(info: TlpTypeInfo) -> _Plan:
    names = tlp_fields(info)
    used = set(names) | {"kind"} | ({"data"} if info.has_data else set())
    unused = tuple(name for name in Tlp.__dataclass_fields__ if name not in used)
    getter = attrgetter(*unused)
    address_limit = 0
    if "address" in names:
        address_limit = 1 << 64 if info.layout is Layout.REQUEST64 else 1 << 32
    return _Plan(
        limits=tuple((name, 1 << _WIDTHS[name]) for name in names if name in _WIDTHS),
        unused_names=unused, unused=getter, defaults=getter(Tlp(info.kind)), address_limit=address_limit,
        rules=_GROUP_RULES[info.group], reserved=_RESERVED[info.layout],
        direct=tuple(name for name in LAYOUT_FIELDS[info.layout] if name in _DIRECT),
    )


_PLANS: tuple[_Plan | None, ...] = tuple(None if info is None else _plan(info) for info in _INFO_BY_KIND)


def check_tlp(t: Tlp) -> TlpTypeInfo:
    """Raise :class:`FrameError` naming the first field that breaks a rule; both encoders and
    both decoders end here, so they refuse exactly the same TLPs."""
    info = tlp_info(t.kind)
    plan: _Plan = _PLANS[info.kind]  # type: ignore[assignment]
    layout = info.layout
    for name, limit in plan.limits:
        value = getattr(t, name)
        if not 0 <= value < limit:
            raise _fail(f"{value} does not fit in {limit.bit_length() - 1} bits", name, layout)
    if plan.unused(t) != plan.defaults:
        name, default = next((n, d) for n, d in zip(plan.unused_names, plan.defaults) if getattr(t, n) != d)
        raise _fail(f"{info.mnemonic} has no {name} field (it must stay {default!r})", name, layout)
    if info.length_use is not LengthUse.RESERVED and not 1 <= t.length <= MAX_DATA_DW:
        raise _fail(f"Length {t.length} is not 1 to {MAX_DATA_DW} double words", "length", layout)
    if info.has_data and len(t.data) != t.length * 4:
        raise FrameError(f"{len(t.data)} data bytes but Length says {t.length} double words", fmt=FMT,
                         field="data", offset=info.header_size)
    if layout is Layout.COMPLETION and not 1 <= t.byte_count <= 4096:
        raise _fail(f"Byte Count {t.byte_count} is not 1 to 4096", "byte_count", layout)
    if layout is Layout.MESSAGE and len(t.message_data) != 8:
        raise _fail(f"message_data has {len(t.message_data)} bytes, not 8", "message_data", layout)
    if plan.address_limit and not (0 <= t.address < plan.address_limit and t.address % 4 == 0):
        raise _fail(f"address {t.address:#x} is not a double-word address below {plan.address_limit:#x}",
                    "address", layout)
    _check_rules(t, info, plan)
    return info


def _check_rules(t: Tlp, info: TlpTypeInfo, plan: _Plan) -> None:
    """The rules between fields. A decoded TLP needs only these: its fields come out of bit
    fields of the right widths, so the range checks of :func:`check_tlp` cannot fail there."""
    if t.ph and not t.th:
        raise _fail("PH is reserved while TH is 0", "ph", info.layout)
    plan.rules(t, info)


# --- framing, shared by both decoders --------------------------------------------------------

def tlp_info_of_byte0(byte0: int) -> TlpTypeInfo:
    """The kind that byte 0 (Fmt and Type, a message's routing included) names, or
    :class:`FrameError` on field ``fmt`` or ``type``."""
    info = _INFO_BY_BYTE0[byte0]
    if info is not None:
        return info
    fmt = byte0 >> 5
    if fmt == 0b100:
        raise FrameError("TLP prefixes (Fmt 100) are not supported", fmt=FMT, field="fmt", offset=0)
    if fmt > 0b100:
        raise FrameError(f"Fmt {fmt:03b} is reserved", fmt=FMT, field="fmt", offset=0)
    raise FrameError(f"Fmt {fmt:03b} with Type {byte0 & 0x1F:05b} is not a TLP kind", fmt=FMT, field="type",
                     offset=0)


def _measure(head: bytes | bytearray | memoryview) -> tuple[TlpTypeInfo, int]:
    if len(head) < 4:
        raise FrameError(f"truncated: {len(head)} bytes is shorter than DW0", fmt=FMT,
                         field=field_at(TLP_DW0_FIELDS, len(head)), offset=len(head))
    info = tlp_info_of_byte0(head[0])
    size = info.header_size + (DIGEST_SIZE if head[2] & 0x80 else 0)
    if info.has_data:
        size += (((head[2] & 3) << 8 | head[3]) or MAX_DATA_DW) * 4
    return info, size


def tlp_size(head: bytes | bytearray | memoryview) -> int:
    """Total bytes (header, data, digest) of the TLP that ``head`` starts; needs its first 4 bytes."""
    return _measure(head)[1]


def check_tlp_frame(data: bytes | bytearray | memoryview) -> TlpTypeInfo:
    """``data`` holds exactly one TLP: say where a short one stops or where a long one ends."""
    info, size = _measure(data)
    if len(data) < size:
        header = info.header_size
        if len(data) < header:
            name = field_at(_TABLES[info.layout], len(data))
        else:
            name = "data" if len(data) < size - (DIGEST_SIZE if data[2] & 0x80 else 0) else "ecrc"
        raise FrameError(f"truncated: {len(data)} of {size} bytes", fmt=FMT, field=name, offset=len(data))
    if len(data) > size:
        name = "length" if info.has_data else "fmt"
        raise FrameError(f"{len(data) - size} bytes after the end of the {size}-byte {info.mnemonic}", fmt=FMT,
                         field=name, offset=size)
    return info


def build_tlp(raw: Any, data: bytes) -> Tlp:
    """A checked :class:`Tlp` from the raw header fields (schema names, reserved ones included)
    and the data; both decoders end here, so they apply the same rules."""
    info = tlp_info_of_byte0(raw["fmt"] << 5 | raw["type"])
    plan: _Plan = _PLANS[info.kind]  # type: ignore[assignment]
    layout = info.layout
    for name in plan.reserved:
        if raw[name]:
            raise _fail("reserved bits are set", name, layout)
    length = raw["length"]
    if info.length_use is LengthUse.RESERVED:
        if length:
            raise _fail(f"Length is reserved in {info.mnemonic} and must be 0", "length", layout)
    else:
        length = length or MAX_DATA_DW
    fields = {name: raw[name] for name in plan.direct}
    if plan.address_limit:
        fields["address"] = raw["address"] << 2
    if layout is Layout.COMPLETION:
        fields.update(bcm=bool(raw["bcm"]), byte_count=raw["byte_count"] or 4096)
    elif layout is Layout.MESSAGE:
        fields.update(routing=raw["type"] & 7, message_data=raw["message_data"].to_bytes(8, "big"))
    tlp = Tlp(info.kind, tc=raw["tc"], attr=raw["attr2"] << 2 | raw["attr"], ln=bool(raw["ln"]),
              th=bool(raw["th"]), td=bool(raw["td"]), ep=bool(raw["ep"]), at=raw["at"], length=length,
              tag=raw["t9"] << 9 | raw["t8"] << 8 | raw["tag"], data=data, **fields)
    _check_rules(tlp, info, plan)
    return tlp


def _raw_header(t: Tlp, info: TlpTypeInfo) -> dict[str, Any]:
    """The raw header fields of a checked ``t``, by schema name, as the construct encoder writes them."""
    layout = info.layout
    raw: dict[str, Any] = dict(
        fmt=info.fmt, type=info.type | t.routing, t9=bool(t.tag >> 9 & 1), tc=t.tc, t8=bool(t.tag >> 8 & 1),
        attr2=bool(t.attr >> 2), ln=t.ln, th=t.th, td=t.td, ep=t.ep, attr=t.attr & 3, at=t.at,
        length=t.length & 0x3FF, tag=t.tag & 0xFF,
    )
    plan: _Plan = _PLANS[info.kind]  # type: ignore[assignment]
    raw.update({name: getattr(t, name) for name in plan.direct})
    raw.update({name: 0 for name in plan.reserved})
    if plan.address_limit:
        raw["address"] = t.address >> 2
    if layout is Layout.COMPLETION:
        raw.update(bcm=t.bcm, byte_count=t.byte_count & 0xFFF)
    elif layout is Layout.MESSAGE:
        raw["message_data"] = int.from_bytes(t.message_data, "big")
    return raw


# --- the normative (slow) codec --------------------------------------------------------------

def decode_tlp_construct(data: bytes) -> Tlp:
    """Decode exactly one TLP with the normative schema (slow; for tools and tests)."""
    check_tlp_frame(data)
    try:
        parsed = parse_exact(TLP, data, FMT)
    except CrcError as exc:
        raise CrcError("ECRC does not match the TLP's contents", fmt=FMT, field="ecrc",
                       offset=len(data) - DIGEST_SIZE) from exc
    value = parsed.body.value
    return build_tlp(value.header, bytes(value.data))


def encode_tlp_construct(t: Tlp) -> bytes:
    """Encode one TLP with the normative schema, ECRC included when TD is 1 (slow)."""
    info = check_tlp(t)
    return bytes(TLP.build(dict(body=dict(value=dict(fmt_type=info.kind | t.routing, header=_raw_header(t, info),
                                                     data=t.data)))))
