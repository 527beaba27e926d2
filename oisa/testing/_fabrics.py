"""Strategies for what traffic runs on: device mixes, small fabrics and fault schedules.

Fabrics are made the way users make them: :func:`~oisa.fabric.load_fabric` on a catalog fabric
with ``parameters`` (fewer servers, other devices, fewer planes), so every generated fabric
goes through the loader's checks and has the catalog's sourced figures. Loading one costs a
few milliseconds (two TOML files and the profiles they name), once per draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Literal

from hypothesis import strategies as st

from oisa import catalog
from oisa.device import registry
from oisa.device.profile import DeviceProfile, load_profile
from oisa.fabric import FabricSpec, load_fabric
from oisa.sim.faults import FaultModel
from oisa.units import US

__all__ = ["LAYOUTS", "TopologyKind", "accelerator_profiles", "device_mixes", "fault_schedules", "link_down_times",
           "topologies", "topology_pairs"]

TopologyKind = Literal["supernode", "switched", "mesh"]

# Catalog fabrics each kind is a smaller copy of: same links, switches and NICs, fewer cards.
_CATALOG = {"supernode": "supernode-64", "switched": "switched-64", "mesh": "mesh-8"}

LAYOUTS = tuple((servers, per_server) for servers in range(1, 9) for per_server in range(1, 5)
                if 2 <= servers * per_server <= 8)
"""(servers, cards per server) with 2 to 8 cards in all: big enough for every traffic shape,
small enough that a run in data mode takes milliseconds. At most 4 cards per server, as in the
catalog: a switched server's 16-port PCIe switch takes each card, its NIC and the host."""


@cache
def _profile(name: str) -> DeviceProfile:
    return load_profile(name)


@cache
def accelerator_profiles() -> tuple[str, ...]:
    """Names of every device profile, built in or shipped by a plug-in, whose role is
    ``accelerator``: the cards workloads run on (hosts and memory pools only serve memory)."""
    names = set(catalog.catalog_names("devices")) | set(registry.plugin_profiles())
    return tuple(sorted(name for name in names if _profile(name).role == "accelerator"))


def device_mixes(
    *,
    names: st.SearchStrategy[str] | None = None,
    min_size: int = 1,
    max_size: int = 4,
) -> st.SearchStrategy[list[str]]:
    """Lists of distinct device profile names, server by server (a fabric cycles through the
    list): the heterogeneous supernode is the point, so vendors are mixed by default.

    ``names`` defaults to every accelerator profile (:func:`accelerator_profiles`), so a
    vendor's plug-in profile is drawn as soon as the plug-in is installed.
    """
    return st.lists(names if names is not None else st.sampled_from(accelerator_profiles()),
                    min_size=min_size, max_size=max_size, unique=True)


def _parameters(kind: TopologyKind, servers: int, per_server: int, devices: Sequence[str],
                planes: int) -> dict[str, object]:
    if kind == "mesh":
        return {"cards": servers * per_server, "device": devices[0]}
    parameters: dict[str, object] = {"servers": servers, "cards_per_server": per_server, "devices": list(devices)}
    if kind == "supernode":
        ports = min(int(_profile(name).ports.value) for name in devices)
        parameters.update(planes=min(planes, ports), memory_pools=[])
    return parameters


def _load(kind: TopologyKind, servers: int, per_server: int, devices: Sequence[str], planes: int) -> FabricSpec:
    return load_fabric(_CATALOG[kind], parameters=_parameters(kind, servers, per_server, devices, planes))


@st.composite
def topologies(
    draw: st.DrawFn,
    *,
    kinds: st.SearchStrategy[TopologyKind] = st.sampled_from(["supernode", "switched", "mesh"]),
    layouts: st.SearchStrategy[tuple[int, int]] = st.sampled_from(LAYOUTS),
    devices: st.SearchStrategy[list[str]] | None = None,
    planes: st.SearchStrategy[int] = st.integers(1, 8),
) -> FabricSpec:
    """Small fabrics of 2-8 cards, built by the loader from the catalog's own fabrics:

    * ``supernode``: servers of cards, each card on every one of ``planes`` OISA switch
      planes (capped at the fewest ports a card of the mix has), as ``supernode-64``;
    * ``switched``: a PCIe switch per server with one RDMA NIC per card and the server's host,
      NICs on one Ethernet switch, as ``switched-64``;
    * ``mesh``: every card linked to every other (the first device of the mix), as ``mesh-8``.

    ``layouts`` draws (servers, cards per server); ``devices`` (default :func:`device_mixes`)
    the profiles, one per server in turn. Card ids are 0 to n-1 in every kind; hosts of the
    switched kind come after them.
    """
    kind = draw(kinds)
    servers, per_server = draw(layouts)
    mix = draw(devices if devices is not None else device_mixes())
    return _load(kind, servers, per_server, mix, draw(planes))


@st.composite
def topology_pairs(
    draw: st.DrawFn,
    *,
    layouts: st.SearchStrategy[tuple[int, int]] = st.sampled_from(LAYOUTS),
    devices: st.SearchStrategy[list[str]] | None = None,
    planes: st.SearchStrategy[int] = st.integers(1, 8),
) -> tuple[FabricSpec, FabricSpec]:
    """The same cards deployed both ways: ``(supernode, switched)`` with one layout and one
    device mix, for comparing the two deployments on one workload (card ids agree)."""
    servers, per_server = draw(layouts)
    mix = draw(devices if devices is not None else device_mixes())
    chosen = draw(planes)
    return (_load("supernode", servers, per_server, mix, chosen),
            _load("switched", servers, per_server, mix, chosen))


def _rates(high: float) -> st.SearchStrategy[float]:
    # zero half the time, so each kind of fault is also seen alone
    return st.one_of(st.just(0.0), st.floats(high / 1000, high))


def fault_schedules(
    *,
    ber: st.SearchStrategy[float] = _rates(1e-6),
    drop: st.SearchStrategy[float] = _rates(0.01),
    duplicate: st.SearchStrategy[float] = _rates(0.01),
    control_drop: st.SearchStrategy[float] = _rates(0.05),
    down_at: st.SearchStrategy[int | None] = st.none(),
) -> st.SearchStrategy[FaultModel]:
    """Fault models for every OISA link of a run (``faults=`` of the workloads).

    The default rates are bounded so that the link layer's replay recovers and runs complete:
    a bit error rate up to 1e-6 (about one 256-byte flit in 500 corrupted), up to 1% of frames
    dropped or duplicated, up to 5% of control flits (ACKs, credits) lost. ``down_at`` (ps;
    default never) cuts the links for good at that time, after which a run must end in
    :class:`~oisa.errors.LinkDownError` rather than hang; :func:`link_down_times` draws some.
    """
    return st.builds(FaultModel, ber=ber, drop=drop, duplicate=duplicate, control_drop=control_drop,
                     down_at=down_at)


def link_down_times(*, before_ps: int = 100 * US) -> st.SearchStrategy[int | None]:
    """``down_at`` values for :func:`fault_schedules`: never, or some time in the first
    ``before_ps`` of a run."""
    return st.none() | st.integers(0, before_ps)
