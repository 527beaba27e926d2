"""VDESC: the native transaction format of oisa's emulated vendor-proprietary GPU.

Real scale-up links (MTLink, xGMI, HCCS) are driven by DMA engines whose descriptor formats are
not public, so this one is our own design, in the spirit of a copy engine's work descriptors. It
exists to show that the :class:`~oisa.device.adapter.DeviceAdapter` interface carries any
format, so it deliberately says what OISA says in a different way, and the bridge
(:mod:`oisa.transaction.vdesc_bridge`) has real work to do:

* **Little-endian**, the byte order of the GPU's own memory, where the copy engine reads its
  descriptors; bit fields are numbered from bit 0 of byte 0 upward (as CXL numbers them).
* **A fixed 32-byte header** with every multi-byte field naturally aligned, the way a descriptor
  ring wants it; a magic (the bytes ``"VD"``) and a version, so a stray pointer into a ring is
  caught; then the inline payload; then a **CRC-32C** (iSCSI's and NVMe's polynomial, which GPU
  DMA engines and NICs compute in hardware) over everything before it.
* **Its own encodings**: descriptor types grouped by engine, responses with bit 7 set; a
  ``fence`` bit (ordered) where OISA has ``ro`` (relaxed); a status code of its own; a 32-bit
  transaction id where OISA has a 16-bit tag; a separate message-code byte where OISA reuses
  ``aux``; reduction operators and element types numbered from 1, so a zero-filled slot is never
  valid, and with FP8 element types that OISA switches do not reduce.

The construct schemas :data:`HEADER`, :data:`REDUCE_EXT` and :data:`VDESC` are the definition;
:func:`encode_vdesc` and :func:`decode_vdesc` are the fast codec, held equal to them by the tests.
Both decoders refuse bad bytes in the same order (identity, size, CRC, then the field rules), so
they agree on which error a frame gets, and the rules themselves live once, in
:func:`check_vdesc` and :func:`build_vdesc`.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import construct as c

from oisa.errors import CrcError, FrameError
from oisa.wire.bits import le_bits, lsb_field_table
from oisa.wire.crc32c import crc32c
from oisa.wire.plain_fields import FieldReader
from oisa.wire.schema import Field, field_at, field_table, parse_exact, plain

__all__ = [
    "ADDRESS_BITS",
    "CRC_SIZE",
    "HEADER",
    "HEADER_FIELDS",
    "HEADER_SIZE",
    "MAGIC",
    "MAX_LENGTH",
    "REDUCE_EXT",
    "REDUCE_EXT_SIZE",
    "REDUCE_FIELDS",
    "VDESC",
    "VDESC_TYPES",
    "VERSION",
    "ReduceDtype",
    "ReduceExt",
    "ReduceOp",
    "Vdesc",
    "VdescStatus",
    "VdescType",
    "VdescTypeInfo",
    "build_vdesc",
    "check_vdesc",
    "decode_vdesc",
    "decode_vdesc_construct",
    "encode_vdesc",
    "encode_vdesc_construct",
    "vdesc_from_fields",
    "vdesc_tables",
    "vdesc_to_fields",
]

FMT = "vdesc"
MAGIC = int.from_bytes(b"VD", "little")  # 0x4456: the bytes "VD" open every descriptor
VERSION = 1
HEADER_SIZE = 32
REDUCE_EXT_SIZE = 8
CRC_SIZE = 4
ADDRESS_BITS = 57
MAX_LENGTH = 4096


class VdescType(enum.IntEnum):
    """Descriptor type: the engine in the high nibble (1 copy engine, 2 memory, 3 atomics,
    4 notification, 5 reduction), bit 7 set for responses. Zero is no type, so a ring slot that
    was never written is refused."""

    COPY_WRITE = 0x10
    COPY_READ = 0x11
    POSTED_WRITE = 0x20
    READ = 0x21
    STORE = 0x22
    LOAD = 0x23
    ATOMIC_ADD = 0x30
    ATOMIC_SWAP = 0x31
    ATOMIC_CAS = 0x32
    NOTIFY = 0x40
    REDUCE = 0x50
    WRITE_ACK = 0x80
    READ_RESPONSE = 0x81


class VdescStatus(enum.IntEnum):
    """Outcome reported by a response (requests carry OK)."""

    OK = 0
    ABORT = 1
    UNSUPPORTED = 2
    RETRY = 3


class ReduceOp(enum.IntEnum):
    """Reduction a REDUCE contribution asks for (0 is never valid)."""

    SUM = 1
    PROD = 2
    MIN = 3
    MAX = 4


class ReduceDtype(enum.IntEnum):
    """Element type of a REDUCE payload (0 is never valid)."""

    F32 = 1
    F16 = 2
    BF16 = 3
    F64 = 4
    I32 = 5
    I64 = 6
    I8 = 7
    U8 = 8
    F8_E4M3 = 9
    F8_E5M2 = 10

    @property
    def itemsize(self) -> int:
        return _ITEMSIZE[self]


_ITEMSIZE = {
    ReduceDtype.F32: 4, ReduceDtype.F16: 2, ReduceDtype.BF16: 2, ReduceDtype.F64: 8, ReduceDtype.I32: 4,
    ReduceDtype.I64: 8, ReduceDtype.I8: 1, ReduceDtype.U8: 1, ReduceDtype.F8_E4M3: 1, ReduceDtype.F8_E5M2: 1,
}


@dataclass(frozen=True, slots=True)
class VdescTypeInfo:
    """One row of the type table: whether ``length`` bytes of payload follow the header, the
    legal lengths, and whether the type is a response (the only ones with a status)."""

    kind: VdescType
    has_payload: bool
    lengths: range | tuple[int, ...]
    response: bool
    summary: str


_ANY = range(1, MAX_LENGTH + 1)
_ANY_OR_NONE = range(0, MAX_LENGTH + 1)
_FINE = range(1, 257)

VDESC_TYPES: dict[int, VdescTypeInfo] = {
    info.kind: info
    for info in (
        VdescTypeInfo(VdescType.COPY_WRITE, True, _ANY, False, "copy-engine write of up to 4 KiB; acknowledged by "
                                                              "WRITE_ACK (early, if early_ack allows)"),
        VdescTypeInfo(VdescType.COPY_READ, False, _ANY, False, "copy-engine read of up to 4 KiB; answered by one or "
                                                               "more READ_RESPONSE"),
        VdescTypeInfo(VdescType.POSTED_WRITE, True, _ANY, False, "memory write that is never acknowledged"),
        VdescTypeInfo(VdescType.READ, False, _ANY, False, "memory read; answered by READ_RESPONSE"),
        VdescTypeInfo(VdescType.STORE, True, _FINE, False, "load/store-unit store of up to 256 B; never "
                                                            "acknowledged"),
        VdescTypeInfo(VdescType.LOAD, False, _FINE, False, "load/store-unit load of up to 256 B; answered by "
                                                           "READ_RESPONSE"),
        VdescTypeInfo(VdescType.ATOMIC_ADD, True, (4, 8), False, "fetch-and-add; payload is the addend; "
                                                                 "READ_RESPONSE has the old value"),
        VdescTypeInfo(VdescType.ATOMIC_SWAP, True, (4, 8), False, "swap; READ_RESPONSE has the old value"),
        VdescTypeInfo(VdescType.ATOMIC_CAS, True, (8, 16), False, "compare-and-swap; payload is compare then swap "
                                                                  "value; READ_RESPONSE has the old value"),
        VdescTypeInfo(VdescType.NOTIFY, True, _ANY_OR_NONE, False, "notification with a message code and up to "
                                                                   "4 KiB of data; never acknowledged"),
        VdescTypeInfo(VdescType.REDUCE, True, _ANY, False, "contribution to an in-switch reduction; the 8-byte "
                                                           "reduction extension follows the header"),
        VdescTypeInfo(VdescType.WRITE_ACK, False, _ANY_OR_NONE, True, "response without data: length is the bytes "
                                                                       "written, or the status reports an error"),
        VdescTypeInfo(VdescType.READ_RESPONSE, True, _ANY, True, "response with data; address is that of its "
                                                                 "first byte"),
    )
}

# --- the normative layout ----------------------------------------------------------------------

HEADER = le_bits(
    "magic" / c.BitsInteger(16) * 'the bytes "VD" (0x4456 read little-endian): a descriptor starts here',
    "version" / c.BitsInteger(8) * "format version: 1",
    "kind" / c.BitsInteger(8) * "descriptor type (type table)",
    "fence" / c.Flag * "1: ordered behind the source's earlier writes; 0: relaxed, may pass them",
    "id_order" / c.Flag * "ordered only against descriptors from the same source",
    "poison" / c.Flag * "the payload is known to be bad",
    "early_ack" / c.Flag * "on a request: an early WRITE_ACK is allowed; on a WRITE_ACK: it was given early",
    "no_snoop" / c.Flag * "the target memory needs no cache snoop",
    "reserved_0" / c.BitsInteger(3) * "must be zero",
    "priority" / c.BitsInteger(3) * "priority 0 (lowest) to 7",
    "reserved_1" / c.BitsInteger(5) * "must be zero",
    "status" / c.BitsInteger(8) * "responses: outcome (status table); requests: 0 (OK)",
    "code" / c.BitsInteger(8) * "NOTIFY: message code; every other type: 0",
    "src" / c.BitsInteger(16) * "device id of the sender",
    "dst" / c.BitsInteger(16) * "device id of the receiver",
    "txn_id" / c.BitsInteger(32) * "transaction id; responses carry their request's",
    "address" / c.BitsInteger(ADDRESS_BITS) * "byte address in the target's memory (NOTIFY: message-specific data)",
    "reserved_2" / c.BitsInteger(64 - ADDRESS_BITS) * "must be zero",
    "length" / c.BitsInteger(32) * "bytes of payload, or bytes a read asks for (at most 4096)",
    "congestion" / c.BitsInteger(3) * "telemetry: worst congestion on the path, 0 (idle) to 7 (saturated)",
    "hops" / c.BitsInteger(5) * "telemetry: switches traversed",
    "reserved_3" / c.BitsInteger(24) * "must be zero",
)

REDUCE_EXT = c.Struct(
    "group" / c.Int16ul * "collective group; the switch knows its members",
    "members" / c.Int16ul * "contributions the switch waits for before it reduces (at least 1)",
    "op" / c.Int8ul * "reduction (op table)",
    "dtype" / c.Int8ul * "element type (dtype table); length is a whole number of elements",
    "reserved" / c.Int16ul * "must be zero",
)


def _payload_length(ctx: Any) -> int:
    info = VDESC_TYPES.get(ctx.header.kind)
    return ctx.header.length if info is not None and info.has_payload else 0


VDESC = c.Struct(
    "body" / c.RawCopy(c.Struct(
        "header" / HEADER * "the 32-byte header (header table)",
        "reduce" / c.If(c.this.header.kind == VdescType.REDUCE, REDUCE_EXT) * "REDUCE only: the reduction extension",
        "payload" / c.Bytes(_payload_length) * "length bytes, for the types that carry data",
    )),
    "crc" / c.Checksum(c.Int32ul, crc32c, c.this.body.data) * "CRC-32C of every byte before it, little-endian",
)

HEADER_FIELDS: list[Field] = lsb_field_table(HEADER)
REDUCE_FIELDS: list[Field] = field_table(REDUCE_EXT)
_HEADER_NAMES = tuple(f.name for f in HEADER_FIELDS)
_OFFSETS = {f.name: f.offset for f in HEADER_FIELDS} | {
    f"reduce.{f.name}": HEADER_SIZE + f.offset for f in REDUCE_FIELDS
} | {"reduce": HEADER_SIZE}
_FLAGS = ("fence", "id_order", "poison", "early_ack", "no_snoop")
_WIDTHS = {f.name: f.bits for f in HEADER_FIELDS}


# --- the in-memory form ------------------------------------------------------------------------

@dataclass(slots=True)
class ReduceExt:
    """The reduction extension of a REDUCE descriptor."""

    group: int
    members: int
    op: ReduceOp
    dtype: ReduceDtype


@dataclass(slots=True)
class Vdesc:
    """One VDESC descriptor; the constants (magic, version, reserved bits, CRC) are not kept."""

    kind: VdescType
    src: int
    dst: int
    txn_id: int = 0
    length: int = 0
    address: int = 0
    payload: bytes = b""
    priority: int = 0
    fence: bool = False
    id_order: bool = False
    poison: bool = False
    early_ack: bool = False
    no_snoop: bool = False
    status: VdescStatus = VdescStatus.OK
    code: int = 0
    congestion: int = 0
    hops: int = 0
    reduce: ReduceExt | None = None

    @property
    def info(self) -> VdescTypeInfo:
        return VDESC_TYPES[self.kind]

    @property
    def wire_size(self) -> int:
        return HEADER_SIZE + (REDUCE_EXT_SIZE if self.reduce is not None else 0) + len(self.payload) + CRC_SIZE


# --- the rules ---------------------------------------------------------------------------------

def _fail(message: str, name: str) -> FrameError:
    return FrameError(message, fmt=FMT, field=name, offset=_OFFSETS.get(name))


_STATUSES = {int(s): s for s in VdescStatus}
_OPS = {int(o): o for o in ReduceOp}
_DTYPES = {int(d): d for d in ReduceDtype}
_NUMBERS = ("src", "dst", "txn_id", "length", "address", "priority", "code", "congestion", "hops")


def _describe(lengths: range | tuple[int, ...]) -> str:
    if isinstance(lengths, range):
        return f"{lengths.start} to {lengths.stop - 1}"
    return "one of " + ", ".join(map(str, lengths))


def check_vdesc(d: Vdesc) -> VdescTypeInfo:
    """Raise :class:`FrameError` naming the first field that breaks the format's rules; return
    the type's row. Encoders call it, so nothing is written that a decoder would refuse."""
    info = VDESC_TYPES.get(d.kind)
    if info is None:
        raise _fail(f"unknown descriptor type {d.kind!r}", "kind")
    for name in _FLAGS:
        if getattr(d, name) not in (True, False):
            raise _fail(f"{getattr(d, name)!r} is not true or false", name)
    for name in _NUMBERS:
        value = getattr(d, name)
        if not isinstance(value, int) or not 0 <= value < 1 << _WIDTHS[name]:
            raise _fail(f"{value!r} does not fit in {_WIDTHS[name]} bits", name)
    if d.status not in _STATUSES:
        raise _fail(f"unknown status {d.status!r}", "status")
    if d.status and not info.response:
        raise _fail(f"{info.kind.name} is a request: its status is OK", "status")
    if d.code and info.kind is not VdescType.NOTIFY:
        raise _fail(f"only NOTIFY carries a message code, not {info.kind.name}", "code")
    if d.length not in info.lengths:
        raise _fail(f"{d.length} is not a legal length for {info.kind.name} ({_describe(info.lengths)})", "length")
    expected = d.length if info.has_payload else 0
    if not isinstance(d.payload, bytes) or len(d.payload) != expected:
        got = f"{len(d.payload)} bytes" if isinstance(d.payload, bytes) else repr(d.payload)
        raise FrameError(f"payload is {got} but {info.kind.name} of length {d.length} carries {expected} bytes",
                         fmt=FMT, field="payload", offset=HEADER_SIZE + (REDUCE_EXT_SIZE if d.reduce else 0))
    if (d.reduce is not None) != (info.kind is VdescType.REDUCE):
        raise _fail("the reduction extension belongs to REDUCE and only to it", "reduce")
    if d.reduce is not None:
        _check_reduce(d.reduce, d.length)
    return info


def _check_reduce(ext: ReduceExt, length: int) -> None:
    if not isinstance(ext.group, int) or not 0 <= ext.group <= 0xFFFF:
        raise _fail(f"{ext.group!r} does not fit in 16 bits", "reduce.group")
    if not isinstance(ext.members, int) or not 1 <= ext.members <= 0xFFFF:
        raise _fail(f"{ext.members!r} is not 1 to 65535", "reduce.members")
    if ext.op not in _OPS:
        raise _fail(f"unknown reduction {ext.op!r}", "reduce.op")
    dtype = _DTYPES.get(ext.dtype)
    if dtype is None:
        raise _fail(f"unknown element type {ext.dtype!r}", "reduce.dtype")
    if length % dtype.itemsize:
        raise _fail(f"{length} bytes is not a whole number of {dtype.itemsize}-byte {dtype.name} elements", "length")


def _frame_size(info: VdescTypeInfo, length: int) -> int:
    extension = REDUCE_EXT_SIZE if info.kind is VdescType.REDUCE else 0
    return HEADER_SIZE + extension + (length if info.has_payload else 0) + CRC_SIZE


def _short_header(size: int) -> FrameError:
    return FrameError(f"truncated: {size} bytes is shorter than the {HEADER_SIZE}-byte header", fmt=FMT,
                      field=field_at(HEADER_FIELDS, size), offset=size)


def _check_frame(magic: int, version: int, kind: int, length: int, size: int) -> VdescTypeInfo:
    """Is this a VDESC descriptor, and exactly one? Both decoders ask first, before the CRC,
    because the CRC's place depends on the length the header gives."""
    if magic != MAGIC:
        raise _fail(f"magic 0x{magic:04x} is not 0x{MAGIC:04x} (\"VD\"): not a VDESC descriptor", "magic")
    if version != VERSION:
        raise _fail(f"version {version} is not {VERSION}", "version")
    info = VDESC_TYPES.get(kind)
    if info is None:
        raise _fail(f"unknown descriptor type 0x{kind:02x}", "kind")
    if length not in info.lengths:
        raise _fail(f"{length} is not a legal length for {info.kind.name} ({_describe(info.lengths)})", "length")
    expected = _frame_size(info, length)
    if size < expected:
        if size < HEADER_SIZE + (REDUCE_EXT_SIZE if info.kind is VdescType.REDUCE else 0):
            name = f"reduce.{field_at(REDUCE_FIELDS, size - HEADER_SIZE)}"
        else:
            name = "payload" if size < expected - CRC_SIZE else "crc"
        raise FrameError(f"truncated: {size} bytes, but this {info.kind.name} takes {expected}", fmt=FMT,
                         field=name, offset=size)
    if size > expected:
        raise FrameError(f"{size - expected} bytes after the end of the {expected}-byte descriptor", fmt=FMT,
                         offset=expected)
    return info


def build_vdesc(header: Mapping[str, Any], reduce: tuple[int, int, int, int, int] | None,
                payload: bytes) -> Vdesc:
    """A checked :class:`Vdesc` from decoded raw fields; both decoders end here, so they apply
    the same rules. ``header`` holds every header field by name (reserved ones included) and
    ``reduce`` the extension as ``(group, members, op, dtype, reserved)``."""
    for name in ("reserved_0", "reserved_1", "reserved_2", "reserved_3"):
        if header[name]:
            raise _fail("reserved bits are set", name)
    status = _STATUSES.get(header["status"])
    if status is None:
        raise _fail(f"unknown status {header['status']}", "status")
    ext = None
    if reduce is not None:
        group, members, op, dtype, reserved = reduce
        if reserved:
            raise _fail("reserved bytes are set", "reduce.reserved")
        if op not in _OPS:
            raise _fail(f"unknown reduction {op}", "reduce.op")
        if dtype not in _DTYPES:
            raise _fail(f"unknown element type {dtype}", "reduce.dtype")
        ext = ReduceExt(group, members, _OPS[op], _DTYPES[dtype])
    desc = Vdesc(VdescType(header["kind"]), header["src"], header["dst"], header["txn_id"], header["length"],
                 header["address"], payload, header["priority"], bool(header["fence"]), bool(header["id_order"]),
                 bool(header["poison"]), bool(header["early_ack"]), bool(header["no_snoop"]), status,
                 header["code"], header["congestion"], header["hops"], ext)
    check_vdesc(desc)
    return desc


# --- the construct codec (normative; for tools, captures and tests) --------------------------

def decode_vdesc_construct(data: bytes) -> Vdesc:
    """Decode exactly one descriptor with the normative schema (slow; for tools and tests)."""
    if len(data) < HEADER_SIZE:
        raise _short_header(len(data))
    head = HEADER.parse(data[:HEADER_SIZE])
    _check_frame(head.magic, head.version, head.kind, head.length, len(data))
    body = parse_exact(VDESC, data, FMT).body.value
    ext = body.reduce
    return build_vdesc(plain(body.header), ext and (ext.group, ext.members, ext.op, ext.dtype, ext.reserved),
                       bytes(body.payload))


def _raw_header(d: Vdesc) -> dict[str, Any]:
    header: dict[str, Any] = {name: 0 for name in _HEADER_NAMES}
    header.update({name: int(getattr(d, name)) for name in _NUMBERS}, magic=MAGIC, version=VERSION,
                  kind=int(d.kind), status=int(d.status))
    header.update({name: bool(getattr(d, name)) for name in _FLAGS})
    return header


def encode_vdesc_construct(d: Vdesc) -> bytes:
    """Encode one descriptor with the normative schema (slow; for tools and tests)."""
    check_vdesc(d)
    ext = None
    if d.reduce is not None:
        ext = dict(group=d.reduce.group, members=d.reduce.members, op=int(d.reduce.op), dtype=int(d.reduce.dtype),
                   reserved=0)
    return bytes(VDESC.build(dict(body=dict(value=dict(header=_raw_header(d), reduce=ext, payload=d.payload)))))


# --- the fast codec (the emulation's hot path) ------------------------------------------------

_HEADER = struct.Struct("<HBBBBBBHHIQIBBH")
_REDUCE = struct.Struct("<HHBBH")
_CRC = struct.Struct("<I")
_ADDRESS_MASK = (1 << ADDRESS_BITS) - 1
# The flags byte decoded once for each of its values: (fence, id_order, poison, early_ack, no_snoop).
_FLAG_BITS = tuple(tuple(bool(b >> i & 1) for i in range(5)) for b in range(256))


def encode_vdesc(d: Vdesc) -> bytes:
    """The descriptor's bytes, CRC included: the same bytes as :func:`encode_vdesc_construct`."""
    info = VDESC_TYPES.get(d.kind)
    # The common case passes in one test; anything unusual (a response status, a message code,
    # a reduction, a value out of range or of the wrong type) goes through check_vdesc, which
    # names the field.
    try:
        unusual = (info is None or info.kind is VdescType.REDUCE or d.reduce is not None or d.status or d.code
                   or (d.priority | d.congestion) >> 3 or d.hops >> 5 or d.address >> ADDRESS_BITS
                   or (d.fence | d.id_order | d.poison | d.early_ack | d.no_snoop) >> 1
                   or d.length not in info.lengths or type(d.payload) is not bytes
                   or len(d.payload) != (d.length if info.has_payload else 0))
    except TypeError:
        unusual = True
    if unusual:
        check_vdesc(d)
    try:
        body = _HEADER.pack(
            MAGIC, VERSION, d.kind, d.fence | d.id_order << 1 | d.poison << 2 | d.early_ack << 3 | d.no_snoop << 4,
            d.priority, d.status, d.code, d.src, d.dst, d.txn_id, d.address, d.length, d.congestion | d.hops << 3,
            0, 0,
        )
    except struct.error:
        check_vdesc(d)  # names the field that does not fit
        raise
    if d.reduce is not None:
        body += _REDUCE.pack(d.reduce.group, d.reduce.members, d.reduce.op, d.reduce.dtype, 0)
    body += d.payload
    return body + _CRC.pack(crc32c(body))


def decode_vdesc(data: bytes | bytearray | memoryview) -> Vdesc:
    """Decode exactly one descriptor: the same result, or the same error, as
    :func:`decode_vdesc_construct`."""
    size = len(data)
    if size < HEADER_SIZE:
        raise _short_header(size)
    (magic, version, kind, flags, priority, status, code, src, dst, txn_id, address, length, telemetry, reserved_low,
     reserved_high) = _HEADER.unpack_from(data)
    info = VDESC_TYPES.get(kind)
    if (magic != MAGIC or version != VERSION or info is None or length not in info.lengths
            or size != _frame_size(info, length)):
        info = _check_frame(magic, version, kind, length, size)
    view = memoryview(data)
    if crc32c(view[:size - CRC_SIZE]) != _CRC.unpack_from(data, size - CRC_SIZE)[0]:
        raise CrcError("CRC does not match the descriptor's contents", fmt=FMT, field="crc", offset=size - CRC_SIZE)
    if info.kind is VdescType.REDUCE:
        reduce: tuple[int, int, int, int, int] | None = _REDUCE.unpack_from(data, HEADER_SIZE)
        start = HEADER_SIZE + REDUCE_EXT_SIZE
    else:
        reduce, start = None, HEADER_SIZE
    payload = bytes(view[start:size - CRC_SIZE])
    if (reduce is None and not (flags >> 5 or priority >> 3 or address >> ADDRESS_BITS or reserved_low
                                or reserved_high) and (status == 0 or (info.response and status in _STATUSES))
            and (code == 0 or info.kind is VdescType.NOTIFY)):
        fence, id_order, poison, early_ack, no_snoop = _FLAG_BITS[flags]
        return Vdesc(info.kind, src, dst, txn_id, length, address, payload, priority, fence, id_order, poison,
                     early_ack, no_snoop, _STATUSES[status], code, telemetry & 7, telemetry >> 3)
    header = dict(
        magic=magic, version=version, kind=kind, fence=flags & 1, id_order=flags >> 1 & 1, poison=flags >> 2 & 1,
        early_ack=flags >> 3 & 1, no_snoop=flags >> 4 & 1, reserved_0=flags >> 5, priority=priority & 7,
        reserved_1=priority >> 3, status=status, code=code, src=src, dst=dst, txn_id=txn_id,
        address=address & _ADDRESS_MASK, reserved_2=address >> ADDRESS_BITS, length=length,
        congestion=telemetry & 7, hops=telemetry >> 3, reserved_3=reserved_low | reserved_high << 8,
    )
    return build_vdesc(header, reduce, payload)


# --- plain fields (``oisa decode`` / ``oisa encode``) -------------------------------------------

def vdesc_to_fields(d: Vdesc) -> dict[str, Any]:
    """The descriptor as plain fields, named as the schema names them; the constants (magic,
    version, reserved bits, CRC) are left out, since the encoder writes them."""
    out: dict[str, Any] = {"kind": VdescType(d.kind).name}
    out.update({name: getattr(d, name) for name in _NUMBERS})
    out.update({name: getattr(d, name) for name in _FLAGS})
    out["status"] = VdescStatus(d.status).name
    out["payload"] = d.payload.hex()
    if d.reduce is not None:
        out.update(group=d.reduce.group, members=d.reduce.members, op=ReduceOp(d.reduce.op).name,
                   dtype=ReduceDtype(d.reduce.dtype).name)
    return out


def vdesc_from_fields(values: Mapping[str, Any]) -> Vdesc:
    """Read :func:`vdesc_to_fields`'s output back: every field present, none unknown, enums by
    name or number (the encoder then checks ranges and the format's rules)."""
    read = FieldReader(values, FMT)
    kind = read.member("kind", VdescType)
    ints = {name: read.integer(name) for name in _NUMBERS}
    flags = {name: read.flag(name) for name in _FLAGS}
    status = read.member("status", VdescStatus)
    payload = read.hex("payload")
    reduce = None
    if kind is VdescType.REDUCE:
        reduce = ReduceExt(read.integer("group"), read.integer("members"), read.member("op", ReduceOp),
                           read.member("dtype", ReduceDtype))
    read.done()
    named: dict[str, Any] = {**ints, **flags}
    return Vdesc(kind, status=status, payload=payload, reduce=reduce, **named)


# --- tables for specs/ -------------------------------------------------------------------------

def _position(f: Field) -> str:
    """``"4"``, ``"8-9"``, or ``"4[2:0]"``: bytes, and bits counted from bit 0 of the first
    byte in little-endian order (so ``16-23[56:0]`` is the low 57 bits of a 64-bit word)."""
    first, last = f.bit_offset // 8, (f.bit_offset + f.bits - 1) // 8
    span = f"{first}" if first == last else f"{first}-{last}"
    if f.bit_offset % 8 == 0 and f.bits % 8 == 0:
        return span
    low = f.bit_offset - first * 8
    high = low + f.bits - 1
    return f"{span}[{low}]" if high == low else f"{span}[{high}:{low}]"


def _layout(table: list[Field]) -> str:
    lines = ["| bytes | bits | field | meaning |", "|---|---|---|---|"]
    lines += [f"| {_position(f)} | {f.bits} | `{f.name}` | {f.doc} |" for f in table]
    return "\n".join(lines) + "\n"


def _frame() -> str:
    """The parts of a descriptor in order, with the schema's own words for each."""
    body, crc = VDESC.subcons
    parts = [*body.subcon.subcon.subcons, crc]  # body is a RawCopy of the inner Struct
    places = ["0-31", "32-39", "after the header (and extension)", "last 4"]
    lines = ["| bytes | part | meaning |", "|---|---|---|"]
    for place, part in zip(places, parts, strict=True):
        lines.append(f"| {place} | `{part.name}` | {part.docs} |")
    return "\n".join(lines) + "\n"


def _types() -> str:
    lines = ["| value | name | payload | legal `length` | meaning |", "|---|---|---|---|---|"]
    for info in VDESC_TYPES.values():
        lines.append(f"| 0x{int(info.kind):02x} | `{info.kind.name}` | {'yes' if info.has_payload else 'no'} | "
                     f"{_describe(info.lengths)} | {info.summary} |")
    return "\n".join(lines) + "\n"


def _values(enum_type: type[enum.IntEnum], meaning: Mapping[Any, str]) -> str:
    lines = ["| value | name | meaning |", "|---|---|---|"]
    lines += [f"| {int(m)} | `{m.name}` | {meaning[m]} |" for m in enum_type]
    return "\n".join(lines) + "\n"


_STATUS_MEANING = {
    VdescStatus.OK: "done", VdescStatus.ABORT: "the target failed while doing it",
    VdescStatus.UNSUPPORTED: "the target does not serve this address or type",
    VdescStatus.RETRY: "the target is not ready; ask again later",
}
_OP_MEANING = {ReduceOp.SUM: "elementwise sum", ReduceOp.PROD: "elementwise product",
               ReduceOp.MIN: "elementwise minimum", ReduceOp.MAX: "elementwise maximum"}
_DTYPE_NAMES = {
    ReduceDtype.F32: "IEEE 754 binary32", ReduceDtype.F16: "IEEE 754 binary16", ReduceDtype.BF16: "bfloat16",
    ReduceDtype.F64: "IEEE 754 binary64", ReduceDtype.I32: "signed 32-bit integer",
    ReduceDtype.I64: "signed 64-bit integer", ReduceDtype.I8: "signed 8-bit integer",
    ReduceDtype.U8: "unsigned 8-bit integer", ReduceDtype.F8_E4M3: "8-bit float, 4 exponent and 3 mantissa bits (OCP "
                                                                   "FP8 E4M3); OISA switches do not reduce it",
    ReduceDtype.F8_E5M2: "8-bit float, 5 exponent and 2 mantissa bits (OCP FP8 E5M2); OISA switches do not reduce it",
}


def vdesc_tables() -> dict[str, str]:
    """The format's tables in Markdown, by the block name ``specs/`` would give them."""
    return {
        "vdesc-frame": _frame(),
        "vdesc-header": _layout(HEADER_FIELDS),
        "vdesc-reduce-extension": _layout(REDUCE_FIELDS),
        "vdesc-types": _types(),
        "vdesc-status": _values(VdescStatus, _STATUS_MEANING),
        "vdesc-reduce-ops": _values(ReduceOp, _OP_MEANING),
        "vdesc-reduce-dtypes": _values(ReduceDtype, {d: f"{d.itemsize}-byte elements: {_DTYPE_NAMES[d]}"
                                                     for d in ReduceDtype}),
    }


