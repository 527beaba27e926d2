"""A small trace scaled to more ranks: ``k`` ranks' graphs as the template of ``N = m x k``.

Rank r of the scaled graph runs template rank ``r % k``'s nodes unchanged (the same compute,
the same message sizes: per-rank work is preserved), in block ``r // k``. What names ranks is
moved into the block: a send's or receive's peer ``p`` becomes ``p + k x block``, and a process
group of the template becomes one group per block (``NAME.BLOCK``) of the same ranks moved
there, except the whole world, which becomes the whole scaled world. So a 4-rank data-parallel
trace run at 64 ranks all-reduces over 64 ranks, and a 4-rank tensor-parallel group repeats 16
times: what ASTRA-sim's users ask for when a trace was recorded on fewer GPUs than they model
(astra-sim #168).
"""

from __future__ import annotations

from dataclasses import replace

from oisa.errors import UsageError
from oisa.graph.model import WORLD, ExecutionGraph, Kind, Node, RankGraph, Where

__all__ = ["scaled"]


def scaled(template: ExecutionGraph, ranks: int) -> ExecutionGraph:
    """``template`` repeated over ``ranks`` ranks, a multiple of its own count."""
    k = len(template)
    if isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < k or ranks % k:
        raise UsageError(f"a multiple of the template's {k} ranks", parameter="ranks", value=ranks)
    blocks = ranks // k
    world = tuple(range(k))
    groups: dict[str, tuple[int, ...]] = {}
    renamed: dict[str, str] = {}
    for name, members in template.groups.items():
        if tuple(sorted(members)) == world:
            renamed[name] = name
            groups[name] = tuple(m + k * b for b in range(blocks) for m in members)
        for block in range(blocks):
            if renamed.get(name) != name:
                groups[f"{name}.{block}"] = tuple(m + k * block for m in members)
    out = []
    for rank in range(ranks):
        block, source = divmod(rank, k)
        nodes = tuple(_moved(node, block, k, renamed) for node in template.ranks[source].nodes)
        out.append(RankGraph(rank, nodes, f"{template.ranks[source].where} as rank {rank}"))
    attributes = {**template.attributes, "scaled_from": f"{template.name}, {k} ranks"}
    return ExecutionGraph(f"{template.name}-x{blocks}", tuple(out), groups, attributes)


def _moved(node: Node, block: int, k: int, renamed: dict[str, str]) -> Node:
    moves_peer = node.kind in (Kind.SEND, Kind.RECV) or (node.kind in (Kind.LOAD, Kind.STORE)
                                                         and node.where is Where.PEER)
    peer = node.peer + k * block if moves_peer else node.peer
    group = node.group
    if node.kind is Kind.COLLECTIVE and group != WORLD:
        group = renamed.get(group) or f"{group}.{block}"
    return replace(node, peer=peer, group=group) if (peer, group) != (node.peer, node.group) else node
