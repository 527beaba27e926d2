"""Execution graphs: what every rank of a job does, as a DAG of operations per rank.

A graph is one :class:`RankGraph` per rank, each a list of :class:`Node` with data and control
dependencies among that rank's nodes, and named process groups (the ranks a collective runs
over). The nodes are compute (a measured duration, or FLOPs and memory bytes run at the card's
rates), communication (a collective over a process group, a send or a receive matched with its
peer's by tag and order), and memory (loads and stores, local or to a peer, the host or a pool).
Ranks are graph ranks, 0 to N-1; which card each runs on is the workload's business.

This module owns the shape and its checks (ids, dependencies, cycles, kinds, groups); it knows
neither Chakra's bytes (:mod:`oisa.graph.chakra`) nor fabrics, plans or engines. Every check
fails with one :class:`~oisa.errors.ConfigError` whose ``source`` is the rank's file (or
``rank N``) and whose key names the node and field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from oisa.errors import ConfigError

__all__ = ["COLLECTIVE_KINDS", "WORLD", "ExecutionGraph", "Kind", "Node", "RankGraph", "Where"]

WORLD = ""  # the process group of every rank: what a collective without a group runs over
# The collectives a graph may name: oisa's collective library's kinds, and a barrier (a one-element
# all-reduce, as NCCL-based frameworks implement it).
COLLECTIVE_KINDS = ("allreduce", "allgather", "reducescatter", "alltoall", "broadcast", "reduce", "barrier")


class Kind(StrEnum):
    COMPUTE = "compute"
    COLLECTIVE = "collective"
    SEND = "send"
    RECV = "recv"
    LOAD = "load"
    STORE = "store"
    MARKER = "marker"  # costs nothing: a point others depend on (Chakra's metadata nodes)

    @property
    def communicates(self) -> bool:
        return self in (Kind.COLLECTIVE, Kind.SEND, Kind.RECV)


class Where(StrEnum):
    """Where a load reads from or a store writes to."""

    LOCAL = "local"  # the card's own memory
    PEER = "peer"  # another rank's card, over the fabric
    HOST = "host"  # the card's server's host, over PCIe
    POOL = "pool"  # a memory device of the fabric


@dataclass(frozen=True, slots=True)
class Node:
    """One operation of one rank.

    ``compute``: ``flops`` at the card's rate and ``memory_bytes`` through its memory, whichever
    takes longer (a roofline), or, if both are 0, ``duration_ps`` as measured; ``host`` compute
    runs on the host and holds none of the card's compute units. ``collective``: ``collective``
    (a name of :data:`COLLECTIVE_KINDS`) of ``size`` bytes, as nccl-tests counts them, over
    process group ``group``. ``send``/``recv``: ``size`` bytes to or from rank ``peer``, matched
    with the peer's receive or send of the same ``tag`` in order. ``load``/``store``:
    ``memory_bytes`` from or to ``where`` (``peer`` names the rank, for a peer)."""

    id: int
    name: str
    kind: Kind
    data_deps: tuple[int, ...] = ()
    ctrl_deps: tuple[int, ...] = ()
    duration_ps: int = 0
    flops: int = 0
    memory_bytes: int = 0
    host: bool = False
    collective: str = ""
    size: int = 0
    group: str = WORLD
    peer: int = -1
    tag: int = 0
    where: Where = Where.LOCAL

    @property
    def deps(self) -> tuple[int, ...]:
        return self.data_deps + tuple(d for d in self.ctrl_deps if d not in self.data_deps)


@dataclass(frozen=True)
class RankGraph:
    """What rank ``rank`` does; ``source`` names where it came from, for errors."""

    rank: int
    nodes: tuple[Node, ...]
    source: str = field(default="", compare=False)  # provenance, not content: a graph read back equals its original

    @property
    def where(self) -> str:
        return self.source or f"rank {self.rank}"

    def by_id(self) -> dict[int, Node]:
        return {node.id: node for node in self.nodes}

    def order(self) -> list[Node]:
        """The nodes with every dependency before its dependents (ties by position in the file)."""
        nodes = self.by_id()
        waiting = {node.id: len(node.deps) for node in self.nodes}
        dependents: dict[int, list[int]] = {}
        for node in self.nodes:
            for dep in node.deps:
                dependents.setdefault(dep, []).append(node.id)
        ready = [node.id for node in self.nodes if not node.deps]
        out: list[Node] = []
        while ready:
            current = ready.pop()
            out.append(nodes[current])
            for dependent in reversed(dependents.get(current, [])):
                waiting[dependent] -= 1
                if waiting[dependent] == 0:
                    ready.append(dependent)
        if len(out) < len(self.nodes):
            stuck = min((n for n in self.nodes if waiting[n.id] > 0), key=lambda n: n.id)
            raise ConfigError(f"a dependency cycle runs through node {stuck.id} ({stuck.name!r})", source=self.where,
                              key=f"node {stuck.id} data_deps/ctrl_deps")
        # the same order whatever order the pops took: by depth in the DAG, then by place in the file
        level: dict[int, int] = {}
        for node in out:
            level[node.id] = 1 + max((level[d] for d in node.deps), default=-1)
        position = {node.id: index for index, node in enumerate(self.nodes)}
        return sorted(out, key=lambda n: (level[n.id], position[n.id]))


@dataclass(frozen=True)
class ExecutionGraph:
    """A job: ``ranks[r]`` is rank r's graph; ``groups`` maps a process group's name to its
    ranks (the whole world needs none); ``attributes`` say what the graph is (model, layout,
    the FLOPs a step is worth), as text."""

    name: str
    ranks: tuple[RankGraph, ...]
    groups: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.check()

    def __len__(self) -> int:
        return len(self.ranks)

    def __iter__(self) -> Iterator[RankGraph]:
        return iter(self.ranks)

    def group(self, name: str) -> tuple[int, ...]:
        return tuple(range(len(self.ranks))) if name == WORLD else tuple(self.groups[name])

    def check(self) -> None:
        """Refuse what no engine could run: ranks out of order, repeated or missing node ids,
        dependencies on nodes that do not exist or in a cycle, unknown kinds, collectives or
        locations, groups or peers naming ranks the graph does not have."""
        count = len(self.ranks)
        for index, rank in enumerate(self.ranks):
            if rank.rank != index:
                raise ConfigError(f"rank {rank.rank} stands where rank {index} should", source=rank.where)
        for name, members in self.groups.items():
            if not members or len(set(members)) != len(members):
                raise ConfigError("a process group names each of its ranks once, and at least one",
                                  source="process groups", key=name or "world")
            wrong = [m for m in members if not 0 <= m < count]
            if wrong:
                raise ConfigError(f"names rank {wrong[0]}; the graph has ranks 0 to {count - 1}",
                                  source="process groups", key=name or "world")
        for rank in self.ranks:
            self._check_rank(rank, count)

    def _check_rank(self, rank: RankGraph, count: int) -> None:
        seen: set[int] = set()
        for node in rank.nodes:
            key = f"node {node.id}"
            if node.id in seen:
                raise ConfigError("the id is used twice", source=rank.where, key=f"{key} id")
            seen.add(node.id)
            if not isinstance(node.kind, Kind):
                raise ConfigError(f"unknown node type {node.kind!r}", source=rank.where, key=f"{key} type")
            for name in ("duration_ps", "flops", "memory_bytes", "size", "tag"):
                if getattr(node, name) < 0:
                    raise ConfigError("must be 0 or more", source=rank.where, key=f"{key} {name}")
            if node.kind is Kind.COLLECTIVE:
                if node.collective not in COLLECTIVE_KINDS:
                    raise ConfigError(f"unknown collective {node.collective!r} (known: {', '.join(COLLECTIVE_KINDS)})",
                                      source=rank.where, key=f"{key} comm_type")
                if node.group != WORLD and node.group not in self.groups:
                    raise ConfigError(f"no process group {node.group!r} is defined", source=rank.where,
                                      key=f"{key} pg_name")
                if rank.rank not in self.group(node.group):
                    raise ConfigError(f"rank {rank.rank} is not a member of process group {node.group!r}",
                                      source=rank.where, key=f"{key} pg_name")
            needs_peer = node.kind in (Kind.SEND, Kind.RECV) or (node.kind in (Kind.LOAD, Kind.STORE)
                                                                 and node.where is Where.PEER)
            if needs_peer and not (0 <= node.peer < count and node.peer != rank.rank):
                field_name = {Kind.SEND: "comm_dst", Kind.RECV: "comm_src"}.get(node.kind, "mem_peer")
                raise ConfigError(f"names rank {node.peer}: a peer is another rank of the graph's {count}",
                                  source=rank.where, key=f"{key} {field_name}")
        for node in rank.nodes:
            for name, deps in (("data_deps", node.data_deps), ("ctrl_deps", node.ctrl_deps)):
                missing = [d for d in deps if d not in seen]
                if missing:
                    raise ConfigError(f"depends on node {missing[0]}, which the rank does not have", source=rank.where,
                                      key=f"node {node.id} {name}")
        rank.order()  # raises on a cycle

    def flops(self) -> int:
        """The FLOPs every rank's compute nodes state, summed."""
        return sum(node.flops for rank in self.ranks for node in rank.nodes if node.kind is Kind.COMPUTE)

