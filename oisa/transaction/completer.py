"""The completer side of the transaction layer, sans-IO: executes requests against a memory and
produces their completions.

* Reads return in completions of at most ``max_payload`` bytes whose boundaries fall on
  multiples of it; ``max_payload`` is a multiple of the read completion boundary, so every
  split is RCB-aligned, lowest address first, as PCIe requires of split completions.
* Writes land in memory; non-posted ones (DMA_WR) are answered by one CPL with the byte count.
* AtomicOps run at the target's memory, on little-endian integers of 4 or 8 bytes (as GPUs
  store them): FetchAdd and Swap return the old value, CAS (compare then swap value in the
  payload) writes only if memory held the compare value, and returns the old value either way.
* CXL.mem requests act on 64-byte lines and are answered as CXL does: DRS MemData for a read,
  NDR Cmp for a write, NDR Cmp-E for an invalidate (the line is now held exclusively).
* A request outside the memory, or of a kind a memory does not serve, is answered with
  Unsupported Request; a posted one is dropped and counted. CXL 2.0 has no such status: a
  read of memory that is not there returns poisoned data, and a write or an invalidate is
  acknowledged (Cmp) and dropped, the way a CXL 2.0 device reports it through its error log.
* A request the completer's owner refuses for a reason of its own (an access control check: a
  tenant's memory windows) is answered the same way with the status the owner gives, Completer
  Abort for a policy refusal (:meth:`Completer.refuse`); :func:`refusal` builds such an answer
  for any responder, a switch refusing on the completer's behalf included. Nothing is read or
  written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from oisa.transaction.requester import split_at_boundaries
from oisa.wire.oisa import OPCODES, CxlDrsOp, CxlNdrOp, Message, Opcode, Status

__all__ = ["Completer", "Memory", "refusal"]


class Memory(Protocol):
    """What a completer needs of the memory behind it."""

    def contains(self, address: int, length: int) -> bool: ...

    def read(self, address: int, length: int) -> bytes: ...

    def write(self, address: int, data: bytes) -> None: ...


class Completer:
    """Executes requests addressed to ``node_id`` against ``memory``."""

    def __init__(self, node_id: int, memory: Memory, *, max_payload: int, rcb: int = 64) -> None:
        if max_payload % rcb:
            raise ValueError(f"max payload {max_payload} is not a multiple of the read completion boundary {rcb}")
        self.node_id = node_id
        self.memory = memory
        self.max_payload = max_payload
        self.rcb = rcb
        self.unsupported = 0  # requests answered with UR (or dropped, if posted)
        self.refused = 0  # requests its owner refused (refuse), answered with the status given
        self._handlers: dict[Opcode, Callable[[Message], list[Message]]] = {
            Opcode.MEM_WR: self._write, Opcode.STORE: self._write, Opcode.DMA_WR: self._write,
            Opcode.MEM_RD: self._read, Opcode.LOAD: self._read, Opcode.DMA_RD: self._read,
            Opcode.FETCH_ADD: self._atomic, Opcode.SWAP: self._atomic, Opcode.CAS: self._atomic,
            Opcode.CXL_MEM_RD: self._cxl_read, Opcode.CXL_MEM_WR: self._cxl_write,
            Opcode.CXL_MEM_INV: self._cxl_invalidate,
        }

    def handle(self, request: Message) -> list[Message]:
        """Carry out one request; return its completions (none for posted requests)."""
        handler = self._handlers.get(request.opcode)
        if handler is None or not self.memory.contains(request.address, request.length):
            return self._unsupported(request)
        return handler(request)

    def refuse(self, request: Message, status: Status) -> list[Message]:
        """Answer ``request`` as refused with ``status`` (UR or CA) without touching memory."""
        self.refused += 1
        return refusal(request, status, responder=self.node_id)

    def _unsupported(self, request: Message) -> list[Message]:
        self.unsupported += 1
        return refusal(request, Status.UR, responder=self.node_id)

    def _write(self, request: Message) -> list[Message]:
        self.memory.write(request.address, request.payload)
        if not OPCODES[request.opcode].expects_completion:
            return []
        return [self._reply(request, Opcode.CPL, request.length)]

    def _read(self, request: Message) -> list[Message]:
        data = self.memory.read(request.address, request.length)
        return [
            self._reply(request, Opcode.CPL_D, length, address=address,
                        payload=data[address - request.address: address - request.address + length])
            for address, length in split_at_boundaries(request.address, request.length, self.max_payload)
        ]

    def _atomic(self, request: Message) -> list[Message]:
        size = request.length // 2 if request.opcode is Opcode.CAS else request.length
        if request.address % size:
            return self._unsupported(request)
        old = self.memory.read(request.address, size)
        operand = request.payload[:size]
        if request.opcode is Opcode.FETCH_ADD:
            total = (int.from_bytes(old, "little") + int.from_bytes(operand, "little")) % (1 << (8 * size))
            self.memory.write(request.address, total.to_bytes(size, "little"))
        elif request.opcode is Opcode.SWAP:
            self.memory.write(request.address, operand)
        elif old == operand:  # CAS: compare value first, swap value second
            self.memory.write(request.address, request.payload[size:])
        return [self._reply(request, Opcode.CPL_D, size, payload=old)]

    def _cxl_read(self, request: Message) -> list[Message]:
        data = self.memory.read(request.address, 64)
        return [self._reply(request, Opcode.CXL_DRS, 64, payload=data, aux=CxlDrsOp.MEM_DATA)]

    def _cxl_write(self, request: Message) -> list[Message]:
        self.memory.write(request.address, request.payload)
        return [self._reply(request, Opcode.CXL_NDR, 0, aux=CxlNdrOp.CMP)]

    def _cxl_invalidate(self, request: Message) -> list[Message]:
        return [self._reply(request, Opcode.CXL_NDR, 0, aux=CxlNdrOp.CMP_E)]

    def _reply(self, request: Message, opcode: Opcode, length: int, *, address: int | None = None,
               payload: bytes = b"", aux: int = Status.SC, ep: bool = False) -> Message:
        return _reply(request, self.node_id, opcode, length, address=address, payload=payload, aux=aux, ep=ep)


def refusal(request: Message, status: Status, *, responder: int) -> list[Message]:
    """What answers a refused ``request``: nothing if it is posted; a CPL with ``status`` if it
    is a PCIe-style request; for CXL.mem, which has no status field, poisoned data for a read
    and a plain Cmp for a write or an invalidate (the refusal is in the device's error log)."""
    if status is Status.SC:
        raise ValueError("a refusal carries a status other than successful completion")
    if not OPCODES[request.opcode].expects_completion:
        return []
    if request.opcode is Opcode.CXL_MEM_RD:
        return [_reply(request, responder, Opcode.CXL_DRS, 64, payload=bytes(64), aux=CxlDrsOp.MEM_DATA, ep=True)]
    if request.opcode in (Opcode.CXL_MEM_WR, Opcode.CXL_MEM_INV):
        return [_reply(request, responder, Opcode.CXL_NDR, 0, aux=CxlNdrOp.CMP)]
    return [_reply(request, responder, Opcode.CPL, 0, aux=status)]


def _reply(request: Message, responder: int, opcode: Opcode, length: int, *, address: int | None = None,
           payload: bytes = b"", aux: int = Status.SC, ep: bool = False) -> Message:
    return Message(opcode, responder, request.src, tag=request.tag, length=length,
                   address=request.address if address is None else address, payload=payload,
                   tc=request.tc, aux=int(aux), ep=ep, load=request.load, hops=request.hops)
