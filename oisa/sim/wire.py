"""Wires and link ports: how frames cross a link in virtual time.

A :class:`Wire` is one direction of a physical link. Frames leave back to back at the wire's
rate and arrive ``latency`` after their last bit left, so a frame's arrival time is computed,
not waited for: one heap event per frame, no task switch. Faults (:mod:`oisa.sim.faults`)
apply on the way.

A :class:`LinkPort` drives a sans-IO :class:`~oisa.link.LinkEndpoint` over a wire: whenever
the wire falls idle it asks the endpoint for the next flit (so messages queued while a flit is
on the wire share the next one), it feeds arriving frames to the endpoint, and it calls the
endpoint's timers when they are due. If the link fails for good, the run ends with
:class:`~oisa.errors.LinkDownError` naming the link.
"""

from __future__ import annotations

from collections.abc import Callable

from oisa.errors import LinkDownError
from oisa.link import LinkEndpoint, LinkState
from oisa.sim._kernel import Kernel
from oisa.sim.faults import WireFaults
from oisa.sim.ports import PortOwner, Unattached
from oisa.units import S, format_time, serialisation_ps
from oisa.wire.oisa import Message

__all__ = ["LinkPort", "Wire", "connect"]


class Wire:
    """One direction of a link: serialisation at ``rate_bps``, then ``latency_ps`` of flight."""

    def __init__(self, kernel: Kernel, *, rate_bps: int, latency_ps: int, name: str,
                 faults: WireFaults | None = None) -> None:
        self.kernel = kernel
        self.rate_bps = rate_bps
        self.latency_ps = latency_ps
        self.name = name
        self.faults = faults
        self.receiver: Callable[[bytes], None] | None = None
        self.busy_until = 0
        self.frames = 0
        self.bytes = 0
        self._durations: dict[int, int] = {}  # serialisation time by frame length (flits all have one)

    def transmit(self, frame: bytes) -> int:
        """Put ``frame`` on the wire after whatever is already on it; return when it has left."""
        receiver = self.receiver
        if receiver is None:
            raise RuntimeError(f"wire {self.name} is not connected")
        kernel = self.kernel
        start = max(kernel.now, self.busy_until)
        size = len(frame)
        duration = self._durations.get(size)
        if duration is None:
            duration = self._durations[size] = serialisation_ps(size, self.rate_bps)
        end = self.busy_until = start + duration
        self.frames += 1
        self.bytes += size
        observer = kernel.observer
        if self.faults is None and observer is None:
            kernel.call_at(end + self.latency_ps, receiver, frame)
            return end
        arrivals = [frame] if self.faults is None else self.faults.apply(frame, start)
        for arriving in arrivals:
            kernel.call_at(end + self.latency_ps, receiver, arriving)
            if observer is not None:
                observer.frame(self.name, start, end, end + self.latency_ps, arriving)
        return end

    def set_rate(self, rate_bps: int) -> None:
        """Carry ``rate_bps`` from the next frame on: the link retrained to another width (a
        fault schedule's down-training, :mod:`oisa.fabric.outages`), or back to its own."""
        self.rate_bps = rate_bps
        self._durations.clear()


class LinkPort:
    """One end of a link in the emulation: a link-layer endpoint transmitting on ``wire``.

    Received messages are handed to ``on_messages`` (in callback context, at arrival time);
    whoever consumes them calls :meth:`release` for each when done, which returns its credits.
    """

    def __init__(self, kernel: Kernel, endpoint: LinkEndpoint, wire: Wire, name: str) -> None:
        self.kernel = kernel
        self.endpoint = endpoint
        self.wire = wire
        self.name = name
        self.owner: PortOwner = Unattached(name)
        self._up_callbacks: list[Callable[[], None]] = []
        self._partial_since = 0  # when the flit arrived that began the message now half received
        self._transmitting = False
        self._timer_at: int | None = None
        self._last_state: tuple[tuple[tuple[float, float], ...], int] | None = None

    def attach(self, owner: PortOwner) -> None:
        self.owner = owner

    def when_up(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once this end's link layer is active (initialisation done)."""
        if self.endpoint.state is LinkState.ACTIVE:
            self.kernel.call_at(self.kernel.now, callback)
        else:
            self._up_callbacks.append(callback)

    def start(self) -> None:
        """The physical link is up: start the link layer (credit initialisation)."""
        self.endpoint.start(self.kernel.now)
        self._poke()

    def send(self, message: Message, tail_ready_ps: int | None = None) -> None:
        """Queue ``message`` for the link layer. (A link port receives whole messages, so a
        forwarding node never hands it one whose tail is still arriving: ``tail_ready_ps`` is
        accepted for the common port interface and has nothing to wait for.)"""
        self.endpoint.queue(message)
        self._poke()

    @property
    def rate_bps(self) -> int:
        return self.wire.rate_bps

    def queue_delay(self) -> int:
        """About how long a message queued now waits before it starts to go out (ps)."""
        waiting = self.endpoint.queued_bytes * 8 * S // self.wire.rate_bps
        return max(0, self.wire.busy_until - self.kernel.now) + waiting

    def release(self, message: Message) -> None:
        self.endpoint.release(message, self.kernel.now)
        self._poke()

    def frame_arrived(self, frame: bytes) -> None:
        now = self.kernel.now
        endpoint = self.endpoint
        partial = endpoint.partial_bytes
        messages = endpoint.receive_frame(frame, now)
        # A cut-through owner may start on a message once the flit that began it is in: the
        # first message completed here began in an earlier flit if one was half received.
        head = self._partial_since if partial and self.owner.cut_through else now
        for message in messages:
            self.owner.receive(self, message, head, now)
            head = now  # the rest began in this one
        if endpoint.partial_bytes and (messages or not partial):
            self._partial_since = now  # a message began in this flit and goes on in the next
        self._poke()

    def _poke(self) -> None:
        """Something changed in the endpoint: transmit if the wire is free, re-arm its timer."""
        endpoint, kernel = self.endpoint, self.kernel
        state = endpoint.state
        if state is LinkState.FAILED:
            raise LinkDownError(f"link {self.name} went down at {format_time(kernel.now)}: {endpoint.failure}")
        if self._up_callbacks and state is LinkState.ACTIVE:
            callbacks, self._up_callbacks = self._up_callbacks, []
            for callback in callbacks:
                kernel.call_at(kernel.now, callback)
        if not self._transmitting:
            self._transmitting = True
            kernel.call_at(max(kernel.now, self.wire.busy_until), self._transmit_next)
        if kernel.observer is not None:
            self._observe()
        deadline = endpoint.next_deadline()  # (_arm_timer, written out: every event comes here)
        if deadline is not None and (self._timer_at is None or deadline < self._timer_at):
            self._timer_at = deadline
            kernel.call_at(max(deadline, kernel.now), self._timer_fired, deadline)

    def _arm_timer(self) -> None:
        """Have :meth:`_timer_fired` run at the endpoint's next deadline, if none runs earlier."""
        deadline = self.endpoint.next_deadline()
        if deadline is not None and (self._timer_at is None or deadline < self._timer_at):
            self._timer_at = deadline
            self.kernel.call_at(max(deadline, self.kernel.now), self._timer_fired, deadline)

    def _observe(self) -> None:
        """Tell the observer the credits and replay occupancy of this end, if they changed
        (called after every step of the link layer, so the common case must be cheap)."""
        endpoint = self.endpoint
        keys = endpoint.credit_keys()
        snapshot = (tuple(endpoint.send_credits(key) for key in keys), endpoint.unacknowledged)
        if snapshot == self._last_state:
            return
        self._last_state = snapshot
        state: dict[str, float] = {}
        for (vc, cls), (hdr, data) in zip(keys, snapshot[0]):
            state[f"vc{vc}.{cls.name.lower()}.hdr"] = hdr
            state[f"vc{vc}.{cls.name.lower()}.data"] = data
        assert self.kernel.observer is not None
        self.kernel.observer.link_state(self.name, self.kernel.now, state, endpoint.unacknowledged)

    def _transmit_next(self) -> None:
        endpoint, kernel = self.endpoint, self.kernel
        frame = endpoint.next_frame(kernel.now)
        committed = endpoint.committed
        if committed:
            for message in committed:
                self.owner.committed(message)
            committed.clear()
        if frame is None:
            self._transmitting = False
            return
        kernel.call_at(self.wire.transmit(frame), self._transmit_next)
        if kernel.observer is not None:
            self._observe()
        # sending may start a timer (the replay timer of a first data flit, a credit poll):
        # without this, a flit whose ACK is lost would wait for the next frame to arrive
        self._arm_timer()

    def _timer_fired(self, deadline: int) -> None:
        if self._timer_at != deadline:
            return  # superseded by an earlier timer, which already ran
        self._timer_at = None
        self.endpoint.on_timer(self.kernel.now)
        self._poke()


    def wire_totals(self) -> tuple[int, int]:
        return self.wire.frames, self.wire.bytes

    def link_stats(self) -> dict[str, int]:
        return self.endpoint.stats.as_dict()

    def fault_stats(self) -> dict[str, int]:
        return {} if self.wire.faults is None else self.wire.faults.stats.as_dict()


def connect(a: LinkPort, b: LinkPort) -> None:
    """Join two ports: each one's wire delivers to the other."""
    a.wire.receiver = b.frame_arrived
    b.wire.receiver = a.frame_arrived
