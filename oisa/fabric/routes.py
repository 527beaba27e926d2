"""Routes as the flow-level engine reads them: which links a transfer loads, and by how much.

The frame-level engines route message by message (:mod:`oisa.fabric.routing`: next hops to every
card, then a choice among equal ones per message). The flow engine needs the same routes as
*shares*: for a transfer from card ``src`` to card ``dst``, the fraction of its bytes each
directed link carries, and the hops of its slowest path for its latency. A
:class:`RouteProvider` answers that for whole batches of transfers at once.

Shares follow the frame engines' choices exactly, hop by hop:

* a forwarding node next to the NIC that serves the transfer's source or destination card
  sends through that NIC (as NCCL pairs a GPU with its own NIC);
* otherwise, among equal next hops, a message that may take any path (``path_free`` in the
  ordering rules: DMA requests, completions, in-switch contributions) is sprayed over them in
  turn, which over a transfer is an even split (:attr:`Spread.SPRAY`); a relaxed posted write
  is sprayed where it starts and keeps to one path further on (:attr:`Spread.SOURCE`); any
  other message keeps to the path a seeded hash of (source, destination, traffic class) picks,
  the same hash at every hop (:attr:`Spread.HASH`);
* a transfer pinned to a channel takes that one of its source's equal first hops.

Two providers exist. :class:`GraphRoutes` searches the graph, one breadth-first search per
destination when first asked and kept in a bounded cache, for fabrics listed node by node and
the small builders. A builder that knows its structure (the Clos clusters of
:mod:`oisa.fabric.clos`) attaches a provider that computes the same shares arithmetically, for
any number of transfers at once, without storing anything per pair of cards;
:func:`routes_of` gives whichever a spec has.

Resources are what a provider's shares point at: both directions of every link of the spec
(``2 * i`` is link ``i`` from ``a`` to ``b``, ``2 * i + 1`` back), and, for structured
providers, aggregates after them (all the up-links of a Clos leaf, say, when traffic spreads
over all of them evenly anyway). This module knows fabrics only: no engine, no runtime.
"""

from __future__ import annotations

import enum
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from oisa.errors import UsageError
from oisa.fabric.framing import ethernet_frames, oisa_frames, pcie_frames
from oisa.fabric.routing import _mix
from oisa.fabric.spec import DEFAULT_MTU, FabricSpec, LinkKind, LinkSpec
from oisa.transaction.ordering import PATH_FREE
from oisa.wire.oisa import Message, Opcode

__all__ = ["Framing", "GraphRoutes", "Hop", "RouteBatch", "RouteProvider", "Spread",
           "link_framing", "routes_of", "spread_of", "stack_batches"]

_TARGET_CACHE = 4096  # destinations whose searches a GraphRoutes keeps


class Spread(enum.IntEnum):
    """How a message picks among equal next hops (see the module's docstring)."""

    SPRAY = 0
    SOURCE = 1
    HASH = 2


def spread_of(opcode: Opcode, relaxed: bool) -> Spread:
    """How messages of ``opcode`` (``relaxed``: with relaxed ordering) choose among equal paths,
    as :class:`~oisa.fabric.routing.PathChooser` chooses for them."""
    if opcode in PATH_FREE:
        return Spread.SPRAY
    return Spread.SOURCE if opcode is Opcode.MEM_WR and relaxed else Spread.HASH


@dataclass(frozen=True)
class Framing:
    """What decides a link's framing overhead: its kind, flit size (OISA), RDMA MTU (Ethernet)
    and Max Payload Size (PCIe: :meth:`FabricSpec.pcie_max_payload`)."""

    kind: LinkKind
    flit_size: int
    mtu: int
    max_payload: int = 0

    def frames(self, message: Message, mac_bytes: int = 0) -> tuple[int, int]:
        """Frames and wire bytes of ``message`` (all ``count`` of them) on such a link, as
        :mod:`oisa.fabric.framing` counts them (``mac_bytes``: an encrypted OISA link's MAC)."""
        if self.kind is LinkKind.OISA:
            return oisa_frames(message, self.flit_size, mac_bytes)
        if self.kind is LinkKind.PCIE:
            return pcie_frames(message, self.max_payload)
        return ethernet_frames(message, self.mtu)


@dataclass(frozen=True)
class Hop:
    """One link a path crosses, as latency needs it: the link's framing (an index into the
    provider's ``framings``), rate and latency, and the node it leads to (its latency, whether it
    forwards, and whether it may forward a frame before its tail is in)."""

    framing: int
    rate_bps: int
    latency_ps: int
    node_latency_ps: int
    forwards: bool
    cut_through: bool


@dataclass(frozen=True)
class RouteBatch:
    """The routes of a batch of transfers. Entries (``flow``, ``resource``, ``share``) say that
    ``share`` of transfer ``flow``'s bytes crosses ``resource``; ``path[i]`` is transfer ``i``'s
    slowest path, an index into the provider's ``paths``."""

    flow: np.ndarray
    resource: np.ndarray
    share: np.ndarray
    path: np.ndarray


class RouteProvider(Protocol):
    """Routes of one fabric. ``capacity_bps[r]`` is resource ``r``'s data rate after the line
    code; ``framing[r]`` indexes ``framings``; ``paths`` grows as new path shapes are met."""

    spec: FabricSpec
    capacity_bps: np.ndarray
    framing: np.ndarray
    framings: list[Framing]
    paths: list[tuple[Hop, ...]]

    def routes(self, src: np.ndarray, dst: np.ndarray, spread: Spread | np.ndarray, pinned: int | np.ndarray,
               seed: int) -> RouteBatch:
        """Routes from ``src[i]`` to ``dst[i]`` for messages that spread as ``spread[i]``,
        pinned to first hop ``pinned[i]`` (-1: not pinned), hashes seeded with ``seed``."""

    def resource_name(self, resource: int) -> str:
        """A resource as people read it (``s0.gpu0->plane3``, ``up-links of r0.leaf1``)."""


_PROVIDERS: dict[int, tuple[FabricSpec, RouteProvider]] = {}


def routes_of(spec: FabricSpec) -> RouteProvider:
    """The route provider of ``spec``: the one its builder attached, or a graph search. One is
    made per spec and kept while the spec lives (the last few specs asked about)."""
    kept = _PROVIDERS.get(id(spec))
    if kept is not None and kept[0] is spec:
        return kept[1]
    provider = spec.routing(spec) if spec.routing is not None else GraphRoutes(spec)
    if len(_PROVIDERS) >= 8:
        _PROVIDERS.pop(next(iter(_PROVIDERS)))
    _PROVIDERS[id(spec)] = (spec, provider)
    return provider


def link_framing(spec: FabricSpec, link: LinkSpec, mtus: dict[int, int]) -> Framing:
    """A link's framing, with the MTU of the NIC at its ``a`` end, else at its ``b`` end (as
    the frame engines frame it)."""
    mtu = mtus.get(link.a, mtus.get(link.b, int(DEFAULT_MTU.value)))
    max_payload = spec.pcie_max_payload(link) if link.kind is LinkKind.PCIE else 0
    return Framing(link.kind, link.flit_size, mtu, max_payload)


def stack_batches(parts: Sequence[tuple[np.ndarray, np.ndarray, int]], count: int) -> RouteBatch:
    """A batch from per-transfer parts ``(resources, shares, path)``, in transfer order."""
    lengths = np.fromiter((len(p[0]) for p in parts), dtype=np.int64, count=count)
    flow = np.repeat(np.arange(count, dtype=np.int64), lengths)
    if count:
        resource = np.concatenate([p[0] for p in parts]).astype(np.int64, copy=False)
        share = np.concatenate([p[1] for p in parts]).astype(np.float64, copy=False)
    else:
        resource, share = np.zeros(0, np.int64), np.zeros(0, np.float64)
    path = np.fromiter((p[2] for p in parts), dtype=np.int64, count=count)
    return RouteBatch(flow, resource, share, path)


@dataclass
class _Graph:
    """A spec as arrays: dense node indices, and each node's links in spec order."""

    index: dict[int, int]
    ids: list[int]
    is_card: list[bool]
    neighbours: list[list[tuple[int, int]]]  # node -> (neighbour, directed resource) in spec link order
    hop_to: list[tuple[int, bool, bool]]  # node -> (latency ps, forwards, cut-through) as a link's far end
    nic_of: dict[int, dict[int, int]] = field(default_factory=dict)  # forwarder -> card -> resource to its NIC


class GraphRoutes:
    """Routes found on the graph: one breadth-first search per destination, on demand."""

    def __init__(self, spec: FabricSpec) -> None:
        self.spec = spec
        self._graph = _graph(spec)
        mtus = {nic.id: nic.mtu for nic in spec.nics}
        self.framings: list[Framing] = []
        framing_index: dict[Framing, int] = {}
        framing = np.zeros(2 * len(spec.links), dtype=np.int32)
        capacity = np.zeros(2 * len(spec.links), dtype=np.float64)
        for index, link in enumerate(spec.links):
            kind = link_framing(spec, link, mtus)
            framing[2 * index:2 * index + 2] = framing_index.setdefault(kind, len(framing_index))
            capacity[2 * index:2 * index + 2] = link.rate_bps
        self.framings = list(framing_index)
        self.framing = framing
        self.capacity_bps = capacity
        self.paths: list[tuple[Hop, ...]] = []
        self._path_index: dict[tuple[Hop, ...], int] = {}
        self._distances: OrderedDict[int, list[int]] = OrderedDict()
        self._routes: dict[tuple[int, int, int, int, int], tuple[np.ndarray, np.ndarray, int]] = {}

    def routes(self, src: np.ndarray, dst: np.ndarray, spread: Spread | np.ndarray, pinned: int | np.ndarray,
               seed: int) -> RouteBatch:
        count = len(src)
        src, dst = np.broadcast_to(src, count), np.broadcast_to(dst, count)
        spread, pinned = np.broadcast_to(spread, count), np.broadcast_to(pinned, count)
        parts = [self._route(int(s), int(d), int(how), int(pin), seed)
                 for s, d, how, pin in zip(src.tolist(), dst.tolist(), spread.tolist(), pinned.tolist())]
        return stack_batches(parts, count)

    def resource_name(self, resource: int) -> str:
        link = self.spec.links[resource // 2]
        names = self._names()
        a, b = (link.a, link.b) if resource % 2 == 0 else (link.b, link.a)
        return f"{names[a]}->{names[b]}"

    def _names(self) -> dict[int, str]:
        return self.spec.node_names()

    # -- one route ------------------------------------------------------------------------------------

    def _route(self, src: int, dst: int, spread: int, pinned: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
        key = (src, dst, spread, pinned, seed if spread != Spread.SPRAY else 0)
        found = self._routes.get(key)
        if found is None:
            found = self._walk(src, dst, Spread(spread), pinned, seed)
            if len(self._routes) > 1 << 20:
                self._routes.clear()
            self._routes[key] = found
        return found

    def _walk(self, src: int, dst: int, spread: Spread, pinned: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
        graph = self._graph
        if src not in graph.index or dst not in graph.index:
            raise UsageError(f"no node {src if src not in graph.index else dst} in fabric {self.spec.name}",
                             parameter="flows")
        start, target = graph.index[src], graph.index[dst]
        distance = self._distance(target)
        if distance[start] < 0:
            raise UsageError(f"fabric {self.spec.name} has no route from node {src} to node {dst}", parameter="flows")
        hashed = _mix(src, dst, 0, seed)
        weight = {start: 1.0}
        # node -> (latency so far, hops) of its slowest way from the source
        slowest: dict[int, tuple[int, tuple[Hop, ...]]] = {start: (0, ())}
        shares: dict[int, float] = {}
        frontier = [start]
        while frontier:
            following: dict[int, None] = {}
            for node in frontier:
                if node == target:
                    continue
                chosen = self._choices(node, start, target, src, dst, distance)
                if node == start and pinned >= 0:
                    chosen = [chosen[pinned % len(chosen)]]
                elif len(chosen) > 1 and (spread is Spread.HASH or (spread is Spread.SOURCE and node != start)):
                    chosen = [chosen[hashed % len(chosen)]]
                part = weight[node] / len(chosen)
                latency, hops = slowest[node]
                for neighbour, resource in chosen:
                    shares[resource] = shares.get(resource, 0.0) + part
                    weight[neighbour] = weight.get(neighbour, 0.0) + part
                    hop = self._hop(resource, neighbour)
                    reached = latency + hop.latency_ps + hop.node_latency_ps
                    if neighbour not in slowest or slowest[neighbour][0] < reached:
                        slowest[neighbour] = (reached, (*hops, hop))
                    following[neighbour] = None
            frontier = list(following)
        resources = np.fromiter(shares, dtype=np.int64, count=len(shares))
        values = np.fromiter(shares.values(), dtype=np.float64, count=len(shares))
        return resources, values, self._path_id(slowest[target][1])

    def _choices(self, node: int, start: int, target: int, src: int, dst: int,
                 distance: list[int]) -> list[tuple[int, int]]:
        graph = self._graph
        closer = distance[node] - 1
        chosen = [(neighbour, resource) for neighbour, resource in graph.neighbours[node]
                  if distance[neighbour] == closer and (neighbour == target or not graph.is_card[neighbour])]
        nics = graph.nic_of.get(node)
        if node != start and nics and len(chosen) > 1:
            for card in (src, dst):
                resource = nics.get(card)
                for choice in chosen:
                    if choice[1] == resource:
                        return [choice]
        return chosen

    def _hop(self, resource: int, to: int) -> Hop:
        link = self.spec.links[resource // 2]
        node_latency, forwards, cut_through = self._graph.hop_to[to]
        return Hop(int(self.framing[resource]), link.rate_bps, link.latency_ps, node_latency, forwards, cut_through)

    def _path_id(self, hops: tuple[Hop, ...]) -> int:
        index = self._path_index.get(hops)
        if index is None:
            index = self._path_index[hops] = len(self.paths)
            self.paths.append(hops)
        return index

    def _distance(self, target: int) -> list[int]:
        """Hops from every node to ``target`` along ways that cross no other card (-1: none)."""
        found = self._distances.get(target)
        if found is not None:
            self._distances.move_to_end(target)
            return found
        graph = self._graph
        distance = [-1] * len(graph.ids)
        distance[target] = 0
        queue = deque([target])
        while queue:
            node = queue.popleft()
            if node != target and graph.is_card[node]:
                continue
            for neighbour, _ in graph.neighbours[node]:
                if distance[neighbour] < 0:
                    distance[neighbour] = distance[node] + 1
                    queue.append(neighbour)
        self._distances[target] = distance
        if len(self._distances) > _TARGET_CACHE:
            self._distances.popitem(last=False)
        return distance


def _graph(spec: FabricSpec) -> _Graph:
    ids = [n.id for n in spec.nodes()]
    index = {node: position for position, node in enumerate(ids)}
    is_card = [True] * len(spec.cards) + [False] * (len(spec.switches) + len(spec.nics))
    hop_to: list[tuple[int, bool, bool]] = [(0, False, False)] * len(spec.cards)
    hop_to += [(int(s.latency.value), True, s.cut_through) for s in spec.switches]
    hop_to += [(int(n.latency.value), True, False) for n in spec.nics]
    neighbours: list[list[tuple[int, int]]] = [[] for _ in ids]
    for position, link in enumerate(spec.links):
        a, b = index[link.a], index[link.b]
        neighbours[a].append((b, 2 * position))
        neighbours[b].append((a, 2 * position + 1))
    graph = _Graph(index, ids, is_card, neighbours, hop_to)
    served = {index[nic.id]: nic.card for nic in spec.nics if nic.card is not None}
    for position, link in enumerate(spec.links):  # a forwarder next to a NIC learns which card it serves
        a, b = index[link.a], index[link.b]
        for node, nic, resource in ((a, b, 2 * position), (b, a, 2 * position + 1)):
            if nic in served and not is_card[node]:
                graph.nic_of.setdefault(node, {})[served[nic]] = resource
    return graph


RouteFactory = Callable[[FabricSpec], RouteProvider]
