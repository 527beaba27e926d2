"""The CXL.mem <-> OISA bridge: a CXL.mem message becomes an OISA message and back, field by
field; whatever one side cannot say raises :class:`~oisa.errors.BridgeError` naming the field.

:data:`CXL_ROWS` is the mapping as data (one row per CXL.mem opcode, plus the OISA opcodes that
are not CXL.mem) and :func:`cxl_bridge_markdown` renders it for ``specs/``. The conversions read
the rows and the tests walk them.

What needs more than copying a field:

* **Who talks.** A CXL.mem message names no sender or receiver: it travels on one link between
  a host and a memory device, and only the LD-ID says which logical device of a multi-logical
  device (MLD) it concerns; each logical device is bound to one host. An :class:`LdMap` says
  which ``(host card, device card)`` pair each LD-ID stands for (:meth:`LdTable.single` for a
  plain device): requests go from the host to the device, responses back.
* **Addresses.** OISA addresses bytes, CXL.mem lines: an M2S Req carries Address[51:5] (bit 5
  asks for the upper half line first), an M2S RwD Address[51:6]. The bridge carries the same
  byte address, so an OISA address must be aligned as the CXL message needs and below 2**52.
* **Responses.** A CXL response carries its tag and LD-ID and nothing else of its request; an
  OISA response echoes its request's address, traffic class and telemetry (as OISA targets
  do). :class:`OutstandingCxlRequests` remembers each request (by host and tag) as it crosses,
  so a response crossing into OISA gets them back, and one crossing into CXL is checked
  against them.
* **Load.** CXL responses report the device's load in 2 bits (DevLoad, for the host's QoS
  throttling), OISA messages the worst congestion on their path in 3 (``load``).
  :data:`LOAD_BANDS` splits OISA's eight levels into four bands, one per DevLoad, and both
  directions go through it (:func:`load_of`, :func:`dev_load_of`); both are monotone and a
  DevLoad comes back unchanged. A response crossing into OISA reports the worse of the
  device's load and its request's (OISA's round-trip rule).
* **Coherence.** OISA has none, so only neutral snoop and metadata fields cross (SnpType No-Op,
  MetaField No-Op); anything else raises.

Sans-IO, like the rest of the transaction layer: plain functions, plus that one small state
object, which the caller owns and passes in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from oisa.errors import BridgeError, UsageError
from oisa.transaction._bridge import FieldMap, Outstanding, Refusal, Row, Side, refuse, render_rows
from oisa.wire.cxl import (
    LINE_SIZE,
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
    S2MDRSOpcode,
    S2MNDROpcode,
    SnpType,
    check_cxl_mem,
)
from oisa.wire.oisa import Message, Opcode, check_message

__all__ = [
    "CXL_ROWS",
    "LOAD_BANDS",
    "LdMap",
    "LdTable",
    "OutstandingCxlRequests",
    "PendingCxlRequest",
    "cxl_bridge_markdown",
    "cxl_to_message",
    "dev_load_of",
    "load_of",
    "message_to_cxl",
]

_CXL_ADDRESS_LIMIT = 1 << 52
_LD_IDS = 16


# --- who talks -------------------------------------------------------------------------------

class LdMap(Protocol):
    """Which ``(host card, device card)`` an LD-ID stands for, and back; ``None`` if unbound."""

    def cards_of(self, ld_id: int) -> tuple[int, int] | None: ...

    def ld_id_of(self, host: int, device: int) -> int | None: ...


@dataclass(frozen=True, eq=False)
class LdTable:
    """An explicit table of LD-IDs to the ``(host card, device card)`` each is bound to.

    Each logical device has its own card id (it is its own memory on the fabric) and one host;
    two LD-IDs may share a host but not a pair, or the way back would be ambiguous.
    """

    bindings: Mapping[int, tuple[int, int]]
    _ld_ids: Mapping[tuple[int, int], int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        bindings = {ld_id: (host, device) for ld_id, (host, device) in self.bindings.items()}
        for ld_id, cards in bindings.items():
            if not 0 <= ld_id < _LD_IDS or not all(0 <= card <= 0xFFFF for card in cards):
                raise UsageError(f"LdTable entry {ld_id} -> {cards}: LD-IDs have 4 bits and card ids 16")
        inverse = {cards: ld_id for ld_id, cards in bindings.items()}
        if len(inverse) != len(bindings):
            raise UsageError("LdTable binds two LD-IDs to one (host, device) pair; the way back would be ambiguous")
        object.__setattr__(self, "bindings", MappingProxyType(bindings))
        object.__setattr__(self, "_ld_ids", MappingProxyType(inverse))

    @classmethod
    def single(cls, host: int, device: int) -> LdTable:
        """A single-logical-device link: LD-ID 0 between ``host`` and ``device``."""
        return cls({0: (host, device)})

    def cards_of(self, ld_id: int) -> tuple[int, int] | None:
        return self.bindings.get(ld_id)

    def ld_id_of(self, host: int, device: int) -> int | None:
        return self._ld_ids.get((host, device))


# --- outstanding requests --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PendingCxlRequest:
    """A CXL.mem request that crossed the bridge, as much of it as its response needs: what an
    OISA response echoes and a CXL response does not carry. ``load`` and ``hops`` are the OISA
    telemetry of a request that came from OISA (0 for one from CXL)."""

    opcode: Opcode
    address: int
    tc: int
    load: int = 0
    hops: int = 0


class OutstandingCxlRequests(Outstanding[PendingCxlRequest]):
    """The CXL.mem requests that crossed the bridge and still wait for their response, by (host
    card id, tag). Pass the same instance to :func:`cxl_to_message` and :func:`message_to_cxl`:
    a request is remembered when it crosses one way and forgotten when its response crosses
    back (each request here has exactly one: MemRd a DRS, MemWr and MemInv an NDR)."""


# --- load ------------------------------------------------------------------------------------

LOAD_BANDS: Mapping[DevLoad, range] = MappingProxyType({
    DevLoad.LIGHT_LOAD: range(0, 2),
    DevLoad.OPTIMAL_LOAD: range(2, 5),
    DevLoad.MODERATE_OVERLOAD: range(5, 7),
    DevLoad.SEVERE_OVERLOAD: range(7, 8),
})
"""OISA ``load`` levels per DevLoad. Light load is a device with room to spare, OISA's idle end;
optimal load is a device working at its best, a queue in use that does not grow; moderate
overload is a queue growing; severe overload is saturation, OISA's 7."""


def load_of(dev_load: DevLoad) -> int:
    """The OISA ``load`` a DevLoad stands for: the lowest level of its band, so a lightly loaded
    device reads as idle (0) and a severely overloaded one as saturated (7)."""
    return LOAD_BANDS[DevLoad(dev_load)].start


def dev_load_of(load: int) -> DevLoad:
    """The DevLoad whose band holds the OISA ``load`` level."""
    for dev_load, band in LOAD_BANDS.items():
        if load in band:
            return dev_load
    raise UsageError(f"OISA load {load} is not 0 to 7")


# --- the table -------------------------------------------------------------------------------

_F, _O = Side.FOREIGN, Side.OISA
_REQ, _RWD, _NDR, _DRS = MemClass.M2S_REQ, MemClass.M2S_RWD, MemClass.S2M_NDR, MemClass.S2M_DRS
CxlKind = tuple[MemClass, int]  # message class and opcode (the opcode enums of the classes share numbers)

_LD_REQUEST = FieldMap(("ld_id",), ("src", "dst"), "through the LdMap: the host bound to the logical device sends, "
                                                   "the logical device receives")
_LD_RESPONSE = FieldMap(("ld_id",), ("src", "dst"), "through the LdMap: the logical device answers its host")
_TAG = FieldMap(("tag",), ("tag",), "the same 16-bit number")
_HALF_LINE = FieldMap(("address",), ("address",), "the same byte address; CXL carries bits 51:5 (bit 5 asks for the "
                                                  "upper half line first)")
_LINE_ADDRESS = FieldMap(("address",), ("address",), "the same byte address of the line; CXL carries bits 51:6")
_ONE_LINE = FieldMap((), ("length",), "64: one line")
_TC = FieldMap(("tc",), ("tc",), "the same traffic class (CXL's 2 bits)")
_NEUTRAL_REQUEST = FieldMap(("snp_type", "meta_field", "meta_value"), (), "cross only when neutral: SnpType No-Op, "
                                                                          "MetaField No-Op (MetaValue 0)")
_NEUTRAL_RESPONSE = FieldMap(("meta_field", "meta_value"), (), "cross only with MetaField No-Op; MetaValue is then "
                                                               "don't-care and not carried (0 towards CXL)")
_NO_ATTRIBUTES = FieldMap((), ("ns", "ro", "ido", "ec"), "0: CXL.mem has no ordering attributes and no early "
                                                         "completion")
_NO_POISON = FieldMap((), ("ep",), "0: no data, so nothing to poison")
_POISON = FieldMap(("poison",), ("ep",), "poisoned on both sides")
_DATA = FieldMap(("data",), ("payload",), "the 64-byte line")
_TELEMETRY = FieldMap((), ("load", "hops"), "OISA path telemetry: 0 from CXL; towards CXL it ends at the bridge, kept "
                                            "in OutstandingCxlRequests for the response to echo")
_NDR_OPCODE = FieldMap(("opcode",), ("aux",), "the same number: 0 Cmp, 1 Cmp-S, 2 Cmp-E")
_DRS_OPCODE = FieldMap(("opcode",), ("aux",), "the same number: 0 MemData")
_DEV_LOAD = FieldMap(("dev_load",), ("load",), "through LOAD_BANDS (light 0-1, optimal 2-4, moderate overload 5-6, "
                                               "severe overload 7): towards OISA the larger of the lowest `load` of "
                                               "the DevLoad's band and the request's `load` (an OISA target reports "
                                               "the worst on the round trip); towards CXL the DevLoad of `load`'s band")
_ECHOED_HOPS = FieldMap((), ("hops",), "the request's, as an OISA target echoes them; ends at the bridge towards CXL")
_ECHOED = FieldMap((), ("address", "tc"), "the request's, kept in OutstandingCxlRequests: an OISA response echoes "
                                          "them, a CXL one matches its request by tag alone")
_NO_LENGTH = FieldMap((), ("length",), "0: no data")

_SNOOP = Refusal(_F, "snp_type", "OISA has no coherence: a request that has the device snoop its host cannot cross")
_META = Refusal(_F, "meta_field", "OISA has no coherence metadata (Meta0-State) to update or report")
_WIDE_TC = Refusal(_O, "tc", "CXL.mem requests have 2 bits of traffic class (0-3)")
_HALF_LINE_ALIGN = Refusal(_O, "address", "an M2S Req carries Address[51:5]: 32-byte aligned and below 2**52")
_LINE_ALIGN = Refusal(_O, "address", "an M2S RwD carries Address[51:6]: 64-byte aligned and below 2**52")
_ATTRIBUTES = tuple(Refusal(_O, name, "CXL.mem has no ordering attributes") for name in ("ns", "ro", "ido"))
_EARLY = Refusal(_O, "ec", "CXL.mem has no early completion")
_NO_EP = Refusal(_O, "ep", "this CXL.mem message carries no data and has no poison bit")
_RESPONSE_ADDRESS = Refusal(_O, "address", "must be the request's: a CXL response carries no address, only the OISA "
                                           "echo of it")
_RESPONSE_TC = Refusal(_O, "tc", "must be the request's: a CXL response carries no traffic class, only the OISA echo "
                                 "of it")
_UNMATCHED = Refusal(_F, "tag", "no request from this LD-ID's host with this tag crossed the bridge (pass the "
                                "OutstandingCxlRequests it crossed with): nothing gives the OISA response its address "
                                "and traffic class")
_NOT_OUTSTANDING = Refusal(_O, "tag", "no request from this destination with this tag crossed the bridge (pass the "
                                      "OutstandingCxlRequests it crossed with)")

_REQUEST_FIELDS = (_LD_REQUEST, _TAG, _HALF_LINE, _ONE_LINE, _TC, _NEUTRAL_REQUEST, _NO_ATTRIBUTES, _NO_POISON,
                   _TELEMETRY)
_REQUEST_REFUSALS = (_SNOOP, _META, _WIDE_TC, _HALF_LINE_ALIGN, *_ATTRIBUTES, _EARLY, _NO_EP)


def _unsupported(name: str, kind: CxlKind, why: str) -> Row[CxlKind]:
    return Row(name, (kind,), (), refusals=(Refusal(_F, "mem_opcode", why),))


CXL_ROWS: tuple[Row[CxlKind], ...] = (
    Row("M2S Req MemRd", ((_REQ, M2SReqOpcode.MEM_RD),), (Opcode.CXL_MEM_RD,), _REQUEST_FIELDS, _REQUEST_REFUSALS),
    Row("M2S Req MemInv", ((_REQ, M2SReqOpcode.MEM_INV),), (Opcode.CXL_MEM_INV,), _REQUEST_FIELDS, _REQUEST_REFUSALS),
    _unsupported("M2S Req MemRdData", (_REQ, M2SReqOpcode.MEM_RD_DATA),
                 "it sets Meta0-State from I to A by itself, a metadata update OISA cannot say; CXL_MEM_RD is MemRd "
                 "(with MetaField No-Op, the plain read)"),
    _unsupported("M2S Req MemRdFwd", (_REQ, M2SReqOpcode.MEM_RD_FWD),
                 "it answers a CXL.cache read the device made of its own memory and expects no completion; OISA "
                 "carries no CXL.cache"),
    _unsupported("M2S Req MemWrFwd", (_REQ, M2SReqOpcode.MEM_WR_FWD),
                 "it answers a CXL.cache write the device made to its own memory and expects no completion; OISA "
                 "carries no CXL.cache"),
    _unsupported("M2S Req MemSpecRd", (_REQ, M2SReqOpcode.MEM_SPEC_RD),
                 "a speculative read the device may drop, without a completion; CXL_MEM_RD always completes"),
    _unsupported("M2S Req MemInvNT", (_REQ, M2SReqOpcode.MEM_INV_NT),
                 "MemInv with a non-temporal hint, which CXL_MEM_INV has no field for"),
    Row("M2S RwD MemWr", ((_RWD, M2SRwDOpcode.MEM_WR),), (Opcode.CXL_MEM_WR,),
        (_LD_REQUEST, _TAG, _LINE_ADDRESS, _ONE_LINE, _DATA, _POISON, _TC, _NEUTRAL_REQUEST, _NO_ATTRIBUTES,
         _TELEMETRY),
        (_SNOOP, _META, _WIDE_TC, _LINE_ALIGN, *_ATTRIBUTES, _EARLY)),
    _unsupported("M2S RwD MemWrPtl", (_RWD, M2SRwDOpcode.MEM_WR_PTL),
                 "a partial line write: CXL_MEM_WR writes whole lines and has no byte enables"),
    Row("S2M NDR Cmp, Cmp-S, Cmp-E", tuple((_NDR, op) for op in S2MNDROpcode), (Opcode.CXL_NDR,),
        (_LD_RESPONSE, _TAG, _NDR_OPCODE, _ECHOED, _DEV_LOAD, _ECHOED_HOPS, _NO_LENGTH, _NEUTRAL_RESPONSE,
         _NO_ATTRIBUTES, _NO_POISON),
        (_META, _UNMATCHED, Refusal(_O, "aux", "Cmp-M is CXL 3.x; the CXL 2.0 NDR that oisa models reserves it"),
         _NOT_OUTSTANDING, _RESPONSE_ADDRESS, _RESPONSE_TC, *_ATTRIBUTES, _EARLY, _NO_EP)),
    Row("S2M DRS MemData", ((_DRS, S2MDRSOpcode.MEM_DATA),), (Opcode.CXL_DRS,),
        (_LD_RESPONSE, _TAG, _DRS_OPCODE, _ECHOED, _DATA, _POISON, _DEV_LOAD, _ECHOED_HOPS, _ONE_LINE,
         _NEUTRAL_RESPONSE, _NO_ATTRIBUTES),
        (_META, _UNMATCHED, Refusal(_O, "aux", "MemData-NXM is CXL 3.x; the CXL 2.0 DRS that oisa models reserves it"),
         _NOT_OUTSTANDING, _RESPONSE_ADDRESS, _RESPONSE_TC, *_ATTRIBUTES, _EARLY)),
    Row("-", (), tuple(op for op in Opcode if not op.name.startswith("CXL_")),
        refusals=(Refusal(_O, "opcode", "not a CXL.mem message (the PCIe bridge converts PCIe-style ones)"),)),
)

_ROW_OF_KIND: dict[CxlKind, Row[CxlKind]] = {kind: row for row in CXL_ROWS for kind in row.kinds}
_ROW_OF_OPCODE: dict[int, Row[CxlKind]] = {opcode: row for row in CXL_ROWS for opcode in row.opcodes}
_CLASS_NAMES = {_REQ: "M2S Req", _RWD: "M2S RwD", _NDR: "S2M NDR", _DRS: "S2M DRS"}
_RESPONSE_AUX = {Opcode.CXL_NDR: frozenset(map(int, S2MNDROpcode)), Opcode.CXL_DRS: frozenset(map(int, S2MDRSOpcode))}


def cxl_bridge_markdown() -> str:
    """:data:`CXL_ROWS` as a Markdown table, for ``specs/``."""
    return render_rows(CXL_ROWS, "CXL.mem")


# --- CXL -> OISA -----------------------------------------------------------------------------

def cxl_to_message(message: CxlMemMessage, lds: LdMap, *,
                   outstanding: OutstandingCxlRequests | None = None) -> Message:
    """The OISA message that says what ``message`` says.

    With ``outstanding``, a request is remembered there, and a response is given the address,
    traffic class and telemetry of the request remembered there (responses need it). Raises
    :class:`FrameError` if ``message`` is malformed and :class:`BridgeError` naming the field if
    it cannot cross.
    """
    check_cxl_mem(message)
    opcode = message.mem_opcode if isinstance(message, (M2SReq, M2SRwD)) else message.opcode
    row = _ROW_OF_KIND[(message.msg_class, int(opcode))]
    what = f"CXL {_CLASS_NAMES[message.msg_class]} {opcode.name}"
    if not row.opcodes:
        raise refuse(what, row, _F, "mem_opcode", opcode.name)
    if isinstance(message, (M2SReq, M2SRwD)) and message.snp_type != SnpType.NO_OP:
        raise refuse(what, row, _F, "snp_type", SnpType(message.snp_type).name)
    if message.meta_field != MetaField.NO_OP:
        raise refuse(what, row, _F, "meta_field", MetaField(message.meta_field).name)
    cards = lds.cards_of(message.ld_id)
    if cards is None:
        raise BridgeError(f"{what} cannot cross: field 'ld_id': LD-ID {message.ld_id} is bound to no cards in the "
                          f"LdMap", field="ld_id")
    host, device = cards
    state = OutstandingCxlRequests() if outstanding is None else outstanding
    if isinstance(message, (M2SReq, M2SRwD)):
        out = Message(row.opcodes[0], host, device, tag=message.tag, length=LINE_SIZE, address=message.address,
                      tc=message.tc)
        if isinstance(message, M2SRwD):
            out.payload, out.ep = bytes(message.data or b""), message.poison
        state._open(host, out.tag, PendingCxlRequest(out.opcode, out.address, out.tc), what)
        return out
    asked = state.get(host, message.tag)
    if asked is None:
        raise refuse(what, row, _F, "tag", f"host card {host}, tag {message.tag}")
    out = Message(row.opcodes[0], device, host, tag=message.tag, address=asked.address, tc=asked.tc, aux=int(opcode),
                  load=max(asked.load, load_of(message.dev_load)), hops=asked.hops)
    if isinstance(message, S2MDRS):
        out.length, out.payload, out.ep = LINE_SIZE, bytes(message.data or b""), message.poison
    state._update(host, out.tag, None)
    return out


# --- OISA -> CXL -----------------------------------------------------------------------------

def message_to_cxl(message: Message, lds: LdMap, *,
                   outstanding: OutstandingCxlRequests | None = None) -> CxlMemMessage:
    """The CXL.mem message that says what ``message`` says.

    With ``outstanding``, a request is remembered there, and a response is checked against the
    request remembered there (responses need it). Raises :class:`FrameError` if ``message`` is
    malformed and :class:`BridgeError` naming the field if it cannot cross.
    """
    check_message(message)
    opcode = Opcode(message.opcode)
    row = _ROW_OF_OPCODE[opcode]
    what = f"OISA {opcode.name}"
    if not row.kinds:
        raise refuse(what, row, _O, "opcode", opcode.name)
    for name in ("ns", "ro", "ido", "ec"):
        if getattr(message, name):
            raise refuse(what, row, _O, name, f"{name} = 1")
    state = OutstandingCxlRequests() if outstanding is None else outstanding
    if opcode in _RESPONSE_AUX:
        return _response(message, opcode, row, lds, state, what)
    if message.tc > 3:
        raise refuse(what, row, _O, "tc", str(message.tc))
    alignment = LINE_SIZE if opcode is Opcode.CXL_MEM_WR else LINE_SIZE // 2
    if message.address % alignment or message.address >= _CXL_ADDRESS_LIMIT:
        raise refuse(what, row, _O, "address", f"{message.address:#x}")
    if message.ep and opcode is not Opcode.CXL_MEM_WR:
        raise refuse(what, row, _O, "ep", "ep = 1")
    ld_id = lds.ld_id_of(message.src, message.dst)
    if ld_id is None:
        raise BridgeError(f"{what} cannot cross: field 'dst': no LD-ID binds host card {message.src} to device card "
                          f"{message.dst} in the LdMap", field="dst")
    state._open(message.src, message.tag, PendingCxlRequest(opcode, message.address, message.tc, message.load,
                                                            message.hops), what)
    if opcode is Opcode.CXL_MEM_WR:
        return M2SRwD(M2SRwDOpcode.MEM_WR, message.address, message.payload, tag=message.tag, poison=message.ep,
                      ld_id=ld_id, tc=message.tc)
    mem_opcode = M2SReqOpcode.MEM_RD if opcode is Opcode.CXL_MEM_RD else M2SReqOpcode.MEM_INV
    return M2SReq(mem_opcode, message.address, tag=message.tag, ld_id=ld_id, tc=message.tc)


def _response(message: Message, opcode: Opcode, row: Row[CxlKind], lds: LdMap, state: OutstandingCxlRequests,
              what: str) -> S2MNDR | S2MDRS:
    """An S2M NDR or DRS: the device (``src``) answers its host (``dst``)."""
    if message.aux not in _RESPONSE_AUX[opcode]:
        raise refuse(what, row, _O, "aux", str(message.aux))
    asked = state.get(message.dst, message.tag)
    if asked is None:
        raise refuse(what, row, _O, "tag", f"card {message.dst}, tag {message.tag}")
    if message.address != asked.address:
        raise refuse(what, row, _O, "address", f"{message.address:#x}, the request's {asked.address:#x}")
    if message.tc != asked.tc:
        raise refuse(what, row, _O, "tc", f"{message.tc}, the request's {asked.tc}")
    if message.ep and opcode is Opcode.CXL_NDR:
        raise refuse(what, row, _O, "ep", "ep = 1")
    ld_id = lds.ld_id_of(message.dst, message.src)
    if ld_id is None:
        raise BridgeError(f"{what} cannot cross: field 'src': no LD-ID binds device card {message.src} to host card "
                          f"{message.dst} in the LdMap", field="src")
    state._update(message.dst, message.tag, None)
    dev_load = dev_load_of(message.load)
    if opcode is Opcode.CXL_DRS:
        return S2MDRS(S2MDRSOpcode(message.aux), message.tag, message.payload, poison=message.ep, ld_id=ld_id,
                      dev_load=dev_load)
    return S2MNDR(S2MNDROpcode(message.aux), message.tag, ld_id=ld_id, dev_load=dev_load)
