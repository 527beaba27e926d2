"""Hierarchical all-reduce: inside each server a ring reduce-scatter, so that the card of local
index k holds the server's sum of chunk k; across servers a ring all-reduce of chunk k among the
cards of local index k (one rail: they talk NIC to NIC); inside each server a ring all-gather.

Each card then sends 2 (m - 1) / m of a g-th of the buffer over the network (g cards per server, m
servers) instead of the 2 (n - 1) / n of the whole buffer a flat ring pushes through each
server's boundary: the scheme of Horovod's hierarchical all-reduce and of the two-level
all-reduce in NCCL's tree and CollNet chain algorithms (inside the node, then across).
"""

from __future__ import annotations

from oisa.ccl.schedule import Context, Emitter, Flowbook, Layout, layout, parts, slot_stride

__all__ = ["AllReduce", "available"]


def available(ctx: Context) -> str | None:
    groups = ctx.topology.server_groups
    if len({len(g) for g in groups}) != 1:
        return "needs servers of equal size"
    if len(groups) < 2 or len(groups[0]) < 2:
        return "needs several servers of several cards"
    return None


def _geometry(ctx: Context, channel: int) -> tuple[list[tuple[int, int]], list[list[tuple[int, int]]]]:
    """Channel ``channel``'s chunks (one per local index) and each chunk's sub-chunks (one per server)."""
    groups = ctx.topology.server_groups
    offset, size = ctx.share(channel)
    chunks = [(offset + o, s) for o, s in parts(size, len(groups[0]), ctx.call.itemsize)]
    subs = [[(o + so, ss) for so, ss in parts(s, len(groups), ctx.call.itemsize)] for o, s in chunks]
    return chunks, subs


def _local_order(g: int, channel: int) -> list[int]:
    return [(channel + k) % g for k in range(g)]


class AllReduce:
    """Reduce-scatter in each server, all-reduce on each rail, all-gather in each server."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        groups = ctx.topology.server_groups
        g, m = len(groups[0]), len(groups)
        largest_chunk = max(s for c in range(ctx.channels) for _, s in _geometry(ctx, c)[0])
        largest_sub = max(s for c in range(ctx.channels) for subs in _geometry(ctx, c)[1] for _, s in subs)
        slots = (g - 1) * slot_stride(largest_chunk) + (m - 1) * slot_stride(largest_sub)
        return layout(ctx.call, ctx.channels, slots, largest_chunk, 2 * (g - 1) + 2 * (m - 1), ctx.protocol)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call = ctx.call
        groups = ctx.topology.server_groups
        g, m = len(groups[0]), len(groups)
        for channel in range(ctx.channels):
            chunks, subs = _geometry(ctx, channel)
            local = _local_order(g, channel)
            chunk_stride = slot_stride(max(s for _, s in chunks))
            sub_stride = slot_stride(max(s for row in subs for _, s in row))
            inner_slots = em.layout.slots(channel)
            outer_slots = inner_slots + (g - 1) * chunk_stride
            ready: dict[int, tuple[int, ...]] = {rank: () for group in groups for rank in group}
            for group in groups:  # reduce-scatter in each server: local index k ends with chunk k
                order = [group[k] for k in local]
                for step in range(g - 1):
                    sent = []
                    for p in range(g):
                        offset, size = chunks[local[(p - step - 1) % g]]
                        source = (call.input if step == 0 else call.output) + offset
                        sent.append(em.send(order[p], order[(p + 1) % g], source, inner_slots + step * chunk_stride,
                                            size, ready[order[p]], channel))
                    for p in range(g):
                        offset, size = chunks[local[(p - step - 1) % g]]
                        receiver = order[(p + 1) % g]
                        ready[receiver] = em.reduce(receiver, call.output + offset,
                                                    (call.input + offset, inner_slots + step * chunk_stride), size,
                                                    sent[p])
            for k in range(g):  # across servers, on rail k: a ring all-reduce of chunk k, in place
                rail = [group[k] for group in groups]
                for step in range(m - 1):
                    sent = []
                    for q in range(m):
                        offset, size = subs[k][(q - step) % m]
                        sent.append(em.send(rail[q], rail[(q + 1) % m], call.output + offset,
                                            outer_slots + step * sub_stride, size, ready[rail[q]], channel))
                    for q in range(m):
                        offset, size = subs[k][(q - step) % m]
                        receiver = rail[(q + 1) % m]
                        ready[receiver] = em.reduce(receiver, call.output + offset,
                                                    (call.output + offset, outer_slots + step * sub_stride), size,
                                                    sent[q])
                for step in range(m - 1):
                    sent = []
                    for q in range(m):
                        offset, size = subs[k][(q + 1 - step) % m]
                        sent.append(em.send(rail[q], rail[(q + 1) % m], call.output + offset, call.output + offset,
                                            size, ready[rail[q]], channel))
                    for q in range(m):
                        ready[rail[(q + 1) % m]] = sent[q]
            for group in groups:  # all-gather in each server
                order = [group[k] for k in local]
                for step in range(g - 1):
                    sent = []
                    for p in range(g):
                        offset, size = chunks[local[(p - step) % g]]
                        sent.append(em.send(order[p], order[(p + 1) % g], call.output + offset, call.output + offset,
                                            size, ready[order[p]], channel))
                    for p in range(g):
                        ready[order[(p + 1) % g]] = sent[p]

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        groups = ctx.topology.server_groups
        g = len(groups[0])
        geometry = [_geometry(ctx, c) for c in range(ctx.channels)]
        for phase in ("scatter", "gather"):  # inside the servers
            if phase == "gather":
                _rails(ctx, book, geometry, groups)
            for channel, (chunks, _) in enumerate(geometry):
                local = _local_order(g, channel)
                for group in groups:
                    order = [group[k] for k in local]
                    for p in range(g):
                        shift = 1 if phase == "scatter" else 0
                        sent = [chunks[local[(p - step - shift) % g]][1] for step in range(g - 1)]
                        book.exact(order[p], order[(p + 1) % g], sent, channel)
                        if phase == "scatter":
                            book.memory(3 * sum(sent))
            book.close(g - 1)


def _rails(ctx: Context, book: Flowbook, geometry: list, groups: tuple[tuple[int, ...], ...]) -> None:
    """The all-reduces across servers, one per rail: its reduce-scatter, then its all-gather."""
    m = len(groups)
    for half in (0, 1):
        for channel, (chunks, subs) in enumerate(geometry):
            for k in range(len(chunks)):
                rail = [group[k] for group in groups]
                sizes = [s for _, s in subs[k]]
                for q in range(m):
                    sent = [sizes[((q - step) if half == 0 else (q + 1 - step)) % m] for step in range(m - 1)]
                    book.exact(rail[q], rail[(q + 1) % m], sent, channel)
                    if half == 0:
                        book.memory(3 * sum(sent))
        book.close(m - 1)
