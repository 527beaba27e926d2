"""Tree all-reduce: partial sums flow up each channel's tree to its root while finished pieces
already flow back down, piece by piece (NCCL's ``runTreeUpDown`` in ``src/device/all_reduce.h``).

Across servers the trees are NCCL's double binary tree, inside a server a chain
(:func:`oisa.ccl.channels.tree`): latency grows with the tree's depth, log2 of the servers, rather
than with the number of ranks as a ring's does, which is what the algorithm is for at scale.
"""

from __future__ import annotations

from collections import Counter

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


def _chunk(ctx: Context, shapes: list[Tree]) -> int:
    """The piece a lane's tree moves per step. With Simple, NCCL halves its 512 KiB step while
    a call would give each channel fewer pieces than eight per level of the tree (down to
    128 KiB), four per level (down to 64 KiB) and one per level (down to 32 KiB), so that the
    fill, a piece stored and forwarded at every level up and down, stays short (``computeColl``,
    "Optimize chunkSize / nSteps", in NVIDIA/nccl ``src/enqueue.cc``; ROCm/rccl's ``enqueue.cc``
    keeps the rule). LL and LL128 keep their protocol's step."""
    chunk = ctx.protocol.chunk
    if ctx.protocol.efficiency < 1.0:
        return chunk
    depth = max(shape.depth() for shape in shapes)
    per_channel = ctx.call.size // ctx.channels
    for levels, floor in ((8, 131072), (4, 65536), (1, 32768)):
        while per_channel // chunk < depth * levels and chunk > floor:
            chunk //= 2
    return chunk


def _steps(shape: Tree) -> tuple[dict[int, int], dict[int, int]]:
    """When the first piece crosses each edge: ``up[r]`` the step at which rank r sends it to its
    parent (one after the last of its children's), ``down[r]`` the step at which r receives it
    back (one after its parent), counting from 1."""
    up: dict[int, int] = {}
    order = _post_order(shape)
    for rank in order:
        if shape.parent[rank] >= 0:
            up[rank] = 1 + max((up[child] for child in shape.children[rank]), default=0)
    down: dict[int, int] = {}
    top = max(up.values(), default=0)
    for rank in reversed(order):
        for child in shape.children[rank]:
            down[child] = down.get(rank, top) + 1
    return up, down


def _by_turn(turns: dict[int, int]) -> dict[int, list[int]]:
    """The ranks of ``turns`` (rank -> step) by step, each step's in the order ``turns`` lists them."""
    out: dict[int, list[int]] = {}
    for rank, turn in turns.items():
        out.setdefault(turn, []).append(rank)
    return out


class AllReduce:
    """Up the tree (reduce), then down (broadcast), pipelined by pieces."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        lanes = _trees(ctx)
        widest = max(max(len(c) for c in shape.children) for _, shape in lanes)
        chunk = _chunk(ctx, [shape for _, shape in lanes])
        pieces = [ctx.pieces(ctx.share(lane)[1], chunk) for lane, _ in lanes]
        largest = max(size for chunks in pieces for _, size in chunks)
        return layout(ctx, len(lanes), largest, (widest + 1) * max(len(chunks) for chunks in pieces))

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call = ctx.call
        trees = _trees(ctx)
        chunk = _chunk(ctx, [shape for _, shape in trees])
        for lane, shape in trees:
            offset, size = ctx.share(lane)
            order = _post_order(shape)
            for piece_offset, piece in ctx.pieces(size, chunk):
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
        """The fill, a phase per step of the first piece (stored and forwarded at every level, up
        the tree and back down: every edge whose turn it is, in every lane), then the other
        pieces streaming over every edge both ways at once."""
        trees = _trees(ctx)
        chunk = _chunk(ctx, [shape for _, shape in trees])
        pieces = [[piece for _, piece in ctx.pieces(ctx.share(lane)[1], chunk)] for lane, _ in trees]
        steps = [_steps(shape) for _, shape in trees]
        turns = [(_by_turn(up), _by_turn(down), max(up.values(), default=0)) for up, down in steps]
        last = max((max(down.values(), default=0) for _, down in steps), default=0)
        for step in range(1, last + 1):
            for (lane, shape), each, (ups, downs, top) in zip(trees, pieces, turns, strict=True):
                first = each[:1]
                for rank in ups.get(step, ()):
                    book.send(rank, shape.parent[rank], first, lane)
                    if shape.children[rank]:
                        book.memory((len(shape.children[rank]) + 2) * sum(first))
                if step == top + 1:  # the root's sum, before it starts down
                    book.memory((len(shape.children[shape.root]) + 2) * sum(first))
                for rank in downs.get(step, ()):
                    book.deliver(shape.parent[rank], rank, first, lane)
            book.close(1)
        for (lane, shape), each in zip(trees, pieces, strict=True):
            rest = each[1:]
            tally = list(Counter(rest).items())  # the same pieces on every edge: counted once, not listed per edge
            book.stream_counts([(child, parent) for child, parent in enumerate(shape.parent) if parent >= 0], tally,
                               lane)
            book.memory(sum(len(children) + 2 for children in shape.children if children) * sum(rest))
        book.close(1, latency=False, steps=max(len(each) - 1 for each in pieces))
