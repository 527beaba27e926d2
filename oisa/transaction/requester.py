"""The requester side of the transaction layer, sans-IO.

A requester turns operations (write these bytes there, read that range, add this to that
word) into request messages and matches completions back to them by tag.

* **Splitting.** Writes are cut at ``max_payload``, reads at ``max_read_request``, both never
  across a 4 KiB boundary (PCIe's rule, which lets a completer handle one page per request);
  an opcode with a smaller limit (loads and stores: 256 bytes; CXL.mem: exactly one 64-byte
  line) cuts smaller.
* **Tags.** At most ``tags`` non-posted requests are outstanding. Operations waiting for tags
  take turns, one request each, so concurrent copies share the tags as a card's several DMA
  engines would (non-posted requests may pass one another, PCIe's ordering table says); a posted
  operation goes out whole when its turn comes, so a later request never passes it, while a
  posted one may pass non-posted ones stuck waiting for tags, as it must. Posted requests
  (MEM_WR, STORE) take no tag and complete as they are sent: the requester cannot know more (a
  later read in the same traffic class is what proves they landed, as in PCIe).
* **Completion timeout.** A request not fully answered ``completion_timeout_ps`` after it went
  out fails its operation, as PCIe's Completion Timeout does; a completion that turns up later
  is dropped and counted, not treated as a protocol error. The default, 50 ms, is the top of
  PCIe's default range (Device Control 2, Completion Timeout Value 0000b: 50 us to 50 ms). As in
  PCIe the clock runs from transmission: while the card's DMA engines hold a request back behind
  the same card's copies (:meth:`Requester.held`), it stops, and it starts again when the request
  goes to its port (:meth:`Requester.transmitted`). Even so a congested fabric may hold a request
  up for long, so the bottom of the range would fail healthy large transfers. A timeout
  must fall within one of the values PCIe lets software program (:data:`COMPLETION_TIMEOUT_VALUES`,
  :func:`completion_timeout_range`): a request to a card that died never hangs, it fails within
  one of those.
* **Unexpected completions.** A completion whose tag matches no outstanding request, or that
  brings success from another node than the request went to, is counted and dropped, and the requester
  carries on: PCIe calls it an Unexpected Completion, which the receiver discards and reports as
  an advisory non-fatal error (PCI Express Base Specification 5.0, section 2.3.2, Completion
  Handling Rules, and section 6.2.3.2.4, Advisory Non-Fatal Error Cases; AMD/Xilinx PG194, "AXI
  Bridge for PCI Express Gen3", Unexpected Completion: "the completion TLP being discarded ...
  Normal operation then continues"). A forged completion therefore cannot end a run, nor
  complete another node's request.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from oisa.errors import RemoteProtocolError
from oisa.units import format_time
from oisa.wire.oisa import OPCODES, Message, Opcode, OpcodeInfo, Status

__all__ = [
    "COMPLETION_TIMEOUT_PS",
    "COMPLETION_TIMEOUT_VALUES",
    "Operation",
    "OperationCompleted",
    "OperationFailed",
    "Requester",
    "completion_timeout_range",
    "split_at_boundaries",
]

PAGE = 4096
_COMPLETION_STATUS = (Opcode.CPL, Opcode.CPL_D)


def split_at_boundaries(address: int, length: int, max_size: int) -> list[tuple[int, int]]:
    """``(address, length)`` pieces of at most ``max_size`` bytes that never cross a 4 KiB
    boundary nor a multiple of ``max_size`` (so pieces stay aligned after the first)."""
    pieces = []
    end = address + length
    while address < end:
        limit = min(end, (address // max_size + 1) * max_size, (address // PAGE + 1) * PAGE)
        pieces.append((address, limit - address))
        address = limit
    return pieces


@dataclass(eq=False)
class Operation:
    """One operation a requester was asked to perform, and how far it has got."""

    op_id: int
    opcode: Opcode
    dst: int
    address: int
    length: int
    data: bytes | None = None  # what to write, or the operands of an atomic
    result: bytearray | None = None  # what was read, or the old value an atomic returned
    remaining: int = 0  # bytes not yet completed
    status: Status | None = None
    pending: deque[tuple[int, int]] = field(default_factory=deque)  # pieces not yet issued
    ro: bool = False  # its requests carry relaxed ordering

    @property
    def failed(self) -> bool:
        return self.status not in (None, Status.SC)


@dataclass(frozen=True)
class OperationCompleted:
    operation: Operation


@dataclass(frozen=True)
class OperationFailed:
    operation: Operation
    status: Status | None  # None: the completion timeout expired
    reason: str


Event = OperationCompleted | OperationFailed


@dataclass
class _Outstanding:
    operation: Operation
    remaining: int
    issued_ps: int | None  # when it went on the wire; None while the card's DMA engines hold it back


COMPLETION_TIMEOUT_PS = 50_000_000_000  # 50 ms

_US, _MS, _S = 1_000_000, 1_000_000_000, 1_000_000_000_000
# The Completion Timeout Value field of PCIe's Device Control 2 register (PCI Express Base
# Specification 6.0, section 7.5.3.16; the ranges each encoding may mean, section 2.8): code ->
# (range, shortest, longest timeout in ps). A device advertises which of ranges A-D it supports
# in Device Capabilities 2; 0000b is the default every device must take, 50 us to 50 ms.
COMPLETION_TIMEOUT_VALUES: dict[int, tuple[str, int, int]] = {
    0b0000: ("default", 50 * _US, 50 * _MS),
    0b0001: ("A", 50 * _US, 100 * _US),
    0b0010: ("A", 1 * _MS, 10 * _MS),
    0b0101: ("B", 16 * _MS, 55 * _MS),
    0b0110: ("B", 65 * _MS, 210 * _MS),
    0b1001: ("C", 260 * _MS, 900 * _MS),
    0b1010: ("C", 1 * _S, 3_500 * _MS),
    0b1101: ("D", 4 * _S, 13 * _S),
    0b1110: ("D", 17 * _S, 64 * _S),
}


def completion_timeout_range(timeout_ps: int) -> list[tuple[int, str]]:
    """The Device Control 2 encodings (code, range) whose spans hold ``timeout_ps``; ValueError
    if PCIe lets software program no such value."""
    fits = [(code, name) for code, (name, low, high) in COMPLETION_TIMEOUT_VALUES.items() if low <= timeout_ps <= high]
    if not fits:
        spans = ", ".join(f"{name} {low / _MS:g}-{high / _MS:g} ms" for name, low, high in
                          COMPLETION_TIMEOUT_VALUES.values())
        raise ValueError(f"a completion timeout of {timeout_ps / _MS:g} ms is in none of PCIe's ranges ({spans})")
    return fits


class Requester:
    """Issues requests for submitted operations and matches their completions by tag."""

    def __init__(self, node_id: int, *, max_payload: int, max_read_request: int, tags: int, first_tag: int = 0,
                 completion_timeout_ps: int = COMPLETION_TIMEOUT_PS) -> None:
        """``tags`` requests may be outstanding, tagged ``first_tag`` onwards: several requesters
        of one card (a card's DMA engines) use disjoint ranges, so a completion's tag names
        the requester it belongs to."""
        self.node_id = node_id
        self.max_payload = max_payload
        self.max_read_request = max_read_request
        self.tags = tags
        self.first_tag = first_tag
        self.completion_timeout_ps = completion_timeout_ps
        self.late_completions = 0
        self.unexpected_completions = 0  # dropped: no outstanding request of theirs (see the module's docstring)
        self._waiting: deque[Operation] = deque()
        self._outstanding: dict[int, _Outstanding] = {}
        self._timed_out: set[int] = set()  # tags whose request timed out; held until their completion shows
        self._next_tag = 0
        self._next_op = 0

    @property
    def outstanding(self) -> int:
        return len(self._outstanding)

    def submit_write(self, dst: int, address: int, data: bytes, *, opcode: Opcode = Opcode.DMA_WR,
                     max_size: int | None = None, relaxed: bool = False) -> Operation:
        """Write ``data`` at ``dst``'s ``address`` in requests of at most ``max_size`` bytes
        (by default ``max_payload``), with relaxed ordering if ``relaxed``."""
        op = self._new(opcode, dst, address, len(data), min(max_size or self.max_payload, self.max_payload))
        op.data, op.ro = data, relaxed
        return op

    def submit_read(self, dst: int, address: int, length: int, *, opcode: Opcode = Opcode.DMA_RD,
                    max_size: int | None = None) -> Operation:
        """Read ``length`` bytes at ``dst``'s ``address`` in requests of at most ``max_size``
        bytes (by default ``max_read_request``)."""
        op = self._new(opcode, dst, address, length,
                       min(max_size or self.max_read_request, self.max_read_request))
        op.result = bytearray(length)
        return op

    def submit_atomic(self, dst: int, address: int, operands: bytes, *, opcode: Opcode) -> Operation:
        """FetchAdd or Swap (one operand of 4 or 8 bytes) or CAS (compare, then swap value)."""
        size = len(operands) // 2 if opcode is Opcode.CAS else len(operands)
        op = self._new(opcode, dst, address, len(operands), len(operands))
        op.data, op.result, op.remaining = operands, bytearray(size), size
        return op

    def _new(self, opcode: Opcode, dst: int, address: int, length: int, piece: int) -> Operation:
        lengths = OPCODES[opcode].lengths
        limit = min(piece, max(lengths))
        if not isinstance(lengths, range) and address % limit:
            raise ValueError(f"{opcode.name} needs addresses aligned to {limit} bytes, got {address:#x}")
        self._next_op += 1
        op = Operation(self._next_op, opcode, dst, address, length, remaining=length)
        op.pending.extend([(address, length)] if opcode in (Opcode.FETCH_ADD, Opcode.SWAP, Opcode.CAS)
                          else split_at_boundaries(address, length, limit))
        self._waiting.append(op)
        return op

    def next_requests(self, now: int) -> tuple[list[tuple[Message, Operation]], list[Event]]:
        """Requests that may be sent now, each with the operation it belongs to (a posted request
        carries no tag to find it by), and the posted operations that are complete because their
        last request is among them. Operations take turns in submission order: a posted one
        sends all its requests, a non-posted one a request per turn while tags are free."""
        out: list[tuple[Message, Operation]] = []
        events: list[Event] = []
        blocked: deque[Operation] = deque()  # non-posted operations waiting for a tag, in order
        waiting = self._waiting
        while waiting:
            op = waiting.popleft()
            info = OPCODES[op.opcode]
            if not info.expects_completion:
                while op.pending:
                    out.append((self._request(op, info, now), op))
                if op.remaining == 0:
                    op.status = Status.SC
                    events.append(OperationCompleted(op))
                continue
            if len(self._outstanding) + len(self._timed_out) >= self.tags:
                blocked.append(op)
                continue
            out.append((self._request(op, info, now), op))
            if op.pending:
                waiting.append(op)  # its next request waits for its next turn
        self._waiting = blocked
        return out, events

    def _request(self, op: Operation, info: OpcodeInfo, now: int) -> Message:
        """The next request of ``op``, with a tag if it expects an answer."""
        address, length = op.pending.popleft()
        tag = 0
        if info.expects_completion:
            tag = self._allocate_tag()
            self._outstanding[tag] = _Outstanding(op, op.remaining if op.opcode in (
                Opcode.FETCH_ADD, Opcode.SWAP, Opcode.CAS) else length, now)
        else:
            op.remaining -= length
        payload = b""
        if info.has_payload and op.data is not None:
            start = address - op.address
            payload = op.data[start:start + length]
        return Message(op.opcode, self.node_id, op.dst, tag=tag, length=length, address=address, payload=payload,
                       ro=op.ro)

    def _allocate_tag(self) -> int:
        while (self.first_tag + self._next_tag in self._outstanding
               or self.first_tag + self._next_tag in self._timed_out):
            self._next_tag = (self._next_tag + 1) % self.tags
        tag = self.first_tag + self._next_tag
        self._next_tag = (self._next_tag + 1) % self.tags
        return tag

    def receive_completion(self, cpl: Message) -> list[Event]:
        """Account for one completion; return what finished because of it."""
        if cpl.dst == self.node_id and cpl.tag in self._timed_out:
            self._timed_out.discard(cpl.tag)
            self.late_completions += 1
            return []
        entry = self._outstanding.get(cpl.tag)
        if entry is None or not self._expected(cpl, entry):
            self.unexpected_completions += 1
            return []
        op = entry.operation
        status = Status(cpl.aux) if cpl.opcode in _COMPLETION_STATUS else Status.SC
        if status is not Status.SC or cpl.ep:
            del self._outstanding[cpl.tag]  # a non-successful completion ends its request
            reason = "poisoned data" if cpl.ep else f"completion status {status.name}"
            return self._fail(op, status if status is not Status.SC else Status.CA, reason)
        completed = self._account(op, cpl)
        entry.remaining -= completed
        if entry.remaining <= 0:
            del self._outstanding[cpl.tag]
        if op.failed:
            return []
        op.remaining -= completed
        if op.remaining == 0:
            op.status = Status.SC
            return [OperationCompleted(op)]
        return []

    def _expected(self, cpl: Message, entry: _Outstanding) -> bool:
        """Whether ``cpl`` answers the outstanding request it names by tag: it is addressed to
        us and, if it carries success, comes from the node the request went to. A completion
        that refuses the request (UR, CA: no data) may come from a node on the way, as a PCIe
        switch answers a request it will not forward with UR under its own completer ID
        (section 2.3.1) and as oisa's switches refuse requests across partitions."""
        if cpl.dst != self.node_id:
            return False
        refused = cpl.opcode in _COMPLETION_STATUS and cpl.aux != Status.SC and not cpl.payload
        return cpl.src == entry.operation.dst or refused

    def _account(self, op: Operation, cpl: Message) -> int:
        """Store what a successful completion carries; return the bytes it completes."""
        if op.opcode in (Opcode.FETCH_ADD, Opcode.SWAP, Opcode.CAS):
            assert op.result is not None
            op.result[:] = cpl.payload
            return len(cpl.payload)
        if op.result is None:
            return cpl.length if cpl.opcode is Opcode.CPL else 64  # CXL NDR: one line written
        start = cpl.address - op.address
        if start < 0 or start + len(cpl.payload) > op.length:
            raise RemoteProtocolError(f"completion for tag {cpl.tag} carries bytes outside the request",
                                      code=Status.CA)
        op.result[start:start + len(cpl.payload)] = cpl.payload
        return len(cpl.payload)

    def expire(self, now: int) -> list[Event]:
        """Fail the operations of requests older than the completion timeout."""
        events: list[Event] = []
        for tag, entry in list(self._outstanding.items()):
            if entry.issued_ps is not None and now - entry.issued_ps >= self.completion_timeout_ps:
                del self._outstanding[tag]
                self._timed_out.add(tag)
                events += self._fail(entry.operation, None,
                                     f"completion timeout: no answer to tag {tag} from node {entry.operation.dst} "
                                     f"within {format_time(self.completion_timeout_ps)}")
        return events

    def held(self, tag: int) -> None:
        """The request of ``tag`` (if it is this requester's) waits in the card before the wire:
        its completion timeout does not run until :meth:`transmitted`."""
        entry = self._outstanding.get(tag)
        if entry is not None:
            entry.issued_ps = None

    def transmitted(self, tag: int, now: int) -> None:
        """The request of ``tag`` (if it is this requester's and unanswered) went on the wire
        only ``now``: its completion timeout counts from then."""
        entry = self._outstanding.get(tag)
        if entry is not None:
            entry.issued_ps = now

    def oldest_issue(self) -> int | None:
        """When the oldest outstanding request went out (for arming the timeout)."""
        return min((e.issued_ps for e in self._outstanding.values() if e.issued_ps is not None), default=None)

    def _fail(self, op: Operation, status: Status | None, reason: str) -> list[Event]:
        if op.failed or op.status is Status.SC:
            return []
        op.status = status if status is not None else Status.CA
        op.pending.clear()
        if op in self._waiting:
            self._waiting.remove(op)
        return [OperationFailed(op, status, reason)]
