"""What the collective library sees of a fabric: for each pair of ranks, how bytes travel between
their cards (over a direct link, through switch planes, or through RDMA NICs), with what latency,
and which resources they load how much.

This is the library's topology detection (NCCL's ``src/graph/topo.cc``, ``paths.cc`` and
``search.cc`` find the same things from the PCI and NVLink tree): it reads only the fabric's
specification and its routes. Routes come from the fabric's route provider
(:func:`oisa.fabric.routes.routes_of`), the same the flow engine uses, so that what the library
plans is what the engines then do: shortest paths through switches and NICs, never through a card;
bulk traffic split evenly over equal paths at every branch (:attr:`~oisa.fabric.routes.Spread.SPRAY`);
and at a forwarder beside the NIC that serves the sending (or receiving) card, that NIC. A cluster's
provider works them out from its structure for any number of pairs at once; other fabrics are
searched, one breadth-first search per destination. The library never searches the whole graph
per pair itself: at 10,000 cards a ring's pairs alone took minutes that way.

A batch of transfers (:meth:`Topology.routes`) is routed in one call; what each transfer costs
beyond its links' shares comes from small tables, one entry per class of transfer: latency per
path shape (every transfer whose slowest path crosses the same kinds of hop has the same
latency), wire bytes per payload byte per kind of message and kind of link, and what a card can do
per device profile. Classes are exact: the tables hold what every member would compute.

Loads are counted in wire bytes per payload byte, framing included, for the messages the route's
transport sends: a kernel's stores (256 bytes each, as ``oisa/device/card.py`` issues them) where a
pair has one path and no NIC between, DMA writes of the card's transfer plan otherwise (stores keep
to one path, so only DMA can use several planes at once). Resources are the provider's: both
directions of every link, and the aggregates a structured provider adds (all the up-links of a Clos
leaf, which sprayed traffic loads as one, with their summed capacity).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from typing import cast

import numpy as np

from oisa.device.adapter import Capability
from oisa.device.registry import adapter as registered_adapter
from oisa.errors import UsageError
from oisa.fabric.routes import Framing, RouteProvider, Spread, routes_of
from oisa.fabric.spec import FabricSpec
from oisa.wire.oisa import Message, Opcode

__all__ = ["DIRECT", "NET", "REDUCE_PIECE", "STORE_BYTES", "SWITCH", "Route", "Routed", "Topology"]

STORE_BYTES = 256  # the most one store carries (``_LOAD_STORE_BYTES`` in oisa/device/card.py)
REDUCE_PIECE = 4096  # the most one in-switch contribution carries (``_REDUCE_MESSAGE_BYTES`` there)
DIRECT, SWITCH, NET = "direct", "switch", "net"
_STREAM = 4096  # messages in the stream whose framing a route's loads are counted from
_STORES, _UP, _DOWN = 0, 1, 2  # message kinds: stores, in-switch contributions, results; then each card kind's DMA
_BATCHES = 8  # routed batches a topology keeps (a call's phases are routed by its flowbook, then priced)


@dataclass(frozen=True)
class Route:
    """How ``src`` reaches ``dst`` (node ids): ``kind`` is direct (one link), switch (through
    switches only) or net (through RDMA NICs); ``latency_ps`` the links' and forwarders' latencies
    along its slowest path; ``loads`` the resources it uses, each with the wire bytes it carries
    per payload byte sent; ``stores`` whether the library sends by kernel stores (else by DMA)."""

    src: int
    dst: int
    kind: str
    latency_ps: int
    loads: tuple[tuple[int, float], ...]
    stores: bool

    @property
    def network(self) -> bool:
        return self.kind == NET


@dataclass(frozen=True)
class Routed:
    """The routes of a batch of transfers, as arrays: per transfer its latency, whether it
    crosses the network and whether it goes by stores; its loads as entries (``flow``,
    ``resource``, ``per_byte``: wire bytes on the resource per payload byte), grouped by flow."""

    latency_ps: np.ndarray
    network: np.ndarray
    stores: np.ndarray
    direct: np.ndarray
    flow: np.ndarray
    resource: np.ndarray
    per_byte: np.ndarray

    def __len__(self) -> int:
        return len(self.latency_ps)


@dataclass(frozen=True)
class _Nodes:
    """Per node id: whether it is a card, its message kind (DMA writes of its transfer plan; -1
    where none) and whether it may store; per resource, whether it leads to or from a NIC."""

    is_card: np.ndarray
    kind: np.ndarray
    load_store: np.ndarray
    touches_nic: np.ndarray
    messages: list[Message]


class _Fabric:
    """What every topology on the same fabric and route provider shares, worked out once: a
    training step's lowering plans thousands of groups (a 10,240-card step, 1,280 tensor-parallel
    groups), each over a topology of its own, whose tables would otherwise each be as large as
    the fabric."""

    def __init__(self, spec: FabricSpec, provider: RouteProvider) -> None:
        self.spec = spec
        self.provider = provider
        self.cards = {card.id: card for card in spec.cards}
        self._path_latency: list[int] = []
        self._path_hops: list[int] = []

    @cached_property
    def direct(self) -> frozenset[tuple[int, int]]:
        """Pairs of cards (lower id first) with a link of their own."""
        cards = self.cards
        return frozenset((min(link.a, link.b), max(link.a, link.b)) for link in self.spec.links
                         if link.a in cards and link.b in cards)

    @cached_property
    def card_dma_engines(self) -> np.ndarray:
        """Per node id, the copies its card runs at once by DMA (0 for nodes that are not cards)."""
        out = np.zeros(len(self.nodes.is_card), dtype=np.int64)
        for card in self.spec.cards:
            out[card.id] = int(card.device.dma_engines.value)
        return out

    @cached_property
    def capacities(self) -> np.ndarray:
        return np.asarray(self.provider.capacity_bps, dtype=np.float64) / 8

    def path_table(self, path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per transfer, its slowest path's latency (links and the forwarders it crosses, not
        the node it ends at) and its hops, from a table with one entry per path shape."""
        paths = self.provider.paths
        for hops in paths[len(self._path_latency):]:
            self._path_latency.append(sum(h.latency_ps + h.node_latency_ps for h in hops) - hops[-1].node_latency_ps)
            self._path_hops.append(len(hops))
        return (np.asarray(self._path_latency, dtype=np.int64)[path],
                np.asarray(self._path_hops, dtype=np.int64)[path])

    @cached_property
    def nodes(self) -> _Nodes:
        spec = self.spec
        size = 1 + max(n.id for n in spec.nodes())
        is_card = np.zeros(size, dtype=bool)
        kind = np.full(size, -1, dtype=np.int64)
        load_store = np.zeros(size, dtype=bool)
        messages = [Message(Opcode.STORE, 0, 1, length=STORE_BYTES, count=_STREAM),
                    Message(Opcode.COLL_REDUCE, 0, 1, length=REDUCE_PIECE, count=_STREAM),
                    Message(Opcode.MEM_WR, 0, 1, length=REDUCE_PIECE, count=_STREAM)]
        kinds: dict[int, tuple[int, bool]] = {}  # per device profile: its message kind and whether it stores
        for card in spec.cards:
            found = kinds.get(id(card.device))
            if found is None:
                adapter = registered_adapter(card.device.adapter).cls
                plan = adapter(card.id, card.device).transfer_plan()
                length = min(plan.max_write, int(card.device.max_payload.value))
                messages.append(Message(plan.write, 0, 1, length=length, count=_STREAM))
                found = kinds[id(card.device)] = (len(messages) - 1, Capability.LOAD_STORE in adapter.capabilities)
            is_card[card.id] = True
            kind[card.id], load_store[card.id] = found
        is_nic = np.zeros(size, dtype=bool)
        is_nic[[nic.id for nic in spec.nics]] = True
        ends = np.fromiter((end for link in spec.links for end in (link.a, link.b)), dtype=np.int64,
                           count=2 * len(spec.links))
        touches = np.zeros(len(self.capacities), dtype=bool)  # aggregates never: their flows cross a NIC's link too
        touches[:len(ends)] = np.repeat(is_nic[ends[0::2]] | is_nic[ends[1::2]], 2)
        return _Nodes(is_card, kind, load_store, touches, messages)

    @cached_property
    def wire(self) -> np.ndarray:
        """Wire bytes per payload byte, by message kind and the provider's framing index."""
        nodes, framings = self.nodes, self.provider.framings
        return np.array([[_wire_per_byte(framing, message) for framing in framings] for message in nodes.messages])


_FABRICS: OrderedDict[tuple[int, int], _Fabric] = OrderedDict()  # the last few fabrics' shared tables


def _fabric_of(spec: FabricSpec, provider: RouteProvider) -> _Fabric:
    """The shared tables of ``spec`` routed by ``provider`` (kept while they are among the last
    few asked about)."""
    key = (id(spec), id(provider))
    found = _FABRICS.get(key)
    if found is None or found.spec is not spec or found.provider is not provider:
        found = _FABRICS[key] = _Fabric(spec, provider)
        if len(_FABRICS) > 8:
            _FABRICS.popitem(last=False)
    return found


class Topology:
    """The fabric ``spec`` as seen from the cards ``ranks`` (ids, in rank order), routed by
    ``routes`` (the spec's own provider unless given: a test routes a cluster by graph search
    to hold its structured routes to the search's)."""

    def __init__(self, spec: FabricSpec, ranks: tuple[int, ...], *, routes: RouteProvider | None = None) -> None:
        self.spec = spec
        self.ranks = ranks
        self.provider = routes if routes is not None else routes_of(spec)
        self._fabric = _fabric_of(spec, self.provider)
        self._cards = self._fabric.cards
        self._routes: dict[tuple[int, int], Route] = {}
        self._batches: OrderedDict[tuple[bytes, bytes], Routed] = OrderedDict()
        self.priced: dict[tuple, tuple] = {}  # the tuner's phase costs, by call and choice (oisa.ccl.tuner)
        # what the algorithms work out from the topology alone (rings, trees and their schedules), kept
        # for every choice and call the tuner prices on it
        self.shapes: dict[tuple, object] = {}
        self.routed = 0  # transfers handed to the route provider so far: the work routing costs, as tests bound it

    # -- the fabric's shape --------------------------------------------------------------------------

    @cached_property
    def servers(self) -> tuple[int, ...]:
        """Each rank's server, by rank index (cards the fabric places in no server are each
        their own)."""
        servers = (self._cards[r].server for r in self.ranks)
        return tuple(server if server is not None else -1 - i for i, server in enumerate(servers))

    @cached_property
    def server_groups(self) -> tuple[tuple[int, ...], ...]:
        """Rank indices by server, servers in order of their first rank."""
        groups: dict[int, list[int]] = {}
        for index, server in enumerate(self.servers):
            groups.setdefault(server, []).append(index)
        return tuple(tuple(g) for g in groups.values())

    @cached_property
    def full_mesh(self) -> bool:
        """Every pair of ranks has a link of its own."""
        return self.meshed(tuple(range(len(self.ranks))))

    def meshed(self, members: tuple[int, ...]) -> bool:
        """The ranks at ``members`` (indices) are linked pairwise."""
        direct = self._fabric.direct
        cards = [self.ranks[m] for m in members]
        return len(cards) > 2 and all((min(a, b), max(a, b)) in direct for i, a in enumerate(cards)
                                      for b in cards[i + 1:])

    @cached_property
    def reducing_switches(self) -> tuple[int, ...]:
        """Switches that reduce collective contributions and that every rank reaches (the planes
        an in-switch reduction can use)."""
        cards = np.asarray(self.ranks, dtype=np.int64)
        reaching = []
        for switch in (s.id for s in self.spec.switches if s.reduction):
            try:  # the first and last rank first: on a cluster most planes are refused by them at once
                for some in (cards[[0, -1]], cards):
                    self.provider.routes(some, np.full(len(some), switch), Spread.SPRAY, -1, 0)
            except UsageError:
                continue
            reaching.append(switch)
        return tuple(reaching)

    def offloads(self, rank: int) -> bool:
        """The card at rank index ``rank`` can start in-switch contributions."""
        return Capability.COLLECTIVE_OFFLOAD in self._capabilities(self.ranks[rank])

    def dma_engines(self, rank: int) -> int:
        """Copies the card at rank index ``rank`` runs at once by DMA (its profile's engines)."""
        return int(self._cards[self.ranks[rank]].device.dma_engines.value)

    def memory_rate(self, rank: int) -> float:
        """Bytes per second through the memory of the card at rank index ``rank``."""
        return int(self._cards[self.ranks[rank]].device.memory_bandwidth.value) / 8

    def slowest_memory(self, cards: tuple[int, ...]) -> float:
        """Bytes per second through the slowest memory of the cards ``cards`` (ids): the rate a
        reduction pipelined across them all keeps (kept per set of cards: every phase of a call
        names the same)."""
        key = ("slowest memory", cards)
        found = self.shapes.get(key)
        if found is None:
            found = self.shapes[key] = min(self.memory_rate(self.index[card]) for card in set(cards))
        return cast(float, found)

    @property
    def capacities(self) -> np.ndarray:
        """Wire bytes per second each resource carries (a directed link: 2 x link index +
        direction; then the provider's aggregates)."""
        return self._fabric.capacities

    @property
    def card_dma_engines(self) -> np.ndarray:
        """Per node id, the copies its card runs at once by DMA (0 for nodes that are not cards)."""
        return self._fabric.card_dma_engines

    @property
    def _nodes(self) -> _Nodes:
        return self._fabric.nodes

    @property
    def _wire(self) -> np.ndarray:
        return self._fabric.wire

    def capacity(self, resource: int) -> float:
        """Wire bytes per second ``resource`` carries."""
        return float(self.capacities[resource])

    @property
    def resources(self) -> int:
        return len(self.capacities)

    # -- routes ------------------------------------------------------------------------------------------

    def route(self, src: int, dst: int) -> Route:
        """How the card of rank index ``src`` reaches that of ``dst``."""
        return self.node_route(self.ranks[src], self.ranks[dst])

    def node_route(self, src: int, dst: int) -> Route:
        """How node ``src`` reaches node ``dst`` (ids): between two ranks' cards by the card's
        transfers; between a card and a switch, as an in-switch contribution goes up and its
        result comes down."""
        key = (src, dst)
        found = self._routes.get(key)
        if found is None:
            routed = self._route(np.array([src], dtype=np.int64), np.array([dst], dtype=np.int64))
            loads = tuple(sorted(zip(routed.resource.tolist(), routed.per_byte.tolist(), strict=True)))
            kind = DIRECT if routed.direct[0] else NET if routed.network[0] else SWITCH
            found = self._routes[key] = Route(src, dst, kind, int(routed.latency_ps[0]), loads,
                                              bool(routed.stores[0]))
        return found

    def routes(self, src: np.ndarray, dst: np.ndarray) -> Routed:
        """The routes of transfers from node ``src[i]`` to node ``dst[i]`` (ids), all at once.
        The last few batches are kept: a call's phases are routed to build them, then to price them."""
        src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
        key = (src.tobytes(), dst.tobytes())
        found = self._batches.get(key)
        if found is None:
            found = self._batches[key] = self._route(src, dst)
            if len(self._batches) > _BATCHES:
                self._batches.popitem(last=False)
        return found

    def _route(self, src: np.ndarray, dst: np.ndarray) -> Routed:
        """The routes of a batch, each distinct pair routed once (a tree's lanes and a ring's
        steps repeat pairs) and copied to the transfers that repeat it, entries in flow order."""
        key = src * len(self._nodes.is_card) + dst
        unique, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        if len(unique) == len(key):
            return self._route_pairs(src, dst)
        routed = self._route_pairs(src[first], dst[first])
        inverse = inverse.reshape(-1)
        counts = np.bincount(routed.flow, minlength=len(unique))
        starts = np.cumsum(counts) - counts
        taken = counts[inverse]
        flow = np.repeat(np.arange(len(key), dtype=np.int64), taken)
        entry = np.repeat(starts[inverse] - (np.cumsum(taken) - taken), taken) + np.arange(int(taken.sum()))
        return Routed(routed.latency_ps[inverse], routed.network[inverse], routed.stores[inverse],
                      routed.direct[inverse], flow, routed.resource[entry], routed.per_byte[entry])

    def _route_pairs(self, src: np.ndarray, dst: np.ndarray) -> Routed:
        nodes = self._nodes
        self.routed += len(src)
        try:
            batch = self.provider.routes(src, dst, Spread.SPRAY, -1, 0)
        except UsageError:
            raise self._unreachable(src, dst) from None
        count = len(src)
        latency, hops = self._fabric.path_table(batch.path)
        to_switch = ~self.between_ranks(src, dst)
        network = np.bincount(batch.flow, weights=nodes.touches_nic[batch.resource], minlength=count) > 0
        split = np.bincount(batch.flow, weights=np.abs(batch.share - 1.0) >= 1e-12, minlength=count) > 0
        stores = ~to_switch & ~split & ~network & nodes.load_store[src]
        kind = np.where(stores, _STORES, np.where(to_switch, np.where(nodes.is_card[src], _UP, _DOWN), nodes.kind[src]))
        per_byte = batch.share * self._wire[kind[batch.flow], self.provider.framing[batch.resource]]
        return Routed(latency, network, stores, hops == 1, batch.flow, batch.resource, per_byte)

    def _unreachable(self, src: np.ndarray, dst: np.ndarray) -> UsageError:
        """The error for the first pair of a batch that has no route (or the provider's own)."""
        names = self.spec.node_names()
        for s, d in zip(src.tolist(), dst.tolist(), strict=True):
            try:
                self.provider.routes(np.array([s]), np.array([d]), Spread.SPRAY, -1, 0)
            except UsageError:
                return UsageError(f"{names.get(s, s)} cannot reach {names.get(d, d)} in fabric {self.spec.name} "
                                  f"(no path through switches and NICs)", parameter="cards")
        return UsageError(f"fabric {self.spec.name} cannot route these transfers", parameter="cards")

    @cached_property
    def index(self) -> dict[int, int]:
        """Rank index by card id."""
        return {card: index for index, card in enumerate(self.ranks)}

    def between_ranks(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Which transfers from node ``src[i]`` to ``dst[i]`` run between two ranks' cards."""
        return self._is_rank[src] & self._is_rank[dst]

    @cached_property
    def _is_rank(self) -> np.ndarray:
        out = np.zeros(len(self._nodes.is_card), dtype=bool)
        out[list(self.ranks)] = True
        return out

    def _capabilities(self, card: int) -> frozenset[Capability]:
        return registered_adapter(self._cards[card].device.adapter).cls.capabilities


def _wire_per_byte(framing: Framing, message: Message) -> float:
    """Wire bytes a link of ``framing`` carries per payload byte of ``message``s: messages are
    packed back to back into flits, so a long stream of them is what sets the framing's share."""
    return framing.frames(message)[1] / (message.count * message.length)
