"""Tree all-reduce: partial sums flow up each channel's tree to its root while finished pieces
already flow back down, piece by piece (NCCL's ``runTreeUpDown`` in ``src/device/all_reduce.h``).

Across servers the trees are NCCL's double binary tree, inside a server a chain
(:func:`oisa.ccl.channels.tree`): latency grows with the tree's depth, log2 of the servers, rather
than with the number of ranks as a ring's does, which is what the algorithm is for at scale.
"""

from __future__ import annotations

from oisa.ccl.channels import Tree, tree, tree_count
from oisa.ccl.schedule import Context, Emitter, Flowbook, Lane, Layout, layout

__all__ = ["AllReduce"]


def _trees(ctx: Context) -> list[tuple[Lane, Tree]]:
    """Each lane with the tree it follows."""
    return [(lane, tree(ctx.topology, lane.index)) for lane in ctx.lanes(tree_count(ctx.topology))]


def _post_order(shape: Tree) -> list[int]:
    """Ranks with every child before its parent."""
    out, todo = [], [(shape.root, False)]
    while todo:
        node, expanded = todo.pop()
        if expanded:
            out.append(node)
            continue
        todo.append((node, True))
        todo.extend((child, False) for child in reversed(shape.children[node]))
    return out


def _deepest(ctx: Context, shape: Tree) -> list[tuple[int, int]]:
    """The hops a piece takes on the tree's slowest branch, up to the root and back down: the
    branch whose handshakes (over the network or not) add up to most."""
    def cost(hops: list[tuple[int, int]]) -> float:
        return sum(ctx.protocol.sync_ps(ctx.topology.route(a, b).network) for a, b in hops)

    branches = []
    for leaf, children in enumerate(shape.children):
        if children:
            continue
        up, node = [], leaf
        while shape.parent[node] >= 0:
            up.append((node, shape.parent[node]))
            node = shape.parent[node]
        branches.append(up + [(b, a) for a, b in reversed(up)])
    return max(branches, key=cost)


class AllReduce:
    """Up the tree (reduce), then down (broadcast), pipelined by pieces."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        lanes = _trees(ctx)
        widest = max(max(len(c) for c in shape.children) for _, shape in lanes)
        pieces = [ctx.pieces(ctx.share(lane)[1]) for lane, _ in lanes]
        largest = max(size for chunks in pieces for _, size in chunks)
        return layout(ctx, len(lanes), largest, (widest + 1) * max(len(chunks) for chunks in pieces))

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call = ctx.call
        for lane, shape in _trees(ctx):
            offset, size = ctx.share(lane)
            order = _post_order(shape)
            for piece_offset, piece in ctx.pieces(size):
                at = offset + piece_offset
                arrived: list[list[int]] = [[] for _ in shape.parent]
                slots: list[list[int]] = [[] for _ in shape.parent]
                done: list[tuple[int, ...]] = [()] * len(shape.parent)
                for rank in order:  # up: children first
                    children = shape.children[rank]
                    if children:
                        done[rank] = em.reduce(rank, call.output + at, (call.input + at, *slots[rank]), piece,
                                               tuple(arrived[rank]))
                    parent = shape.parent[rank]
                    if parent >= 0 and piece:
                        source = (call.output if children else call.input) + at
                        waits, slot = em.send(rank, parent, source, piece, done[rank], lane)
                        arrived[parent].extend(waits)
                        slots[parent].append(slot)
                for rank in reversed(order):  # down: parents first
                    for child in shape.children[rank]:
                        done[child] = em.deliver(rank, child, call.output + at, call.output + at, piece, done[rank],
                                                 lane)

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        """Two phases: the first piece up the tree and back down, a step per level each way
        (the fill), then the other pieces streaming over every edge both ways at once."""
        trees = _trees(ctx)
        pieces = [[piece for _, piece in ctx.pieces(ctx.share(lane)[1])] for lane, _ in trees]
        for part in (slice(0, 1), slice(1, None)):
            for (lane, shape), each in zip(trees, pieces, strict=True):
                sent = each[part]
                for child, parent in enumerate(shape.parent):
                    if parent >= 0:
                        book.send(child, parent, sent, lane)
                        book.deliver(parent, child, sent, lane)
                inner = sum(len(children) + 2 for children in shape.children if children)
                book.memory(inner * sum(sent))
            if part.start == 0:
                deepest = max((_deepest(ctx, shape) for _, shape in trees), key=len)
                book.close(len(deepest), critical=deepest)
            else:
                book.close(1, latency=False)
