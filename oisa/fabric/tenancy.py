"""Tenancies: which tenant owns which cards of a fabric, what memory each may touch, who reaches whom.

A tenancy is its own TOML file, given beside the fabric (``oisa run FABRIC --tenants FILE``),
not a section of the fabric file: the fabric is the hardware, which an operator keeps for
years, whereas a tenancy is a lease that changes with every job placed on it, and one fabric
file (the catalog's ``supernode-64`` included) serves many tenancies. The split is the one real
systems make: NVIDIA's fabric manager reads its partitions from its own configuration, apart
from the topology it discovers (Fabric Manager for NVIDIA NVSwitch Systems, DU-09883-001,
ch. 4). A tenancy file says::

    [tenants.alpha]
    cards = [0, 1]

    [[windows]]                 # a grant: alpha may read and write 1 MiB of card 1 from 0
    tenant = "alpha"
    card = 1
    base = 0                    # bytes; "0x10_0000" and "4MiB" are read too
    size = "1MiB"
    access = "rw"               # "r", "w" or "rw"

    [[partitions]]              # optional: which cards may reach each other;
    cards = [0, 1]              # without any, each tenant's cards form one partition

Everything is checked against the fabric before anything runs, and a wrong entry is one line
naming it (``windows[2]``): an unknown card or tenant, a card owned twice or in two partitions,
a window outside its card's memory, and overlapping windows that conflict (two tenants'
windows overlap and one of them writes, or one tenant's overlap with different access).
:meth:`Tenancy.policy` is what the enforcement points use (:mod:`oisa.device.isolation`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oisa.config import Table, load_toml
from oisa.device.isolation import Policy, Window
from oisa.errors import ConfigError, UnitError
from oisa.fabric.spec import FabricSpec
from oisa.units import parse_size

__all__ = ["Partition", "Tenancy", "load_tenancy", "tenancy"]

_ACCESS = {"r": (True, False), "w": (False, True), "rw": (True, True)}


@dataclass(frozen=True)
class Partition:
    """Cards that may reach each other (and no card outside)."""

    name: str
    cards: tuple[int, ...]


@dataclass(frozen=True)
class Tenancy:
    """A checked tenancy of one fabric: tenants' cards, their windows, the partitions."""

    tenants: Mapping[str, tuple[int, ...]]
    windows: tuple[Window, ...]
    partitions: tuple[Partition, ...]
    source: str = "<tenancy>"

    def policy(self) -> Policy:
        tenant_of = {card: name for name, cards in self.tenants.items() for card in cards}
        partition_of = {card: index for index, partition in enumerate(self.partitions) for card in partition.cards}
        return Policy(tenant_of, partition_of, self.windows)

    def cards_of(self, tenant: str) -> tuple[int, ...]:
        return self.tenants[tenant]


def load_tenancy(path: str | Path, spec: FabricSpec) -> Tenancy:
    """Read the tenancy file at ``path`` and check it against ``spec``."""
    doc = load_toml(Path(path))
    tenants_table = doc.table("tenants")
    tenants: dict[str, tuple[int, ...]] = {}
    for name in list(tenants_table.data):
        entry = tenants_table.table(name)
        tenants[name] = _cards(entry, "cards")
        entry.finish()
    tenants_table.finish()
    windows = []
    for entry in doc.tables("windows", optional=True):
        tenant = entry.get("tenant", str)
        card = entry.get("card", int)
        base = entry.parsed("base", _address)
        size = entry.parsed("size", lambda value: parse_size(value, "size"))
        access = entry.get("access", str, "rw")
        if access not in _ACCESS:
            raise entry.error(f"access is one of {', '.join(_ACCESS)}, not {access!r}", "access")
        windows.append(Window(tenant, card, base, size, *_ACCESS[access]))
        entry.finish()
    partitions = []
    for index, entry in enumerate(doc.tables("partitions", optional=True)):
        partitions.append(Partition(entry.get("name", str, f"partition{index}"), _cards(entry, "cards")))
        entry.finish()
    doc.finish()
    return tenancy(spec, tenants, windows, partitions or None, source=str(path))


def tenancy(spec: FabricSpec, tenants: Mapping[str, Sequence[int]], windows: Sequence[Window],
            partitions: Sequence[Partition] | None = None, *, source: str = "<tenancy>") -> Tenancy:
    """A tenancy of ``spec`` from Python, checked as a file's is (errors name the entry, with
    ``source`` as the file). ``partitions`` None: each tenant's cards form one."""
    capacity = {card.id: card.device.capacity for card in spec.cards}
    owner: dict[int, str] = {}
    for name, cards in tenants.items():
        where = f"tenants.{name}.cards"
        if not cards:
            raise ConfigError("a tenant has at least one card", source=source, key=where)
        for card in cards:
            if card not in capacity:
                raise ConfigError(f"card {card} is not a card of fabric {spec.name}", source=source, key=where)
            if card in owner:
                raise ConfigError(f"card {card} already belongs to tenant {owner[card]!r}", source=source, key=where)
            owner[card] = name
    for index, window in enumerate(windows):
        _check_window(window, f"windows[{index}]", tenants, capacity, spec, source)
    _check_overlaps(windows, source)
    if partitions is None:
        partitions = [Partition(name, tuple(cards)) for name, cards in tenants.items()]
    placed: dict[int, str] = {}
    for index, partition in enumerate(partitions):
        where = f"partitions[{index}].cards"
        for card in partition.cards:
            if card not in capacity:
                raise ConfigError(f"card {card} is not a card of fabric {spec.name}", source=source, key=where)
            if card in placed:
                raise ConfigError(f"card {card} is already in partition {placed[card]!r}: a card is in one "
                                  f"partition at most", source=source, key=where)
            placed[card] = partition.name
    return Tenancy({name: tuple(cards) for name, cards in tenants.items()}, tuple(windows), tuple(partitions),
                   source)


def _check_window(window: Window, where: str, tenants: Mapping[str, Sequence[int]], capacity: Mapping[int, int],
                  spec: FabricSpec, source: str) -> None:
    if window.tenant not in tenants:
        raise ConfigError(f"unknown tenant {window.tenant!r} (tenants: {', '.join(tenants) or 'none'})",
                          source=source, key=f"{where}.tenant")
    if window.card not in capacity:
        raise ConfigError(f"card {window.card} is not a card of fabric {spec.name}", source=source,
                          key=f"{where}.card")
    if window.base < 0 or window.size <= 0:
        raise ConfigError(f"a window has a base of 0 or more and a size above 0, not {window.base:#x} and "
                          f"{window.size}", source=source, key=where)
    if not (window.read or window.write):
        raise ConfigError("a window grants reading, writing or both", source=source, key=f"{where}.access")
    if window.end > capacity[window.card]:
        raise ConfigError(f"the window [{window.base:#x}, {window.end:#x}) runs past the {capacity[window.card]:#x} "
                          f"bytes of card {window.card}'s memory", source=source, key=where)


def _check_overlaps(windows: Sequence[Window], source: str) -> None:
    """Refuse overlapping windows that conflict: another tenant's where either writes (memory
    shared between tenants is read-only), or the same tenant's with a different access."""
    by_card: dict[int, list[tuple[int, Window]]] = {}
    for index, window in enumerate(windows):
        by_card.setdefault(window.card, []).append((index, window))
    for entries in by_card.values():
        entries.sort(key=lambda entry: entry[1].base)
        for position, (index, window) in enumerate(entries):
            for other_index, other in entries[position + 1:]:
                if other.base >= window.end:
                    break
                same = other.tenant == window.tenant
                if (same and other.access != window.access) or (not same and (other.write or window.write)):
                    first, second = sorted((index, other_index))
                    why = ("with other access for the same tenant" if same else
                           f"of tenants {windows[first].tenant!r} and {windows[second].tenant!r}, one of them "
                           f"writing")
                    raise ConfigError(f"overlaps windows[{first}] on card {window.card} {why}", source=source,
                                      key=f"windows[{second}]")


def _address(value: Any) -> int:
    """A window's base: an integer, a string integer (``"0x10_0000"``) or a size (``"4MiB"``)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected a byte address, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"an address is 0 or more, not {value}")
        return value
    try:
        return int(value, 0)
    except ValueError:
        pass
    try:
        return parse_size(value, "base")
    except UnitError:
        raise ValueError(f"expected a byte address like 0, \"0x10_0000\" or \"4MiB\", got {value!r}") from None


def _cards(entry: Table, key: str) -> tuple[int, ...]:
    cards = entry.get(key, list)
    if not all(isinstance(card, int) and not isinstance(card, bool) for card in cards):
        raise entry.error("expected a list of card ids, like [0, 1]", key)
    return tuple(cards)
