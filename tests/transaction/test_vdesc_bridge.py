"""The VDESC <-> OISA bridge: round trips both ways for every row of the table, every refusal
raised and named, the table walked against the conversions so it cannot claim what the code does
not do, and the adapter's path (OISA -> VDESC bytes -> OISA) carrying every non-CXL message."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oisa.device.adapter import Capability, DeviceAdapter, TransferPlan
from oisa.device.profile import DeviceProfile
from oisa.errors import BridgeError, FrameError
from oisa.testing._vdesc import vdescs
from oisa.testing.strategies import messages
from oisa.transaction._bridge import FieldMap, Row, Side
from oisa.transaction.vdesc_bridge import (
    DTYPE_MAP,
    OP_MAP,
    STATUS_MAP,
    VDESC_ROWS,
    message_to_vdesc,
    vdesc_bridge_markdown,
    vdesc_to_message,
)
from oisa.wire.oisa import OPCODES, CollDtype, CollOp, Message, Opcode, Status
from oisa.wire.oisa.message import COLL_FIELDS
from oisa.wire.oisa.message import HEADER_FIELDS as OISA_HEADER
from oisa.wire.schema import Field
from oisa.wire.vdesc import (
    HEADER_FIELDS as VDESC_HEADER,
)
from oisa.wire.vdesc import (
    REDUCE_FIELDS,
    ReduceDtype,
    ReduceOp,
    Vdesc,
    VdescStatus,
    VdescType,
    decode_vdesc,
    encode_vdesc,
)

CROSSING = [row for row in VDESC_ROWS if row.crosses]
CXL = [opcode for opcode in Opcode if OPCODES[opcode].family == "cxl"]
NOT_CXL = [opcode for opcode in Opcode if opcode not in CXL]
FP8 = [ReduceDtype.F8_E4M3, ReduceDtype.F8_E5M2]
# The encodings as this test reads the design, by name: an oracle independent of the bridge's maps.
STATUS_NAMES = {"OK": "SC", "UNSUPPORTED": "UR", "RETRY": "RRS", "ABORT": "CA"}
DTYPE_NAMES = {"F32": "FLOAT32", "F16": "FLOAT16", "BF16": "BFLOAT16", "F64": "FLOAT64", "I32": "INT32",
               "I64": "INT64", "I8": "INT8", "U8": "UINT8"}


def _share(fraction: float) -> settings:
    """A share of the loaded profile's examples, for tests run once per table row."""
    return settings(max_examples=max(5, int(settings.default.max_examples * fraction)))


# --- what can cross --------------------------------------------------------------------------

@st.composite
def crossing_vdescs(draw: st.DrawFn, row: Row[VdescType]) -> Vdesc:
    """Descriptors of the row: 16-bit transaction ids, element types OISA reduces, and for the
    two NOTIFY rows the length that picks the row's opcode."""
    desc = draw(vdescs(kinds=st.sampled_from(row.kinds), txn_ids=st.integers(0, 0xFFFF),
                       max_length=st.just(256), dtypes=st.sampled_from(list(DTYPE_MAP))))
    if row.opcodes[0] is Opcode.MSG:
        desc.length, desc.payload = 0, b""
    elif desc.kind is VdescType.NOTIFY and desc.length == 0:
        desc.length, desc.payload = 1, draw(st.binary(min_size=1, max_size=1))
    return desc


def oisa_messages(row: Row[VdescType], *, max_length: int = 256) -> st.SearchStrategy[Message]:
    return messages(opcodes=st.sampled_from(row.opcodes), max_length=st.just(max_length))


# --- the table, walked against the code ------------------------------------------------------

def _reduce(d: Vdesc, m: Message) -> bool:
    assert d.reduce is not None and m.coll is not None
    dtype = DTYPE_NAMES[ReduceDtype(d.reduce.dtype).name]
    vdesc = (d.reduce.group, d.reduce.members, ReduceOp(d.reduce.op).name, dtype)
    return vdesc == (m.coll.group, m.coll.members, CollOp(m.coll.op).name, CollDtype(m.coll.dtype).name)


CHECKS: dict[tuple[tuple[str, ...], tuple[str, ...]], Callable[[Vdesc, Message], bool]] = {
    (("src", "dst"), ("src", "dst")): lambda d, m: (d.src, d.dst) == (m.src, m.dst),
    (("txn_id",), ("tag",)): lambda d, m: d.txn_id == m.tag,
    (("priority",), ("tc",)): lambda d, m: d.priority == m.tc,
    (("fence",), ("ro",)): lambda d, m: d.fence is not m.ro,
    (("id_order", "poison", "early_ack", "no_snoop"), ("ido", "ep", "ec", "ns")):
        lambda d, m: (d.id_order, d.poison, d.early_ack, d.no_snoop) == (m.ido, m.ep, m.ec, m.ns),
    (("congestion", "hops"), ("load", "hops")): lambda d, m: (d.congestion, d.hops) == (m.load, m.hops),
    (("address", "length"), ("address", "length")): lambda d, m: (d.address, d.length) == (m.address, m.length),
    (("payload",), ("payload",)): lambda d, m: d.payload == m.payload,
    (("status",), ("aux",)): lambda d, m: STATUS_NAMES[VdescStatus(d.status).name] == Status(m.aux).name,
    (("code",), ("aux",)): lambda d, m: d.code == m.aux,
    (("address",), ("address",)): lambda d, m: d.address == m.address,
    (("length",), ("length",)): lambda d, m: d.length == m.length == 0 and d.payload == m.payload == b"",
    (("length", "payload"), ("length", "payload")): lambda d, m: (d.length, d.payload) == (m.length, m.payload),
    (("reduce.group", "reduce.members", "reduce.op", "reduce.dtype"),
     ("coll.group", "coll.members", "coll.op", "coll.dtype")): _reduce,
}


def _key(field_map: FieldMap) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return field_map.foreign, field_map.oisa


def test_every_documented_field_mapping_has_a_check():
    assert not {(row.name, _key(f)) for row in VDESC_ROWS for f in row.fields if _key(f) not in CHECKS}


def _wire_fields(header: list[Field], extension: list[Field], prefix: str, constants: set[str]) -> set[str]:
    """The fields a format carries on the wire, as its schema names them, less those the table
    does not map because they are constants or say what the row itself says (type, opcode)."""
    names = {f.name for f in header} | {f"{prefix}.{f.name}" for f in extension} | {"payload"}
    return {name for name in names if name not in constants and not name.rpartition(".")[2].startswith("reserved")}


def test_every_field_of_either_side_is_in_the_table():
    """What the table does not name would be lost without anyone saying so."""
    vdesc = _wire_fields(VDESC_HEADER, REDUCE_FIELDS, "reduce", {"magic", "version", "kind"})
    oisa = _wire_fields(OISA_HEADER, COLL_FIELDS, "coll", {"opcode"})
    assert {name for row in VDESC_ROWS for f in row.fields for name in f.foreign} == vdesc
    assert {name for row in VDESC_ROWS for f in row.fields for name in f.oisa} == oisa


@pytest.mark.parametrize("row", CROSSING, ids=lambda row: row.name)
@_share(1 / 3)
@given(data=st.data())
def test_each_row_crosses_both_ways_and_maps_the_fields_it_says_it_maps(row, data):
    desc = data.draw(crossing_vdescs(row))
    message = vdesc_to_message(desc)
    assert message.opcode is row.opcodes[0]
    assert message_to_vdesc(message) == desc
    oisa = data.draw(oisa_messages(row))
    native = message_to_vdesc(oisa)
    assert native.kind in row.kinds
    assert decode_vdesc(encode_vdesc(native)) == native
    assert vdesc_to_message(native) == oisa
    for d, m in ((desc, message), (native, oisa)):
        for field_map in row.fields:
            assert CHECKS[_key(field_map)](d, m), (field_map, d, m)


# --- every refusal, raised and named ---------------------------------------------------------

MUTATIONS: dict[tuple[Side, str], Callable[[Any, st.DrawFn], None]] = {
    (Side.FOREIGN, "txn_id"): lambda d, draw: setattr(d, "txn_id", draw(st.integers(0x1_0000, 0xFFFF_FFFF))),
    (Side.FOREIGN, "reduce.dtype"): lambda d, draw: setattr(d.reduce, "dtype", draw(st.sampled_from(FP8))),
    (Side.OISA, "opcode"): lambda m, draw: None,  # the subject is one of the row's opcodes already
}


def test_every_refusal_has_a_mutation():
    assert not [(row.name, r.side, r.field) for row in VDESC_ROWS for r in row.refusals
                if (r.side, r.field) not in MUTATIONS]


def _copy(value: Any) -> Any:
    if isinstance(value, Vdesc) and value.reduce is not None:
        return replace(value, reduce=replace(value.reduce))
    return replace(value)


@pytest.mark.parametrize("row", VDESC_ROWS, ids=lambda row: f"{row.name}-{row.opcodes[0].name}")
@_share(1 / 6)
@given(data=st.data())
def test_each_refusal_raises_a_bridge_error_naming_the_field(row, data):
    subject: dict[Side, tuple[Any, Callable[[Any], object]]] = {}
    if row.kinds:
        subject[Side.FOREIGN] = (data.draw(crossing_vdescs(row)), vdesc_to_message)
    subject[Side.OISA] = (data.draw(oisa_messages(row, max_length=64)), message_to_vdesc)
    for refusal in row.refusals:
        value, cross = subject[refusal.side]
        mutated = _copy(value)
        MUTATIONS[(refusal.side, refusal.field)](mutated, data.draw)
        with pytest.raises(BridgeError, match=re.escape(f"field {refusal.field!r}: {refusal.why}")) as info:
            cross(mutated)
        assert info.value.field == refusal.field
    if row.crosses:  # unmutated, both cross: the mutations made the refusals
        for value, cross in subject.values():
            cross(value)


@pytest.mark.parametrize("opcode", CXL, ids=lambda opcode: opcode.name)
def test_cxl_opcodes_are_refused_by_name(opcode):
    message = Message(opcode, 1, 2, length=64, payload=bytes(64) if OPCODES[opcode].has_payload else b"")
    if opcode is Opcode.CXL_NDR:
        message.length = 0
    with pytest.raises(BridgeError, match=f"OISA {opcode.name} cannot cross: field 'opcode'.*\\({opcode.name}\\)"):
        message_to_vdesc(message)


def test_malformed_input_is_a_frame_error_not_a_bridge_error():
    with pytest.raises(FrameError):
        vdesc_to_message(Vdesc(VdescType.LOAD, 0, 1, length=0))
    with pytest.raises(FrameError):
        message_to_vdesc(Message(Opcode.LOAD, 0, 1, length=0))


# --- the table and the encodings themselves --------------------------------------------------

def test_the_table_covers_every_type_and_opcode():
    kinds = [kind for row in VDESC_ROWS for kind in row.kinds]
    opcodes = [opcode for row in VDESC_ROWS for opcode in row.opcodes]
    assert sorted(opcodes) == sorted(Opcode)
    assert set(kinds) == set(VdescType) and kinds.count(VdescType.NOTIFY) == 2 and len(kinds) == len(VdescType) + 1
    for row in VDESC_ROWS:
        keys = [(r.side, r.field) for r in row.refusals]
        assert len(keys) == len(set(keys)), row.name


def test_the_encodings_are_one_to_one_and_keep_element_sizes():
    assert {v.name: o.name for v, o in STATUS_MAP.items()} == STATUS_NAMES and set(STATUS_MAP.values()) == set(Status)
    assert {v.name: o.name for v, o in OP_MAP.items()} == {o.name: o.name for o in CollOp}
    assert {v.name: o.name for v, o in DTYPE_MAP.items()} == DTYPE_NAMES
    assert set(DTYPE_MAP.values()) == set(CollDtype) and set(DTYPE_MAP) == set(ReduceDtype) - set(FP8)
    assert all(v.itemsize == o.itemsize for v, o in DTYPE_MAP.items())


def test_the_markdown_table_has_one_line_per_row():
    lines = vdesc_bridge_markdown().splitlines()
    assert len(lines) == 2 + len(VDESC_ROWS)
    for row, line in zip(VDESC_ROWS, lines[2:], strict=True):
        assert line.startswith(f"| {row.name} | ") and all(f"`{op.name}`" in line for op in row.opcodes)
        assert all(r.why in line for r in row.refusals)


# --- the adapter's path ----------------------------------------------------------------------

class VdescAdapter(DeviceAdapter):
    """The smallest adapter for a VDESC-native card: what a vendor would write with this bridge."""

    name = "vdesc-test"
    native = "vendor"
    summary = "a card whose copy engines speak VDESC"
    capabilities = frozenset({Capability.DMA, Capability.LOAD_STORE, Capability.ATOMICS, Capability.MESSAGES,
                              Capability.EARLY_COMPLETION, Capability.COLLECTIVE_OFFLOAD})

    def transfer_plan(self) -> TransferPlan:
        return TransferPlan(Opcode.DMA_WR, Opcode.DMA_RD, 4096, 4096)

    def to_native(self, message: Message) -> bytes:
        return encode_vdesc(message_to_vdesc(message))

    def from_native(self, frame: bytes) -> Message:
        return vdesc_to_message(decode_vdesc(frame))


@given(st.lists(messages(opcodes=st.sampled_from(NOT_CXL), max_length=st.just(512)), min_size=1, max_size=4))
def test_a_vdesc_card_carries_every_non_cxl_message_unchanged(batch):
    adapter = VdescAdapter(3, cast(DeviceProfile, None))  # the base class only keeps the profile
    for message in batch:
        assert adapter.egress(message) == message
        assert adapter.ingress(message) == message
    assert adapter.frames_out == adapter.frames_in == len(batch) and adapter.terminated == 0


def test_a_vdesc_card_leaves_cxl_messages_to_its_endpoint():
    adapter = VdescAdapter(3, cast(DeviceProfile, None))
    read = Message(Opcode.CXL_MEM_RD, 1, 3, length=64)
    assert adapter.ingress(read) is read and adapter.terminated == 1
