"""OISA link-layer flits: fixed-size frames that carry the message stream, acknowledgements and
credits across one link.

Layout (256 bytes by default): a 16-byte header, ``size - 20`` bytes of payload, and a CRC-32
over everything before it. At 256 bytes that leaves 236 payload bytes, the same share PCIe 6.0
flit mode gives its TLPs. Data flits carry a slice of the link's message stream (messages are
packed back to back and may continue into the next flit, so short messages share a flit and
long ones need no padding), plus a piggybacked ACK/NAK and one credit return. Control flits
carry no stream bytes and are not sequenced or replayed, like PCIe DLLPs.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import construct as c

from oisa.errors import FrameError, UsageError
from oisa.wire.crc import crc32
from oisa.wire.fc_class import FcClass
from oisa.wire.schema import field_at, field_table, parse_exact

__all__ = [
    "CONTROL_MEANING",
    "CREDIT_ENTRY",
    "CREDIT_ENTRY_SIZE",
    "FLIT_HEADER",
    "FLIT_HEADER_SIZE",
    "FLIT_OVERHEAD",
    "NO_MESSAGE_START",
    "SEQ_MODULUS",
    "AckKind",
    "ControlCode",
    "CreditReturn",
    "Flit",
    "FlitKind",
    "build_flit",
    "check_flit",
    "check_flit_size",
    "check_frame_length",
    "decode_flit_construct",
    "encode_flit_construct",
    "flit_schema",
]

FMT = "oisa-flit"
FLIT_HEADER_SIZE = 16
FLIT_CRC_SIZE = 4
FLIT_OVERHEAD = FLIT_HEADER_SIZE + FLIT_CRC_SIZE
SEQ_MODULUS = 4096
NO_MESSAGE_START = 0xFFFF
CREDIT_ENTRY_SIZE = 6


class FlitKind(enum.IntEnum):
    DATA = 1
    CONTROL = 2


class ControlCode(enum.IntEnum):
    """What a control flit does (data flits carry ``NONE``)."""

    NONE = 0
    ACK = 1
    CREDIT = 2
    INIT_FC1 = 3
    INIT_FC2 = 4
    RETRAIN = 5
    RETRAIN_DONE = 6
    NOP = 7
    CREDIT_POLL = 8


CONTROL_MEANING = {
    ControlCode.NONE: "data flit",
    ControlCode.ACK: "standalone ACK or NAK (the ack fields say which)",
    ControlCode.CREDIT: "credit update; entries in the payload (like PCIe UpdateFC)",
    ControlCode.INIT_FC1: "credit advertisement, first phase (like PCIe InitFC1)",
    ControlCode.INIT_FC2: "credit advertisement, second phase (like PCIe InitFC2)",
    ControlCode.RETRAIN: "request to retrain the link",
    ControlCode.RETRAIN_DONE: "retraining finished; replay may begin",
    ControlCode.NOP: "keeps the link busy; carries acks and credits only",
    ControlCode.CREDIT_POLL: ("a sender waiting for credits asks for the current allocations "
                              "(a credit return may have been lost)"),
}


class AckKind(enum.IntEnum):
    NONE = 0
    ACK = 1  # everything up to and including ack_seq arrived
    NAK = 2  # something after ack_seq was bad: replay from ack_seq + 1


FLIT_HEADER = c.BitStruct(
    "kind" / c.BitsInteger(8) * "1 data, 2 control",
    "code" / c.BitsInteger(8) * "control code (0 in data flits)",
    "reserved_0" / c.BitsInteger(4) * "must be zero",
    "seq" / c.BitsInteger(12) * "data flits: sequence number, modulo 4096 (control flits: 0)",
    "ack_kind" / c.BitsInteger(2) * "0 none, 1 ACK, 2 NAK",
    "reserved_1" / c.BitsInteger(2) * "must be zero",
    "ack_seq" / c.BitsInteger(12) * "ACK: last sequence received in order; NAK: last good one",
    "crd_valid" / c.Flag * "a credit return follows in crd_*",
    "crd_vc" / c.BitsInteger(3) * "virtual channel of the credit return",
    "crd_class" / c.BitsInteger(2) * "0 posted, 1 non-posted, 2 completion",
    "reserved_2" / c.BitsInteger(14) * "must be zero",
    "crd_hdr" / c.BitsInteger(12) * "header credits allocated so far, modulo 4096 (cumulative, as PCIe)",
    "crd_data" / c.BitsInteger(16) * "data credits (16 bytes each) allocated so far, modulo 65536",
    "used" / c.BitsInteger(16) * "payload bytes in use; the rest is zero padding",
    "first_msg" / c.BitsInteger(16) * "offset in the payload of the first message that starts here; 0xFFFF none",
)

CREDIT_ENTRY = c.BitStruct(
    "vc" / c.BitsInteger(3) * "virtual channel",
    "fc_class" / c.BitsInteger(2) * "0 posted, 1 non-posted, 2 completion",
    "reserved" / c.BitsInteger(15) * "must be zero",
    "hdr" / c.BitsInteger(12) * "header credits (INIT_FC: initial, 0 = infinite; CREDIT: cumulative)",
    "data" / c.BitsInteger(16) * "data credits of 16 bytes (INIT_FC: initial, 0 = infinite; CREDIT: cumulative)",
)

HEADER_FIELDS = field_table(FLIT_HEADER)
CREDIT_FIELDS = field_table(CREDIT_ENTRY)
_OFFSETS = {f.name: f.offset for f in HEADER_FIELDS}
_ENTRY_CODES = (ControlCode.CREDIT, ControlCode.INIT_FC1, ControlCode.INIT_FC2)


@dataclass(slots=True, frozen=True)
class CreditReturn:
    """Credits for one (virtual channel, class); cumulative counters, or initial ones in INIT_FC."""

    vc: int
    fc_class: FcClass
    hdr: int
    data: int


@dataclass(slots=True)
class Flit:
    """One flit as the link layer handles it; ``payload`` holds only the bytes in use."""

    kind: FlitKind
    code: ControlCode = ControlCode.NONE
    seq: int = 0
    ack_kind: AckKind = AckKind.NONE
    ack_seq: int = 0
    credit: CreditReturn | None = None
    first_msg: int = NO_MESSAGE_START
    payload: bytes = b""
    entries: list[CreditReturn] = field(default_factory=list)


def check_flit_size(size: int) -> int:
    """Flit sizes are multiples of 32 bytes from 64 to 2048 (UALink's 640 is one of them)."""
    if not (64 <= size <= 2048 and size % 32 == 0):
        raise UsageError(f"flit size {size} is not a multiple of 32 between 64 and 2048")
    return size


@cache
def flit_schema(size: int) -> c.Construct:
    """The whole flit of ``size`` bytes, CRC included (checked on parse, computed on build)."""
    check_flit_size(size)
    return c.Struct(
        "body" / c.RawCopy(c.Struct(
            "header" / FLIT_HEADER,
            "payload" / c.Bytes(size - FLIT_OVERHEAD) * "message stream bytes or control entries",
        )),
        "crc" / c.Checksum(c.Int32ub, crc32, c.this.body.data) * "CRC-32 (zlib) over all bytes before it",
    )


def _fail(message: str, name: str) -> FrameError:
    return FrameError(message, fmt=FMT, field=name, offset=_OFFSETS.get(name))


EntryParser = Callable[[bytes], list[tuple[int, int, int, int, int]]]


def build_flit(header: dict[str, Any], payload: bytes | memoryview, capacity: int,
               parse_entries: EntryParser) -> Flit:
    """A checked :class:`Flit` from decoded raw header fields and the whole payload area.

    Both codecs end here, so both apply the same rules; each brings its own way of reading
    credit entries as ``(vc, fc_class, reserved, hdr, data)`` tuples.
    """
    if header["reserved_0"] or header["reserved_1"] or header["reserved_2"]:
        name = next(n for n in ("reserved_0", "reserved_1", "reserved_2") if header[n])
        raise _fail("reserved bits are set", name)
    kind = _KINDS.get(header["kind"])
    if kind is None:
        raise _fail(f"unknown flit kind {header['kind']}", "kind")
    code = _CODES.get(header["code"])
    if code is None:
        raise _fail(f"unknown control code {header['code']}", "code")
    if (kind is FlitKind.DATA) != (code is ControlCode.NONE):
        raise _fail(f"{kind.name.lower()} flit with control code {code.name}", "code")
    if kind is FlitKind.CONTROL and header["seq"]:
        raise _fail("control flits are not sequenced; seq must be 0", "seq")
    ack_kind = _ACK_KINDS.get(header["ack_kind"])
    if ack_kind is None:
        raise _fail(f"reserved ack kind {header['ack_kind']}", "ack_kind")
    used = header["used"]
    if used > capacity:
        raise _fail(f"{used} bytes in use but the payload holds {capacity}", "used")
    padding = bytes(payload[used:])
    if padding != _ZEROS[:len(padding)]:
        pad = used + next(i for i, b in enumerate(padding) if b)
        raise FrameError("padding after the used bytes is not zero", fmt=FMT, field="payload",
                         offset=FLIT_HEADER_SIZE + pad)
    first = header["first_msg"]
    if first != NO_MESSAGE_START and (kind is FlitKind.CONTROL or first >= used):
        raise _fail(f"first_msg {first} does not point into the {used} used bytes", "first_msg")
    credit = None
    if header["crd_valid"]:
        credit = _credit(header["crd_vc"], header["crd_class"], header["crd_hdr"], header["crd_data"], "crd_class")
    elif header["crd_vc"] or header["crd_class"] or header["crd_hdr"] or header["crd_data"]:
        raise _fail("credit fields set without crd_valid", "crd_valid")
    body = bytes(payload[:used])
    entries: list[CreditReturn] = []
    if code in _ENTRY_CODES:
        if used == 0 or used % CREDIT_ENTRY_SIZE:
            raise _fail(f"{used} bytes is not a whole, non-zero number of {CREDIT_ENTRY_SIZE}-byte credit entries",
                        "used")
        for index, (vc, fc_class, reserved, hdr, data) in enumerate(parse_entries(body)):
            if reserved:
                raise FrameError("reserved bits are set in a credit entry", fmt=FMT, field="entries.reserved",
                                 offset=FLIT_HEADER_SIZE + index * CREDIT_ENTRY_SIZE)
            entries.append(_credit(vc, fc_class, hdr, data, "entries.fc_class"))
        body = b""
    elif kind is FlitKind.CONTROL and used:
        raise _fail(f"{code.name} flits carry no payload", "used")
    return Flit(kind, code, header["seq"], ack_kind, header["ack_seq"], credit, first, body, entries)


_KINDS = {int(k): k for k in FlitKind}
_CODES = {int(c): c for c in ControlCode}
_ACK_KINDS = {int(a): a for a in AckKind}
_FC_CLASSES = {int(f): f for f in FcClass}
_ZEROS = bytes(2048)


def _credit(vc: int, fc_class: int, hdr: int, data: int, name: str) -> CreditReturn:
    cls = _FC_CLASSES.get(fc_class)
    if cls is None:
        raise _fail(f"reserved credit class {fc_class}", name)
    return CreditReturn(vc, cls, hdr, data)


def _construct_entries(body: bytes) -> list[tuple[int, int, int, int, int]]:
    return [(e.vc, e.fc_class, e.reserved, e.hdr, e.data)
            for e in c.GreedyRange(CREDIT_ENTRY).parse(body)]


def header_fields(flit: Flit, used: int) -> dict[str, Any]:
    """The raw header fields of ``flit`` with ``used`` payload bytes, as both encoders write them."""
    credit = flit.credit
    return dict(
        kind=int(flit.kind), code=int(flit.code), reserved_0=0, seq=flit.seq, ack_kind=int(flit.ack_kind),
        reserved_1=0, ack_seq=flit.ack_seq, crd_valid=credit is not None,
        crd_vc=credit.vc if credit else 0, crd_class=int(credit.fc_class) if credit else 0, reserved_2=0,
        crd_hdr=credit.hdr if credit else 0, crd_data=credit.data if credit else 0, used=used,
        first_msg=flit.first_msg,
    )


_WIDTHS = {f.name: f.bits for f in HEADER_FIELDS}
_ENTRY_WIDTHS = {f.name: f.bits for f in CREDIT_FIELDS}


def check_flit(flit: Flit, size: int) -> dict[str, Any]:
    """Refuse to encode what a decoder would refuse; return the raw header fields to write."""
    capacity = check_flit_size(size) - FLIT_OVERHEAD
    used = len(flit.entries) * CREDIT_ENTRY_SIZE if flit.entries else len(flit.payload)
    if used > capacity:
        raise FrameError(f"{used} payload bytes do not fit in {capacity}", fmt=FMT, field="payload",
                         offset=FLIT_HEADER_SIZE)
    header = header_fields(flit, used)
    for name, value in header.items():
        if not 0 <= value < (1 << _WIDTHS[name]):
            raise _fail(f"{value} does not fit in {_WIDTHS[name]} bits", name)
    for entry in flit.entries:
        for name in ("vc", "hdr", "data"):
            if not 0 <= getattr(entry, name) < (1 << _ENTRY_WIDTHS[name]):
                raise FrameError(f"{getattr(entry, name)} does not fit in {_ENTRY_WIDTHS[name]} bits", fmt=FMT,
                                 field=f"entries.{name}", offset=FLIT_HEADER_SIZE)

    def no_entries(body: bytes) -> list[tuple[int, int, int, int, int]]:
        return [(e.vc, e.fc_class, 0, e.hdr, e.data) for e in flit.entries]

    build_flit(header, flit.payload if not flit.entries else bytes(used), capacity, no_entries)
    return header


def check_frame_length(data: bytes | memoryview, size: int) -> None:
    """A flit is exactly ``size`` bytes: say which field a short one stops in, or where a long
    one should have ended."""
    if len(data) < size:
        name = field_at(HEADER_FIELDS, len(data)) or ("payload" if len(data) < size - FLIT_CRC_SIZE else "crc")
        raise FrameError(f"truncated: {len(data)} of {size} bytes", fmt=FMT, field=name, offset=len(data))
    if len(data) > size:
        raise FrameError(f"{len(data) - size} bytes after the end of the {size}-byte flit", fmt=FMT, offset=size)


def decode_flit_construct(data: bytes, size: int) -> Flit:
    """Decode one flit of ``size`` bytes with the normative schema (CRC checked first)."""
    check_frame_length(data, size)
    parsed = parse_exact(flit_schema(size), data, FMT)
    body = parsed.body.value
    return build_flit(dict(body.header), body.payload, size - FLIT_OVERHEAD, _construct_entries)


def encode_flit_construct(flit: Flit, size: int) -> bytes:
    """Encode one flit with the normative schema, padding the payload and computing the CRC."""
    header = check_flit(flit, size)
    payload = flit.payload
    if flit.entries:
        payload = b"".join(CREDIT_ENTRY.build(dict(vc=e.vc, fc_class=int(e.fc_class), reserved=0, hdr=e.hdr,
                                                   data=e.data)) for e in flit.entries)
    padded = payload.ljust(size - FLIT_OVERHEAD, b"\0")
    return bytes(flit_schema(size).build(dict(body=dict(value=dict(header=header, payload=padded)))))
