"""Observers: what captures and timelines see of a run, and nothing when there are none.

The emulation calls the methods of :class:`Observer` at the points worth seeing: a frame put on
a wire, a link end's credits and replay buffer after they change, a message forwarded by a
switch or NIC, a native frame crossing a card's adapter, a DMA transfer done. Every call site
checks ``kernel.observer`` first, so a run without observers pays one attribute test per
event. :class:`Observers` fans calls out to several.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["Observer", "Observers"]


class Observer:
    """Override what you need; every method does nothing by default."""

    def frame(self, link: str, start_ps: int, end_ps: int, arrival_ps: int, frame: bytes) -> None:
        """A frame went on wire ``link`` (``"a->b"``) from ``start_ps`` to ``end_ps``; it arrives
        (if it arrives: faults may drop it) at ``arrival_ps``."""

    def message(self, link: str, start_ps: int, end_ps: int, arrival_ps: int, message: Any, frames: int,
                wire_bytes: int) -> None:
        """A whole message went on frame link ``link`` (PCIe, Ethernet, or any link in timing
        mode) as ``frames`` frames of ``wire_bytes`` in all; its tail arrives at ``arrival_ps``."""

    def link_state(self, link: str, time_ps: int, credits: dict[str, float], replay_occupancy: int) -> None:
        """Credits the sending end of ``link`` may still use, by ``"vc0.posted.hdr"``-style name, and
        the flits in its replay buffer, after a change."""

    def forwarded(self, node: str, time_ps: int, message: Any) -> None:
        """A switch or NIC passed ``message`` on."""

    def native(self, card: str, native: str, time_ps: int, outbound: bool, frame: bytes) -> None:
        """A native frame crossed ``card``'s adapter (``native`` is its family: pcie, cxl, vendor)."""

    def transfer(self, card: str, transfer: Any) -> None:
        """A DMA transfer of ``card`` finished (it carries its submit and finish times)."""

    def close(self) -> None:
        """The run is over: write out what was gathered."""


class Observers(Observer):
    """Several observers as one."""

    def __init__(self, observers: Sequence[Observer]) -> None:
        self.observers = list(observers)

    def frame(self, *args: Any) -> None:
        for observer in self.observers:
            observer.frame(*args)

    def message(self, *args: Any) -> None:
        for observer in self.observers:
            observer.message(*args)

    def link_state(self, *args: Any) -> None:
        for observer in self.observers:
            observer.link_state(*args)

    def forwarded(self, *args: Any) -> None:
        for observer in self.observers:
            observer.forwarded(*args)

    def native(self, *args: Any) -> None:
        for observer in self.observers:
            observer.native(*args)

    def transfer(self, *args: Any) -> None:
        for observer in self.observers:
            observer.transfer(*args)

    def close(self) -> None:
        for observer in self.observers:
            observer.close()
