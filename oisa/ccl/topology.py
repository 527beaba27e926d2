"""What the collective library sees of a fabric: for each pair of ranks, how bytes travel between
their cards (over a direct link, through switch planes, or through RDMA NICs), over how many
equal paths, with what latency, and which links they load how much.

This is the library's topology detection (NCCL's ``src/graph/topo.cc``, ``paths.cc`` and
``search.cc`` find the same things from the PCI and NVLink tree): it reads only the fabric's
specification. Routes follow the fabric's own rules, so that what the library plans is what the
engines then do: shortest paths through switches and NICs, never through a card
(:mod:`oisa.fabric.routing`); bulk traffic split evenly over equal paths at every branch; and at a
switch beside the NIC that serves the sending (or receiving) card, that NIC, as the engines'
forwarders pair them (``Forwarder._egress`` in ``oisa/fabric/nodes.py``).

Loads are counted in wire bytes per payload byte, framing included, for the messages the route's
transport sends: a kernel's stores (256 bytes each, as ``oisa/device/card.py`` issues them) where a
pair has one path and no NIC between, DMA writes of the card's transfer plan otherwise (stores keep
to one path, so only DMA can use several planes at once).
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from functools import cached_property

from oisa.device.adapter import Capability
from oisa.device.registry import adapter as registered_adapter
from oisa.errors import UsageError
from oisa.fabric.build import PCIE_MAX_PAYLOAD
from oisa.fabric.framing import ethernet_frames, oisa_frames, pcie_frames
from oisa.fabric.spec import FabricSpec, LinkKind, LinkSpec
from oisa.wire.oisa import Message, Opcode

__all__ = ["DIRECT", "NET", "REDUCE_PIECE", "STORE_BYTES", "SWITCH", "Route", "Topology"]

STORE_BYTES = 256  # the most one store carries (``_LOAD_STORE_BYTES`` in oisa/device/card.py)
REDUCE_PIECE = 4096  # the most one in-switch contribution carries (``_REDUCE_MESSAGE_BYTES`` there)
DIRECT, SWITCH, NET = "direct", "switch", "net"
_STREAM = 4096  # messages in the stream whose framing a route's loads are counted from


@dataclass(frozen=True)
class Route:
    """How ``src`` reaches ``dst`` (card ids): ``kind`` is direct (one link), switch (through
    switches only) or net (through RDMA NICs); ``paths`` the equal paths the bytes split over;
    ``latency_ps`` the links' and forwarders' latencies along a path; ``loads`` the directed links
    it uses, each with the wire bytes it carries per payload byte sent; ``stores`` whether the
    library sends by kernel stores (else by DMA)."""

    src: int
    dst: int
    kind: str
    paths: int
    latency_ps: int
    loads: tuple[tuple[int, float], ...]
    stores: bool

    @property
    def network(self) -> bool:
        return self.kind == NET


class Topology:
    """The fabric ``spec`` as seen from the cards ``ranks`` (ids, in rank order)."""

    def __init__(self, spec: FabricSpec, ranks: tuple[int, ...]) -> None:
        self.spec = spec
        self.ranks = ranks
        self._cards = {card.id: card for card in spec.cards}
        self._links_of: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for index, link in enumerate(spec.links):
            self._links_of[link.a].append((link.b, index))
            self._links_of[link.b].append((link.a, index))
        self._latency = {s.id: int(s.latency.value) for s in spec.switches}
        self._latency.update({n.id: int(n.latency.value) for n in spec.nics})
        self._nics = {n.id: n for n in spec.nics}
        self._served = {n.id: n.card for n in spec.nics if n.card is not None}
        self._distances: dict[int, dict[int, int]] = {}
        self._routes: dict[tuple[int, int], Route] = {}
        self.priced: dict[tuple, tuple] = {}  # the tuner's phase costs, by call and choice (oisa.ccl.tuner)

    # -- the fabric's shape --------------------------------------------------------------------------

    @cached_property
    def servers(self) -> tuple[int, ...]:
        """Each rank's server, by rank index (cards the fabric places in no server are each
        their own)."""
        return tuple(self._cards[r].server if self._cards[r].server is not None else -1 - i
                     for i, r in enumerate(self.ranks))

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
        direct = {(min(l.a, l.b), max(l.a, l.b)) for l in self.spec.links}
        ranks = self.ranks
        return len(ranks) > 2 and all((min(a, b), max(a, b)) in direct for i, a in enumerate(ranks)
                                      for b in ranks[i + 1:])

    def meshed(self, members: tuple[int, ...]) -> bool:
        """The ranks at ``members`` (indices) are linked pairwise."""
        direct = {(min(l.a, l.b), max(l.a, l.b)) for l in self.spec.links}
        cards = [self.ranks[m] for m in members]
        return len(cards) > 2 and all((min(a, b), max(a, b)) in direct for i, a in enumerate(cards)
                                      for b in cards[i + 1:])

    @cached_property
    def reducing_switches(self) -> tuple[int, ...]:
        """Switches that reduce collective contributions and that every rank reaches (the planes
        an in-switch reduction can use)."""
        reducing = [s.id for s in self.spec.switches if s.reduction]
        return tuple(s for s in reducing if all(self._distance(s, r) is not None for r in self.ranks))

    def offloads(self, rank: int) -> bool:
        """The card at rank index ``rank`` can start in-switch contributions."""
        return Capability.COLLECTIVE_OFFLOAD in self._capabilities(self.ranks[rank])

    def dma_engines(self, rank: int) -> int:
        """Copies the card at rank index ``rank`` runs at once by DMA (its profile's engines)."""
        return int(self._cards[self.ranks[rank]].device.dma_engines.value)

    def memory_rate(self, rank: int) -> float:
        """Bytes per second through the memory of the card at rank index ``rank``."""
        return int(self._cards[self.ranks[rank]].device.memory_bandwidth.value) / 8

    def capacity(self, directed: int) -> float:
        """Wire bytes per second a directed link (2 x link index + direction) carries."""
        return self.spec.links[directed // 2].rate_bps / 8

    @property
    def directed_links(self) -> int:
        return 2 * len(self.spec.links)

    # -- routes ------------------------------------------------------------------------------------------

    def route(self, src: int, dst: int) -> Route:
        """How the card of rank index ``src`` reaches that of ``dst``."""
        key = (src, dst)
        if key not in self._routes:
            self._routes[key] = self._route(self.ranks[src], self.ranks[dst])
        return self._routes[key]

    def node_route(self, src: int, dst: int) -> Route:
        """How node ``src`` reaches node ``dst`` (ids): between two ranks' cards as :meth:`route`;
        between a card and a switch, as an in-switch contribution goes up and its result comes down."""
        index = self._index
        if src in index and dst in index:
            return self.route(index[src], index[dst])
        key = (-1 - src, -1 - dst)
        if key not in self._routes:
            self._routes[key] = self._route(src, dst, to_switch=True)
        return self._routes[key]

    @cached_property
    def _index(self) -> dict[int, int]:
        return {card: index for index, card in enumerate(self.ranks)}

    def _route(self, src: int, dst: int, *, to_switch: bool = False) -> Route:
        distance = self._distances_to(dst)
        if src not in distance:
            names = self.spec.node_names()
            raise UsageError(f"{names[src]} cannot reach {names[dst]} in fabric {self.spec.name} (no path through "
                             f"switches and NICs)", parameter="cards")
        shares: dict[int, float] = defaultdict(float)  # directed link -> share of the bytes
        latency: dict[int, int] = {src: 0}
        at: dict[int, float] = {src: 1.0}
        widest, through_nic = 1, False
        for _ in range(distance[src]):
            following: dict[int, float] = defaultdict(float)
            for node, share in at.items():
                choices = self._choices(node, dst, distance, src)
                widest = max(widest, len(choices))
                for neighbour, index in choices:
                    link = self.spec.links[index]
                    directed = 2 * index + (0 if link.a == node else 1)
                    shares[directed] += share / len(choices)
                    following[neighbour] += share / len(choices)
                    arrive = latency[node] + link.latency_ps + self._latency.get(neighbour, 0) * (neighbour != dst)
                    latency[neighbour] = max(latency.get(neighbour, 0), arrive)
                    through_nic |= neighbour in self._nics
            at = following
        direct = distance[src] == 1
        kind = DIRECT if direct else NET if through_nic else SWITCH
        single = all(abs(share - 1.0) < 1e-12 for share in shares.values())
        stores = (not to_switch and single and kind != NET and src in self._cards
                  and Capability.LOAD_STORE in self._capabilities(src))
        message = self._message(src, dst, stores, to_switch)
        loads = tuple((directed, share * self._wire_per_byte(self.spec.links[directed // 2], message))
                      for directed, share in sorted(shares.items()))
        return Route(src, dst, kind, widest, latency[dst], loads, stores)

    def _choices(self, node: int, dst: int, distance: dict[int, int], src: int) -> list[tuple[int, int]]:
        """The next hops ``node`` may take towards ``dst``: on shortest paths, never through a
        card; at a forwarder beside the NIC of the source or destination card, that NIC."""
        choices = [(neighbour, index) for neighbour, index in self._links_of[node]
                   if distance.get(neighbour) == distance[node] - 1
                   and (neighbour == dst or neighbour not in self._cards)]
        if len(choices) > 1 and node in self._latency:
            for card in (src, dst):
                paired = [c for c in choices if self._served.get(c[0]) == card]
                if paired:
                    return paired[:1]
        return choices

    def _distances_to(self, target: int) -> dict[int, int]:
        """Hops from every node to ``target``, walking through switches and NICs only."""
        if target not in self._distances:
            distance = {target: 0}
            queue = deque([target])
            while queue:
                node = queue.popleft()
                if node != target and node in self._cards:
                    continue
                for neighbour, _ in self._links_of[node]:
                    if neighbour not in distance:
                        distance[neighbour] = distance[node] + 1
                        queue.append(neighbour)
            self._distances[target] = distance
        return self._distances[target]

    def _distance(self, node: int, rank_card: int) -> int | None:
        return self._distances_to(node).get(rank_card)

    def _capabilities(self, card: int) -> frozenset[Capability]:
        return registered_adapter(self._cards[card].device.adapter).cls.capabilities

    def _message(self, src: int, dst: int, stores: bool, to_switch: bool) -> Message:
        """The messages the route carries, as a segment of many: messages are packed back to back
        into flits, so a long stream of them is what sets the framing's share."""
        if stores:
            return Message(Opcode.STORE, src, dst, length=STORE_BYTES, count=_STREAM)
        if to_switch:  # contributions go up in pieces of 4 KiB, results come down as writes of the same
            return Message(Opcode.COLL_REDUCE if src in self._cards else Opcode.MEM_WR, src, dst,
                           length=REDUCE_PIECE, count=_STREAM)
        card = self._cards[src]
        plan = registered_adapter(card.device.adapter).cls(card.id, card.device).transfer_plan()
        return Message(plan.write, src, dst, length=min(plan.max_write, int(card.device.max_payload.value)),
                       count=_STREAM)

    def _wire_per_byte(self, link: LinkSpec, message: Message) -> float:
        """Wire bytes ``link`` carries per payload byte of ``message``s, framing included."""
        if link.kind is LinkKind.OISA:
            wire = oisa_frames(message, link.flit_size)[1]
        elif link.kind is LinkKind.PCIE:
            wire = pcie_frames(message, PCIE_MAX_PAYLOAD)[1]
        else:
            mtu = next((self._nics[n].mtu for n in (link.a, link.b) if n in self._nics), 4096)
            wire = ethernet_frames(message, mtu)[1]
        return wire / (message.count * message.length)


