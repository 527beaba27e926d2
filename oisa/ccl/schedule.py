"""How a library's kernels turn an algorithm's steps into primitive operations, and the same
steps into flows: the protocol's costs, the buffers, and the bookkeeping both share.

One step of a channel, as NCCL's primitives run it (``src/device/prims_simple.h``,
``prims_ll.h``, ``prims_ll128.h``): the sender waits until the receiver's buffer slot is free and
the receiver learns the data has come (a handshake on head and tail counters for Simple, flags
inside the data for LL and LL128): that is the step's synchronisation latency, a fixed cost per
step (NCCL's ``hwLat``, larger on network hops where a proxy thread posts each step to the NIC,
``src/transport/net.cc``). Then the data crosses: LL carries 8 bytes of flags with every 8 of
data, LL128 one 8-byte flag per 128-byte line (64-byte lines in RCCL), and those flag bytes go on
the wire too (:meth:`Protocol.flags`); and one channel's threads copy no faster than their own
rate, whatever the links could take (a channel's time is at least its bytes over that rate).

So a transfer here is: a :class:`~oisa.plan.Delay` for the handshake; the data :class:`~oisa.plan.Send`
and, for LL and LL128, a second send of the flag bytes into a flag slot of the receiver; and a
``Delay`` of the bytes over the channel's rate, in parallel with them. The receiver goes on when
all of them are done.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from oisa.ccl.kinds import Call, aligned
from oisa.ccl.library import Library
from oisa.ccl.topology import Topology
from oisa.plan import Copy, Delay, Flows, Phase, PrimitiveOp, Reduce, Send
from oisa.units import S

__all__ = ["Emitter", "Flowbook", "Layout", "Protocol", "parts", "protocol"]

SLOT_ALIGN = 64  # scratch slots and flag slots start on 64-byte boundaries, as libraries align buffers


@dataclass(frozen=True)
class Protocol:
    """One protocol's costs for one call: ``efficiency`` the payload share of what it puts on
    the wire; ``step_ps`` and ``net_step_ps`` the handshake of a step over a scale-up hop and a
    network hop; ``channel_rate`` the bytes per second one channel's threads copy at (0: no
    limit below the links'); ``chunk`` what a pipelined step moves."""

    name: str
    efficiency: float
    step_ps: int
    net_step_ps: int
    channel_rate: float
    chunk: int

    def flags(self, size: int) -> int:
        """Flag bytes the protocol puts on the wire beside ``size`` bytes of data."""
        return _flags(self.efficiency, size)

    def busy_ps(self, size: int) -> int:
        """The least time one channel's threads take to copy ``size`` bytes."""
        return math.ceil(size * S / self.channel_rate) if self.channel_rate > 0 and size > 0 else 0

    @property
    def wire_rate_cap(self) -> float:
        """The most wire bytes per second one channel's transfer moves (data and flags), 0 for none."""
        return self.channel_rate / self.efficiency if self.channel_rate > 0 else 0.0

    def sync_ps(self, network: bool) -> int:
        return self.net_step_ps if network else self.step_ps


@lru_cache(maxsize=4096)
def _flags(efficiency: float, size: int) -> int:
    if efficiency >= 1.0 or size <= 0:
        return 0
    return math.ceil(size * (1 / efficiency - 1) - 1e-9)


def protocol(library: Library, name: str, channels: int) -> Protocol:
    """Protocol ``name``'s costs from ``library`` for a call on ``channels`` channels (a
    whole-call rate cap is shared by the channels)."""
    key = f"protocols.{name}"
    rate = library.value(f"{key}.channel_bandwidth") / 8
    if library.has(f"{key}.call_bandwidth"):
        rate = min(rate, library.value(f"{key}.call_bandwidth") / 8 / channels)
    return Protocol(name, library.value(f"{key}.efficiency"), library.value(f"{key}.step_latency"),
                    library.value(f"{key}.net_step_latency"), rate, library.value(f"{key}.chunk"))


def parts(total: int, count: int, unit: int) -> list[tuple[int, int]]:
    """``total`` bytes as ``count`` (offset, size) parts whose boundaries fall on multiples of
    ``unit`` (the element size): as even as that allows, the larger ones first."""
    units, rest = divmod(total // unit, count)
    out, offset = [], 0
    for index in range(count):
        size = (units + (index < rest)) * unit
        out.append((offset, size))
        offset += size
    return out


@dataclass(frozen=True)
class Layout:
    """Where a call's scratch lives on every card: ``slot_bytes`` of the algorithm's own per
    channel, then the flag slots, ``flag_slots`` per channel of ``flag_stride`` bytes each."""

    call: Call
    channels: int
    slot_bytes: int
    flag_stride: int
    flag_slots: int

    def slots(self, channel: int) -> int:
        """Where channel ``channel``'s scratch starts."""
        return self.call.scratch + channel * aligned(self.slot_bytes)

    def flag_area(self, channel: int) -> int:
        return self.call.scratch + self.channels * aligned(self.slot_bytes) + channel * aligned(
            self.flag_stride * self.flag_slots)

    @property
    def end(self) -> int:
        """The first address after everything the call uses, for whatever comes next."""
        return aligned(self.flag_area(self.channels))


def layout(call: Call, channels: int, slot_bytes: int, largest_transfer: int, receives: int,
           proto: Protocol) -> Layout:
    """The layout for ``channels`` channels whose ranks each receive at most ``receives``
    transfers of at most ``largest_transfer`` bytes per channel."""
    stride = -(-proto.flags(largest_transfer) // SLOT_ALIGN) * SLOT_ALIGN
    return Layout(call, channels, slot_bytes, stride, receives if stride else 0)


def slot_stride(size: int) -> int:
    return max(SLOT_ALIGN, -(-size // SLOT_ALIGN) * SLOT_ALIGN)


class Emitter:
    """The primitive operations of one call, in an order where dependencies come first (ids
    index :attr:`ops`). Ranks are rank indices; what it emits names card ids."""

    def __init__(self, call: Call, topology: Topology, proto: Protocol, where: Layout) -> None:
        self.call = call
        self.topology = topology
        self.protocol = proto
        self.layout = where
        self.ops: list[PrimitiveOp] = []
        self._flag_next: dict[tuple[int, int], int] = defaultdict(int)

    def add(self, op: PrimitiveOp) -> int:
        self.ops.append(op)
        return len(self.ops) - 1

    def send(self, src: int, dst: int, local: int, remote: int, size: int, deps: tuple[int, ...],
             channel: int) -> tuple[int, ...]:
        """One step's transfer of ``size`` bytes from ``src``'s ``local`` to ``dst``'s ``remote``;
        returns the operations the receiver must wait for."""
        if size <= 0:
            return deps
        route = self.topology.route(src, dst)
        cards = self.call.ranks
        proto = self.protocol
        sync = self.add(Delay(cards[src], proto.sync_ps(route.network), deps))
        waits = [self.add(Send(cards[src], cards[dst], size, local, remote, (sync,), stores=route.stores))]
        flag_bytes = proto.flags(size)
        if flag_bytes:
            slot = self._flag_next[(dst, channel)]
            self._flag_next[(dst, channel)] = slot + 1
            assert slot < self.layout.flag_slots, "the layout gives every receive a flag slot"
            where = self.layout.flag_area(channel)
            waits.append(self.add(Send(cards[src], cards[dst], flag_bytes, where, where + slot * self.layout.flag_stride,
                                       (sync,), stores=route.stores)))
        busy = proto.busy_ps(size)
        if busy:
            waits.append(self.add(Delay(cards[src], busy, (sync,))))
        return tuple(waits)

    def reduce(self, rank: int, target: int, sources: tuple[int, ...], size: int, deps: tuple[int, ...]) -> tuple[int, ...]:
        if size <= 0:
            return deps
        call = self.call
        return (self.add(Reduce(call.ranks[rank], target, sources, size, call.dtype, call.op, deps)),)

    def copy(self, rank: int, target: int, source: int, size: int, deps: tuple[int, ...] = ()) -> tuple[int, ...]:
        if size <= 0 or target == source:
            return deps
        return (self.add(Copy(self.call.ranks[rank], target, source, size, deps)),)


@dataclass
class Flowbook:
    """The flows of a call's phases, accumulated pattern by pattern: the bytes every pair of
    ranks moves in a phase (data and flags), and the memory traffic beside them."""

    call: Call
    topology: Topology
    protocol: Protocol
    phases: list[Phase] = field(default_factory=list)
    _pairs: dict[tuple[int, int, int], float] = field(default_factory=lambda: defaultdict(float))
    _memory: float = 0.0

    def exact(self, src: int, dst: int, sizes: list[int], channel: int) -> None:
        """Channel ``channel``'s transfers of each of ``sizes`` bytes from rank ``src`` to ``dst``
        in the current phase, their flags counted one by one, as they are sent. Each channel's
        flows stay apart: a channel's threads copy at their own rate."""
        efficiency = self.protocol.efficiency
        wire = sum(sizes) if efficiency >= 1.0 else sum(size + _flags(efficiency, size) for size in sizes)
        if wire > 0:
            self._pairs[(src, dst, channel)] += wire

    def memory(self, bytes_: float) -> None:
        """Memory traffic (reads and writes of reductions and copies), summed over all ranks."""
        self._memory += bytes_

    def close(self, repeat: int, *, latency: bool = True, switch_flows: list[tuple[int, int, float]] = ()) -> None:
        """End the current phase: it repeats ``repeat`` times, each moving a ``repeat``-th of
        what was recorded (as a ring's steps do); ``switch_flows`` are (node, node, bytes) flows
        to or from a switch, recorded as given.

        The handshake a step costs is the protocol's over the phase's hops: over a network hop
        or not. Where the phase repeats, its data passes the hops one after another (a ring's
        chunk goes round, a chain's piece goes down), so a step costs their mean (NCCL counts a
        ring's latency the same way: ``nInterSteps`` network hops and the rest inside the node,
        tuning.cc); a single step costs the slowest hop's."""
        cards = self.call.ranks
        pairs = sorted(self._pairs.items())
        src = [cards[s] for (s, _, _), _ in pairs] + [a for a, _, _ in switch_flows]
        dst = [cards[d] for (_, d, _), _ in pairs] + [b for _, b, _ in switch_flows]
        size = [total / repeat for _, total in pairs] + [b / repeat for _, _, b in switch_flows]
        if src:
            hops = [self.protocol.sync_ps(self.topology.route(s, d).network) for (s, d, _), _ in pairs]
            sync = (round(sum(hops) / len(hops)) if repeat > 1 else max(hops)) if latency and hops else 0
            ranks = tuple(range(len(cards)))
            self.phases.append(Phase(Flows.of(src, dst, np.asarray(size, dtype=np.float64)), repeat, sync,
                                     self._memory / repeat / len(ranks), tuple(cards),
                                     rate_cap=self.protocol.wire_rate_cap))
        self._pairs = defaultdict(float)
        self._memory = 0.0


MAX_PIPELINE = 64  # pieces a pipelined chain or tree cuts a channel's share into, at most (bounds the operations)


@dataclass(frozen=True)
class Context:
    """What every algorithm builds from: the call, the fabric as the library sees it, the
    protocol and the channel count."""

    call: Call
    topology: Topology
    protocol: Protocol
    channels: int

    @property
    def n(self) -> int:
        return self.call.n

    def share(self, channel: int) -> tuple[int, int]:
        """Channel ``channel``'s part (offset, size) of an unblocked buffer."""
        return parts(self.call.size, self.channels, self.call.itemsize)[channel]

    def block_part(self, block: int, channel: int) -> tuple[int, int]:
        """Channel ``channel``'s part (offset in the whole buffer, size) of rank block ``block``."""
        per_block = self.call.size // self.n
        offset, size = parts(per_block, self.channels, self.call.itemsize)[channel]
        return block * per_block + offset, size

    def block_parts(self) -> list[tuple[int, int]]:
        """Each channel's part (offset in a block, size) of every block."""
        return parts(self.call.size // self.n, self.channels, self.call.itemsize)

    def pieces(self, size: int) -> list[tuple[int, int]]:
        """``size`` bytes as the pieces a pipelined chain or tree moves one after another: the
        protocol's chunk each, at most :data:`MAX_PIPELINE` of them."""
        count = max(1, min(MAX_PIPELINE, -(-size // self.protocol.chunk)))
        return [piece for piece in parts(size, count, self.call.itemsize)]
