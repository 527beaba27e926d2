"""In-switch reduction costs what the switch's reduction units and buffer allow (issue 16, item 3:
it used to be free and unbounded)."""

from __future__ import annotations

import tomllib

import pytest

from oisa.catalog import resolve
from oisa.errors import ConfigError
from oisa.fabric import load_fabric
from oisa.workload import Run
from oisa.workload.collectives import run_collective

CARDS = [8, 9, 10, 11]  # ascend910-like cards: they start in-switch reductions, and their library offers them


def _supernode(**switch: object) -> object:
    table = tomllib.loads(resolve("fabrics", "supernode-64").read_text())["parameters"]["switch"]
    return load_fabric("supernode-64", {"servers": 3, "memory_pools": [], "switch": {**table, **switch}})


def _time(spec: object, size: int, engine: str = "timing") -> int:
    return run_collective(spec, "allreduce", Run(engine=engine), size=size, algorithm="in-switch", cards=CARDS).time_ps


def test_slow_reduction_units_set_the_pace_of_a_large_all_reduce():
    """Each of the eight planes reduces an eighth of four members' 64 MiB: at 1 Tb/s, 268 us,
    far beyond what the links take."""
    slow = _supernode(reduction_rate={"value": "1Tbps", "assumption": "a slow chip, for the test"})
    combined_bits = len(CARDS) * (64 << 20) // 8 * 8
    assert _time(slow, 64 << 20) >= combined_bits / 1e12 * 1e12 > _time(_supernode(), 64 << 20)


def test_a_buffer_for_one_reduction_at_a_time_holds_contributions_back_and_never_deadlocks():
    """16 KiB holds one 4 KiB contribution of each of four members: later reductions wait for
    the one before to finish, and the result is still exact."""
    small = _supernode(reduction_buffer={"value": "16KiB", "assumption": "a tiny buffer, for the test"},
                       reduction_rate={"value": "100Gbps", "assumption": "slow units, so that waiting shows"})
    roomy = _supernode(reduction_rate={"value": "100Gbps", "assumption": "slow units, so that waiting shows"})
    result = run_collective(small, "allreduce", Run(engine="data"), size=256 << 10, algorithm="in-switch",
                            cards=CARDS)
    assert result.verified
    assert result.time_ps >= _time(roomy, 256 << 10, "data")


@pytest.mark.parametrize("missing", ["reduction_rate", "reduction_buffer"])
def test_a_switch_that_reduces_must_say_how_fast_and_how_much_it_holds(missing):
    table = tomllib.loads(resolve("fabrics", "supernode-64").read_text())["parameters"]["switch"]
    del table[missing]
    with pytest.raises(ConfigError, match=f"parameters.switch.{missing}: missing"):
        load_fabric("supernode-64", {"servers": 1, "memory_pools": [], "switch": table})
