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

from oisa.ccl.schedule import Context, Emitter, Flowbook, Layout, layout, parts, slot_stride

__all__ = ["AllGather", "AllReduce", "AllToAll", "Broadcast", "Reduce", "ReduceScatter", "SendRecv"]


def _slot(sender: int, receiver: int) -> int:
    """Where ``receiver`` keeps what ``sender`` sends it: one slot per peer."""
    return sender if sender < receiver else sender - 1


def _chunks(ctx: Context, channel: int) -> list[tuple[int, int]]:
    offset, size = ctx.share(channel)
    return [(offset + o, s) for o, s in parts(size, ctx.n, ctx.call.itemsize)]


def _reduce_scatter(ctx: Context, em: Emitter, channel: int, chunks: list[tuple[int, int]]) -> list[tuple[int, ...]]:
    """Every rank sends chunk j to rank j, which reduces them all into its output; returns what
    each rank's reduced chunk waits for."""
    call, n = ctx.call, ctx.n
    slots, stride = em.layout.slots(channel), slot_stride(max(s for _, s in chunks))
    arrived: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for step in range(1, n):
            j = (i + step) % n
            offset, size = chunks[j]
            arrived[j].extend(em.send(i, j, call.input + offset, slots + _slot(i, j) * stride, size, (), channel))
    done = []
    for j in range(n):
        offset, size = chunks[j]
        sources = (call.input + offset, *(slots + k * stride for k in range(n - 1)))
        done.append(em.reduce(j, call.output + offset, sources, size, tuple(arrived[j])))
    return done


def _rs_flows(ctx: Context, book: Flowbook, chunks_of: list[list[int]]) -> None:
    n = ctx.n
    for channel, chunks in enumerate(chunks_of):
        for i in range(n):
            for step in range(1, n):
                j = (i + step) % n
                book.exact(i, j, [chunks[j]], channel)
        book.memory(sum((n + 1) * size for size in chunks))


class AllReduce:
    """Reduce-scatter by direct sends, then every rank sends its reduced chunk to all."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        largest = max(s for c in range(ctx.channels) for _, s in _chunks(ctx, c))
        return layout(ctx.call, ctx.channels, (ctx.n - 1) * slot_stride(largest), largest, 2 * (ctx.n - 1),
                      ctx.protocol)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n = ctx.call, ctx.n
        for channel in range(ctx.channels):
            chunks = _chunks(ctx, channel)
            reduced = _reduce_scatter(ctx, em, channel, chunks)
            for j in range(n):
                offset, size = chunks[j]
                for step in range(1, n):
                    em.send(j, (j + step) % n, call.output + offset, call.output + offset, size, reduced[j], channel)

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        n = ctx.n
        chunks_of = [[s for _, s in _chunks(ctx, c)] for c in range(ctx.channels)]
        _rs_flows(ctx, book, chunks_of)
        book.close(1)
        for channel, chunks in enumerate(chunks_of):
            for j in range(n):
                for step in range(1, n):
                    book.exact(j, (j + step) % n, [chunks[j]], channel)
        book.close(1)


class ReduceScatter:
    """Every rank sends block j to rank j, which reduces them."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        largest = max(size for _, size in ctx.block_parts())
        return layout(ctx.call, ctx.channels, (ctx.n - 1) * slot_stride(largest), largest, ctx.n - 1, ctx.protocol)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        for channel in range(ctx.channels):
            _reduce_scatter(ctx, em, channel, [ctx.block_part(j, channel) for j in range(ctx.n)])

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        _rs_flows(ctx, book, [[ctx.block_part(j, c)[1] for j in range(ctx.n)] for c in range(ctx.channels)])
        book.close(1)


class AllGather:
    """Every rank sends its block to every other rank."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        return layout(ctx.call, ctx.channels, 0, max(s for _, s in ctx.block_parts()), ctx.n - 1, ctx.protocol)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n = ctx.call, ctx.n
        for channel in range(ctx.channels):
            part_offset = ctx.block_parts()[channel][0]
            for i in range(n):
                offset, size = ctx.block_part(i, channel)
                em.copy(i, call.output + offset, call.input + part_offset, size)
                for step in range(1, n):
                    em.send(i, (i + step) % n, call.input + part_offset, call.output + offset, size, (), channel)

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        n = ctx.n
        for channel in range(ctx.channels):
            size = ctx.block_part(0, channel)[1]
            for i in range(n):
                for step in range(1, n):
                    book.exact(i, (i + step) % n, [size], channel)
                book.memory(2 * size)
        book.close(1)


class AllToAll:
    """Rank i's block j goes to rank j, which keeps it as its block i."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        return layout(ctx.call, ctx.channels, 0, max(s for _, s in ctx.block_parts()), ctx.n - 1, ctx.protocol)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n = ctx.call, ctx.n
        for channel in range(ctx.channels):
            for i in range(n):
                own, size = ctx.block_part(i, channel)
                em.copy(i, call.output + own, call.input + own, size)
                for step in range(1, n):
                    j = (i + step) % n
                    em.send(i, j, call.input + ctx.block_part(j, channel)[0], call.output + own, size, (), channel)

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        AllGather.flows(ctx, book)


class Broadcast:
    """The root sends its buffer to every other rank."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        return layout(ctx.call, ctx.channels, 0, max(ctx.share(c)[1] for c in range(ctx.channels)), 1, ctx.protocol)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, root = ctx.call, ctx.call.root
        for channel in range(ctx.channels):
            offset, size = ctx.share(channel)
            em.copy(root, call.output + offset, call.input + offset, size)
            for step in range(1, ctx.n):
                em.send(root, (root + step) % ctx.n, call.input + offset, call.output + offset, size, (), channel)

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        root = ctx.call.root
        for channel in range(ctx.channels):
            size = ctx.share(channel)[1]
            for step in range(1, ctx.n):
                book.exact(root, (root + step) % ctx.n, [size], channel)
            book.memory(2 * size)
        book.close(1)


class Reduce:
    """Every rank sends its buffer to the root, which reduces them all."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        largest = max(ctx.share(c)[1] for c in range(ctx.channels))
        return layout(ctx.call, ctx.channels, (ctx.n - 1) * slot_stride(largest), largest, ctx.n - 1, ctx.protocol)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, root, n = ctx.call, ctx.call.root, ctx.n
        for channel in range(ctx.channels):
            offset, size = ctx.share(channel)
            slots, stride = em.layout.slots(channel), slot_stride(size)
            arrived: list[int] = []
            for i in range(n):
                if i != root:
                    arrived.extend(em.send(i, root, call.input + offset, slots + _slot(i, root) * stride, size, (),
                                           channel))
            sources = (call.input + offset, *(slots + k * stride for k in range(n - 1)))
            em.reduce(root, call.output + offset, sources, size, tuple(arrived))

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        root, n = ctx.call.root, ctx.n
        for channel in range(ctx.channels):
            size = ctx.share(channel)[1]
            for i in range(n):
                if i != root:
                    book.exact(i, root, [size], channel)
            book.memory((n + 1) * size)
        book.close(1)


class SendRecv:
    """Rank i sends its buffer to rank i + 1, all at once."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        return layout(ctx.call, ctx.channels, 0, max(ctx.share(c)[1] for c in range(ctx.channels)), 1, ctx.protocol)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call, n = ctx.call, ctx.n
        for channel in range(ctx.channels):
            offset, size = ctx.share(channel)
            for i in range(n):
                em.send(i, (i + 1) % n, call.input + offset, call.output + offset, size, (), channel)

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        n = ctx.n
        for channel in range(ctx.channels):
            size = ctx.share(channel)[1]
            for i in range(n):
                book.exact(i, (i + 1) % n, [size], channel)
        book.close(1)
