"""Two link endpoints joined by two wires, stepped by hand, without trio.

Property tests, conformance cases, the link checks a vendor runs (``oisa.testing.check_link``,
``oisa.testing.LinkStateMachine``) and the link benchmark drive link endpoints through this
harness: it moves frames between them with a fixed flit time and latency, fires their timers,
hands every frame to a fault hook on the way (drop, corrupt, duplicate), and lets a consumer
free receive buffers after a delay. It is a tiny discrete-event loop of its own, so a test can
stop at any frame and look.

The endpoints are oisa's :class:`~oisa.link.LinkEndpoint` by default, or any pair that follows
the same sans-IO interface (:class:`SansIOLinkEndpoint`): a vendor's own link layer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from oisa.link import LinkConfig, LinkEndpoint, PassRule
from oisa.link.credits import CreditKey
from oisa.wire.oisa import Message

__all__ = ["Fault", "LinkPair", "PairFactory", "SansIOLinkEndpoint", "bit_errors", "no_faults"]


@runtime_checkable
class SansIOLinkEndpoint(Protocol):
    """What the harness and the link checks need of one end of a link: the sans-IO interface of
    :class:`~oisa.link.LinkEndpoint`, where time (integer picoseconds) enters as an argument.

    The driver calls :meth:`start` when the physical link is up, :meth:`queue` for each message
    to send, :meth:`next_frame` whenever the wire is free, :meth:`receive_frame` with each frame
    that arrives (it returns the messages the frame completed, in order), :meth:`release` once
    the consumer is done with a received message (its buffer space is free again), and
    :meth:`on_timer` at :meth:`next_deadline`. Credits are per (virtual channel, class), headers
    and 16-byte data units (:func:`oisa.link.credits.credits_needed`), 0 advertised meaning
    infinite. ``failure`` says why the link went down for good, None while it has not.
    """

    failure: str | None

    @property
    def idle(self) -> bool:
        """Nothing left to send or to be acknowledged."""

    def start(self, now: int) -> None: ...

    def queue(self, message: Message) -> None: ...

    def release(self, message: Message, now: int) -> None: ...

    def next_frame(self, now: int) -> bytes | None: ...

    def receive_frame(self, frame: bytes, now: int) -> list[Message]: ...

    def next_deadline(self) -> int | None: ...

    def on_timer(self, now: int) -> None: ...

    def credit_keys(self) -> list[CreditKey]:
        """The (virtual channel, class) pairs whose credits the peer has advertised."""

    def send_credits(self, key: CreditKey) -> tuple[float, float]:
        """Header and data credits still usable towards the peer (``inf`` where unlimited)."""

    def advertised(self, key: CreditKey) -> tuple[int, int]:
        """What the peer advertised for ``key`` at initialisation (0: infinite)."""


PairFactory = Callable[[], tuple[SansIOLinkEndpoint, SansIOLinkEndpoint]]
"""Builds two fresh endpoints of one link, not yet started: what the link checks run on."""

Fault = Callable[[str, bytes], list[bytes]]
"""Given the direction (``"a->b"`` or ``"b->a"``) and a frame, what arrives: ``[]`` drops it,
``[frame]`` passes it (possibly changed), ``[frame, frame]`` duplicates it."""


def no_faults(direction: str, frame: bytes) -> list[bytes]:
    return [frame]


def bit_errors(rng: np.random.Generator, ber: float) -> Fault:
    """A fault hook that flips each bit independently with probability ``ber``."""

    def flip(direction: str, frame: bytes) -> list[bytes]:
        count = rng.binomial(len(frame) * 8, ber)
        if not count:
            return [frame]
        data = bytearray(frame)
        for bit in rng.choice(len(frame) * 8, size=count, replace=False):
            data[bit // 8] ^= 0x80 >> (bit % 8)
        return [bytes(data)]

    return flip


@dataclass
class _Side:
    endpoint: SansIOLinkEndpoint
    busy_until: int = 0
    in_flight: deque[tuple[int, bytes]] = field(default_factory=deque)  # towards the peer
    delivered: list[Message] = field(default_factory=list)
    to_release: deque[tuple[int, Message]] = field(default_factory=deque)


class LinkPair:
    """Endpoints ``a`` and ``b`` of one link, with a clock of their own: oisa's, built from
    ``config`` and ``may_pass``, or the two ``endpoints`` given (then ``config`` and
    ``may_pass`` are not used). The consumer at each end frees a message ``release_delay_ps``
    after it arrived (a value that may change as the pair runs)."""

    def __init__(self, config: LinkConfig | None = None, *, latency_ps: int = 100_000, flit_time_ps: int = 2_560,
                 release_delay_ps: int = 0, may_pass: PassRule | None = None, fault: Fault = no_faults,
                 endpoints: tuple[SansIOLinkEndpoint, SansIOLinkEndpoint] | None = None) -> None:
        self.config = config or LinkConfig()
        self.latency_ps = latency_ps
        self.flit_time_ps = flit_time_ps
        self.release_delay_ps = release_delay_ps
        self.fault = fault
        self.now = 0
        self.frames_sent = 0
        if endpoints is None:
            endpoints = (LinkEndpoint(self.config, may_pass=may_pass, name="a"),
                         LinkEndpoint(self.config, may_pass=may_pass, name="b"))
        self.sides = {name: _Side(endpoint) for name, endpoint in zip(("a", "b"), endpoints, strict=True)}
        for side in self.sides.values():
            side.endpoint.start(0)

    @property
    def a(self) -> SansIOLinkEndpoint:
        return self.sides["a"].endpoint

    @property
    def b(self) -> SansIOLinkEndpoint:
        return self.sides["b"].endpoint

    def delivered(self, name: str) -> list[Message]:
        """Messages the named endpoint has received, in order."""
        return self.sides[name].delivered

    def held(self, name: str) -> list[Message]:
        """Messages the named endpoint has received and its consumer not yet released: what
        occupies its receive buffers."""
        return [message for _, message in self.sides[name].to_release]

    def send(self, name: str, message: Message) -> None:
        self.sides[name].endpoint.queue(message)

    def quiet(self) -> bool:
        """Nothing queued, unacknowledged, in flight or waiting to be released on either side."""
        return all(side.endpoint.idle and not side.in_flight and not side.to_release for side in self.sides.values())

    def step(self) -> bool:
        """Transmit what may go now, then advance to the next event and handle it.

        Returns False when nothing at all is left to happen.
        """
        a, b = self.sides["a"], self.sides["b"]
        now = self.now
        # Transmit: each side whose wire is free offers its endpoint the wire (a first, then b).
        flit_time, latency, fault = self.flit_time_ps, self.latency_ps, self.fault
        for side, direction in ((a, "a->b"), (b, "b->a")):
            while side.busy_until <= now:
                frame = side.endpoint.next_frame(now)
                if frame is None:
                    break
                side.busy_until = now + flit_time
                self.frames_sent += 1
                arrival = side.busy_until + latency
                for arriving in fault(direction, frame):
                    side.in_flight.append((arrival, arriving))
        # The next event: a frame arriving, a consumer releasing, a timer, a wire falling free.
        upcoming: int | None = None
        deadlines = []
        for side in (a, b):
            deadline = side.endpoint.next_deadline()
            deadlines.append(deadline)
            for t in (side.in_flight[0][0] if side.in_flight else None,
                      side.to_release[0][0] if side.to_release else None, deadline,
                      side.busy_until if side.busy_until > now else None):
                if t is not None and (upcoming is None or t < upcoming):
                    upcoming = t
        if upcoming is None:
            return False
        if upcoming > now:
            self.now = now = upcoming
        # Deliver what has arrived and release what consumers are done with (a's side, then b's).
        delivered = False
        for side, peer in ((a, b), (b, a)):
            in_flight = side.in_flight
            while in_flight and in_flight[0][0] <= now:
                _, frame = in_flight.popleft()
                delivered = True
                for message in peer.endpoint.receive_frame(frame, now):
                    peer.delivered.append(message)
                    peer.to_release.append((now + self.release_delay_ps, message))
            to_release = side.to_release
            while to_release and to_release[0][0] <= now:
                delivered = True
                side.endpoint.release(to_release.popleft()[1], now)
        # Timers that are due. What was delivered may have moved a deadline, so ask again then.
        for side, deadline in ((a, deadlines[0]), (b, deadlines[1])):
            if delivered:
                deadline = side.endpoint.next_deadline()
            if deadline is not None and deadline <= now:
                side.endpoint.on_timer(now)
        return True

    def run_until_quiet(self, limit_ps: int) -> bool:
        """Step until quiet or until ``limit_ps`` of virtual time has passed; True if quiet."""
        end = self.now + limit_ps
        while not self.quiet() and self.now <= end:
            if not self.step():
                break
        return self.quiet()

    def run_for(self, duration_ps: int) -> None:
        end = self.now + duration_ps
        while self.now < end and self.step():
            pass
