"""Packing CXL.mem messages into 68B flits and back (CXL spec §4.2.5, the flit packing rules).

:func:`pack_cxl_mem` is what a CXL.mem-native emulated device (or host) sends: its messages in
order, each one once, headers in slots and each 64-byte line in four 16-byte data chunks that
follow their header (plus a byte-enable chunk for a partial write). :func:`unpack_cxl_mem` is
the receiver: it keeps the shadow count of data still owed that the spec relies on, which is
how it knows that a flit without a header is an all-data flit.

The packer keeps message order (a later message never lands at a lower flit bit than an earlier
one, the order the spec reads a flit in) and follows these rules of §4.2.5:

* rollover: data owed from earlier flits fills slots 1, 2, 3 in that order; more than three
  chunks owed make the next flit an all-data flit;
* at most one data message starts in a flit, and the slots after its header carry its data;
* at most 2 M2S Req and 1 M2S RwD, or 2 S2M NDR and 3 S2M DRS, per flit.

Its choices, all legal but not the only legal ones: downstream it uses H5/G4 for requests and
H4/G5 for writes; upstream H4/G5 for completions and H3/G4 for read data followed by completions;
never the multi-data-header formats (they need both sides to enable them), H0 (shared with
CXL.cache) or 32-byte transfers. Empty slots use H5/G4 (downstream) or H4/G5 (upstream) with no
valid message. ``sz`` is always 1 (whole lines) and credits and Ak are left at zero: credit
return and acknowledgement belong to the link layer that sends the flits.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from oisa.errors import FrameError, UsageError
from oisa.wire.cxl.flit import AllDataFlit, ControlFlit, CxlFlit, ProtocolFlit, decode_cxl_flit, encode_cxl_flit
from oisa.wire.cxl.mem import (
    ALL_BYTES,
    LINE_SIZE,
    S2MDRS,
    CxlMemMessage,
    Direction,
    M2SRwD,
    MemClass,
    direction_of,
    validate_cxl_mem,
)
from oisa.wire.cxl.slots import SLOT_SIZE, DataSlot, MessageSlot, Slot, slot_offset
from oisa.wire.plain_fields import FieldProblem

__all__ = ["pack_cxl_mem", "pack_cxl_mem_flits", "unpack_cxl_mem", "unpack_cxl_mem_flits"]

FMT = "cxl-flit"
_CHUNKS = LINE_SIZE // SLOT_SIZE
_PER_FLIT = {MemClass.M2S_REQ: 2, MemClass.M2S_RWD: 1, MemClass.S2M_NDR: 2, MemClass.S2M_DRS: 3}
_EMPTY = {Direction.M2S: ("H5", "G4"), Direction.S2M: ("H4", "G5")}
_EMPTY_POSITIONS = {"H5": 1, "G4": 1, "H4": 2, "G5": 2}


def pack_cxl_mem(messages: Sequence[CxlMemMessage]) -> list[bytes]:
    """The 68-byte flits that carry ``messages`` (all of one direction), in order."""
    return [encode_cxl_flit(flit) for flit in pack_cxl_mem_flits(messages)]


def pack_cxl_mem_flits(messages: Sequence[CxlMemMessage]) -> list[CxlFlit]:
    """:func:`pack_cxl_mem` before encoding: the flits as objects."""
    direction = _check_messages(messages)
    queue = deque(messages)
    owed: deque[bytes] = deque()
    flits: list[CxlFlit] = []
    while queue or owed:
        if len(owed) > 3:
            flits.append(AllDataFlit(direction, b"".join(owed.popleft() for _ in range(4))))
        else:
            flits.append(_protocol_flit(direction, queue, owed))
    return flits


def _check_messages(messages: Sequence[CxlMemMessage]) -> Direction:
    direction = None
    for index, message in enumerate(messages):
        try:
            validate_cxl_mem(message)
        except FieldProblem as problem:
            raise FrameError(problem.reason, fmt=FMT, field=f"messages[{index}].{problem.field}") from None
        except AttributeError:
            raise FrameError(f"{type(message).__name__} is not a CXL.mem message", fmt=FMT,
                             field=f"messages[{index}]") from None
        if direction is None:
            direction = direction_of(message)
        elif direction_of(message) is not direction:
            raise FrameError("M2S and S2M messages travel in opposite directions; pack each direction apart",
                             fmt=FMT, field=f"messages[{index}]")
    return direction or Direction.M2S


@dataclass
class _Budget:
    """What one flit still has room for."""

    counts: Counter[MemClass]
    data_started: bool = False
    be: bool = False

    def admits(self, message: CxlMemMessage) -> bool:
        if self.counts[message.msg_class] >= _PER_FLIT[message.msg_class]:
            return False
        return not (isinstance(message, (M2SRwD, S2MDRS)) and self.data_started)


def _protocol_flit(direction: Direction, queue: deque[CxlMemMessage], owed: deque[bytes]) -> ProtocolFlit:
    budget = _Budget(Counter())
    slots: list[Slot] = []
    for index in range(4):
        if index and owed:
            slots.append(DataSlot(owed.popleft()))
        else:
            slots.append(_message_slot(direction, index, queue, owed, budget))
    return ProtocolFlit(direction, tuple(slots), be=budget.be, sz=True)  # type: ignore[arg-type]


def _take(queue: deque[CxlMemMessage], cls: MemClass, budget: _Budget, owed: deque[bytes]) -> CxlMemMessage | None:
    """The next message if it is of class ``cls`` and the flit has room for it."""
    if not queue or queue[0].msg_class is not cls or not budget.admits(queue[0]):
        return None
    message = queue.popleft()
    budget.counts[cls] += 1
    if isinstance(message, (M2SRwD, S2MDRS)):
        budget.data_started = True
        data = bytes(message.data or b"")
        owed.extend(data[i:i + SLOT_SIZE] for i in range(0, LINE_SIZE, SLOT_SIZE))
        if isinstance(message, M2SRwD) and message.byte_enable != ALL_BYTES:
            budget.be = True
            owed.append(message.byte_enable.to_bytes(8, "little") + bytes(8))
        header_only = {"data": None, "byte_enable": ALL_BYTES} if isinstance(message, M2SRwD) else {"data": None}
        message = replace(message, **header_only)
    return message


def _message_slot(direction: Direction, index: int, queue: deque[CxlMemMessage], owed: deque[bytes],
                  budget: _Budget) -> MessageSlot:
    header = index == 0
    head = queue[0].msg_class if queue else None
    if direction is Direction.M2S:
        if head is MemClass.M2S_REQ and (req := _take(queue, head, budget, owed)):
            return MessageSlot("H5" if header else "G4", (req,))
        if head is MemClass.M2S_RWD and (rwd := _take(queue, head, budget, owed)):
            return MessageSlot("H4" if header else "G5", (rwd,))
    elif head is MemClass.S2M_DRS and (drs := _take(queue, head, budget, owed)):
        ndrs = [_take(queue, MemClass.S2M_NDR, budget, owed) for _ in range(1 if header else 2)]  # None once out
        return MessageSlot("H3" if header else "G4", (drs, *ndrs))
    elif head is MemClass.S2M_NDR:
        first = _take(queue, head, budget, owed)
        if first:
            return MessageSlot("H4" if header else "G5", (first, _take(queue, head, budget, owed)))
    name = _EMPTY[direction][0 if header else 1]
    return MessageSlot(name, (None,) * _EMPTY_POSITIONS[name])


# --- unpacking ---------------------------------------------------------------------------------------

@dataclass
class _Pending:
    """A data message whose header arrived and whose chunks are still coming."""

    index: int  # its place in the output
    header: M2SRwD | S2MDRS
    chunks: list[bytes]
    needed: int


def unpack_cxl_mem(flits: Iterable[bytes], *, direction: Direction | str) -> list[CxlMemMessage]:
    """The CXL.mem messages carried by 68-byte ``flits`` sent in ``direction``, in order, data
    reassembled. Control flits are skipped; every malformed flit or broken packing rule raises
    :class:`FrameError` whose message starts with the flit's index."""
    try:
        direction = Direction(direction)
    except ValueError:
        raise UsageError(f"{direction!r} is not a direction (m2s or s2m)") from None
    receiver = _Receiver()
    number = -1
    for number, raw in enumerate(flits):
        try:
            receiver.take(decode_cxl_flit(raw, direction, all_data=receiver.owed > 3))
        except FrameError as exc:
            raise FrameError(f"flit {number}: {str(exc).split(': ', 1)[-1]}", fmt=exc.fmt, field=exc.field,
                             offset=exc.offset) from None
    if receiver.waiting:
        raise FrameError(f"flit {number}: the flits end {receiver.owed} data chunk(s) short of the last data "
                         "message", fmt=FMT, field="data")
    return receiver.messages  # type: ignore[return-value]


def unpack_cxl_mem_flits(flits: Iterable[CxlFlit]) -> list[CxlMemMessage]:
    """:func:`unpack_cxl_mem` for flits already decoded (all-data flits marked as such)."""
    receiver = _Receiver()
    for flit in flits:
        receiver.take(flit)
    if receiver.waiting:
        raise FrameError("the flits end before the data of the last data message", fmt=FMT, field="data")
    return receiver.messages  # type: ignore[return-value]


class _Receiver:
    """The receiving link layer's view: messages so far and the data it still expects."""

    def __init__(self) -> None:
        self.messages: list[CxlMemMessage | None] = []
        self.waiting: deque[_Pending] = deque()

    @property
    def owed(self) -> int:
        return sum(p.needed - len(p.chunks) for p in self.waiting)

    def take(self, flit: CxlFlit) -> None:
        if isinstance(flit, ControlFlit):
            return
        if isinstance(flit, AllDataFlit):
            for i in range(0, len(flit.data), SLOT_SIZE):
                self._chunk(bytes(flit.data[i:i + SLOT_SIZE]), 1 + i // SLOT_SIZE)
            return
        for index, slot in enumerate(flit.slots):
            if isinstance(slot, DataSlot):
                self._chunk(slot.chunk, index)
                continue
            if index and self.owed:
                raise FrameError(f"slot {index} must carry one of the {self.owed} data chunk(s) still owed",
                                 fmt=FMT, field=f"slot{index}", offset=slot_offset(index))
            for message in slot.messages:
                if message is not None:
                    self._message(message, flit)

    def _message(self, message: CxlMemMessage, flit: ProtocolFlit) -> None:
        if not isinstance(message, (M2SRwD, S2MDRS)):
            self.messages.append(message)
            return
        if not flit.sz:
            raise FrameError("32-byte data transfers (Sz 0) are not reassembled: a DRS header does not say which "
                             "half of the line it carries", fmt=FMT, field="sz", offset=2)
        needed = _CHUNKS + (1 if flit.be else 0)
        self.waiting.append(_Pending(len(self.messages), message, [], needed))
        self.messages.append(None)

    def _chunk(self, chunk: bytes, index: int) -> None:
        if not self.waiting:
            raise FrameError("a data chunk arrived but no data message is owed one", fmt=FMT, field=f"slot{index}",
                             offset=slot_offset(index))
        pending = self.waiting[0]
        pending.chunks.append(chunk)
        if len(pending.chunks) == pending.needed:
            self.waiting.popleft()
            self.messages[pending.index] = self._complete(pending, index)

    @staticmethod
    def _complete(pending: _Pending, index: int) -> CxlMemMessage:
        data = b"".join(pending.chunks[:_CHUNKS])
        header = pending.header
        complete: CxlMemMessage = replace(header, data=data)
        if len(pending.chunks) > _CHUNKS and isinstance(header, M2SRwD):  # BE is legal with RwD only
            enables = pending.chunks[-1]
            if any(enables[8:]):
                raise FrameError("reserved bits of the byte-enable slot are set", fmt=FMT, field="byte_enable",
                                 offset=slot_offset(index) + 8)
            complete = replace(header, data=data, byte_enable=int.from_bytes(enables[:8], "little"))
        try:
            validate_cxl_mem(complete)
        except FieldProblem as problem:
            raise FrameError(problem.reason, fmt=FMT, field=problem.field, offset=slot_offset(index)) from None
        return complete
