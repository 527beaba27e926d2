"""Collectives: every algorithm moves real data that numpy agrees with, on direct and switched
fabrics, and their timing behaves as bandwidth and latency say it must."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oisa.errors import UsageError
from oisa.fabric import load_fabric
from oisa.workload.collectives import COLLECTIVES, DTYPES, OPS, choose_algorithm, run_collective
from oisa.workload import Run

ALL_ALGORITHMS = [(name, algorithm) for name, kind in COLLECTIVES.items() for algorithm in kind.algorithms
                  if algorithm != "in-switch"]


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


@pytest.mark.parametrize(("collective", "algorithm"), ALL_ALGORITHMS)
def test_every_algorithm_gives_what_numpy_gives(mesh, collective, algorithm):
    result = run_collective(mesh, collective, Run(seed=3), size=24 * 1024, algorithm=algorithm)
    assert result.verified is True and result.mode == "data"
    assert result.time_ps > 0 and result.frames > 0


@pytest.mark.parametrize(("collective", "algorithm"), [("allreduce", "ring"), ("allgather", "direct"),
                                                       ("alltoall", "direct")])
def test_collectives_cross_the_switched_baseline_intact(small_switched, collective, algorithm):
    assert run_collective(small_switched, collective, size=16 * 1024, algorithm=algorithm).verified


def test_in_switch_all_reduce_reduces_in_the_switch(small_supernode):
    result = run_collective(small_supernode, "allreduce", size=64 * 1024, algorithm="in-switch", dtype="int32")
    assert result.verified and result.algorithm == "in-switch"
    assert choose_algorithm(small_supernode, "allreduce", result.ranks) == "in-switch"
    # the pool is a memory device, not a rank
    assert len(result.ranks) == 8


def test_in_switch_all_reduce_beats_the_ring_on_the_supernode(small_supernode):
    ring = run_collective(small_supernode, "allreduce", Run(engine="timing"), size=4 << 20, algorithm="ring")
    switch = run_collective(small_supernode, "allreduce", Run(engine="timing"), size=4 << 20, algorithm="in-switch")
    assert switch.time_ps < ring.time_ps


def test_in_switch_needs_cards_that_can_start_contributions(mesh):
    supernode = load_fabric("supernode-64", {"servers": 1, "devices": ["h100-like"]})
    with pytest.raises(UsageError, match="collective_offload"):
        run_collective(supernode, "allreduce", size=4096, algorithm="in-switch")
    with pytest.raises(UsageError, match="no switch that reduces"):
        run_collective(mesh, "allreduce", size=4096, algorithm="in-switch")
    assert choose_algorithm(supernode, "allreduce", (0, 1, 2, 3)) == "ring"


@settings(max_examples=12, deadline=None)
@given(collective=st.sampled_from(sorted(COLLECTIVES)), dtype=st.sampled_from(sorted(DTYPES)),
       op=st.sampled_from(sorted(OPS)), elements=st.integers(1, 3000), ranks=st.integers(2, 8),
       seed=st.integers(0, 2**16))
def test_any_type_reduction_and_size_is_exact(collective, dtype, op, elements, ranks, seed):
    mesh = load_fabric("mesh-8")
    kind = COLLECTIVES[collective]
    itemsize = np.dtype(DTYPES[dtype][0]).itemsize
    size = elements * itemsize * (ranks if kind.blocked else 1)
    algorithm = kind.algorithms[seed % len([a for a in kind.algorithms if a != "in-switch"])]
    extra = {"op": op} if kind.reduces else {"root": seed % ranks} if collective == "broadcast" else {}
    result = run_collective(mesh, collective, Run(seed=seed), size=size, algorithm=algorithm, dtype=dtype,
                            cards=list(range(ranks)), **extra)
    assert result.verified


def test_bus_bandwidth_is_defined_as_nccl_tests_defines_it(mesh):
    n = 8
    factors = {name: kind.bus_factor(n) for name, kind in COLLECTIVES.items()}
    assert factors == {"allreduce": 2 * (n - 1) / n, "allgather": (n - 1) / n, "reducescatter": (n - 1) / n,
                       "alltoall": (n - 1) / n, "broadcast": 1.0, "sendrecv": 1.0}
    result = run_collective(mesh, "allreduce", Run(engine="timing"), size=1 << 20)
    assert result.busbw == pytest.approx(result.algbw * 2 * 7 / 8)
    assert result.algbw == pytest.approx(result.size / (result.time_ps * 1e-12))


def test_timing_mode_agrees_with_data_mode(mesh):
    for algorithm in ("ring", "direct"):
        data = run_collective(mesh, "allreduce", Run(engine="data"), size=256 * 1024, algorithm=algorithm)
        timing = run_collective(mesh, "allreduce", Run(engine="timing"), size=256 * 1024, algorithm=algorithm)
        assert timing.time_ps == pytest.approx(data.time_ps, rel=0.25), algorithm


def test_large_messages_reach_the_links_bandwidth(mesh):
    """A ring all-reduce of 64 MiB on 8 cards of 7 links: each step uses one link of each card,
    so bus bandwidth approaches one link's rate and never exceeds it."""
    result = run_collective(mesh, "allreduce", Run(engine="timing"), size=64 << 20, algorithm="ring")
    link_rate = mesh.links[0].rate_bps / 8
    assert 0.6 * link_rate < result.busbw < link_rate


def test_twice_the_data_takes_about_twice_the_time(mesh):
    one = run_collective(mesh, "allgather", Run(engine="timing"), size=16 << 20)
    two = run_collective(mesh, "allgather", Run(engine="timing"), size=32 << 20)
    assert 1.8 < two.time_ps / one.time_ps < 2.1


def test_the_same_seed_gives_the_same_result(mesh):
    first = run_collective(mesh, "alltoall", Run(seed=5), size=8 * 1024)
    assert run_collective(mesh, "alltoall", Run(seed=5), size=8 * 1024) == first


@pytest.mark.parametrize(("options", "parameter", "message"), [
    ({"collective": "allsum"}, "collective", "no such collective"),
    ({"algorithm": "butterfly"}, "algorithm", "expected one of ring, tree"),
    ({"collective": "alltoall", "algorithm": "ring"}, "algorithm", "alltoall has no such algorithm"),
    ({"dtype": "float8"}, "dtype", "expected one of int8"),
    ({"op": "avg"}, "op", "expected one of sum"),
    ({"collective": "allgather", "op": "sum"}, "op", "allgather takes no such option"),
    ({"root": 0}, "root", "allreduce takes no such option"),
    ({"collective": "allgather", "size": 8}, "size", "the least is 32 B"),
    ({"collective": "broadcast", "root": 8}, "root", "not a rank"),
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
