"""Small graphs the graph tests share."""

from __future__ import annotations

from oisa.graph import ExecutionGraph, Kind, Node, RankGraph


def data_parallel(ranks: int = 4, *, flops: int = 10**12, size: int = 4 << 20) -> ExecutionGraph:
    """Every rank: forward, backward in two halves, each half's gradients all-reduced while the
    next computes, a send around a ring, the optimizer as a local load."""
    out = []
    for rank in range(ranks):
        nodes = [
            Node(0, "forward", Kind.COMPUTE, flops=flops),
            Node(1, "backward 1", Kind.COMPUTE, data_deps=(0,), flops=flops),
            Node(2, "all-reduce 1", Kind.COLLECTIVE, data_deps=(1,), collective="allreduce", size=size),
            Node(3, "backward 2", Kind.COMPUTE, data_deps=(1,), flops=flops, memory_bytes=1 << 20),
            Node(4, "all-reduce 2", Kind.COLLECTIVE, data_deps=(3,), ctrl_deps=(2,), collective="allreduce",
                 size=size),
            Node(5, "send", Kind.SEND, data_deps=(3,), peer=(rank + 1) % ranks, size=1 << 16, tag=7),
            Node(6, "recv", Kind.RECV, data_deps=(3,), peer=(rank - 1) % ranks, size=1 << 16, tag=7),
            Node(7, "optimizer", Kind.LOAD, data_deps=(4, 6), memory_bytes=8 << 20),
        ]
        out.append(RankGraph(rank, tuple(nodes)))
    return ExecutionGraph("dp", tuple(out), {}, {"what": "a test graph"})
