"""Plans run on the frame-level engines: dependencies respected, data computed, both engines alike."""

from __future__ import annotations

import numpy as np
import pytest

from oisa.fabric import Fabric, load_fabric
from oisa.plan import Compute, Copy, Delay, Execution, PlanBuilder, Read, Reduce, Send, Stream
from oisa.units import NS, KiB
from oisa.workload import ENGINES, Run
from oisa.workload.execute import execute

SIZE = 64 * KiB


def _exchange() -> PlanBuilder:
    """Card 0 sends a buffer to card 1, which adds it to its own and sends the sum back."""
    plan = PlanBuilder()
    there = plan.add(Send(0, 1, SIZE, local=0, remote=1 << 20))
    summed = plan.add(Reduce(1, target=2 << 20, sources=(0, 1 << 20), size=SIZE, dtype="float32", op="sum",
                             deps=(there,)))
    plan.add(Send(1, 0, SIZE, local=2 << 20, remote=3 << 20, deps=(summed,), confirmed=True))
    return plan


async def _run(fabric: Fabric, run: Run, plan: PlanBuilder) -> tuple[Execution, list[np.ndarray]]:
    await fabric.bring_up()
    inputs = []
    if run.moves_bytes:
        for rank in (0, 1):
            values = fabric.kernel.rng.uniform(-1, 1, SIZE // 4).astype(np.float32)
            fabric.card(rank).memory.write(0, values)
            inputs.append(values)
    execution = await execute(fabric, plan.build(), data=run.moves_bytes)
    if run.moves_bytes:
        inputs.append(fabric.card(0).memory.read_array(3 << 20, SIZE).view(np.float32))
    return execution, inputs


@pytest.mark.parametrize("engine", ["data", "timing"])
def test_operations_wait_for_their_dependencies(engine):
    run = Run(seed=1, engine=engine)
    execution, values = ENGINES[engine].execute(load_fabric("pair"), run, _run, _exchange())
    send, reduce, back = range(3)
    assert execution.started[reduce] >= execution.finished[send] > execution.started[send]
    assert execution.started[back] >= execution.finished[reduce] > execution.started[reduce]
    assert execution.end_ps >= execution.finished.max()
    if engine == "data":
        first, second, result = values
        assert np.allclose(result, first + second)


def test_both_engines_time_a_plan_alike():
    spec = load_fabric("pair")
    data, timing = (ENGINES[e].execute(spec, Run(engine=e), _run, _exchange())[0] for e in ("data", "timing"))
    assert timing.duration_ps == pytest.approx(data.duration_ps, rel=0.1)


def test_a_cards_memory_and_compute_take_one_thing_at_a_time():
    plan = PlanBuilder()
    first = plan.add(Stream(0, SIZE))
    plan.add(Copy(0, target=1 << 20, source=0, size=SIZE))
    plan.add(Compute(0, 1e9, "bf16"))
    plan.add(Compute(0, 1e9, "bf16"))
    plan.add(Delay(1, 5 * NS, deps=(first,)))
    plan.add(Read(1, 0, SIZE, local=0, remote=0))
    execution, _ = ENGINES["timing"].execute(load_fabric("pair"), Run(engine="timing"), _run, plan)
    stream, copy, compute_a, compute_b, delay, _ = range(6)
    assert execution.finished[copy] > execution.finished[stream]  # queued behind it on the memory
    assert execution.finished[compute_b] - execution.finished[compute_a] == pytest.approx(
        execution.finished[compute_a] - execution.started[compute_a], rel=1e-6)
    assert execution.finished[delay] == execution.finished[stream] + 5 * NS
