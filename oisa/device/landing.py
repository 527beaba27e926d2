"""Watches over ranges of a card's memory that fire once peers' writes have filled them.

A kernel on a real GPU learns that a peer's data has arrived by polling a flag the peer
writes after the data (or flags inside the data, as NCCL's low-latency protocol does). The
emulation gives workloads the same knowledge without modelling the polling: a watch counts the
bytes that arriving write requests put into its range and is set when the range is full.

Bytes may land before anyone watches their range (a fast peer runs ahead of a card still
computing); they are kept, as merged intervals, and count towards the first watch over them,
as a flag already written is seen by the first poll. A watch counts bytes, so each byte of a
watched range must be written once (what every workload here does: one writer per range).

:class:`RangeWatches` does the counting and calls back when a range is full; it knows no
runtime, so the flow engine counts landings with it too. :class:`LandingWatches` is a card's,
and sets a kernel :class:`~oisa.sim.Signal` instead.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

from oisa.errors import UsageError
from oisa.sim import Kernel, Signal

__all__ = ["LandingWatches", "RangeWatches"]


@dataclass(slots=True)
class _Watch:
    start: int
    end: int
    missing: int  # bytes not yet written
    full: Callable[[], None]


class RangeWatches:
    """Open watches over one memory, kept sorted by start address; each calls back once full."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._watches: list[_Watch] = []  # parallel to _starts
        self._early: list[tuple[int, int]] = []  # landed and not yet watched: sorted, disjoint [start, end)

    def add(self, address: int, size: int, name: str, full: Callable[[], None]) -> None:
        """Call ``full()`` once ``[address, address + size)`` has been written (at once if it
        already has); ``name`` says what watches, in the error an overlap raises."""
        if size <= 0:
            full()
            return
        index = bisect.bisect_right(self._starts, address)
        before = self._watches[index - 1] if index else None
        after = self._watches[index] if index < len(self._watches) else None
        if (before is not None and before.end > address) or (after is not None and after.start < address + size):
            raise UsageError(f"{name}: the range overlaps one already watched")
        missing = size - self._claim_early(address, address + size)
        if missing <= 0:
            full()
            return
        self._starts.insert(index, address)
        self._watches.insert(index, _Watch(address, address + size, missing, full))

    def landed(self, address: int, size: int) -> None:
        """``size`` bytes were written at ``address``; count them towards the watches they fall in."""
        end = address + size
        cursor = address  # bytes before it are accounted for
        index = max(0, bisect.bisect_right(self._starts, address) - 1)
        while index < len(self._watches) and self._watches[index].start < end:
            watch = self._watches[index]
            overlap = min(end, watch.end) - max(address, watch.start)
            if overlap <= 0:
                index += 1
                continue
            self._keep_early(cursor, watch.start)
            cursor = min(end, watch.end)
            watch.missing -= overlap
            if watch.missing <= 0:
                del self._starts[index], self._watches[index]
                watch.full()
            else:
                index += 1
        self._keep_early(cursor, end)

    def _keep_early(self, start: int, end: int) -> None:
        """Remember that ``[start, end)`` landed with no watch over it."""
        if start >= end:
            return
        index = bisect.bisect_left(self._early, (start, start))
        if index and self._early[index - 1][1] >= start:
            index -= 1
        merged_start, merged_end, last = start, end, index
        while last < len(self._early) and self._early[last][0] <= merged_end:
            merged_start = min(merged_start, self._early[last][0])
            merged_end = max(merged_end, self._early[last][1])
            last += 1
        self._early[index:last] = [(merged_start, merged_end)]

    def _claim_early(self, start: int, end: int) -> int:
        """Take what landed early inside ``[start, end)`` off the books; return how many bytes."""
        claimed, kept = 0, []
        index = bisect.bisect_left(self._early, (start, start))
        if index and self._early[index - 1][1] > start:
            index -= 1
        last = index
        while last < len(self._early) and self._early[last][0] < end:
            low, high = self._early[last]
            claimed += min(high, end) - max(low, start)
            if low < start:
                kept.append((low, start))
            if high > end:
                kept.append((end, high))
            last += 1
        self._early[index:last] = kept
        return claimed


class LandingWatches:
    """The open watches of one card: each a signal set once its range is full."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._ranges = RangeWatches()

    def add(self, address: int, size: int, name: str) -> Signal[None]:
        signal: Signal[None] = Signal(self.kernel, name)
        self._ranges.add(address, size, name, lambda: signal.set(None))
        return signal

    def landed(self, address: int, size: int) -> None:
        """``size`` bytes were written at ``address``; count them towards the watches they fall in."""
        self._ranges.landed(address, size)
