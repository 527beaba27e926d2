"""OISA transaction-layer messages: the normative construct schema and the in-memory form.

A message is a 20-byte header, an 8-byte extension for collective contributions, and the
payload. The header is five big-endian double words, as a PCIe 4DW header plus one: the same
order of business (type, attributes, ids, tag, length, address), widened where OISA needs it
(16-bit card ids for 1024+ cards, 16-bit tags, byte lengths up to 4 KiB, a telemetry byte).
``specs/oisa-protocol.md`` gives the reasons for each choice; its field tables are generated
from :data:`HEADER` and :data:`COLL_EXT` below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import construct as c

from oisa.errors import FrameError
from oisa.wire.oisa.opcodes import OPCODES, CollDtype, CollOp, Opcode, OpcodeInfo
from oisa.wire.schema import field_at, field_table, parse_exact

__all__ = [
    "ADDRESS_BITS",
    "COLL_EXT",
    "COLL_EXT_SIZE",
    "HEADER",
    "HEADER_SIZE",
    "MESSAGE",
    "CollExt",
    "Message",
    "build_message",
    "check_message",
    "decode_message_construct",
    "encode_message_construct",
    "message_size",
]

FMT = "oisa-msg"
ADDRESS_BITS = 57
HEADER_SIZE = 20
COLL_EXT_SIZE = 8

HEADER = c.BitStruct(
    "opcode" / c.BitsInteger(8) * "message type (opcode table)",
    "tc" / c.BitsInteger(3) * "traffic class 0-7; the link maps it to a virtual channel",
    "ns" / c.Flag * "no snoop (PCIe Attr[0])",
    "ro" / c.Flag * "relaxed ordering: may pass earlier posted requests (PCIe Attr[1])",
    "ido" / c.Flag * "ID-based ordering: ordered only against messages of the same source (PCIe Attr[2])",
    "ep" / c.Flag * "poisoned: the payload is known to be bad (PCIe EP, CXL poison)",
    "ec" / c.Flag * "early completion: on a request, permitted; on a completion, given early",
    "aux" / c.BitsInteger(8) * "per opcode: completion status, message code, CXL response opcode; else 0",
    "load" / c.BitsInteger(3) * "telemetry: worst congestion seen on the path, 0 (idle) to 7 (saturated)",
    "hops" / c.BitsInteger(5) * "telemetry: switches traversed so far",
    "src" / c.BitsInteger(16) * "id of the sending card or switch",
    "dst" / c.BitsInteger(16) * "id of the receiving card or switch",
    "tag" / c.BitsInteger(16) * "matches completions to their request; unique per source among outstanding requests",
    "length" / c.BitsInteger(16) * "bytes of payload, or bytes asked for by a read (at most 4096)",
    "reserved" / c.BitsInteger(64 - ADDRESS_BITS) * "must be zero",
    "address" / c.BitsInteger(ADDRESS_BITS) * "byte address in the target's memory (57 bits, as UALink)",
)

COLL_EXT = c.Struct(
    "group" / c.Int16ub * "collective group; the switch knows its members",
    "members" / c.Int16ub * "contributions the switch waits for before it reduces",
    "op" / c.Int8ub * "reduction: 0 sum, 1 prod, 2 min, 3 max",
    "dtype" / c.Int8ub * "element type (low nibble = log2 of the element size)",
    "reserved" / c.Int16ub * "must be zero",
)


def _payload_length(ctx: Any) -> int:
    info = OPCODES.get(ctx.header.opcode)
    return ctx.header.length if info is not None and info.has_payload else 0


MESSAGE = c.Struct(
    "header" / HEADER,
    "coll" / c.If(c.this.header.opcode == Opcode.COLL_REDUCE, COLL_EXT),
    "payload" / c.Bytes(_payload_length),
)

HEADER_FIELDS = field_table(HEADER)
COLL_FIELDS = field_table(COLL_EXT)
_HEADER_NAMES = tuple(f.name for f in HEADER_FIELDS if f.name != "reserved")


@dataclass(slots=True)
class CollExt:
    """The collective extension of a COLL_REDUCE message."""

    group: int
    members: int
    op: CollOp
    dtype: CollDtype


@dataclass(slots=True)
class Message:
    """One OISA message, as the emulation handles it.

    Mutable on purpose: switches update the telemetry fields (``load``, ``hops``) in place as
    a message crosses them.

    ``count`` is 1 for a real message. In timing mode (no data) a message with ``count`` n
    stands for n messages alike, each ``length`` bytes long, that travel back to back: a
    segment, which moves through the fabric as one unit and never reaches a codec.
    """

    opcode: Opcode
    src: int
    dst: int
    tag: int = 0
    length: int = 0
    address: int = 0
    payload: bytes = b""
    tc: int = 0
    ns: bool = False
    ro: bool = False
    ido: bool = False
    ep: bool = False
    ec: bool = False
    aux: int = 0
    load: int = 0
    hops: int = 0
    coll: CollExt | None = field(default=None)
    count: int = 1

    @property
    def info(self) -> OpcodeInfo:
        return OPCODES[self.opcode]

    @property
    def wire_size(self) -> int:
        """Bytes of one message on the wire (of each, for a timing-mode segment): its header and
        the ``length`` bytes it carries, whether or not they are real (timing mode has none)."""
        return self.header_size + self.length * OPCODES[self.opcode].has_payload

    @property
    def header_size(self) -> int:
        """Bytes of the header, with the collective extension where there is one."""
        return HEADER_SIZE + (COLL_EXT_SIZE if self.coll is not None else 0)

    @property
    def bytes_moved(self) -> int:
        """Payload bytes this message carries: ``length`` of each of ``count`` messages."""
        return self.count * (self.length if OPCODES[self.opcode].has_payload else 0)


def message_size(header: bytes | bytearray | memoryview) -> int:
    """Total bytes of the message whose header starts ``header`` (needs the first 12 bytes)."""
    info = OPCODES.get(header[0])
    if info is None:
        raise FrameError(f"unknown opcode 0x{header[0]:02x}", fmt=FMT, field="opcode", offset=0)
    length = (header[10] << 8) | header[11]
    size = HEADER_SIZE + (COLL_EXT_SIZE if info.opcode is Opcode.COLL_REDUCE else 0)
    return size + (length if info.has_payload else 0)


_OFFSETS = {f.name: f.offset for f in HEADER_FIELDS} | {
    f"coll.{f.name}": HEADER_SIZE + f.offset for f in COLL_FIELDS
}


def _fail(message: str, name: str) -> FrameError:
    return FrameError(message, fmt=FMT, field=name, offset=_OFFSETS.get(name))


def check_message(m: Message) -> None:
    """Raise :class:`FrameError` naming the first field that breaks the opcode table's rules."""
    if m.count != 1:
        raise _fail(f"a timing-mode segment of {m.count} messages has no bytes to encode", "opcode")
    info = OPCODES.get(m.opcode)
    if info is None:
        raise _fail(f"unknown opcode {m.opcode!r}", "opcode")
    for name in ("ns", "ro", "ido", "ep", "ec"):
        if getattr(m, name) not in (True, False):
            raise _fail(f"{getattr(m, name)!r} is not true or false", name)
    for name, bits in (("tc", 3), ("load", 3), ("hops", 5), ("src", 16), ("dst", 16), ("tag", 16),
                       ("length", 16), ("aux", 8), ("address", ADDRESS_BITS)):
        value = getattr(m, name)
        if not 0 <= value < (1 << bits):
            raise _fail(f"{value} does not fit in {bits} bits", name)
    if m.length not in info.lengths:
        raise _fail(f"{m.length} is not a legal length for {info.opcode.name} "
                    f"({_describe(info.lengths)})", "length")
    if m.aux not in info.aux_values:
        raise _fail(f"{m.aux} is not a legal {info.aux} for {info.opcode.name}", "aux")
    expected = m.length if info.has_payload else 0
    if len(m.payload) != expected:
        raise FrameError(f"payload has {len(m.payload)} bytes but {info.opcode.name} with length "
                         f"{m.length} carries {expected}", fmt=FMT, field="payload", offset=m.header_size)
    if (m.coll is not None) != (info.opcode is Opcode.COLL_REDUCE):
        raise _fail("the collective extension belongs to COLL_REDUCE and only to it", "coll.group")
    if m.coll is not None:
        _check_coll(m.coll, m.length)


_COLL_OPS = frozenset(int(o) for o in CollOp)
_COLL_DTYPES = frozenset(int(d) for d in CollDtype)


def _check_coll(coll: CollExt, length: int) -> None:
    if not 0 <= coll.group <= 0xFFFF:
        raise _fail(f"{coll.group} does not fit in 16 bits", "coll.group")
    if not 1 <= coll.members <= 0xFFFF:
        raise _fail(f"{coll.members} is not 1 to 65535", "coll.members")
    if coll.op not in _COLL_OPS:
        raise _fail(f"unknown reduction {coll.op}", "coll.op")
    if coll.dtype not in _COLL_DTYPES:
        raise _fail(f"unknown element type 0x{int(coll.dtype):02x}", "coll.dtype")
    itemsize = CollDtype(coll.dtype).itemsize
    if length % itemsize:
        raise _fail(f"{length} bytes is not a whole number of {itemsize}-byte elements", "length")


def _describe(lengths: range | tuple[int, ...]) -> str:
    if isinstance(lengths, range):
        return f"{lengths.start} to {lengths.stop - 1}"
    return "one of " + ", ".join(map(str, lengths))


def build_message(header: dict[str, Any], coll: tuple[int, int, int, int, int] | None,
                  payload: bytes) -> Message:
    """A checked :class:`Message` from decoded raw fields; both codecs end here, so they apply
    the same rules. ``header`` holds the header fields by name (``reserved`` included) and
    ``coll`` the extension as ``(group, members, op, dtype, reserved)``."""
    if header["reserved"]:
        raise _fail("reserved bits are set", "reserved")
    info = OPCODES.get(header["opcode"])
    if info is None:
        raise _fail(f"unknown opcode 0x{header['opcode']:02x}", "opcode")
    ext = None
    if coll is not None:
        group, members, op, dtype, reserved = coll
        if reserved:
            raise _fail("reserved bytes are set", "coll.reserved")
        ext = CollExt(group, members, op, dtype)  # type: ignore[arg-type]
        _check_coll(ext, header["length"])
        ext.op, ext.dtype = CollOp(op), CollDtype(dtype)
    msg = Message(**{name: header[name] for name in _HEADER_NAMES}, payload=payload, coll=ext)
    msg.opcode = info.opcode
    check_message(msg)
    return msg


def decode_message_construct(data: bytes) -> Message:
    """Decode exactly one message with the normative schema (slow; for tools and tests)."""
    if len(data) < HEADER_SIZE:
        raise FrameError(f"truncated: {len(data)} bytes is shorter than the {HEADER_SIZE}-byte header",
                         fmt=FMT, field=field_at(HEADER_FIELDS, len(data)), offset=len(data))
    if data[0] not in OPCODES:
        raise _fail(f"unknown opcode 0x{data[0]:02x}", "opcode")
    parsed = parse_exact(MESSAGE, data, FMT)
    coll = parsed.coll
    return build_message(dict(parsed.header), coll and (coll.group, coll.members, coll.op, coll.dtype, coll.reserved),
                         bytes(parsed.payload))


def encode_message_construct(m: Message) -> bytes:
    """Encode one message with the normative schema (slow; for tools and tests)."""
    check_message(m)
    header = {name: int(getattr(m, name)) for name in _HEADER_NAMES}
    header.update(reserved=0, ns=m.ns, ro=m.ro, ido=m.ido, ep=m.ep, ec=m.ec)
    coll = None
    if m.coll is not None:
        coll = dict(group=m.coll.group, members=m.coll.members, op=int(m.coll.op), dtype=int(m.coll.dtype),
                    reserved=0)
    return bytes(MESSAGE.build(dict(header=header, coll=coll, payload=m.payload)))
