"""Ring algorithms: all-reduce, reduce-scatter and all-gather around a ring, and broadcast and
reduce pipelined along a chain from or to the root, one ring (or chain) per channel.

Each channel takes a contiguous part of the buffer (of every rank's block, for the blocked
collectives), as NCCL's channels do (``src/device/all_reduce.h``, ``runRing``: every channel
owns a slice of the buffer and walks its own ring), and follows its own ring order
(:mod:`oisa.ccl.channels`). In a ring step every rank sends one chunk to the next and receives
one from the previous, so steps need no finer pipelining to keep every link busy: all-reduce is
n - 1 reduce-scatter steps (receive a partial sum, add the own input, pass it on) and n - 1
all-gather steps. A chain (broadcast, reduce) would idle all but one link per piece, so it cuts
its part into the protocol's chunks and forwards each as soon as it has it (NCCL's
``runRing`` for broadcast and reduce, chunk by chunk).

Every algorithm here comes twice: ``emit_*`` writes the primitive operations with their
addresses, ``flows_*`` the same traffic as phases; tests hold the two to the same bytes between
the same cards.
"""

from __future__ import annotations

from oisa.ccl.channels import rings
from oisa.ccl.schedule import Context, Emitter, Flowbook, Layout, layout, parts, slot_stride

__all__ = ["AllGather", "AllReduce", "Broadcast", "Reduce", "ReduceScatter"]


def _chunks(ctx: Context, channel: int) -> list[tuple[int, int]]:
    """Channel ``channel``'s part of an unblocked buffer, as one chunk per rank."""
    offset, size = ctx.share(channel)
    return [(offset + o, s) for o, s in parts(size, ctx.n, ctx.call.itemsize)]


def _largest_chunk(ctx: Context) -> int:
    return max(size for c in range(ctx.channels) for _, size in _chunks(ctx, c))


def _chain(order: tuple[int, ...], root: int) -> tuple[int, ...]:
    """The ring ``order`` started at ``root``."""
    start = order.index(root)
    return order[start:] + order[:start]


# -- all-reduce -------------------------------------------------------------------------------------------


class AllReduce:
    """Reduce-scatter then all-gather around each channel's ring."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        largest = _largest_chunk(ctx)
        return layout(ctx.call, ctx.channels, (ctx.n - 1) * slot_stride(largest), largest, 2 * (ctx.n - 1),
                      ctx.protocol)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n = ctx.call, ctx.n
        for channel, order in enumerate(rings(ctx.topology, ctx.channels)):
            chunks = _chunks(ctx, channel)
            slots, stride = em.layout.slots(channel), slot_stride(max(s for _, s in chunks))
            ready: list[tuple[int, ...]] = [()] * n
            for step in range(n - 1):  # position i passes on its partial sum of chunk i - step
                sent = []
                for i in range(n):
                    offset, size = chunks[(i - step) % n]
                    source = (call.input if step == 0 else call.output) + offset
                    sent.append(em.send(order[i], order[(i + 1) % n], source, slots + step * stride, size, ready[i],
                                        channel))
                for i in range(n):
                    offset, size = chunks[(i - step) % n]
                    receiver = (i + 1) % n
                    ready[receiver] = em.reduce(order[receiver], call.output + offset,
                                                (call.input + offset, slots + step * stride), size, sent[i])
            for step in range(n - 1):  # position i ends the reduce-scatter owning chunk i + 1
                sent = []
                for i in range(n):
                    offset, size = chunks[(i + 1 - step) % n]
                    sent.append(em.send(order[i], order[(i + 1) % n], call.output + offset, call.output + offset, size,
                                        ready[i], channel))
                for i in range(n):
                    ready[(i + 1) % n] = sent[i]

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        n = ctx.n
        orders = rings(ctx.topology, ctx.channels)
        for phase in (0, 1):
            for channel, order in enumerate(orders):
                sizes = [size for _, size in _chunks(ctx, channel)]
                for i in range(n):
                    sent = [sizes[((i - step) if phase == 0 else (i + 1 - step)) % n] for step in range(n - 1)]
                    book.exact(order[i], order[(i + 1) % n], sent, channel)
                    if phase == 0:
                        book.memory(3 * sum(sent))
            book.close(n - 1)


# -- reduce-scatter -------------------------------------------------------------------------------------


class ReduceScatter:
    """The reduce-scatter half of the ring all-reduce, on blocks: rank r ends with block r."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        largest = max(size for _, size in ctx.block_parts())
        return layout(ctx.call, ctx.channels, (ctx.n - 1) * slot_stride(largest), largest, ctx.n - 1, ctx.protocol)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n = ctx.call, ctx.n
        for channel, order in enumerate(rings(ctx.topology, ctx.channels)):
            slots, stride = em.layout.slots(channel), slot_stride(ctx.block_part(0, channel)[1])
            ready: list[tuple[int, ...]] = [()] * n
            for step in range(n - 1):  # position i passes on its partial sum of block order[i - step - 1]
                sent = []
                for i in range(n):
                    offset, size = ctx.block_part(order[(i - step - 1) % n], channel)
                    source = (call.input if step == 0 else call.output) + offset
                    sent.append(em.send(order[i], order[(i + 1) % n], source, slots + step * stride, size, ready[i],
                                        channel))
                for i in range(n):
                    offset, size = ctx.block_part(order[(i - step - 1) % n], channel)
                    receiver = (i + 1) % n
                    ready[receiver] = em.reduce(order[receiver], call.output + offset,
                                                (call.input + offset, slots + step * stride), size, sent[i])

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        n = ctx.n
        for channel, order in enumerate(rings(ctx.topology, ctx.channels)):
            size = ctx.block_part(0, channel)[1]
            for i in range(n):
                book.exact(order[i], order[(i + 1) % n], [size] * (n - 1), channel)
                book.memory(3 * size * (n - 1))
        book.close(n - 1)


# -- all-gather ----------------------------------------------------------------------------------------------


class AllGather:
    """Every rank copies its block into place, then passes blocks on around the ring."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        largest = max(size for _, size in ctx.block_parts())
        return layout(ctx.call, ctx.channels, 0, largest, ctx.n - 1, ctx.protocol)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n = ctx.call, ctx.n
        for channel, order in enumerate(rings(ctx.topology, ctx.channels)):
            part_offset = ctx.block_parts()[channel][0]
            for i in range(n):
                offset, size = ctx.block_part(order[i], channel)
                em.copy(order[i], call.output + offset, call.input + part_offset, size)
            ready: list[tuple[int, ...]] = [()] * n
            for step in range(n - 1):  # position i passes on block order[i - step]
                sent = []
                for i in range(n):
                    offset, size = ctx.block_part(order[(i - step) % n], channel)
                    source = call.input + part_offset if step == 0 else call.output + offset
                    sent.append(em.send(order[i], order[(i + 1) % n], source, call.output + offset, size, ready[i],
                                        channel))
                for i in range(n):
                    ready[(i + 1) % n] = sent[i]

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        n = ctx.n
        for channel, order in enumerate(rings(ctx.topology, ctx.channels)):
            size = ctx.block_part(0, channel)[1]
            for i in range(n):
                book.exact(order[i], order[(i + 1) % n], [size] * (n - 1), channel)
                book.memory(2 * size)
        book.close(n - 1)


# -- broadcast and reduce: pipelined chains ---------------------------------------------------------------


class Broadcast:
    """A chain from the root round each channel's ring; every rank forwards each piece as soon
    as it has it."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        largest = max(size for c in range(ctx.channels) for _, size in ctx.pieces(ctx.share(c)[1]))
        receives = max(len(ctx.pieces(ctx.share(c)[1])) for c in range(ctx.channels))
        return layout(ctx.call, ctx.channels, 0, largest, receives, ctx.protocol)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n = ctx.call, ctx.n
        for channel, order in enumerate(rings(ctx.topology, ctx.channels)):
            chain = _chain(order, call.root)
            offset, size = ctx.share(channel)
            em.copy(call.root, call.output + offset, call.input + offset, size)
            for piece_offset, piece in ctx.pieces(size):
                at = offset + piece_offset
                ready: tuple[int, ...] = ()
                for p in range(n - 1):
                    source = (call.input if p == 0 else call.output) + at
                    ready = em.send(chain[p], chain[p + 1], source, call.output + at, piece, ready, channel)

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        _chain_flows(ctx, book, towards_root=False)


class Reduce:
    """A chain to the root round each channel's ring: the farthest rank sends its input, every
    rank on the way adds its own and passes the partial sum on, piece by piece."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        largest = max(size for c in range(ctx.channels) for _, size in ctx.pieces(ctx.share(c)[1]))
        receives = max(len(ctx.pieces(ctx.share(c)[1])) for c in range(ctx.channels))
        share = max(ctx.share(c)[1] for c in range(ctx.channels))
        return layout(ctx.call, ctx.channels, slot_stride(share), largest, receives, ctx.protocol)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n = ctx.call, ctx.n
        if n == 1:
            em.copy(0, call.output, call.input, call.size)
            return
        for channel, order in enumerate(rings(ctx.topology, ctx.channels)):
            chain = _chain(order, call.root)
            offset, size = ctx.share(channel)
            slots = em.layout.slots(channel)
            for piece_offset, piece in ctx.pieces(size):
                at = offset + piece_offset
                ready: tuple[int, ...] = ()
                source = call.input + at
                for p in range(n - 1, 0, -1):
                    arrived = em.send(chain[p], chain[p - 1], source, slots + piece_offset, piece, ready, channel)
                    ready = em.reduce(chain[p - 1], call.output + at, (call.input + at, slots + piece_offset), piece,
                                      arrived)
                    source = call.output + at

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        _chain_flows(ctx, book, towards_root=True)


def _chain_flows(ctx: Context, book: Flowbook, *, towards_root: bool) -> None:
    """A pipelined chain as two phases: the first piece crossing every hop one after another
    (the fill: a step per hop), then the other pieces streaming through every hop at once."""
    n, call = ctx.n, ctx.call
    chains = [_chain(order, call.root) for order in rings(ctx.topology, ctx.channels)]
    pieces = [[piece for _, piece in ctx.pieces(ctx.share(channel)[1])] for channel in range(ctx.channels)]
    for part in (slice(0, 1), slice(1, None)):
        for channel, chain in enumerate(chains):
            sent = pieces[channel][part]
            for p in range(n - 1):
                src, dst = (chain[p + 1], chain[p]) if towards_root else (chain[p], chain[p + 1])
                book.exact(src, dst, sent, channel)
            book.memory(3 * sum(sent) * (n - 1) if towards_root else 2 * sum(sent))
        book.close(n - 1) if part.start == 0 else book.close(1, latency=False)
