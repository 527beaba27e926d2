"""The tuner: it prices every choice the library allows, keeps the cheapest, records what it
compared and why some could not run, and honours what the caller forces."""

from __future__ import annotations

import pytest

from oisa.ccl import Call, Topology, choose_library, plan_collective, tune
from oisa.ccl.tuner import channel_options, price
from oisa.errors import UsageError
from oisa.fabric import load_fabric


@pytest.fixture(scope="module")
def mesh() -> Topology:
    return Topology(load_fabric("mesh-8"), tuple(range(8)))


@pytest.fixture(scope="module")
def supernode() -> Topology:
    return Topology(load_fabric("supernode-64"), tuple(range(64)))


def _library(topology: Topology):
    return choose_library(topology.spec, topology.ranks)


@pytest.mark.parametrize("size", [4096, 1 << 20, 64 << 20])
def test_the_pick_is_the_cheapest_priced(supernode: Topology, size: int) -> None:
    library = _library(supernode)
    call = Call("allreduce", supernode.ranks, size // 4)
    decision = tune(call, supernode, library)
    priced = [c for c in decision.candidates if c.time_ps is not None]
    assert len(priced) >= 2
    assert decision.time_ps == min(c.time_ps for c in priced)
    assert (decision.algorithm, decision.protocol, decision.channels, decision.time_ps) in [
        (c.algorithm, c.protocol, c.channels, c.time_ps) for c in priced]
    for choice in priced:  # each candidate is its algorithm and protocol at its best channel count
        counts = channel_options(call, supernode, library, choice.algorithm, choice.protocol)
        assert choice.time_ps == min(price(call, supernode, library, choice.algorithm, choice.protocol, c)
                                     for c in counts)


def test_small_calls_take_a_low_latency_protocol_and_large_ones_simple(supernode: Topology) -> None:
    library = _library(supernode)
    small = tune(Call("allreduce", supernode.ranks, 256), supernode, library)
    large = tune(Call("allreduce", supernode.ranks, 64 << 20), supernode, library)
    assert small.protocol in ("ll", "ll128") and large.protocol == "simple"
    assert small.channels <= large.channels


def test_forced_choices_are_kept_and_said(mesh: Topology) -> None:
    library = _library(mesh)
    call = Call("allreduce", mesh.ranks, 1 << 18)
    decision = tune(call, mesh, library, algorithm="ring", protocol_name="ll", channels=3)
    assert (decision.algorithm, decision.protocol, decision.channels) == ("ring", "ll", 3)
    assert decision.forced == ("algorithm", "protocol", "channels")
    assert "algorithm, protocol, channels as asked" in decision.reason


def test_what_cannot_run_is_recorded_with_why(mesh: Topology) -> None:
    library = _library(mesh)
    decision = tune(Call("allreduce", mesh.ranks, 1 << 18, launchers=8), mesh, library)
    refused = {c.algorithm: c.reason for c in decision.candidates if c.time_ps is None}
    assert "thread drives one GPU" in refused["direct"]
    assert "several servers" in refused["hierarchical"]
    assert "does not offer" in refused["in-switch"]


@pytest.mark.parametrize(("options", "parameter"), [
    ({"algorithm": "in-switch"}, "algorithm"),
    ({"algorithm": "teleport"}, "algorithm"),
    ({"channels": 33}, "channels"),
    ({"channels": 0}, "channels"),
])
def test_impossible_requests_are_usage_errors(mesh: Topology, options: dict, parameter: str) -> None:
    with pytest.raises(UsageError) as caught:
        tune(Call("allreduce", mesh.ranks, 1 << 18), mesh, _library(mesh), **options)
    assert caught.value.parameter == parameter


def test_the_plan_carries_the_decision(mesh: Topology) -> None:
    planned = plan_collective(Call("allgather", mesh.ranks, 1 << 16), mesh, _library(mesh))
    info = planned.collective.info
    assert info["algorithm"] == planned.decision.algorithm and info["protocol"] == planned.decision.protocol
    assert info["model_time_ps"] == planned.decision.time_ps and info["library"] == "rccl-like"
