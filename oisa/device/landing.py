"""Watches over ranges of a card's memory that fire once peers' writes have filled them.

A kernel on a real GPU learns that a peer's data has arrived by polling a flag the peer
writes after the data (or flags inside the data, as NCCL's low-latency protocol does). The
emulation gives workloads the same knowledge without modelling the polling: a watch counts the
bytes that arriving write requests put into its range and is set when the range is full.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from oisa.errors import UsageError
from oisa.sim import Kernel, Signal

__all__ = ["LandingWatches"]


@dataclass(slots=True)
class _Watch:
    start: int
    end: int
    missing: int  # bytes not yet written
    signal: Signal[None]


class LandingWatches:
    """The open watches of one card, kept sorted by start address."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._starts: list[int] = []
        self._watches: list[_Watch] = []  # parallel to _starts

    def add(self, address: int, size: int, name: str) -> Signal[None]:
        signal: Signal[None] = Signal(self.kernel, name)
        if size <= 0:
            signal.set(None)
            return signal
        index = bisect.bisect_right(self._starts, address)
        before = self._watches[index - 1] if index else None
        after = self._watches[index] if index < len(self._watches) else None
        if (before is not None and before.end > address) or (after is not None and after.start < address + size):
            raise UsageError(f"{name}: the range overlaps one already watched")
        self._starts.insert(index, address)
        self._watches.insert(index, _Watch(address, address + size, size, signal))
        return signal

    def landed(self, address: int, size: int) -> None:
        """``size`` bytes were written at ``address``; count them towards the watches they fall in."""
        end = address + size
        index = max(0, bisect.bisect_right(self._starts, address) - 1)
        while index < len(self._watches) and self._watches[index].start < end:
            watch = self._watches[index]
            overlap = min(end, watch.end) - max(address, watch.start)
            if overlap <= 0:
                index += 1
                continue
            watch.missing -= overlap
            if watch.missing <= 0:
                del self._starts[index], self._watches[index]
                watch.signal.set(None)
            else:
                index += 1
