"""PCIe frame links with flow-control credits: a sender stops when the receiver's buffer is full.

A plain :class:`~oisa.sim.frames.FramePort` puts whatever it is given on its wire at once, so a
node that receives faster than it can forward (a 400G NIC fed by a PCIe Gen5 x16 link: 63
against 50 GB/s) queues without bound, and whatever the sender sends later (a protocol's flag
or credit) waits behind all of it. A PCIe link does not work so: its receiver advertises
posted and non-posted header and data credits (16-byte units), sized by its receive buffer; the
transmitter may send a TLP only while it holds the credits the TLP needs, and gets them back
when the receiver has passed the TLP on and frees the buffer, by an UpdateFC DLLP (PCIe Base
Specification, section 2.6 "Ordering and Receive Buffer Flow Control"; the link layer's
credits: :mod:`oisa.link.credits`). A switch or NIC frees an ingress buffer only once the
message has gone out of its egress port (the owner's ``committed``), so a full buffer downstream
stops the sender upstream, hop by hop, up to the card, whose DMA engines then hold the rest of a
copy back (:meth:`oisa.device.card.Card._transmit`). So a NIC takes in from PCIe only as fast
as it sends, as an RDMA NIC reads a work request's payload from host or GPU memory only as its
send queue drains.

Completions take no credits: endpoints advertise infinite completion credits for the
completions of their own requests (PCIe Base Specification, section 2.6.1), as the OISA links of
:mod:`oisa.fabric.build` do. Waiting messages go in order (every class behind the oldest),
which the ordering rules always allow; since every buffer here is freed by forwarding towards a
card or an Ethernet wire, and cards take in at once, no cycle of waits can form.

Timing-mode segments: a segment stands for ``count`` messages, and takes the credits of all of
them (the count may run below zero). It may go once the credits of one of its messages are
there beyond a debt of one segment: a card frees a segment only when all of it is in, where data
mode frees each message as it lands, so without that allowance the next segment would wait a
credit round trip after each one (8% of a PCIe copy between two cards). The buffer behind a
link so holds at most two segments more than data mode's would (the one owed and the one taken),
the price of data mode's pace. Credits come back as the parts of a segment leave the receiver (a
NIC cuts segments into MTU-sized packets).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from oisa.link.credits import DATA_CREDIT_BYTES
from oisa.sim._kernel import Kernel
from oisa.sim.frames import FramePort, Framing
from oisa.units import serialisation_ps
from oisa.wire.oisa import FcClass, Message

__all__ = ["UPDATE_FC_BYTES", "CreditedFramePort", "ReceiveBuffer", "connect_credited", "tlp_credits"]

UPDATE_FC_BYTES = 8  # an UpdateFC DLLP: 6 bytes and its 2-byte framing token (PCIe Base Specification 3.5, 4.2.2)


@dataclass(frozen=True)
class ReceiveBuffer:
    """What a receiver advertises: posted and non-posted header credits (one per TLP) and data
    credits (16-byte units of payload). Completions are infinite."""

    posted_headers: int
    posted_data: int
    non_posted_headers: int
    non_posted_data: int

    def limits(self) -> dict[FcClass, list[int]]:
        return {FcClass.POSTED: [self.posted_headers, self.posted_data],
                FcClass.NON_POSTED: [self.non_posted_headers, self.non_posted_data]}


def tlp_credits(message: Message, framing: Framing) -> tuple[int, int]:
    """Header and data credits ``message`` (all ``count`` of it) takes: a header per TLP, its
    payload in 16-byte units."""
    frames = framing(message)[0]
    payload = message.length if message.info.has_payload else 0
    return frames, message.count * -(-payload // DATA_CREDIT_BYTES)


class CreditedFramePort(FramePort):
    """A frame port that sends requests only against its peer's credits (see the module).

    ``buffer`` is this end's own receive buffer, which it advertises to its peer
    (:func:`connect_credited`)."""

    def __init__(self, kernel: Kernel, *, rate_bps: int, latency_ps: int, framing: Framing, head_bytes: int,
                 name: str, buffer: ReceiveBuffer) -> None:
        super().__init__(kernel, rate_bps=rate_bps, latency_ps=latency_ps, framing=framing, head_bytes=head_bytes,
                         name=name)
        self.buffer = buffer
        self.commit_at_start = True  # the buffer a message came from upstream frees as it starts on this wire
        self.available: dict[FcClass, list[int]] = {}  # the peer's credits not yet used, per class
        self._waiting: deque[tuple[Message, int | None, int]] = deque()  # (message, tail ready, wire bytes)
        self._waiting_bytes = 0
        self.credit_waits = 0  # messages that had to wait for credits
        self.max_waiting_bytes = 0

    def send(self, message: Message, tail_ready_ps: int | None = None) -> None:
        """Send ``message`` if nothing waits and the peer has room for it; else queue it."""
        if not self._waiting and self._take(message):
            super().send(message, tail_ready_ps)
            return
        size = self.framing(message)[1]
        self._waiting.append((message, tail_ready_ps, size))
        self._waiting_bytes += size
        self.credit_waits += 1
        if self._waiting_bytes > self.max_waiting_bytes:
            self.max_waiting_bytes = self._waiting_bytes

    def _take(self, message: Message) -> bool:
        """Use ``message``'s credits if one of its messages' worth is there (see the module)."""
        credits = self.available.get(message.info.fc_class)
        if credits is None:  # a completion: infinite credits
            return True
        headers, data = tlp_credits(message, self.framing)
        if message.count > 1:
            first_headers, first_data = headers // message.count, data // message.count
            # the rest of a segment is debt the receiver pays back as it frees the segment: a
            # segment may go while the debt is at most one segment's, as data mode's messages
            # stream on through a buffer the previous segment's tail still fills
            need_headers, need_data = 2 * first_headers - headers, 2 * first_data - data
        else:
            need_headers, need_data = headers, data
        if credits[0] < need_headers or credits[1] < need_data:
            return False
        credits[0] -= headers
        credits[1] -= data
        return True

    def release(self, message: Message) -> None:
        """The owner has passed on (or consumed) ``message``, which came in on this end: its
        credits go back to the peer, which has them once an UpdateFC has crossed the wire."""
        fc_class = message.info.fc_class
        if fc_class is FcClass.COMPLETION:
            return
        headers, data = tlp_credits(message, self.framing)
        peer = self.peer
        assert isinstance(peer, CreditedFramePort)
        back = self.kernel.now + serialisation_ps(UPDATE_FC_BYTES, self.rate_bps) + self.latency_ps
        self.kernel.call_at(back, peer.credits_returned, fc_class, headers, data)

    def credits_returned(self, fc_class: FcClass, headers: int, data: int) -> None:
        """An UpdateFC from the peer: ``headers`` and ``data`` credits of ``fc_class`` are free
        again; send what waited for them, in order."""
        credits = self.available[fc_class]
        credits[0] += headers
        credits[1] += data
        waiting = self._waiting
        while waiting and self._take(waiting[0][0]):
            message, tail_ready, size = waiting.popleft()
            self._waiting_bytes -= size
            FramePort.send(self, message, tail_ready)

    def queue_delay(self) -> int:
        """How long a message sent now waits before its first bit leaves: the wire's backlog and
        what waits for credits, at the wire's rate (a lower bound while credits are short)."""
        return max(0, self.busy_until - self.kernel.now) + serialisation_ps(self._waiting_bytes, self.rate_bps)


def connect_credited(a: CreditedFramePort, b: CreditedFramePort) -> None:
    """Join two ends: each starts with the credits the other advertises (PCIe's InitFC)."""
    a.peer, b.peer = b, a
    a.available = b.buffer.limits()
    b.available = a.buffer.limits()
