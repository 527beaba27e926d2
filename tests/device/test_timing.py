"""Timing mode's segments: a copy spread over equal paths loads them equally, as data mode's
messages, sprayed one by one, do; a short last message, a window of more segments than fit in
flight and a copy of one message take what data mode takes (each once parted from data mode)."""

import pytest

from oisa.fabric import load_fabric
from oisa.plan import PlanBuilder, Send
from oisa.workload import Run, run_p2p
from oisa.workload.engines import ENGINES


def _write_ps(planes: int, size: int) -> int:
    spec = load_fabric("supernode-64", parameters={"servers": 2, "cards_per_server": 1, "devices": ["h100-like"],
                                                   "planes": planes, "memory_pools": []})
    return run_p2p(spec, Run(engine="timing"), size=size).write.time_ps


@pytest.mark.parametrize("planes", [3, 5, 6, 7])
def test_a_large_write_over_planes_that_do_not_divide_its_segments_still_uses_each_equally(planes):
    size = 16 << 20
    one = _write_ps(1, size)
    assert _write_ps(planes, size) == pytest.approx(one / planes, rel=0.02)


def _write_time(engine: str, device: str, planes: int, size: int) -> int:
    spec = load_fabric("supernode-64", parameters={"servers": 2, "cards_per_server": 1, "devices": [device],
                                                   "planes": planes, "memory_pools": []})
    plan = PlanBuilder()
    plan.add(Send(0, 1, size, 0, 0, confirmed=True))
    execution = ENGINES[engine].run_plan(spec, Run(engine=engine), plan.build()).execution
    return int(execution.finished[0] - execution.started[0])  # from the write's start: links are up by then


def test_a_copy_with_a_short_last_message_uses_every_path_in_timing_mode_as_in_data_mode():
    size = (1 << 20) + 100
    assert _write_time("timing", "mi300x-like", 8, size) == pytest.approx(_write_time("data", "mi300x-like", 8, size),
                                                                         rel=0.05)


def test_a_non_posted_copy_of_more_segments_than_its_window_streams_in_timing_mode_as_in_data_mode():
    size = 341 * 4096
    assert _write_time("timing", "ascend910-like", 2, size) == pytest.approx(
        _write_time("data", "ascend910-like", 2, size), rel=0.02)


def test_a_copy_of_one_message_takes_its_bytes_time_in_timing_mode():
    spec = load_fabric("mesh-8", parameters={"cards": 2, "device": "mi300x-like"})

    def landed(size: int) -> int:
        plan = PlanBuilder()
        plan.add(Send(0, 1, size, 0, 0))
        execution = ENGINES["timing"].run_plan(spec, Run(engine="timing"), plan.build()).execution
        return int(execution.finished[0] - execution.started[0])

    rate = spec.links[0].rate_bps / 8  # bytes per second
    assert landed(4096) - landed(256) >= 0.9 * (4096 - 256) / rate * 1e12
