"""A card's memory bandwidth, shared by everything that touches its memory.

What it owns: when the card's memory is done with what was asked of it. Everything goes through
one queue, first come first served, at the profile's ``memory.bandwidth`` (a sourced figure:
HBM's peak): the bytes of arriving writes that land, of reads the card answers, of read data
that lands for the card's own reads, of the local data its copies send (read as they leave),
and of its reductions and local copies. A card's links together carry a fraction of its
memory's rate (an H100-like card's eight 400 Gb/s ports, both ways, are a quarter of its
26.8 Tb/s), so the memory seldom limits a copy alone; what it does is make these share: a
reduction waits for the landing data queued before it, a load waits behind the writes that
stream into the same memory, a card that serves spilled state to peers slows its own work.

What it must not know: the engine. A data-mode message is one request; a timing-mode segment
stands for ``count`` of them that arrived back to back, and its memory work is what they would
have asked one by one: the memory starts on the first as it arrives, and the last is done one
message's memory time after the segment's tail, or later if the memory was busy.
"""

from __future__ import annotations

from oisa.units import serialisation_ps

__all__ = ["MemoryBandwidth"]


class MemoryBandwidth:
    """The queue in front of one card's memory, at ``rate_bps`` (bits per second)."""

    def __init__(self, rate_bps: int) -> None:
        self.rate_bps = rate_bps
        self.free_at = 0  # when the memory is done with the work queued on it (ps)
        self.last_done = 0  # when the last message handed over is done: what the next waits for, in order
        self.busy_ps = 0  # how long it has been busy in all

    def book(self, now: int, size: int) -> int:
        """Queue ``size`` bytes behind what is queued; return when they are done (ps)."""
        took = serialisation_ps(size, self.rate_bps)
        self.free_at = max(now, self.free_at) + took
        self.busy_ps += took
        self.last_done = max(self.last_done, self.free_at)
        return self.free_at

    def arrival(self, now: int, per_message: int, count: int, span_ps: int) -> int:
        """When the memory is done with ``count`` messages of ``per_message`` bytes each whose
        last came in at ``now``, the first ``span_ps`` earlier (ps), and with everything that
        arrived before them (the memory keeps order: a read after a write sees the write). A
        message that asks nothing of the memory is done once what came before it is.

        The memory works on a segment's messages as they come in, so its work may lie in the
        past, wherever the memory was free then: segments that came in side by side over
        several paths share the time they took to arrive, as their messages would have."""
        if per_message == 0:
            return max(now, self.last_done)
        each = serialisation_ps(per_message, self.rate_bps)
        self.free_at = max(now - span_ps, self.free_at) + count * each
        self.busy_ps += count * each
        self.last_done = max(self.free_at, now + each, self.last_done)
        return self.last_done
