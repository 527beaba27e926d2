"""Fabric descriptions: cards, switches and NICs, and the links between them, as plain data.

A :class:`FabricSpec` says what a fabric is made of; :func:`oisa.fabric.build` instantiates it
in a kernel. Specs come from TOML files (:mod:`oisa.fabric.loader`), from topology builders
such as the 64-card supernode (:mod:`oisa.fabric.topologies`), or from Python directly.

Node ids share one space: cards first (their ids are the OISA card ids), then switches and
NICs. Every physical figure (lanes, rate per lane, latency, switch port-to-port latency)
carries its source or says it is an assumption.

A spec may carry its own ``routing``: a builder that knows its topology's structure (a Clos of
100,000 cards) attaches a factory of routes computed from that structure, so that nothing ever
lists paths for every pair of cards (:mod:`oisa.fabric.routes`). Checking a spec costs time in
proportion to its nodes and links, whatever its size.
"""

from __future__ import annotations

import enum
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oisa.config import Figure
from oisa.device.profile import DeviceProfile
from oisa.errors import ConfigError, OisaError
from oisa.fabric.ethernet_config import DcqcnConfig, EthernetBuffering
from oisa.sim.faults import FaultModel
from oisa.wire.oisa import check_flit_size
from oisa.wire.pcie import MAX_PAYLOAD_SIZES

__all__ = [
    "DEFAULT_MTU",
    "ENCODINGS",
    "MTUS",
    "PCIE_DEFAULT_MAX_PAYLOAD",
    "CardSpec",
    "FabricSpec",
    "LinkKind",
    "LinkSpec",
    "NicSpec",
    "SwitchSpec",
    "valid_buffer",
    "valid_encoding",
    "valid_flit_size",
    "valid_lane_rate",
    "valid_lanes",
    "valid_latency",
    "valid_max_payload",
    "valid_mtu",
    "valid_node_id",
    "valid_switch_ports",
]

NODE_ID_LIMIT = 2**31 - 1  # node ids a spec may use; the frame-level engines take only 16-bit ones (the wire's)


class LinkKind(enum.StrEnum):
    """What a link carries: OISA flits, PCIe TLPs, or Ethernet frames (RoCEv2)."""

    OISA = "oisa"
    PCIE = "pcie"
    ETHERNET = "ethernet"


# Line codes: the share of the signalling rate that carries data. Sources: PCIe 3.0-5.0 use
# 128b/130b and PCIe 6.0 flit mode 1b/1b (protocol-facts §4.4); 200G/400G Ethernet lanes and
# UALink's PCS transcode 256b/257b and protect with RS(544,514) "KP4" FEC (IEEE 802.3 clause
# 119/172, protocol-facts §2); 64b/66b is 10G-100G Ethernet's; 8b/10b PCIe 1.x/2.x's.
ENCODINGS: dict[str, float] = {
    "none": 1.0,
    "8b/10b": 8 / 10,
    "64b/66b": 64 / 66,
    "128b/130b": 128 / 130,
    "256b/257b": 256 / 257,
    "256b/257b+RS(544,514)": 256 / 257 * 514 / 544,
}


MTUS = (256, 512, 1024, 2048, 4096)  # the RDMA (InfiniBand and RoCE) path MTUs
DEFAULT_MTU = Figure(4096, source="the largest RDMA path MTU (InfiniBand Architecture Specification, MTU "
                     "encodings 1-5; RoCEv2 uses the same, annex A17), what RDMA NICs negotiate on jumbo-frame "
                     "Ethernet; a NIC's `mtu` in the fabric file says otherwise")
PCIE_DEFAULT_MAX_PAYLOAD = Figure(256, source="PCIe Max Payload Size: GPUs and root complexes commonly run 256 B "
                                  "[secondary: kernel notes quoted in the team's protocol facts, section 4.1]; what "
                                  "an end of a PCIe link runs when neither its profile nor the fabric file says")


# -- the rules every value of a fabric obeys -------------------------------------------------
#
# One validation for fabrics from files and from Python: the loader applies these as it reads
# each key (so an error names the key in the file), FabricSpec.check() applies them to every
# element (naming the element and its field). Each returns the value or raises ValueError.

def valid_node_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= NODE_ID_LIMIT:
        raise ValueError(f"node id {value!r} is not 0 to {NODE_ID_LIMIT}")
    return value


def valid_lanes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 32:
        raise ValueError(f"expected a whole number of lanes from 1 to 32, got {value!r}")
    return value


def valid_lane_rate(value: object) -> int:
    """Bits per second of one lane."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"a lane rate must be a whole number of bits per second greater than zero, got {value!r}")
    return value


def valid_buffer(value: object) -> int:
    """Bytes of a buffer: at least one 4 KiB message's worth."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 4096:
        raise ValueError(f"a buffer must be a whole number of bytes, 4096 or more, got {value!r}")
    return value


def valid_latency(value: object) -> int:
    """Picoseconds: zero or more (a latency below zero would schedule events in the past)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"a latency must be a whole number of picoseconds and must not be negative, got {value!r}")
    return value


def valid_max_payload(value: object) -> int:
    if isinstance(value, bool) or value not in MAX_PAYLOAD_SIZES:
        raise ValueError(f"a PCIe Max Payload Size is {', '.join(map(str, MAX_PAYLOAD_SIZES[:-1]))} or "
                         f"{MAX_PAYLOAD_SIZES[-1]} bytes, got {value!r}")
    return int(value)


def valid_flit_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"a flit size is a whole number of bytes, got {value!r}")
    try:
        return check_flit_size(value)
    except OisaError as exc:
        raise ValueError(str(exc)) from None


def valid_encoding(value: object) -> str:
    if value not in ENCODINGS:
        raise ValueError(f"unknown encoding {value!r} (known: {', '.join(ENCODINGS)})")
    return value


def valid_switch_ports(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
        raise ValueError(f"{value!r} is not 1 to 4096 ports")
    return value


def valid_mtu(value: object) -> int:
    if value not in MTUS or isinstance(value, bool):
        raise ValueError(f"RDMA MTU {value!r} is not {', '.join(map(str, MTUS[:-1]))} or {MTUS[-1]}")
    return value


@dataclass(frozen=True)
class CardSpec:
    id: int
    name: str
    device: DeviceProfile
    server: int | None = None


@dataclass(frozen=True)
class SwitchSpec:
    """A switch: OISA switch chip, PCIe switch or Ethernet switch (``kind`` of its links).

    ``latency`` is port to port. A cut-through switch starts forwarding once the head of a
    frame is in; a store-and-forward one waits for its tail. ``reduction`` marks an OISA switch
    that reduces collective contributions (``COLL_REDUCE``) itself; it then needs the rate its
    reduction units combine contributions at (``reduction_rate``, bits per second of
    contributions in) and the buffer that holds contributions until every member's is in
    (``reduction_buffer``, bytes): reducing is neither free nor unbounded.
    """

    id: int
    name: str
    kind: LinkKind
    ports: int
    latency: Figure
    cut_through: bool = True
    reduction: bool = False
    server: int | None = None
    reduction_rate: Figure | None = None
    reduction_buffer: Figure | None = None
    buffering: EthernetBuffering | None = None  # an Ethernet switch's shared buffer, PFC and ECN (oisa.fabric.roce)


@dataclass(frozen=True)
class NicSpec:
    """An RDMA NIC: a PCIe port towards the cards and an Ethernet port towards the network.

    ``latency`` is its processing time in each direction (work request, DMA set-up, packet
    building); ``mtu`` the RDMA payload per packet. ``card`` is the card it serves, if any: that
    card's traffic leaves and enters its server through this NIC (as NCCL pairs each GPU with
    its nearest NIC for GPUDirect RDMA), not through whichever NIC a path hash picks.
    """

    id: int
    name: str
    latency: Figure
    mtu: int = int(DEFAULT_MTU.value)
    server: int | None = None
    card: int | None = None
    dcqcn: DcqcnConfig | None = None  # RoCE congestion control and go-back-N (oisa.fabric.dcqcn)


@dataclass(frozen=True)
class LinkSpec:
    """A link between two nodes' ports: ``lanes`` x ``lane_rate`` in each direction."""

    a: int
    b: int
    kind: LinkKind
    lanes: Figure
    lane_rate: Figure
    latency: Figure
    a_port: int | None = None
    b_port: int | None = None
    encoding: str = "none"
    flit_size: int = 256
    faults: FaultModel = field(default_factory=FaultModel)
    max_payload: Figure | None = None  # PCIe links: the Max Payload Size their switch or NIC ends support

    @property
    def rate_bps(self) -> int:
        """Data bits per second in each direction, after the line code."""
        return int(int(self.lanes.value) * int(self.lane_rate.value) * ENCODINGS[self.encoding])

    @property
    def latency_ps(self) -> int:
        return int(self.latency.value)


@dataclass(frozen=True)
class FabricSpec:
    """A whole fabric. :meth:`check` is called by every loader; builders in Python call it too.

    ``routing``, if given, makes this fabric's routes from its structure (``routing(spec)`` gives
    a route provider, see :func:`oisa.fabric.routes.routes_of`); without it routes are searched
    on the graph, on demand."""

    name: str
    description: str
    cards: tuple[CardSpec, ...]
    links: tuple[LinkSpec, ...]
    switches: tuple[SwitchSpec, ...] = ()
    nics: tuple[NicSpec, ...] = ()
    source: str = "<python>"
    routing: Callable[[FabricSpec], Any] | None = field(default=None, compare=False, repr=False)

    def __repr__(self) -> str:
        """Its name (which says how a loader built it), where from, and its size: the full
        dataclass repr, every card's profile and every link's figures, runs to tens of kilobytes,
        and Hypothesis warns about such a repr in a failure report, which the tests' warnings-as-
        errors turned into a FlakyStrategyDefinition hiding the failure itself."""
        return (f"FabricSpec(name={self.name!r}, source={self.source!r}, cards={len(self.cards)}, "
                f"switches={len(self.switches)}, nics={len(self.nics)}, links={len(self.links)})")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """The same for pretty printers (IPython's protocol, which Hypothesis's reports follow)."""
        printer.text(repr(self))

    def card_at(self, node: int) -> CardSpec | None:
        """The card with id ``node``, or None if ``node`` is a switch or a NIC."""
        cards = self.cards
        if 0 <= node < len(cards) and cards[node].id == node:
            return cards[node]
        if cards and cards[0].id == 0 and cards[-1].id == len(cards) - 1:
            return None  # numbered from 0 in order, as every builder numbers them: not a card
        return next((card for card in cards if card.id == node), None)

    def pcie_max_payload(self, link: LinkSpec) -> int:
        """The Max Payload Size PCIe ``link`` runs: the smallest its ends support, as system
        software sets every function's Device Control MPS to what all on the path can take
        (PCIe Base spec, Device Capabilities and Device Control; protocol facts 4.1). A card's
        end supports its profile's ``[pcie] max_payload``, a switch's or NIC's end the link's
        ``max_payload``; an end that says nothing, :data:`PCIE_DEFAULT_MAX_PAYLOAD`."""
        offers = [link.max_payload or PCIE_DEFAULT_MAX_PAYLOAD]
        for end in (link.a, link.b):
            card = self.card_at(end)
            if card is not None:
                offers.append(card.device.pcie_max_payload or PCIE_DEFAULT_MAX_PAYLOAD)
        return min(int(offer.value) for offer in offers)

    def card(self, card_id: int) -> CardSpec:
        cards = self.cards
        if isinstance(card_id, int) and 0 <= card_id < len(cards) and cards[card_id].id == card_id:
            return cards[card_id]  # cards numbered from 0 in order, as every builder makes them
        for card in cards:
            if card.id == card_id:
                return card
        raise ConfigError(f"no card {card_id} (cards: {_ranges(sorted(c.id for c in self.cards))})",
                          source=self.source)

    def nodes(self) -> tuple[CardSpec | SwitchSpec | NicSpec, ...]:
        """Every node that has an id: cards, then switches, then NICs."""
        return (*self.cards, *self.switches, *self.nics)

    def node_names(self) -> dict[int, str]:
        return {n.id: n.name for n in self.nodes()}

    def wire_names(self, link: LinkSpec) -> tuple[str, str]:
        """The names of ``link``'s two directions, ``"a->b"`` and ``"b->a"`` (wires, captures)."""
        names = self.node_names()
        return f"{names[link.a]}->{names[link.b]}", f"{names[link.b]}->{names[link.a]}"

    def servers(self) -> dict[int, list[int]]:
        """Card ids by server, for fabrics that say which server a card sits in."""
        out: dict[int, list[int]] = defaultdict(list)
        for card in self.cards:
            if card.server is not None:
                out[card.server].append(card.id)
        return dict(out)

    def check(self) -> FabricSpec:
        """Refuse what a fabric file would have refused, naming the element and its field: values
        out of range (the same rules, and words, as the loader's), unknown nodes, ports used twice
        or beyond a node's count, links of a kind a node cannot take, a graph in pieces."""
        self._check_values()
        names = self.node_names()
        seen: set[int] = set()
        for node in self.nodes():
            if node.id in seen:
                raise self._error(f"node id {node.id} is used twice", f"{node.name}.id")
            seen.add(node.id)
        if not self.cards:
            raise self._error("a fabric needs at least one card", "cards")
        cards = {card.id for card in self.cards}
        for nic in self.nics:
            if nic.card is not None and nic.card not in cards:
                raise self._error(f"{nic.name} serves node {nic.card}, which is not a card of this fabric",
                                  f"{nic.name}.card")
        self._check_ports(names)
        self._check_connected(names)
        from oisa.fabric.ethernet_loader import check_headroom  # it reads the framing, which reads this module
        check_headroom(self)
        return self

    def _check_values(self) -> None:
        for card in self.cards:
            self._valid(card.name, "id", card.id, valid_node_id)
            if not isinstance(card.device, DeviceProfile):
                raise self._error(f"expected a DeviceProfile (oisa.device.load_profile), got {card.device!r}",
                                  f"{card.name}.device")
        for switch in self.switches:
            self._valid(switch.name, "id", switch.id, valid_node_id)
            self._valid(switch.name, "kind", switch.kind, _link_kind)
            self._valid(switch.name, "ports", switch.ports, valid_switch_ports)
            self._valid(switch.name, "latency", switch.latency, _figure(valid_latency))
            if switch.reduction:
                self._valid(switch.name, "reduction_rate", switch.reduction_rate, _figure(valid_lane_rate))
                self._valid(switch.name, "reduction_buffer", switch.reduction_buffer, _figure(valid_buffer))
        for nic in self.nics:
            self._valid(nic.name, "id", nic.id, valid_node_id)
            self._valid(nic.name, "latency", nic.latency, _figure(valid_latency))
            self._valid(nic.name, "mtu", nic.mtu, valid_mtu)
        for index, link in enumerate(self.links):
            where = f"links[{index}]"
            self._valid(where, "kind", link.kind, _link_kind)
            self._valid(where, "lanes", link.lanes, _figure(valid_lanes))
            self._valid(where, "lane_rate", link.lane_rate, _figure(valid_lane_rate))
            self._valid(where, "latency", link.latency, _figure(valid_latency))
            self._valid(where, "encoding", link.encoding, valid_encoding)
            self._valid(where, "flit_size", link.flit_size, valid_flit_size)
            if link.max_payload is not None:
                if link.kind is not LinkKind.PCIE:
                    raise self._error("only a PCIe link has a Max Payload Size", f"{where}.max_payload")
                self._valid(where, "max_payload", link.max_payload, _figure(valid_max_payload))
            if not isinstance(link.faults, FaultModel):
                raise self._error(f"expected a FaultModel, got {link.faults!r}", f"{where}.faults")

    def _valid(self, element: str, field: str, value: Any, rule: Callable[[Any], Any]) -> None:
        try:
            rule(value)
        except ValueError as exc:
            raise self._error(str(exc), f"{element}.{field}") from None

    def port_limit(self, node: int, kind: LinkKind) -> int:
        """How many links of ``kind`` a node can take."""
        return _port_limit(self._node_of(node), kind)

    def _node_of(self, node: int) -> CardSpec | SwitchSpec | NicSpec | None:
        for group in (self.cards, self.switches, self.nics):
            for item in group:
                if item.id == node:
                    return item
        return None

    def _check_ports(self, names: dict[int, str]) -> None:
        used: dict[tuple[int, int], int] = {}
        counts: dict[tuple[int, LinkKind], int] = defaultdict(int)
        nodes = {item.id: item for group in (self.cards, self.switches, self.nics) for item in group}
        limits: dict[tuple[int, LinkKind], int] = {}
        for index, link in enumerate(self.links):
            where = f"links[{index}]"
            for end, port in ((link.a, link.a_port), (link.b, link.b_port)):
                if end not in names:
                    raise self._error(f"node {end} is not a card, switch or NIC of this fabric", f"{where}.between")
                key = (end, link.kind)
                counts[key] += 1
                limit = limits.get(key)
                if limit is None:
                    limit = limits[key] = _port_limit(nodes.get(end), link.kind)
                if counts[key] > limit:
                    raise self._error(f"{names[end]} cannot take {counts[key]} {link.kind.value} "
                                      f"links (it has {limit})", where)
                if port is not None:
                    if (end, port) in used:
                        raise self._error(f"port {port} of {names[end]} is used by links[{used[(end, port)]}] "
                                          f"and {where}", f"{where}.ports")
                    used[(end, port)] = index
            if link.a == link.b:
                raise self._error("a link must join two different nodes", f"{where}.between")

    def _check_connected(self, names: dict[int, str]) -> None:
        neighbours: dict[int, set[int]] = defaultdict(set)
        for link in self.links:
            neighbours[link.a].add(link.b)
            neighbours[link.b].add(link.a)
        start = self.cards[0].id
        reached = {start}
        queue = deque([start])
        while queue:
            for nxt in neighbours[queue.popleft()] - reached:
                reached.add(nxt)
                queue.append(nxt)
        stranded = sorted(set(names) - reached)
        if stranded:
            cut_off = ", ".join(names[n] for n in stranded[:6]) + (" ..." if len(stranded) > 6 else "")
            raise self._error(f"the fabric is not connected: {cut_off} cannot reach {names[start]}", "links")

    def _error(self, message: str, key: str) -> ConfigError:
        return ConfigError(message, source=self.source, key=key)


def _figure(rule: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``rule`` applied to a figure's value; a bare value (a figure carries its source) is refused."""

    def check(figure: object) -> Any:
        if not isinstance(figure, Figure):
            raise ValueError(f"expected a Figure (a value with its source or an assumption), got {figure!r}")
        return rule(figure.value)

    return check


def _link_kind(value: object) -> LinkKind:
    if not isinstance(value, LinkKind):
        raise ValueError(f"expected a LinkKind ({', '.join(k.value for k in LinkKind)}), got {value!r}")
    return value


def _port_limit(node: CardSpec | SwitchSpec | NicSpec | None, kind: LinkKind) -> int:
    if isinstance(node, CardSpec):
        return int(node.device.ports.value) if kind is LinkKind.OISA else 1
    if isinstance(node, SwitchSpec):
        return node.ports if kind is node.kind else 0
    if isinstance(node, NicSpec):
        return 1 if kind in (LinkKind.PCIE, LinkKind.ETHERNET) else 0
    return 0


def _ranges(ids: list[int]) -> str:
    """``0-63, 70`` for a sorted list of ids."""
    parts: list[tuple[int, int]] = []
    for value in ids:
        if parts and value == parts[-1][1] + 1:
            parts[-1] = (parts[-1][0], value)
        else:
            parts.append((value, value))
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in parts)
