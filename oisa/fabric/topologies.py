"""Topology builders: fabrics too regular to list node by node.

Each builder reads the ``[parameters]`` of a fabric file and returns a :class:`FabricSpec`.
They register under the ``oisa.fabrics`` entry-point group (see ``pyproject.toml``), the same
way a plug-in's builder would.

* ``supernode``: servers of cards, every card linked to each of ``planes`` OISA switch chips
  (one switch tier: any two cards are one switch hop apart, over every plane at once), as in
  OISA Gen1's 128 cards through 8 switch chips. Optional memory pools (CXL.mem devices) hang
  off the planes too.
* ``switched``: the conventional deployment of the same cards: in each server a PCIe switch
  joins the cards, one RDMA NIC per card and, optionally, the server's host (its CPU and
  memory, where cards spill what does not fit), or, with ``pcie = "card"``, a PCIe switch for
  each card and its NIC (as HGX and MI300X boards pair them); the NICs meet at an Ethernet switch,
  or, with ``rails``, at one Ethernet switch per rail (NIC k of every server on leaf k). Optionally the
  cards of a server also have a scale-up fabric of their own (``scaleup``): a link between every
  two of them (``mesh``, AMD's xGMI) or a link to each of a few switches (``switch``, NVSwitch).
* ``mesh``: cards linked directly, each to every other (AMD's 8-GPU platform shape).
* ``cluster``: thousands to a hundred thousand cards: scale-up domains (a server with an
  NVSwitch-like switch, an xGMI-like mesh or a PCIe switch; or an OISA supernode of many servers
  on switch planes), each card with its own RDMA NIC on a rail-optimised Clos of two or three
  tiers (:mod:`oisa.fabric.clos`, which also routes it from its structure). Its size is known
  from its parameters before anything is made (:func:`cluster_size`), so the loader can refuse a
  cluster too large for the memory there is.
"""

from __future__ import annotations

from dataclasses import replace

from oisa.config import Table
from oisa.fabric.clos import SCALE_UP_KINDS, ClusterLayout, ClusterTemplates, build_cluster
from oisa.fabric.loader import FabricSize, Profiles, read_faults, read_link, read_nic, read_switch
from oisa.fabric.spec import CardSpec, FabricSpec, LinkSpec, SwitchSpec

__all__ = ["cluster", "cluster_layout", "cluster_size", "mesh", "supernode", "switched"]

_MAX_CLUSTER_SERVERS = 1_000_000  # beyond any cluster built today; memory is the real bound (the loader checks it)


def _count(table: Table, key: str, low: int, high: int) -> int:
    value = table.get(key, int)
    if not low <= value <= high:
        raise table.error(f"{value} is not {low} to {high}", key)
    return value


def _design_count(table: Table, key: str, low: int, high: int) -> int:
    """A count of a design (switches, up-links): a plain integer, or a figure with its source
    or assumption, as a catalog file gives it."""
    if not isinstance(table.data.get(key), dict):
        return _count(table, key, low, high)

    def whole(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}, got {value!r}")
        return value

    return int(table.figure(key, whole).value)


def _names(table: Table, key: str) -> list[str]:
    names = table.get(key, list)
    if not names or not all(isinstance(n, str) for n in names):
        raise table.error("expected a non-empty list of device names", key)
    return names


def _template(params: Table, key: str) -> LinkSpec:
    """The figures of one kind of link, read once and copied for every link of that kind."""
    return read_link(params.table(key), -1, -1, faults=read_faults(params.table("faults", optional=True)))


def _servers(params: Table, profiles: Profiles) -> list[CardSpec]:
    servers = _count(params, "servers", 1, 512)
    per_server = _count(params, "cards_per_server", 1, 64)
    devices = _names(params, "devices")
    cards = []
    for server in range(servers):
        device = profiles.get(params, "devices", devices[server % len(devices)])
        for slot in range(per_server):
            card_id = server * per_server + slot
            cards.append(CardSpec(card_id, f"s{server}.gpu{slot}", device, server))
    return cards


def supernode(params: Table, profiles: Profiles, name: str, description: str) -> FabricSpec:
    cards = _servers(params, profiles)
    pools = [profiles.get(params, "memory_pools", pool) for pool in params.get("memory_pools", list, [])]
    planes = _count(params, "planes", 1, 16)
    link = _template(params, "link")
    cards += [CardSpec(len(cards) + i, f"pool{i}", device) for i, device in enumerate(pools)]
    switch_table = params.table("switch")
    first_switch = len(cards)
    switches = [read_switch(switch_table, first_switch, name="plane0")]
    switches += [replace(switches[0], id=first_switch + p, name=f"plane{p}") for p in range(1, planes)]
    links = []
    for card in cards:
        reach = range(planes) if card.server is not None else range(1)  # a pool hangs off plane 0
        for plane in reach:
            links.append(replace(link, a=card.id, b=first_switch + plane, a_port=plane, b_port=card.id))
    return FabricSpec(name, description, tuple(cards), tuple(links), tuple(switches))


def switched(params: Table, profiles: Profiles, name: str, description: str) -> FabricSpec:
    cards = _servers(params, profiles)
    servers = sorted({c.server for c in cards if c.server is not None})
    host_device = params.get("host", str, None)
    if host_device is not None:
        device = profiles.get(params, "host", host_device)
        cards += [CardSpec(len(cards) + i, f"s{server}.host", device, server) for i, server in enumerate(servers)]
    pcie_link, ethernet_link = _template(params, "pcie_link"), _template(params, "ethernet_link")
    first = len(cards)
    pcie = read_switch(params.table("pcie_switch"), first)
    per_card = params.get("pcie", str, "server")
    if per_card not in ("server", "card"):
        raise params.error(f"{per_card!r} is not server or card", "pcie")
    if per_card == "card" and host_device is not None:
        raise params.error("a host needs one PCIe switch per server (pcie = \"server\")", "pcie")
    owners = [(c.server, c) for c in cards if c.device.role != "host"] if per_card == "card" else \
        [(server, None) for server in servers]
    pcie_switches = [replace(pcie, id=first + i, name=f"{card.name}.pcie" if card else f"s{server}.pcie",
                             server=server) for i, (server, card) in enumerate(owners)]
    first += len(pcie_switches)
    nic = read_nic(params.table("nic"), first)
    gpus = [card for card in cards if card.device.role != "host"]
    nics = [replace(nic, id=first + i, name=f"{card.name}.nic", server=card.server, card=card.id)
            for i, card in enumerate(gpus)]
    per_server = len(gpus) // len(servers)
    leaf = read_switch(params.table("ethernet_switch"), first + len(nics), name="leaf")
    rails = params.get("rails", bool, False)
    leaves = [replace(leaf, id=leaf.id + k, name=f"rail{k}") for k in range(per_server)] if rails else [leaf]
    by_server = {switch.server: switch for switch in pcie_switches}
    links = [replace(pcie_link, a=card.id, b=by_server[card.server].id) for card in cards if card.device.role == "host"]
    for index, (card, card_nic) in enumerate(zip(gpus, nics)):
        switch = pcie_switches[index] if per_card == "card" else by_server[card.server]
        links.append(replace(pcie_link, a=card.id, b=switch.id))
        links.append(replace(pcie_link, a=card_nic.id, b=switch.id))
        links.append(replace(ethernet_link, a=card_nic.id, b=leaves[index % per_server if rails else 0].id))
    scaleup_links, scaleup_switches = _scaleup(params, gpus, servers, leaves[-1].id + 1)
    return FabricSpec(name, description, tuple(cards), (*links, *scaleup_links),
                      (*pcie_switches, *leaves, *scaleup_switches), tuple(nics))


def _scaleup(params: Table, gpus: list[CardSpec], servers: list[int],
             first_id: int) -> tuple[list[LinkSpec], list[SwitchSpec]]:
    """The links (and switches) of each server's own scale-up fabric, if it has one."""
    kind = params.get("scaleup", str, "none")
    if kind == "none":
        return [], []
    if kind not in ("mesh", "switch"):
        raise params.error(f"{kind!r} is not none, mesh or switch", "scaleup")
    link = _template(params, "scaleup_link")
    links: list[LinkSpec] = []
    switches: list[SwitchSpec] = []
    for server in servers:
        members = [card for card in gpus if card.server == server]
        if kind == "mesh":
            links += [replace(link, a=a.id, b=b.id) for i, a in enumerate(members) for b in members[i + 1:]]
            continue
        planes = _count(params, "scaleup_planes", 1, 16)
        base = read_switch(params.table("scaleup_switch"), first_id + len(switches))
        for plane in range(planes):
            switch = replace(base, id=first_id + len(switches), name=f"s{server}.plane{plane}", server=server)
            switches.append(switch)
            links += [replace(link, a=card.id, b=switch.id) for card in members]
    return links, switches


def mesh(params: Table, profiles: Profiles, name: str, description: str) -> FabricSpec:
    count = _count(params, "cards", 2, 64)
    device = profiles.get(params, "device", params.get("device", str))
    link = _template(params, "link")
    cards = [CardSpec(i, f"gpu{i}", device, 0) for i in range(count)]
    links = [replace(link, a=a, b=b) for a in range(count) for b in range(a + 1, count)]
    return FabricSpec(name, description, tuple(cards), tuple(links))



def cluster(params: Table, profiles: Profiles, name: str, description: str) -> FabricSpec:
    scale_up = params.table("scale_up")
    out = params.table("scale_out", optional=True)
    layout = cluster_layout(params, scale_up, out)
    devices = [profiles.get(params, "devices", device) for device in _names(params, "devices")]
    faults = read_faults(params.table("faults", optional=True))
    templates = ClusterTemplates(
        scale_up_link=read_link(scale_up.table("link"), -1, -1, faults=faults),
        scale_up_switch=read_switch(scale_up.table("switch"), -1) if layout.scale_up != "mesh" else None)
    scale_up.finish()
    if layout.tiers:
        templates = replace(
            templates, nic=read_nic(out.table("nic"), -1),
            pcie_link=read_link(out.table("pcie_link"), -1, -1, faults=faults),
            nic_link=read_link(out.table("nic_link"), -1, -1, faults=faults),
            fabric_link=read_link(out.table("fabric_link"), -1, -1, faults=faults),
            leaf=read_switch(out.table("leaf"), -1), spine=read_switch(out.table("spine"), -1),
            core=read_switch(out.table("core"), -1) if layout.tiers == 3 else None)
        _check_radix(out, layout, templates)
    out.finish()
    if templates.scale_up_switch is not None:
        _check_scale_up_radix(scale_up, layout, templates.scale_up_switch)
    return build_cluster(layout, devices, templates, name, description)


def cluster_size(params: Table) -> FabricSize:
    """Nodes and links of the cluster ``params`` describe, before any is made."""
    layout = cluster_layout(params, params.table("scale_up"), params.table("scale_out", optional=True))
    return FabricSize(layout.node_count(), sum(layout.link_counts().values()))


cluster.size = cluster_size  # type: ignore[attr-defined]  # the loader reads a builder's size this way


def cluster_layout(params: Table, scale_up: Table, out: Table) -> ClusterLayout:
    """The counts of a cluster (from its parameters and their ``scale_up`` and ``scale_out``
    tables), checked: every division exact, every tier there or not as said."""
    servers = _count(params, "servers", 1, _MAX_CLUSTER_SERVERS)
    per_server = _count(params, "cards_per_server", 1, 64)
    per_domain = _design_count(params, "servers_per_domain", 1, servers)
    _divides(params, "servers_per_domain", per_domain, servers, "servers")
    kind = scale_up.get("kind", str)
    if kind not in SCALE_UP_KINDS:
        raise scale_up.error(f"{kind!r} is not one of {', '.join(SCALE_UP_KINDS)}", "kind")
    planes = _design_count(scale_up, "switches", 1, 64) if kind == "switch" else 0
    if kind == "pcie" and per_domain != 1:
        raise params.error("a PCIe switch joins the cards of one server: servers_per_domain must be 1",
                           "servers_per_domain")
    layout = ClusterLayout(servers, per_server, per_domain, kind, planes, tiers=0)
    if not out.data:
        if layout.domains > 1:
            raise params.error(f"{layout.domains} scale-up domains need a scale-out network to join them",
                               "scale_out")
        return layout
    tiers = _count(out, "tiers", 2, 3)
    per_leaf = _design_count(out, "servers_per_leaf", 1, servers)
    _divides(out, "servers_per_leaf", per_leaf, servers, "servers")
    uplinks = _design_count(out, "uplinks", 1, 4096)
    spines = _design_count(out, "spines", 1, 4096)
    _divides(out, "spines", spines, uplinks, "uplinks")
    layout = replace(layout, tiers=tiers, servers_per_leaf=per_leaf, uplinks=uplinks, spines=spines)
    if tiers == 3:
        per_pod = _design_count(out, "servers_per_pod", per_leaf, servers)
        _divides(out, "servers_per_leaf", per_leaf, per_pod, "servers_per_pod")
        _divides(out, "servers_per_pod", per_pod, servers, "servers")
        spine_uplinks = _design_count(out, "spine_uplinks", 1, 4096)
        cores = _design_count(out, "cores", spines, 1 << 20)
        _divides(out, "spines", spines, cores, "cores")
        _divides(out, "cores", cores // spines, spine_uplinks, "spine_uplinks", what="cores per spine group")
        layout = replace(layout, servers_per_pod=per_pod, spine_uplinks=spine_uplinks, cores=cores)
    return layout


def _divides(table: Table, key: str, part: int, whole: int, whole_key: str, what: str | None = None) -> None:
    if whole % part:
        raise table.error(f"{what or key} ({part}) must divide {whole_key} ({whole})", key)


def _check_scale_up_radix(table: Table, layout: ClusterLayout, switch: SwitchSpec) -> None:
    """A scale-up switch has a port for every card of its domain (and NIC, in a PCIe server)."""
    needed = layout.domain_cards * (2 if layout.scale_up == "pcie" and layout.tiers else 1)
    if switch.ports < needed:
        first = "s0.pcie" if layout.scale_up == "pcie" else ("s0.sw0" if layout.servers_per_domain == 1 else "d0.sw0")
        what = f"{layout.domain_cards} cards" + (f" and {layout.domain_cards} NICs" if needed > layout.domain_cards
                                                  else "")
        raise table.error(f"switch {first} needs {needed} ports for the {what} of its domain; it has {switch.ports}",
                          "switch.ports")


def _check_radix(table: Table, layout: ClusterLayout, templates: ClusterTemplates) -> None:
    """Every Clos switch has the ports its place in the layout takes, or the cluster is refused
    naming the first switch short of them and the count."""
    assert templates.leaf is not None and templates.spine is not None
    needs = [("leaf", "r0.leaf0", templates.leaf.ports, layout.servers_per_leaf + layout.uplinks,
              f"{layout.servers_per_leaf} NICs and {layout.uplinks} up-links")]
    spine_name = "pod0.spine0" if layout.tiers == 3 else "spine0"
    down = layout.leaves_per_pod * layout.links_per_leaf_spine
    up = layout.spine_uplinks if layout.tiers == 3 else 0
    needs.append(("spine", spine_name, templates.spine.ports, down + up,
                  f"{down} links down to {layout.leaves_per_pod} leaves"
                  + (f" and {up} up to the cores" if up else "")))
    if layout.tiers == 3:
        assert templates.core is not None
        down = layout.pods * layout.links_per_spine_core
        needs.append(("core", "core0", templates.core.ports, down, f"{down} links down to {layout.pods} pods"))
    for key, switch, ports, needed, what in needs:
        if ports < needed:
            raise table.error(f"switch {switch} needs {needed} ports ({what}); it has {ports}", f"{key}.ports")
