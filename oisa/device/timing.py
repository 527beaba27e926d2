"""Transfers in timing mode: segments of many messages, no bytes.

In timing mode a card moves a copy as segments (:class:`~oisa.wire.oisa.message.Message` with
``count`` > 1): each stands for ``count`` messages of the card's usual size that travel back to
back. The target answers a segment with one segment of completions, as many as it would send
for those messages one by one. The requester keeps at most as many segments in flight as its
tags would allow messages, so the window is the same as in data mode; only the number of
events shrinks. A copy is cut into at most :data:`MAX_SEGMENTS` segments of at least
:data:`SEGMENT_BYTES`: the cost of a copy stays bounded whatever its size, and the segments
still pipeline through store-and-forward hops frame by frame (:mod:`oisa.sim.frames`).
"""

from __future__ import annotations

from copy import copy
from dataclasses import dataclass, field

from oisa.wire.oisa import OPCODES, Message, Opcode

__all__ = ["MAX_SEGMENTS", "SEGMENT_BYTES", "TimingTransfer", "answer_segment", "answered_bytes", "split"]

SEGMENT_BYTES = 64 * 1024  # the least one segment moves (unless the copy is smaller)
MAX_SEGMENTS = 8  # the most segments one copy is cut into: larger copies get larger segments

_COMPLETIONS = {
    Opcode.DMA_WR: Opcode.CPL, Opcode.CXL_MEM_WR: Opcode.CXL_NDR,
    Opcode.DMA_RD: Opcode.CPL_D, Opcode.MEM_RD: Opcode.CPL_D, Opcode.LOAD: Opcode.CPL_D,
    Opcode.CXL_MEM_RD: Opcode.CXL_DRS,
}


def answer_segment(request: Message, node_id: int, max_payload: int) -> Message | None:
    """The completions a target sends for a segment of requests, as one segment (None if posted)."""
    if not OPCODES[request.opcode].expects_completion:
        return None
    opcode = _COMPLETIONS[Opcode(request.opcode)]
    if OPCODES[opcode].has_payload and opcode is not Opcode.CXL_DRS:
        per_request = -(-request.length // max_payload)
        return Message(opcode, node_id, request.src, tag=request.tag, length=min(request.length, max_payload),
                       count=request.count * per_request, tc=request.tc, load=request.load, hops=request.hops)
    length = request.length if opcode in (Opcode.CPL, Opcode.CXL_DRS) else 0  # an NDR answers one line
    return Message(opcode, node_id, request.src, tag=request.tag, length=length, count=request.count, tc=request.tc,
                   load=request.load, hops=request.hops)


@dataclass
class TimingTransfer:
    """One copy, cut into segments; ``next_segments`` hands out what the window allows."""

    opcode: Opcode
    src: int
    dst: int
    address: int
    size: int
    per_message: int
    window: int  # segments in flight at most
    ro: bool = False  # the requests carry relaxed ordering
    max_segments: int = MAX_SEGMENTS  # fewer where each segment is cut into parts, one per path
    segments: list[Message] = field(default_factory=list)
    segment_bytes: int = 0  # what a whole segment moves (set from the size)
    outstanding: dict[int, int] = field(default_factory=dict)  # tag -> bytes not yet answered
    next_index: int = 0

    def __post_init__(self) -> None:
        whole, rest = divmod(self.size, self.per_message)
        per_segment = max(1, SEGMENT_BYTES // self.per_message, -(-whole // self.max_segments))
        self.segment_bytes = per_segment * self.per_message
        address = self.address
        while whole:
            count = min(per_segment, whole)
            self.segments.append(Message(self.opcode, self.src, self.dst, length=self.per_message, address=address,
                                         count=count, ro=self.ro))
            address += count * self.per_message
            whole -= count
        if rest:
            self.segments.append(Message(self.opcode, self.src, self.dst, length=rest, address=address, ro=self.ro))

    @property
    def posted(self) -> bool:
        return not OPCODES[self.opcode].expects_completion

    @property
    def done(self) -> bool:
        return self.next_index == len(self.segments) and not self.outstanding

    def next_segments(self) -> list[Message]:
        """Segments the window lets go now; the caller gives each its tag, then calls
        :meth:`sent` for those that expect an answer."""
        out = []
        while self.next_index < len(self.segments) and (self.posted or len(self.outstanding) + len(out) < self.window):
            out.append(self.segments[self.next_index])
            self.next_index += 1
        return out

    def sent(self, segment: Message) -> None:
        self.outstanding[segment.tag] = segment.count * segment.length

    def answered(self, completion: Message) -> None:
        """Account for (part of) the answer to a segment; a segment sprayed over several
        paths is answered in parts."""
        left = self.outstanding[completion.tag] - answered_bytes(completion)
        if left > 0:
            self.outstanding[completion.tag] = left
        else:
            del self.outstanding[completion.tag]


def answered_bytes(completion: Message) -> int:
    """Request bytes a completion segment answers (a CXL NDR answers one 64-byte line)."""
    return completion.count * (completion.length or 64)


def split(segment: Message, parts: int) -> list[Message]:
    """``segment`` as up to ``parts`` segments of whole messages, for as many equal paths."""
    parts = min(parts, segment.count)
    base, extra = divmod(segment.count, parts)
    out, address = [], segment.address
    for index in range(parts):
        part = copy(segment)  # a shallow copy: dataclasses.replace costs five times as much here
        part.count = base + (index < extra)
        part.address = address
        out.append(part)
        address += part.count * segment.length
    return out
