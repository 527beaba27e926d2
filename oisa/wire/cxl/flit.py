"""CXL.cachemem 68B flits (CXL 2.0 §4.2): protocol, control and all-data flits with their CRC.

On the wire a 68B flit is 2 bytes of ARB/MUX protocol ID (5555h for CXL.cachemem, CXL spec
Table 6-2), then the 528-bit link-layer flit: flit bits [511:0] (four 16-byte slots, or four
16-byte data chunks in an all-data flit) and the CRC in bits [527:512]. Bit *i* of the flit is
bit *i* % 8 of byte *i* // 8. Byte offsets in errors count from the first protocol-ID byte.

A flit whose header ``type`` is 0 is a protocol flit (the slot formats of
:mod:`oisa.wire.cxl.slots`); 1 is a control flit, which uses slot 0 only. An all-data flit has no
header at all: only the data headers of earlier flits tell the receiver one is coming, so a
decoder must be told (``all_data=True``); :func:`oisa.wire.cxl.pack.unpack_cxl_mem` tracks this.

The CRC (§4.2.8.7) is CRC-16 with polynomial 1F053h and no initial value or final XOR, defined
in the spec as 16 XOR trees over flit bits [511:0]. Those trees equal an MSB-first CRC that
reads flit bit 511 first, i.e. the 64 bytes from last to first, each from bit 7 down;
``tests/wire/test_cxl_flit.py`` checks all 16 data masks of the spec against this function.

Not supported, and refused with a :class:`~oisa.errors.FrameError`: CXL.cache slot formats, IDE
(the H6 MAC slot and CTL_FMT 001b control flits), protocol ID 8787h (implied EDS token framing).
Decoding is stricter than a receiver must be: reserved bits and the bits of empty message
positions must be zero, so that every flit that decodes encodes back to the same bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeAlias

import construct as c

from oisa.errors import FrameError, UsageError
from oisa.wire.bits import le_bits, lsb_field_table
from oisa.wire.crc import crc16
from oisa.wire.cxl.mem import CxlMemMessage, Direction, MemClass
from oisa.wire.cxl.slots import (
    FLIT_HEADER_BITS,
    DataSlot,
    MessageSlot,
    Slot,
    decode_slot,
    encode_slot,
    slot_code,
    slot_from_fields,
    slot_layout,
    slot_offset,
    slot_to_fields,
)
from oisa.wire.plain_fields import FieldProblem, as_bool, as_int, check_width, require_keys
from oisa.wire.schema import field_at, field_table, parse_exact, plain

__all__ = [
    "CONTROL_SLOT",
    "CRC_POLY",
    "FLIT",
    "FLIT_FIELDS",
    "FLIT_HEADER",
    "FLIT_SIZE",
    "INIT_PARAM_PAYLOAD",
    "LLCRD_PAYLOAD",
    "PROTOCOL_ID",
    "RETRY_ACK_PAYLOAD",
    "RETRY_REQ_PAYLOAD",
    "AllDataFlit",
    "ControlFlit",
    "ControlMessage",
    "CxlFlit",
    "InitParam",
    "Llcrd",
    "ProtocolFlit",
    "RetryAck",
    "RetryFrame",
    "RetryIdle",
    "RetryReq",
    "cxl_flit_crc",
    "cxl_flit_from_fields",
    "cxl_flit_to_fields",
    "decode_cxl_flit",
    "encode_cxl_flit",
]

FMT = "cxl-flit"
FLIT_SIZE = 68
PROTOCOL_ID = 0x5555
CRC_POLY = 0x1F053
_BODY = 64
_HEADER_AT = 2  # byte offset of the flit header in the 68-byte frame


def cxl_flit_crc(flit_bits: bytes) -> int:
    """CRC[15:0] of flit bits [511:0] (64 bytes, byte 0 holding bits 7:0), as the spec's XOR trees."""
    return crc16(bytes(flit_bits)[::-1], CRC_POLY, 0)


FLIT = c.Struct(
    "protocol_id" / c.Int16ul * "ARB/MUX protocol ID: 5555h = CXL.cachemem",
    "flit" / c.RawCopy(c.Bytes(_BODY)) * "flit bits [511:0]: the header slot and three generic slots, or 4 data chunks",
    "crc" / c.Checksum(c.Int16ul, cxl_flit_crc, c.this.flit.data) * "CRC[15:0] = flit bits [527:512] (1F053h)",
)
FLIT_FIELDS = field_table(FLIT)

FLIT_HEADER = c.ByteSwapped(c.Bitwise(FLIT_HEADER_BITS))

CONTROL_SLOT = le_bits(
    "type" / c.BitsInteger(1) * "1: control flit",
    "reserved_0" / c.BitsInteger(1) * "must be zero",
    "ak" / c.Flag * "LLCRD: bit 3 of Full_Ack; reserved in RETRY and INIT",
    "reserved_1" / c.BitsInteger(2) * "BE and Sz: reserved in control flits",
    "ctl_fmt" / c.BitsInteger(3) * "control format: 0 = 64-bit payload; 1 = 96-bit payload (IDE, not supported)",
    "reserved_2" / c.BitsInteger(12) * "must be zero",
    "rsp_crd" / c.BitsInteger(4) * "LLCRD: response credits returned; reserved in RETRY and INIT",
    "req_crd" / c.BitsInteger(4) * "LLCRD: request credits returned; reserved in RETRY and INIT",
    "data_crd" / c.BitsInteger(4) * "LLCRD: data credits returned; reserved in RETRY and INIT",
    "llctrl" / c.BitsInteger(4) * "control type: 0 LLCRD, 1 RETRY, 2 IDE, 12 INIT",
    "sub_type" / c.BitsInteger(4) * "sub-type within the control type",
    "reserved_3" / c.BitsInteger(24) * "bytes 5-7: fixed 0",
    "payload" / c.BitsInteger(64) * "Payload[63:0], laid out per control type and sub-type",
)

_RESERVED_PAYLOAD = le_bits("reserved" / c.BitsInteger(64) * "must be zero")
LLCRD_PAYLOAD = le_bits(
    "acknowledge_lo" / c.BitsInteger(3) * "Acknowledge[2:0] = Full_Ack[2:0]",
    "reserved_0" / c.BitsInteger(1) * "must be zero (Full_Ack[3] is the header's Ak)",
    "acknowledge_hi" / c.BitsInteger(4) * "Acknowledge[7:4] = Full_Ack[7:4]",
    "reserved_1" / c.BitsInteger(56) * "must be zero",
)
RETRY_REQ_PAYLOAD = le_bits(
    "eseq" / c.BitsInteger(8) * "the requester's expected sequence number (ESeq): replay from here",
    "reserved_0" / c.BitsInteger(8) * "must be zero",
    "num_retry" / c.BitsInteger(5) * "NUM_RETRY",
    "num_phy_reinit" / c.BitsInteger(5) * "NUM_PHY_REINIT (for debug)",
    "reserved_1" / c.BitsInteger(38) * "must be zero",
)
RETRY_ACK_PAYLOAD = le_bits(
    "empty" / c.Flag * "the retry buffer holds nothing to replay; NUM_RETRY should be reset",
    "viral" / c.Flag * "the sender is in the viral state",
    "reserved_0" / c.BitsInteger(1) * "must be zero",
    "num_retry" / c.BitsInteger(5) * "echo of NUM_RETRY from the RETRY.Req",
    "wr_ptr" / c.BitsInteger(8) * "WrPtr of the retry buffer (debug)",
    "eseq" / c.BitsInteger(8) * "echo of ESeq from the RETRY.Req",
    "num_free_buf" / c.BitsInteger(8) * "NumFreeBuf of the retry buffer (debug)",
    "viral_ld_id_vector" / c.BitsInteger(16) * "MLD links: bit i = LD-ID i is viral (with viral set)",
    "reserved_1" / c.BitsInteger(16) * "must be zero",
)
INIT_PARAM_PAYLOAD = le_bits(
    "interconnect_version" / c.BitsInteger(4) * "1 = CXL 1.0/1.1, 2 = CXL 2.0 and later (others reserved)",
    "reserved_0" / c.BitsInteger(20) * "must be zero",
    "llr_wrap" / c.BitsInteger(8) * "LLR Wrap Value: the retry sequence counter wraps to 0 after it",
    "reserved_1" / c.BitsInteger(32) * "must be zero",
)


# --- the in-memory form -----------------------------------------------------------------------------

@dataclass(slots=True, frozen=True)
class Llcrd:
    """LLCRD: acknowledgements and credits without protocol messages. ``full_ack`` counts the
    flits acknowledged (its bit 3 travels as the header's Ak); credits are raw 4-bit fields."""

    full_ack: int = 0
    req_crd: int = 0
    data_crd: int = 0
    rsp_crd: int = 0


@dataclass(slots=True, frozen=True)
class RetryIdle:
    """RETRY.Idle: keeps the link busy before INIT and during retry."""


@dataclass(slots=True, frozen=True)
class RetryFrame:
    """RETRY.Frame: sent before RETRY.Req/Ack so that they cannot alias all-data flits."""


@dataclass(slots=True, frozen=True)
class RetryReq:
    """RETRY.Req: please replay from sequence ``eseq``."""

    eseq: int
    num_retry: int = 0
    num_phy_reinit: int = 0


@dataclass(slots=True, frozen=True)
class RetryAck:
    """RETRY.Ack: replay follows (also how viral state crosses the link)."""

    eseq: int
    num_retry: int = 0
    empty: bool = False
    viral: bool = False
    wr_ptr: int = 0
    num_free_buf: int = 0
    viral_ld_id_vector: int = 0


@dataclass(slots=True, frozen=True)
class InitParam:
    """INIT.Param: the first flit after RETRY.Idle at link-up; sets the retry wrap value."""

    llr_wrap: int
    interconnect_version: int = 2


ControlMessage: TypeAlias = Llcrd | RetryIdle | RetryFrame | RetryReq | RetryAck | InitParam

# (LLCTRL, SubType, payload layout) of each control message (CXL spec Tables 4-9 and 4-10).
_CONTROL: dict[type, tuple[int, int, c.Construct]] = {
    Llcrd: (0b0000, 0b0001, LLCRD_PAYLOAD),
    RetryIdle: (0b0001, 0b0000, _RESERVED_PAYLOAD),
    RetryReq: (0b0001, 0b0001, RETRY_REQ_PAYLOAD),
    RetryAck: (0b0001, 0b0010, RETRY_ACK_PAYLOAD),
    RetryFrame: (0b0001, 0b0011, _RESERVED_PAYLOAD),
    InitParam: (0b1100, 0b1000, INIT_PARAM_PAYLOAD),
}
_CONTROL_BY_CODE = {(llctrl, sub): kind for kind, (llctrl, sub, _) in _CONTROL.items()}
_CONTROL_NAME = {Llcrd: "llcrd", RetryIdle: "retry_idle", RetryReq: "retry_req", RetryAck: "retry_ack",
                 RetryFrame: "retry_frame", InitParam: "init_param"}
_WIDTHS = {"full_ack": 8, "req_crd": 4, "data_crd": 4, "rsp_crd": 4, "eseq": 8, "num_retry": 5,
           "num_phy_reinit": 5, "wr_ptr": 8, "num_free_buf": 8, "viral_ld_id_vector": 16, "llr_wrap": 8,
           "interconnect_version": 4}


@dataclass(slots=True, frozen=True)
class ProtocolFlit:
    """A flit of CXL.mem messages: slot 0 a :class:`MessageSlot` in an H format, slots 1-3
    message slots in G formats or :class:`DataSlot` chunks. ``be``/``sz`` describe the data
    message that starts in this flit; credits are the raw 4-bit fields of the header."""

    direction: Direction
    slots: tuple[Slot, Slot, Slot, Slot]
    ak: bool = False
    be: bool = False
    sz: bool = True
    req_crd: int = 0
    data_crd: int = 0
    rsp_crd: int = 0

    @property
    def messages(self) -> list[CxlMemMessage]:
        """The valid messages, in flit bit order (the order the spec gives them)."""
        return [m for s in self.slots if isinstance(s, MessageSlot) for m in s.messages if m is not None]


@dataclass(slots=True, frozen=True)
class ControlFlit:
    """A link-layer control flit (LLCRD, RETRY, INIT); only slot 0 is used."""

    direction: Direction
    message: ControlMessage


@dataclass(slots=True, frozen=True)
class AllDataFlit:
    """Four 16-byte data chunks and no header, owed by data headers of earlier flits."""

    direction: Direction
    data: bytes


CxlFlit: TypeAlias = ProtocolFlit | ControlFlit | AllDataFlit


def _error(reason: str, field: str | None, offset: int | None) -> FrameError:
    return FrameError(reason, fmt=FMT, field=field, offset=offset)


def _bytes_of(schema: c.Construct, base: int) -> dict[str, int]:
    return {f.name: base + f.bit_offset // 8 for f in lsb_field_table(schema)}


_PROTOCOL_BYTE = _bytes_of(FLIT_HEADER, _HEADER_AT)
_CONTROL_BYTE = _bytes_of(CONTROL_SLOT, _HEADER_AT)
_PAYLOAD_AT = _HEADER_AT + 8
_PAYLOAD_BYTE = {kind: _bytes_of(schema, _PAYLOAD_AT) for kind, (_, _, schema) in _CONTROL.items()}


# --- rules, shared by the encoder and the decoder ----------------------------------------------------

_DATA_CLASSES = (MemClass.M2S_RWD, MemClass.S2M_DRS)
_PER_FLIT = {MemClass.M2S_REQ: 2, MemClass.M2S_RWD: 1, MemClass.S2M_NDR: 2, MemClass.S2M_DRS: 3}
# Credit fields that name no CXL.mem channel in this direction (CXL spec Table 4-5).
_NO_MEM_CREDITS = {Direction.M2S: ("req_crd", "no CXL.mem requests travel S2M, so M2S flits return no ReqCrd"),
                   Direction.S2M: ("rsp_crd", "no CXL.mem responses travel M2S, so S2M flits return no RspCrd")}


def _check_credits(direction: Direction, values: Any, where: Mapping[str, int]) -> None:
    for name in ("req_crd", "data_crd", "rsp_crd"):
        try:
            check_width(name, getattr(values, name), 4)
        except FieldProblem as problem:
            raise _error(problem.reason, name, where[name]) from None
    name, reason = _NO_MEM_CREDITS[direction]
    value = getattr(values, name)
    if value & 0b1000 and value & 0b0111:
        raise _error(f"reserved credit return {value:04b}b: {reason}", name, where[name])


def _check_flags(flit: ProtocolFlit) -> None:
    for name in ("ak", "be", "sz"):
        if getattr(flit, name) not in (True, False):
            raise _error(f"{getattr(flit, name)!r} is not a flag", name, _PROTOCOL_BYTE[name])


def _check_protocol(flit: ProtocolFlit) -> None:
    """Per-flit rules of §4.2.2 and §4.2.5: message limits, data headers, Sz/BE, data slots."""
    counts: Counter[MemClass] = Counter()
    headers: list[tuple[int, int, bool]] = []  # (slot, data headers in it, multi-data-header format)
    for index, slot in enumerate(flit.slots):
        if not isinstance(slot, MessageSlot):
            continue
        layout = slot_layout(flit.direction, index, slot_code(flit.direction, index, slot))
        assert layout is not None
        data_headers = 0
        for message in slot.messages:
            if message is None:
                continue
            cls = message.msg_class
            counts[cls] += 1
            if counts[cls] > _PER_FLIT[cls]:
                raise _error(f"more than {_PER_FLIT[cls]} {cls.name} messages in one flit", f"slot{index}",
                             slot_offset(index))
            data_headers += cls in _DATA_CLASSES
        if layout.mdh and data_headers < 2:
            raise _error(f"multi-data-header format {layout.name} needs two or more valid data headers",
                         f"slot{index}", slot_offset(index))
        if data_headers:
            headers.append((index, data_headers, layout.mdh))
    _check_data_headers(flit, headers)
    _check_data_slots(flit, headers)


def _check_data_headers(flit: ProtocolFlit, headers: list[tuple[int, int, bool]]) -> None:
    if not headers:
        if flit.be:
            raise _error("BE is set but no data message starts in this flit", "be", _PROTOCOL_BYTE["be"])
        return
    total = sum(count for _, count, _ in headers)
    shared = [count for _, count, mdh in headers if mdh]
    if (shared and total != shared[0]) or (not shared and total > 1):
        index = headers[-1][0]
        raise _error("a flit starts one data message, or several in a single multi-data-header slot",
                     f"slot{index}", slot_offset(index))
    classes = {m.msg_class for m in flit.messages}
    if MemClass.M2S_RWD in classes and not flit.sz:
        raise _error("M2S data always moves as a whole 64-byte line: Sz must be 1", "sz", _PROTOCOL_BYTE["sz"])
    if MemClass.S2M_DRS in classes and flit.be:
        raise _error("S2M data carries no byte enables: BE must be 0", "be", _PROTOCOL_BYTE["be"])
    if shared and not flit.sz:
        raise _error("multi-data-header slots carry whole lines only: Sz must be 1", "sz", _PROTOCOL_BYTE["sz"])


def _check_data_slots(flit: ProtocolFlit, headers: list[tuple[int, int, bool]]) -> None:
    """The slots after a data header carry its data (rollover data may come first, §4.2.5)."""
    for index, count, _ in headers:
        owed = count * (4 if flit.sz else 2) + flit.be
        for later in range(index + 1, min(4, index + 1 + owed)):
            if not isinstance(flit.slots[later], DataSlot):
                raise _error(f"slot {later} must carry data for the data header in slot {index}",
                             f"slot{later}", _PROTOCOL_BYTE[f"slot{later}"])


def _check_control(message: ControlMessage, direction: Direction) -> None:
    """Ranges and reserved encodings of a control message; raises :class:`FieldProblem`."""
    for f in fields(message):
        value = getattr(message, f.name)
        if f.name in ("empty", "viral"):
            if value not in (True, False):
                raise FieldProblem(f.name, f"{value!r} is not a flag")
        else:
            check_width(f.name, value, _WIDTHS[f.name])
    if isinstance(message, InitParam) and message.interconnect_version not in (1, 2):
        raise FieldProblem("interconnect_version", f"reserved interconnect version {message.interconnect_version}")
    if isinstance(message, Llcrd):
        name, reason = _NO_MEM_CREDITS[direction]
        value = getattr(message, name)
        if value & 0b1000 and value & 0b0111:
            raise FieldProblem(name, f"reserved credit return {value:04b}b: {reason}")


def _control_error(problem: FieldProblem, kind: type) -> FrameError:
    where = _PAYLOAD_BYTE[kind].get(problem.field, _CONTROL_BYTE.get(problem.field, _PAYLOAD_AT))
    return _error(problem.reason, problem.field, where)


# --- encoding ----------------------------------------------------------------------------------------

def encode_cxl_flit(flit: CxlFlit) -> bytes:
    """The 68 bytes of ``flit``: protocol ID, flit bits [511:0], CRC."""
    if not isinstance(getattr(flit, "direction", None), Direction):
        raise _error(f"{getattr(flit, 'direction', None)!r} is not a Direction", "direction", None)
    if isinstance(flit, ProtocolFlit):
        body = _encode_protocol(flit)
    elif isinstance(flit, ControlFlit):
        body = _encode_control(flit)
    elif isinstance(flit, AllDataFlit):
        if not isinstance(flit.data, (bytes, bytearray)) or len(flit.data) != _BODY:
            raise _error(f"an all-data flit carries exactly {_BODY} bytes", "flit", _HEADER_AT)
        body = bytes(flit.data)
    else:
        raise _error(f"{type(flit).__name__} is not a CXL flit", "type", _HEADER_AT)
    return bytes(FLIT.build({"protocol_id": PROTOCOL_ID, "flit": {"value": body}}))


def _encode_protocol(flit: ProtocolFlit) -> bytes:
    direction = flit.direction
    if not isinstance(flit.slots, tuple) or len(flit.slots) != 4:
        raise _error("a protocol flit has exactly four slots", "slots", _HEADER_AT)
    _check_flags(flit)
    _check_credits(direction, flit, _PROTOCOL_BYTE)
    header = {"type": 0, "reserved_0": 0, "ak": flit.ak, "be": flit.be, "sz": flit.sz, "reserved_1": 0,
              "req_crd": flit.req_crd, "data_crd": flit.data_crd, "rsp_crd": flit.rsp_crd}
    header.update({f"slot{i}": slot_code(direction, i, slot) for i, slot in enumerate(flit.slots)})
    body = b"".join(encode_slot(direction, i, slot, header if i == 0 else None) for i, slot in enumerate(flit.slots))
    _check_protocol(flit)
    return body


def _encode_control(flit: ControlFlit) -> bytes:
    message = flit.message
    kind = type(message)
    if kind not in _CONTROL:
        raise _error(f"{kind.__name__} is not a control message", "llctrl", _CONTROL_BYTE["llctrl"])
    try:
        _check_control(message, flit.direction)
    except FieldProblem as problem:
        raise _control_error(problem, kind) from None
    llctrl, sub_type, payload_schema = _CONTROL[kind]
    header = {"ak": False, "req_crd": 0, "data_crd": 0, "rsp_crd": 0}
    payload = {f.name: 0 for f in lsb_field_table(payload_schema)}
    if isinstance(message, Llcrd):
        header.update(ak=bool(message.full_ack & 0b1000), req_crd=message.req_crd, data_crd=message.data_crd,
                      rsp_crd=message.rsp_crd)
        payload.update(acknowledge_lo=message.full_ack & 0b111, acknowledge_hi=message.full_ack >> 4)
    else:
        payload.update({f.name: getattr(message, f.name) for f in fields(message)})
    slot0 = bytes(CONTROL_SLOT.build({"type": 1, "reserved_0": 0, "reserved_1": 0, "ctl_fmt": 0, "reserved_2": 0,
                                "llctrl": llctrl, "sub_type": sub_type, "reserved_3": 0, **header,
                                "payload": int.from_bytes(payload_schema.build(payload), "little")}))
    return slot0 + bytes(_BODY - len(slot0))


# --- decoding ----------------------------------------------------------------------------------------

def decode_cxl_flit(data: bytes, direction: Direction | str, *, all_data: bool = False) -> CxlFlit:
    """One 68-byte flit sent in ``direction``. ``all_data`` says the data headers of earlier
    flits announced an all-data flit (it has no header of its own to say so)."""
    try:
        direction = Direction(direction)
    except ValueError:
        raise UsageError(f"{direction!r} is not a direction (m2s or s2m)") from None
    if len(data) < FLIT_SIZE:
        raise _error(f"truncated: {len(data)} of {FLIT_SIZE} bytes", field_at(FLIT_FIELDS, len(data)), len(data))
    if len(data) > FLIT_SIZE:
        raise _error(f"{len(data) - FLIT_SIZE} bytes after the end of the {FLIT_SIZE}-byte flit", None, FLIT_SIZE)
    protocol_id = int.from_bytes(data[:2], "little")
    if protocol_id != PROTOCOL_ID:
        raise _error(f"protocol ID {protocol_id:04X}h is not CXL.cachemem ({PROTOCOL_ID:04X}h; implied-EDS "
                     "framing is not supported)", "protocol_id", 0)
    body = parse_exact(FLIT, bytes(data), FMT).flit.data
    if all_data:
        return AllDataFlit(direction, bytes(body))
    if body[0] & 1:
        return _decode_control(body, direction)
    return _decode_protocol(body, direction)


def _decode_protocol(body: bytes, direction: Direction) -> ProtocolFlit:
    header = plain(FLIT_HEADER.parse(body[:4]))
    for name in ("reserved_0", "reserved_1"):
        if header[name]:
            raise _error("reserved bits are set", name, _PROTOCOL_BYTE[name])
    slots = tuple(decode_slot(direction, i, header[f"slot{i}"], body[16 * i:16 * i + 16]) for i in range(4))
    flit = ProtocolFlit(direction, slots, ak=header["ak"], be=header["be"], sz=header["sz"],  # type: ignore[arg-type]
                        req_crd=header["req_crd"], data_crd=header["data_crd"], rsp_crd=header["rsp_crd"])
    _check_credits(direction, flit, _PROTOCOL_BYTE)
    _check_protocol(flit)
    return flit


_LLCTRL_NAMES = {0b0000: "LLCRD", 0b0001: "RETRY", 0b1100: "INIT"}


def _decode_control(body: bytes, direction: Direction) -> ControlFlit:
    parsed = plain(CONTROL_SLOT.parse(body[:16]))
    for name in ("reserved_0", "reserved_1", "reserved_2", "reserved_3"):
        if parsed[name]:
            raise _error("reserved bits are set", name, _CONTROL_BYTE[name])
    if parsed["ctl_fmt"]:
        reason = "CTL_FMT 001b (IDE control flits) is not supported" if parsed["ctl_fmt"] == 1 else "reserved CTL_FMT"
        raise _error(reason, "ctl_fmt", _CONTROL_BYTE["ctl_fmt"])
    kind = _CONTROL_BY_CODE.get((parsed["llctrl"], parsed["sub_type"]))
    if kind is None:
        if parsed["llctrl"] in _LLCTRL_NAMES:
            raise _error(f"reserved {_LLCTRL_NAMES[parsed['llctrl']]} sub-type {parsed['sub_type']:04b}b", "sub_type",
                         _CONTROL_BYTE["sub_type"])
        raise _error(f"reserved or unsupported LLCTRL {parsed['llctrl']:04b}b", "llctrl", _CONTROL_BYTE["llctrl"])
    if kind is not Llcrd:
        for name in ("ak", "req_crd", "data_crd", "rsp_crd"):
            if parsed[name]:
                raise _error("reserved in RETRY and INIT flits", name, _CONTROL_BYTE[name])
    payload_schema = _CONTROL[kind][2]
    payload = plain(payload_schema.parse(parsed["payload"].to_bytes(8, "little")))
    for name, value in payload.items():
        if name.startswith("reserved") and value:
            raise _error("reserved bits are set", f"payload.{name}", _PAYLOAD_BYTE[kind][name])
    message = _control_message(kind, parsed, payload)
    try:
        _check_control(message, direction)
    except FieldProblem as problem:
        raise _control_error(problem, kind) from None
    stray = next((i for i, byte in enumerate(body[16:]) if byte), None)
    if stray is not None:
        raise _error("control flits use slot 0 only; slots 1-3 are reserved", f"slot{1 + stray // 16}",
                     slot_offset(1) + stray)
    return ControlFlit(direction, message)


def _control_message(kind: type, header: Mapping[str, Any], payload: Mapping[str, Any]) -> ControlMessage:
    if kind is Llcrd:
        full_ack = payload["acknowledge_lo"] | header["ak"] << 3 | payload["acknowledge_hi"] << 4
        return Llcrd(full_ack, header["req_crd"], header["data_crd"], header["rsp_crd"])
    message: ControlMessage = kind(**{f.name: payload[f.name] for f in fields(kind)})
    return message


# --- fields by name (``oisa decode --format cxl-flit``) ---------------------------------------------

def cxl_flit_to_fields(flit: CxlFlit) -> dict[str, Any]:
    """The flit's fields named as the spec names them; data as hex, messages as their fields."""
    out: dict[str, Any] = {"direction": flit.direction.value}
    if isinstance(flit, ProtocolFlit):
        out.update(kind="protocol", ak=flit.ak, be=flit.be, sz=flit.sz, req_crd=flit.req_crd,
                   data_crd=flit.data_crd, rsp_crd=flit.rsp_crd, slots=[slot_to_fields(s) for s in flit.slots])
    elif isinstance(flit, ControlFlit):
        out.update(kind="control", control=_CONTROL_NAME[type(flit.message)])
        out.update({f.name: getattr(flit.message, f.name) for f in fields(flit.message)})
    else:
        out.update(kind="all_data", data=bytes(flit.data).hex())
    return out


_CONTROL_BY_NAME = {name: kind for kind, name in _CONTROL_NAME.items()}
_KINDS = ("protocol", "control", "all_data")


def cxl_flit_from_fields(values: Mapping[str, Any]) -> CxlFlit:
    """The inverse of :func:`cxl_flit_to_fields`; the flit is checked by encoding it, so every
    rule an encoder applies is applied here. Problems raise :class:`FrameError` naming the field."""
    try:
        flit = _flit_from_fields(values)
    except FieldProblem as problem:
        raise _error(problem.reason, problem.field, None) from None
    encode_cxl_flit(flit)
    return flit


def _flit_from_fields(values: Mapping[str, Any]) -> CxlFlit:
    if not isinstance(values, Mapping):
        raise FieldProblem("kind", "a flit is a table of fields")
    kind = values.get("kind")
    if kind not in _KINDS:
        raise FieldProblem("kind", f"{kind!r} is not a flit kind ({', '.join(_KINDS)})")
    if "direction" not in values:
        raise FieldProblem("direction", "missing field: m2s or s2m")
    direction = _as_direction(values["direction"])
    if kind == "all_data":
        require_keys(values, ("direction", "kind", "data"), "an all-data flit")
        try:
            return AllDataFlit(direction, bytes.fromhex(values["data"]))
        except (TypeError, ValueError):
            raise FieldProblem("data", "not hexadecimal bytes") from None
    if kind == "control":
        control = _CONTROL_BY_NAME.get(values.get("control"))  # type: ignore[arg-type]
        if control is None:
            raise FieldProblem("control", f"{values.get('control')!r} is not one of {', '.join(_CONTROL_BY_NAME)}")
        names = tuple(f.name for f in fields(control))
        require_keys(values, ("direction", "kind", "control", *names), f"a {values['control']} flit")
        args = {n: as_bool(n, values[n]) if n in ("empty", "viral") else as_int(n, values[n]) for n in names}
        return ControlFlit(direction, control(**args))
    names = ("direction", "kind", "ak", "be", "sz", "req_crd", "data_crd", "rsp_crd", "slots")
    require_keys(values, names, "a protocol flit")
    slots = values["slots"]
    if not isinstance(slots, (list, tuple)) or len(slots) != 4:
        raise FieldProblem("slots", "a protocol flit has a list of exactly four slots")
    return ProtocolFlit(direction, tuple(slot_from_fields(s, i) for i, s in enumerate(slots)),  # type: ignore[arg-type]
                        ak=as_bool("ak", values["ak"]), be=as_bool("be", values["be"]), sz=as_bool("sz", values["sz"]),
                        req_crd=as_int("req_crd", values["req_crd"]), data_crd=as_int("data_crd", values["data_crd"]),
                        rsp_crd=as_int("rsp_crd", values["rsp_crd"]))


def _as_direction(value: Any) -> Direction:
    try:
        return Direction(value.lower() if isinstance(value, str) else value)
    except ValueError:
        raise FieldProblem("direction", f"{value!r} is not a direction (m2s or s2m)") from None
