"""Timing mode's segments: a copy spread over equal paths loads them equally, as data mode's
messages, sprayed one by one, do."""

import pytest

from oisa.fabric import load_fabric
from oisa.workload import Run, run_p2p


def _write_ps(planes: int, size: int) -> int:
    spec = load_fabric("supernode-64", parameters={"servers": 2, "cards_per_server": 1, "devices": ["h100-like"],
                                                   "planes": planes, "memory_pools": []})
    return run_p2p(spec, Run(engine="timing"), size=size).write.time_ps


@pytest.mark.parametrize("planes", [3, 5, 6, 7])
def test_a_large_write_over_planes_that_do_not_divide_its_segments_still_uses_each_equally(planes):
    size = 16 << 20
    one = _write_ps(1, size)
    assert _write_ps(planes, size) == pytest.approx(one / planes, rel=0.02)
