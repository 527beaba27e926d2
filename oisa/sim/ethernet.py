"""Ethernet ports with real egress queues: per-priority FIFOs that PFC can pause, frame by frame.

A plain :class:`~oisa.sim.frames.FramePort` commits every message to its wire at once (the time it
will leave is computed arithmetically), which is right for an unbounded, lossless queue but
leaves nothing to pause. An :class:`EthernetPort` keeps what waits in a queue per priority (the
message's ``tc``) and puts the next message on the wire only when the previous one has left, so
that a PFC pause stops it between frames, as IEEE 802.1Qbb pauses a priority between packets.
Priorities are served strictly, highest first (CNPs and acknowledgements ride above data, as
RoCE deployments configure them); a paused priority is skipped.

Frame by frame: in timing mode a card's segment stands for many messages. An Ethernet port cuts
a segment into parts of at most one RDMA MTU of payload before it queues them, so that the unit a
switch buffers, marks, drops or pauses behind is one packet's worth of bytes (a part of several
small messages is the packets they make, back to back, no more than one MTU of payload).

This module owns the mechanics (queues, pause state, the counters of a port); the policy (when a
switch pauses its upstream, marks or drops) belongs to :mod:`oisa.fabric.roce`. A :class:`Gate`
may sit in front of the queue (a NIC's rate limiter and retransmission buffer), and an ``intake``
behind it (:class:`~oisa.sim.frames.FramePort`: a NIC's receive side, which consumes CNPs and
acknowledgements and checks sequence numbers before the node sees a message).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from copy import copy
from typing import Protocol

from oisa.sim._kernel import Kernel
from oisa.sim.frames import FramePort, Framing
from oisa.units import serialisation_ps
from oisa.wire.oisa import Message

__all__ = ["PAUSE_FRAME_BYTES", "PRIORITIES", "EthernetPort", "Gate", "split_to_mtu"]

PRIORITIES = 8  # IEEE 802.1Q priority code points; PFC pauses each on its own
PAUSE_FRAME_BYTES = 64 + 8 + 12  # a minimum MAC control frame with preamble and inter-frame gap (IEEE 802.1Qbb)


class Gate(Protocol):
    """What a NIC puts in front of its Ethernet queue (pacing, sequence numbers)."""

    def submit(self, message: Message, tail_ready_ps: int | None) -> None:
        """Take ``message``; hand it to the port's queue (``EthernetPort.enqueue``) when it may go."""


def split_to_mtu(message: Message, mtu: int) -> list[Message]:
    """``message`` (a timing-mode segment of ``count`` messages) as parts of at most one MTU of
    payload each (whole messages; one message per part where a message fills an MTU)."""
    per_part = max(1, mtu // max(1, message.length))
    if message.count <= per_part:
        return [message]
    parts, address, left = [], message.address, message.count
    while left:
        part = copy(message)
        part.count = min(per_part, left)
        part.address = address
        address += part.count * message.length
        left -= part.count
        parts.append(part)
    return parts


class EthernetPort(FramePort):
    """A frame port with an egress queue per priority that PFC can pause."""

    def __init__(self, kernel: Kernel, *, rate_bps: int, latency_ps: int, framing: Framing, head_bytes: int,
                 name: str, mtu: int) -> None:
        super().__init__(kernel, rate_bps=rate_bps, latency_ps=latency_ps, framing=framing, head_bytes=head_bytes,
                         name=name)
        self.mtu = mtu
        self.queues: list[deque[tuple[Message, int | None, int]]] = [deque() for _ in range(PRIORITIES)]
        self.paused = [False] * PRIORITIES
        self._paused_since = [0] * PRIORITIES
        self._wake_at: int | None = None
        self.gate: Gate | None = None
        self.pauses_received = 0
        self.resumes_received = 0
        self.paused_ps = 0
        self.max_queue_bytes = 0
        self.queued_bytes = 0
        # what the owner wants to hear as each part of a message it sent leaves (a NIC frees its
        # PCIe ingress part by part: :mod:`oisa.sim.credited`), and which message each part is of
        self.part_committed: Callable[[Message, Message], None] | None = None
        self._part_of: dict[int, Message] = {}
        # a NIC's receive buffer: what this end holds of what came in, per priority, and the
        # (XOFF, XON, lossless priorities) at which it pauses and resumes its peer; None: it never pauses
        self.receive_pfc: tuple[int, int, frozenset[int]] | None = None
        self.held_bytes = [0] * PRIORITIES
        self._pausing_peer = [False] * PRIORITIES
        self.pauses_sent = 0

    def send(self, message: Message, tail_ready_ps: int | None = None) -> None:
        """Queue ``message`` (cut to MTU-sized parts) behind its priority; a gate sees it first."""
        parts = split_to_mtu(message, self.mtu) if message.count > 1 else [message]
        if len(parts) > 1 and self.part_committed is not None:
            for part in parts:
                self._part_of[id(part)] = message
        now = self.kernel.now
        spread = tail_ready_ps - now if tail_ready_ps is not None and len(parts) > 1 else 0
        done = 0
        for part in parts:
            ready = tail_ready_ps
            if spread > 0:
                # a segment still coming in: each part can leave once its own bytes are in, the
                # segment's bytes arriving evenly until its tail
                done += part.count
                ready = now + spread * done // message.count
            if self.gate is not None:
                self.gate.submit(part, ready)
            else:
                self.enqueue(part, ready)

    def enqueue(self, message: Message, tail_ready_ps: int | None = None) -> None:
        """Put ``message`` in its priority's queue and start the wire if it is idle."""
        size = self.framing(message)[1]
        self.queues[message.tc & 7].append((message, tail_ready_ps, size))
        self.queued_bytes += size
        if self.queued_bytes > self.max_queue_bytes:
            self.max_queue_bytes = self.queued_bytes
        if self.kernel.observer is not None:
            self._observe()
        self._pump()

    def _pump(self) -> None:
        now = self.kernel.now
        if self.busy_until > now:
            if self._wake_at is None:
                self._wake_at = self.busy_until
                self.kernel.call_at(self.busy_until, self._woken)
            return
        for priority in range(PRIORITIES - 1, -1, -1):
            queue = self.queues[priority]
            if queue and not self.paused[priority]:
                message, tail_ready, size = queue.popleft()
                self.queued_bytes -= size
                if self.kernel.observer is not None:
                    self._observe()
                super().send(message, tail_ready)  # busy_until moves to this message's end
                if self.queued_bytes and self._wake_at is None:
                    self._wake_at = self.busy_until
                    self.kernel.call_at(self.busy_until, self._woken)
                return

    def took(self, message: Message) -> None:
        """``message`` came in on this end and its node holds it: past XOFF on a lossless
        priority, pause the peer (a NIC whose PCIe side cannot keep up pauses its switch port,
        the "slow receiver" of Guo et al., "RDMA over Commodity Ethernet at Scale", SIGCOMM 2016,
        section 4.3)."""
        if self.receive_pfc is None:
            return
        xoff, _, lossless = self.receive_pfc
        priority = message.tc & 7
        self.held_bytes[priority] += self.framing(message)[1]
        if priority in lossless and not self._pausing_peer[priority] and self.held_bytes[priority] > xoff:
            self._pausing_peer[priority] = True
            self.pauses_sent += 1
            self.send_pfc(priority, True)

    def release(self, message: Message) -> None:
        """The node is done with ``message`` (it has left by another port): at XON, resume the peer."""
        if self.receive_pfc is None:
            return
        priority = message.tc & 7
        self.held_bytes[priority] -= self.framing(message)[1]
        if self._pausing_peer[priority] and self.held_bytes[priority] <= self.receive_pfc[1]:
            self._pausing_peer[priority] = False
            self.send_pfc(priority, False)

    def _committed(self, message: Message) -> None:
        whole = self._part_of.pop(id(message), None) if self._part_of else None
        if whole is not None and self.part_committed is not None:
            self.part_committed(message, whole)
        else:
            self.owner.committed(message)

    def _woken(self) -> None:
        self._wake_at = None
        self._pump()

    def pause(self, priority: int, paused: bool) -> None:
        """A PFC frame from the peer arrived now: stop (XOFF) or resume (XON) ``priority``."""
        if paused == self.paused[priority]:
            return
        now = self.kernel.now
        self.paused[priority] = paused
        if paused:
            self.pauses_received += 1
            self._paused_since[priority] = now
        else:
            self.resumes_received += 1
            self.paused_ps += now - self._paused_since[priority]
            self._pump()
        if self.kernel.observer is not None:
            self._observe()

    def _observe(self) -> None:
        assert self.kernel.observer is not None
        self.kernel.observer.ethernet_queue(self.name, self.kernel.now, self.queued_bytes, sum(self.paused))

    def send_pfc(self, priority: int, paused: bool) -> None:
        """Send a PFC frame for ``priority`` to the peer: it takes effect there once it has crossed
        the wire (a MAC control frame goes between data frames, so it waits for none of them)."""
        peer = self.peer
        if not isinstance(peer, EthernetPort):
            raise RuntimeError(f"{self.name}: PFC needs an Ethernet port at the far end")
        self.frames += 1
        self.bytes += PAUSE_FRAME_BYTES
        arrive = self.kernel.now + serialisation_ps(PAUSE_FRAME_BYTES, self.rate_bps) + self.latency_ps
        self.kernel.call_at(arrive, peer.pause, priority, paused)

    def time_paused(self) -> int:
        """Picoseconds some priority of this port has been paused so far (an open pause counts up to now)."""
        now = self.kernel.now
        return self.paused_ps + sum(now - since for since, on in zip(self._paused_since, self.paused) if on)

    def ethernet_stats(self) -> dict[str, int]:
        return {"pauses_received": self.pauses_received, "paused_ps": self.time_paused(),
                "max_queue_bytes": self.max_queue_bytes}
