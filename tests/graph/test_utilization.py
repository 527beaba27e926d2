"""The share of peak taken apart: each rank's step split four ways, and the waterfall from peak
to what the step achieves."""

from __future__ import annotations

import pytest

from oisa.errors import UsageError
from oisa.fabric import load_fabric
from oisa.graph import ExecutionGraph, Kind, Node, RankGraph
from oisa.workload import Run
from oisa.workload.graph import RANKS_LISTED, _render_json, _render_text, run_execution_graph
from tests.graph.helpers import data_parallel

MESH = load_fabric("mesh-8")
FLOPS = 10**12


@pytest.fixture(scope="module", params=["flow", "timing"])
def result(request):
    return run_execution_graph(MESH, data_parallel(), Run(engine=request.param))


def test_each_ranks_step_splits_four_ways(result):
    for rank in result.ranks:
        assert rank.compute_ps + rank.exposed_comm_ps + rank.exposed_other_ps + rank.idle_ps == result.step_ps
        assert min(rank.compute_ps, rank.exposed_comm_ps, rank.exposed_other_ps, rank.idle_ps) >= 0


def test_the_waterfall_ends_at_the_share_of_peak(result):
    parts = result.utilization
    assert parts.achieved == result.peak_share
    assert parts.kernels_lost + parts.communication + parts.other + parts.idle + parts.achieved == pytest.approx(1)
    assert parts.card == pytest.approx(result.efficiency, rel=1e-6)  # every compute node is given by FLOPs
    assert [label for label, _ in parts.steps()][0::5] == ["peak", "achieved"]
    assert sum(value for _, value in parts.steps()[:-1]) == pytest.approx(parts.achieved)


def _pipeline() -> ExecutionGraph:
    """Two stages: rank 0 computes and sends, rank 1 receives and computes."""
    first = (Node(0, "stage 0", Kind.COMPUTE, flops=FLOPS), Node(1, "send", Kind.SEND, data_deps=(0,), peer=1,
                                                                   size=64 << 20))
    second = (Node(0, "recv", Kind.RECV, peer=0, size=64 << 20), Node(1, "stage 1", Kind.COMPUTE, data_deps=(0,),
                                                                       flops=FLOPS))
    return ExecutionGraph("pipe", (RankGraph(0, first), RankGraph(1, second)))


def test_a_pipeline_stage_waiting_for_its_input_is_idle_not_communicating():
    result = run_execution_graph(MESH, _pipeline(), Run(engine="flow"))
    sender, receiver = result.ranks
    assert sender.compute_ps == receiver.compute_ps > 0
    # the receiver waits while the sender computes (to the picosecond an integer division rounds);
    # then both see the same transfer exposed
    assert receiver.idle_ps == pytest.approx(sender.compute_ps, abs=2)
    assert receiver.exposed_comm_ps == sender.exposed_comm_ps > 0
    assert sender.idle_ps == pytest.approx(receiver.compute_ps, abs=2)
    parts = result.utilization  # the two cards alike: each loses its idle share of half the peak
    assert parts.idle == pytest.approx(parts.card * (sender.idle_ps + receiver.idle_ps) / (2 * result.step_ps))
    assert _render_json(result)["per_rank"]["idle_ps"] == [sender.idle_ps, receiver.idle_ps]


def test_the_text_lists_the_ranks_or_their_spread(result):
    text = _render_text(result)
    assert "share of peak, decomposed: peak 100.0% - kernels 53.8%" in text
    assert f"= achieved {result.peak_share:.1%}" in text
    assert sum(line.split()[:2] == [str(r.rank), str(r.card)] for line in text.splitlines() for r in result.ranks) == 4
    wide = run_execution_graph(load_fabric("switched-64"), data_parallel(RANKS_LISTED + 1), Run(engine="flow"))
    lines = _render_text(wide).splitlines()
    assert [line.split()[0] for line in lines[-3:]] == ["lowest", "median", "highest"]


def test_the_waterfall_is_drawn_side_by_side(result, tmp_path):
    from oisa.report.plot import plot_waterfall

    pipeline = run_execution_graph(MESH, _pipeline(), Run(engine="flow"))
    path = tmp_path / "waterfall.png"
    plot_waterfall([result, pipeline], path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(UsageError) as caught:
        plot_waterfall([], path)
    assert caught.value.parameter == "results"
    with pytest.raises(UsageError) as caught:
        plot_waterfall([result], tmp_path / "no" / "such" / "dir.png")
    assert "cannot write the plot" in str(caught.value)
