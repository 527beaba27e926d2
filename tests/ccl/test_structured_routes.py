"""The collective library on clusters routes by the fabric's structure (no search per pair); at
small scale, every catalog fabric that routes that way, shrunk to a few dozen cards with its
figures kept, gives the same tuner decision, the same priced time for every choice and the same
plan as the library routing it by a graph search, the computation it replaces."""

from __future__ import annotations

import tomllib
from typing import Any

import numpy as np
import pytest

from oisa import catalog
from oisa.ccl import Call, Topology, choose_library, normalised_count
from oisa.ccl.algorithms import algorithms_of, build
from oisa.ccl.tuner import channel_options, price, tune, unavailable
from oisa.fabric import load_fabric
from oisa.fabric.clos import ClusterRoutes
from oisa.fabric.routes import GraphRoutes, routes_of
from oisa.units import MiB
from oisa.workload.collectives import collective_ranks

CATALOG = catalog.catalog_names("fabrics")
STRUCTURED = ("cluster-1k-switched", "cluster-10k-switched", "cluster-10k-supernode", "cluster-100k-switched",
              "cluster-100k-supernode", "supernode-1024")


def _parameters(name: str) -> dict[str, Any]:
    return tomllib.loads(catalog.resolve("fabrics", name).read_text())["parameters"]


def shrunk(name: str):
    """Catalog fabric ``name`` with its figures (devices, links, switches, NICs, tiers) and counts
    cut to a few leaves, spines and cores: small enough for a graph search per destination."""
    parameters = _parameters(name)
    if "scale_out" not in parameters:  # one pod: 4 servers in one domain
        return load_fabric(name, parameters={"servers": 4, "servers_per_domain": 4})
    scale_out = dict(parameters["scale_out"])
    scale_out.update(servers_per_leaf=2, uplinks=2, spines=2)
    if scale_out["tiers"] == 3:
        scale_out.update(servers_per_pod=4, spine_uplinks=2, cores=2)
        servers = 8
    else:
        servers = 4
    domain = min(int(_value(parameters["servers_per_domain"])), 2)
    return load_fabric(name, parameters={"servers": servers, "servers_per_domain": domain, "scale_out": scale_out})


def _value(figure: Any) -> Any:
    return figure["value"] if isinstance(figure, dict) else figure


def test_every_catalog_fabric_either_routes_by_search_or_is_held_to_it_here() -> None:
    for name in CATALOG:
        provider = routes_of(load_fabric(name)) if name not in STRUCTURED else None
        assert name in STRUCTURED or isinstance(provider, GraphRoutes), name


@pytest.mark.parametrize("name", STRUCTURED)
@pytest.mark.parametrize(("collective", "size"), [("allreduce", 64 * MiB), ("allreduce", 64 * 1024),
                                                  ("allgather", 16 * MiB)])
def test_structured_routes_price_and_plan_as_the_graph_search(name: str, collective: str, size: int) -> None:
    spec = shrunk(name)
    assert isinstance(routes_of(spec), ClusterRoutes)
    ranks = collective_ranks(spec)
    call = Call(collective, ranks, normalised_count(collective, size, 4, len(ranks)), "float32", "sum", 0)
    library = choose_library(spec, ranks)
    fast, full = Topology(spec, ranks), Topology(spec, ranks, routes=GraphRoutes(spec))
    priced = 0
    for algorithm in algorithms_of(collective):
        why = unavailable(call, fast, library, algorithm)
        assert why == unavailable(call, full, library, algorithm)
        if why is not None:
            continue
        for proto in library.protocols_of(algorithm):
            counts = channel_options(call, fast, library, algorithm, proto)
            assert counts == channel_options(call, full, library, algorithm, proto)
            for channels in counts:
                assert price(call, fast, library, algorithm, proto, channels) == pytest.approx(
                    price(call, full, library, algorithm, proto, channels), rel=1e-9)
                priced += 1
    assert priced > 1
    mine, theirs = tune(call, fast, library), tune(call, full, library)
    assert (mine.algorithm, mine.protocol, mine.channels) == (theirs.algorithm, theirs.protocol, theirs.channels)
    assert mine.time_ps == pytest.approx(theirs.time_ps, rel=1e-9)
    args = (mine.algorithm, mine.protocol, mine.channels)
    planned, searched = build(call, fast, library, *args), build(call, full, library, *args)
    for one, other in zip(planned.collective.phases, searched.collective.phases, strict=True):
        assert (one.repeat, one.latency_ps, one.memory_ranks, one.queued) == (other.repeat, other.latency_ps,
                                                                          other.memory_ranks, other.queued)
        assert one.memory_bytes == pytest.approx(other.memory_bytes, rel=1e-12)
        assert one.rate_cap == pytest.approx(other.rate_cap, rel=1e-9)
        assert np.array_equal(one.flows.src, other.flows.src) and np.array_equal(one.flows.dst, other.flows.dst)
        assert np.allclose(one.flows.size, other.flows.size, rtol=1e-12)


def test_a_ten_thousand_card_tuner_call_routes_each_ring_pair_once() -> None:
    """The work a 10,240-card call's pricing takes, counted (not timed): every channel count and
    protocol the tuner prices for the ring reuses the routes of the ring's 10,240 neighbour pairs,
    found once through the cluster's structure."""
    spec = load_fabric("cluster-10k-supernode")
    assert isinstance(routes_of(spec), ClusterRoutes)
    ranks = collective_ranks(spec)
    call = Call("allreduce", ranks, normalised_count("allreduce", 1 << 30, 4, len(ranks)), "float32", "sum", 0)
    topology = Topology(spec, ranks)
    decision = tune(call, topology, choose_library(spec, ranks), algorithm="ring")
    assert decision.algorithm == "ring" and len(topology.priced) > 10
    assert topology.routed <= len(ranks) + 2  # the ring's pairs, and hardly more
