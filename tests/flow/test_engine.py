"""The flow engine on plans: what each operation costs, that a collective's phases give the time
its primitive operations give, that skipping identical repetitions changes nothing, and that the
large fabrics and bad plans are refused or run as documented."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from oisa.errors import SimulationError, UsageError
from oisa.fabric import FIDELITIES, build, load_fabric
from oisa.fabric.framing import head_bytes
from oisa.fabric.spec import LinkKind
from oisa.flow import run_plan
from oisa.plan import (
    Await,
    Collective,
    Compute,
    Contribute,
    Copy,
    Delay,
    Flows,
    Phase,
    Plan,
    PlanBuilder,
    Read,
    Reduce,
    Send,
    Stream,
)
from oisa.sim import Kernel
from oisa.units import MiB, S, serialisation_ps
from oisa.workload import Run
from oisa.workload.engines import ENGINES


@pytest.fixture(scope="module")
def pair():
    return load_fabric("supernode-64", parameters={"servers": 2, "cards_per_server": 1, "devices": ["h100-like"],
                                                   "memory_pools": []})


@pytest.fixture(scope="module")
def eight():
    return load_fabric("supernode-64", parameters={"servers": 2, "memory_pools": []})


def _plan(*ops):
    builder = PlanBuilder()
    for op in ops:
        builder.add(op)
    return builder.build()


def _took(execution, index):
    return int(execution.finished[index] - execution.started[index])


def test_a_large_write_takes_its_bytes_at_the_planes_payload_rate_plus_the_path(pair):
    """8 planes of 2 x 200 Gb/s; a 256-byte write takes 276 bytes in 256-byte flits of 236."""
    size = 64 * MiB
    execution = run_plan(pair, _plan(Send(0, 1, size, 0, 0))).execution
    payload_rate = 8 * 400e9 / 8 * (256 / 276) * (236 / 256)  # bytes per second
    assert _took(execution, 0) == pytest.approx(size / payload_rate * S + 400_000, rel=1e-3)


def test_confirming_a_write_costs_the_answer_back(pair):
    landed = run_plan(pair, _plan(Send(0, 1, 4096, 0, 0))).execution
    confirmed = run_plan(pair, _plan(Send(0, 1, 4096, 0, 0, confirmed=True))).execution
    assert 400_000 < _took(confirmed, 0) - _took(landed, 0) < 450_000  # 2 links and a switch, a small message


def test_a_read_waits_for_its_request_then_brings_the_data_back(pair):
    write = run_plan(pair, _plan(Send(0, 1, MiB, 0, 0))).execution
    read = run_plan(pair, _plan(Read(0, 1, MiB, 0, 0))).execution
    assert _took(write, 0) + 350_000 < _took(read, 0) < _took(write, 0) + 500_000


def test_a_card_serves_its_transfers_oldest_first_and_two_cards_share_a_link():
    spec = load_fabric("mesh-8", parameters={"cards": 3, "device": "mi300x-like"})
    alone = _took(run_plan(spec, _plan(Send(0, 2, MiB, 0, 0))).execution, 0)
    queued = run_plan(spec, _plan(Send(0, 2, MiB, 0, 0), Send(0, 2, MiB, 0, MiB))).execution
    assert _took(queued, 0) == pytest.approx(alone, rel=1e-3)
    assert _took(queued, 1) == pytest.approx(2 * alone, rel=0.02)
    # two cards into a third over their own links: no sharing at all in a mesh
    both = run_plan(spec, _plan(Send(0, 2, MiB, 0, 0), Send(1, 2, MiB, 0, MiB))).execution
    assert _took(both, 0) == _took(both, 1) == pytest.approx(alone, rel=1e-3)


def test_a_fifth_transfer_waits_for_one_of_the_four_dma_engines(pair):
    sends = [Send(0, 1, 4096, 0, i * 4096) for i in range(5)]
    execution = run_plan(pair, _plan(*sends)).execution
    assert execution.finished[4] > max(execution.finished[:4])


def test_memory_and_compute_queue_first_come_first_served_at_the_cards_rates(pair):
    card = pair.card(0).device
    plan = _plan(Reduce(0, 0, (1, 2), 3 * MiB, "float32", "sum"), Copy(0, 0, 1, MiB), Stream(0, MiB),
                 Compute(0, 1e12, "bf16"), Delay(1, 12_345))
    execution = run_plan(pair, plan).execution
    memory = int(card.memory_bandwidth.value)
    assert execution.finished[0] == serialisation_ps(9 * MiB, memory)
    assert execution.finished[1] == execution.finished[0] + serialisation_ps(2 * MiB, memory)
    assert execution.finished[2] == execution.finished[1] + serialisation_ps(MiB, memory)
    assert execution.finished[3] == -(-1e12 * S // int(card.compute["bf16"].value))
    assert execution.finished[4] == 12_345


def test_an_await_ends_when_the_sends_into_its_range_have_landed(pair):
    plan = _plan(Send(0, 1, 1000, 0, 0), Delay(1, 5_000_000), Send(0, 1, 1000, 0, 1000, deps=(1,)),
                 Await(1, 0, 2000))
    execution = run_plan(pair, plan).execution
    assert execution.finished[3] == execution.finished[2] > 5_000_000


def test_an_await_nothing_writes_stalls_the_plan_with_an_error_naming_it(pair):
    with pytest.raises(SimulationError, match=r"the first operation 1 \(Await\)"):
        run_plan(pair, _plan(Send(0, 1, 1000, 0, 0), Await(1, 4096, 100)))


def test_an_in_switch_reduction_delivers_every_members_result(eight):
    switch = eight.switches[0].id
    members = [0, 4]  # h100-like and mi300x-like cards: both start contributions
    ops = [Contribute(rank, switch, 1, len(members), 1 << 20, 0, 64 * 1024, "float32", "sum") for rank in members]
    ops += [Await(rank, 1 << 20, 64 * 1024, deps=(i,)) for i, rank in enumerate(members)]
    execution = run_plan(eight, _plan(*ops)).execution
    assert execution.finished[0] == execution.finished[1] == 0  # done once sent
    assert execution.finished[2] == execution.finished[3] > 800_000  # up, through the switch, down


def test_frame_engines_cut_through_after_the_head_the_flow_engine_assumes():
    spec = load_fabric("switched-64", parameters={"servers": 2, "cards_per_server": 1})
    fabric = build(spec, Kernel(), None, FIDELITIES["timing"])
    for link in fabric.links:
        assert link.a.head_bytes == head_bytes(link.spec.kind, link.spec.flit_size)
    assert {link.spec.kind for link in fabric.links} == {LinkKind.PCIE, LinkKind.ETHERNET}


def _plans():
    import importlib.util
    where = Path(__file__).parents[2] / "benchmarks" / "plans.py"
    spec = importlib.util.spec_from_file_location("plans_for_flow_tests", where)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["allreduce", "alltoall"])
def test_a_collective_by_its_phases_takes_the_time_its_operations_take(eight, kind):
    plans = _plans()
    ranks = [c.id for c in eight.cards]
    collective = (plans.ring_allreduce(ranks, 8 * MiB) if kind == "allreduce"
                  else plans.alltoall(eight, ranks, 8 * MiB))
    by_phases = run_plan(eight, Plan((collective,))).execution
    by_operations = run_plan(eight, Plan((collective,)).expanded()).execution
    assert by_phases.end_ps == pytest.approx(by_operations.end_ps, rel=0.03)


@pytest.mark.parametrize("algorithm", ["ring", "hierarchical"])
def test_skipping_identical_repetitions_changes_no_time_and_no_count(algorithm):
    """The shortcut that makes 100,000 cards affordable, checked against running every
    repetition one by one (``benchmarks/scale.py`` checks it again at 1,024 cards)."""
    spec = load_fabric(Path(__file__).parents[1] / "data" / "fabrics" / "cluster-small.toml")
    plans, ranks = _plans(), [c.id for c in spec.cards]
    collective = (plans.ring_allreduce(ranks, 64 * MiB) if algorithm == "ring"
                  else plans.allreduce(spec, ranks, 64 * MiB))
    plan = Plan((collective, Delay(5, 10, deps=(0,)), replace(collective, deps=(1,))))
    skipped, one_by_one = run_plan(spec, plan), run_plan(spec, plan, fast_forward=False)
    assert skipped.skipped >= 2 * sum(phase.repeat - 1 for phase in collective.phases) and one_by_one.skipped == 0
    assert skipped.events < one_by_one.events / 4
    assert skipped.execution.end_ps == one_by_one.execution.end_ps
    assert np.array_equal(skipped.execution.finished, one_by_one.execution.finished)
    assert skipped.wire_bytes == pytest.approx(one_by_one.wire_bytes, rel=1e-12)


def test_repetitions_are_not_skipped_while_other_traffic_is_due(eight):
    collective = _plans().ring_allreduce([c.id for c in eight.cards], 8 * MiB)
    plan = Plan((collective, Delay(0, 50_000), Send(0, 4, 8 * MiB, 0, 1 << 30, deps=(1,))))
    shortcut, plain = run_plan(eight, plan), run_plan(eight, plan, fast_forward=False)
    assert shortcut.execution.end_ps == plain.execution.end_ps
    assert shortcut.execution.finished[0] > 8 * MiB / 400e9 * S  # the send slowed the ring down


def test_a_phase_too_large_for_the_memory_limit_is_refused_before_it_is_routed(eight):
    flows = Flows.of(np.zeros(1000, np.int64), np.ones(1000, np.int64), 1000 + np.arange(1000))  # none identical
    collective = Collective("alltoall", (0, 1), (Phase(flows),), lambda: [])
    with pytest.raises(UsageError, match=r"plan: a phase of 1,000 flows would take about .* GiB to route"):
        run_plan(eight, Plan((collective,)), memory_limit=1000)


def test_timing_and_flow_give_the_same_figures_for_the_same_plan_when_nothing_contends(eight):
    plan = _plan(Send(0, 5, 4 * MiB, 0, 0, confirmed=True), Read(1, 6, 4 * MiB, 0, 0))
    timing = ENGINES["timing"].run_plan(eight, Run(engine="timing"), plan).execution
    flow = ENGINES["flow"].run_plan(eight, Run(engine="flow"), plan).execution
    for index in range(2):
        assert _took(flow, index) == pytest.approx(_took(timing, index), rel=0.05)


@pytest.mark.parametrize("size", [1 * MiB, 8 * MiB])
def test_a_direct_exchange_by_its_phases_takes_the_time_the_timing_engine_gives(eight, size):
    """A direct all-to-all issues every transfer at once; the cards' DMA engines take them in
    the library's order (to rank i+1 first), so the receivers are not all hit at once. Its
    queued phase must keep that order and that concurrency to agree with the frame level."""
    from oisa.ccl.kinds import Call
    from oisa.workload.collectives import plan_call, run_collective

    ranks = tuple(c.id for c in eight.cards)
    collective = plan_call(eight, Call("alltoall", ranks, size // 4), algorithm="direct").collective
    assert all(phase.queued for phase in collective.phases)
    flow = run_plan(eight, Plan((collective,))).execution.duration_ps
    timing = run_collective(eight, "alltoall", Run(engine="timing"), size=size, algorithm="direct").time_ps
    assert flow == pytest.approx(timing, rel=0.05)  # the README's budget for a collective of 1 MiB and more


@pytest.mark.parametrize(("cards", "size"), [((8, 9, 10, 11), 4 * MiB), ((8, 9, 10, 11, 12, 13, 14, 15), 64 * MiB)])
def test_an_in_switch_all_reduce_by_its_phases_takes_the_time_the_timing_engine_gives(cards, size):
    """The in-switch plan's phase holds flows from cards to the reducing switches and back: the
    flow engine routes them as contributions and results (it used to look for a card by the
    switch's id), and wire bytes count the links only, not the switch's reduction units."""
    from oisa.workload.collectives import run_collective

    spec = load_fabric("supernode-64")
    runs = {engine: run_collective(spec, "allreduce", Run(engine=engine), size=size, algorithm="in-switch",
                                   cards=cards) for engine in ("flow", "timing")}
    flow, timing = runs["flow"], runs["timing"]
    assert flow.algorithm == timing.algorithm == "in-switch"
    assert flow.time_ps == pytest.approx(timing.time_ps, rel=0.05)  # the README's budget for 1 MiB and more
    assert flow.wire_bytes == pytest.approx(timing.wire_bytes, rel=0.02)
    assert flow.frames == pytest.approx(timing.frames, rel=0.02)


@pytest.mark.parametrize("fabric", ["supernode-64", "cluster-small"])
def test_merging_a_phases_identical_flows_changes_no_time_and_no_count(fabric):
    """A pipelined tree's streaming phase lists a pair once per lane; the engine fills each
    kind of flow once, standing for all of them. Filling them one by one gives the same times
    to the picosecond and the same bytes, frames and messages."""
    from oisa.ccl.kinds import Call
    from oisa.workload.collectives import collective_ranks, plan_call

    data = Path(__file__).parents[1] / "data" / "fabrics"
    spec = load_fabric(fabric if fabric == "supernode-64" else data / f"{fabric}.toml")
    ranks = tuple(collective_ranks(spec, None))[:16]
    collective = plan_call(spec, Call("allreduce", ranks, 16 * MiB // 4), algorithm="tree").collective
    streaming = collective.phases[-1]
    pairs = set(zip(streaming.flows.src.tolist(), streaming.flows.dst.tolist(), strict=True))
    assert streaming.interleaved and len(pairs) < len(streaming.flows.src)  # there is something to merge
    plan = Plan((collective, Delay(ranks[0], 10, deps=(0,)), replace(collective, deps=(1,))))
    merged, one_by_one = run_plan(spec, plan), run_plan(spec, plan, merge=False)
    assert np.array_equal(merged.execution.finished, one_by_one.execution.finished)
    assert merged.execution.end_ps == one_by_one.execution.end_ps
    for count in ("wire_bytes", "frames", "messages"):
        assert getattr(merged, count) == pytest.approx(getattr(one_by_one, count), rel=1e-12)
