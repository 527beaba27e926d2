"""The PCIe <-> OISA bridge: round trips both ways for every kind that crosses, split
completions rebuilt from the outstanding request, every refusal raised and named, and the
mapping table walked against the conversions so it cannot claim what the code does not do."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from oisa.device import SparseMemory
from oisa.errors import BridgeError, FrameError, UsageError
from oisa.testing._pcie import tlps
from oisa.testing.strategies import messages
from oisa.transaction import Completer
from oisa.transaction._bridge import FieldMap, Row, Side
from oisa.transaction.pcie_bridge import (
    IDENTITY,
    PCIE_ROWS,
    IdTable,
    OutstandingRequests,
    PendingRequest,
    message_to_tlp,
    pcie_bridge_markdown,
    pcie_id,
    tlp_to_message,
)
from oisa.transaction.requester import split_at_boundaries
from oisa.wire.oisa import Message, Opcode, Status, decode_message, encode_message
from oisa.wire.pcie import TLP_TYPES, Layout, Tlp, TlpGroup, TlpType, decode_tlp, encode_tlp, tlp_fields

IDS = IdTable({pcie_id(0, 0, 0): 0, pcie_id(1, 0, 0): 10, pcie_id(2, 3, 1): 20, pcie_id(0x41, 7, 5): 0x1234,
               pcie_id(0xFF, 0x1F, 7): 0xFFFF})
PCIE_IDS = st.sampled_from(sorted(IDS.cards))
CARDS = st.sampled_from(sorted(IDS.cards.values()))
OISA_ADDRESSES = 1 << 57
CONTIGUOUS = [sum(1 << i for i in range(low, high)) for low in range(4) for high in range(low + 1, 5)]
READS = (Opcode.MEM_RD, Opcode.LOAD, Opcode.DMA_RD)
ATOMICS = (Opcode.FETCH_ADD, Opcode.SWAP, Opcode.CAS)
CROSSING = [row for row in PCIE_ROWS if row.crosses]


def routed_by_address(kind: TlpType) -> bool:
    return TLP_TYPES[kind].group in (TlpGroup.MEMORY, TlpGroup.ATOMIC)


def operand(message: Message) -> int:
    return message.length // 2 if message.opcode == Opcode.CAS else message.length


def enabled_bytes(tlp: Tlp) -> list[int]:
    """Offsets from ``tlp.address`` of the bytes a memory request enables (the oracle)."""
    masks = [tlp.first_be] + [0xF] * (tlp.length - 2) + ([tlp.last_be] if tlp.length > 1 else [])
    return [dw * 4 + i for dw, mask in enumerate(masks) for i in range(4) if mask >> i & 1]


# --- what can cross --------------------------------------------------------------------------

@st.composite
def crossing_tlps(draw: st.DrawFn, kind: TlpType) -> Tlp:
    """Requests and messages of ``kind`` that can cross: valid TLPs without what OISA lacks."""
    info = TLP_TYPES[kind]
    tlp = draw(tlps(kinds=st.just(kind), max_length=st.just(16), ids=PCIE_IDS))
    tlp.th, tlp.ph, tlp.ln, tlp.at = False, 0, False, 0
    if info.layout is Layout.REQUEST64:  # bits 32 and up only: the page offset and alignment stay
        tlp.address = tlp.address % OISA_ADDRESSES | 1 << 32
    if info.group is TlpGroup.MEMORY and tlp.length == 1:
        tlp.first_be = draw(st.sampled_from(CONTIGUOUS))
    if info.mnemonic == "CAS":
        assume(tlp.length != 8)
    if info.group is TlpGroup.MESSAGE:
        tlp.routing = 0b010
        tlp.message_data = draw(PCIE_IDS).to_bytes(2, "big") + draw(st.binary(min_size=6, max_size=6))
    return tlp


@st.composite
def crossing_messages(draw: st.DrawFn, opcode: Opcode) -> Message:
    """OISA requests of ``opcode`` that can cross: 10-bit tags, no early completion, memory
    requests within one page, AtomicOps aligned, messages with 48-bit addresses and whole DWs."""
    message = draw(messages(opcodes=st.just(opcode), ids=CARDS, tags=st.integers(0, 1023), max_length=st.just(256)))
    message.ec = False
    if opcode in (Opcode.MSG, Opcode.MSG_D):
        message.address %= 1 << 48
        if opcode is Opcode.MSG_D:
            message.length = draw(st.integers(1, 64)) * 4
            message.payload = draw(st.binary(min_size=message.length, max_size=message.length))
    elif opcode in ATOMICS:
        message.address -= message.address % operand(message)
    else:
        message.address -= max(0, message.address % 4096 + message.length - 4096)
    return message


@st.composite
def oisa_exchanges(draw: st.DrawFn, *, error: bool) -> tuple[Message, list[Message]]:
    """A read or AtomicOp as OISA sends it and the completions an OISA completer answers with:
    CPL_Ds split at a maximum payload, lowest address first; with ``error``, ending in an error CPL."""
    request = draw(crossing_messages(draw(st.sampled_from(READS + ATOMICS))))
    if request.opcode in ATOMICS:
        pieces = [(request.address, operand(request))]
    else:
        pieces = split_at_boundaries(request.address, request.length, draw(st.sampled_from([64, 128, 4096])))
    stop = draw(st.integers(0, len(pieces) - 1)) if error else len(pieces)
    common = dict(tag=request.tag, tc=request.tc, load=request.load, hops=request.hops)
    completions = [
        Message(Opcode.CPL_D, request.dst, request.src, length=length, address=address,
                payload=draw(st.binary(min_size=length, max_size=length)), ns=draw(st.booleans()),
                ro=draw(st.booleans()), ido=draw(st.booleans()), ep=draw(st.booleans()), **common)
        for address, length in pieces[:stop]
    ]
    if error:
        completions.append(Message(Opcode.CPL, request.dst, request.src, address=pieces[stop][0],
                                   aux=draw(st.sampled_from([Status.UR, Status.CA, Status.RRS])), **common))
    return request, completions


@st.composite
def pcie_exchanges(draw: st.DrawFn, *, error: bool) -> tuple[Tlp, list[Tlp]]:
    """A read or AtomicOp as a PCIe device sends it and the completions a PCIe completer
    answers with, built here from PCIe's rules (Byte Count, Lower Address, DW-aligned data)."""
    kinds = [T for row in CROSSING for T in row.kinds if TLP_TYPES[T].mnemonic in ("MRd", "FetchAdd", "Swap", "CAS")]
    request = draw(crossing_tlps(draw(st.sampled_from(kinds))))
    atomic = TLP_TYPES[request.kind].group is TlpGroup.ATOMIC
    if atomic:
        size = len(request.data) // 2 if TLP_TYPES[request.kind].mnemonic == "CAS" else len(request.data)
        pieces, start = [(request.address, size)], request.address
    else:
        offsets = enabled_bytes(request)
        start, size = request.address + offsets[0], len(offsets)
        pieces = split_at_boundaries(start, size, draw(st.sampled_from([64, 128, 4096])))
    stop = draw(st.integers(0, len(pieces) - 1)) if error else len(pieces)
    completer = draw(PCIE_IDS)
    completions = []
    for index, (address, length) in enumerate(pieces[:stop + 1] if error else pieces):
        head = 0 if atomic else address & 3
        remaining = size if atomic else start + size - address
        cpl = Tlp(TlpType.CPLD, tc=request.tc, attr=draw(st.integers(0, 7)), td=draw(st.booleans()),
                  ep=draw(st.booleans()), completer_id=completer, requester_id=request.requester_id, tag=request.tag,
                  byte_count=remaining, lower_address=0 if atomic else address & 0x7F)
        if index == stop:
            cpl.kind, cpl.status = TlpType.CPL, draw(st.sampled_from([1, 2, 4]))
        else:
            cpl.data = bytes(head) + draw(st.binary(min_size=length, max_size=length)) + bytes(-(head + length) % 4)
            cpl.length = len(cpl.data) // 4
        completions.append(cpl)
    return request, completions


# --- round trips -----------------------------------------------------------------------------

def with_disabled_bytes_zeroed(tlp: Tlp) -> Tlp:
    """What comes back of a write: bytes it does not enable are not carried."""
    if TLP_TYPES[tlp.kind].group is not TlpGroup.MEMORY or not tlp.data:
        return tlp
    enabled = set(enabled_bytes(tlp))
    return replace(tlp, data=bytes(b if i in enabled else 0 for i, b in enumerate(tlp.data)))


def test_a_pcie_read_is_answered_by_an_oisa_completer_in_split_completions():
    """The adapter's path: a GPU's MRd crosses to a fabric card, whose CPL_Ds (split at its
    maximum payload) come back as CplDs with PCIe's byte counts and lower addresses."""
    memory = SparseMemory(1 << 16)
    memory.write(0x1000, bytes(range(256)) * 2)
    outstanding = OutstandingRequests()
    mrd = Tlp(TlpType.MRD_32, length=75, requester_id=pcie_id(1, 0, 0), tag=0x3A5, first_be=0b1000, last_be=0b0011,
              address=0x1004)  # 300 bytes less 3 before and 2 after: 0x1007 to 0x112D
    request = tlp_to_message(mrd, IDS, dst=20, outstanding=outstanding)
    assert (request.src, request.dst, request.address, request.length) == (10, 20, 0x1007, 295)
    cplds = [message_to_tlp(c, IDS, outstanding=outstanding)
             for c in Completer(20, memory, max_payload=128).handle(request)]
    assert [(c.byte_count, c.lower_address, c.length) for c in cplds] == [(295, 0x07, 31), (174, 0x00, 32),
                                                                         (46, 0x00, 12)]
    assert {c.completer_id for c in cplds} == {pcie_id(2, 3, 1)} and {c.tag for c in cplds} == {0x3A5}
    data = b"".join(c.data for c in cplds)
    assert data[3:3 + 295] == memory.read(0x1007, 295) and len(outstanding) == 0


# --- the table, walked against the code ------------------------------------------------------

@dataclass(frozen=True)
class Crossing:
    """One conversion: the TLP and message on either side, which way it went, what the caller
    passed, the outstanding request before it (completions) and the state after."""

    tlp: Tlp
    message: Message
    to_oisa: bool
    dst: int | None
    digest: bool
    request: PendingRequest | None
    state: OutstandingRequests


def _attr(m: Message) -> int:
    return m.ns | m.ro << 1 | m.ido << 2


def _telemetry(c: Crossing) -> bool:
    if c.to_oisa:
        expected = (0, 0) if c.request is None else (c.request.load, c.request.hops)
        return (c.message.load, c.message.hops) == expected
    if c.message.info.expects_completion:  # kept for the completions to echo
        kept = c.state.get(c.message.src, c.message.tag)
        return kept is not None and (kept.load, kept.hops) == (c.message.load, c.message.hops)
    return True  # ends at the bridge


def _byte_range(c: Crossing) -> bool:
    offsets = enabled_bytes(c.tlp)
    return (offsets == list(range(offsets[0], offsets[-1] + 1)) and c.message.address == c.tlp.address + offsets[0]
            and c.message.length == len(offsets) and bool(c.tlp.kind & 0x20) == (c.tlp.address >= 1 << 32))


def _write_data(c: Crossing) -> bool:
    enabled = enabled_bytes(c.tlp)
    others = [b for i, b in enumerate(c.tlp.data) if i not in enabled]
    return bytes(c.tlp.data[i] for i in enabled) == c.message.payload and (c.to_oisa or not any(others))


def _length_and_data(c: Crossing) -> bool:
    if TLP_TYPES[c.tlp.kind].group is not TlpGroup.COMPLETION:  # operands, message data
        return c.message.length == c.tlp.length * 4 and c.message.payload == c.tlp.data
    head = c.tlp.lower_address & 3
    padding = c.tlp.data[:head] + c.tlp.data[head + c.message.length:]
    return (c.tlp.data[head:head + c.message.length] == c.message.payload and len(padding) < 4 + head
            and (c.to_oisa or not any(padding)))


def _placement(c: Crossing) -> bool:
    request = c.request
    assert request is not None
    count, low = (request.length, 0) if request.atomic else (request.remaining, request.next_address & 0x7F)
    return (c.message.address == request.next_address and c.tlp.byte_count == count and c.tlp.lower_address == low
            and not c.tlp.bcm)


CHECKS: dict[tuple[tuple[str, ...], tuple[str, ...]], Callable[[Crossing], bool]] = {
    (("requester_id",), ("src",)): lambda c: IDS.card_of(c.tlp.requester_id) == c.message.src,
    ((), ("dst",)): lambda c: not c.to_oisa or c.message.dst == c.dst,
    (("tag",), ("tag",)): lambda c: c.tlp.tag == c.message.tag,
    (("tc",), ("tc",)): lambda c: c.tlp.tc == c.message.tc,
    (("attr",), ("ns", "ro", "ido")): lambda c: c.tlp.attr == _attr(c.message),
    (("ep",), ("ep",)): lambda c: c.tlp.ep == c.message.ep,
    (("td",), ()): lambda c: c.to_oisa or c.tlp.td == c.digest,
    ((), ("load", "hops")): _telemetry,
    (("address", "length", "first_be", "last_be"), ("address", "length")): _byte_range,
    (("data",), ("payload",)): _write_data,
    (("address",), ("address",)): lambda c: c.tlp.address == c.message.address and not c.tlp.address % operand(
        c.message),
    (("length", "data"), ("length", "payload")): _length_and_data,
    (("routing", "message_data"), ("dst",)): lambda c: c.tlp.routing == 0b010 and IDS.card_of(
        int.from_bytes(c.tlp.message_data[:2], "big")) == c.message.dst,
    (("message_data",), ("address",)): lambda c: int.from_bytes(c.tlp.message_data[2:], "big") == c.message.address,
    (("message_code",), ("aux",)): lambda c: c.tlp.message_code == c.message.aux,
    (("completer_id",), ("src",)): lambda c: IDS.card_of(c.tlp.completer_id) == c.message.src,
    (("requester_id",), ("dst",)): lambda c: IDS.card_of(c.tlp.requester_id) == c.message.dst,
    (("status",), ("aux",)): lambda c: c.tlp.status == c.message.aux,
    (("byte_count", "lower_address", "bcm"), ("address",)): _placement,
    ((), ("length",)): lambda c: c.message.length == 0,
}


def _key(field_map: FieldMap) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return field_map.foreign, field_map.oisa


def test_every_documented_field_mapping_has_a_check():
    unchecked = {(row.name, _key(f)) for row in PCIE_ROWS for f in row.fields if _key(f) not in CHECKS}
    assert not unchecked


def _request_crossings(draw: st.DrawFn, row: Row[TlpType]) -> list[Crossing]:
    """A request of the row from each side, after checking that it comes back as it left."""
    tlp = draw(crossing_tlps(draw(st.sampled_from(row.kinds))))
    dst = draw(CARDS) if routed_by_address(tlp.kind) else None
    to_oisa = OutstandingRequests()
    message = tlp_to_message(tlp, IDS, dst=dst, outstanding=to_oisa)
    assert decode_message(encode_message(message))[0] == message
    assert message_to_tlp(message, IDS, digest=tlp.td) == with_disabled_bytes_zeroed(tlp)

    request = draw(crossing_messages(draw(st.sampled_from(row.opcodes))))
    digest, to_pcie = draw(st.booleans()), OutstandingRequests()
    sent = message_to_tlp(request, IDS, outstanding=to_pcie, digest=digest)
    assert decode_tlp(encode_tlp(sent)) == sent
    back = tlp_to_message(sent, IDS, dst=request.dst if routed_by_address(sent.kind) else None)
    # PCIe has one memory read and one memory write; OISA telemetry ends at the bridge
    assert back == replace(request, opcode=row.opcodes[0], load=0, hops=0)
    return [Crossing(tlp, message, True, dst, False, None, to_oisa),
            Crossing(sent, request, False, None, digest, None, to_pcie)]


def _completion_crossings(draw: st.DrawFn, row: Row[TlpType]) -> list[Crossing]:
    """The completions of a PCIe request and of an OISA one, each converted and converted
    back (with a second OutstandingRequests that saw the request cross the other way)."""
    error = row.opcodes[0] is Opcode.CPL
    crossings = []
    request, completions = draw(pcie_exchanges(error=error))
    fabric, device = OutstandingRequests(), OutstandingRequests()  # as the OISA side sees it, and the PCIe side
    message_to_tlp(tlp_to_message(request, IDS, dst=0, outstanding=fabric), IDS, outstanding=device)
    for cpl in completions:
        before = fabric.get(IDS.card_of(cpl.requester_id), cpl.tag)  # type: ignore[arg-type]
        completion = tlp_to_message(cpl, IDS, outstanding=fabric)
        assert decode_message(encode_message(completion))[0] == completion
        assert message_to_tlp(completion, IDS, outstanding=device, digest=cpl.td) == cpl
        crossings.append(Crossing(cpl, completion, True, None, False, before, fabric))
    assert len(fabric) == len(device) == 0

    oisa_request, answers = draw(oisa_exchanges(error=error))
    device, fabric = OutstandingRequests(), OutstandingRequests()
    tlp_to_message(message_to_tlp(oisa_request, IDS, outstanding=fabric), IDS, dst=oisa_request.dst,
                   outstanding=device)
    for answer in answers:
        before, digest = device.get(answer.dst, answer.tag), draw(st.booleans())
        tlp = message_to_tlp(answer, IDS, outstanding=device, digest=digest)
        assert decode_tlp(encode_tlp(tlp)) == tlp
        assert tlp_to_message(tlp, IDS, outstanding=fabric) == answer
        crossings.append(Crossing(tlp, answer, False, None, digest, before, device))
    assert len(fabric) == len(device) == 0
    return [c for c in crossings if c.tlp.kind in row.kinds]


def _share(fraction: float) -> settings:
    """A share of the loaded profile's examples, for tests run once per table row: quick
    under the ci profile, thorough under the long one."""
    return settings(max_examples=max(5, int(settings.default.max_examples * fraction)))


@pytest.mark.parametrize("row", CROSSING, ids=lambda row: row.name)
@_share(1 / 2)
@given(data=st.data())
def test_each_row_crosses_both_ways_and_maps_the_fields_it_says_it_maps(row, data):
    if TLP_TYPES[row.kinds[0]].group is TlpGroup.COMPLETION:
        crossings = _completion_crossings(data.draw, row)
    else:
        crossings = _request_crossings(data.draw, row)
    assert {c.to_oisa for c in crossings} == {True, False}
    for crossing in crossings:
        assert crossing.message.opcode in row.opcodes and crossing.tlp.kind in row.kinds
        if crossing.to_oisa:
            assert crossing.message.opcode == row.opcodes[0]
        for field_map in row.fields:
            assert CHECKS[_key(field_map)](crossing), (field_map, crossing)


# --- every refusal, raised and named ---------------------------------------------------------

def _group(row: Row[TlpType]) -> str:
    if not row.crosses:
        return "none"
    return {"Cpl": "cpl", "CplD": "cpld"}.get(row.name, TLP_TYPES[row.kinds[0]].group.value)


@dataclass
class Subject:
    """Something valid that would cross, for a mutation to break, and how to try crossing it."""

    value: Any
    cross: Callable[[Any], object]
    pending: PendingRequest | None = None


@st.composite
def subjects(draw: st.DrawFn, row: Row[TlpType], side: Side) -> Subject:
    """Something valid from ``side`` that would cross (unless the row crosses nothing); for a
    completion, with its request (and any completions before it) already through."""
    group = _group(row)
    if group == "none" and side is Side.FOREIGN:
        tlp = draw(tlps(kinds=st.sampled_from(row.kinds), max_length=st.just(4)))
        return Subject(tlp, lambda t: tlp_to_message(t, IDENTITY, dst=0 if routed_by_address(t.kind) else None))
    if group == "none":
        return Subject(draw(messages(opcodes=st.sampled_from(row.opcodes), max_length=st.just(64))),
                       lambda m: message_to_tlp(m, IDENTITY))
    if group in ("cpl", "cpld"):  # a completion after some (or none) of those before it crossed
        if side is Side.FOREIGN:
            request, completions = draw(pcie_exchanges(error=group == "cpl"))
            state = OutstandingRequests()
            tlp_to_message(request, IDS, dst=0, outstanding=state)

            def cross(t: Any) -> object:
                return tlp_to_message(t, IDS, outstanding=state)

        else:
            oisa_request, completions = draw(oisa_exchanges(error=group == "cpl"))
            state = OutstandingRequests()
            tlp_to_message(message_to_tlp(oisa_request, IDS), IDS, dst=oisa_request.dst, outstanding=state)

            def cross(m: Any) -> object:
                return message_to_tlp(m, IDS, outstanding=state)

        index = len(completions) - 1 if group == "cpl" else draw(st.integers(0, len(completions) - 1))
        for earlier in completions[:index]:
            cross(earlier)
        last = completions[index]
        requester = last.dst if isinstance(last, Message) else IDS.card_of(last.requester_id)
        return Subject(last, cross, state.get(requester, last.tag))  # type: ignore[arg-type]
    if side is Side.FOREIGN:
        tlp = draw(crossing_tlps(draw(st.sampled_from(row.kinds))))
        return Subject(tlp, lambda t: tlp_to_message(t, IDS, dst=0 if routed_by_address(t.kind) else None))
    return Subject(draw(crossing_messages(draw(st.sampled_from(row.opcodes)))), lambda m: message_to_tlp(m, IDS))


def _resize(draw: st.DrawFn, m: Message, length: int) -> None:
    m.length = length
    if m.info.has_payload:
        m.payload = draw(st.binary(min_size=length, max_size=length))


def _widen(t: Tlp, draw: st.DrawFn) -> None:
    t.kind = TlpType(t.kind | 0x20)  # the 4DW form of the same kind
    t.address |= 1 << draw(st.integers(57, 63))


def _wide_cas(t: Tlp, draw: st.DrawFn) -> None:
    t.length, t.address = 8, t.address - t.address % 16
    t.data = draw(st.binary(min_size=32, max_size=32))


def _set(**values: Any) -> Callable[[Any, st.DrawFn, Subject], None]:
    """A mutation that sets fields to drawn values (each given as a strategy)."""
    def mutate(value: Any, draw: st.DrawFn, subject: Subject) -> None:
        for name, strategy in values.items():
            setattr(value, name, draw(strategy))
    return mutate


NOT_HEAD = st.sampled_from([be for be in range(16) if be not in (0xF, 0xE, 0xC, 0x8)])
NOT_TAIL = st.sampled_from([be for be in range(16) if be not in (0x1, 0x3, 0x7, 0xF)])
NON_CONTIGUOUS = st.sampled_from([be for be in range(16) if be not in CONTIGUOUS])

F, O = Side.FOREIGN, Side.OISA  # noqa: E741 (short aliases keep each row of the tables on one line)
MUTATIONS: dict[tuple[str | None, Side, str], Callable[[Any, st.DrawFn, Subject], None]] = {
    (None, F, "th"): lambda t, draw, s: _hint(t, draw),
    (None, F, "ln"): _set(ln=st.just(True)),
    (None, F, "at"): _set(at=st.integers(1, 3)),
    ("memory", F, "first_be"): lambda t, draw, s: setattr(t, "first_be", draw(NON_CONTIGUOUS if t.length == 1
                                                                                else NOT_HEAD)),
    ("memory", F, "last_be"): lambda t, draw, s: setattr(t, "last_be", draw(st.integers(1, 15) if t.length == 1
                                                                              else NOT_TAIL)),
    ("memory", F, "address"): lambda t, draw, s: _widen(t, draw),
    ("atomic", F, "first_be"): _set(first_be=st.integers(1, 15)),
    ("atomic", F, "last_be"): _set(last_be=st.integers(1, 15)),
    ("atomic", F, "address"): lambda t, draw, s: _widen(t, draw),
    ("atomic", F, "length"): lambda t, draw, s: _wide_cas(t, draw),
    ("message", F, "routing"): _set(routing=st.sampled_from([0, 1, 3, 4, 5, 6, 7])),
    (None, F, "bcm"): _set(bcm=st.just(True)),
    (None, F, "tag"): lambda t, draw, s: setattr(t, "tag", t.tag ^ draw(st.integers(1, 1023))),
    (None, F, "byte_count"): lambda t, draw, s: setattr(t, "byte_count", t.byte_count % 4096 + 1),
    (None, F, "lower_address"): lambda t, draw, s: setattr(t, "lower_address",
                                                            t.lower_address ^ draw(st.integers(1, 0x7F))),
    ("cpl", F, "status"): _set(status=st.sampled_from([0, 3, 5, 6, 7])),
    ("cpld", F, "status"): _set(status=st.integers(1, 7)),
    ("cpld", F, "length"): lambda t, draw, s: _more_data(t, draw),
    ("none", F, "kind"): lambda t, draw, s: None,
    (None, O, "ec"): _set(ec=st.just(True)),
    (None, O, "tag"): lambda m, draw, s: setattr(m, "tag", m.tag ^ draw(st.integers(1024, 0xFFFF))),
    ("memory", O, "length"): lambda m, draw, s: _across_a_page(m, draw),
    ("atomic", O, "address"): lambda m, draw, s: setattr(m, "address", m.address + draw(st.integers(1, 3))),
    ("message", O, "address"): _set(address=st.integers(1 << 48, OISA_ADDRESSES - 1)),
    ("message", O, "length"): lambda m, draw, s: _resize(draw, m, draw(st.integers(1, 64).filter(lambda n: n % 4))),
    (None, O, "address"): lambda m, draw, s: setattr(m, "address", m.address ^ draw(st.integers(1, 0xFF))),
    ("cpl", O, "aux"): _set(aux=st.just(Status.SC)),
    ("cpl", O, "length"): _set(length=st.integers(1, 4096)),
    ("cpld", O, "aux"): _set(aux=st.sampled_from([Status.UR, Status.CA, Status.RRS])),
    ("cpld", O, "length"): lambda m, draw, s: _resize(draw, m, s.pending.remaining + draw(st.integers(1, 16))),
    ("none", O, "opcode"): lambda m, draw, s: None,
}


def _hint(t: Tlp, draw: st.DrawFn) -> None:
    t.th = True
    if "ph" in tlp_fields(TLP_TYPES[t.kind]):
        t.ph = draw(st.integers(0, 3))


def _across_a_page(m: Message, draw: st.DrawFn) -> None:
    _resize(draw, m, max(m.length, 2))
    m.address |= 0xFFF  # the last byte of its page


def _more_data(t: Tlp, draw: st.DrawFn) -> None:
    """More double words than the bytes still to come (an AtomicOp's: than its operand) need."""
    t.length = (t.lower_address % 4 + t.byte_count + 3) // 4 + draw(st.integers(1, 4))
    t.data = draw(st.binary(min_size=t.length * 4, max_size=t.length * 4))


def _mutation(row: Row[TlpType], side: Side, field: str) -> Callable[[Any, st.DrawFn, Subject], None] | None:
    return MUTATIONS.get((_group(row), side, field)) or MUTATIONS.get((None, side, field))


def test_every_refusal_has_a_mutation():
    assert not [(row.name, r.side, r.field) for row in PCIE_ROWS for r in row.refusals
                if _mutation(row, r.side, r.field) is None]


@pytest.mark.parametrize("row", PCIE_ROWS, ids=lambda row: f"{row.name}-{row.opcodes[0].name if row.opcodes else ''}")
@_share(1 / 4)
@given(data=st.data())
def test_each_refusal_raises_a_bridge_error_naming_the_field(row, data):
    """Each refusal of the row, applied to a copy of one subject that would cross (the bridge
    changes no state before it refuses, so one subject serves them all)."""
    subjects_by_side = {side: data.draw(subjects(row, side)) for side in Side if any(r.side is side
                                                                                    for r in row.refusals)}
    for refusal in row.refusals:
        subject = subjects_by_side[refusal.side]
        value = replace(subject.value)
        _mutation(row, refusal.side, refusal.field)(value, data.draw, subject)  # type: ignore[misc]
        with pytest.raises(BridgeError, match=re.escape(f"field {refusal.field!r}: {refusal.why}")) as info:
            subject.cross(value)
        assert info.value.field == refusal.field
    if row.crosses:  # unmutated, each subject crosses: the mutations made the refusals
        for subject in subjects_by_side.values():
            subject.cross(subject.value)


# --- identities, routing, state --------------------------------------------------------------

def test_pcie_ids_pack_bus_device_function():
    assert pcie_id(0x41, 7, 5) == 0x413D
    with pytest.raises(UsageError, match="device"):
        pcie_id(0, 32, 0)


def test_an_id_table_must_be_one_to_one():
    with pytest.raises(UsageError, match="ambiguous"):
        IdTable({1: 5, 2: 5})
    with pytest.raises(UsageError, match="16 bits"):
        IdTable({0x10000: 5})
    assert IDENTITY.card_of(0xBEEF) == IDENTITY.pcie_id_of(0xBEEF) == 0xBEEF


@_share(1 / 4)
@given(data=st.data())
def test_ids_the_map_does_not_know_cannot_cross(data):
    tlp = data.draw(crossing_tlps(TlpType.MWR_32))
    tlp.requester_id = 0x7777
    with pytest.raises(BridgeError, match=r"field 'requester_id'.*0x7777") as info:
        tlp_to_message(tlp, IDS, dst=0)
    assert info.value.field == "requester_id"
    msg = data.draw(crossing_tlps(TlpType.MSG))
    msg.message_data = b"\x77\x77" + msg.message_data[2:]
    with pytest.raises(BridgeError, match="field 'message_data'") as info:
        tlp_to_message(msg, IDS)
    assert info.value.field == "message_data"
    message = data.draw(crossing_messages(Opcode.MEM_WR))
    message.src = 999
    with pytest.raises(BridgeError, match=r"field 'src'.*999") as info:
        message_to_tlp(message, IDS)
    assert info.value.field == "src"
    message = data.draw(crossing_messages(Opcode.MSG))
    message.dst = 999
    with pytest.raises(BridgeError, match=r"field 'dst'.*999") as info:
        message_to_tlp(message, IDS)
    assert info.value.field == "dst"


def test_dst_is_given_exactly_for_kinds_routed_by_address():
    mrd = Tlp(TlpType.MRD_32, length=1, first_be=0xF)
    with pytest.raises(UsageError, match="routed by address"):
        tlp_to_message(mrd)
    assert tlp_to_message(mrd, dst=7).dst == 7
    msg = Tlp(TlpType.MSG, routing=0b010, message_data=bytes([0, 9]) + bytes(6))
    with pytest.raises(UsageError, match="names its target"):
        tlp_to_message(msg, dst=7)
    assert tlp_to_message(msg).dst == 9


def test_a_tag_cannot_be_outstanding_twice_and_a_forgotten_request_is_gone():
    state = OutstandingRequests()
    read = Message(Opcode.MEM_RD, 10, 20, tag=5, length=8, address=0x100)
    message_to_tlp(read, IDS, outstanding=state)
    with pytest.raises(BridgeError, match=r"field 'tag'.*already has tag 5") as info:
        message_to_tlp(read, IDS, outstanding=state)
    assert info.value.field == "tag"
    assert state.get(10, 5) == PendingRequest(Opcode.MEM_RD, 0x100, 8, 0x100)
    state.forget(10, 5)
    assert len(state) == 0
    late = Tlp(TlpType.CPLD, length=2, completer_id=pcie_id(2, 3, 1), requester_id=pcie_id(1, 0, 0), tag=5,
               byte_count=8, data=bytes(8))
    with pytest.raises(BridgeError, match="field 'tag'") as info:
        tlp_to_message(late, IDS, outstanding=state)
    assert info.value.field == "tag"


def test_completion_padding_is_not_carried():
    state = OutstandingRequests()
    tlp_to_message(Tlp(TlpType.MRD_32, length=1, requester_id=0, tag=1, first_be=0b0110, address=0x40), dst=3,
                   outstanding=state)
    cpl = Tlp(TlpType.CPLD, length=1, completer_id=3, requester_id=0, tag=1, byte_count=2, lower_address=0x41,
              data=b"\xaa\x01\x02\xbb")
    message = tlp_to_message(cpl, outstanding=state)
    assert (message.address, message.length, message.payload) == (0x41, 2, b"\x01\x02")


def test_a_malformed_tlp_is_a_frame_error_not_a_bridge_error():
    with pytest.raises(FrameError):
        tlp_to_message(Tlp(TlpType.MRD_32, length=0), dst=0)


# --- the table itself ------------------------------------------------------------------------

def test_the_table_covers_every_kind_and_opcode_once():
    kinds = [kind for row in PCIE_ROWS for kind in row.kinds]
    opcodes = [op for row in PCIE_ROWS for op in row.opcodes]
    assert sorted(kinds) == sorted(TlpType) and sorted(opcodes) == sorted(Opcode)
    for row in PCIE_ROWS:
        keys = [(r.side, r.field) for r in row.refusals]
        assert len(keys) == len(set(keys)), row.name


def test_the_markdown_table_has_a_line_per_row():
    lines = pcie_bridge_markdown().splitlines()
    assert len(lines) == 2 + len(PCIE_ROWS)
    assert all(line.count(" | ") == 4 for line in lines[2:])
