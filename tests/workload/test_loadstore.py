"""Load/store latency: real bytes when idle, queueing behind background streams, and the
direct-connect fabric's advantage over the switched one."""

import pytest

from oisa.errors import UsageError
from oisa.fabric import load_fabric
from oisa.workload import Run
from oisa.workload.loadstore import run_loadstore


@pytest.fixture(scope="module")
def mesh():
    return load_fabric("mesh-8")


def test_idle_loads_and_stores_move_checked_bytes(mesh):
    result = run_loadstore(mesh, size=128, accesses=20, background=0)
    assert result.mode == "data" and result.verified and result.loaded is None
    # a load goes there and back, a store only there
    assert result.idle["load"].p50_ps > result.idle["store"].p50_ps > 0


def test_background_streams_through_a_shared_switch_port_slow_accesses_down():
    supernode = load_fabric("supernode-64", {"servers": 2, "devices": ["h100-like", "mi300x-like"]})
    result = run_loadstore(supernode, Run(seed=1), accesses=60, background=6)
    assert result.mode == "timing" and result.background_bytes > 0
    for kind in ("load", "store"):
        idle, loaded = result.idle[kind], result.loaded[kind]
        assert loaded.min_ps >= idle.min_ps and loaded.p99_ps >= idle.p99_ps
    assert result.loaded["load"].p99_ps > result.idle["load"].p99_ps  # six streams into one card do queue


def test_in_a_full_mesh_streams_from_other_cards_leave_a_pair_alone(mesh):
    """Every pair has its own link, and the emulation does not model contention inside a card."""
    result = run_loadstore(mesh, Run(seed=1), accesses=30, background=6)
    assert result.loaded == result.idle and result.background_bytes > 0


def test_the_supernode_answers_loads_sooner_than_the_switched_deployment():
    supernode = run_loadstore(load_fabric("supernode-64", {"servers": 2}), accesses=20, background=0)
    switched = run_loadstore(load_fabric("switched-64", {"servers": 2}), accesses=20, background=0)
    assert supernode.verified and switched.verified
    assert supernode.idle["load"].p50_ps < switched.idle["load"].p50_ps


@pytest.mark.parametrize(("options", "message"), [
    ({"size": 512}, "1 to 256 bytes"),
    ({"accesses": 0}, "accesses=0: must be 1 or more"),
    ({"background": 7}, "background=7: fabric mesh-8 has only 6 other cards"),
    ({"src": 3, "dst": 3}, "src=3, dst=3: the same card"),
])
def test_mistakes_are_named(mesh, options, message):
    with pytest.raises(UsageError, match=message):
        run_loadstore(mesh, **options)
