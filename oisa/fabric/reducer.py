"""In-switch reduction: the units of an OISA switch that combine collective contributions.

A switch that reduces (OISA's "collectives offloaded to the switch", NVLink SHARP's and
InfiniBand SHARP's way) takes every member's ``COLL_REDUCE`` for one (group, address), combines
them, and writes the result to every member. Two things bound it, each a figure of the switch
(``reduction_rate`` and ``reduction_buffer`` in its spec): contributions wait in a buffer until
the last member's is in; and the units combine the contributions in at ``rate`` bits per second,
one reduction after another, so a reduction's result leaves once its inputs are combined and no
sooner than its last input's tail plus the switch's latency.

The buffer is reserved a reduction at a time, as SHARP-like units reserve theirs: the first
contribution to a (group, address) is taken only if the buffer has room for every member's;
later ones of a reduction begun are always taken. So a full buffer holds back new reductions,
their contributions waiting at their ports with their credits not returned (back-pressure
reaches the senders), and never deadlocks on half-gathered ones.

This module knows only the switch it serves (its kernel, its egress choice, its latency).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from oisa.errors import SimulationError
from oisa.sim import Kernel, Port
from oisa.units import serialisation_ps
from oisa.wire.oisa import CollDtype, CollOp, Message, Opcode

__all__ = ["Reducer"]

_NUMPY = {CollDtype.INT8: np.int8, CollDtype.UINT8: np.uint8, CollDtype.FLOAT16: np.float16,
          CollDtype.INT32: np.int32, CollDtype.FLOAT32: np.float32, CollDtype.INT64: np.int64,
          CollDtype.FLOAT64: np.float64}
_REDUCE: dict[CollOp, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    CollOp.SUM: np.add, CollOp.PROD: np.multiply, CollOp.MIN: np.minimum, CollOp.MAX: np.maximum}


class ReducingSwitch(Protocol):
    """What a :class:`Reducer` needs of the switch it serves."""

    kernel: Kernel
    name: str
    node_id: int
    latency_ps: int
    groups: dict[int, list[int]]  # collective group -> its member cards

    def egress(self, message: Message) -> Port:
        """The port ``message`` leaves by."""


@dataclass
class _Gathering:
    """Contributions gathered so far for one (group, address), and the buffer reserved for all."""

    members: int
    reserved: int
    contributions: list[Message] = field(default_factory=list)
    tail_ps: int = 0


@dataclass
class Reducer:
    """A switch's reduction units: ``rate_bps`` of contributions combined, ``buffer_bytes`` of
    them held until their reduction is whole."""

    rate_bps: int
    buffer_bytes: int
    reduced: int = 0  # reductions finished
    _used: int = 0
    _free_at: int = 0
    _waiting: deque[tuple[Port, Message, int]] = field(default_factory=deque)
    _gathering: dict[tuple[int, int], _Gathering] = field(default_factory=dict)

    def contribute(self, switch: ReducingSwitch, port: Port, message: Message, tail_ps: int) -> None:
        """``message`` (a contribution) came in on ``port``: take it if its reduction has begun
        or the buffer has room for all of it (its port may then free it), else let it wait."""
        if not self._take(switch, port, message, tail_ps):
            self._waiting.append((port, message, tail_ps))

    def _take(self, switch: ReducingSwitch, port: Port, message: Message, tail_ps: int) -> bool:
        assert message.coll is not None
        key = (message.coll.group, message.address)
        gathering = self._gathering.get(key)
        if gathering is None:
            need = message.coll.members * message.count * message.wire_size
            if self._used and self._used + need > self.buffer_bytes:
                return False
            self._used += need
            gathering = self._gathering[key] = _Gathering(message.coll.members, need)
        port.release(message)
        gathering.contributions.append(message)
        gathering.tail_ps = max(gathering.tail_ps, tail_ps)
        if len(gathering.contributions) == gathering.members:
            del self._gathering[key]
            kernel = switch.kernel
            combined = sum(m.count * m.length for m in gathering.contributions)
            start = max(kernel.now, self._free_at)
            self._free_at = start + serialisation_ps(combined, self.rate_bps)
            kernel.call_at(self._free_at, self._finish, switch, gathering)
        return True

    def _finish(self, switch: ReducingSwitch, gathering: _Gathering) -> None:
        self._used -= gathering.reserved
        self._admit(switch)
        first = gathering.contributions[0]
        assert first.coll is not None
        members = switch.groups.get(first.coll.group)
        if members is None:
            raise SimulationError(f"{switch.name}: collective group {first.coll.group} was never set up")
        payload = _combined(switch.name, gathering.contributions) if first.count == 1 else b""
        self.reduced += 1
        kernel = switch.kernel
        ready = max(kernel.now, gathering.tail_ps + switch.latency_ps)
        for member in members:
            result = Message(Opcode.MEM_WR, switch.node_id, member, length=first.length, address=first.address,
                             payload=payload, tc=first.tc, count=first.count, hops=first.hops)
            kernel.call_at(ready, switch.egress(result).send, result, ready)

    def _admit(self, switch: ReducingSwitch) -> None:
        """Take, in order, the contributions that waited and now may go in."""
        waiting, self._waiting = self._waiting, deque()
        for port, message, tail_ps in waiting:
            if not self._take(switch, port, message, tail_ps):
                self._waiting.append((port, message, tail_ps))


def _combined(switch: str, contributions: list[Message]) -> bytes:
    """The reduction of the contributions' payloads (empty where no bytes move)."""
    first = contributions[0]
    assert first.coll is not None
    dtype = _NUMPY.get(CollDtype(first.coll.dtype))
    if dtype is None:
        raise SimulationError(f"{switch} cannot reduce {CollDtype(first.coll.dtype).name}")
    arrays = [np.frombuffer(m.payload, dtype=dtype) for m in contributions]
    total = arrays[0].copy()
    for array in arrays[1:]:
        total = _REDUCE[CollOp(first.coll.op)](total, array)
    return total.astype(dtype).tobytes()
