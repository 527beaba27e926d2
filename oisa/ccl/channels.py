"""Channels: the rings and trees a collective's parallel channels follow, laid over disjoint links,
planes and NICs.

NCCL searches its topology graph for as many rings as it can fit, each taking bandwidth from
the links it uses, so that channels spread over different links and NICs (``src/graph/search.cc``,
``ncclTopoCompute``), then duplicates them (``ncclTopoPostset`` in ``src/graph/connect.cc``). The
same ideas, for the shapes oisa's fabrics have:

* **a full mesh** (AMD's 8-GPU xGMI platform): rings over different link permutations, each a
  directed Hamiltonian cycle of the complete graph using arcs no other ring uses, so that every
  link carries one ring each way (a complete directed graph on n nodes has n - 1 such cycles
  for n other than 4 and 6: Tillson, "A Hamiltonian decomposition of K*_2m, 2m >= 8", J. Comb.
  Theory B 29, 1980); found here by a search, not copied from a table;
* **servers joined by RDMA NICs**, one per card: each ring crosses from server to server on one
  rail (its card of local index k leaves through its NIC and enters the next server's card of
  the same index), and the rings of odd servers run backwards so that they enter where the even
  ones leave, as NCCL alternates rings on odd nodes to stay on rails (``connect.cc``, "Alternate
  rings to avoid crossing rails"); different channels cross on different rails;
* **switch planes** (OISA's supernode, an NVSwitch server): any order reaches every peer over
  every plane; channels take rank order and the fabric spreads each transfer over the planes, as
  NVLink stripes a GPU's traffic over its NVSwitch chips.

Trees follow NCCL's double binary tree across servers (``src/graph/trees.cc``): two binary trees
over the servers in which every server is an inner node of at most one, half the channels on
each, with the ranks of a server in a chain below it.
"""

from __future__ import annotations

import itertools
import math
import random
from functools import lru_cache
from typing import cast

from oisa.ccl.topology import Topology

__all__ = ["Tree", "ring_orders", "server_paths", "tree", "tree_count"]

_SEARCH_BUDGET = 2000  # nodes one cycle's search may visit
_RESTARTS = 200  # attempts at the whole set of cycles
_SEARCHED = 16  # the largest mesh the search is run for


def ring_orders(topology: Topology) -> list[tuple[int, ...]]:
    """The different rings (orders of rank indices) channels can take: several where they can
    use different links or NICs, one where every order uses the same (switch planes). Kept with
    the topology: every choice the tuner prices asks for them."""
    found = topology.shapes.get(("rings",))
    if found is None:
        found = topology.shapes[("rings",)] = _ring_orders(topology)
    return list(cast(list[tuple[int, ...]], found))


def _ring_orders(topology: Topology) -> list[tuple[int, ...]]:
    n = len(topology.ranks)
    groups = topology.server_groups
    if n <= 2:
        return [tuple(range(n))]
    if len(groups) > 1 and len({len(g) for g in groups}) == 1 and _crosses_network(topology, groups):
        paths = server_paths(len(groups[0]), topology.meshed(groups[0]))
        return [_rail_ring(groups, path) for path in paths]
    if topology.full_mesh:
        return disjoint_cycles(n)
    return [tuple(range(n))]


def _crosses_network(topology: Topology, groups: tuple[tuple[int, ...], ...]) -> bool:
    return topology.route(groups[0][0], groups[1][0]).network


def _rail_ring(groups: tuple[tuple[int, ...], ...], path: tuple[int, ...]) -> tuple[int, ...]:
    """A ring across servers that takes ``path`` (local indices) through each server, reversed on
    odd servers, so that it crosses from a card to the card of the same local index."""
    order: list[int] = []
    for index, group in enumerate(groups):
        local = path if index % 2 == 0 else tuple(reversed(path))
        order.extend(group[k] for k in local)
    return tuple(order)


@lru_cache(maxsize=64)
def server_paths(size: int, meshed: bool) -> tuple[tuple[int, ...], ...]:
    """Hamiltonian paths through the cards of one server (local indices) that enter at distinct
    cards and leave at distinct cards. Where the server's cards are linked pairwise, the paths
    share no link: one from each card, if a search finds such a set (it does for 4 and 6 to 16
    cards: 8 paths use all 56 links of 8 cards), else one cut from each of the arc-disjoint cycles
    (one card, and its NIC, is then left out). Through switches every order takes the same links:
    rotations of the local order."""
    if size < 3 or not meshed:
        return tuple(tuple((c + k) % size for k in range(size)) for c in range(size))
    paths = disjoint_paths(size)
    if paths:
        return paths
    cycles = disjoint_cycles(size)
    cut: list[tuple[int, ...]] = []
    for cycle, (_, head) in zip(cycles, _distinct_cuts(cycles, size), strict=True):
        start = cycle.index(head)
        cut.append(tuple(cycle[start:] + cycle[:start]))  # from head round to tail
    return tuple(cut)


def _distinct_cuts(cycles: list[tuple[int, ...]], size: int) -> list[tuple[int, int]]:
    """For each cycle an arc (tail, head) to cut it at, all tails distinct and all heads distinct
    (so that channels leave and enter a server on different cards and NICs)."""
    arcs = [[(c[i], c[(i + 1) % size]) for i in range(size)] for c in cycles]

    def pick(index: int, tails: frozenset[int], heads: frozenset[int]) -> list[tuple[int, int]] | None:
        if index == len(arcs):
            return []
        for tail, head in sorted(arcs[index], key=lambda arc: (arc[0] - index) % size):
            if tail not in tails and head not in heads:
                rest = pick(index + 1, tails | {tail}, heads | {head})
                if rest is not None:
                    return [(tail, head), *rest]
        return None

    found = pick(0, frozenset(), frozenset())
    assert found is not None, "distinct cuts exist for fewer cycles than cards"
    return found


@lru_cache(maxsize=64)
def disjoint_cycles(n: int) -> list[tuple[int, ...]]:
    """Arc-disjoint directed Hamiltonian cycles of the complete directed graph on ``n`` nodes,
    each starting at node 0: as many as a search finds, n - 1 at most (it finds them all for
    n = 3, 5, 7-16 within its budget; for 4 and 6 fewer exist). The search is greedy, cycle after
    cycle, each by depth-first search that visits next the node with the fewest onward arcs
    (Warnsdorff's rule), restarted with other tie-breaks (a seeded generator: the same every run)
    until every cycle is found or the budget is spent; the best attempt is kept. Beyond
    :data:`_SEARCHED` nodes the search would take seconds: the cycles i -> i + k for every k prime
    to n (disjoint, as their arcs differ by k) are taken instead."""
    if n > _SEARCHED:
        return [tuple(i * k % n for i in range(n)) for k in range(1, n) if math.gcd(k, n) == 1]
    rng = random.Random(n)
    best: list[tuple[int, ...]] = []
    for _ in range(_RESTARTS):
        found = _greedy_cycles(n, rng)
        if len(found) > len(best):
            best = found
        if len(best) == n - 1:
            break
    return best or [tuple(range(n))]


def _greedy_cycles(n: int, rng: random.Random) -> list[tuple[int, ...]]:
    used: set[tuple[int, int]] = set()
    cycles: list[tuple[int, ...]] = []
    budget = [0]

    def onward(node: int, seen: set[int]) -> int:
        return sum(1 for other in range(n) if other not in seen and other != node and (node, other) not in used)

    def extend(path: list[int], seen: set[int]) -> bool:
        budget[0] -= 1
        if budget[0] < 0:
            return False
        last = path[-1]
        if len(path) == n:
            return (last, path[0]) not in used
        options = [node for node in range(n) if node not in seen and (last, node) not in used]
        rng.shuffle(options)
        options.sort(key=lambda node: onward(node, seen))
        for node in options:
            path.append(node)
            seen.add(node)
            if extend(path, seen):
                return True
            path.pop()
            seen.discard(node)
        return False

    for _ in range(n - 1):
        budget[0] = _SEARCH_BUDGET
        path = [0]
        if not extend(path, {0}):
            break
        cycles.append(tuple(path))
        used.update((path[i], path[(i + 1) % n]) for i in range(n))
    return cycles


@lru_cache(maxsize=64)
def disjoint_paths(n: int) -> tuple[tuple[int, ...], ...]:
    """``n`` arc-disjoint directed Hamiltonian paths of the complete directed graph on ``n``
    nodes, one starting at each node and all ending at different nodes (together they use every
    arc once), found by the same restarted search as :func:`disjoint_cycles`; empty if the budget
    runs out (it does for 3 and 5)."""
    if n > _SEARCHED:
        return ()
    rng = random.Random(n)
    for _ in range(_RESTARTS):
        found = _greedy_paths(n, rng)
        if found:
            return found
    return ()


def _greedy_paths(n: int, rng: random.Random) -> tuple[tuple[int, ...], ...]:
    used: set[tuple[int, int]] = set()
    ends: set[int] = set()
    paths: list[tuple[int, ...]] = []
    budget = [0]

    def extend(path: list[int], seen: set[int]) -> bool:
        budget[0] -= 1
        if budget[0] < 0:
            return False
        if len(path) == n:
            return path[-1] not in ends
        options = [node for node in range(n) if node not in seen and (path[-1], node) not in used]
        rng.shuffle(options)
        options.sort(key=lambda node: sum(1 for other in range(n) if other not in seen and (node, other) not in used))
        for node in options:
            path.append(node)
            seen.add(node)
            if extend(path, seen):
                return True
            path.pop()
            seen.discard(node)
        return False

    starts = list(range(n))
    rng.shuffle(starts)
    for start in starts:
        budget[0] = _SEARCH_BUDGET
        path = [start]
        if not extend(path, {start}):
            return ()
        paths.append(tuple(path))
        ends.add(path[-1])
        used.update(itertools.pairwise(path))
    return tuple(sorted(paths))


class Tree:
    """A tree over rank indices: ``parent[r]`` (-1 at the root) and ``children[r]``."""

    def __init__(self, parent: list[int]) -> None:
        self.parent = parent
        self.children: list[list[int]] = [[] for _ in parent]
        for child, up in enumerate(parent):
            if up >= 0:
                self.children[up].append(child)
        self.root = parent.index(-1)
        self._depth: int | None = None

    def depth(self) -> int:
        """Edges on the longest path from the root to a leaf."""
        if self._depth is None:
            self._depth = self._deepest()
        return self._depth

    def _deepest(self) -> int:
        deepest, todo = 0, [(self.root, 0)]
        while todo:
            node, level = todo.pop()
            deepest = max(deepest, level)
            todo.extend((child, level + 1) for child in self.children[node])
        return deepest


def _chains(topology: Topology) -> tuple[tuple[int, ...], ...]:
    """The orders (local indices) a chain inside a server can take: each from a different card,
    over links no other uses where the server's cards are linked pairwise; servers of different
    sizes take their cards in order."""
    groups = topology.server_groups
    if len({len(g) for g in groups}) != 1:
        return (tuple(range(max(len(g) for g in groups))),)
    return server_paths(len(groups[0]), topology.meshed(groups[0]))


def tree_count(topology: Topology) -> int:
    """The different trees channels can take: a chain from each card (over its own links where
    there are links to spare) in one server; both binary trees from each across several."""
    chains = len(_chains(topology))
    return chains if len(topology.server_groups) == 1 else 2 * chains


def tree(topology: Topology, channel: int) -> Tree:
    """Tree ``channel``: a double binary tree over the servers (the first for even indices, the
    second for odd ones), and in each server a chain from the card that joins it (a different
    card for each pair of indices, so that trees use different cards and NICs)."""
    groups = topology.server_groups
    n = len(topology.ranks)
    parent = [-1] * n
    leaders = []
    chains = _chains(topology)
    order = chains[(channel // 2 if len(groups) > 1 else channel) % len(chains)]
    for group in groups:
        chain = [group[k] for k in order if k < len(group)]
        for above, below in itertools.pairwise(chain):
            parent[below] = above
        leaders.append(chain[0])
    for server, up in enumerate(double_binary_tree(len(groups))[channel % 2]):
        if up >= 0:
            parent[leaders[server]] = leaders[up]
    return Tree(parent)


@lru_cache(maxsize=64)
def double_binary_tree(count: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two binary trees over ``count`` nodes as parent lists (-1 at the root): the first is the
    balanced in-order tree (odd positions are leaves, even ones inner nodes), the second its
    mirror image for an even count or the first shifted by one for an odd count, so that a node
    inner in one is a leaf in the other."""
    first = [-1] * count

    def build(low: int, high: int, up: int) -> None:  # positions 1..count, in order
        if low > high:
            return
        root = max(range(low, high + 1), key=lambda v: ((v & -v), -v))
        first[root - 1] = up - 1 if up else -1
        build(low, root - 1, root)
        build(root + 1, high, root)

    build(1, count, 0)
    if count % 2 == 0:
        mirror = [count - 1 - v for v in range(count)]
    else:
        mirror = [(v + 1) % count for v in range(count)]
    second = [-1] * count
    for node, up in enumerate(first):
        second[mirror[node]] = mirror[up] if up >= 0 else -1
    return tuple(first), tuple(second)
