"""Hierarchical all-reduce: inside each server a ring reduce-scatter, so that the card of local
index k holds the server's sum of chunk k; across servers a ring all-reduce of chunk k among the
cards of local index k (one rail: they talk NIC to NIC); inside each server a ring all-gather.

Each card then sends 2 (m - 1) / m of a g-th of the buffer over the network (g cards per server, m
servers) instead of the 2 (n - 1) / n of the whole buffer a flat ring pushes through each
server's boundary: the scheme of Horovod's hierarchical all-reduce and of the two-level
all-reduce in NCCL's tree and CollNet chain algorithms (inside the node, then across).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from oisa.ccl.channels import server_paths
from oisa.ccl.schedule import Context, Emitter, Flowbook, Lane, Layout, layout, part_sizes, parts, wire_sizes

__all__ = ["AllReduce", "available"]


def available(ctx: Context) -> str | None:
    groups = ctx.topology.server_groups
    if len({len(g) for g in groups}) != 1:
        return "needs servers of equal size"
    if len(groups) < 2 or len(groups[0]) < 2:
        return "needs several servers of several cards"
    return None


def _orders(ctx: Context) -> tuple[tuple[int, ...], ...]:
    """The orders (local indices) the rings inside a server can take: link-disjoint ones where
    the server's cards are linked pairwise, one starting at each card otherwise."""
    groups = ctx.topology.server_groups
    return server_paths(len(groups[0]), ctx.topology.meshed(groups[0]))


def _lanes(ctx: Context) -> list[Lane]:
    """A lane per order of the cards inside a server."""
    return ctx.lanes(len(_orders(ctx)))


def _chunks(ctx: Context, lane: Lane) -> list[tuple[int, int]]:
    """Lane ``lane``'s chunks (offset, size), one per local index."""
    offset, size = ctx.share(lane)
    return [(offset + o, s) for o, s in parts(size, len(ctx.topology.server_groups[0]), ctx.call.itemsize)]


def _geometry(ctx: Context, lane: Lane) -> tuple[list[tuple[int, int]], list[list[tuple[int, int]]]]:
    """Lane ``lane``'s chunks (one per local index) and each chunk's sub-chunks (one per server)."""
    chunks = _chunks(ctx, lane)
    servers = len(ctx.topology.server_groups)
    subs = [[(o + so, ss) for so, ss in parts(s, servers, ctx.call.itemsize)] for o, s in chunks]
    return chunks, subs


def _local_order(ctx: Context, lane: Lane) -> list[int]:
    return list(_orders(ctx)[lane.index])


class AllReduce:
    """Reduce-scatter in each server, all-reduce on each rail, all-gather in each server."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        groups = ctx.topology.server_groups
        g, m = len(groups[0]), len(groups)
        lanes = _lanes(ctx)
        largest = max(s for lane in lanes for _, s in _chunks(ctx, lane))
        return layout(ctx, len(lanes), largest, 2 * (g - 1) + 2 * (m - 1))

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call = ctx.call
        groups = ctx.topology.server_groups
        g, m = len(groups[0]), len(groups)
        for lane in _lanes(ctx):
            chunks, subs = _geometry(ctx, lane)
            local = _local_order(ctx, lane)
            ready: dict[int, tuple[int, ...]] = {rank: () for group in groups for rank in group}
            for group in groups:  # reduce-scatter in each server: local index k ends with chunk k
                order = [group[k] for k in local]
                for step in range(g - 1):
                    sent = []
                    for p in range(g):
                        offset, size = chunks[local[(p - step - 1) % g]]
                        source = (call.input if step == 0 else call.output) + offset
                        sent.append(em.send(order[p], order[(p + 1) % g], source, size, ready[order[p]], lane))
                    for p in range(g):
                        offset, size = chunks[local[(p - step - 1) % g]]
                        receiver = order[(p + 1) % g]
                        arrived, slot = sent[p]
                        ready[receiver] = em.reduce(receiver, call.output + offset, (call.input + offset, slot), size,
                                                    arrived)
            for k in range(g):  # across servers, on rail k: a ring all-reduce of chunk k, in place
                rail = [group[k] for group in groups]
                for step in range(m - 1):
                    staged = []
                    for q in range(m):
                        offset, size = subs[k][(q - step) % m]
                        staged.append(em.send(rail[q], rail[(q + 1) % m], call.output + offset, size, ready[rail[q]],
                                              lane))
                    for q in range(m):
                        offset, size = subs[k][(q - step) % m]
                        receiver = rail[(q + 1) % m]
                        arrived, slot = staged[q]
                        ready[receiver] = em.reduce(receiver, call.output + offset, (call.output + offset, slot), size,
                                                    arrived)
                for step in range(m - 1):
                    delivered = []
                    for q in range(m):
                        offset, size = subs[k][(q + 1 - step) % m]
                        delivered.append(em.deliver(rail[q], rail[(q + 1) % m], call.output + offset,
                                                    call.output + offset, size, ready[rail[q]], lane))
                    for q in range(m):
                        ready[rail[(q + 1) % m]] = delivered[q]
            for group in groups:  # all-gather in each server
                order = [group[k] for k in local]
                for step in range(g - 1):
                    delivered = []
                    for p in range(g):
                        offset, size = chunks[local[(p - step) % g]]
                        delivered.append(em.deliver(order[p], order[(p + 1) % g], call.output + offset,
                                                    call.output + offset, size, ready[order[p]], lane))
                    for p in range(g):
                        ready[order[(p + 1) % g]] = delivered[p]

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        groups = ctx.topology.server_groups
        g = len(groups[0])
        table = np.asarray(groups, dtype=np.int64)  # rank by server and local index
        geometry = [(lane, _chunks(ctx, lane)) for lane in _lanes(ctx)]
        copies = ctx.protocol.efficiency < 1.0  # LL and LL128 deliver into slots and copy out
        for phase in ("scatter", "gather"):  # inside the servers
            if phase == "gather":
                _rails(ctx, book, geometry, table)
            shift = 1 if phase == "scatter" else 0
            for lane, chunks in geometry:
                local = _local_order(ctx, lane)
                order = table[:, local]  # each server's ring, position by position
                # what position p sends is the same in every server: tallied once per lane, not listed per server
                tallies = [list(Counter(chunks[local[(p - step - shift) % g]][1] for step in range(g - 1)).items())
                           for p in range(g)]
                wires = np.asarray([book.wire_counts(tally) for tally in tallies], dtype=np.int64)
                book.send_many(order.reshape(-1), np.roll(order, -1, axis=1).reshape(-1), np.tile(wires, len(order)),
                               lane)
                moved = len(order) * sum(size * count for tally in tallies for size, count in tally)
                if phase == "scatter":
                    book.memory(3 * moved)
                elif copies:
                    book.memory(2 * moved)
            book.close(g - 1)


def _rails(ctx: Context, book: Flowbook, geometry: list[tuple[Lane, list[tuple[int, int]]]],
           table: np.ndarray) -> None:
    """The all-reduces across servers, one per rail: its reduce-scatter, then its all-gather."""
    m = len(table)
    proto = ctx.protocol
    copies = proto.efficiency < 1.0  # LL and LL128 deliver into slots and copy out
    positions = np.arange(m)
    for half in (0, 1):
        for lane, chunks in geometry:
            for k in range(len(chunks)):
                rail = table[:, k]
                sizes = part_sizes(chunks[k][1], m, ctx.call.itemsize)
                # what a position sends is every sub-chunk but one: the whole, less that one (reckoned
                # once per rail rather than tallied anew for each of its thousands of positions)
                wires, total = wire_sizes(proto, sizes), int(sizes.sum())
                excluded = (positions + 1 + half) % m  # every sub-chunk but the one the next server holds or owns
                book.send_many(rail, np.roll(rail, -1), int(wires.sum()) - wires[excluded], lane)
                sent = (m - 1) * total  # each position's sub-chunks but one, over all positions
                if half == 0:
                    book.memory(3 * sent)
                elif copies:
                    book.memory(2 * sent)
        book.close(m - 1)
