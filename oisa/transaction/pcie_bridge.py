"""The PCIe <-> OISA bridge: a TLP becomes an OISA message and a message a TLP, field by
field; whatever one side cannot say raises :class:`~oisa.errors.BridgeError` naming the field.

:data:`PCIE_ROWS` is the mapping as data (one row per TLP kind, plus the OISA opcodes PCIe has
no kind for) and :func:`pcie_bridge_markdown` renders it for ``specs/``. The conversions read
the rows (which opcode a kind becomes, the reason each refusal gives) and the tests walk them.

Three things PCIe and OISA say differently take more than copying a field:

* **Identities.** PCIe names functions by 16-bit bus/device/function ids, OISA cards by 16-bit
  card ids. An :class:`IdMap` translates (:data:`IDENTITY` by default, :class:`IdTable` for a
  real numbering); an id it does not know cannot cross.
* **Routing.** PCIe routes memory requests and AtomicOps by address, OISA every message by
  ``dst``. Converting such a TLP therefore takes ``dst`` from the caller (an adapter knows which
  card owns an address); towards PCIe, ``dst`` is not carried. Messages cross only when routed
  by ID, and completions are routed by the requester's id, so those name their target.
* **Completions.** An OISA ``CPL_D`` says where its data go by the address of its first byte; a
  PCIe CplD by the bytes the request still waits for (Byte Count) and the low 7 bits of that
  address (Lower Address). Turning one into the other needs the request's address and length,
  so :class:`OutstandingRequests` remembers every non-posted request that crosses (by requester
  and tag) until its last completion has crossed back.

Like the rest of the transaction layer this is sans-IO: plain functions, plus that one small
state object, which the caller owns and passes in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Protocol

from oisa.errors import BridgeError, UsageError
from oisa.transaction._bridge import FieldMap, Outstanding, Refusal, Row, Side, refuse, render_rows
from oisa.wire.oisa import ADDRESS_BITS, Message, Opcode, Status, check_message
from oisa.wire.pcie import Tlp, TlpGroup, TlpType, TlpTypeInfo, check_tlp

__all__ = [
    "IDENTITY",
    "PCIE_ROWS",
    "IdMap",
    "IdTable",
    "IdentityIds",
    "OutstandingRequests",
    "PendingRequest",
    "message_to_tlp",
    "pcie_bridge_markdown",
    "pcie_id",
    "tlp_to_message",
]

_ADDRESS_LIMIT = 1 << ADDRESS_BITS
_TAG_LIMIT = 1 << 10
_MESSAGE_BYTES_LIMIT = 1 << 48  # header bytes 10-15 of an ID-routed message
_ROUTE_BY_ID = 0b010
_PAGE = 4096


# --- identities ------------------------------------------------------------------------------

def pcie_id(bus: int, device: int, function: int) -> int:
    """The 16-bit PCIe id of a function: bus[15:8], device[7:3], function[2:0]."""
    for name, value, bits in (("bus", bus, 8), ("device", device, 5), ("function", function, 3)):
        if not 0 <= value < 1 << bits:
            raise UsageError(f"PCIe {name} {value} does not fit in {bits} bits")
    return bus << 8 | device << 3 | function


class IdMap(Protocol):
    """Which OISA card a PCIe id stands for, and back; ``None`` for an id it does not know."""

    def card_of(self, pcie_id: int) -> int | None: ...

    def pcie_id_of(self, card: int) -> int | None: ...


@dataclass(frozen=True)
class IdentityIds:
    """Card id and PCIe id are the same number: for emulations that number cards as PCIe would."""

    def card_of(self, pcie_id: int) -> int | None:
        return pcie_id

    def pcie_id_of(self, card: int) -> int | None:
        return card


IDENTITY = IdentityIds()


@dataclass(frozen=True, eq=False)
class IdTable:
    """An explicit one-to-one table from PCIe ids to card ids (ids it lacks cannot cross)."""

    cards: Mapping[int, int]  # PCIe id -> card id
    _pcie_ids: Mapping[int, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        cards = dict(self.cards)
        for pcie, card in cards.items():
            if not (0 <= pcie <= 0xFFFF and 0 <= card <= 0xFFFF):
                raise UsageError(f"IdTable entry {pcie:#x} -> {card:#x}: both ids have 16 bits")
        inverse = {card: pcie for pcie, card in cards.items()}
        if len(inverse) != len(cards):
            raise UsageError("IdTable maps two PCIe ids to one card id; the way back would be ambiguous")
        object.__setattr__(self, "cards", MappingProxyType(cards))
        object.__setattr__(self, "_pcie_ids", MappingProxyType(inverse))

    def card_of(self, pcie_id: int) -> int | None:
        return self.cards.get(pcie_id)

    def pcie_id_of(self, card: int) -> int | None:
        return self._pcie_ids.get(card)


def _card(ids: IdMap, value: int, name: str, what: str) -> int:
    card = ids.card_of(value)
    if card is None:
        raise BridgeError(f"{what} cannot cross: field {name!r}: PCIe id {value:#06x} has no card id in the IdMap",
                          field=name)
    return card


def _pcie(ids: IdMap, card: int, name: str, what: str) -> int:
    value = ids.pcie_id_of(card)
    if value is None:
        raise BridgeError(f"{what} cannot cross: field {name!r}: card {card} has no PCIe id in the IdMap", field=name)
    return value


# --- outstanding requests ----------------------------------------------------------------------

_ATOMICS = frozenset({Opcode.FETCH_ADD, Opcode.SWAP, Opcode.CAS})
_STATUSES = frozenset(int(status) for status in Status)


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A non-posted request that crossed the bridge, as much of it as its completions need.

    ``length`` is what the completions return in all: the bytes a read asked for, or an
    AtomicOp's operand size (the old value). ``load`` and ``hops`` are the OISA telemetry of a
    request that came from OISA, which its completions echo (OISA's rule for targets); a request
    from PCIe has none (0).
    """

    opcode: Opcode
    address: int
    length: int
    next_address: int
    load: int = 0
    hops: int = 0

    @property
    def atomic(self) -> bool:
        return self.opcode in _ATOMICS

    @property
    def remaining(self) -> int:
        """Bytes no completion has returned yet."""
        return self.address + self.length - self.next_address


class OutstandingRequests(Outstanding[PendingRequest]):
    """The non-posted requests that crossed the bridge and still wait for completions, by
    (requester card id, tag): the state that rebuilding completions needs.

    Pass the same instance to :func:`tlp_to_message` and :func:`message_to_tlp`: a request is
    remembered when it crosses one way, its completions are rebuilt from it when they cross
    the other way, and it is forgotten after its last completion (or an error completion).
    """

    def _account(self, requester: int, tag: int, request: PendingRequest, returned: int | None) -> None:
        """A completion crossed: it returned ``returned`` bytes, or ended the request (None)."""
        if returned is None or request.atomic or returned == request.remaining:
            self._update(requester, tag, None)
        else:
            self._update(requester, tag, replace(request, next_address=request.next_address + returned))


# --- the table -------------------------------------------------------------------------------

_F, _O = Side.FOREIGN, Side.OISA
T = TlpType

_SRC = FieldMap(("requester_id",), ("src",), "through the IdMap")
_DST = FieldMap((), ("dst",), "given by the caller (`dst=`): PCIe routes this kind by address; not carried towards "
                              "PCIe")
_TAG = FieldMap(("tag",), ("tag",), "the same number: PCIe's 10 bits fit in OISA's 16")
_TC = FieldMap(("tc",), ("tc",), "the same traffic class")
_ATTR = FieldMap(("attr",), ("ns", "ro", "ido"), "Attr[0] is `ns`, Attr[1] `ro`, Attr[2] `ido`")
_EP = FieldMap(("ep",), ("ep",), "poisoned on both sides")
_TD = FieldMap(("td",), (), "the ECRC is checked by the TLP decoder and ends at the bridge; towards PCIe `digest=` "
                            "asks for a new one")
_POSTED_TELEMETRY = FieldMap((), ("load", "hops"), "OISA path telemetry: 0 from PCIe; ends at the bridge towards PCIe")
_REQUEST_TELEMETRY = FieldMap((), ("load", "hops"), "OISA path telemetry: 0 from PCIe; towards PCIe it ends at the "
                                                    "bridge, kept in OutstandingRequests for the completions to echo")
_BYTE_RANGE = FieldMap(("address", "length", "first_be", "last_be"), ("address", "length"),
                       "the enabled bytes are OISA's byte range; towards PCIe the header is 3DW below 4 GiB and 4DW "
                       "above (a 4DW header below 4 GiB comes back 3DW)")
_WRITE_DATA = FieldMap(("data",), ("payload",), "the enabled bytes; disabled ones are not carried (zero towards PCIe)")
_OPERAND_ADDRESS = FieldMap(("address",), ("address",), "the same byte address, aligned to the operand; 3DW below "
                                                        "4 GiB, 4DW above")
_OPERANDS = FieldMap(("length", "data"), ("length", "payload"), "double words times 4 are bytes (FetchAdd and Swap 4 "
                                                                 "or 8, CAS 8 or 16); the operands byte for byte")
_TARGET = FieldMap(("routing", "message_data"), ("dst",), "routed by ID (010): header bytes 8-9 (`message_data[0:2]`) "
                                                          "are the target's PCIe id, through the IdMap")
_MESSAGE_BYTES = FieldMap(("message_data",), ("address",), "header bytes 10-15 (`message_data[2:8]`, defined by the "
                                                           "message code: a vendor id and vendor bytes, say) as a "
                                                           "48-bit number")
_CODE = FieldMap(("message_code",), ("aux",), "the same message code")
_MESSAGE_DATA = FieldMap(("length", "data"), ("length", "payload"), "double words times 4 are bytes; the data byte "
                                                                    "for byte")
_COMPLETER = FieldMap(("completer_id",), ("src",), "through the IdMap")
_REQUESTER = FieldMap(("requester_id",), ("dst",), "through the IdMap")
_STATUS = FieldMap(("status",), ("aux",), "the same code: SC, UR, CRS (OISA's RRS), CA")
_PLACE = FieldMap(("byte_count", "lower_address", "bcm"), ("address",),
                  "rebuilt from the outstanding request: OISA's address is the first byte not returned yet, PCIe's "
                  "Byte Count the bytes still to come and Lower Address the low 7 bits of that address (an AtomicOp: "
                  "its operand size, and 0); BCM is 0")
_NO_BYTES = FieldMap((), ("length",), "0: a completion without data completes no bytes")
_CPL_DATA = FieldMap(("length", "data"), ("length", "payload"), "the data from Lower Address on; the padding in the "
                                                               "first and last double word is not carried (zero "
                                                               "towards PCIe)")
_ECHO = FieldMap((), ("load", "hops"), "echoed from the request, as an OISA target does; ends at the bridge towards "
                                       "PCIe")

_TH = Refusal(_F, "th", "TLP processing hints (TH, PH and the steering tag) have no OISA field")
_LN = Refusal(_F, "ln", "OISA has no lightweight notification")
_AT = Refusal(_F, "at", "OISA has no address translation services: only default (untranslated) addresses cross")
_WIDE = Refusal(_F, "address", "OISA addresses have 57 bits")
_CONTIGUOUS = "the enabled bytes must be one contiguous, non-empty range: that is what an OISA address and length say"
_FIRST_BE = Refusal(_F, "first_be", _CONTIGUOUS)
_LAST_BE = Refusal(_F, "last_be", _CONTIGUOUS)
_ATOMIC_FIRST_BE = Refusal(_F, "first_be", "reserved in AtomicOps (0000)")
_ATOMIC_LAST_BE = Refusal(_F, "last_be", "reserved in AtomicOps (0000)")
_WIDE_CAS = Refusal(_F, "length", "a CAS of two 16-byte operands (8 DW) has no OISA form: OISA's CAS carries 8 or 16 "
                                  "bytes")
_ROUTING = Refusal(_F, "routing", "only routing by ID (010) names a card; messages to the root complex, by address, "
                                  "broadcast, local or gathered belong to a PCIe hierarchy, which OISA does not have")
_BCM = Refusal(_F, "bcm", "set only by PCI-X completers, whose Byte Count then no longer places the data")
_UNMATCHED = Refusal(_F, "tag", "no request from this requester with this tag crossed the bridge (pass the "
                                "OutstandingRequests it crossed with): nothing says where the data go")
_BYTE_COUNT = Refusal(_F, "byte_count", "must be the bytes the request still waits for (an AtomicOp: its operand size)")
_LOWER = Refusal(_F, "lower_address", "must be the low 7 bits of the first byte not returned yet (an AtomicOp: 0)")
_CPL_STATUS = Refusal(_F, "status", "a Cpl answering a read or AtomicOp reports an error (success comes with data, in "
                                    "a CplD); reserved codes have no OISA status")
_CPLD_STATUS = Refusal(_F, "status", "a CplD is a successful completion: errors come without data")
_CPLD_LENGTH = Refusal(_F, "length", "more data than the request still waits for (an AtomicOp: not its operand size)")

_EC = Refusal(_O, "ec", "PCIe has no early completion: no bit to permit it on a request nor to report it on a "
                        "completion")
_BIG_TAG = Refusal(_O, "tag", "PCIe tags have 10 bits (0-1023)")
_CROSSES_PAGE = Refusal(_O, "length", "a PCIe memory request must not cross a 4 KiB boundary: split it first (the "
                                      "Requester does)")
_MISALIGNED = Refusal(_O, "address", "an AtomicOp's address must be aligned to its operand size")
_MESSAGE_HIGH = Refusal(_O, "address", "a message has 48 bits of message-specific header bytes (bytes 10-15)")
_MESSAGE_DW = Refusal(_O, "length", "MsgD carries whole double words (it has no byte enables)")
_NOT_OUTSTANDING = Refusal(_O, "tag", "no request from this destination with this tag crossed the bridge (pass the "
                                      "OutstandingRequests it crossed with): Byte Count cannot be rebuilt; and PCIe "
                                      "tags have 10 bits")
_NOT_NEXT = Refusal(_O, "address", "must be the first byte not returned yet (an AtomicOp: its address): PCIe returns "
                                   "data in address order and places them by the bytes still to come")
_CPL_AUX = Refusal(_O, "aux", "a CPL answering a read or AtomicOp must report an error: PCIe completes them "
                              "successfully only with data")
_CPL_LENGTH = Refusal(_O, "length", "a CPL answering a read or AtomicOp completes no bytes")
_CPLD_AUX = Refusal(_O, "aux", "PCIe completions with data are successful ones: errors come without data (CPL)")
_CPLD_OISA_LENGTH = Refusal(_O, "length", "more bytes than the request still waits for (an AtomicOp: not its operand "
                                          "size)")

_COMMON = (_TH, _LN, _AT)
_MEMORY_FIELDS = (_SRC, _DST, _TAG, _BYTE_RANGE, _TC, _ATTR, _EP, _TD)
_MEMORY_REFUSALS = (*_COMMON, _FIRST_BE, _LAST_BE, _WIDE, _BIG_TAG, _CROSSES_PAGE, _EC)
_ATOMIC_FIELDS = (_SRC, _DST, _TAG, _OPERAND_ADDRESS, _OPERANDS, _TC, _ATTR, _EP, _TD, _REQUEST_TELEMETRY)
_ATOMIC_REFUSALS = (*_COMMON, _ATOMIC_FIRST_BE, _ATOMIC_LAST_BE, _WIDE, _BIG_TAG, _MISALIGNED, _EC)
_MESSAGE_FIELDS = (_SRC, _TARGET, _MESSAGE_BYTES, _CODE, _TAG, _TC, _ATTR, _EP, _TD, _POSTED_TELEMETRY)
_MESSAGE_REFUSALS = (*_COMMON, _ROUTING, _BIG_TAG, _MESSAGE_HIGH, _EC)
_COMPLETION_FIELDS = (_COMPLETER, _REQUESTER, _TAG, _STATUS, _PLACE, _TC, _ATTR, _EP, _TD, _ECHO)
_COMPLETION_REFUSALS = (*_COMMON, _BCM, _UNMATCHED, _BYTE_COUNT, _LOWER, _NOT_OUTSTANDING, _NOT_NEXT, _EC)

PCIE_ROWS: tuple[Row[TlpType], ...] = (
    Row("MRd", (T.MRD_32, T.MRD_64), (Opcode.MEM_RD, Opcode.LOAD, Opcode.DMA_RD),
        (*_MEMORY_FIELDS, _REQUEST_TELEMETRY), _MEMORY_REFUSALS,
        "LOAD and DMA_RD become MRd too and come back as MEM_RD: PCIe has one memory read. A zero-length read "
        "(First DW BE 0000) cannot cross: OISA reads at least one byte."),
    Row("MWr", (T.MWR_32, T.MWR_64), (Opcode.MEM_WR, Opcode.STORE),
        (*_MEMORY_FIELDS, _WRITE_DATA, _POSTED_TELEMETRY), _MEMORY_REFUSALS,
        "STORE becomes MWr too and comes back as MEM_WR: PCIe has one memory write."),
    Row("FetchAdd", (T.FETCHADD_32, T.FETCHADD_64), (Opcode.FETCH_ADD,), _ATOMIC_FIELDS, _ATOMIC_REFUSALS),
    Row("Swap", (T.SWAP_32, T.SWAP_64), (Opcode.SWAP,), _ATOMIC_FIELDS, _ATOMIC_REFUSALS),
    Row("CAS", (T.CAS_32, T.CAS_64), (Opcode.CAS,), _ATOMIC_FIELDS, (*_ATOMIC_REFUSALS, _WIDE_CAS)),
    Row("Msg", (T.MSG,), (Opcode.MSG,), _MESSAGE_FIELDS, _MESSAGE_REFUSALS),
    Row("MsgD", (T.MSGD,), (Opcode.MSG_D,), (*_MESSAGE_FIELDS, _MESSAGE_DATA), (*_MESSAGE_REFUSALS, _MESSAGE_DW)),
    Row("Cpl", (T.CPL,), (Opcode.CPL,), (*_COMPLETION_FIELDS, _NO_BYTES),
        (*_COMPLETION_REFUSALS, _CPL_STATUS, _CPL_AUX, _CPL_LENGTH),
        "Only error completions of reads and AtomicOps cross: the requests a successful Cpl answers (IO and "
        "configuration writes) do not."),
    Row("CplD", (T.CPLD,), (Opcode.CPL_D,), (*_COMPLETION_FIELDS, _CPL_DATA),
        (*_COMPLETION_REFUSALS, _CPLD_STATUS, _CPLD_LENGTH, _CPLD_AUX, _CPLD_OISA_LENGTH)),
    Row("MRdLk, CplLk, CplDLk", (T.MRDLK_32, T.MRDLK_64, T.CPLLK, T.CPLDLK), (),
        refusals=(Refusal(_F, "kind", "locked transactions (legacy, issued by root complexes only) have no OISA "
                                      "equivalent"),)),
    Row("IORd, IOWr", (T.IORD, T.IOWR), (), refusals=(Refusal(_F, "kind", "OISA has no IO space"),)),
    Row("CfgRd0, CfgWr0, CfgRd1, CfgWr1", (T.CFGRD0, T.CFGWR0, T.CFGRD1, T.CFGWR1), (),
        refusals=(Refusal(_F, "kind", "OISA has no configuration space: the emulation configures cards, not the "
                                      "fabric"),)),
    Row("-", (), (Opcode.DMA_WR,),
        refusals=(Refusal(_O, "opcode", "a non-posted write: PCIe's MWr is posted and never completed (an adapter "
                                        "may send MWr and answer the CPL itself, as an early completion)"),)),
    Row("-", (), (Opcode.COLL_REDUCE,), refusals=(Refusal(_O, "opcode", "reduction in the switch has no PCIe "
                                                                        "equivalent"),)),
    Row("-", (), (Opcode.CXL_MEM_RD, Opcode.CXL_MEM_WR, Opcode.CXL_MEM_INV, Opcode.CXL_NDR, Opcode.CXL_DRS),
        refusals=(Refusal(_O, "opcode", "CXL.mem: the CXL bridge converts it"),)),
)
del T

_ROW_OF_KIND: dict[int, Row[TlpType]] = {kind: row for row in PCIE_ROWS for kind in row.kinds}
_ROW_OF_OPCODE: dict[int, Row[TlpType]] = {opcode: row for row in PCIE_ROWS for opcode in row.opcodes}


def pcie_bridge_markdown() -> str:
    """:data:`PCIE_ROWS` as a Markdown table, for ``specs/``."""
    return render_rows(PCIE_ROWS, "PCIe")


# --- byte ranges -----------------------------------------------------------------------------

_HEAD_OFFSET = {0xF: 0, 0xE: 1, 0xC: 2, 0x8: 3}  # First DW BE enabled up to the end of the DW -> first byte
_TAIL_BYTES = {0x1: 1, 0x3: 2, 0x7: 3, 0xF: 4}  # Last DW BE enabled from the start of the DW -> bytes


def _byte_range(tlp: Tlp, row: Row[TlpType], what: str) -> tuple[int, int]:
    """``(address, length)`` of the bytes a memory request enables."""
    if tlp.length == 1:
        be = tlp.first_be
        if tlp.last_be:
            raise refuse(what, row, _F, "last_be", f"{tlp.last_be:04b} with Length 1")
        low = (be & -be).bit_length() - 1
        if not be or (be >> low) & ((be >> low) + 1):
            raise refuse(what, row, _F, "first_be", f"{be:04b}")
        return tlp.address + low, (be >> low).bit_length()
    head = _HEAD_OFFSET.get(tlp.first_be)
    if head is None:
        raise refuse(what, row, _F, "first_be", f"{tlp.first_be:04b} with Length {tlp.length}")
    tail = _TAIL_BYTES.get(tlp.last_be)
    if tail is None:
        raise refuse(what, row, _F, "last_be", f"{tlp.last_be:04b}")
    return tlp.address + head, tlp.length * 4 - head - (4 - tail)


def _byte_enables(address: int, length: int) -> tuple[int, int, int, int]:
    """``(dw_address, dw_count, first_be, last_be)`` that enable exactly ``length`` bytes at ``address``."""
    head = address & 3
    end = address + length
    count = (end - (address - head) + 3) // 4
    first_be = 0xF << head & 0xF
    last_be = 0xF >> (-end % 4)
    if count == 1:
        return address - head, 1, first_be & last_be, 0
    return address - head, count, first_be, last_be


def _attr(message: Message) -> int:
    return message.ns | message.ro << 1 | message.ido << 2


# --- PCIe -> OISA ----------------------------------------------------------------------------

def tlp_to_message(tlp: Tlp, ids: IdMap = IDENTITY, *, dst: int | None = None,
                   outstanding: OutstandingRequests | None = None) -> Message:
    """The OISA message that says what ``tlp`` says.

    ``dst`` is the card a memory request or AtomicOp goes to (PCIe routes those by address, so
    only the caller knows); other kinds name their target and take no ``dst``. With
    ``outstanding``, a non-posted request is remembered there, and a completion is rebuilt from
    the request remembered there (completions need it). Raises :class:`FrameError` if ``tlp``
    is malformed and :class:`BridgeError` naming the field if it cannot cross.
    """
    info = check_tlp(tlp)
    row = _ROW_OF_KIND[info.kind]
    what = f"PCIe {info.mnemonic}"
    if not row.opcodes:
        raise refuse(what, row, _F, "kind", info.kind.name)
    for name in ("th", "ln", "at"):
        if getattr(tlp, name):
            raise refuse(what, row, _F, name, f"{name} = {int(getattr(tlp, name))}")
    by_address = info.group in (TlpGroup.MEMORY, TlpGroup.ATOMIC)
    if by_address and dst is None:
        raise UsageError(f"{what} is routed by address: say which card it goes to (dst=)")
    if not by_address and dst is not None:
        raise UsageError(f"{what} names its target; dst= is for kinds routed by address")
    message = Message(row.opcodes[0], 0, dst or 0, tag=tlp.tag, tc=tlp.tc, ns=bool(tlp.attr & 1),
                      ro=bool(tlp.attr & 2), ido=bool(tlp.attr & 4), ep=tlp.ep)
    state = OutstandingRequests() if outstanding is None else outstanding
    _TO_MESSAGE[info.group](tlp, info, row, message, ids, state, what)
    return message


def _memory_to_message(tlp: Tlp, info: TlpTypeInfo, row: Row[TlpType], message: Message, ids: IdMap,
                       outstanding: OutstandingRequests, what: str) -> None:
    address, length = _byte_range(tlp, row, what)
    if address >= _ADDRESS_LIMIT:
        raise refuse(what, row, _F, "address", f"{address:#x}")
    message.src = _card(ids, tlp.requester_id, "requester_id", what)
    message.address, message.length = address, length
    if info.has_data:
        start = address - tlp.address
        message.payload = tlp.data[start:start + length]
    else:
        outstanding._open(message.src, message.tag, PendingRequest(message.opcode, address, length, address), what)


def _atomic_to_message(tlp: Tlp, info: TlpTypeInfo, row: Row[TlpType], message: Message, ids: IdMap,
                       outstanding: OutstandingRequests, what: str) -> None:
    for name in ("first_be", "last_be"):
        if getattr(tlp, name):
            raise refuse(what, row, _F, name, f"{getattr(tlp, name):04b}")
    if message.opcode is Opcode.CAS and tlp.length == 8:
        raise refuse(what, row, _F, "length", "8 DW")
    if tlp.address >= _ADDRESS_LIMIT:
        raise refuse(what, row, _F, "address", f"{tlp.address:#x}")
    message.src = _card(ids, tlp.requester_id, "requester_id", what)
    message.address, message.length, message.payload = tlp.address, len(tlp.data), tlp.data
    operand = len(tlp.data) // 2 if message.opcode is Opcode.CAS else len(tlp.data)
    outstanding._open(message.src, message.tag, PendingRequest(message.opcode, tlp.address, operand, tlp.address),
                      what)


def _message_to_message(tlp: Tlp, info: TlpTypeInfo, row: Row[TlpType], message: Message, ids: IdMap,
                        outstanding: OutstandingRequests, what: str) -> None:
    if tlp.routing != _ROUTE_BY_ID:
        raise refuse(what, row, _F, "routing", f"{tlp.routing:03b}")
    message.src = _card(ids, tlp.requester_id, "requester_id", what)
    message.dst = _card(ids, int.from_bytes(tlp.message_data[:2], "big"), "message_data", what)
    message.address = int.from_bytes(tlp.message_data[2:], "big")
    message.aux = tlp.message_code
    message.length, message.payload = len(tlp.data), tlp.data


def _completion_to_message(tlp: Tlp, info: TlpTypeInfo, row: Row[TlpType], message: Message, ids: IdMap,
                           outstanding: OutstandingRequests, what: str) -> None:
    if tlp.bcm:
        raise refuse(what, row, _F, "bcm", "bcm = 1")
    message.src = _card(ids, tlp.completer_id, "completer_id", what)
    message.dst = _card(ids, tlp.requester_id, "requester_id", what)
    request = outstanding.get(message.dst, tlp.tag)
    if request is None:
        raise refuse(what, row, _F, "tag", f"card {message.dst}, tag {tlp.tag}")
    with_data = info.has_data
    if (tlp.status == Status.SC) != with_data or tlp.status not in _STATUSES:
        raise refuse(what, row, _F, "status", f"{tlp.status:03b}")
    byte_count, lower_address = _expected_count(request)
    if tlp.byte_count != byte_count:
        raise refuse(what, row, _F, "byte_count", f"{tlp.byte_count}, expected {byte_count}")
    if tlp.lower_address != lower_address:
        raise refuse(what, row, _F, "lower_address", f"{tlp.lower_address:#x}, expected {lower_address:#x}")
    message.aux, message.address = tlp.status, request.next_address
    message.load, message.hops = request.load, request.hops
    returned = None
    if with_data:
        offset = lower_address & 3
        carried = len(tlp.data) - offset
        returned = min(carried, request.remaining)
        if carried - returned >= 4 or (request.atomic and carried != request.length):
            raise refuse(what, row, _F, "length", f"{tlp.length} DW from byte {offset} for {request.remaining} bytes")
        message.length, message.payload = returned, tlp.data[offset:offset + returned]
    outstanding._account(message.dst, tlp.tag, request, returned)


def _expected_count(request: PendingRequest) -> tuple[int, int]:
    """PCIe's ``(byte_count, lower_address)`` for the next completion of ``request``."""
    if request.atomic:
        return request.length, 0
    return request.remaining, request.next_address & 0x7F


_TO_MESSAGE: dict[TlpGroup, Callable[[Tlp, TlpTypeInfo, Row[TlpType], Message, IdMap, OutstandingRequests, str],
                                     None]] = {
    TlpGroup.MEMORY: _memory_to_message,
    TlpGroup.ATOMIC: _atomic_to_message,
    TlpGroup.MESSAGE: _message_to_message,
    TlpGroup.COMPLETION: _completion_to_message,
}


# --- OISA -> PCIe ----------------------------------------------------------------------------

def message_to_tlp(message: Message, ids: IdMap = IDENTITY, *, outstanding: OutstandingRequests | None = None,
                   digest: bool = False) -> Tlp:
    """The TLP that says what ``message`` says.

    With ``outstanding``, a non-posted request is remembered there, and a completion is rebuilt
    from the request remembered there (completions need it). ``digest`` asks for an ECRC (TD).
    Raises :class:`FrameError` if ``message`` is malformed and :class:`BridgeError` naming the
    field if it cannot cross.
    """
    check_message(message)
    opcode = Opcode(message.opcode)
    row = _ROW_OF_OPCODE[opcode]
    what = f"OISA {opcode.name}"
    if not row.kinds:
        raise refuse(what, row, _O, "opcode", opcode.name)
    if message.ec:
        raise refuse(what, row, _O, "ec", "ec = 1")
    if message.tag >= _TAG_LIMIT:
        raise refuse(what, row, _O, "tag", str(message.tag))
    tlp = Tlp(row.kinds[0], tc=message.tc, attr=_attr(message), td=digest, ep=message.ep, tag=message.tag)
    state = OutstandingRequests() if outstanding is None else outstanding
    _TO_TLP[opcode](message, row, tlp, ids, state, what)
    return tlp


def _memory_to_tlp(message: Message, row: Row[TlpType], tlp: Tlp, ids: IdMap, outstanding: OutstandingRequests,
                   what: str) -> None:
    address, length = message.address, message.length
    if address % _PAGE + length > _PAGE:
        raise refuse(what, row, _O, "length", f"{length} bytes at {address:#x}")
    tlp.address, tlp.length, tlp.first_be, tlp.last_be = _byte_enables(address, length)
    tlp.kind = row.kinds[tlp.address >> 32 != 0]
    tlp.requester_id = _pcie(ids, message.src, "src", what)
    if message.info.has_payload:
        head = address - tlp.address
        tlp.data = bytes(head) + message.payload + bytes(tlp.length * 4 - head - length)
    else:
        outstanding._open(message.src, message.tag, PendingRequest(Opcode(message.opcode), address, length, address,
                                                                   message.load, message.hops), what)


def _atomic_to_tlp(message: Message, row: Row[TlpType], tlp: Tlp, ids: IdMap, outstanding: OutstandingRequests,
                   what: str) -> None:
    operand = message.length // 2 if message.opcode == Opcode.CAS else message.length
    if message.address % operand:
        raise refuse(what, row, _O, "address", f"{message.address:#x} for {operand}-byte operands")
    tlp.kind = row.kinds[message.address >> 32 != 0]
    tlp.requester_id = _pcie(ids, message.src, "src", what)
    tlp.address, tlp.length, tlp.data = message.address, message.length // 4, message.payload
    outstanding._open(message.src, message.tag, PendingRequest(Opcode(message.opcode), message.address, operand,
                                                               message.address, message.load, message.hops), what)


def _message_to_message_tlp(message: Message, row: Row[TlpType], tlp: Tlp, ids: IdMap,
                            outstanding: OutstandingRequests, what: str) -> None:
    if message.address >= _MESSAGE_BYTES_LIMIT:
        raise refuse(what, row, _O, "address", f"{message.address:#x}")
    if message.length % 4:
        raise refuse(what, row, _O, "length", f"{message.length} bytes")
    tlp.requester_id = _pcie(ids, message.src, "src", what)
    target = _pcie(ids, message.dst, "dst", what)
    tlp.routing, tlp.message_code = _ROUTE_BY_ID, message.aux
    tlp.message_data = target.to_bytes(2, "big") + message.address.to_bytes(6, "big")
    if message.opcode == Opcode.MSG_D:
        tlp.length, tlp.data = message.length // 4, message.payload


def _completion_to_tlp(message: Message, row: Row[TlpType], tlp: Tlp, ids: IdMap, outstanding: OutstandingRequests,
                       what: str) -> None:
    tlp.completer_id = _pcie(ids, message.src, "src", what)
    tlp.requester_id = _pcie(ids, message.dst, "dst", what)
    request = outstanding.get(message.dst, message.tag)
    if request is None:
        raise refuse(what, row, _O, "tag", f"card {message.dst}, tag {message.tag}")
    with_data = message.opcode == Opcode.CPL_D
    if (message.aux == Status.SC) != with_data:
        raise refuse(what, row, _O, "aux", Status(message.aux).name)
    if message.address != request.next_address:
        raise refuse(what, row, _O, "address", f"{message.address:#x}, expected {request.next_address:#x}")
    if with_data:
        wrong_length = message.length > request.remaining or (request.atomic and message.length != request.length)
    else:
        wrong_length = message.length != 0
    if wrong_length:
        raise refuse(what, row, _O, "length", f"{message.length} bytes for {request.remaining}")
    tlp.status = message.aux
    tlp.byte_count, tlp.lower_address = _expected_count(request)
    if with_data:
        head = tlp.lower_address & 3
        tlp.data = bytes(head) + message.payload + bytes(-(head + message.length) % 4)
        tlp.length = len(tlp.data) // 4
    outstanding._account(message.dst, message.tag, request, message.length if with_data else None)


_TO_TLP: dict[Opcode, Callable[[Message, Row[TlpType], Tlp, IdMap, OutstandingRequests, str], None]] = {
    Opcode.MEM_RD: _memory_to_tlp,
    Opcode.LOAD: _memory_to_tlp,
    Opcode.DMA_RD: _memory_to_tlp,
    Opcode.MEM_WR: _memory_to_tlp,
    Opcode.STORE: _memory_to_tlp,
    Opcode.FETCH_ADD: _atomic_to_tlp,
    Opcode.SWAP: _atomic_to_tlp,
    Opcode.CAS: _atomic_to_tlp,
    Opcode.MSG: _message_to_message_tlp,
    Opcode.MSG_D: _message_to_message_tlp,
    Opcode.CPL: _completion_to_tlp,
    Opcode.CPL_D: _completion_to_tlp,
}
