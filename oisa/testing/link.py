"""Two link endpoints joined by two wires, stepped by hand, without trio.

Property tests, conformance cases and the link benchmark drive link endpoints through this
harness: it moves frames between them with a fixed flit time and latency, fires their timers,
hands every frame to a fault hook on the way (drop, corrupt, duplicate), and lets a consumer
free receive buffers after a delay. It is a tiny discrete-event loop of its own, so a test can
stop at any frame and look.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from oisa.link import LinkConfig, LinkEndpoint, PassRule
from oisa.wire.oisa import Message

__all__ = ["Fault", "LinkPair", "bit_errors", "no_faults"]

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
    endpoint: LinkEndpoint
    busy_until: int = 0
    in_flight: deque[tuple[int, bytes]] = field(default_factory=deque)  # towards the peer
    delivered: list[Message] = field(default_factory=list)
    to_release: deque[tuple[int, Message]] = field(default_factory=deque)


class LinkPair:
    """Endpoints ``a`` and ``b`` of one link, with a clock of their own."""

    def __init__(self, config: LinkConfig | None = None, *, latency_ps: int = 100_000, flit_time_ps: int = 2_560,
                 release_delay_ps: int = 0, may_pass: PassRule | None = None, fault: Fault = no_faults) -> None:
        self.config = config or LinkConfig()
        self.latency_ps = latency_ps
        self.flit_time_ps = flit_time_ps
        self.release_delay_ps = release_delay_ps
        self.fault = fault
        self.now = 0
        self.frames_sent = 0
        self.sides = {name: _Side(LinkEndpoint(self.config, may_pass=may_pass, name=name)) for name in ("a", "b")}
        for side in self.sides.values():
            side.endpoint.start(0)

    @property
    def a(self) -> LinkEndpoint:
        return self.sides["a"].endpoint

    @property
    def b(self) -> LinkEndpoint:
        return self.sides["b"].endpoint

    def delivered(self, name: str) -> list[Message]:
        """Messages the named endpoint has received, in order."""
        return self.sides[name].delivered

    def send(self, name: str, message: Message) -> None:
        self.sides[name].endpoint.queue(message)

    def quiet(self) -> bool:
        """Nothing queued, unacknowledged, in flight or waiting to be released on either side."""
        return all(side.endpoint.idle and not side.in_flight and not side.to_release for side in self.sides.values())

    def step(self) -> bool:
        """Transmit what may go now, then advance to the next event and handle it.

        Returns False when nothing at all is left to happen.
        """
        self._transmit()
        upcoming = self._upcoming()
        if not upcoming:
            return False
        self.now = max(self.now, min(upcoming))
        self._deliver()
        for side in self.sides.values():
            deadline = side.endpoint.next_deadline()
            if deadline is not None and deadline <= self.now:
                side.endpoint.on_timer(self.now)
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

    def _transmit(self) -> None:
        for name, side in self.sides.items():
            peer = self.sides["b" if name == "a" else "a"]
            while side.busy_until <= self.now:
                frame = side.endpoint.next_frame(self.now)
                if frame is None:
                    break
                side.busy_until = self.now + self.flit_time_ps
                self.frames_sent += 1
                for arriving in self.fault(f"{name}->{peer.endpoint.name}", frame):
                    side.in_flight.append((side.busy_until + self.latency_ps, arriving))

    def _upcoming(self) -> list[int]:
        times = []
        for side in self.sides.values():
            if side.in_flight:
                times.append(side.in_flight[0][0])
            if side.to_release:
                times.append(side.to_release[0][0])
            deadline = side.endpoint.next_deadline()
            if deadline is not None:
                times.append(deadline)
            if side.busy_until > self.now:
                times.append(side.busy_until)
        return times

    def _deliver(self) -> None:
        for name, side in self.sides.items():
            peer = self.sides["b" if name == "a" else "a"]
            while side.in_flight and side.in_flight[0][0] <= self.now:
                _, frame = side.in_flight.popleft()
                for message in peer.endpoint.receive_frame(frame, self.now):
                    peer.delivered.append(message)
                    peer.to_release.append((self.now + self.release_delay_ps, message))
            while side.to_release and side.to_release[0][0] <= self.now:
                side.endpoint.release(side.to_release.popleft()[1], self.now)
