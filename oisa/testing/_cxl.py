"""Hypothesis strategies for CXL.mem messages and 68B flits.

Everything generated is valid for the specification as :mod:`oisa.wire.cxl.mem` and
:mod:`oisa.wire.cxl.flit` read it, so a decoder or adapter under test must accept it; feed the
encoded bytes through :func:`oisa.testing.strategies.mutated_bytes` for almost-valid input.
Parameters are keyword-only strategies, as in :mod:`oisa.testing.strategies`::

    @given(cxl_mem_messages(classes=st.just(MemClass.M2S_RWD)))
    def test_my_cxl_adapter(write): ...
"""

from __future__ import annotations

from collections import Counter

from hypothesis import strategies as st

from oisa.wire.cxl import (
    ALL_BYTES,
    LINE_SIZE,
    S2MDRS,
    S2MNDR,
    SLOT_SIZE,
    AllDataFlit,
    ControlFlit,
    ControlMessage,
    CxlFlit,
    CxlMemMessage,
    DataSlot,
    DevLoad,
    Direction,
    InitParam,
    Llcrd,
    M2SReq,
    M2SReqOpcode,
    M2SRwD,
    M2SRwDOpcode,
    MemClass,
    MessageSlot,
    MetaField,
    MetaValue,
    ProtocolFlit,
    RetryAck,
    RetryFrame,
    RetryIdle,
    RetryReq,
    S2MDRSOpcode,
    S2MNDROpcode,
    Slot,
    SlotLayout,
    SnpType,
    slot_layout,
)

__all__ = ["cxl_control_messages", "cxl_flits", "cxl_mem_messages", "cxl_mem_streams"]

_M2S = (MemClass.M2S_REQ, MemClass.M2S_RWD)
_S2M = (MemClass.S2M_NDR, MemClass.S2M_DRS)
_CLASSES = {Direction.M2S: _M2S, Direction.S2M: _S2M}
_PER_FLIT = {MemClass.M2S_REQ: 2, MemClass.M2S_RWD: 1, MemClass.S2M_NDR: 2, MemClass.S2M_DRS: 3}
_FORMATS = {
    (Direction.M2S, True): ("H4", "H5"), (Direction.M2S, False): ("G4", "G5"),
    (Direction.S2M, True): ("H0", "H3", "H4", "H5"), (Direction.S2M, False): ("G4", "G5", "G6"),
}


def _lines() -> st.SearchStrategy[bytes]:
    return st.binary(min_size=LINE_SIZE, max_size=LINE_SIZE)


@st.composite
def _meta(draw: st.DrawFn, direction: Direction) -> tuple[MetaField, int]:
    field = draw(st.sampled_from(list(MetaField)))
    if field is MetaField.META0_STATE:
        return field, draw(st.sampled_from(list(MetaValue)))
    return field, 0 if direction is Direction.M2S else draw(st.integers(0, 3))


@st.composite
def cxl_mem_messages(
    draw: st.DrawFn,
    *,
    classes: st.SearchStrategy[MemClass] = st.sampled_from(list(MemClass)),
    tags: st.SearchStrategy[int] = st.integers(0, 0xFFFF),
    addresses: st.SearchStrategy[int] = st.integers(0, (1 << 52) - 1),
    header_only: st.SearchStrategy[bool] = st.just(False),
) -> CxlMemMessage:
    """Valid CXL.mem messages; with ``header_only`` true, RwD and DRS come without their data,
    as a slot carries them."""
    cls = draw(classes)
    bare = draw(header_only)
    ld_id = draw(st.integers(0, 15))
    if cls is MemClass.S2M_NDR:
        field, value = draw(_meta(Direction.S2M))
        return S2MNDR(draw(st.sampled_from(list(S2MNDROpcode))), draw(tags), field, value, ld_id,
                      draw(st.sampled_from(list(DevLoad))))
    if cls is MemClass.S2M_DRS:
        field, value = draw(_meta(Direction.S2M))
        return S2MDRS(draw(st.sampled_from(list(S2MDRSOpcode))), draw(tags), None if bare else draw(_lines()), field,
                      value, draw(st.booleans()), ld_id, draw(st.sampled_from(list(DevLoad))))
    field, value = draw(_meta(Direction.M2S))
    snp_type = draw(st.sampled_from(list(SnpType)))
    tc = draw(st.integers(0, 3))
    if cls is MemClass.M2S_RWD:
        write = draw(st.sampled_from(list(M2SRwDOpcode)))
        partial = write is M2SRwDOpcode.MEM_WR_PTL and not bare
        enables = draw(st.integers(0, ALL_BYTES) | st.just(ALL_BYTES)) if partial else ALL_BYTES
        return M2SRwD(write, draw(addresses) & ~63, None if bare else draw(_lines()), enables, draw(tags), snp_type,
                      field, value, draw(st.booleans()), ld_id, tc)
    opcode = draw(st.sampled_from(list(M2SReqOpcode)))
    tag = draw(tags)
    if opcode is M2SReqOpcode.MEM_SPEC_RD:  # Tag, MetaField, MetaValue and SnpType are reserved
        tag, snp_type, field, value = 0, SnpType.NO_OP, MetaField.META0_STATE, 0
    elif opcode in (M2SReqOpcode.MEM_RD_FWD, M2SReqOpcode.MEM_WR_FWD):
        snp_type = SnpType.NO_OP
    return M2SReq(opcode, draw(addresses) & ~31, tag, snp_type, field, value, ld_id, tc)


@st.composite
def cxl_mem_streams(
    draw: st.DrawFn,
    *,
    directions: st.SearchStrategy[Direction] = st.sampled_from(list(Direction)),
    max_messages: st.SearchStrategy[int] = st.just(12),
) -> list[CxlMemMessage]:
    """Lists of complete messages all travelling one way, as a device or host would send them."""
    direction = draw(directions)
    classes = st.sampled_from(_CLASSES[direction])
    return draw(st.lists(cxl_mem_messages(classes=classes), max_size=draw(max_messages)))


def _credits(direction: Direction, name: str) -> st.SearchStrategy[int]:
    """Raw 4-bit credit returns; the field naming no CXL.mem channel this way carries none."""
    reserved = {Direction.M2S: "req_crd", Direction.S2M: "rsp_crd"}[direction]
    return st.integers(0, 8) if name == reserved else st.integers(0, 15)


def cxl_control_messages(
    *, directions: st.SearchStrategy[Direction] = st.sampled_from(list(Direction)),
) -> st.SearchStrategy[tuple[Direction, ControlMessage]]:
    """``(direction, message)`` pairs of valid LLCRD, RETRY and INIT messages."""
    def for_direction(direction: Direction) -> st.SearchStrategy[tuple[Direction, ControlMessage]]:
        byte = st.integers(0, 255)
        five = st.integers(0, 31)
        messages: st.SearchStrategy[ControlMessage] = st.one_of(
            st.builds(Llcrd, byte, _credits(direction, "req_crd"), _credits(direction, "data_crd"),
                      _credits(direction, "rsp_crd")),
            st.just(RetryIdle()),
            st.just(RetryFrame()),
            st.builds(RetryReq, byte, five, five),
            st.builds(RetryAck, byte, five, st.booleans(), st.booleans(), byte, byte, st.integers(0, 0xFFFF)),
            st.builds(InitParam, byte, st.sampled_from([1, 2])),
        )
        return messages.map(lambda message: (direction, message))
    return directions.flatmap(for_direction)


@st.composite
def _protocol_flits(draw: st.DrawFn, direction: Direction) -> ProtocolFlit:
    """Protocol flits that keep every per-flit rule: message limits, one data message (or one
    multi-data-header slot), Sz/BE, and data slots right after a data header."""
    sz = draw(st.booleans())
    state = _FlitState(direction, sz)
    slots: list[Slot] = []
    for index in range(4):
        if state.force_data or (index and draw(st.integers(0, 3)) == 0):
            state.force_data = max(0, state.force_data - 1)
            slots.append(DataSlot(draw(st.binary(min_size=SLOT_SIZE, max_size=SLOT_SIZE))))
        else:
            slots.append(draw(_message_slots(state, index)))
    credits = {name: draw(_credits(direction, name)) for name in ("req_crd", "data_crd", "rsp_crd")}
    return ProtocolFlit(direction, tuple(slots), ak=draw(st.booleans()), be=state.be, sz=sz,  # type: ignore[arg-type]
                        **credits)


class _FlitState:
    """What a flit being generated already holds."""

    def __init__(self, direction: Direction, sz: bool):
        self.direction = direction
        self.sz = sz
        self.counts: Counter[MemClass] = Counter()
        self.data_started = False
        self.be = False
        self.force_data = 0


def _layout(direction: Direction, index: int, name: str) -> SlotLayout:
    layout = slot_layout(direction, index, int(name[1]))
    assert layout is not None  # only message formats are listed
    return layout


@st.composite
def _message_slots(draw: st.DrawFn, state: _FlitState, index: int) -> MessageSlot:
    layouts = [_layout(state.direction, index, name) for name in _FORMATS[(state.direction, index == 0)]]
    layout = draw(st.sampled_from([lay for lay in layouts if not (lay.mdh and (state.data_started or not state.sz))]))
    messages: list[CxlMemMessage | None] = []
    headers = 0
    for _position, cls in layout.positions:
        data = cls in (MemClass.M2S_RWD, MemClass.S2M_DRS)
        allowed = (state.counts[cls] < _PER_FLIT[cls]
                   and not (data and (state.data_started or (cls is MemClass.M2S_RWD and not state.sz)))
                   and (not messages or layout.positions[len(messages) - 1][1] is not cls or messages[-1] is not None))
        forced = layout.mdh and headers < 2
        if forced or (allowed and draw(st.booleans())):
            messages.append(draw(cxl_mem_messages(classes=st.just(cls), header_only=st.just(True))))
            state.counts[cls] += 1
            headers += data
        else:
            messages.append(None)
    if headers:
        state.data_started = True
        if state.direction is Direction.M2S:
            state.be = draw(st.booleans())
        state.force_data = headers * (4 if state.sz else 2) + state.be
    return MessageSlot(layout.name, tuple(messages))


@st.composite
def cxl_flits(
    draw: st.DrawFn,
    *,
    directions: st.SearchStrategy[Direction] = st.sampled_from(list(Direction)),
    kinds: st.SearchStrategy[str] = st.sampled_from(["protocol", "control", "all_data"]),
) -> CxlFlit:
    """Valid 68B flits of either direction: protocol, control or all-data."""
    direction = draw(directions)
    kind = draw(kinds)
    if kind == "control":
        _, message = draw(cxl_control_messages(directions=st.just(direction)))
        return ControlFlit(direction, message)
    if kind == "all_data":
        return AllDataFlit(direction, draw(st.binary(min_size=4 * SLOT_SIZE, max_size=4 * SLOT_SIZE)))
    return draw(_protocol_flits(direction))
