"""Device profiles: what an emulated GPU is made of, read from a TOML file in ``devices/``.

Every figure carries its source or says it is an assumption (see :mod:`oisa.config`). The
profile describes the card as its vendor built it (memory, compute, native links) and how it
behaves as an OISA endpoint (largest message, tags, DMA engines).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from oisa import catalog
from oisa.config import Figure, Table, load_toml
from oisa.device import registry
from oisa.device.adapter import Capability
from oisa.errors import CatalogError, ConfigError
from oisa.units import parse_flops, parse_rate, parse_size
from oisa.wire.pcie import MAX_PAYLOAD_SIZES

__all__ = ["NATIVE_FAMILIES", "DeviceProfile", "load_profile"]

NATIVE_FAMILIES = ("pcie", "cxl", "vendor", "oisa")  # what an adapter's and a profile's `native` may say
ROLES = ("accelerator", "host", "memory")  # only accelerators take part in workloads; the others serve memory


def _positive_int(limit: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            raise ValueError(f"expected a whole number from 1 to {limit}, got {value!r}")
        return value
    return parse


def _pcie_payload(value: object) -> int:
    size = parse_size(value)  # type: ignore[arg-type]
    if size not in MAX_PAYLOAD_SIZES:
        raise ValueError(f"{size} is not a PCIe Max Payload Size ({', '.join(map(str, MAX_PAYLOAD_SIZES))} bytes)")
    return size


def _message_size(value: object) -> int:
    size = parse_size(value)  # type: ignore[arg-type]
    if size > 4096 or size & (size - 1):
        raise ValueError(f"{size} is not a power of two of at most 4096 bytes")
    return size


@dataclass(frozen=True)
class DeviceProfile:
    """One GPU model. Figures keep their provenance; the plain properties give the values."""

    name: str
    vendor: str
    model: str
    description: str
    native: str
    adapter: str
    requires: frozenset[Capability]
    role: str  # "accelerator" (takes part in workloads), "host" or "memory" (serves memory only)
    path: Path
    memory_capacity: Figure
    memory_bandwidth: Figure
    compute: dict[str, Figure]
    links: Figure
    lanes_per_link: Figure
    lane_rate: Figure
    max_payload: Figure
    max_read_request: Figure
    tags: Figure
    dma_engines: Figure
    ports: Figure
    pcie_max_payload: Figure | None = None  # the Max Payload Size its PCIe host interface supports, if it says
    library: str | None = None  # the collective-library profile (libraries/) its vendor's library is modelled by

    @property
    def capacity(self) -> int:
        return int(self.memory_capacity.value)

    def figures(self) -> dict[str, Figure]:
        """Every figure by dotted name, for listings and for the sources check."""
        out = {
            "memory.capacity": self.memory_capacity, "memory.bandwidth": self.memory_bandwidth,
            "interconnect.links": self.links, "interconnect.lanes_per_link": self.lanes_per_link,
            "interconnect.lane_rate": self.lane_rate, "oisa.max_payload": self.max_payload,
            "oisa.max_read_request": self.max_read_request, "oisa.tags": self.tags,
            "oisa.dma_engines": self.dma_engines, "oisa.ports": self.ports,
        }
        if self.pcie_max_payload is not None:
            out["pcie.max_payload"] = self.pcie_max_payload
        out.update({f"compute.{dtype}": fig for dtype, fig in self.compute.items()})
        return out


def load_profile(name_or_path: str | Path) -> DeviceProfile:
    """Load a profile by name (the built-in catalog, then profiles plug-ins ship) or from a
    TOML file path; check that its adapter exists and offers what the profile requires."""
    try:
        path = catalog.resolve("devices", name_or_path)
    except CatalogError:
        shipped = registry.plugin_profiles().get(str(name_or_path))
        if shipped is None:
            known = sorted(set(catalog.catalog_names("devices")) | set(registry.plugin_profiles()))
            raise CatalogError(f"no device named {str(name_or_path)!r} (known: {', '.join(known)})") from None
        path = shipped[0]
    doc = load_toml(path)
    profile = _read(doc, path)
    doc.finish()
    return profile


def _check_adapter(doc: Table, native: str, requires: frozenset[Capability]) -> str:
    name = doc.get("adapter", str)
    try:
        entry = registry.adapter(name)
    except CatalogError as exc:
        raise doc.error(str(exc), "adapter") from None
    if entry.cls.native != native:
        raise doc.error(f"adapter {name!r} speaks {entry.cls.native!r}, but the profile says native = "
                        f"{native!r}", "adapter")
    missing = sorted(requires - entry.cls.capabilities)
    if missing:
        raise doc.error(f"adapter {name!r} lacks {', '.join(missing)} (it offers "
                        f"{', '.join(sorted(entry.cls.capabilities))})", "requires")
    return name


def _capabilities(doc: Table) -> frozenset[Capability]:
    raw = doc.get("requires", list, [])
    known = {c.value: c for c in Capability}
    for item in raw:
        if item not in known:
            raise doc.error(f"{item!r} is not a capability (known: {', '.join(known)})", "requires")
    return frozenset(known[item] for item in raw)


def _library(doc: Table) -> str | None:
    """The collective-library profile the device's vendor library is modelled by, if it names one."""
    name = doc.get("library", str, None)
    if name is not None:
        try:
            catalog.resolve("libraries", name)
        except ConfigError as exc:
            raise doc.error(str(exc), "library") from None
    return name


def _role(doc: Table) -> str:
    role = doc.get("role", str, "accelerator")
    if role not in ROLES:
        raise doc.error(f"{role!r} is not one of {', '.join(ROLES)}", "role")
    return role


def _read(doc: Table, path: Path) -> DeviceProfile:
    native = doc.get("native", str)
    if native not in NATIVE_FAMILIES:
        raise doc.error(f"{native!r} is not one of {', '.join(NATIVE_FAMILIES)}", "native")
    requires = _capabilities(doc)
    adapter = _check_adapter(doc, native, requires)
    memory = doc.table("memory")
    compute = doc.table("compute")
    links = doc.table("interconnect")
    oisa = doc.table("oisa")
    pcie = doc.table("pcie", optional=True)  # its PCIe host interface, where a PCIe link can attach it
    profile = DeviceProfile(
        name=doc.get("name", str),
        vendor=doc.get("vendor", str),
        model=doc.get("model", str),
        description=doc.get("description", str),
        native=native,
        adapter=adapter,
        requires=requires,
        role=_role(doc),
        path=path,
        memory_capacity=memory.figure("capacity", parse_size),
        memory_bandwidth=memory.figure("bandwidth", parse_rate),
        compute={dtype: compute.figure(dtype, parse_flops) for dtype in sorted(compute.data)},
        links=links.figure("links", _positive_int(64)),
        lanes_per_link=links.figure("lanes_per_link", _positive_int(32)),
        lane_rate=links.figure("lane_rate", parse_rate),
        max_payload=oisa.figure("max_payload", _message_size),
        max_read_request=oisa.figure("max_read_request", _message_size),
        tags=oisa.figure("tags", _positive_int(65536)),
        dma_engines=oisa.figure("dma_engines", _positive_int(64)),
        ports=oisa.figure("ports", _positive_int(64)),
        pcie_max_payload=pcie.figure("max_payload", _pcie_payload, None),
        library=_library(doc),
    )
    if not profile.compute:
        raise compute.error("give at least one compute rate (for example bf16)")
    for table in (memory, compute, links, oisa, pcie):
        table.finish()
    return profile
