"""The 68B-flit slot formats that carry CXL.mem messages (CXL spec §4.2.3), as construct schemas.

A 68B flit holds four 16-byte slots. Slot 0 is the header slot: the 32-bit flit header, whose
``slot0``-``slot3`` fields name the format of every slot, then 96 bits of messages (formats
H0-H7). Slots 1-3 are generic (G0-G7): messages, or with G0 one 16-byte chunk of data. The same
3-bit code means different formats in the two directions (Tables 4-6 to 4-8), so every lookup
takes a :class:`~oisa.wire.cxl.mem.Direction`.

Verified against the spec text (Tables 4-6 to 4-8 and the slot figures of a public Markdown
conversion of CXL 3.x §4.2, whose 68B formats are CXL 2.0's): the format codes, which messages
each format holds and their total lengths, the flit header bits, the H3/H4/G4/G5/G6 upstream
layouts (rendered as tables there) and that H4, G4 and G5 keep the two DevLoad bits of each NDR
after the messages. The downstream H4/H5/G4/G5 and upstream H0/H5 figures are images in every
conversion found; their layouts here put each message at bit 0 of its slot area (bit 32 of slot
0), tightly packed in the order of Table 4-7/4-8, which the bit arithmetic of those tables, the
"LI3 = LD-ID[3]" abbreviation the figures use, and two independent implementations (the CXL
2.0 flit decoder whose slot formats list H0-H6/G0-G6 field by field, and CXL-DMSim's
``M2SReq`` bit fields) all agree with. Assumption: where a downstream G4/G5 format also holds a
CXL.cache message, its position (after one reserved bit) is taken from that decoder alone; oisa
models CXL.mem only and requires those bits to be zero, so the exact split changes no accepted
flit.

Formats that carry only CXL.cache messages, the IDE MAC slot (H6) and the reserved codes are
refused with a :class:`~oisa.errors.FrameError` naming the slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import construct as c

from oisa.errors import FrameError
from oisa.wire.bits import le_bits, lsb_field_table, lsb_first
from oisa.wire.cxl.mem import (
    M2S_REQ_BITS,
    M2S_RWD_BITS,
    MESSAGE_FIELDS,
    S2M_DRS_BITS,
    S2M_NDR_BITS,
    S2M_NDR_NO_LOAD_BITS,
    CxlMemMessage,
    Direction,
    MemClass,
    build_cxl_mem,
    message_from_values,
    raw_cxl_mem,
    validate_cxl_mem,
)
from oisa.wire.plain_fields import FieldProblem, require_keys
from oisa.wire.schema import Field, plain

__all__ = [
    "FLIT_HEADER_BITS",
    "SLOT_FIELDS",
    "SLOT_SIZE",
    "DataSlot",
    "MessageSlot",
    "Slot",
    "SlotLayout",
    "decode_slot",
    "encode_slot",
    "slot_code",
    "slot_from_fields",
    "slot_layout",
    "slot_offset",
    "slot_to_fields",
]

FMT = "cxl-flit"
SLOT_SIZE = 16
FLIT_START = 2  # the 68B flit starts with the 2-byte ARB/MUX protocol ID

FLIT_HEADER_BITS = lsb_first(
    "type" / c.BitsInteger(1) * "0 protocol flit, 1 control flit",
    "reserved_0" / c.BitsInteger(1) * "must be zero",
    "ak" / c.Flag * "acknowledges 8 more flits received with a good CRC",
    "be" / c.Flag * "the data message starting in this flit brings byte enables (one extra data slot)",
    "sz" / c.Flag * "the data message starting in this flit is a whole 64-byte line (0: 32 bytes)",
    "slot0" / c.BitsInteger(3) * "format of slot 0 (H0-H7)",
    "slot1" / c.BitsInteger(3) * "format of slot 1 (G0-G7)",
    "slot2" / c.BitsInteger(3) * "format of slot 2 (G0-G7)",
    "slot3" / c.BitsInteger(3) * "format of slot 3 (G0-G7)",
    "reserved_1" / c.BitsInteger(3) * "must be zero",
    "rsp_crd" / c.BitsInteger(4) * "response credits returned: bit 3 = 1 for CXL.mem, bits 2:0 encode 0,1,2,4..64",
    "req_crd" / c.BitsInteger(4) * "request credits returned: bit 3 = 1 for CXL.mem, bits 2:0 encode 0,1,2,4..64",
    "data_crd" / c.BitsInteger(4) * "data credits returned: bit 3 = 1 for CXL.mem, bits 2:0 encode 0,1,2,4..64",
)

_CACHE_DOC = "CXL.cache {} position: must be empty (zero); oisa models CXL.mem only"


def _reserved(name: str, bits: int) -> c.Construct:
    return name / c.BitsInteger(bits) * "must be zero"


def _cache(name: str, bits: int, what: str) -> c.Construct:
    return name / c.BitsInteger(bits) * _CACHE_DOC.format(what)


def _dev_load(position: str) -> c.Construct:
    return f"{position}_dev_load" / c.BitsInteger(2) * f"DevLoad of {position}, kept after the messages"


@dataclass(frozen=True)
class SlotLayout:
    """One slot format: its schema (the whole 16-byte slot) and the messages it can hold, in
    bit order. ``split_load`` formats keep each NDR's DevLoad after the messages; ``mdh`` formats
    hold several data headers (multi-data-header slots, §4.2.5)."""

    name: str
    schema: c.Construct
    positions: tuple[tuple[str, MemClass], ...]
    fixed: tuple[str, ...]
    split_load: bool = False
    mdh: bool = False

    @property
    def code(self) -> int:
        return int(self.name[1:])


def _layout(name: str, positions: tuple[tuple[str, MemClass], ...], *parts: c.Construct, split_load: bool = False,
            mdh: bool = False) -> SlotLayout:
    header = ("header" / FLIT_HEADER_BITS,) if name.startswith("H") else ()
    taken = {position for position, _ in positions}
    fixed = tuple(p.name for p in parts if p.name not in taken and not p.name.endswith("_dev_load"))
    return SlotLayout(name, le_bits(*header, *parts), positions, fixed, split_load, mdh)


_REQ, _RWD, _NDR, _DRS = MemClass.M2S_REQ, MemClass.M2S_RWD, MemClass.S2M_NDR, MemClass.S2M_DRS
_NDR_PAIR = ("ndr0" / S2M_NDR_NO_LOAD_BITS, "ndr1" / S2M_NDR_NO_LOAD_BITS, _dev_load("ndr0"), _dev_load("ndr1"))

_LAYOUTS: dict[tuple[Direction, str], SlotLayout] = {
    (layout_direction, layout.name): layout for layout_direction, layout in (
        (Direction.M2S, _layout("H4", (("rwd", _RWD),), "rwd" / M2S_RWD_BITS, _reserved("reserved", 9))),
        (Direction.M2S, _layout("H5", (("req", _REQ),), "req" / M2S_REQ_BITS, _reserved("reserved", 9))),
        (Direction.M2S, _layout("G4", (("req", _REQ),), "req" / M2S_REQ_BITS, _reserved("reserved_0", 1),
                                _cache("h2d_data_header", 24, "H2D Data Header"), _reserved("reserved_1", 16))),
        (Direction.M2S, _layout("G5", (("rwd", _RWD),), "rwd" / M2S_RWD_BITS, _reserved("reserved_0", 1),
                                _cache("h2d_rsp", 32, "H2D Rsp"), _reserved("reserved_1", 8))),
        (Direction.S2M, _layout("H0", (("ndr", _NDR),), _cache("d2h_data_header", 17, "D2H Data Header"),
                                _cache("d2h_rsp0", 20, "D2H Rsp"), _cache("d2h_rsp1", 20, "D2H Rsp"),
                                "ndr" / S2M_NDR_BITS, _reserved("reserved", 9))),
        (Direction.S2M, _layout("H3", (("drs", _DRS), ("ndr", _NDR)), "drs" / S2M_DRS_BITS, "ndr" / S2M_NDR_BITS,
                                _reserved("reserved", 26))),
        (Direction.S2M, _layout("H4", (("ndr0", _NDR), ("ndr1", _NDR)), *_NDR_PAIR, _reserved("reserved", 36),
                                split_load=True)),
        (Direction.S2M, _layout("H5", (("drs0", _DRS), ("drs1", _DRS)), "drs0" / S2M_DRS_BITS, "drs1" / S2M_DRS_BITS,
                                _reserved("reserved", 16), mdh=True)),
        (Direction.S2M, _layout("G4", (("drs", _DRS), ("ndr0", _NDR), ("ndr1", _NDR)), "drs" / S2M_DRS_BITS,
                                *_NDR_PAIR, _reserved("reserved", 28), split_load=True)),
        (Direction.S2M, _layout("G5", (("ndr0", _NDR), ("ndr1", _NDR)), *_NDR_PAIR, _reserved("reserved", 68),
                                split_load=True)),
        (Direction.S2M, _layout("G6", (("drs0", _DRS), ("drs1", _DRS), ("drs2", _DRS)), "drs0" / S2M_DRS_BITS,
                                "drs1" / S2M_DRS_BITS, "drs2" / S2M_DRS_BITS, _reserved("reserved", 8), mdh=True)),
    )
}

_CACHE_ONLY = "carries only CXL.cache messages, which oisa does not model"
_REFUSED: dict[tuple[Direction, str], str] = {
    **{(Direction.M2S, name): _CACHE_ONLY for name in ("H0", "H1", "H2", "H3", "G1", "G2", "G3")},
    **{(Direction.S2M, name): _CACHE_ONLY for name in ("H1", "H2", "G1", "G2", "G3")},
    **{(d, "H6"): "is the IDE MAC slot; IDE is not supported" for d in Direction},
    **{(d, name): "is reserved" for d in Direction for name in ("H7", "G7")},
    (Direction.M2S, "G6"): "is reserved",
}

SLOT_FIELDS: dict[tuple[Direction, str], list[Field]] = {
    key: lsb_field_table(layout.schema) for key, layout in _LAYOUTS.items()
}
_BIT_OF: dict[tuple[Direction, str], dict[str, int]] = {
    key: {f.name: f.bit_offset for f in table} for key, table in SLOT_FIELDS.items()
}


def slot_offset(index: int) -> int:
    """Byte offset of slot ``index`` in a 68-byte flit (after the protocol ID)."""
    return FLIT_START + SLOT_SIZE * index


def slot_code(direction: Direction, index: int, slot: Slot) -> int:
    """The 3-bit format code of ``slot`` for the flit header, checking the format exists here."""
    if isinstance(slot, DataSlot):
        return 0
    return _layout_named(direction, index, getattr(slot, "fmt", None)).code


def slot_layout(direction: Direction, index: int, code: int) -> SlotLayout | None:
    """The layout of format ``code`` in slot ``index``; ``None`` for G0 (a data chunk).

    Raises :class:`FrameError` at the flit header byte holding the format for formats oisa
    refuses (CXL.cache only, IDE, reserved)."""
    name = f"{'H' if index == 0 else 'G'}{code}"
    if name == "G0":
        return None
    layout = _LAYOUTS.get((direction, name))
    if layout is None:
        reason = _REFUSED.get((direction, name), "is not a slot format")
        field = f"slot{index}"
        raise FrameError(f"{direction.value.upper()} format {name} {reason}", fmt=FMT, field=field,
                         offset=FLIT_START + _HEADER_BYTE[field])
    return layout


_HEADER_BYTE = {f.name: f.bit_offset // 8 for f in lsb_field_table(FLIT_HEADER_BITS)}


@dataclass(slots=True, frozen=True)
class MessageSlot:
    """A slot of messages in format ``fmt`` ("H5", "G4"...): one entry per position of the
    format, in bit order, ``None`` where the position is empty. RwD and DRS appear as headers
    (``data`` None); their data follows in data slots."""

    fmt: str
    messages: tuple[CxlMemMessage | None, ...]


@dataclass(slots=True, frozen=True)
class DataSlot:
    """A G0 slot: a 16-byte chunk of a data message, or the byte enables that end an M2S RwD
    sent with BE set; which of the two, only the data headers before it tell."""

    chunk: bytes


Slot: TypeAlias = MessageSlot | DataSlot


class _SlotError:
    """Turns rule violations inside slot ``index`` into located :class:`FrameError`s."""

    def __init__(self, direction: Direction, index: int, layout: SlotLayout):
        self.bits = _BIT_OF[(direction, layout.name)]
        self.index = index
        self.layout = layout

    def __call__(self, path: str, reason: str) -> FrameError:
        bit = self.bits.get(path)
        if bit is None:  # a position, or a field the slot does not carry (data): where the message starts
            bit = self.bits[f"{path.split('.')[0]}.valid"]
        return FrameError(reason, fmt=FMT, field=f"slot{self.index}.{path}", offset=slot_offset(self.index) + bit // 8)

    def path(self, position: str, field: str) -> str:
        if self.layout.split_load and field == "dev_load":
            return f"{position}_dev_load"
        return f"{position}.{field}"


def decode_slot(direction: Direction, index: int, code: int, raw: bytes) -> Slot:
    """One 16-byte slot whose format the flit header gave as ``code``."""
    layout = slot_layout(direction, index, code)
    if layout is None:
        return DataSlot(bytes(raw))
    error = _SlotError(direction, index, layout)
    parsed = plain(layout.schema.parse(raw))
    for name in layout.fixed:
        if parsed[name]:
            reason = "reserved bits are set" if name.startswith("reserved") else _CACHE_DOC.format(name)
            raise error(name, reason)
    messages: list[CxlMemMessage | None] = []
    for position, cls in layout.positions:
        values = dict(parsed[position])
        if layout.split_load and cls is MemClass.S2M_NDR:
            values["dev_load"] = parsed[f"{position}_dev_load"]
        messages.append(_message_at(cls, values, position, error))
    _check_packing(layout, messages, error)
    return MessageSlot(layout.name, tuple(messages))


def _message_at(cls: MemClass, values: dict[str, Any], position: str, error: _SlotError) -> CxlMemMessage | None:
    if not values["valid"]:
        stray = next((f.name for f in MESSAGE_FIELDS[cls] if values.get(f.name)), None)
        if stray is not None:
            raise error(error.path(position, stray), "an empty position (valid 0) must be all zero")
        return None
    try:
        return build_cxl_mem(cls, values)
    except FieldProblem as problem:
        raise error(error.path(position, problem.field), problem.reason) from None


def _check_packing(layout: SlotLayout, messages: list[CxlMemMessage | None], error: _SlotError) -> None:
    """Messages of one class fill a slot's positions for that class from the first (§4.2.5)."""
    seen_empty: set[MemClass] = set()
    for (position, cls), message in zip(layout.positions, messages):
        if message is None:
            seen_empty.add(cls)
        elif cls in seen_empty:
            raise error(position, f"{layout.name} is not tightly packed: {position} holds a message after an "
                                  f"empty {cls.name} position")


def encode_slot(direction: Direction, index: int, slot: Slot, header: Mapping[str, Any] | None = None) -> bytes:
    """The 16 bytes of ``slot``; an H slot also takes the flit header's raw fields."""
    if isinstance(slot, DataSlot):
        if index == 0:
            raise FrameError("slot 0 is the header slot; it cannot carry a data chunk", fmt=FMT, field="slot0",
                             offset=slot_offset(0))
        if not isinstance(slot.chunk, (bytes, bytearray)) or len(slot.chunk) != SLOT_SIZE:
            raise FrameError(f"a data slot holds exactly {SLOT_SIZE} bytes", fmt=FMT, field=f"slot{index}.chunk",
                             offset=slot_offset(index))
        return bytes(slot.chunk)
    if not isinstance(slot, MessageSlot):
        raise FrameError(f"{type(slot).__name__} is not a slot", fmt=FMT, field=f"slot{index}",
                         offset=slot_offset(index))
    layout = _layout_named(direction, index, slot.fmt)
    error = _SlotError(direction, index, layout)
    if len(slot.messages) != len(layout.positions):
        raise error(layout.positions[0][0], f"{layout.name} has {len(layout.positions)} message positions, "
                                            f"not {len(slot.messages)}")
    value: dict[str, Any] = {name: 0 for name in layout.fixed}
    if header is not None:
        value["header"] = header
    for (position, cls), message in zip(layout.positions, slot.messages):
        raw = _raw_at(cls, message, position, error)
        if layout.split_load and cls is MemClass.S2M_NDR:
            value[f"{position}_dev_load"] = raw.pop("dev_load")
        value[position] = raw
    _check_packing(layout, list(slot.messages), error)
    return bytes(layout.schema.build(value))


def _layout_named(direction: Direction, index: int, name: Any) -> SlotLayout:
    kind = "H" if index == 0 else "G"
    if not isinstance(name, str) or len(name) != 2 or name[0] != kind or not name[1].isdigit() or name == "G0":
        raise FrameError(f"{name!r} is not a {kind}-slot message format for slot {index}", fmt=FMT,
                         field=f"slot{index}", offset=FLIT_START + _HEADER_BYTE[f"slot{index}"])
    layout = slot_layout(direction, index, int(name[1]))
    assert layout is not None  # G0 was refused above
    return layout


def _raw_at(cls: MemClass, message: CxlMemMessage | None, position: str, error: _SlotError) -> dict[str, Any]:
    if message is None:
        return {f.name: 0 for f in MESSAGE_FIELDS[cls]}
    if getattr(message, "msg_class", None) is not cls:
        raise error(position, f"position {position} holds a {cls.name}, not {type(message).__name__}")
    try:
        validate_cxl_mem(message, header_only=True)
    except FieldProblem as problem:
        raise error(error.path(position, problem.field), problem.reason) from None
    return raw_cxl_mem(message)


# --- fields by name ----------------------------------------------------------------------------------

def slot_to_fields(slot: Slot) -> dict[str, Any]:
    if isinstance(slot, DataSlot):
        return {"format": "G0", "data": bytes(slot.chunk).hex()}
    return {"format": slot.fmt, "messages": [None if m is None else m.to_fields() for m in slot.messages]}


def slot_from_fields(values: Mapping[str, Any], index: int) -> Slot:
    """Raises :class:`FieldProblem` with the path below ``slots[index]``."""
    if not isinstance(values, Mapping):
        raise FieldProblem(f"slots[{index}]", "a slot is a table of fields (format, messages or data)")
    data_slot = values.get("format") == "G0" and index > 0
    try:
        require_keys(values, ("format", "data") if data_slot else ("format", "messages"),
                     "a G0 data slot" if data_slot else "a message slot")
    except FieldProblem as problem:
        raise FieldProblem(f"slots[{index}].{problem.field}", problem.reason) from None
    if data_slot:
        try:
            return DataSlot(bytes.fromhex(values["data"]))
        except (TypeError, ValueError):
            raise FieldProblem(f"slots[{index}].data", "not hexadecimal bytes") from None
    entries = values["messages"]
    if not isinstance(entries, (list, tuple)):
        raise FieldProblem(f"slots[{index}].messages", "a list of messages (or null for an empty position)")
    messages: list[CxlMemMessage | None] = []
    for number, entry in enumerate(entries):
        if entry is None:
            messages.append(None)
            continue
        try:
            messages.append(message_from_values(entry, header_only=True))
        except FieldProblem as problem:
            raise FieldProblem(f"slots[{index}].messages[{number}].{problem.field}", problem.reason) from None
    return MessageSlot(str(values["format"]), tuple(messages))
