"""How a library's kernels turn an algorithm's steps into primitive operations, and the same
steps into flows: the protocol's costs, the buffers, and the bookkeeping both share.

One step of a channel, as NCCL's primitives run it (``src/device/prims_simple.h``,
``prims_ll.h``, ``prims_ll128.h``): the sender waits until the receiver's buffer slot is free and
the receiver learns the data has come (a handshake on head and tail counters for Simple, flags
inside the data for LL and LL128): that is the step's synchronisation latency, a fixed cost per
step (NCCL's ``hwLat``, larger on network hops where a proxy thread posts each step to the NIC,
``src/transport/net.cc``). Then the data crosses into the receiver's buffer: LL carries 8 bytes of
flags with every 8 of data, LL128 one 8-byte flag per 128-byte line (64-byte lines in RCCL), and
those flag bytes go on the wire with the data (:meth:`Protocol.flags`); and one channel's threads
copy no faster than their own rate, whatever the links could take (a channel's time is at least
its bytes over that rate). The receiver reduces from its buffer, or copies the data out of it to
where it belongs (NCCL's ``recvReduceSend`` and ``recvCopySend``); with Simple, whose buffers hold
plain data, data that only needs to land somewhere is written there directly (NCCL's direct
peer-to-peer writes).

So a transfer here is: a :class:`~oisa.plan.Delay` for the handshake; one :class:`~oisa.plan.Send`
of the data and its flags into a receive slot of the receiver (the flags' values are not
modelled: whatever follows the data in the sender's memory goes in their place); and a ``Delay``
of the bytes over the channels' rate, in parallel with it. The receiver goes on when all of them
are done. A connection's buffer holds :data:`STEPS` steps, so a sender waits for the transfer that
many back to have landed before it sends again.

Channels that follow the same ring (or tree) over the same paths move in lockstep over the same
links: their steps start and end together and share every link. Such channels are emitted as one
*lane* (:class:`Lane`) that carries all of their parts of the buffer, copied at all of their
threads' rates together: the same bytes on the same links at the same times, in a fraction of
the operations (a 64-card ring over eight planes is one lane, not eight). Channels are dealt to
lanes in blocks, so that a lane's parts of the buffer are contiguous.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from oisa.ccl.kinds import Call, aligned
from oisa.ccl.library import Library
from oisa.ccl.topology import Topology
from oisa.plan import Copy, Delay, Flows, Phase, PrimitiveOp, Reduce, Send
from oisa.units import S

__all__ = ["STEPS", "Emitter", "Flowbook", "Layout", "PhaseShape", "Protocol", "part_sizes", "parts", "protocol",
           "wire_sizes"]

SLOT_ALIGN = 64  # scratch slots and flag slots start on 64-byte boundaries, as libraries align buffers
# Steps a connection's buffer holds: a sender is at most this many steps ahead of its receiver
# (NVIDIA/nccl src/include/device.h NCCL_STEPS 8; the same in ROCm/rccl).
STEPS = 8


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

    def busy_ps(self, size: int, width: int = 1) -> int:
        """The least time ``width`` channels' threads take to copy ``size`` bytes."""
        return math.ceil(size * S / (self.channel_rate * width)) if self.channel_rate > 0 and size > 0 else 0

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


def protocol(library: Library, name: str, channels: int, algorithm: str) -> Protocol:
    """Protocol ``name``'s costs from ``library`` for a call of ``algorithm`` on ``channels``
    channels (a whole-call rate cap is shared by the channels; an algorithm may copy at a rate
    of its own, as NVLS does in the switch)."""
    key = f"protocols.{name}"
    own = f"algorithms.{algorithm}.channel_bandwidth"
    rate = library.value(own if library.has(own) else f"{key}.channel_bandwidth") / 8
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


def part_sizes(total: int, count: int, unit: int) -> np.ndarray:
    """The sizes of :func:`parts`, as an array (a ring's chunks at 10,240 ranks, for every
    choice the tuner prices)."""
    units, rest = divmod(total // unit, count)
    return (units + (np.arange(count) < rest)).astype(np.int64) * unit


def wire_sizes(proto: Protocol, sizes: np.ndarray) -> np.ndarray:
    """Each transfer of ``sizes`` bytes with its flags (0 for none), as :meth:`Protocol.flags`
    reckons them: once per distinct size (a buffer's parts take at most two)."""
    distinct, inverse = np.unique(sizes, return_inverse=True)
    wires = np.asarray([size + proto.flags(size) if size > 0 else 0 for size in distinct.tolist()], dtype=np.int64)
    return wires[inverse.reshape(-1)]


@dataclass(frozen=True)
class Lane:
    """Channels ``first`` to ``first + width - 1``, moving together as lane ``index``."""

    index: int
    first: int
    width: int


@dataclass(frozen=True)
class Layout:
    """Where a call's receive slots lie on every card: per lane, ``receives`` slots of ``stride``
    bytes (the largest transfer and its flags), one for every transfer a rank receives."""

    call: Call
    lanes: int
    stride: int
    receives: int

    def slot(self, lane: Lane, index: int) -> int:
        """Where receive slot ``index`` of lane ``lane`` starts."""
        assert 0 <= index < self.receives, "the layout gives every transfer a rank receives a slot"
        return self.call.scratch + (lane.index * self.receives + index) * self.stride

    @property
    def end(self) -> int:
        """The first address after everything the call uses, for whatever comes next."""
        return aligned(self.call.scratch + self.lanes * self.receives * self.stride)


def layout(ctx: Context, lanes: int, largest: int, receives: int) -> Layout:
    """The layout of ``lanes`` lanes whose ranks each receive at most ``receives`` transfers of
    at most ``largest`` bytes per lane."""
    stride = max(SLOT_ALIGN, -(-(largest + ctx.protocol.flags(largest)) // SLOT_ALIGN) * SLOT_ALIGN)
    return Layout(ctx.call, lanes, stride, receives)


class Emitter:
    """The primitive operations of one call, in an order where dependencies come first (ids
    index :attr:`ops`). Ranks are rank indices; what it emits names card ids."""

    def __init__(self, call: Call, topology: Topology, proto: Protocol, where: Layout) -> None:
        self.call = call
        self.topology = topology
        self.protocol = proto
        self.layout = where
        self.ops: list[PrimitiveOp] = []
        self._next_slot: dict[tuple[int, int], int] = defaultdict(int)
        self._sent: dict[tuple[int, int, int], list[tuple[int, ...]]] = defaultdict(list)  # per connection

    def add(self, op: PrimitiveOp) -> int:
        self.ops.append(op)
        return len(self.ops) - 1

    def send(self, src: int, dst: int, local: int, size: int, deps: tuple[int, ...],
             lane: Lane) -> tuple[tuple[int, ...], int]:
        """One step's transfer of ``size`` bytes from ``src``'s ``local`` into a receive slot of
        ``dst``; returns the operations the receiver must wait for and the slot's address."""
        slot = self.layout.slot(lane, self._next_slot[(dst, lane.index)])
        self._next_slot[(dst, lane.index)] += 1
        return self._transfer(src, dst, local, slot, size + self.protocol.flags(size), size, deps, lane), slot

    def deliver(self, src: int, dst: int, local: int, remote: int, size: int, deps: tuple[int, ...],
                lane: Lane) -> tuple[int, ...]:
        """One step's transfer of ``size`` bytes from ``src``'s ``local`` to ``dst``'s ``remote``:
        written there directly with Simple, copied there from a receive slot with LL and LL128."""
        if size <= 0:
            return deps
        if self.protocol.efficiency >= 1.0:
            return self._transfer(src, dst, local, remote, size, size, deps, lane)
        arrived, slot = self.send(src, dst, local, size, deps, lane)
        return self.copy(dst, remote, slot, size, arrived)

    def _transfer(self, src: int, dst: int, local: int, remote: int, wire: int, size: int, deps: tuple[int, ...],
                  lane: Lane) -> tuple[int, ...]:
        if size <= 0:
            return deps
        route = self.topology.route(src, dst)
        cards = self.call.ranks
        proto = self.protocol
        earlier = self._sent[(src, dst, lane.index)]
        if len(earlier) >= STEPS:  # the receiver's buffer is full until the transfer STEPS back has landed
            deps = (*deps, *earlier[-STEPS])
        sync = self.add(Delay(cards[src], proto.sync_ps(route.network), deps))
        waits = [self.add(Send(cards[src], cards[dst], wire, local, remote, (sync,), stores=route.stores))]
        busy = proto.busy_ps(size, lane.width)
        if busy:
            waits.append(self.add(Delay(cards[src], busy, (sync,))))
        earlier.append(tuple(waits))
        return tuple(waits)

    def reduce(self, rank: int, target: int, sources: tuple[int, ...], size: int,
               deps: tuple[int, ...]) -> tuple[int, ...]:
        if size <= 0:
            return deps
        call = self.call
        return (self.add(Reduce(call.ranks[rank], target, sources, size, call.dtype, call.op, deps)),)

    def copy(self, rank: int, target: int, source: int, size: int, deps: tuple[int, ...] = ()) -> tuple[int, ...]:
        if size <= 0 or target == source:
            return deps
        return (self.add(Copy(self.call.ranks[rank], target, source, size, deps)),)


@dataclass(frozen=True)
class PhaseShape:
    """What a phase's rate cap is made of, for the cost model to price again under other figures:
    the channels a lane of it copies with (``width``), and the steps each of its connections
    pipelines through its window (``steps``, 0 where the window does not bind: one step, or no
    more than :data:`STEPS`)."""

    width: float
    steps: int


@dataclass
class Flowbook:
    """The flows of a call's phases, accumulated pattern by pattern: the bytes every pair of
    ranks moves in a phase (data and flags), and the memory traffic beside them. Its
    :meth:`send` and :meth:`deliver` mirror the :class:`Emitter`'s; :meth:`send_many` records
    a whole pattern's transfers at once, as arrays (a tree's or a ring's lane at 10,240 ranks
    is 10,240 of them, priced for every choice the tuner compares)."""

    call: Call
    topology: Topology
    protocol: Protocol
    phases: list[Phase] = field(default_factory=list)
    shapes: list[PhaseShape] = field(default_factory=list)  # per phase: what its rate cap is made of
    # the phase's transfers so far, in the order recorded: batches of (src, dst, lane, wire) arrays,
    # and single transfers not yet gathered into a batch
    _batches: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    _single: list[tuple[int, int, int, int]] = field(default_factory=list)
    _memory: float = 0.0
    _width: int = 0  # the channels of the phase's narrowest lane

    def send(self, src: int, dst: int, sizes: list[int], lane: Lane) -> None:
        """Lane ``lane``'s transfers of each of ``sizes`` bytes from rank ``src`` into receive
        slots of ``dst`` in the current phase, with their flags. Each lane's flows stay apart:
        its channels' threads copy at their own rate."""
        self._add(src, dst, self.wire(sizes), lane)

    def wire(self, sizes: list[int]) -> int:
        """Wire bytes (data and flags) of transfers of each of ``sizes`` bytes."""
        efficiency = self.protocol.efficiency
        return sum(sizes) if efficiency >= 1.0 else sum(size + _flags(efficiency, size) for size in sizes if size > 0)

    def send_counts(self, src: int, dst: int, counts: list[tuple[int, int]], lane: Lane) -> None:
        """:meth:`send` of transfers given as (size, how many) pairs, without listing them one
        by one (a ring's steps at 100,000 ranks would list 10^10 of them)."""
        self._add(src, dst, self.wire_counts(counts), lane)

    def wire_counts(self, counts: list[tuple[int, int]]) -> int:
        """Wire bytes of transfers given as (size, how many) pairs."""
        efficiency = self.protocol.efficiency
        return sum(count * (size + _flags(efficiency, size)) for size, count in counts if size > 0)

    def deliver_counts(self, src: int, dst: int, counts: list[tuple[int, int]], lane: Lane) -> None:
        """:meth:`deliver` of transfers given as (size, how many) pairs."""
        self.send_counts(src, dst, counts, lane)
        if self.protocol.efficiency < 1.0:
            self.memory(2 * sum(size * count for size, count in counts))

    def stream_counts(self, edges: Sequence[tuple[int, int]] | np.ndarray, counts: list[tuple[int, int]],
                      lane: Lane) -> None:
        """:meth:`send_counts` and :meth:`deliver_counts` of the same transfers over every edge
        of ``edges`` (child, parent; or an array of such rows): sent up each, delivered back down;
        their wire bytes are reckoned once for all the edges (a tree's lane at 10,240 ranks has
        10,239)."""
        wire = self.wire_counts(counts)
        if wire <= 0:
            return
        pairs = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        both = np.stack([pairs, pairs[:, ::-1]], axis=1).reshape(-1, 2)  # each edge up, then down
        self.send_many(both[:, 0], both[:, 1], wire, lane)
        if len(pairs) and self.protocol.efficiency < 1.0:
            self.memory(2 * len(pairs) * sum(size * count for size, count in counts))

    def send_wire(self, src: int, dst: int, wire: int, lane: Lane) -> None:
        """:meth:`send` of transfers whose wire bytes (data and flags) the caller has reckoned."""
        self._add(src, dst, wire, lane)

    def send_many(self, src: np.ndarray, dst: np.ndarray, wire: np.ndarray | int, lane: Lane) -> None:
        """:meth:`send_wire` of many transfers at once, in the order given: from ranks ``src[i]``
        to ``dst[i]``, ``wire`` bytes each (one figure for all, or one per transfer)."""
        src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
        wires = np.broadcast_to(np.asarray(wire, dtype=np.int64), src.shape)
        moving = wires > 0
        if not moving.any():
            return
        if not moving.all():
            src, dst, wires = src[moving], dst[moving], wires[moving]
        self._gather()
        self._batches.append((src, dst, np.full(len(src), lane.index, dtype=np.int64), np.array(wires)))
        self._width = lane.width if not self._width else min(self._width, lane.width)

    def _add(self, src: int, dst: int, wire: int, lane: Lane) -> None:
        if wire > 0:
            self._single.append((src, dst, lane.index, wire))
            self._width = lane.width if not self._width else min(self._width, lane.width)

    def _gather(self) -> None:
        """The single transfers recorded so far, as a batch (keeping the order of recording)."""
        if self._single:
            table = np.asarray(self._single, dtype=np.int64)
            self._batches.append((table[:, 0], table[:, 1], table[:, 2], table[:, 3]))
            self._single = []

    def _pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The phase's (src, dst, wire bytes) per pair of ranks and lane, the bytes of a pair
        recorded more than once summed, in the order each pair was first recorded (as its cards
        issue them)."""
        self._gather()
        if not self._batches:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0)
        src, dst, lane, wire = (np.concatenate(parts) for parts in zip(*self._batches, strict=True))
        n = len(self.call.ranks)
        key = (src * n + dst) * (int(lane.max()) + 1) + lane
        unique, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        if len(unique) == len(key):
            return src, dst, wire.astype(np.float64)
        totals = np.bincount(inverse.reshape(-1), weights=wire, minlength=len(unique))  # whole bytes: exact
        by_first = np.argsort(first, kind="stable")
        taken = first[by_first]
        return src[taken], dst[taken], totals[by_first]

    def deliver(self, src: int, dst: int, sizes: list[int], lane: Lane) -> None:
        """As :meth:`Emitter.deliver`: the transfers, and with LL and LL128 the receiver's copies."""
        self.send(src, dst, sizes, lane)
        if self.protocol.efficiency < 1.0:
            self.memory(2 * sum(sizes))

    def memory(self, bytes_: float) -> None:
        """Memory traffic (reads and writes of reductions and copies), summed over all ranks."""
        self._memory += bytes_

    def close(self, repeat: int, *, latency: bool = True, switch_flows: Sequence[tuple[int, int, float]] = (),
              width: float = 0, steps: int = 0, queued: bool = False) -> None:
        """End the current phase: it repeats ``repeat`` times, each moving a ``repeat``-th of
        what was recorded (as a ring's steps do); ``switch_flows`` are (node, node, bytes) flows
        to or from a switch, recorded as given (with their lane's ``width``). No flow moves faster
        than the narrowest lane's
        channels copy (where lanes are as wide as one another, as the tuner's channel counts make
        them, that is every lane's rate).

        The handshake a step costs is the protocol's over the phase's hops: over a network hop
        or not. Where the phase repeats, its data passes the hops one after another (a ring's
        chunk goes round), so a step costs their mean (NCCL counts a ring's latency the same way:
        ``nInterSteps`` network hops and the rest inside the node, tuning.cc); a single step costs
        the slowest hop's.

        Where each connection pipelines its bytes as ``steps`` steps (a chain's or a tree's
        pieces), no more than :data:`STEPS` of them are in flight: a connection moves at most
        ``STEPS`` steps per handshake and crossing, which caps its flows' rate where handshakes
        are long (a network hop's); its flows are then :attr:`~oisa.plan.Phase.interleaved`.
        ``queued``: the phase's transfers are all issued at its start
        and each card's DMA engines take them in the order recorded (:attr:`oisa.plan.Phase.queued`)."""
        cards = np.asarray(self.call.ranks, dtype=np.int64)
        pair_src, pair_dst, totals = self._pairs()  # in the order the algorithm sends them
        count = len(pair_src)
        src = np.concatenate([cards[pair_src], np.asarray([a for a, _, _ in switch_flows], dtype=np.int64)])
        dst = np.concatenate([cards[pair_dst], np.asarray([b for _, b, _ in switch_flows], dtype=np.int64)])
        size = np.concatenate([totals / repeat, np.asarray([b / repeat for _, _, b in switch_flows],
                                                           dtype=np.float64)])
        if len(src):
            sync = 0
            if latency and count:
                network = self.topology.routes(src[:count], dst[:count]).network
                hops = np.where(network, self.protocol.sync_ps(True), self.protocol.sync_ps(False))
                sync = round(int(hops.sum()) / len(hops)) if repeat > 1 else int(hops.max())
            ranks = tuple(range(len(cards)))
            lanes = self._width or width or 1
            cap = self.protocol.wire_rate_cap * lanes
            if steps > STEPS:
                window = self._window_rate(src[:count], dst[:count], size[:count], steps)
                cap = min(cap, window) if cap else window
            self.phases.append(Phase(Flows.of(src, dst, size), repeat, sync,
                                     self._memory / repeat / len(ranks), self.call.ranks, rate_cap=cap,
                                     queued=queued, interleaved=steps > 1))
            self.shapes.append(PhaseShape(lanes, steps if steps > STEPS else 0))
        self._batches = []
        self._single = []
        self._memory = 0.0
        self._width = 0

    def _window_rate(self, src: np.ndarray, dst: np.ndarray, size: np.ndarray, steps: int) -> float:
        """Wire bytes per second the slowest connection of a phase moves (cards ``src`` to
        ``dst``, ``size`` bytes a repetition), :data:`STEPS` steps per handshake, crossing and
        step's transfer on its own (busiest) link."""
        routed = self.topology.routes(src, dst)
        step = size / steps
        crossing = np.zeros(len(step))
        per_flow = step[routed.flow] * routed.per_byte / self.topology.capacities[routed.resource]
        np.maximum.at(crossing, routed.flow, per_flow)
        sync = np.where(routed.network, self.protocol.sync_ps(True), self.protocol.sync_ps(False))
        cycle = (sync + routed.latency_ps) / S + crossing
        moving = cycle > 0
        return float(np.min(STEPS * step[moving] / cycle[moving])) if moving.any() else 0.0


MAX_PIPELINE = 64  # pieces a pipelined chain or tree cuts a lane's share into, at most (bounds the operations)


def _union(each: list[tuple[int, int]], lane: Lane) -> tuple[int, int]:
    """The contiguous (offset, size) the parts of ``lane``'s channels make together."""
    mine = each[lane.first:lane.first + lane.width]
    return mine[0][0], sum(size for _, size in mine)


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

    def lanes(self, distinct: int) -> list[Lane]:
        """The channels dealt in blocks to as many lanes as there are ``distinct`` ways (rings,
        trees) for them, at most one lane per channel."""
        count = max(1, min(self.channels, distinct))
        bounds = [lane * self.channels // count for lane in range(count + 1)]
        return [Lane(lane, bounds[lane], bounds[lane + 1] - bounds[lane]) for lane in range(count)]

    def share(self, lane: Lane) -> tuple[int, int]:
        """Lane ``lane``'s part (offset, size) of an unblocked buffer: its channels' parts."""
        return _union(parts(self.call.size, self.channels, self.call.itemsize), lane)

    def block_share(self, lane: Lane) -> tuple[int, int]:
        """Lane ``lane``'s part (offset in a block, size) of every rank block."""
        return _union(parts(self.call.size // self.n, self.channels, self.call.itemsize), lane)

    def block_part(self, block: int, lane: Lane) -> tuple[int, int]:
        """Lane ``lane``'s part (offset in the whole buffer, size) of rank block ``block``."""
        offset, size = self.block_share(lane)
        return block * (self.call.size // self.n) + offset, size

    def pieces(self, size: int, chunk: int = 0) -> list[tuple[int, int]]:
        """``size`` bytes as the pieces a pipelined chain or tree moves one after another:
        ``chunk`` bytes each (the protocol's chunk unless given), at most :data:`MAX_PIPELINE`
        of them."""
        count = max(1, min(MAX_PIPELINE, -(-size // (chunk or self.protocol.chunk))))
        return [piece for piece in parts(size, count, self.call.itemsize)]
