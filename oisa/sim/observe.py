"""Observers: what captures and timelines see of a run, and nothing when there are none.

The emulation calls the methods of :class:`Observer` at the points worth seeing: a frame put on
a wire, a link end's credits and replay buffer after they change, a message forwarded by a
switch or NIC, a native frame crossing a card's adapter, a DMA transfer done. Every call site
checks ``kernel.observer`` first, so a run without observers pays one attribute test per
event. :class:`Observers` fans calls out to several. A workload may also show its own
operations as spans (an execution graph's nodes on their ranks), after the run, from times any
engine gives: an observer that shows such spans says so with ``draws_spans``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["Observer", "Observers"]


class Observer:
    """Override what you need; every method does nothing by default."""

    draws_spans = False
    """True for an observer that shows :meth:`span` calls: a workload draws its operations only
    for one, and a run whose observers all draw spans (and see nothing else) needs no frames."""

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

    def ethernet_queue(self, link: str, time_ps: int, queued_bytes: int, paused: int) -> None:
        """The egress queue of Ethernet link ``link`` holds ``queued_bytes`` and ``paused`` of its
        priorities are paused by PFC, after a change (:mod:`oisa.sim.ethernet`)."""

    def dropped(self, node: str, time_ps: int, message: Any) -> None:
        """A switch dropped ``message``: its buffer (or the queue's share of it) was full."""

    def native(self, card: str, native: str, time_ps: int, outbound: bool, frame: bytes) -> None:
        """A native frame crossed ``card``'s adapter (``native`` is its family: pcie, cxl, vendor)."""

    def transfer(self, card: str, transfer: Any) -> None:
        """A DMA transfer of ``card`` finished (it carries its submit and finish times)."""

    def span(self, owner: str, lane: str, start_ps: int, end_ps: int, name: str,
             args: Iterable[tuple[str, int]] = ()) -> None:
        """A workload's own operation ``name`` on ``lane`` of ``owner`` (a rank, say), from
        ``start_ps`` to ``end_ps``; slices of one lane come in order of their start."""

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

    def ethernet_queue(self, *args: Any) -> None:
        for observer in self.observers:
            observer.ethernet_queue(*args)

    def dropped(self, *args: Any) -> None:
        for observer in self.observers:
            observer.dropped(*args)

    def native(self, *args: Any) -> None:
        for observer in self.observers:
            observer.native(*args)

    def transfer(self, *args: Any) -> None:
        for observer in self.observers:
            observer.transfer(*args)

    def span(self, *args: Any) -> None:
        for observer in self.observers:
            if observer.draws_spans:
                observer.span(*args)

    def close(self) -> None:
        for observer in self.observers:
            observer.close()
