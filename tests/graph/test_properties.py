"""Execution graphs, by property (issue 19, item 7): a step is never shorter than its critical
path with free communication nor longer than all its nodes one after another; scaling a
template to N ranks keeps every rank's work; a graph written as Chakra (either form) reads back
as itself and runs to the same step time."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import given, settings
from hypothesis import strategies as st

from oisa.fabric import load_fabric
from oisa.graph import ExecutionGraph, Kind, Node, RankGraph, Where, read_graph, write_graph
from oisa.graph.scale import scaled
from oisa.workload import Run
from oisa.workload.graph import graph_bounds, run_execution_graph

MESH = load_fabric("mesh-8")
FEW = settings(max_examples=min(settings().max_examples, 25))  # each example runs the flow engine
NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
SIZES = st.integers(1, 16 << 20)


@st.composite
def graphs(draw: st.DrawFn, max_ranks: int = 4) -> ExecutionGraph:
    """A job of a few ranks that can run: steps every rank takes in turn (compute, a local load
    or store, an all-reduce or all-gather over the world or a group, a send around a ring),
    each node depending on some of its rank's earlier nodes; communication nodes also follow
    the rank's previous one, as a trace's stream order makes them."""
    ranks = draw(st.integers(2, max_ranks))
    nodes: list[list[Node]] = [[] for _ in range(ranks)]
    last_comm: list[int | None] = [None] * ranks
    groups = {"pair": (0, 1)}

    def deps(rank: int) -> tuple[int, ...]:
        earlier = [node.id for node in nodes[rank]]
        return tuple(draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3))) if earlier else ()

    def add(rank: int, kind: Kind, *, comm: bool = False, **fields: object) -> None:
        data = deps(rank)
        ctrl = (last_comm[rank],) if comm and last_comm[rank] is not None else ()
        node = Node(len(nodes[rank]), draw(NAMES), kind, data_deps=data, ctrl_deps=ctrl, **fields)
        nodes[rank].append(node)
        if comm:
            last_comm[rank] = node.id

    for step, what in enumerate(draw(st.lists(st.sampled_from(["compute", "memory", "collective", "ring"]),
                                              min_size=1, max_size=6))):
        if what == "compute":
            for rank in range(ranks):  # a roofline's FLOPs and bytes, or a duration as Chakra counts it
                flops, memory = draw(st.integers(0, 10**11)), draw(st.integers(0, 1 << 26))
                duration = 0 if flops or memory else draw(st.integers(0, 100)) * 10**6
                add(rank, Kind.COMPUTE, flops=flops, memory_bytes=memory, duration_ps=duration)
        elif what == "memory":
            for rank in range(ranks):
                add(rank, draw(st.sampled_from([Kind.LOAD, Kind.STORE])), memory_bytes=draw(SIZES), where=Where.LOCAL)
        elif what == "collective":
            collective, size = draw(st.sampled_from(["allreduce", "allgather"])), draw(SIZES) * ranks
            group = draw(st.sampled_from(["", "pair"]))
            for rank in groups[group] if group else range(ranks):
                add(rank, Kind.COLLECTIVE, comm=True, collective=collective, size=size, group=group)
        else:
            size = draw(SIZES)
            for rank in range(ranks):
                add(rank, Kind.SEND, comm=True, peer=(rank + 1) % ranks, size=size, tag=step)
                add(rank, Kind.RECV, comm=True, peer=(rank - 1) % ranks, size=size, tag=step)
    return ExecutionGraph("prop", tuple(RankGraph(r, tuple(n)) for r, n in enumerate(nodes)), groups)


@FEW
@given(graphs())
def test_a_step_lies_within_its_bounds(graph: ExecutionGraph):
    run = Run(engine="flow")
    lower, upper = graph_bounds(MESH, graph, run)
    assert lower <= run_execution_graph(MESH, graph, run).step_ps <= upper


def _work(rank: RankGraph) -> Counter:
    """What a rank does, whoever its peers: each node's kind and amounts."""
    return Counter((n.kind, n.flops, n.memory_bytes, n.duration_ps, n.collective, n.size, n.where) for n in rank.nodes)


@settings(max_examples=min(settings().max_examples, 40))
@given(graphs(), st.integers(1, 8))
def test_scaling_keeps_every_ranks_work(template: ExecutionGraph, blocks: int):
    big = scaled(template, blocks * len(template))
    k = len(template)
    assert len(big) == blocks * k and big.flops() == blocks * template.flops()
    for rank in big.ranks:
        assert _work(rank) == _work(template.ranks[rank.rank % k])
        for node in rank.nodes:
            if node.kind in (Kind.SEND, Kind.RECV):  # peers stay in the rank's own block
                assert node.peer // k == rank.rank // k
            if node.kind is Kind.COLLECTIVE and node.group:
                assert rank.rank in big.groups[node.group]


@FEW
@given(graphs(), st.sampled_from(["et", "json"]))
def test_chakra_round_trips_the_graph_and_its_step(graph: ExecutionGraph, form: str):
    with TemporaryDirectory() as directory:
        write_graph(graph, Path(directory) / graph.name, form=form)  # a trace's name is its files' prefix
        back = read_graph(directory)
    assert back == graph
    run = Run(engine="flow")
    assert run_execution_graph(MESH, back, run).step_ps == run_execution_graph(MESH, graph, run).step_ps
