"""What every port is, whatever carries it: the one interface cards and switches attach to.

A node (a card, a switch, a NIC) attaches to ports without knowing what runs underneath: a
:class:`~oisa.sim.wire.LinkPort` (the OISA link layer over real flits) or a
:class:`~oisa.sim.frames.FramePort` (whole messages sized by their framing). The node is the
port's :class:`PortOwner`: the port hands it what arrives and tells it when a message it was
given has been committed to the wire (so a switch can free the ingress buffer it came from).
This module must not know which nodes exist or how they route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from oisa.wire.oisa import Message

__all__ = ["Port", "PortOwner", "Unattached"]


class PortOwner(Protocol):
    """A node that receives from ports.

    ``forwards`` says it passes messages on (a switch or NIC: a frame port hands it a message as
    soon as it could start forwarding, not at its tail); ``cut_through`` that it may start once
    the head is in rather than the whole first frame.
    """

    forwards: bool
    cut_through: bool

    def receive(self, port: Port, message: Message, head_ps: int, tail_ps: int) -> None:
        """``message`` arrived on ``port``: its head was in at ``head_ps`` and its last bit is
        (or will be) in at ``tail_ps``. A frame port hands a forwarding owner the message at its
        head (now); a link port hands over whole messages at their tail (now), saying when the
        flit that began them came in, so that a cut-through switch can forward from then. The
        owner calls ``port.release(message)`` when done."""

    def committed(self, message: Message) -> None:
        """A message this owner sent has been committed to the wire (its buffer may go)."""


class Port(Protocol):
    """One end of a link, as a node sees it."""

    name: str

    @property
    def rate_bps(self) -> int:
        """Data bits per second its wire carries."""

    def attach(self, owner: PortOwner) -> None:
        """Deliver to ``owner`` from now on."""

    def start(self) -> None:
        """The physical link is up: start whatever runs on it (link-layer initialisation)."""

    def when_up(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once this end can carry traffic (at once where nothing needs
        initialising; after link-layer initialisation where it runs)."""

    def send(self, message: Message, tail_ready_ps: int | None = None) -> None:
        """Transmit ``message`` after whatever is queued; a forwarding node passes
        ``tail_ready_ps``, when the tail of a message it cuts through is still arriving."""

    def release(self, message: Message) -> None:
        """The owner is done with a message this port delivered (credits may return)."""

    def queue_delay(self) -> int:
        """How long a message sent now waits before its first bit leaves (ps)."""

    def wire_totals(self) -> tuple[int, int]:
        """Frames and bytes this end has put on its wire so far."""

    def link_stats(self) -> dict[str, int]:
        """The link layer's counters at this end (replays, NAKs...); empty without one."""

    def fault_stats(self) -> dict[str, int]:
        """What fault injection did on this end's wire; empty without faults."""


class Unattached:
    """The owner of a port no node has attached to yet: anything arriving is a wiring bug."""

    forwards = False
    cut_through = False

    def __init__(self, name: str) -> None:
        self.name = name

    def receive(self, port: Port, message: Message, head_ps: int, tail_ps: int) -> None:
        raise RuntimeError(f"{self.name} received a message before anything was attached to it")

    def committed(self, message: Message) -> None:
        return None
