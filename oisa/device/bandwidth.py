"""A card's memory bandwidth, shared by everything that touches its memory.

What it owns: when the card's memory is done with what was asked of it, at the profile's
``memory.bandwidth`` (a sourced figure: HBM's peak). The work is the bytes of arriving writes
that land, of read data that lands for the card's own reads, of the data the card sends (a
copy's local data and the answers to reads it serves, read as they leave), and of its
reductions and local copies. A card's links together carry a fraction of its memory's rate
(an H100-like card's eight 400 Gb/s ports, both ways, are a quarter of its 26.8 Tb/s), so the
memory seldom limits a copy alone; what it does is make these share: a reduction waits for the
landing data queued before it, a load waits behind the writes that stream into the same
memory, a card that serves spilled state to peers slows its own work.

The memory is a calendar of the times it is busy, not one queue: each piece of work starts
when it is needed (data that lands as it arrives, data that leaves as its port takes it, a
reduction when it is asked for) and fills the first idle time from then on. A queue served
in the order work is booked let a peer's burst of reads (256 tags of 4 KiB: a mebibyte,
2 us of a 512 GB/s memory) hold up data landing from another link the moment the requests
came in, although the answers could only leave at their link's pace and a memory controller
interleaves its channels; data landing beside such a burst was 2 us late in both frame
engines where the flow engine, which shares rates, had it on time.

What it must not know: the engine. A data-mode message is one piece of work; a timing-mode
segment stands for ``count`` of them back to back, and its work is what they would have
asked one by one: the memory starts on the first as it arrives, and the last is done one
message's memory time after the segment's tail, or later if the memory was busy.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from oisa.units import serialisation_ps

__all__ = ["MemoryBandwidth"]

# How far back from now work may still be placed (ps): a segment's messages arrived over its wire
# time, microseconds at most, so busy times that ended longer ago than this before the present are
# forgotten once the calendar grows.
_HORIZON_PS = 1_000_000_000
_PRUNE_AT = 256  # busy spans kept before the old ones are dropped


class MemoryBandwidth:
    """The busy times of one card's memory, at ``rate_bps`` (bits per second)."""

    def __init__(self, rate_bps: int) -> None:
        self.rate_bps = rate_bps
        self._starts: list[int] = []  # disjoint busy spans, in order, never touching (ps)
        self._ends: list[int] = []
        self.last_done = 0  # when the last message that arrived is done: what the next waits for, in order

    def book(self, now: int, size: int, needed_ps: int | None = None) -> int:
        """``size`` bytes of work needed from ``needed_ps`` (default: ``now``, the present; later
        for data that leaves once its port is free); return when they are done (ps)."""
        start = now if needed_ps is None else needed_ps
        return self._fill(now, start, serialisation_ps(size, self.rate_bps))

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
        done = self._fill(now, now - span_ps, count * each)
        self.last_done = max(done, now + each, self.last_done)
        return self.last_done

    def _fill(self, now: int, start: int, work: int) -> int:
        """Take ``work`` ps of the memory's idle time from ``start`` on (``now`` is the present);
        return when it ends."""
        starts, ends = self._starts, self._ends
        if work <= 0:
            return start
        if len(starts) > _PRUNE_AT:
            old = bisect_left(ends, now - _HORIZON_PS)
            del starts[:old], ends[:old]
        index = bisect_right(ends, start)  # the first span that ends after start
        at = start
        if index < len(starts) and starts[index] <= at:
            at = ends[index]  # start falls in a busy span: the work begins where it ends
        first = at
        remaining = work
        while remaining > 0:
            if index < len(starts) and starts[index] <= at:
                at = ends[index]
                index += 1
                continue
            gap = starts[index] - at if index < len(starts) else remaining
            taken = min(remaining, gap)
            at += taken
            remaining -= taken
        # the spans from ``first`` to ``at`` are now one busy span, joined to any that touch it
        low, high = bisect_left(ends, first), bisect_right(starts, at)
        span_start = min(first, starts[low]) if low < high else first
        span_end = max(at, ends[high - 1]) if low < high else at
        starts[low:high], ends[low:high] = [span_start], [span_end]
        return at
