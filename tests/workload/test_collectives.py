"""Collectives: every algorithm and protocol moves real data that numpy agrees with, on direct,
switched and supernode fabrics, and their timing behaves as bandwidth and latency say it must."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oisa.ccl import PROTOCOLS, algorithms_of
from oisa.errors import ConfigError, UsageError
from oisa.fabric import load_fabric
from oisa.workload import Run
from oisa.workload.collectives import COLLECTIVES, run_collective

MESH_ALGORITHMS = [(name, algorithm, protocol) for name in COLLECTIVES for algorithm in algorithms_of(name)
                   if algorithm not in ("in-switch", "hierarchical") for protocol in PROTOCOLS]


@pytest.fixture(scope="module")
def mesh():
    return load_fabric("mesh-8")


@pytest.fixture(scope="module")
def small_supernode():
    """Two servers of offload-capable cards on the supernode's switch planes, plus its CXL pool."""
    return load_fabric("supernode-64", {"servers": 2, "devices": ["mi300x-like", "mtt-like"]})


@pytest.fixture(scope="module")
def small_switched():
    return load_fabric("switched-64", {"servers": 2, "devices": ["mi300x-like", "mtt-like"]})


def _extra(name: str) -> dict:
    return {"root": 3} if COLLECTIVES[name].rooted else {}


@pytest.mark.parametrize(("collective", "algorithm", "protocol"), MESH_ALGORITHMS)
def test_every_algorithm_and_protocol_gives_what_numpy_gives(mesh, collective, algorithm, protocol):
    result = run_collective(mesh, collective, Run(seed=3), size=24 * 1024, algorithm=algorithm, protocol=protocol,
                            channels=3, **_extra(collective))
    assert result.verified is True and result.mode == "data"
    assert (result.algorithm, result.protocol, result.channels) == (algorithm, protocol, 3)
    assert result.time_ps > 0 and result.frames > 0


@pytest.mark.parametrize(("collective", "algorithm"), [("allreduce", "ring"), ("allreduce", "hierarchical"),
                                                       ("allreduce", "tree"), ("allgather", "direct"),
                                                       ("alltoall", "direct"), ("reduce", "ring")])
def test_collectives_cross_the_switched_baseline_intact(small_switched, collective, algorithm):
    result = run_collective(small_switched, collective, size=16 * 1024, algorithm=algorithm, **_extra(collective))
    assert result.verified and result.algorithm == algorithm


def test_in_switch_all_reduce_reduces_in_the_switch(small_supernode):
    result = run_collective(small_supernode, "allreduce", size=64 * 1024, algorithm="in-switch", dtype="int32")
    assert result.verified and result.algorithm == "in-switch" and result.protocol == "simple"
    assert len(result.ranks) == 8  # the pool is a memory device, not a rank
    priced = {c.algorithm for c in run_collective(small_supernode, "allreduce", size=4096).tuner if c.time_ps}
    assert "in-switch" in priced


def test_in_switch_all_reduce_beats_the_ring_on_the_supernode(small_supernode):
    ring = run_collective(small_supernode, "allreduce", Run(engine="timing"), size=4 << 20, algorithm="ring")
    switch = run_collective(small_supernode, "allreduce", Run(engine="timing"), size=4 << 20, algorithm="in-switch")
    assert switch.time_ps < ring.time_ps


def test_in_switch_needs_cards_that_can_start_contributions(mesh):
    supernode = load_fabric("supernode-64", {"servers": 1, "devices": ["h100-like"]})
    with pytest.raises(UsageError, match="collective_offload"):
        run_collective(supernode, "allreduce", size=4096, algorithm="in-switch")
    with pytest.raises(UsageError, match="does not offer it"):
        run_collective(mesh, "allreduce", size=4096, algorithm="in-switch")
    auto = run_collective(supernode, "allreduce", size=4096)
    assert auto.algorithm != "in-switch" and any(c.algorithm == "in-switch" and c.reason for c in auto.tuner)


@settings(max_examples=12, deadline=None)
@given(collective=st.sampled_from(sorted(COLLECTIVES)), dtype=st.sampled_from(["int8", "int32", "float16",
                                                                               "float64", "uint8", "int64"]),
       op=st.sampled_from(["sum", "prod", "min", "max"]), elements=st.integers(1, 3000), ranks=st.integers(2, 8),
       seed=st.integers(0, 2**16))
def test_any_type_reduction_and_size_is_exact(collective, dtype, op, elements, ranks, seed):
    mesh = load_fabric("mesh-8")
    kind = COLLECTIVES[collective]
    itemsize = np.dtype(dtype).itemsize
    size = elements * itemsize * (ranks if kind.blocked else 1)
    algorithms = [a for a in algorithms_of(collective) if a not in ("in-switch", "hierarchical")]
    extra = {"op": op} if kind.reduces else {}
    if kind.rooted:
        extra["root"] = seed % ranks
    result = run_collective(mesh, collective, Run(seed=seed), size=size, algorithm=algorithms[seed % len(algorithms)],
                            protocol=PROTOCOLS[seed % 3], dtype=dtype, cards=list(range(ranks)), **extra)
    assert result.verified


def test_bus_bandwidth_is_defined_as_nccl_tests_defines_it(mesh):
    n = 8
    factors = {name: kind.bus_factor(n) for name, kind in COLLECTIVES.items()}
    assert factors == {"allreduce": 2 * (n - 1) / n, "allgather": (n - 1) / n, "reducescatter": (n - 1) / n,
                       "alltoall": (n - 1) / n, "broadcast": 1.0, "reduce": 1.0, "sendrecv": 1.0}
    result = run_collective(mesh, "allreduce", Run(engine="timing"), size=1 << 20)
    assert result.busbw == pytest.approx(result.algbw * 2 * 7 / 8)
    assert result.algbw == pytest.approx(result.size / (result.time_ps * 1e-12))


def test_timing_mode_agrees_with_data_mode(mesh):
    for algorithm in ("ring", "direct"):
        data = run_collective(mesh, "allreduce", Run(engine="data"), size=256 * 1024, algorithm=algorithm)
        timing = run_collective(mesh, "allreduce", Run(engine="timing"), size=256 * 1024, algorithm=algorithm)
        assert timing.time_ps == pytest.approx(data.time_ps, rel=0.1), algorithm


def test_channels_spread_a_ring_over_every_link_of_the_mesh(mesh):
    """One ring uses one link of each card's seven: its bus bandwidth stays under one link's
    rate. Seven channels on seven link-disjoint rings use them all."""
    link_rate = mesh.links[0].rate_bps / 8
    one = run_collective(mesh, "allreduce", Run(engine="timing"), size=64 << 20, algorithm="ring", protocol="simple",
                         channels=1)
    seven = run_collective(mesh, "allreduce", Run(engine="timing"), size=64 << 20, algorithm="ring",
                           protocol="simple", channels=7)
    assert 0.5 * link_rate < one.busbw < link_rate
    assert 4 * link_rate < seven.busbw < 7 * link_rate


def test_the_tuner_picks_a_low_latency_protocol_for_small_calls_and_simple_for_large_ones(mesh):
    small = run_collective(mesh, "allreduce", Run(engine="timing"), size=4096)
    large = run_collective(mesh, "allreduce", Run(engine="timing"), size=256 << 20)
    assert small.protocol == "ll" and large.protocol == "simple"
    assert large.model_time_ps == pytest.approx(large.time_ps, rel=0.1)


def test_twice_the_data_takes_about_twice_the_time(mesh):
    one = run_collective(mesh, "allgather", Run(engine="timing"), size=256 << 20, protocol="simple")
    two = run_collective(mesh, "allgather", Run(engine="timing"), size=512 << 20, protocol="simple")
    assert 1.8 < two.time_ps / one.time_ps < 2.05


def test_the_same_seed_gives_the_same_result(mesh):
    first = run_collective(mesh, "alltoall", Run(seed=5), size=8 * 1024)
    assert run_collective(mesh, "alltoall", Run(seed=5), size=8 * 1024) == first


@pytest.mark.parametrize(("options", "parameter", "message"), [
    ({"collective": "allsum"}, "collective", "no such collective"),
    ({"algorithm": "butterfly"}, "algorithm", "expected one of ring, tree"),
    ({"collective": "alltoall", "algorithm": "ring"}, "algorithm", "alltoall has no such algorithm"),
    ({"protocol": "ll256"}, "protocol", "expected one of simple, ll, ll128"),
    ({"algorithm": "in-switch", "protocol": "ll"}, "algorithm", "runs it with simple only|does not offer it"),
    ({"channels": 0}, "channels", "must be 1 or more"),
    ({"dtype": "float8"}, "dtype", "expected one of int8"),
    ({"op": "avg"}, "op", "expected one of sum"),
    ({"collective": "allgather", "op": "sum"}, "op", "allgather takes no such option"),
    ({"root": 0}, "root", "allreduce takes no such option"),
    ({"collective": "allgather", "size": 8}, "size", "the least is 32 B"),
    ({"collective": "broadcast", "root": 8}, "root", "not a rank"),
    ({"collective": "reduce", "root": 9}, "root", "not a rank"),
    ({"cards": [0]}, "cards", "needs 2 cards or more"),
    ({"cards": [0, 0]}, "cards", "names a card twice"),
    ({"size": 0}, "size", "must be 1 or more"),
    ({"size": 4096.0}, "size", "expected an integer"),
    ({"size": 1 << 40, "run": Run(engine="timing")}, "size", "needs .* of memory"),
])
def test_mistakes_are_named(mesh, options, parameter, message):
    """Each mistake names the keyword it is about, in Python's terms (the CLI names its flag)."""
    arguments = {"collective": "allreduce", "size": 4096, "run": Run(), **options}
    with pytest.raises(UsageError, match=message) as caught:
        run_collective(mesh, arguments.pop("collective"), arguments.pop("run"), **arguments)
    assert caught.value.parameter == parameter
    assert str(caught.value).startswith(f"{parameter}=")


def test_a_calibration_that_is_missing_or_for_another_library_is_refused(mesh, tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        run_collective(mesh, "allreduce", size=4096, calibration=str(tmp_path / "none.toml"))
    other = tmp_path / "other.toml"
    other.write_text('calibrates = "nccl-like"\n[launch]\nlatency = { value = "5us", source = "fitted: x" }\n')
    with pytest.raises(ConfigError, match="adjusts 'nccl-like', but the run uses 'rccl-like'"):
        run_collective(mesh, "allreduce", size=4096, calibration=str(other))
