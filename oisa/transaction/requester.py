"""The requester side of the transaction layer, sans-IO.

A requester turns operations (write these bytes there, read that range) into request messages,
no larger than the negotiated sizes and never crossing a 4 KiB boundary (PCIe's rule, which
lets a completer handle one page per request), and matches completions back to them by tag.
It holds at most ``tags`` requests outstanding; the rest wait their turn in submission order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from oisa.errors import RemoteProtocolError
from oisa.wire.message import Message
from oisa.wire.opcodes import OPCODES, Opcode, Status

__all__ = ["Operation", "OperationCompleted", "OperationFailed", "Requester", "split_at_boundaries"]

PAGE = 4096


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
    """One read or write a requester was asked to perform, and how far it has got."""

    op_id: int
    opcode: Opcode
    dst: int
    address: int
    length: int
    data: bytes | None = None  # what to write
    result: bytearray | None = None  # what was read
    remaining: int = 0  # bytes not yet completed
    status: Status | None = None
    pending: deque[tuple[int, int]] = field(default_factory=deque)  # pieces not yet issued

    @property
    def done(self) -> bool:
        return self.remaining == 0 or self.status not in (None, Status.SC)


@dataclass(frozen=True)
class OperationCompleted:
    operation: Operation


@dataclass(frozen=True)
class OperationFailed:
    operation: Operation
    status: Status
    reason: str


class Requester:
    """Issues requests for submitted operations and matches their completions by tag."""

    def __init__(self, node_id: int, *, max_payload: int, max_read_request: int, tags: int) -> None:
        self.node_id = node_id
        self.max_payload = max_payload
        self.max_read_request = max_read_request
        self.tags = tags
        self._waiting: deque[Operation] = deque()
        self._outstanding: dict[int, tuple[Operation, int]] = {}  # tag -> (operation, bytes outstanding)
        self._next_tag = 0
        self._next_op = 0

    @property
    def outstanding(self) -> int:
        return len(self._outstanding)

    def submit_write(self, dst: int, address: int, data: bytes, *, opcode: Opcode = Opcode.DMA_WR) -> Operation:
        op = self._new(opcode, dst, address, len(data), self.max_payload)
        op.data = data
        return op

    def submit_read(self, dst: int, address: int, length: int, *, opcode: Opcode = Opcode.DMA_RD) -> Operation:
        op = self._new(opcode, dst, address, length, self.max_read_request)
        op.result = bytearray(length)
        return op

    def _new(self, opcode: Opcode, dst: int, address: int, length: int, piece: int) -> Operation:
        self._next_op += 1
        op = Operation(self._next_op, opcode, dst, address, length, remaining=length)
        op.pending.extend(split_at_boundaries(address, length, piece))
        self._waiting.append(op)
        return op

    def next_requests(self) -> list[Message]:
        """Requests that may be sent now: as many as free tags allow, oldest operation first."""
        out: list[Message] = []
        while self._waiting and len(self._outstanding) < self.tags:
            op = self._waiting[0]
            address, length = op.pending.popleft()
            if not op.pending:
                self._waiting.popleft()
            tag = self._allocate_tag()
            self._outstanding[tag] = (op, length)
            payload = b""
            if OPCODES[op.opcode].has_payload and op.data is not None:
                start = address - op.address
                payload = op.data[start:start + length]
            out.append(Message(op.opcode, self.node_id, op.dst, tag=tag, length=length, address=address,
                               payload=payload))
        return out

    def _allocate_tag(self) -> int:
        while self._next_tag in self._outstanding:
            self._next_tag = (self._next_tag + 1) % self.tags
        tag = self._next_tag
        self._next_tag = (self._next_tag + 1) % self.tags
        return tag

    def receive_completion(self, cpl: Message) -> list[OperationCompleted | OperationFailed]:
        """Account for one completion; return what finished because of it."""
        entry = self._outstanding.get(cpl.tag)
        if entry is None or cpl.dst != self.node_id:
            raise RemoteProtocolError(f"unexpected completion: tag {cpl.tag} from {cpl.src} is not outstanding",
                                      code=Status.UR)
        op, outstanding = entry
        status = Status(cpl.aux) if cpl.opcode in (Opcode.CPL, Opcode.CPL_D) else Status.SC
        failed_before = op.status not in (None, Status.SC)
        if status is not Status.SC or cpl.ep:
            del self._outstanding[cpl.tag]  # a non-successful completion ends its request
            if failed_before:
                return []
            op.status = status if status is not Status.SC else Status.CA
            self._cancel_pending(op)
            return [OperationFailed(op, op.status, "poisoned data" if cpl.ep else f"completion status {status.name}")]
        completed = self._account(op, cpl)
        outstanding -= completed
        if outstanding <= 0:
            del self._outstanding[cpl.tag]
        else:
            self._outstanding[cpl.tag] = (op, outstanding)
        if failed_before:
            return []
        op.remaining -= completed
        if op.remaining == 0:
            op.status = Status.SC
            return [OperationCompleted(op)]
        return []

    def _account(self, op: Operation, cpl: Message) -> int:
        """Store what a successful completion carries; return the bytes it completes."""
        if op.result is None:
            return cpl.length
        start = cpl.address - op.address
        if start < 0 or start + len(cpl.payload) > op.length:
            raise RemoteProtocolError(f"completion for tag {cpl.tag} carries bytes outside the request",
                                      code=Status.CA)
        op.result[start:start + len(cpl.payload)] = cpl.payload
        return len(cpl.payload)

    def _cancel_pending(self, op: Operation) -> None:
        op.pending.clear()
        if op in self._waiting:
            self._waiting.remove(op)
