"""Routing: shortest paths to every card, and a deterministic choice among equal ones.

Cards are endpoints: paths run through switches and NICs, never through a card. For every
node and every destination card, :func:`next_hops` lists the links on a shortest path (fewest
hops), so a card with one link to each of eight switch planes has eight equal ways to any card
in another server. Switches that reduce are destinations too: collective contributions are
addressed to them.

:class:`PathChooser` picks among them. Requests and completions whose order does not matter
(``path_free`` in the ordering rules: DMA, completions, collective contributions, and posted
writes with relaxed ordering at the card that sends them) are sprayed over the equal paths in
turn, so one transfer uses every plane; everything else keeps to one
path per (source, destination, traffic class), chosen by a seeded hash, because PCIe ordering
forbids a read or a later write from overtaking an earlier posted write, which different paths
could allow.

Routes around failures: :func:`next_hops` leaves out ``down_links`` and ``down_nodes`` (links,
switches and planes whose failure has been detected, :mod:`oisa.fabric.outages`), so the paths
it gives never use a failed component; a card that no path reaches any more has no entry.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Collection

from oisa.fabric.spec import FabricSpec
from oisa.transaction.ordering import PATH_FREE, path_free
from oisa.wire.oisa import Message

__all__ = ["PathChooser", "next_hops"]


def next_hops(spec: FabricSpec, *, down_links: Collection[int] = (),
              down_nodes: Collection[int] = ()) -> dict[int, dict[int, list[int]]]:
    """``hops[node][target]``: indices into ``spec.links`` of the links ``node`` may send a
    message for ``target`` (a card, or a switch that reduces) on, along shortest paths, in
    link order, using no link of ``down_links`` (indices) and no node of ``down_nodes``."""
    cards = {c.id for c in spec.cards}
    targets = (cards | {s.id for s in spec.switches if s.reduction}) - set(down_nodes)
    links_of: dict[int, list[tuple[int, int]]] = defaultdict(list)  # node -> (neighbour, link index)
    for index, link in enumerate(spec.links):
        if index in down_links or link.a in down_nodes or link.b in down_nodes:
            continue
        links_of[link.a].append((link.b, index))
        links_of[link.b].append((link.a, index))
    hops: dict[int, dict[int, list[int]]] = defaultdict(dict)
    for target in sorted(targets):
        distance = {target: 0}
        queue = deque([target])
        while queue:
            node = queue.popleft()
            if node != target and node in cards:
                continue  # a card is never a way through
            for neighbour, _ in links_of[node]:
                if neighbour not in distance:
                    distance[neighbour] = distance[node] + 1
                    queue.append(neighbour)
        for node, dist in distance.items():
            if node == target:
                continue
            hops[node][target] = [index for neighbour, index in links_of[node]
                                  if distance.get(neighbour) == dist - 1
                                  and (neighbour == target or neighbour not in cards)]
    return hops


class PathChooser:
    """Chooses one of several equal next hops for a message, the same way for a given seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._turn: dict[tuple[int, int], int] = defaultdict(int)

    def choose(self, node: int, message: Message, count: int) -> int:
        """Index, among ``count`` equal next hops, for ``message`` leaving ``node``."""
        if count == 1:
            return 0
        # A relaxed posted write spreads only where it starts: its source flushes each of its own
        # paths with a read, so further on it must keep to the path that read will take.
        if message.opcode in PATH_FREE or (node == message.src and path_free(message)):
            key = (node, message.dst)
            turn = self._turn[key]
            self._turn[key] = turn + 1
            return turn % count
        return _mix(message.src, message.dst, message.tc, self.seed) % count


def _mix(*values: int) -> int:
    """A small, stable integer hash (Python's own hash of tuples is salted per process)."""
    state = 0x9E3779B97F4A7C15
    for value in values:
        state ^= value + 0x9E3779B97F4A7C15 + (state << 6) + (state >> 2)
        state &= 0xFFFFFFFFFFFFFFFF
    return state
