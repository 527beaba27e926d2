"""Frame ports with QoS: the timing engine's OISA links when traffic classes share them by policy.

A plain :class:`~oisa.sim.frames.FramePort` sends in arrival order, each message's times
computed the moment it is handed over. An :class:`ArbitratedFramePort` keeps a queue per
virtual channel (its :class:`~oisa.link.arbitration.QosPolicy` maps each traffic class to one)
while the wire is busy, and whenever the wire frees, the same arbiter the link layer uses in
data mode (:class:`~oisa.link.arbitration.VcArbiter`) picks the channel that goes next.

Data mode arbitrates message by message, and a message carries at most a card's largest
payload; a timing-mode segment stands for many messages. So that a segment cannot hold the wire
for longer than data mode's messages would, a segment is sent in parts of whole messages of at
most its channel's quantum of bytes, the arbiter choosing again between parts; a part of a
request is answered, and lands, as a segment of its own (what the timing engine's cards already
do with the parts of a segment spread over several paths). A port cuts segments once it has
carried two channels' traffic: where one class runs alone it sends as a plain frame port does, so
a job's time alone does not depend on the policy. Only with a policy: without one, fabrics build
plain frame ports, and nothing here runs.
"""

from __future__ import annotations

from collections import deque
from copy import copy

from oisa.link.arbitration import QosPolicy, VcArbiter
from oisa.sim._kernel import Kernel
from oisa.sim.frames import FramePort, Framing
from oisa.units import S, serialisation_ps
from oisa.wire.oisa import Message, Opcode

__all__ = ["ArbitratedFramePort"]

# What may be sent in parts: copies' requests and their answers. A contribution to an in-switch
# reduction is one message per member, which a switch combines whole; it goes whole.
_DIVISIBLE = frozenset({Opcode.DMA_WR, Opcode.MEM_WR, Opcode.STORE, Opcode.CXL_MEM_WR, Opcode.DMA_RD, Opcode.MEM_RD,
                        Opcode.CPL, Opcode.CPL_D})


class ArbitratedFramePort(FramePort):
    """A frame port whose waiting messages go by ``policy``, a channel at a time (see the module)."""

    def __init__(self, kernel: Kernel, *, rate_bps: int, latency_ps: int, framing: Framing, head_bytes: int,
                 name: str, policy: QosPolicy) -> None:
        super().__init__(kernel, rate_bps=rate_bps, latency_ps=latency_ps, framing=framing, head_bytes=head_bytes,
                         name=name)
        self.policy = policy
        self._arbiter = VcArbiter(policy)
        # per channel: (what is left to send, when its tail is in, the message it is of)
        self._queues: list[deque[tuple[Message, int | None, Message]]] = [deque() for _ in range(policy.vcs)]
        self._waiting = 0
        self._waiting_bytes = 0
        self._armed = False
        self._channels_seen: set[int] = set()

    def send(self, message: Message, tail_ready_ps: int | None = None) -> None:
        """Send ``message`` now if the wire is free and nothing waits; else queue it in its
        channel until the arbiter picks it."""
        vc = self.policy.tc_to_vc[message.tc]
        if len(self._channels_seen) < 2:
            self._channels_seen.add(vc)
        if not self._waiting and self.busy_until <= self.kernel.now:
            self._transmit(message, tail_ready_ps, vc, message)
            return
        self._queues[vc].append((message, tail_ready_ps, message))
        self._waiting += 1
        self._waiting_bytes += message.count * message.wire_size
        self._arm()

    def queue_delay(self) -> int:
        return super().queue_delay() + self._waiting_bytes * 8 * S // self.rate_bps

    def _arm(self) -> None:
        if not self._armed:
            self._armed = True
            self.kernel.call_at(max(self.kernel.now, self.busy_until), self._next)

    def _next(self) -> None:
        self._armed = False
        if not self._waiting:
            return
        if self.busy_until > self.kernel.now:  # a message sent straight out since: wait for it
            self._arm()
            return
        ready = {vc: self._part_bytes(queue[0][0], vc) for vc, queue in enumerate(self._queues) if queue}
        vc = self._arbiter.pick(ready)
        message, tail_ready, whole = self._queues[vc].popleft()
        self._waiting -= 1
        self._waiting_bytes -= message.count * message.wire_size
        self._transmit(message, tail_ready, vc, whole)
        if self._waiting:
            self._arm()

    def _part_messages(self, message: Message, vc: int) -> int:
        """How many of a segment's messages go in one part on channel ``vc``."""
        if message.count == 1 or message.opcode not in _DIVISIBLE or len(self._channels_seen) < 2:
            return message.count
        return max(1, min(message.count, self._arbiter.quantum[vc] // message.wire_size))

    def _part_bytes(self, message: Message, vc: int) -> int:
        return self._part_messages(message, vc) * message.wire_size

    def _transmit(self, message: Message, tail_ready_ps: int | None, vc: int, whole: Message) -> None:
        """Send ``message``, or its first part, putting the rest back at the head of its channel
        (a part's tail is in ahead of the whole's, by the bytes behind it, at this wire's rate).
        The sender is told ``whole`` is committed when its last part goes."""
        taken = self._part_messages(message, vc)
        if taken == message.count:
            super().send(message, tail_ready_ps)
            if message is not whole:
                self.owner.committed(whole)
            return
        part, rest = copy(message), copy(message)  # shallow copies, as oisa.device.timing.split makes
        part.count, rest.count = taken, message.count - taken
        if message.info.is_request:
            rest.address = message.address + taken * message.length
        ahead = None if tail_ready_ps is None else tail_ready_ps - serialisation_ps(rest.count * message.wire_size,
                                                                                   self.rate_bps)
        self._queues[vc].appendleft((rest, tail_ready_ps, whole))
        self._waiting += 1
        self._waiting_bytes += rest.count * message.wire_size
        super().send(part, ahead)
        self._arm()
