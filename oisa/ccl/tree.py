"""Tree all-reduce: partial sums flow up each channel's tree to its root while finished pieces
already flow back down, piece by piece (NCCL's ``runTreeUpDown`` in ``src/device/all_reduce.h``).

Across servers the trees are NCCL's double binary tree, inside a server a chain
(:func:`oisa.ccl.channels.tree`): latency grows with the tree's depth, log2 of the servers, rather
than with the number of ranks as a ring's does, which is what the algorithm is for at scale.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import cast

import numpy as np

from oisa.ccl.channels import Tree, tree, tree_count
from oisa.ccl.schedule import Context, Emitter, Flowbook, Lane, Layout, layout
from oisa.ccl.topology import Topology

__all__ = ["AllReduce"]


def _trees(ctx: Context) -> list[tuple[Lane, Tree]]:
    """Each lane with the tree it follows."""
    return [(lane, _schedule(ctx.topology, lane.index).shape) for lane in ctx.lanes(tree_count(ctx.topology))]


@dataclass(frozen=True)
class _Schedule:
    """Tree ``shape`` as its phases move the first piece, as arrays: per step, the ranks that
    send it up (``ups``, children before parents) and those that receive it back down
    (``downs``), with the reductions' memory traffic of each up step in pieces (``up_memory``);
    ``top`` the last up step, ``last`` the last down step; ``edges`` every (child, parent) and
    ``stream_memory`` the reductions' traffic, in pieces, of one piece streaming through all.
    Worked out once per topology and tree: every choice the tuner prices follows the same trees."""

    shape: Tree
    parent: np.ndarray
    ups: dict[int, np.ndarray]
    up_memory: dict[int, int]
    downs: dict[int, np.ndarray]
    top: int
    last: int
    root_memory: int
    edges: np.ndarray
    stream_memory: int


def _schedule(topology: Topology, index: int) -> _Schedule:
    """Tree ``index``'s schedule on ``topology`` (kept with it)."""
    key = ("tree", index)
    found = topology.shapes.get(key)
    if found is None:
        shape = tree(topology, index)
        up, down = _steps(shape)
        ups = {turn: np.asarray(ranks, dtype=np.int64) for turn, ranks in _by_turn(up).items()}
        up_memory = {turn: sum(len(shape.children[r]) + 2 for r in ranks if shape.children[r])
                     for turn, ranks in _by_turn(up).items()}
        downs = {turn: np.asarray(ranks, dtype=np.int64) for turn, ranks in _by_turn(down).items()}
        parent = np.asarray(shape.parent, dtype=np.int64)
        children = np.flatnonzero(parent >= 0)
        found = topology.shapes[key] = _Schedule(
            shape, parent, ups, up_memory, downs, max(up.values(), default=0),
            max(down.values(), default=0), len(shape.children[shape.root]) + 2,
            np.stack([children, parent[children]], axis=1),
            sum(len(c) + 2 for c in shape.children if c))
    return cast(_Schedule, found)


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
        lanes = ctx.lanes(tree_count(ctx.topology))
        schedules = [_schedule(ctx.topology, lane.index) for lane in lanes]
        chunk = _chunk(ctx, [each.shape for each in schedules])
        pieces = [[piece for _, piece in ctx.pieces(ctx.share(lane)[1], chunk)] for lane in lanes]
        copies = ctx.protocol.efficiency < 1.0  # LL and LL128 deliver into slots and copy out
        last = max((each.last for each in schedules), default=0)
        for step in range(1, last + 1):
            for lane, each, sizes in zip(lanes, schedules, pieces, strict=True):
                first = sizes[:1]
                wire, moved = book.wire(first), sum(first)
                ups = each.ups.get(step)
                if ups is not None:
                    book.send_many(ups, each.parent[ups], wire, lane)
                    book.memory(each.up_memory[step] * moved)
                if step == each.top + 1:  # the root's sum, before it starts down
                    book.memory(each.root_memory * moved)
                downs = each.downs.get(step)
                if downs is not None:
                    book.send_many(each.parent[downs], downs, wire, lane)
                    if copies:
                        book.memory(2 * moved * len(downs))
            book.close(1)
        for lane, each, sizes in zip(lanes, schedules, pieces, strict=True):
            rest = sizes[1:]
            tally = list(Counter(rest).items())  # the same pieces on every edge: counted once, not listed per edge
            book.stream_counts(each.edges, tally, lane)
            book.memory(each.stream_memory * sum(rest))
        book.close(1, latency=False, steps=max(len(each) - 1 for each in pieces))
