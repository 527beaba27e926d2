"""Clusters: scale-up domains of cards joined by a rail-optimised Clos of RDMA NICs and switches,
and their routes computed from that structure.

A :class:`ClusterLayout` is the shape of a cluster as counts: servers of cards, grouped into
scale-up domains (one server with an NVSwitch-like switch, an xGMI-like mesh or a PCIe switch;
or an OISA supernode of many servers on switch planes), every card with its own RDMA NIC, the
NICs of one card slot (a *rail*) on the same leaves, leaves under spines, and, in three tiers,
pods of leaves and spines under cores. :func:`build_cluster` makes the
:class:`~oisa.fabric.spec.FabricSpec` (node ids and link order follow the layout, block by
block) and attaches :class:`ClusterRoutes`, which routes any number of transfers at once with
array arithmetic: the frame engines' choices (the NIC pairing, spraying, the seeded hash; see
:mod:`oisa.fabric.routes`) worked out from the counts, so a 100,000-card cluster never holds a
table of routes.

Sprayed traffic spreads evenly over all the up-links of a leaf (and of a pod, and down again), so
for it those links act as one: :class:`ClusterRoutes` loads an aggregate resource per group of
them (a leaf's up-links, the down-links into a leaf, a pod's links to the cores and back), which
keeps a transfer to a few resources whatever the number of spines. Hashed traffic keeps to one
link of the group, which it loads, and it counts against the group's aggregate as well; where
sprayed and hashed traffic cross the same group, the sprayed traffic may thus use the room the
hashed leaves on the other links, as adaptive routing would (an approximation the README states).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oisa.device.profile import DeviceProfile
from oisa.errors import UsageError
from oisa.fabric.routes import Framing, Hop, RouteBatch, Spread, link_framing
from oisa.fabric.spec import CardSpec, FabricSpec, LinkSpec, NicSpec, SwitchSpec

__all__ = [
    "SCALE_UP_KINDS",
    "ClusterLayout",
    "ClusterRoutes",
    "ClusterRouting",
    "ClusterTemplates",
    "build_cluster",
    "mix",
]

SCALE_UP_KINDS = ("switch", "mesh", "pcie")
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class ClusterLayout:
    """A cluster as counts. ``servers_per_domain`` servers share a scale-up fabric of
    ``scale_up`` kind (``planes`` switches for ``switch``); ``tiers`` is 0 (no scale-out: one
    domain), 2 or 3. A leaf serves one rail of ``servers_per_leaf`` servers with ``uplinks``
    links spread evenly over the ``spines`` of its pod; in three tiers a pod holds
    ``servers_per_pod`` servers and each spine has ``spine_uplinks`` links spread evenly over its
    group of ``cores / spines`` cores (spine j of every pod meets core group j)."""

    servers: int
    cards_per_server: int
    servers_per_domain: int
    scale_up: str
    planes: int
    tiers: int
    servers_per_leaf: int = 1
    uplinks: int = 0
    spines: int = 0
    servers_per_pod: int = 0
    spine_uplinks: int = 0
    cores: int = 0

    # -- counts -----------------------------------------------------------------------------------

    @property
    def cards(self) -> int:
        return self.servers * self.cards_per_server

    @property
    def rails(self) -> int:
        return self.cards_per_server

    @property
    def domains(self) -> int:
        return self.servers // self.servers_per_domain

    @property
    def domain_cards(self) -> int:
        return self.servers_per_domain * self.cards_per_server

    @property
    def scale_up_switches(self) -> int:
        """Switches of the scale-up fabric, over all domains."""
        return {"switch": self.planes, "mesh": 0, "pcie": 1}[self.scale_up] * self.domains

    @property
    def nics(self) -> int:
        return self.cards if self.tiers else 0

    @property
    def groups(self) -> int:
        """Server groups, each served by one leaf per rail."""
        return self.servers // self.servers_per_leaf if self.tiers else 0

    @property
    def leaves(self) -> int:
        return self.groups * self.rails

    @property
    def pods(self) -> int:
        if not self.tiers:
            return 0
        return self.servers // self.servers_per_pod if self.tiers == 3 else 1

    @property
    def groups_per_pod(self) -> int:
        return self.groups // self.pods if self.pods else 0

    @property
    def leaves_per_pod(self) -> int:
        return self.groups_per_pod * self.rails

    @property
    def spine_count(self) -> int:
        return self.spines * self.pods

    @property
    def cores_per_group(self) -> int:
        return self.cores // self.spines if self.tiers == 3 else 0

    @property
    def links_per_leaf_spine(self) -> int:
        return self.uplinks // self.spines if self.spines else 0

    @property
    def links_per_spine_core(self) -> int:
        return self.spine_uplinks // self.cores_per_group if self.cores_per_group else 0

    def link_counts(self) -> dict[str, int]:
        """Links per block, in the order the spec lists them."""
        per_domain = self.domain_cards * (self.domain_cards - 1) // 2
        scale_up = {"switch": self.cards * self.planes, "mesh": self.domains * per_domain,
                    "pcie": self.cards}[self.scale_up]
        return {"scale_up": scale_up, "nic": self.nics, "nic_leaf": self.nics, "leaf_spine": self.leaves * self.uplinks,
                "spine_core": self.spine_count * self.spine_uplinks if self.tiers == 3 else 0}

    def node_count(self) -> int:
        return self.cards + self.scale_up_switches + self.nics + self.leaves + self.spine_count + self.cores

    # -- where things start (node ids and link indices) ----------------------------------------------

    @property
    def first_switch(self) -> int:
        return self.cards

    @property
    def first_nic(self) -> int:
        return self.cards + self.scale_up_switches

    @property
    def first_leaf(self) -> int:
        return self.first_nic + self.nics

    @property
    def first_spine(self) -> int:
        return self.first_leaf + self.leaves

    @property
    def first_core(self) -> int:
        return self.first_spine + self.spine_count

    def block_starts(self) -> dict[str, int]:
        starts, at = {}, 0
        for name, count in self.link_counts().items():
            starts[name] = at
            at += count
        return starts

    def leaf_of(self, server: np.ndarray, rail: np.ndarray) -> np.ndarray:
        """The leaf index (0-based, among leaves) that serves ``rail`` of ``server``."""
        return (server // self.servers_per_leaf) * self.rails + rail


@dataclass(frozen=True)
class ClusterTemplates:
    """The figures of each kind of node and link, copied for every one of that kind."""

    scale_up_link: LinkSpec
    scale_up_switch: SwitchSpec | None
    nic: NicSpec | None = None
    pcie_link: LinkSpec | None = None
    nic_link: LinkSpec | None = None
    fabric_link: LinkSpec | None = None
    leaf: SwitchSpec | None = None
    spine: SwitchSpec | None = None
    core: SwitchSpec | None = None


def _linked(template: LinkSpec, a: int, b: int) -> LinkSpec:
    # a LinkSpec built field by field: a third of what dataclasses.replace costs, at a million links
    t = template
    return LinkSpec(a, b, t.kind, t.lanes, t.lane_rate, t.latency, None, None, t.encoding, t.flit_size, t.faults,
                    t.max_payload)


def _switch(template: SwitchSpec, node_id: int, name: str, server: int | None = None) -> SwitchSpec:
    t = template
    return SwitchSpec(node_id, name, t.kind, t.ports, t.latency, t.cut_through, t.reduction, server, t.reduction_rate,
                      t.reduction_buffer)


def build_cluster(layout: ClusterLayout, devices: list[DeviceProfile], templates: ClusterTemplates, name: str,
                  description: str) -> FabricSpec:
    """The spec of ``layout``: servers cycle through ``devices`` (one profile per server)."""
    per_server = layout.cards_per_server
    cards = [CardSpec(server * per_server + slot, f"s{server}.gpu{slot}", devices[server % len(devices)], server)
             for server in range(layout.servers) for slot in range(per_server)]
    switches: list[SwitchSpec] = []
    links: list[LinkSpec] = []
    domain_servers = layout.servers_per_domain
    if layout.scale_up == "switch":
        assert templates.scale_up_switch is not None
        for domain in range(layout.domains):
            server = domain if domain_servers == 1 else None
            prefix = f"s{domain}" if domain_servers == 1 else f"d{domain}"
            switches += [_switch(templates.scale_up_switch, layout.first_switch + domain * layout.planes + plane,
                                 f"{prefix}.sw{plane}", server) for plane in range(layout.planes)]
        for card in range(layout.cards):
            base = layout.first_switch + (card // layout.domain_cards) * layout.planes
            links += [_linked(templates.scale_up_link, card, base + plane) for plane in range(layout.planes)]
    elif layout.scale_up == "mesh":
        size = layout.domain_cards
        for domain in range(layout.domains):
            first = domain * size
            links += [_linked(templates.scale_up_link, first + a, first + b) for a in range(size)
                      for b in range(a + 1, size)]
    else:
        assert templates.scale_up_switch is not None
        switches += [_switch(templates.scale_up_switch, layout.first_switch + server, f"s{server}.pcie", server)
                     for server in range(layout.servers)]
        links += [_linked(templates.scale_up_link, card, layout.first_switch + card // per_server)
                  for card in range(layout.cards)]
    nics: list[NicSpec] = []
    if layout.tiers:
        assert templates.nic is not None and templates.nic_link is not None and templates.fabric_link is not None
        assert templates.pcie_link is not None and templates.leaf is not None and templates.spine is not None
        nic = templates.nic
        nics = [NicSpec(layout.first_nic + card.id, f"{card.name}.nic", nic.latency, nic.mtu, card.server, card.id)
                for card in cards]
        if layout.scale_up == "pcie":  # the NICs sit on their server's PCIe switch, beside the cards
            links += [_linked(templates.pcie_link, layout.first_nic + card, layout.first_switch + card // per_server)
                      for card in range(layout.cards)]
        else:  # each card reaches its own NIC directly
            links += [_linked(templates.pcie_link, card, layout.first_nic + card) for card in range(layout.cards)]
        server_of = np.arange(layout.cards) // per_server
        leaf_of = layout.leaf_of(server_of, np.arange(layout.cards) % per_server)
        links += [_linked(templates.nic_link, layout.first_nic + card, layout.first_leaf + int(leaf))
                  for card, leaf in enumerate(leaf_of.tolist())]
        switches += _clos_switches(layout, templates)
        links += _clos_links(layout, templates.fabric_link)
    routing = ClusterRouting(layout)
    return FabricSpec(name, description, tuple(cards), tuple(links), tuple(switches), tuple(nics), routing=routing)


def _clos_switches(layout: ClusterLayout, templates: ClusterTemplates) -> list[SwitchSpec]:
    assert templates.leaf is not None and templates.spine is not None
    out = [_switch(templates.leaf, layout.first_leaf + leaf, f"r{leaf % layout.rails}.leaf{leaf // layout.rails}")
           for leaf in range(layout.leaves)]
    out += [_switch(templates.spine, layout.first_spine + spine,
                    f"pod{spine // layout.spines}.spine{spine % layout.spines}" if layout.tiers == 3
                    else f"spine{spine}")
            for spine in range(layout.spine_count)]
    if layout.tiers == 3:
        assert templates.core is not None
        out += [_switch(templates.core, layout.first_core + core, f"core{core}") for core in range(layout.cores)]
    return out


def _clos_links(layout: ClusterLayout, template: LinkSpec) -> list[LinkSpec]:
    """Leaf up-links (up-link u of a leaf goes to spine u mod spines of its pod), then spine
    up-links (up-link v of spine j goes to core v mod cores-per-group of group j)."""
    links = []
    for leaf in range(layout.leaves):
        pod = (leaf // layout.rails) // layout.groups_per_pod
        first = layout.first_spine + pod * layout.spines
        links += [_linked(template, layout.first_leaf + leaf, first + u % layout.spines)
                  for u in range(layout.uplinks)]
    if layout.tiers == 3:
        per_group = layout.cores_per_group
        for spine in range(layout.spine_count):
            first = layout.first_core + (spine % layout.spines) * per_group
            links += [_linked(template, layout.first_spine + spine, first + v % per_group)
                      for v in range(layout.spine_uplinks)]
    return links


def mix(src: np.ndarray, dst: np.ndarray, seed: int) -> np.ndarray:
    """:func:`oisa.fabric.routing._mix` of (src, dst, traffic class 0, seed), for arrays: the
    same 64-bit arithmetic, wrapping as the original masks."""
    state = np.full(len(src), _GOLDEN, dtype=np.uint64)
    for value in (src.astype(np.uint64), dst.astype(np.uint64), np.zeros(len(src), np.uint64),
                  np.full(len(src), seed, dtype=np.uint64)):
        state ^= value + _GOLDEN + (state << np.uint64(6)) + (state >> np.uint64(2))
    return state


@dataclass(frozen=True)
class ClusterRouting:
    """The route factory a cluster spec carries: its layout, and how to make its provider."""

    layout: ClusterLayout

    def __call__(self, spec: FabricSpec) -> ClusterRoutes:
        return ClusterRoutes(spec, self.layout)


class ClusterRoutes:
    """Routes of a cluster from its layout, for many transfers at once (see the module)."""

    def __init__(self, spec: FabricSpec, layout: ClusterLayout) -> None:
        self.spec = spec
        self.layout = layout
        self.starts = layout.block_starts()
        counts = layout.link_counts()
        mtus = {spec.nics[0].id: spec.nics[0].mtu} if spec.nics else {}  # the first link of a block meets NIC 0
        framing_of: dict[Framing, int] = {}
        self._block_framing: dict[str, int] = {}
        self._block_link: dict[str, LinkSpec] = {}
        link_count = sum(counts.values())
        self.core_pods = layout.pods if layout.tiers == 3 else 0  # pods with aggregates towards the cores
        aggregates = 2 * layout.leaves + 2 * self.core_pods + (layout.groups if layout.scale_up == "pcie" else 0)
        self.capacity_bps = np.zeros(2 * link_count + aggregates, dtype=np.float64)
        self.framing = np.zeros(2 * link_count + aggregates, dtype=np.int32)
        for block, count in counts.items():
            if not count:
                continue
            link = spec.links[self.starts[block]]  # every link of a block is made from one template
            index = framing_of.setdefault(link_framing(spec, link, mtus), len(framing_of))
            lo, hi = 2 * self.starts[block], 2 * (self.starts[block] + count)
            self.framing[lo:hi] = index
            self.capacity_bps[lo:hi] = link.rate_bps
            self._block_framing[block] = index
            self._block_link[block] = link
        self.framings: list[Framing] = list(framing_of)
        self.first_aggregate = 2 * link_count
        if layout.tiers:
            rate = self._block_link["leaf_spine"].rate_bps
            base = self.first_aggregate
            self.capacity_bps[base:base + 2 * layout.leaves] = layout.uplinks * rate
            pods = base + 2 * layout.leaves
            self.capacity_bps[pods:pods + 2 * self.core_pods] = layout.spines * layout.spine_uplinks * rate
            self.capacity_bps[pods + 2 * self.core_pods:] = layout.rails * layout.uplinks * rate  # into a group, PCIe
            self.framing[base:] = self._block_framing["leaf_spine"]
        self.paths: list[tuple[Hop, ...]] = []
        self._path_ids: dict[str, int] = {}

    # -- what the engine asks ------------------------------------------------------------------------

    def resource_name(self, resource: int) -> str:
        layout = self.layout
        if resource >= self.first_aggregate:
            index = resource - self.first_aggregate
            if index < 2 * layout.leaves:
                leaf = self._node_name(layout.first_leaf + index // 2)
                return f"{'up-links of' if index % 2 == 0 else 'down-links into'} {leaf}"
            index -= 2 * layout.leaves
            if index >= 2 * self.core_pods:
                return f"down-links into the leaves of server group {index - 2 * self.core_pods}"
            return f"links from pod{index // 2} to the cores" if index % 2 == 0 else \
                f"links from the cores into pod{index // 2}"
        link = self.spec.links[resource // 2]
        a, b = (link.a, link.b) if resource % 2 == 0 else (link.b, link.a)
        return f"{self._node_name(a)}->{self._node_name(b)}"

    def _node_name(self, node: int) -> str:
        layout = self.layout
        if node < layout.cards:
            return self.spec.cards[node].name
        if layout.first_nic <= node < layout.first_leaf:
            return self.spec.nics[node - layout.first_nic].name
        return self._switch_at(node).name

    def _switch_at(self, node: int) -> SwitchSpec:
        layout = self.layout
        offset = node - layout.first_switch if node < layout.first_nic else node - layout.first_switch - layout.nics
        return self.spec.switches[offset]

    def routes(self, src: np.ndarray, dst: np.ndarray, spread: Spread | np.ndarray, pinned: int | np.ndarray,
               seed: int) -> RouteBatch:
        layout = self.layout
        src = np.asarray(src, dtype=np.int64)
        dst = np.broadcast_to(np.asarray(dst, dtype=np.int64), len(src))
        count = len(src)
        spread = np.broadcast_to(np.asarray(spread, dtype=np.int64), count)
        pinned = np.broadcast_to(np.asarray(pinned, dtype=np.int64), count)
        hashed = mix(src, dst, seed)
        parts = _Parts()
        path = np.zeros(count, dtype=np.int64)
        switched = self._to_switches(src, dst, parts, path)  # in-switch reductions' contributions and results
        for ends in (src[~switched], dst[~switched]):
            outside = np.flatnonzero((ends < 0) | (ends >= layout.cards))
            if len(outside):
                raise UsageError(f"fabric {self.spec.name} has cards 0 to {layout.cards - 1} (and its scale-up "
                                 f"switches): no route to or from node {int(ends[outside[0]])}", parameter="flows")
        domain_s, domain_d = src // layout.domain_cards, dst // layout.domain_cards
        inside = np.flatnonzero((domain_s == domain_d) & ~switched)
        if len(inside):
            self._scale_up(inside, src[inside], dst[inside], spread[inside], pinned[inside], hashed[inside], parts,
                           path)
        across = np.flatnonzero((domain_s != domain_d) & ~switched)
        if len(across):
            self._scale_out(across, src[across], dst[across], spread[across], hashed[across], parts, path)
        return parts.batch(path)

    def _to_switches(self, src: np.ndarray, dst: np.ndarray, parts: _Parts, path: np.ndarray) -> np.ndarray:
        """Routes between a card and a switch plane of its own domain (one link either way);
        which transfers are such."""
        layout = self.layout
        low, high = layout.first_switch, layout.first_switch + layout.scale_up_switches
        up, down = (dst >= low) & (dst < high), (src >= low) & (src < high)
        if layout.scale_up != "switch" or not (up.any() or down.any()):
            return np.zeros(len(src), dtype=bool)
        start = self.starts["scale_up"]
        for rows, card, switch, direction, hop in ((np.flatnonzero(up), src, dst, 0, "scale_up"),
                                                   (np.flatnonzero(down), dst, src, 1, "card")):
            if not len(rows):
                continue
            plane = (switch[rows] - low) % layout.planes
            stranger = np.flatnonzero((switch[rows] - low) // layout.planes != card[rows] // layout.domain_cards)
            if len(stranger):
                first = rows[stranger[0]]
                raise UsageError(f"card {int(card[first])} is not on switch {int(switch[first])} of fabric "
                                 f"{self.spec.name}", parameter="flows")
            parts.add(rows, [(2 * (start + card[rows] * layout.planes + plane) + direction)[:, None]], 1.0)
            path[rows] = self._path(f"switch-{hop}", ("scale_up", hop))
        return up | down

    # -- inside a domain ----------------------------------------------------------------------------------

    def _scale_up(self, index: np.ndarray, src: np.ndarray, dst: np.ndarray, spread: np.ndarray, pinned: np.ndarray,
                  hashed: np.ndarray, parts: _Parts, path: np.ndarray) -> None:
        layout, start = self.layout, self.starts["scale_up"]
        if layout.scale_up == "switch":
            planes = layout.planes
            single = (pinned >= 0) | (spread == Spread.HASH)
            choice = np.where(pinned >= 0, pinned % planes, (hashed % np.uint64(planes)).astype(np.int64))
            for rows, plane, share in ((np.flatnonzero(single), choice[single][:, None], 1.0),
                                       (np.flatnonzero(~single), np.arange(planes)[None, :], 1.0 / planes)):
                if len(rows):
                    up = 2 * (start + src[rows][:, None] * planes + plane)
                    down = 2 * (start + dst[rows][:, None] * planes + plane) + 1
                    parts.add(index[rows], [*np.broadcast_arrays(up, down)], share)
            path[index] = self._path("switch", ("scale_up", "scale_up"), ("scale_up", "card"))
        elif layout.scale_up == "mesh":
            size = layout.domain_cards
            first = (src // size) * size
            low, high = np.minimum(src, dst) - first, np.maximum(src, dst) - first
            pair = low * size - low * (low + 1) // 2 + (high - low - 1)
            link = start + (src // size) * (size * (size - 1) // 2) + pair
            parts.add(index, [(2 * link + (src > dst))[:, None]], 1.0)
            path[index] = self._path("mesh", ("scale_up", "card"))
        else:
            parts.add(index, [(2 * (start + src))[:, None], (2 * (start + dst) + 1)[:, None]], 1.0)
            path[index] = self._path("pcie", ("scale_up", "scale_up"), ("scale_up", "card"))

    # -- across domains ---------------------------------------------------------------------------------

    def _scale_out(self, index: np.ndarray, src: np.ndarray, dst: np.ndarray, spread: np.ndarray,
                   hashed: np.ndarray, parts: _Parts, path: np.ndarray) -> None:
        layout, starts = self.layout, self.starts
        per_server = layout.cards_per_server
        rail_s = src % per_server
        server_s, server_d = src // per_server, dst // per_server
        pcie = layout.scale_up == "pcie"
        leaf_s = layout.leaf_of(server_s, rail_s)
        if pcie:
            # a PCIe server's NICs all sit on its PCIe switch, so traffic may enter the destination
            # server through any of them: on the source's rail where that leaf reaches it
            # directly, else on whichever rail the spines lead to (see _clos)
            group_s, group_d = server_s // layout.servers_per_leaf, server_d // layout.servers_per_leaf
            leaf_d = np.where(group_s == group_d, leaf_s, group_d * layout.rails)
            nic_d = server_d * per_server + rail_s
            ends = [2 * (starts["scale_up"] + src), 2 * (starts["nic"] + src) + 1, 2 * (starts["nic_leaf"] + src),
                    2 * (starts["scale_up"] + dst) + 1]
            near = np.flatnonzero(group_s == group_d)
            parts.add(index[near], [(2 * (starts["nic_leaf"] + nic_d[near]) + 1)[:, None],
                                    (2 * (starts["nic"] + nic_d[near]))[:, None]], 1.0)
        else:
            leaf_d = layout.leaf_of(server_d, dst % per_server)
            ends = [2 * (starts["nic"] + src), 2 * (starts["nic_leaf"] + src), 2 * (starts["nic_leaf"] + dst) + 1,
                    2 * (starts["nic"] + dst) + 1]
        parts.add(index, [column[:, None] for column in ends], 1.0)
        pod_s = (leaf_s // layout.rails) // layout.groups_per_pod
        pod_d = (leaf_d // layout.rails) // layout.groups_per_pod
        same_leaf, same_pod = leaf_s == leaf_d, pod_s == pod_d
        for rows, between in ((np.flatnonzero(same_leaf), 0), (np.flatnonzero(~same_leaf & same_pod), 2),
                              (np.flatnonzero(~same_pod), 4)):
            if not len(rows):
                continue
            path[index[rows]] = self._scale_out_path(pcie, between)
            if between:
                pods = (pod_s[rows], pod_d[rows]) if between == 4 else None
                self._clos(index[rows], leaf_s[rows], leaf_d[rows], server_d[rows], pods, spread[rows], hashed[rows],
                           parts)

    def _clos(self, index: np.ndarray, leaf_s: np.ndarray, leaf_d: np.ndarray, server_d: np.ndarray,
              pods: tuple[np.ndarray, np.ndarray] | None, spread: np.ndarray, hashed: np.ndarray,
              parts: _Parts) -> None:
        """Up from ``leaf_s`` and down to ``leaf_d``, through the cores when ``pods`` are given.
        In PCIe servers ``leaf_d`` is the destination group's first leaf, and the way down may
        take any rail's leaf of that group into the destination server."""
        layout, first = self.layout, self.first_aggregate
        rails = layout.rails
        pcie = layout.scale_up == "pcie"
        group_d = leaf_d // rails
        down_into = first + 2 * layout.leaves + 2 * self.core_pods + group_d if pcie else first + 2 * leaf_d + 1
        aggregates = [first + 2 * leaf_s, down_into]  # every transfer counts against its groups of links
        if pods is not None:
            base = first + 2 * layout.leaves
            aggregates += [base + 2 * pods[0], base + 2 * pods[1] + 1]
        parts.add(index, [column[:, None] for column in aggregates], 1.0)
        sprayed = spread == Spread.SPRAY  # beyond its source only a sprayed message spreads
        if pcie and sprayed.any():
            rows = np.flatnonzero(sprayed)
            nic = server_d[rows][:, None] * rails + np.arange(rails)[None, :]
            parts.add(index[rows], [2 * (self.starts["nic_leaf"] + nic) + 1, 2 * (self.starts["nic"] + nic)],
                      1.0 / rails)
        rows = np.flatnonzero(~sprayed)
        if not len(rows):
            return
        h = hashed[rows]
        uplinks, spines = layout.uplinks, layout.spines
        start = self.starts["leaf_spine"]
        u = (h % np.uint64(uplinks)).astype(np.int64)  # up-link u of a leaf goes to spine u mod spines
        spine_local = u % spines
        links = [2 * (start + leaf_s[rows] * uplinks + u)]
        if pods is not None:
            core_start, per_group = self.starts["spine_core"], layout.cores_per_group
            spine_uplinks = layout.spine_uplinks
            v = (h % np.uint64(spine_uplinks)).astype(np.int64)  # up-link v of a spine goes to core v mod per_group
            links.append(2 * (core_start + (pods[0][rows] * spines + spine_local) * spine_uplinks + v))
            back = (h % np.uint64(layout.links_per_spine_core)).astype(np.int64)  # among that core's links to the pod
            links.append(2 * (core_start + (pods[1][rows] * spines + spine_local) * spine_uplinks + v % per_group
                              + back * per_group) + 1)
        per_leaf = layout.links_per_leaf_spine  # the spine's links to one leaf
        target = leaf_d[rows]
        if pcie:  # the spine picks among its links to every rail's leaf of the group, leaf by leaf
            choice = (h % np.uint64(rails * per_leaf)).astype(np.int64)
            target = group_d[rows] * rails + choice // per_leaf
            down = choice % per_leaf
            nic = server_d[rows] * rails + choice // per_leaf
        else:
            down = (h % np.uint64(per_leaf)).astype(np.int64)
        links.append(2 * (start + target * uplinks + spine_local + down * spines) + 1)
        if pcie:
            links += [2 * (self.starts["nic_leaf"] + nic) + 1, 2 * (self.starts["nic"] + nic)]
        parts.add(index[rows], [column[:, None] for column in links], 1.0)

    # -- latency paths --------------------------------------------------------------------------------

    def _path(self, key: str, *hops: tuple[str, str]) -> int:
        """The path ``key``, made of ``(block, what the link leads to)`` hops, interned."""
        found = self._path_ids.get(key)
        if found is None:
            made = tuple(self._hop(block, to) for block, to in hops)
            found = self._path_ids[key] = len(self.paths)
            self.paths.append(made)
        return found

    def _scale_out_path(self, pcie: bool, between: int) -> int:
        clos = {0: [], 2: [("leaf_spine", "spine"), ("leaf_spine", "leaf")],
                4: [("leaf_spine", "spine"), ("spine_core", "core"), ("spine_core", "spine"), ("leaf_spine", "leaf")]}
        up = [("scale_up", "scale_up"), ("nic", "nic")] if pcie else [("nic", "nic")]
        down = [("nic", "scale_up"), ("scale_up", "card")] if pcie else [("nic", "card")]
        return self._path(f"out-{between}", *up, ("nic_leaf", "leaf"), *clos[between], ("nic_leaf", "nic"), *down)

    def _hop(self, block: str, to: str) -> Hop:
        layout = self.layout
        link = self._block_link[block]
        node: tuple[int, bool, bool]
        if to == "card":
            node = (0, False, False)
        elif to == "nic":
            node = (int(self.spec.nics[0].latency.value), True, False)
        else:
            first = {"scale_up": layout.first_switch, "leaf": layout.first_leaf, "spine": layout.first_spine,
                     "core": layout.first_core}[to]
            switch = self._switch_at(first)
            node = (int(switch.latency.value), True, switch.cut_through)
        return Hop(self._block_framing[block], link.rate_bps, link.latency_ps, *node)


class _Parts:
    """Route entries gathered block by block: each ``add`` gives, for transfers ``index``,
    columns of resources (each an array of one or more columns) that all carry ``share``."""

    def __init__(self) -> None:
        self.flows: list[np.ndarray] = []
        self.resources: list[np.ndarray] = []
        self.shares: list[np.ndarray] = []

    def add(self, index: np.ndarray, columns: list[np.ndarray], share: float) -> None:
        block = np.concatenate([np.broadcast_to(c, (len(index), c.shape[1])) for c in columns], axis=1)
        self.flows.append(np.repeat(index, block.shape[1]))
        self.resources.append(block.ravel())
        self.shares.append(np.full(block.size, share))

    def batch(self, path: np.ndarray) -> RouteBatch:
        if not self.flows:
            return RouteBatch(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), path)
        flow = np.concatenate(self.flows)
        order = np.argsort(flow, kind="stable")
        return RouteBatch(flow[order], np.concatenate(self.resources)[order].astype(np.int64),
                          np.concatenate(self.shares)[order], path)
