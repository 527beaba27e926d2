"""The CXL.mem <-> OISA bridge: round trips both ways for every message that crosses, the
DevLoad <-> load bands, every refusal raised and named, and the mapping table walked against
the conversions."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oisa.errors import BridgeError, FrameError, UsageError
from oisa.testing._cxl import cxl_mem_messages
from oisa.testing.strategies import messages
from oisa.transaction._bridge import FieldMap, Row, Side
from oisa.transaction.cxl_bridge import (
    CXL_ROWS,
    LOAD_BANDS,
    LdTable,
    OutstandingCxlRequests,
    PendingCxlRequest,
    cxl_bridge_markdown,
    cxl_to_message,
    dev_load_of,
    load_of,
    message_to_cxl,
)
from oisa.wire.cxl import (
    ALL_BYTES,
    S2MDRS,
    S2MNDR,
    CxlMemMessage,
    DevLoad,
    M2SReq,
    M2SReqOpcode,
    M2SRwD,
    M2SRwDOpcode,
    MemClass,
    MetaField,
    MetaValue,
    S2MDRSOpcode,
    S2MNDROpcode,
    SnpType,
    decode_cxl_mem,
    encode_cxl_mem,
)
from oisa.wire.oisa import Message, Opcode, decode_message, encode_message

LDS = LdTable({0: (10, 20), 1: (10, 21), 5: (11, 22), 15: (0xFFFF, 0)})
LD_IDS = st.sampled_from(sorted(LDS.bindings))
CROSSING = [row for row in CXL_ROWS if row.crosses]
REQUESTS = (MemClass.M2S_REQ, MemClass.M2S_RWD)


def _share(fraction: float) -> settings:
    """A share of the loaded profile's examples, for tests run once per table row."""
    return settings(max_examples=max(5, int(settings.default.max_examples * fraction)))


def opcode_of(message: CxlMemMessage) -> int:
    return message.mem_opcode if isinstance(message, (M2SReq, M2SRwD)) else message.opcode


# --- what can cross --------------------------------------------------------------------------

@st.composite
def crossing_cxl(draw: st.DrawFn, kind: tuple[MemClass, int]) -> CxlMemMessage:
    """CXL.mem messages of ``kind`` that can cross: neutral snoop and metadata, a bound LD-ID
    (an S2M MetaValue stays random: with MetaField No-Op it is don't-care)."""
    cls, opcode = kind
    message = draw(cxl_mem_messages(classes=st.just(cls)))
    neutral: dict[str, Any] = dict(meta_field=MetaField.NO_OP, ld_id=draw(LD_IDS))
    if cls is MemClass.M2S_REQ:
        neutral.update(mem_opcode=M2SReqOpcode(opcode), snp_type=SnpType.NO_OP, meta_value=0)
    elif cls is MemClass.M2S_RWD:
        neutral.update(mem_opcode=M2SRwDOpcode(opcode), snp_type=SnpType.NO_OP, meta_value=0, byte_enable=ALL_BYTES)
    else:
        neutral.update(opcode=(S2MNDROpcode if cls is MemClass.S2M_NDR else S2MDRSOpcode)(opcode))
    return replace(message, **neutral)


@st.composite
def crossing_requests(draw: st.DrawFn, opcode: Opcode) -> Message:
    """OISA requests of a CXL opcode that can cross: a bound (host, device) pair, no attributes,
    a CXL-sized traffic class and address."""
    message = draw(messages(opcodes=st.just(opcode)))
    message.ns = message.ro = message.ido = message.ec = False
    message.src, message.dst = LDS.bindings[draw(LD_IDS)]
    message.tc %= 4
    message.address = draw(st.integers(0, (1 << 52) - 1)) & (~63 if opcode is Opcode.CXL_MEM_WR else ~31)
    message.ep = message.ep and opcode is Opcode.CXL_MEM_WR
    return message


ASKED_BY = {Opcode.CXL_DRS: [Opcode.CXL_MEM_RD], Opcode.CXL_NDR: [Opcode.CXL_MEM_WR, Opcode.CXL_MEM_INV]}


@dataclass
class Exchange:
    """An OISA request that crossed to CXL (``to_cxl`` remembers it as the host's side did) and
    came back (``to_oisa`` remembers it as the device's side did), ready for its response."""

    request: Message
    m2s: M2SReq | M2SRwD
    to_cxl: OutstandingCxlRequests
    to_oisa: OutstandingCxlRequests


@st.composite
def exchanges(draw: st.DrawFn, response: Opcode) -> Exchange:
    request = draw(crossing_requests(draw(st.sampled_from(ASKED_BY[response]))))
    to_cxl, to_oisa = OutstandingCxlRequests(), OutstandingCxlRequests()
    m2s = message_to_cxl(request, LDS, outstanding=to_cxl)
    cxl_to_message(m2s, LDS, outstanding=to_oisa)
    return Exchange(request, m2s, to_cxl, to_oisa)  # type: ignore[arg-type]


@st.composite
def cxl_responses(draw: st.DrawFn, exchange: Exchange, kind: tuple[MemClass, int]) -> CxlMemMessage:
    """What the CXL device answers the exchange's request with."""
    response = draw(crossing_cxl(kind))
    return replace(response, tag=exchange.m2s.tag, ld_id=exchange.m2s.ld_id)


@st.composite
def oisa_responses(draw: st.DrawFn, exchange: Exchange, opcode: Opcode) -> Message:
    """What an OISA target answers the exchange's request with: its tag, address and traffic
    class echoed, and whatever telemetry the way back added."""
    request = exchange.request
    response = draw(messages(opcodes=st.just(opcode)))
    response.src, response.dst, response.tag = request.dst, request.src, request.tag
    response.address, response.tc = request.address, request.tc
    response.ns = response.ro = response.ido = response.ec = False
    response.aux = draw(st.sampled_from(list(S2MNDROpcode if opcode is Opcode.CXL_NDR else S2MDRSOpcode)))
    response.ep = response.ep and opcode is Opcode.CXL_DRS
    return response


# --- the table, walked against the code (round trips included) -------------------------------

@dataclass(frozen=True)
class Crossing:
    """One conversion: the message on either side, which way it went, the request a response
    answers (as remembered before it crossed) and the state after."""

    cxl: CxlMemMessage
    message: Message
    to_oisa: bool
    request: PendingCxlRequest | None
    state: OutstandingCxlRequests


def _ld_ids(c: Crossing) -> bool:
    host, device = LDS.cards_of(c.cxl.ld_id)  # type: ignore[misc]
    if c.cxl.msg_class in REQUESTS:
        return (c.message.src, c.message.dst) == (host, device)
    return (c.message.src, c.message.dst) == (device, host)


def _dev_load(c: Crossing) -> bool:
    if c.to_oisa:
        assert c.request is not None
        return c.message.load == max(c.request.load, LOAD_BANDS[c.cxl.dev_load].start)
    return c.message.load in LOAD_BANDS[c.cxl.dev_load]


def _request_telemetry(c: Crossing) -> bool:
    if c.to_oisa:
        return (c.message.load, c.message.hops) == (0, 0)
    kept = c.state.get(c.message.src, c.message.tag)
    return kept is not None and (kept.load, kept.hops) == (c.message.load, c.message.hops)


def _echoed(c: Crossing) -> bool:
    assert c.request is not None
    return (c.message.address, c.message.tc) == (c.request.address, c.request.tc)


def _neutral_request(c: Crossing) -> bool:
    return (c.cxl.snp_type, c.cxl.meta_field, c.cxl.meta_value) == (SnpType.NO_OP, MetaField.NO_OP, 0)


CHECKS: dict[tuple[tuple[str, ...], tuple[str, ...]], Callable[[Crossing], bool]] = {
    (("ld_id",), ("src", "dst")): _ld_ids,
    (("tag",), ("tag",)): lambda c: c.cxl.tag == c.message.tag,
    (("address",), ("address",)): lambda c: c.cxl.address == c.message.address,
    ((), ("length",)): lambda c: c.message.length == (0 if c.cxl.msg_class is MemClass.S2M_NDR else 64),
    (("tc",), ("tc",)): lambda c: c.cxl.tc == c.message.tc,
    (("snp_type", "meta_field", "meta_value"), ()): _neutral_request,
    (("meta_field", "meta_value"), ()): lambda c: c.cxl.meta_field == MetaField.NO_OP and (c.to_oisa
                                                                                          or c.cxl.meta_value == 0),
    ((), ("ns", "ro", "ido", "ec")): lambda c: not (c.message.ns or c.message.ro or c.message.ido or c.message.ec),
    ((), ("ep",)): lambda c: not c.message.ep,
    (("poison",), ("ep",)): lambda c: c.cxl.poison == c.message.ep,
    (("data",), ("payload",)): lambda c: c.cxl.data == c.message.payload,
    ((), ("load", "hops")): _request_telemetry,
    (("opcode",), ("aux",)): lambda c: c.cxl.opcode == c.message.aux,
    (("dev_load",), ("load",)): _dev_load,
    ((), ("hops",)): lambda c: not c.to_oisa or c.message.hops == c.request.hops,  # type: ignore[union-attr]
    ((), ("address", "tc")): _echoed,
}


def _key(field_map: FieldMap) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return field_map.foreign, field_map.oisa


def test_every_documented_field_mapping_has_a_check():
    assert not {(row.name, _key(f)) for row in CXL_ROWS for f in row.fields if _key(f) not in CHECKS}


def _request_crossings(draw: st.DrawFn, row: Row[tuple[MemClass, int]]) -> list[Crossing]:
    """A request of the row from each side, after checking that it comes back as it left."""
    cxl, to_oisa = draw(crossing_cxl(draw(st.sampled_from(row.kinds)))), OutstandingCxlRequests()
    message = cxl_to_message(cxl, LDS, outstanding=to_oisa)
    assert decode_message(encode_message(message))[0] == message
    back = message_to_cxl(message, LDS)
    assert decode_cxl_mem(encode_cxl_mem(back)) == back and back == cxl

    oisa, to_cxl = draw(crossing_requests(row.opcodes[0])), OutstandingCxlRequests()
    sent = message_to_cxl(oisa, LDS, outstanding=to_cxl)
    assert cxl_to_message(sent, LDS) == replace(oisa, load=0, hops=0)  # OISA telemetry ends at the bridge
    return [Crossing(cxl, message, True, None, to_oisa), Crossing(sent, oisa, False, None, to_cxl)]


def _response_crossings(draw: st.DrawFn, row: Row[tuple[MemClass, int]]) -> list[Crossing]:
    """A response of the row from each side (each to a request that crossed first), after
    checking that it comes back as it left, up to what the table says changes."""
    opcode = row.opcodes[0]
    exchange = draw(exchanges(opcode))
    cxl = draw(cxl_responses(exchange, draw(st.sampled_from(row.kinds))))
    asked = exchange.to_cxl.get(exchange.request.src, exchange.request.tag)
    message = cxl_to_message(cxl, LDS, outstanding=exchange.to_cxl)
    assert decode_message(encode_message(message))[0] == message
    back = message_to_cxl(message, LDS, outstanding=exchange.to_oisa)
    # MetaValue is don't-care; the load reported is the worse of the device's and the request's
    assert back == replace(cxl, meta_value=0, dev_load=max(cxl.dev_load, dev_load_of(exchange.request.load)))
    assert len(exchange.to_cxl) == len(exchange.to_oisa) == 0

    exchange = draw(exchanges(opcode))
    oisa = draw(oisa_responses(exchange, opcode))
    kept = exchange.to_oisa.get(oisa.dst, oisa.tag)
    sent = message_to_cxl(oisa, LDS, outstanding=exchange.to_oisa)
    assert decode_cxl_mem(encode_cxl_mem(sent)) == sent
    returned = cxl_to_message(sent, LDS, outstanding=exchange.to_cxl)
    request = exchange.request
    assert returned == replace(oisa, load=max(request.load, load_of(dev_load_of(oisa.load))), hops=request.hops)
    return [Crossing(cxl, message, True, asked, exchange.to_cxl), Crossing(sent, oisa, False, kept, exchange.to_oisa)]


@pytest.mark.parametrize("row", CROSSING, ids=lambda row: row.name)
@given(data=st.data())
def test_each_row_crosses_both_ways_and_maps_the_fields_it_says_it_maps(row, data):
    responses = row.opcodes[0] in ASKED_BY
    for crossing in (_response_crossings if responses else _request_crossings)(data.draw, row):
        assert (crossing.cxl.msg_class, opcode_of(crossing.cxl)) in row.kinds
        assert crossing.message.opcode == row.opcodes[0]
        for field_map in row.fields:
            assert CHECKS[_key(field_map)](crossing), (field_map, crossing)


# --- every refusal, raised and named ---------------------------------------------------------

def _group(row: Row[tuple[MemClass, int]]) -> str:
    if not row.crosses:
        return "none"
    return row.opcodes[0].name


@st.composite
def refused_cxl(draw: st.DrawFn, kind: tuple[MemClass, int]) -> CxlMemMessage:
    """A valid message of a kind that does not cross."""
    cls, opcode = kind
    ld_id = draw(LD_IDS)
    address = draw(st.integers(0, (1 << 52) - 1)) & ~63
    if cls is MemClass.M2S_RWD:
        return M2SRwD(M2SRwDOpcode(opcode), address, draw(st.binary(min_size=64, max_size=64)),
                      draw(st.integers(0, ALL_BYTES)), draw(st.integers(0, 0xFFFF)), ld_id=ld_id)
    if opcode == M2SReqOpcode.MEM_SPEC_RD:  # reserves Tag, MetaField, MetaValue and SnpType (zero)
        return M2SReq(M2SReqOpcode.MEM_SPEC_RD, address, meta_field=MetaField.META0_STATE, ld_id=ld_id)
    return M2SReq(M2SReqOpcode(opcode), address, draw(st.integers(0, 0xFFFF)), ld_id=ld_id)


@st.composite
def subjects(draw: st.DrawFn, row: Row[tuple[MemClass, int]], side: Side) -> tuple[Any, Callable[[Any], object]]:
    """Something valid that would cross (unless the row crosses nothing), and how to try."""
    if not row.crosses and side is Side.FOREIGN:
        return draw(refused_cxl(draw(st.sampled_from(row.kinds)))), lambda m: cxl_to_message(m, LDS)
    if not row.crosses:
        return draw(messages(opcodes=st.sampled_from(row.opcodes), max_length=st.just(64))), lambda m: message_to_cxl(
            m, LDS)
    opcode = row.opcodes[0]
    if opcode not in ASKED_BY and side is Side.FOREIGN:
        return draw(crossing_cxl(draw(st.sampled_from(row.kinds)))), lambda m: cxl_to_message(m, LDS)
    if opcode not in ASKED_BY:
        return draw(crossing_requests(opcode)), lambda m: message_to_cxl(m, LDS)
    exchange = draw(exchanges(opcode))
    if side is Side.FOREIGN:
        return (draw(cxl_responses(exchange, draw(st.sampled_from(row.kinds)))),
                lambda m: cxl_to_message(m, LDS, outstanding=exchange.to_cxl))
    return draw(oisa_responses(exchange, opcode)), lambda m: message_to_cxl(m, LDS, outstanding=exchange.to_oisa)


def _set(**values: st.SearchStrategy[Any]) -> Callable[[Any, st.DrawFn], Any]:
    """A mutation that sets fields to drawn values (a frozen CXL message is replaced)."""
    def mutate(value: Any, draw: st.DrawFn) -> Any:
        drawn = {name: draw(strategy) for name, strategy in values.items()}
        if isinstance(value, Message):
            for name, field_value in drawn.items():
                setattr(value, name, field_value)
            return value
        return replace(value, **drawn)
    return mutate


def _misaligned(alignment: int) -> Callable[[Any, st.DrawFn], Any]:
    """An address CXL cannot carry: not aligned so, or at 2**52 and above."""
    return _set(address=st.integers(0, (1 << 52) - 1).map(lambda a: a | alignment // 2)
                | st.integers(1 << 52, (1 << 57) - 1))


F, O = Side.FOREIGN, Side.OISA  # noqa: E741 (short aliases keep each row of the tables on one line)
MUTATIONS: dict[tuple[str | None, Side, str], Callable[[Any, st.DrawFn], Any]] = {
    (None, F, "snp_type"): _set(snp_type=st.sampled_from([SnpType.SNP_DATA, SnpType.SNP_CUR, SnpType.SNP_INV])),
    (None, F, "meta_field"): _set(meta_field=st.just(MetaField.META0_STATE),
                                  meta_value=st.sampled_from(list(MetaValue))),
    ("none", F, "mem_opcode"): lambda value, draw: value,
    ("none", O, "opcode"): lambda value, draw: value,
    (None, O, "ns"): _set(ns=st.just(True)),
    (None, O, "ro"): _set(ro=st.just(True)),
    (None, O, "ido"): _set(ido=st.just(True)),
    (None, O, "ec"): _set(ec=st.just(True)),
    (None, O, "ep"): _set(ep=st.just(True)),
    ("CXL_MEM_RD", O, "tc"): _set(tc=st.integers(4, 7)),
    ("CXL_MEM_INV", O, "tc"): _set(tc=st.integers(4, 7)),
    ("CXL_MEM_WR", O, "tc"): _set(tc=st.integers(4, 7)),
    ("CXL_MEM_RD", O, "address"): _misaligned(32),
    ("CXL_MEM_INV", O, "address"): _misaligned(32),
    ("CXL_MEM_WR", O, "address"): _misaligned(64),
    ("CXL_NDR", O, "aux"): _set(aux=st.just(3)),  # Cmp-M
    ("CXL_DRS", O, "aux"): _set(aux=st.just(1)),  # MemData-NXM
    (None, F, "tag"): lambda value, draw: replace(value, tag=value.tag ^ draw(st.integers(1, 0xFFFF))),
    (None, O, "tag"): lambda value, draw: _xor(value, "tag", draw(st.integers(1, 0xFFFF))),
    (None, O, "address"): lambda value, draw: _xor(value, "address", draw(st.integers(1, (1 << 57) - 1))),
    (None, O, "tc"): lambda value, draw: _xor(value, "tc", draw(st.integers(1, 7))),
}


def _xor(message: Message, name: str, mask: int) -> Message:
    """The same message with another value of ``name`` (one its request did not have)."""
    setattr(message, name, getattr(message, name) ^ mask)
    return message


def _mutation(row: Row[tuple[MemClass, int]], side: Side, field: str) -> Callable[[Any, st.DrawFn], Any] | None:
    return MUTATIONS.get((_group(row), side, field)) or MUTATIONS.get((None, side, field))


def test_every_refusal_has_a_mutation():
    assert not [(row.name, r.side, r.field) for row in CXL_ROWS for r in row.refusals
                if _mutation(row, r.side, r.field) is None]


@pytest.mark.parametrize("row", CXL_ROWS, ids=lambda row: row.name)
@_share(1 / 4)
@given(data=st.data())
def test_each_refusal_raises_a_bridge_error_naming_the_field(row, data):
    subjects_by_side = {side: data.draw(subjects(row, side)) for side in Side if any(r.side is side
                                                                                    for r in row.refusals)}
    for refusal in row.refusals:
        value, cross = subjects_by_side[refusal.side]
        mutated = _mutation(row, refusal.side, refusal.field)(replace(value), data.draw)  # type: ignore[misc]
        with pytest.raises(BridgeError, match=re.escape(f"field {refusal.field!r}: {refusal.why}")) as info:
            cross(mutated)
        assert info.value.field == refusal.field
    if row.crosses:  # unmutated, each subject crosses: the mutations made the refusals
        for value, cross in subjects_by_side.values():
            cross(value)


# --- load, identities ------------------------------------------------------------------------

def test_the_load_bands_split_oisa_levels_in_order():
    levels = [level for dev_load in DevLoad for level in LOAD_BANDS[dev_load]]
    assert levels == list(range(8))  # every level in exactly one band, bands in DevLoad order


@given(st.integers(0, 7), st.integers(0, 7))
def test_load_mappings_are_monotone_and_devload_survives(a, b):
    if a <= b:
        assert dev_load_of(a) <= dev_load_of(b)
    loads = [load_of(dev_load) for dev_load in DevLoad]
    assert loads == sorted(set(loads))
    assert all(dev_load_of(load_of(dev_load)) is dev_load for dev_load in DevLoad)
    assert load_of(DevLoad.LIGHT_LOAD) == 0 and load_of(DevLoad.SEVERE_OVERLOAD) == 7
    with pytest.raises(UsageError):
        dev_load_of(8)


def test_an_ld_table_must_be_one_to_one():
    with pytest.raises(UsageError, match="ambiguous"):
        LdTable({0: (1, 2), 1: (1, 2)})
    with pytest.raises(UsageError, match="4 bits"):
        LdTable({16: (1, 2)})
    single = LdTable.single(host=3, device=4)
    assert single.cards_of(0) == (3, 4) and single.ld_id_of(3, 4) == 0 and single.ld_id_of(4, 3) is None


@_share(1 / 4)
@given(data=st.data())
def test_who_the_ld_map_does_not_know_cannot_cross(data):
    request = data.draw(crossing_cxl((MemClass.M2S_REQ, M2SReqOpcode.MEM_RD)))
    with pytest.raises(BridgeError, match=r"field 'ld_id'.*LD-ID 7") as info:
        cxl_to_message(replace(request, ld_id=7), LDS)
    assert info.value.field == "ld_id"
    write = data.draw(crossing_requests(Opcode.CXL_MEM_WR))
    write.src, write.dst = 11, 21  # host 11 is bound to device 22 only
    with pytest.raises(BridgeError, match="field 'dst'") as info:
        message_to_cxl(write, LDS)
    assert info.value.field == "dst"
    exchange = data.draw(exchanges(Opcode.CXL_NDR))
    response = data.draw(oisa_responses(exchange, Opcode.CXL_NDR))
    response.src = 999
    with pytest.raises(BridgeError, match="field 'src'") as info:
        message_to_cxl(response, LDS, outstanding=exchange.to_oisa)
    assert info.value.field == "src"


def test_a_cxl_write_crosses_and_its_completion_reports_the_load():
    """The adapter's path: a host's MemWr to logical device 1 crosses to that device's card;
    the card's Cmp (echoing the request, as OISA targets do), sent while its way back is
    congested, comes back to the host with the LD-ID and a DevLoad."""
    outstanding = OutstandingCxlRequests()
    write = M2SRwD(M2SRwDOpcode.MEM_WR, 0x4_0000_0040, bytes(range(64)), tag=0xBEEF, poison=True, ld_id=1, tc=2)
    message = cxl_to_message(write, LDS, outstanding=outstanding)
    assert (message.opcode, message.src, message.dst, message.address) == (Opcode.CXL_MEM_WR, 10, 21, 0x4_0000_0040)
    assert (message.tag, message.tc, message.ep, message.payload) == (0xBEEF, 2, True, bytes(range(64)))
    done = Message(Opcode.CXL_NDR, 21, 10, tag=0xBEEF, address=0x4_0000_0040, tc=2, aux=S2MNDROpcode.CMP, load=6,
                   hops=3)
    assert message_to_cxl(done, LDS, outstanding=outstanding) == S2MNDR(S2MNDROpcode.CMP, 0xBEEF, ld_id=1,
                                                                        dev_load=DevLoad.MODERATE_OVERLOAD)
    assert len(outstanding) == 0


def test_a_tag_cannot_be_outstanding_twice_and_a_forgotten_request_is_gone():
    outstanding = OutstandingCxlRequests()
    read = M2SReq(M2SReqOpcode.MEM_RD, 0x80, tag=9, ld_id=5)
    cxl_to_message(read, LDS, outstanding=outstanding)
    with pytest.raises(BridgeError, match=r"field 'tag'.*already has tag 9") as info:
        cxl_to_message(read, LDS, outstanding=outstanding)
    assert info.value.field == "tag"
    assert outstanding.get(11, 9) == PendingCxlRequest(Opcode.CXL_MEM_RD, 0x80, 0)
    outstanding.forget(11, 9)
    with pytest.raises(BridgeError, match="field 'tag'") as info:
        cxl_to_message(S2MDRS(S2MDRSOpcode.MEM_DATA, 9, bytes(64), ld_id=5), LDS, outstanding=outstanding)
    assert info.value.field == "tag"


def test_a_message_without_its_data_is_a_frame_error():
    with pytest.raises(FrameError, match="data"):
        cxl_to_message(M2SRwD(M2SRwDOpcode.MEM_WR, 0x40, None), LDS)


# --- the table itself ------------------------------------------------------------------------

def test_the_table_covers_every_cxl_opcode_and_oisa_opcode_once():
    enums = {MemClass.M2S_REQ: M2SReqOpcode, MemClass.M2S_RWD: M2SRwDOpcode, MemClass.S2M_NDR: S2MNDROpcode,
             MemClass.S2M_DRS: S2MDRSOpcode}
    kinds = [kind for row in CXL_ROWS for kind in row.kinds]
    assert sorted(kinds) == sorted((cls, int(op)) for cls, ops in enums.items() for op in ops)
    assert sorted(op for row in CXL_ROWS for op in row.opcodes) == sorted(Opcode)
    for row in CXL_ROWS:
        keys = [(r.side, r.field) for r in row.refusals]
        assert len(keys) == len(set(keys)), row.name


def test_the_markdown_table_has_a_line_per_row():
    lines = cxl_bridge_markdown().splitlines()
    assert len(lines) == 2 + len(CXL_ROWS)
    assert all(line.count(" | ") == 4 for line in lines[2:])
