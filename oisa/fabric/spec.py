"""Fabric descriptions: which cards, joined by which links, read from TOML or built in Python.

A :class:`FabricSpec` is plain data; :func:`oisa.fabric.build` turns it into a running fabric
inside a kernel. Every physical figure of a link (lanes, rate per lane, latency) carries its
source or is marked as an assumption, as in device profiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from oisa import catalog
from oisa.config import Figure, Table, load_toml
from oisa.device.profile import DeviceProfile, load_profile
from oisa.errors import ConfigError, OisaError
from oisa.sim.faults import FaultModel
from oisa.units import parse_rate, parse_time
from oisa.wire.flit import check_flit_size

__all__ = ["CardSpec", "FabricSpec", "LinkSpec", "load_fabric", "read_faults"]


@dataclass(frozen=True)
class CardSpec:
    id: int
    name: str
    device: DeviceProfile


@dataclass(frozen=True)
class LinkSpec:
    """An OISA link between two cards: ``lanes`` x ``lane_rate`` in each direction."""

    a: int
    b: int
    lanes: Figure
    lane_rate: Figure
    latency: Figure
    flit_size: int = 256
    faults: FaultModel = field(default_factory=FaultModel)

    @property
    def rate_bps(self) -> int:
        """Bits per second in each direction, after line coding."""
        return int(self.lanes.value) * int(self.lane_rate.value)

    @property
    def latency_ps(self) -> int:
        return int(self.latency.value)


@dataclass(frozen=True)
class FabricSpec:
    name: str
    description: str
    cards: tuple[CardSpec, ...]
    links: tuple[LinkSpec, ...]
    source: str = "<python>"

    def card(self, card_id: int) -> CardSpec:
        for card in self.cards:
            if card.id == card_id:
                return card
        raise ConfigError(f"no card {card_id} (cards: {', '.join(str(c.id) for c in self.cards)})",
                          source=self.source)


def load_fabric(name_or_path: str | Path) -> FabricSpec:
    """Load a fabric by catalog name (``"pair"``) or from a TOML file path."""
    path = catalog.resolve("fabrics", name_or_path)
    doc = load_toml(path)
    spec = _read(doc, str(path))
    doc.finish()
    return spec


def _lanes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 32:
        raise ValueError(f"expected a whole number of lanes from 1 to 32, got {value!r}")
    return value


def _probability(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"expected a probability from 0 up to (not including) 1, got {value!r}")
    return float(value)


def read_faults(table: Table) -> FaultModel:
    """A ``[faults]`` table: ``ber``, ``drop``, ``duplicate``, ``control_drop``, ``down_at``."""
    model = FaultModel(
        ber=table.parsed("ber", _probability, 0.0),
        drop=table.parsed("drop", _probability, 0.0),
        duplicate=table.parsed("duplicate", _probability, 0.0),
        control_drop=table.parsed("control_drop", _probability, 0.0),
        down_at=table.parsed("down_at", parse_time, None),
    )
    table.finish()
    return model


def _read(doc: Table, source: str) -> FabricSpec:
    cards: list[CardSpec] = []
    profiles: dict[str, DeviceProfile] = {}
    default_faults = read_faults(doc.table("faults", optional=True))
    for table in doc.tables("cards"):
        card_id = table.get("id", int)
        if any(c.id == card_id for c in cards):
            raise table.error(f"card id {card_id} is used twice", "id")
        if not 0 <= card_id <= 0xFFFF:
            raise table.error(f"card id {card_id} is not 0 to 65535", "id")
        device = table.get("device", str)
        if device not in profiles:
            try:
                profiles[device] = load_profile(device)
            except ConfigError as exc:
                raise table.error(f"device {device!r}: {exc}", "device") from None
        cards.append(CardSpec(card_id, table.get("name", str, f"card{card_id}"), profiles[device]))
        table.finish()
    ids = {c.id for c in cards}
    links: list[LinkSpec] = []
    for table in doc.tables("links", optional=True):
        between = table.get("between", list)
        if len(between) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in between):
            raise table.error("expected two card ids, like [0, 1]", "between")
        for end in between:
            if end not in ids:
                raise table.error(f"link end {end} is not a card of this fabric", "between")
        if between[0] == between[1]:
            raise table.error("a link must join two different cards", "between")
        try:
            flit_size = check_flit_size(table.get("flit_size", int, 256))
        except OisaError as exc:
            raise table.error(str(exc), "flit_size") from None
        links.append(LinkSpec(
            between[0], between[1],
            lanes=table.figure("lanes", _lanes),
            lane_rate=table.figure("lane_rate", parse_rate),
            latency=table.figure("latency", parse_time),
            flit_size=flit_size,
            faults=read_faults(table.table("faults", optional=True)) if "faults" in table else default_faults,
        ))
        table.finish()
    if not cards:
        raise doc.error("a fabric needs at least one card", "cards")
    return FabricSpec(doc.get("name", str), doc.get("description", str), tuple(cards), tuple(links), source)
