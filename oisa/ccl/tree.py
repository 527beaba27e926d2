"""Tree all-reduce: partial sums flow up each channel's tree to its root while finished pieces
already flow back down, piece by piece (NCCL's ``runTreeUpDown`` in ``src/device/all_reduce.h``).

Across servers the trees are NCCL's double binary tree, inside a server a chain
(:func:`oisa.ccl.channels.tree`): latency grows with the tree's depth, log2 of the servers, rather
than with the number of ranks as a ring's does, which is what the algorithm is for at scale.
"""

from __future__ import annotations

from oisa.ccl.channels import Tree, tree
from oisa.ccl.schedule import Context, Emitter, Flowbook, Layout, layout, slot_stride

__all__ = ["AllReduce"]


def _trees(ctx: Context) -> list[Tree]:
    return [tree(ctx.topology, channel) for channel in range(ctx.channels)]


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


class AllReduce:
    """Up the tree (reduce), then down (broadcast), pipelined by pieces."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        widest = max(max(len(c) for c in shape.children) for shape in _trees(ctx))
        share = max(ctx.share(c)[1] for c in range(ctx.channels))
        pieces = [ctx.pieces(ctx.share(c)[1]) for c in range(ctx.channels)]
        largest = max(size for chunks in pieces for _, size in chunks)
        receives = (widest + 1) * max(len(chunks) for chunks in pieces)
        return layout(ctx.call, ctx.channels, max(1, widest) * slot_stride(share), largest, receives, ctx.protocol)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call = ctx.call
        for channel, shape in enumerate(_trees(ctx)):
            offset, size = ctx.share(channel)
            slots, stride = em.layout.slots(channel), slot_stride(size)
            order = _post_order(shape)
            for piece_offset, piece in ctx.pieces(size):
                at = offset + piece_offset
                arrived: list[list[int]] = [[] for _ in shape.parent]
                done: list[tuple[int, ...]] = [()] * len(shape.parent)
                for rank in order:  # up: children first
                    children = shape.children[rank]
                    if children:
                        sources = (call.input + at, *(slots + k * stride + piece_offset for k in range(len(children))))
                        done[rank] = em.reduce(rank, call.output + at, sources, piece, tuple(arrived[rank]))
                    parent = shape.parent[rank]
                    if parent >= 0:
                        source = (call.output if children else call.input) + at
                        where = slots + shape.children[parent].index(rank) * stride + piece_offset
                        arrived[parent].extend(em.send(rank, parent, source, where, piece, done[rank], channel))
                for rank in reversed(order):  # down: parents first
                    for child in shape.children[rank]:
                        done[child] = em.send(rank, child, call.output + at, call.output + at, piece, done[rank],
                                              channel)

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        """Two phases: the first piece up the tree and back down, a step per level each way
        (the fill), then the other pieces streaming over every edge both ways at once."""
        trees = _trees(ctx)
        pieces = [[piece for _, piece in ctx.pieces(ctx.share(channel)[1])] for channel in range(ctx.channels)]
        for part in (slice(0, 1), slice(1, None)):
            for channel, shape in enumerate(trees):
                sent = pieces[channel][part]
                for child, parent in enumerate(shape.parent):
                    if parent >= 0:
                        book.exact(child, parent, sent, channel)
                        book.exact(parent, child, sent, channel)
                inner = sum(len(children) + 2 for children in shape.children if children)
                book.memory(inner * sum(sent))
            if part.start == 0:
                book.close(2 * max(shape.depth() for shape in trees))
            else:
                book.close(1, latency=False)
