"""Direct algorithms: every rank sends to every peer at once, where the fabric gives each pair
its own path (a full mesh) or enough of it (a switch).

All-to-all and send/receive are point-to-point exchanges in every library (NCCL schedules them
on its peer-to-peer channels, ``src/enqueue.cc`` ``p2pTaskAppend``). All-reduce, reduce-scatter
and all-gather can run the same way: each rank sends block j of its buffer to rank j, which
reduces what it gets (reduce-scatter), and then sends its reduced block to everyone (all-gather);
the one- and two-shot all-reduce kernels of AMD's RCCL/MSCCL++ and of PyTorch's symmetric memory
are of this kind (see ``docs/how-to/rccl-usage-tips.rst`` in ROCm/rccl). Broadcast and reduce
send from, or to, the root directly. Every channel does this for its own part of the buffer.
"""

from __future__ import annotations

from oisa.ccl.schedule import Context, Emitter, Flowbook, Lane, Layout, layout, parts

__all__ = ["AllGather", "AllReduce", "AllToAll", "Broadcast", "Reduce", "ReduceScatter", "SendRecv"]


def _lane(ctx: Context) -> Lane:
    """Every channel takes the same paths: one lane carries them all."""
    return ctx.lanes(1)[0]


def _chunks(ctx: Context, lane: Lane) -> list[tuple[int, int]]:
    offset, size = ctx.share(lane)
    return [(offset + o, s) for o, s in parts(size, ctx.n, ctx.call.itemsize)]


def _reduce_scatter(ctx: Context, em: Emitter, lane: Lane, chunks: list[tuple[int, int]]) -> list[tuple[int, ...]]:
    """Every rank sends chunk j to rank j, which reduces them all into its output; returns what
    each rank's reduced chunk waits for."""
    call, n = ctx.call, ctx.n
    arrived: list[list[int]] = [[] for _ in range(n)]
    slots: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for step in range(1, n):
            j = (i + step) % n
            offset, size = chunks[j]
            if size:
                waits, slot = em.send(i, j, call.input + offset, size, (), lane)
                arrived[j].extend(waits)
                slots[j].append(slot)
    return [em.reduce(j, call.output + chunks[j][0], (call.input + chunks[j][0], *slots[j]), chunks[j][1],
                      tuple(arrived[j])) for j in range(n)]


def _rs_flows(ctx: Context, book: Flowbook, lane: Lane, chunks: list[int]) -> None:
    n = ctx.n
    for i in range(n):
        for step in range(1, n):
            j = (i + step) % n
            book.send(i, j, [chunks[j]], lane)
    book.memory(sum((n + 1) * size for size in chunks))


class AllReduce:
    """Reduce-scatter by direct sends, then every rank sends its reduced chunk to all."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        return layout(ctx, 1, max(s for _, s in _chunks(ctx, _lane(ctx))), 2 * (ctx.n - 1))

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n, lane = ctx.call, ctx.n, _lane(ctx)
        chunks = _chunks(ctx, lane)
        reduced = _reduce_scatter(ctx, em, lane, chunks)
        for j in range(n):
            offset, size = chunks[j]
            for step in range(1, n):
                em.deliver(j, (j + step) % n, call.output + offset, call.output + offset, size, reduced[j], lane)

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        n, lane = ctx.n, _lane(ctx)
        chunks = [s for _, s in _chunks(ctx, lane)]
        _rs_flows(ctx, book, lane, chunks)
        book.close(1)
        for j in range(n):
            for step in range(1, n):
                book.deliver(j, (j + step) % n, [chunks[j]], lane)
        book.close(1)


class ReduceScatter:
    """Every rank sends block j to rank j, which reduces them."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        return layout(ctx, 1, ctx.block_share(_lane(ctx))[1], ctx.n - 1)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        lane = _lane(ctx)
        _reduce_scatter(ctx, em, lane, [ctx.block_part(j, lane) for j in range(ctx.n)])

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        lane = _lane(ctx)
        _rs_flows(ctx, book, lane, [ctx.block_part(j, lane)[1] for j in range(ctx.n)])
        book.close(1)


def _all_pairs_flows(ctx: Context, book: Flowbook) -> None:
    """Every rank delivers its lane's part of a block to every other rank, and copies its own."""
    n, lane = ctx.n, _lane(ctx)
    size = ctx.block_share(lane)[1]
    for i in range(n):
        for step in range(1, n):
            book.deliver(i, (i + step) % n, [size], lane)
        book.memory(2 * size)
    book.close(1)


class AllGather:
    """Every rank sends its block to every other rank."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        return layout(ctx, 1, ctx.block_share(_lane(ctx))[1], ctx.n - 1)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n, lane = ctx.call, ctx.n, _lane(ctx)
        part_offset = ctx.block_share(lane)[0]
        for i in range(n):
            offset, size = ctx.block_part(i, lane)
            em.copy(i, call.output + offset, call.input + part_offset, size)
            for step in range(1, n):
                em.deliver(i, (i + step) % n, call.input + part_offset, call.output + offset, size, (), lane)

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        _all_pairs_flows(ctx, book)


class AllToAll:
    """Rank i's block j goes to rank j, which keeps it as its block i."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        return layout(ctx, 1, ctx.block_share(_lane(ctx))[1], ctx.n - 1)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n, lane = ctx.call, ctx.n, _lane(ctx)
        for i in range(n):
            own, size = ctx.block_part(i, lane)
            em.copy(i, call.output + own, call.input + own, size)
            for step in range(1, n):
                j = (i + step) % n
                em.deliver(i, j, call.input + ctx.block_part(j, lane)[0], call.output + own, size, (), lane)

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        _all_pairs_flows(ctx, book)


class Broadcast:
    """The root sends its buffer to every other rank."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        return layout(ctx, 1, ctx.share(_lane(ctx))[1], 1)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, root, lane = ctx.call, ctx.call.root, _lane(ctx)
        offset, size = ctx.share(lane)
        em.copy(root, call.output + offset, call.input + offset, size)
        for step in range(1, ctx.n):
            em.deliver(root, (root + step) % ctx.n, call.input + offset, call.output + offset, size, (), lane)

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        root, lane = ctx.call.root, _lane(ctx)
        size = ctx.share(lane)[1]
        for step in range(1, ctx.n):
            book.deliver(root, (root + step) % ctx.n, [size], lane)
        book.memory(2 * size)
        book.close(1)


class Reduce:
    """Every rank sends its buffer to the root, which reduces them all."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        return layout(ctx, 1, ctx.share(_lane(ctx))[1], ctx.n - 1)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, root, n, lane = ctx.call, ctx.call.root, ctx.n, _lane(ctx)
        offset, size = ctx.share(lane)
        arrived: list[int] = []
        slots: list[int] = []
        for i in range(n):
            if i != root and size:
                waits, slot = em.send(i, root, call.input + offset, size, (), lane)
                arrived.extend(waits)
                slots.append(slot)
        em.reduce(root, call.output + offset, (call.input + offset, *slots), size, tuple(arrived))

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        root, n, lane = ctx.call.root, ctx.n, _lane(ctx)
        size = ctx.share(lane)[1]
        for i in range(n):
            if i != root:
                book.send(i, root, [size], lane)
        book.memory((n + 1) * size)
        book.close(1)


class SendRecv:
    """Rank i sends its buffer to rank i + 1, all at once."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        return layout(ctx, 1, ctx.share(_lane(ctx))[1], 1)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n, lane = ctx.call, ctx.n, _lane(ctx)
        offset, size = ctx.share(lane)
        for i in range(n):
            em.deliver(i, (i + 1) % n, call.input + offset, call.output + offset, size, (), lane)

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        n, lane = ctx.n, _lane(ctx)
        size = ctx.share(lane)[1]
        for i in range(n):
            book.deliver(i, (i + 1) % n, [size], lane)
        book.close(1)
