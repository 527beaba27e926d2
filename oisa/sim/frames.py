"""Frame ports: links that carry whole messages, sized by their framing, without a link layer.

PCIe and Ethernet links of the switched baseline, and every link in timing mode, use these:
a message (or a timing-mode segment) is serialised as the frames its framing function says it
takes, back to back after whatever is already on the wire, and arrives ``latency`` after its
last bit left. The link layer's replay and credits are not modelled here (the queue in front
of a frame port is unbounded: a lossless fabric with deep buffers); serialisation, latency and
queueing are. Ethernet links of a switch with a buffer use the subclass
:class:`~oisa.sim.ethernet.EthernetPort`, whose queues PFC can pause; PCIe links the subclass
:class:`~oisa.sim.credited.CreditedFramePort`, which sends only against its receiver's credits.

Forwarding: a node that forwards (a switch, a NIC) is handed a message when it can start
forwarding it, with the time its tail will arrive; the next hop then cannot finish before that
tail plus its own latency. A cut-through node can start once the head of the first frame is in
(``head_bytes``); a store-and-forward node once the whole first frame is in. Frames of a
timing-mode segment thus pipeline through store-and-forward hops frame by frame, as packets do.
An endpoint gets the message at its tail.
"""

from __future__ import annotations

from collections.abc import Callable

from oisa.sim._kernel import Kernel
from oisa.sim.ports import PortOwner, Unattached
from oisa.units import serialisation_ps
from oisa.wire.oisa import Message

__all__ = ["FramePort", "Framing", "connect_frames"]

Framing = Callable[[Message], tuple[int, int]]
"""(frames, wire bytes) a message takes on this link."""


class FramePort:
    """One end of a frame link: it transmits towards its peer and receives from it."""

    def __init__(self, kernel: Kernel, *, rate_bps: int, latency_ps: int, framing: Framing, head_bytes: int,
                 name: str) -> None:
        self.kernel = kernel
        self.rate_bps = rate_bps
        self.latency_ps = latency_ps
        self.framing = framing
        self.head_bytes = head_bytes  # what must arrive before a cut-through receiver can forward
        self.name = name
        self.peer: FramePort | None = None
        self.owner: PortOwner = Unattached(name)
        self.busy_until = 0
        # what sees arrivals before the owner does, if anything (a RoCE NIC's receive side)
        self.intake: Callable[[FramePort, Message, int, int], None] | None = None
        self.frames = 0
        self.bytes = 0
        # tell the owner a message is committed when its first bit leaves rather than when it is
        # handed over (a node whose ingress has credits frees that buffer only then)
        self.commit_at_start = False

    def send(self, message: Message, tail_ready_ps: int | None = None) -> None:
        """Transmit ``message`` after whatever is queued; it cannot end before ``tail_ready_ps``
        (when a cut-through node forwards a message whose tail is still on its way in)."""
        peer = self.peer
        if peer is None:
            raise RuntimeError(f"frame port {self.name} is not connected")
        frames, size = self.framing(message)
        now = self.kernel.now
        start = max(now, self.busy_until)
        end = start + serialisation_ps(size, self.rate_bps)
        if tail_ready_ps is not None:
            end = max(end, tail_ready_ps)
        self.busy_until = end
        self.frames += frames
        self.bytes += size
        if self.commit_at_start and start > now:
            self.kernel.call_at(start, self._committed, message)
        else:
            self._committed(message)
        tail = end + self.latency_ps
        if self.kernel.observer is not None:
            self.kernel.observer.message(self.name, start, end, tail, message, frames, size)
        receiver = peer.owner
        receive = peer.intake or receiver.receive
        if receiver.forwards:
            first_frame = -(-size // frames)
            head_bytes = min(first_frame, self.head_bytes) if receiver.cut_through else first_frame
            head = start + serialisation_ps(head_bytes, self.rate_bps) + self.latency_ps
            self.kernel.call_at(head, receive, peer, message, head, tail)
        else:
            self.kernel.call_at(tail, receive, peer, message, tail, tail)

    def _committed(self, message: Message) -> None:
        self.owner.committed(message)

    def queue_delay(self) -> int:
        """How long a message sent now waits before its first bit leaves (ps)."""
        return max(0, self.busy_until - self.kernel.now)

    def release(self, message: Message) -> None:
        """Frame links have no credits to return."""

    def attach(self, owner: PortOwner) -> None:
        self.owner = owner

    def start(self) -> None:
        """Nothing runs on a frame link: it carries from the start."""

    def when_up(self, callback: Callable[[], None]) -> None:
        self.kernel.call_at(self.kernel.now, callback)

    def wire_totals(self) -> tuple[int, int]:
        return self.frames, self.bytes

    def link_stats(self) -> dict[str, int]:
        return {}

    def fault_stats(self) -> dict[str, int]:
        return {}


def connect_frames(a: FramePort, b: FramePort) -> None:
    a.peer, b.peer = b, a
