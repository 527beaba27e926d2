"""The graph workload: one plan on every engine, what it reports, where ranks disagree, the
timeline's rank tracks, and the command line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from oisa.cli import main
from oisa.errors import ConfigError, UsageError
from oisa.fabric import load_fabric
from oisa.graph import ExecutionGraph, Kind, Node, RankGraph, write_graph
from oisa.observe import Timeline
from oisa.observe.timeline_read import read_timeline
from oisa.workload import Run
from oisa.workload.graph import graph_bounds, run_execution_graph, run_graph
from tests.graph.helpers import data_parallel

MESH = load_fabric("mesh-8")


@pytest.fixture(scope="module")
def by_engine() -> dict:
    graph = data_parallel()
    return {engine: run_execution_graph(MESH, graph, Run(engine=engine)) for engine in ("flow", "timing", "data")}


def test_every_engine_runs_the_graph_and_they_agree(by_engine):
    flow, timing, data = by_engine["flow"].step_ps, by_engine["timing"].step_ps, by_engine["data"].step_ps
    # the data engine proves each posted write landed with a flush read the timing engine does not send
    assert timing != data and abs(timing - data) / data < 1e-4
    assert abs(flow - timing) / timing < 0.02


def test_the_step_is_within_its_bounds(by_engine):
    lower, upper = graph_bounds(MESH, data_parallel(), Run(engine="timing"))
    for result in by_engine.values():
        assert lower <= result.step_ps <= upper


def test_what_the_result_says_of_each_rank(by_engine):
    result = by_engine["timing"]
    assert len(result.ranks) == 4 and [r.card for r in result.ranks] == [0, 1, 2, 3]
    for rank in result.ranks:
        path = rank.critical
        assert path.length_ps == rank.end_ps <= result.step_ps
        assert path.compute_ps + path.communication_ps + path.memory_ps + path.other_ps == path.length_ps
        assert 0 < rank.exposed_comm_ps < rank.end_ps - rank.compute_ps + 1
        assert rank.flops == 3 * 10**12
    # three compute nodes of 10^12 FLOPs at 46.2% of an MI300X-like card's 1,307.4 TFLOPS, one after another
    assert result.ranks[0].compute_ps == pytest.approx(3 * 10**12 / 0.462 / 1307.4e12 * 1e12, rel=1e-3)
    assert result.flops == 12 * 10**12
    assert result.peak_share == pytest.approx(result.flops * 1e12 / result.step_ps / result.peak_flops_per_s)
    assert result.collectives and sum(result.collectives.values()) == 2


def test_ranks_can_be_placed_on_other_cards():
    result = run_execution_graph(MESH, data_parallel(), Run(engine="flow"), cards=[4, 5, 6, 7])
    assert [r.card for r in result.ranks] == [4, 5, 6, 7]


def _two(nodes0: tuple, nodes1: tuple, groups=None) -> ExecutionGraph:
    return ExecutionGraph("g", (RankGraph(0, nodes0, "g.0.et"), RankGraph(1, nodes1, "g.1.et")), groups or {})


def _lowering_error(graph: ExecutionGraph) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        run_execution_graph(MESH, graph, Run(engine="flow"))
    return caught.value


def test_collectives_that_differ_between_ranks_are_named():
    a = (Node(0, "ar", Kind.COLLECTIVE, collective="allreduce", size=1024),)
    b = (Node(0, "ar", Kind.COLLECTIVE, collective="allreduce", size=2048),)
    error = _lowering_error(_two(a, b))
    assert (error.source, error.key) == ("g.1.et", "node 0 comm_size")


def test_a_collective_one_rank_never_runs_is_named():
    a = (Node(0, "ar", Kind.COLLECTIVE, collective="allreduce", size=1024),)
    b = (Node(0, "c", Kind.COMPUTE, flops=10),)
    error = _lowering_error(_two(a, b))
    assert error.source == "g.1.et" and "rank 1 runs 0 collective" in error.message


def test_a_send_nobody_receives_is_named():
    a = (Node(0, "s", Kind.SEND, peer=1, size=64),)
    error = _lowering_error(_two(a, (Node(0, "c", Kind.COMPUTE, flops=10),)))
    assert (error.source, error.key) == ("g.0.et", "node 0 comm_dst")


def test_ranks_that_wait_for_each_other_are_named():
    a = (Node(0, "r", Kind.RECV, peer=1, size=64), Node(1, "s", Kind.SEND, data_deps=(0,), peer=1, size=64))
    b = (Node(0, "r", Kind.RECV, peer=0, size=64), Node(1, "s", Kind.SEND, data_deps=(0,), peer=0, size=64))
    error = _lowering_error(_two(a, b))
    assert "cycle" in error.message and error.key.startswith("node ")


def test_a_graph_larger_than_the_fabric_is_refused():
    with pytest.raises(UsageError) as caught:
        run_execution_graph(load_fabric("pair"), data_parallel(), Run(engine="flow"))
    assert caught.value.parameter == "graph"


def test_the_timeline_has_a_track_per_rank(tmp_path: Path):
    for engine in ("timing", "flow"):
        path = tmp_path / f"{engine}.perfetto"
        run_execution_graph(MESH, data_parallel(), Run(engine=engine, observer=Timeline(path, MESH)))
        tables = read_timeline(path)
        assert not tables.problems
        rank = tables.track("rank 2")
        lanes = {t.name for t in tables.children(rank.uuid)}
        assert {"compute", "communication", "memory"} <= lanes
        names = {s.name for lane in tables.children(rank.uuid) for s in tables.slices if s.track == lane.uuid}
        assert {"forward", "all-reduce 2", "recv", "optimizer"} <= names
        has_frames = any(t.name.startswith("card") or "->" in t.name for t in tables.tracks.values())
        assert has_frames == (engine == "timing")


def test_the_registered_workload_reads_a_trace(tmp_path: Path):
    write_graph(data_parallel(), tmp_path / "dp")
    result = run_graph(MESH, Run(engine="flow"), graph=str(tmp_path / "dp"))
    assert result.step_ps == run_execution_graph(MESH, data_parallel(), Run(engine="flow")).step_ps
    with pytest.raises(UsageError) as caught:
        run_graph(MESH, Run(engine="flow"))
    assert caught.value.parameter == "graph"


def test_the_command_line_runs_and_exports(tmp_path: Path, capsys):
    assert main(["export-graph", "mesh-8", "--model", "mixtral-8x7b", "--tp", "2", "--pp", "2", "--ep", "2",
                 "--zero", "1", "--microbatches", "2", "--seq", "512", "--layers-per-node", "16",
                 "-o", str(tmp_path / "mx"), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["ranks"] == 8 and len(exported["files"]) == 8
    assert main(["run", "mesh-8", "-w", "graph", "--graph", str(tmp_path / "mx"), "--json"]) == 0
    ran = json.loads(capsys.readouterr().out)
    assert main(["run", "mesh-8", "-w", "parallel", "--model", "mixtral-8x7b", "--tp", "2", "--pp", "2", "--ep", "2",
                 "--zero", "1", "--microbatches", "2", "--seq", "512", "--layers-per-node", "16", "--json"]) == 0
    direct = json.loads(capsys.readouterr().out)
    assert ran["step_ps"] == direct["step_ps"] and ran["nodes"] == exported["nodes"] == direct["nodes"]
    assert main(["export-graph", "--graph", str(tmp_path / "mx"), "--ranks", "16", "-o", str(tmp_path / "big" / "m"),
                 "--form", "json"]) == 0
    assert "16 ranks" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["run", "mesh-8", "-w", "graph"], "--graph"),
    (["run", "mesh-8", "-w", "graph", "--graph", "/no/such/dir/x"], "no such directory"),
    (["export-graph", "mesh-8", "-o", ""], "DIR/NAME"),
    (["export-graph", "-o", "x/y"], "FABRIC"),
    (["run", "mesh-8", "-w", "parallel", "--tp", "3"], "--tp"),
])
def test_the_command_line_refuses_in_one_line(argv, words, capsys):
    assert main(argv) in (1, 2)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("oisa: error:") and words in err


def test_a_flow_run_refuses_a_capture(tmp_path: Path):
    from oisa.observe import Capture

    with pytest.raises(UsageError):
        run_execution_graph(MESH, data_parallel(), Run(engine="flow", observer=Capture(tmp_path / "c.pcapng")))


def test_the_same_seed_gives_the_same_result():
    first = run_execution_graph(MESH, data_parallel(), Run(engine="flow", seed=3))
    assert replace(first) == run_execution_graph(MESH, data_parallel(), Run(engine="flow", seed=3))


def test_groups_of_one_shape_are_tuned_once(monkeypatch):
    """Tensor-parallel groups on two servers of H100-like cards share the tuner's choice; a group
    on MI300X-like cards is tuned for itself; what is reused is what tuning again would choose."""
    import oisa.workload.graph_lower as lowering
    from oisa.workload.collectives import plan_call

    spec = load_fabric("switched-64")  # servers 0 and 4 hold H100-like cards, server 1 MI300X-like ones
    cards = [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7]
    groups = {"s0": (0, 1, 2, 3), "s4": (4, 5, 6, 7), "s1": (8, 9, 10, 11)}
    ranks = tuple(RankGraph(r, (Node(0, "ar", Kind.COLLECTIVE, collective="allreduce", size=64 << 20,
                                    group=next(g for g, members in groups.items() if r in members)),))
                  for r in range(12))
    tuned = []

    def counting(spec, call, **forced):
        tuned.append((call.ranks, forced.get("algorithm")))
        return plan_call(spec, call, **forced)

    monkeypatch.setattr(lowering, "plan_call", counting)
    lowered = lowering.lower(spec, ExecutionGraph("tp", ranks, groups), tuple(cards), precision="bf16",
                             efficiency=0.5, distinct_buffers=False)
    assert [algorithm is None for _, algorithm in tuned] == [True, False, True]
    reused = next(ranks for ranks, algorithm in tuned if algorithm is not None)
    assert reused == (16, 17, 18, 19)
    itemsize = lowering.DTYPES[lowering.COMM_DTYPE].itemsize
    fresh = plan_call(spec, lowering.Call("allreduce", reused, (64 << 20) // itemsize, lowering.COMM_DTYPE,
                                          "sum")).decision
    assert f"allreduce {fresh.algorithm}/{fresh.protocol}" in lowered.choices
