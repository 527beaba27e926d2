"""Ring algorithms: all-reduce, reduce-scatter and all-gather around a ring, and broadcast and
reduce pipelined along a chain from or to the root, one ring (or chain) per lane of channels.

Each channel takes a contiguous part of the buffer (of every rank's block, for the blocked
collectives), as NCCL's channels do (``src/device/all_reduce.h``, ``runRing``: every channel
owns a slice of the buffer and walks its own ring), and follows its ring
(:mod:`oisa.ccl.channels`); channels on the same ring move as one lane
(:class:`oisa.ccl.schedule.Lane`). In a ring step every rank sends one chunk to the next and
receives one from the previous, so steps need no finer pipelining to keep every link busy:
all-reduce is n - 1 reduce-scatter steps (receive a partial sum, add the own input, pass it on)
and n - 1 all-gather steps. A chain (broadcast, reduce) would idle all but one link per piece,
so it cuts its part into the protocol's chunks and forwards each as soon as it has it (NCCL's
``runRing`` for broadcast and reduce, chunk by chunk).

Every algorithm here comes twice: ``emit`` writes the primitive operations with their
addresses, ``flows`` the same traffic as phases; tests hold the two to the same bytes between
the same cards.
"""

from __future__ import annotations

import numpy as np

from oisa.ccl.channels import ring_orders
from oisa.ccl.schedule import Context, Emitter, Flowbook, Lane, Layout, layout, part_sizes, parts, wire_sizes

__all__ = ["AllGather", "AllReduce", "Broadcast", "Reduce", "ReduceScatter"]


def _lanes(ctx: Context) -> list[tuple[Lane, tuple[int, ...]]]:
    """Each lane with the ring it follows."""
    orders = ring_orders(ctx.topology)
    return [(lane, orders[lane.index]) for lane in ctx.lanes(len(orders))]


def _chunks(ctx: Context, lane: Lane) -> list[tuple[int, int]]:
    """Lane ``lane``'s part of an unblocked buffer, as one chunk per rank."""
    offset, size = ctx.share(lane)
    return [(offset + o, s) for o, s in parts(size, ctx.n, ctx.call.itemsize)]


def _chain(order: tuple[int, ...], root: int) -> tuple[int, ...]:
    """The ring ``order`` started at ``root``."""
    start = order.index(root)
    return order[start:] + order[:start]


# -- all-reduce -------------------------------------------------------------------------------------------


class AllReduce:
    """Reduce-scatter then all-gather around each lane's ring."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        lanes = _lanes(ctx)
        largest = max(size for lane, _ in lanes for _, size in _chunks(ctx, lane))
        return layout(ctx, len(lanes), largest, 2 * (ctx.n - 1))

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n = ctx.call, ctx.n
        for lane, order in _lanes(ctx):
            chunks = _chunks(ctx, lane)
            ready: list[tuple[int, ...]] = [()] * n
            for step in range(n - 1):  # position i passes on its partial sum of chunk i - step
                sent = []
                for i in range(n):
                    offset, size = chunks[(i - step) % n]
                    source = (call.input if step == 0 else call.output) + offset
                    sent.append(em.send(order[i], order[(i + 1) % n], source, size, ready[i], lane))
                for i in range(n):
                    offset, size = chunks[(i - step) % n]
                    receiver = (i + 1) % n
                    arrived, slot = sent[i]
                    ready[receiver] = em.reduce(order[receiver], call.output + offset, (call.input + offset, slot),
                                                size, arrived)
            for step in range(n - 1):  # position i ends the reduce-scatter owning chunk i + 1
                delivered = []
                for i in range(n):
                    offset, size = chunks[(i + 1 - step) % n]
                    delivered.append(em.deliver(order[i], order[(i + 1) % n], call.output + offset,
                                                call.output + offset, size, ready[i], lane))
                for i in range(n):
                    ready[(i + 1) % n] = delivered[i]

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        n = ctx.n
        lanes = [(lane, np.asarray(order, dtype=np.int64)) for lane, order in _lanes(ctx)]
        proto = ctx.protocol
        copies = proto.efficiency < 1.0  # LL and LL128 deliver into slots and copy out
        positions = np.arange(n)
        for phase in (0, 1):
            for lane, order in lanes:
                sizes = part_sizes(ctx.share(lane)[1], n, ctx.call.itemsize)
                # what a position sends is every chunk but one: the whole, less that one (reckoned once
                # per lane rather than tallied anew for each of its thousands of positions)
                wires, total = wire_sizes(proto, sizes), int(sizes.sum())
                # every chunk but the one the next position holds (0) or owns (1)
                excluded = (positions + 1 + phase) % n
                book.send_many(order, np.roll(order, -1), int(wires.sum()) - wires[excluded], lane)
                sent = (n - 1) * total  # each position's chunks but one, over all positions
                if phase == 0:
                    book.memory(3 * sent)
                elif copies:
                    book.memory(2 * sent)
            book.close(n - 1)


# -- reduce-scatter -------------------------------------------------------------------------------------


class ReduceScatter:
    """The reduce-scatter half of the ring all-reduce, on blocks: rank r ends with block r."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        lanes = _lanes(ctx)
        return layout(ctx, len(lanes), max(ctx.block_share(lane)[1] for lane, _ in lanes), ctx.n - 1)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n = ctx.call, ctx.n
        for lane, order in _lanes(ctx):
            ready: list[tuple[int, ...]] = [()] * n
            for step in range(n - 1):  # position i passes on its partial sum of block order[i - step - 1]
                sent = []
                for i in range(n):
                    offset, size = ctx.block_part(order[(i - step - 1) % n], lane)
                    source = (call.input if step == 0 else call.output) + offset
                    sent.append(em.send(order[i], order[(i + 1) % n], source, size, ready[i], lane))
                for i in range(n):
                    offset, size = ctx.block_part(order[(i - step - 1) % n], lane)
                    receiver = (i + 1) % n
                    arrived, slot = sent[i]
                    ready[receiver] = em.reduce(order[receiver], call.output + offset, (call.input + offset, slot),
                                                size, arrived)

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        n = ctx.n
        for lane, order in _lanes(ctx):
            size = ctx.block_share(lane)[1]
            for i in range(n):
                book.send_counts(order[i], order[(i + 1) % n], [(size, n - 1)], lane)
                book.memory(3 * size * (n - 1))
        book.close(n - 1)


# -- all-gather ----------------------------------------------------------------------------------------------


class AllGather:
    """Every rank copies its block into place, then passes blocks on around the ring."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        lanes = _lanes(ctx)
        return layout(ctx, len(lanes), max(ctx.block_share(lane)[1] for lane, _ in lanes), ctx.n - 1)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n = ctx.call, ctx.n
        for lane, order in _lanes(ctx):
            part_offset = ctx.block_share(lane)[0]
            for i in range(n):
                offset, size = ctx.block_part(order[i], lane)
                em.copy(order[i], call.output + offset, call.input + part_offset, size)
            ready: list[tuple[int, ...]] = [()] * n
            for step in range(n - 1):  # position i passes on block order[i - step]
                delivered = []
                for i in range(n):
                    offset, size = ctx.block_part(order[(i - step) % n], lane)
                    source = call.input + part_offset if step == 0 else call.output + offset
                    delivered.append(em.deliver(order[i], order[(i + 1) % n], source, call.output + offset, size,
                                                ready[i], lane))
                for i in range(n):
                    ready[(i + 1) % n] = delivered[i]

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        n = ctx.n
        for lane, order in _lanes(ctx):
            size = ctx.block_share(lane)[1]
            for i in range(n):
                book.deliver_counts(order[i], order[(i + 1) % n], [(size, n - 1)], lane)
                book.memory(2 * size)
        book.close(n - 1)


# -- broadcast and reduce: pipelined chains ---------------------------------------------------------------


def _chain_layout(ctx: Context) -> Layout:
    lanes = _lanes(ctx)
    pieces = [ctx.pieces(ctx.share(lane)[1]) for lane, _ in lanes]
    largest = max(size for each in pieces for _, size in each)
    return layout(ctx, len(lanes), largest, max(len(each) for each in pieces))


class Broadcast:
    """A chain from the root round each lane's ring; every rank forwards each piece as soon as
    it has it."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        return _chain_layout(ctx)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n = ctx.call, ctx.n
        for lane, order in _lanes(ctx):
            chain = _chain(order, call.root)
            offset, size = ctx.share(lane)
            em.copy(call.root, call.output + offset, call.input + offset, size)
            for piece_offset, piece in ctx.pieces(size):
                at = offset + piece_offset
                ready: tuple[int, ...] = ()
                for p in range(n - 1):
                    source = (call.input if p == 0 else call.output) + at
                    ready = em.deliver(chain[p], chain[p + 1], source, call.output + at, piece, ready, lane)

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        _chain_flows(ctx, book, towards_root=False)


class Reduce:
    """A chain to the root round each lane's ring: the farthest rank sends its input, every rank
    on the way adds its own and passes the partial sum on, piece by piece."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        return _chain_layout(ctx)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n = ctx.call, ctx.n
        for lane, order in _lanes(ctx):
            chain = _chain(order, call.root)
            offset, size = ctx.share(lane)
            for piece_offset, piece in ctx.pieces(size):
                at = offset + piece_offset
                ready: tuple[int, ...] = ()
                source = call.input + at
                for p in range(n - 1, 0, -1):
                    arrived, slot = em.send(chain[p], chain[p - 1], source, piece, ready, lane)
                    ready = em.reduce(chain[p - 1], call.output + at, (call.input + at, slot), piece, arrived)
                    source = call.output + at

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        _chain_flows(ctx, book, towards_root=True)


def _chain_flows(ctx: Context, book: Flowbook, *, towards_root: bool) -> None:
    """A pipelined chain: the first piece stored and forwarded hop after hop (the fill, a phase
    per hop), then the other pieces streaming through every hop at once."""
    n, call = ctx.n, ctx.call
    lanes = [(lane, _chain(order, call.root)) for lane, order in _lanes(ctx)]
    pieces = [[piece for _, piece in ctx.pieces(ctx.share(lane)[1])] for lane, _ in lanes]
    hops = [(p + 1, p) if towards_root else (p, p + 1) for p in range(n - 1)]
    if towards_root:
        hops.reverse()  # the farthest rank sends first
    for index, hop in enumerate([[h] for h in hops] + [hops]):
        rest = index == len(hops)  # the last: every hop at once
        for (lane, chain), each in zip(lanes, pieces, strict=True):
            sent = each[1:] if rest else each[:1]
            for a, b in hop:
                if towards_root:
                    book.send(chain[a], chain[b], sent, lane)
                else:
                    book.deliver(chain[a], chain[b], sent, lane)
            if towards_root:  # every rank on the way adds its input: two reads and a write
                book.memory(3 * sum(sent) * len(hop))
            elif index == 0 or rest:  # the root copies its input to its output beside the first hop
                book.memory(2 * sum(sent))
        book.close(1, latency=not rest, steps=max(len(each) - 1 for each in pieces) if rest else 0)
