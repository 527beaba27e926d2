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
"""

from __future__ import annotations

from dataclasses import replace

from oisa.config import Table
from oisa.fabric.loader import Profiles, read_faults, read_link, read_nic, read_switch
from oisa.fabric.spec import CardSpec, FabricSpec, LinkSpec, SwitchSpec

__all__ = ["mesh", "supernode", "switched"]


def _count(table: Table, key: str, low: int, high: int) -> int:
    value = table.get(key, int)
    if not low <= value <= high:
        raise table.error(f"{value} is not {low} to {high}", key)
    return value


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
    links, switches = [], []
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

