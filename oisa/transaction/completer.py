"""The completer side of the transaction layer, sans-IO: executes requests against a memory and
produces their completions.

Read data returns in completions of at most ``max_payload`` bytes whose boundaries fall on
multiples of ``max_payload`` (a multiple of the read completion boundary), lowest address first,
as PCIe requires of split completions.
"""

from __future__ import annotations

from typing import Protocol

from oisa.transaction.requester import split_at_boundaries
from oisa.wire.message import Message
from oisa.wire.opcodes import OPCODES, Opcode, Status

__all__ = ["Completer", "Memory"]


class Memory(Protocol):
    """What a completer needs of the memory behind it."""

    def contains(self, address: int, length: int) -> bool: ...

    def read(self, address: int, length: int) -> bytes: ...

    def write(self, address: int, data: bytes) -> None: ...


_WRITES = {Opcode.MEM_WR, Opcode.STORE, Opcode.DMA_WR}
_READS = {Opcode.MEM_RD, Opcode.LOAD, Opcode.DMA_RD}


class Completer:
    """Executes requests addressed to ``node_id`` against ``memory``."""

    def __init__(self, node_id: int, memory: Memory, *, max_payload: int) -> None:
        self.node_id = node_id
        self.memory = memory
        self.max_payload = max_payload
        self.unsupported = 0  # requests answered with UR (or dropped, if posted)

    def handle(self, request: Message) -> list[Message]:
        """Carry out one request; return its completions (none for posted requests)."""
        info = OPCODES[request.opcode]
        if request.opcode in _WRITES and self.memory.contains(request.address, request.length):
            self.memory.write(request.address, request.payload)
            return [self._completion(request, Opcode.CPL, request.length)] if info.expects_completion else []
        if request.opcode in _READS and self.memory.contains(request.address, request.length):
            data = self.memory.read(request.address, request.length)
            return [
                self._completion(request, Opcode.CPL_D, length, address=address,
                                 payload=data[address - request.address: address - request.address + length])
                for address, length in split_at_boundaries(request.address, request.length, self.max_payload)
            ]
        self.unsupported += 1
        return [self._completion(request, Opcode.CPL, 0, status=Status.UR)] if info.expects_completion else []

    def _completion(self, request: Message, opcode: Opcode, length: int, *, address: int | None = None,
                    payload: bytes = b"", status: Status = Status.SC) -> Message:
        return Message(opcode, self.node_id, request.src, tag=request.tag, length=length,
                       address=request.address if address is None else address, payload=payload,
                       tc=request.tc, aux=int(status), load=request.load, hops=request.hops)
