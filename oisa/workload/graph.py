"""The execution-graph workload: a job given as one DAG per rank (a Chakra trace, or a graph
oisa synthesised), run on any engine, and what it shows: the step time, each rank's critical
path and exposed communication, per-rank timeline tracks, and the share of peak FLOPs.

The graph becomes one plan (:mod:`oisa.workload.graph_lower`); the run's engine times it: the
flow engine unless the run asks for another or records frames, as for training. What the result
says of each rank:

* ``end_ps``: when its last node finished, from the step's start;
* ``compute_ps``: the time its compute units were busy with its compute nodes;
* ``exposed_comm_ps``: the time it was communicating (a collective entered and not yet done, a
  send or receive under way, a load or store over the fabric) and computing nothing;
* its critical path: from its last node back to the step's start, each node's predecessor being
  the dependency (its own, or a peer's through a collective or a send) that finished last, the
  time split by what each node on the path is (compute, communication, local memory, other).

The share of peak is the FLOPs the graph's compute nodes state over what the cards' peak rates
could do in the step's time (model FLOPs utilisation when the nodes state the model's FLOPs).
:func:`graph_bounds` gives what no correct step time can leave: the critical path at infinite
bandwidth below, every node run alone one after another above.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from oisa.errors import UsageError
from oisa.fabric import FabricSpec
from oisa.graph import ExecutionGraph, Kind, Where, read_graph
from oisa.plan import Collective, Delay, Execution, Plan, Read, Send
from oisa.sim.observe import Observer, Observers
from oisa.units import S, format_time, serialisation_ps
from oisa.workload.collectives import collective_ranks
from oisa.workload.graph_lower import Lowered, Unit, lower
from oisa.workload.registry import CARDS, TEXT, Headline, Option, Renderer, workload
from oisa.workload.run import Run
from oisa.workload.training import COMPUTE_EFFICIENCY

__all__ = ["CATEGORIES", "CriticalPath", "GraphResult", "RankFigures", "Utilization", "graph_bounds",
           "run_execution_graph", "run_graph"]

CATEGORIES = ("compute", "communication", "memory", "other")


@dataclass(frozen=True)
class CriticalPath:
    """A rank's critical path: its length from the step's start (ps), split by what the nodes on
    it are, and how many nodes it runs through."""

    length_ps: int
    compute_ps: int
    communication_ps: int
    memory_ps: int
    other_ps: int
    nodes: int


@dataclass(frozen=True)
class RankFigures:
    """What one rank did over the step. Its time splits four ways, summing to the step time:
    computing; communication not hidden under compute (from when the data starts to move, so a
    collective from when its last member is ready, a receive from when its send starts); local
    memory and host work hidden under neither; and idle: waiting for peers to reach a collective
    or send (pipeline bubbles, load imbalance), or done before the slowest rank."""

    rank: int
    card: int
    end_ps: int
    compute_ps: int
    exposed_comm_ps: int
    exposed_other_ps: int
    idle_ps: int
    flops: int
    peak_flops_per_s: int  # its card's peak rate for the result's dtype
    critical: CriticalPath


@dataclass(frozen=True)
class Utilization:
    """The share of peak FLOPs, decomposed as the article's utilization formula asks: what the
    cards reach while they compute (the kernels, alone on the card), then what the step loses to
    communication left exposed, to exposed memory and host work, and to idle time, each in share
    points of peak, weighted by the ranks' peak rates. ``1 - kernels_lost - communication -
    other - idle == achieved``, which is the result's ``peak_share``."""

    kernels_lost: float
    communication: float
    other: float
    idle: float
    achieved: float

    @property
    def card(self) -> float:
        """The share of peak while computing: what a card reaches alone."""
        return 1.0 - self.kernels_lost

    def steps(self) -> list[tuple[str, float]]:
        """The waterfall, from peak down to what the step achieves."""
        return [("peak", 1.0), ("kernels", -self.kernels_lost), ("exposed communication", -self.communication),
                ("exposed memory and host", -self.other), ("idle", -self.idle), ("achieved", self.achieved)]


@dataclass(frozen=True)
class GraphResult:
    fabric: str
    seed: int
    mode: str
    graph: str
    attributes: dict[str, str]
    nodes: int
    collectives: dict[str, int]  # "allreduce ring/simple" -> how many of the graph's collectives ran so
    step_ps: int
    ranks: tuple[RankFigures, ...]
    flops: int
    peak_flops_per_s: int  # the ranks' cards' peak rates for dtype, summed
    dtype: str
    efficiency: float  # the share of peak a compute node given by FLOPs runs at
    frames: int
    wire_bytes: int
    end_ps: int

    @property
    def verified(self) -> None:
        """Nothing to verify: the graph states no data."""
        return None

    @property
    def peak_share(self) -> float:
        """The graph's FLOPs per second over the cards' summed peak rate."""
        return self.flops * S / self.step_ps / self.peak_flops_per_s if self.step_ps else 0.0

    @property
    def slowest(self) -> RankFigures:
        """The rank that finished last (the lowest of those that tie)."""
        return max(self.ranks, key=lambda r: (r.end_ps, -r.rank))

    @property
    def exposed_comm_ps(self) -> int:
        return self.slowest.exposed_comm_ps

    @property
    def utilization(self) -> Utilization:
        """:attr:`peak_share` taken apart (see :class:`Utilization`)."""
        whole = sum(r.peak_flops_per_s for r in self.ranks) * self.step_ps
        computing = sum(r.peak_flops_per_s * r.compute_ps for r in self.ranks)
        if not whole or not computing:
            return Utilization(1.0, 0.0, 0.0, 0.0, 0.0)
        card = self.flops * S / computing

        def lost(part: Callable[[RankFigures], int]) -> float:
            return card * sum(r.peak_flops_per_s * part(r) for r in self.ranks) / whole

        return Utilization(1.0 - card, lost(lambda r: r.exposed_comm_ps), lost(lambda r: r.exposed_other_ps),
                           lost(lambda r: r.idle_ps), self.peak_share)


def _render_json(result: GraphResult) -> dict[str, Any]:
    slowest = result.slowest
    return {
        "workload": "graph", "fabric": result.fabric, "seed": result.seed, "mode": result.mode,
        "graph": result.graph, "attributes": dict(result.attributes), "ranks": len(result.ranks),
        "nodes": result.nodes, "collectives": dict(result.collectives), "step_ps": result.step_ps,
        "flops": result.flops, "peak_flops_per_s": result.peak_flops_per_s, "peak_share": result.peak_share,
        "dtype": result.dtype, "efficiency": result.efficiency, "exposed_comm_ps": result.exposed_comm_ps,
        "slowest_rank": slowest.rank, "critical_path": vars(slowest.critical),
        "per_rank": {"card": [r.card for r in result.ranks], "end_ps": [r.end_ps for r in result.ranks],
                     "compute_ps": [r.compute_ps for r in result.ranks],
                     "exposed_comm_ps": [r.exposed_comm_ps for r in result.ranks],
                     "exposed_other_ps": [r.exposed_other_ps for r in result.ranks],
                     "idle_ps": [r.idle_ps for r in result.ranks],
                     "critical_path_ps": [r.critical.length_ps for r in result.ranks]},
        "utilization": vars(result.utilization),
        "frames": result.frames, "wire_bytes": result.wire_bytes, "end_ps": result.end_ps,
    }


def _render_text(result: GraphResult) -> str:
    slowest = result.slowest
    path = slowest.critical

    def share(part: int) -> str:
        return f"{part / path.length_ps:.1%}" if path.length_ps else "-"

    lines = [
        f"graph {result.graph} on {result.fabric} ({result.mode} engine, seed {result.seed}): {len(result.ranks)} "
        f"ranks, {result.nodes:,} nodes",
        f"  step time         {format_time(result.step_ps)}",
        f"  share of peak     {result.peak_share:.1%} ({result.flops:.3e} FLOPs at "
        f"{result.peak_flops_per_s:.3e} FLOP/s peak, {result.dtype}; compute at "
        f"{result.efficiency:.1%} of peak)",
        f"  slowest rank      {slowest.rank} (card {slowest.card}): computing {format_time(slowest.compute_ps)}, "
        f"communication exposed {format_time(slowest.exposed_comm_ps)}",
        f"  its critical path {format_time(path.length_ps)} over {path.nodes:,} nodes: compute "
        f"{share(path.compute_ps)}, communication {share(path.communication_ps)}, memory {share(path.memory_ps)}, "
        f"other {share(path.other_ps)}",
    ]
    if result.collectives:
        lines.append("  collectives       " + ", ".join(f"{n:,} {what}" for what, n in result.collectives.items()))
    for key, value in result.attributes.items():
        lines.append(f"  {key:<17} {value}")
    return "\n".join(lines + _utilization_text(result))


RANKS_LISTED = 16
"""Up to this many ranks, the text lists each one's time; beyond, the lowest, median and highest."""


def _utilization_text(result: GraphResult) -> list[str]:
    """The share of peak as a waterfall, then each rank's step split four ways."""
    steps = result.utilization.steps()
    lines = ["  share of peak, decomposed: " + " ".join(
        f"{'-' if value < 0 and index else ('=' if index else '')} {label} {abs(value):.1%}".strip()
        for index, (label, value) in enumerate(steps))]
    columns = ("compute", "exposed comm", "exposed mem/host", "idle")
    parts = [(r.compute_ps, r.exposed_comm_ps, r.exposed_other_ps, r.idle_ps) for r in result.ranks]

    def share(ps: int) -> str:
        return f"{ps / result.step_ps:.1%}" if result.step_ps else "-"

    if len(result.ranks) <= RANKS_LISTED:
        lines.append(f"  {'rank':>6} {'card':>6} " + " ".join(f"{c:>16}" for c in columns))
        for rank, split in zip(result.ranks, parts):
            lines.append(f"  {rank.rank:>6} {rank.card:>6} " + " ".join(f"{share(ps):>16}" for ps in split))
    else:
        lines.append(f"  {'over ranks':>13} " + " ".join(f"{c:>16}" for c in columns))
        for name, pick in (("lowest", 0), ("median", len(parts) // 2), ("highest", len(parts) - 1)):
            lines.append(f"  {name:>13} " + " ".join(f"{share(sorted(p[k] for p in parts)[pick]):>16}"
                                                      for k in range(len(columns))))
    return lines


def _headlines(result: GraphResult) -> list[Headline]:
    return [Headline("step_ps", "step time", result.step_ps, "time"),
            Headline("peak_share", "share of peak", result.peak_share, "share"),
            Headline("exposed_comm_ps", "exposed communication", result.exposed_comm_ps, "time")]


_RENDERER = Renderer(_render_json, _render_text,
                     lambda r: f"graph {r.graph}, {len(r.ranks)} ranks", _headlines)


@workload("graph", summary="an execution graph (a Chakra trace, one file per rank: a folder, or a folder and prefix): "
          "step time, critical paths, exposed communication, share of peak", result=GraphResult,
          engines=("data", "timing", "flow"), renderer=_RENDERER, options=(
              Option("graph", TEXT, "the Chakra trace: a directory of NAME.RANK.et (or .json) files, or the prefix "
                                    "DIR/NAME"),
              Option("cards", CARDS, "the cards that train (default: every accelerator, by id)"),
              Option("precision", TEXT, "the compute rate used, by the names in the device profiles (bf16, fp8, ...)"),
              Option("calibration", TEXT, "a calibration of the collective library (what oisa calibrate writes), "
                                          "applied to its profile"),
          ))
def run_graph(spec: FabricSpec, run: Run = Run(), *, graph: str | None = None, cards: Sequence[int] | None = None,
              precision: str = "bf16", calibration: str | None = None) -> GraphResult:
    """Run the Chakra trace at ``graph`` (rank r on the r-th of ``cards``)."""
    if graph is None:
        raise UsageError("the graph workload runs a Chakra trace: give its directory or DIR/NAME prefix",
                         parameter="graph")
    return run_execution_graph(spec, read_graph(graph), run, cards=cards, precision=precision,
                               calibration=calibration)


def run_execution_graph(spec: FabricSpec, graph: ExecutionGraph, run: Run = Run(), *,
                        cards: Sequence[int] | None = None, precision: str = "bf16", calibration: str | None = None,
                        efficiency: float = COMPUTE_EFFICIENCY) -> GraphResult:
    """Run ``graph`` on ``spec``: rank r on ``cards[r]`` (default: the accelerators in id order).
    Compute nodes given by FLOPs run at ``efficiency`` of the card's peak."""
    if not isinstance(graph, ExecutionGraph):
        raise UsageError("expected an oisa.graph.ExecutionGraph", parameter="graph", value=type(graph).__name__)
    if isinstance(efficiency, bool) or not isinstance(efficiency, (int, float)) or not 0 < efficiency <= 1:
        raise UsageError("a share of peak, above 0 and at most 1", parameter="efficiency", value=efficiency)
    placed = collective_ranks(spec, cards, least=1)
    timelines, run = _settled(spec, run)
    lowered = lower(spec, graph, placed, precision=precision, efficiency=efficiency, calibration=calibration,
                    distinct_buffers=run.engine != "flow")
    original = run.observer
    try:
        if original is not None:
            run = replace(run, observer=_KeepOpen([original]))
        outcome = run.executor.run_plan(spec, run, lowered.plan)
        result = _result(spec, graph, lowered, outcome.execution, run, precision, efficiency, outcome.frames,
                         outcome.wire_bytes)
        for timeline in timelines:
            _draw(timeline, graph, lowered, outcome.execution)
    finally:
        for observer in (original, *timelines):
            if observer is not None:
                observer.close()
    return result


class _KeepOpen(Observers):
    """The run's observers, left open when the engine is done with them: the graph's rank
    tracks are drawn after the run, then they are closed."""

    def close(self) -> None:
        return None


def _settled(spec: FabricSpec, run: Run) -> tuple[list[Observer], Run]:
    """The timelines that get rank tracks, and the run with its engine settled. A timeline on
    the flow engine shows the ranks alone (there are no frames); other observers need frames."""
    observers = [] if run.observer is None else (run.observer.observers if isinstance(run.observer, Observers)
                                                  else [run.observer])
    timelines = [o for o in observers if o.draws_spans]
    flowing = run.engine == "flow" or (run.engine == "auto" and len(spec.cards) > run.limits.frame_cards)
    if flowing and observers and len(timelines) == len(observers):
        return timelines, replace(run, observer=None).settled("flow", allowed=("data", "timing", "flow"),
                                                             workload="graph", spec=spec)
    settled = run.settled("flow" if run.observer is None else "timing", allowed=("data", "timing", "flow"),
                          workload="graph", spec=spec)
    return timelines, settled


# -- figures ---------------------------------------------------------------------------------------------


def _result(spec: FabricSpec, graph: ExecutionGraph, lowered: Lowered, times: Execution, run: Run, precision: str,
            efficiency: float, frames: int, wire_bytes: int) -> GraphResult:
    units = lowered.units
    started = np.array([min(times.started_of(op) for op in unit.ops) for unit in units],
                       dtype=np.int64) - times.start_ps
    finished = np.array([times.finished_of(unit.done) for unit in units], dtype=np.int64) - times.start_ps
    nodes = {(rank.rank, node.id): node for rank in graph.ranks for node in rank.nodes}
    category = [_unit_category(unit, nodes) for unit in units]
    alone = [_alone_compute_ps(spec, lowered, unit, nodes, precision, efficiency) for unit in units]
    per_rank: list[list[int]] = [[] for _ in graph.ranks]
    for index, unit in enumerate(units):
        for rank, _ in unit.members:
            per_rank[rank].append(index)
    figures = []
    for rank_graph in graph.ranks:
        rank = rank_graph.rank
        mine = per_rank[rank]
        ready = {}
        for index in mine:
            node = nodes[next(m for m in units[index].members if m[0] == rank)]
            own = [lowered.unit_of[(rank, dep)] for dep in node.deps]
            ready[index] = max((int(finished[d]) for d in own), default=0)
        compute = [(max(int(started[i]), int(finished[i]) - alone[i]), int(finished[i])) for i in mine
                   if category[i] == "compute"]
        comm = [(max(ready[i], _transfer_start(units, i, started, nodes)), int(finished[i])) for i in mine
                if category[i] == "communication"]
        other = [(max(int(started[i]), int(finished[i]) - alone[i]), int(finished[i])) for i in mine
                 if category[i] in ("memory", "other")]
        busy = _measure(compute)
        communicating = _measure(compute + comm)
        working = _measure(compute + comm + other)
        end = max((int(finished[i]) for i in mine), default=0)
        figures.append(RankFigures(rank, lowered.cards[rank], end, busy, communicating - busy, working - communicating,
                                   times.duration_ps - working,
                                   sum(nodes[(rank, n.id)].flops for n in rank_graph.nodes if n.kind is Kind.COMPUTE),
                                   int(spec.card(lowered.cards[rank]).device.compute[precision].value),
                                   _critical(units, mine, finished, category)))
    rates = sum(r.peak_flops_per_s for r in figures)
    return GraphResult(
        fabric=spec.name, seed=run.seed, mode=run.engine, graph=graph.name, attributes=dict(graph.attributes),
        nodes=sum(len(r.nodes) for r in graph.ranks), collectives=dict(lowered.choices),
        step_ps=times.duration_ps, ranks=tuple(figures), flops=graph.flops(), peak_flops_per_s=rates,
        dtype=precision, efficiency=efficiency, frames=frames, wire_bytes=wire_bytes, end_ps=times.end_ps)


def _transfer_start(units: Sequence[Unit], index: int, started: np.ndarray, nodes: dict[tuple[int, int], Any]) -> int:
    """When the unit's data began to move: a collective once its last member is ready, a
    receive when its send began (before that the receiver waits, idle, not communicating)."""
    unit = units[index]
    if unit.kind is Kind.RECV:
        peer = nodes[unit.members[0]].peer
        return next(int(started[d]) for d in unit.deps if units[d].kind is Kind.SEND and units[d].members[0][0] == peer)
    return int(started[index])


def _unit_category(unit: Unit, nodes: dict[tuple[int, int], Any]) -> str:
    node = nodes[unit.members[0]]
    if node.kind.communicates or (node.kind in (Kind.LOAD, Kind.STORE) and node.where is not Where.LOCAL):
        return "communication"
    if node.kind in (Kind.LOAD, Kind.STORE):
        return "memory"
    return "compute" if node.kind is Kind.COMPUTE and not node.host else "other"


def _alone_compute_ps(spec: FabricSpec, lowered: Lowered, unit: Unit, nodes: dict[tuple[int, int], Any],
                      precision: str, efficiency: float) -> int:
    """What a compute or local memory node takes on its card with nothing else running (0 for
    communication): the lower bound's weight."""
    rank, _ = unit.members[0]
    node = nodes[unit.members[0]]
    device = spec.card(lowered.cards[rank]).device
    if node.kind is Kind.COMPUTE:
        if node.host or not (node.flops or node.memory_bytes):
            return node.duration_ps
        compute = int(node.flops * S / efficiency / int(device.compute[precision].value))
        return max(compute, serialisation_ps(node.memory_bytes, int(device.memory_bandwidth.value)))
    if node.kind in (Kind.LOAD, Kind.STORE) and node.where is Where.LOCAL:
        return serialisation_ps(node.memory_bytes, int(device.memory_bandwidth.value))
    return 0


def _measure(intervals: list[tuple[int, int]]) -> int:
    """The time the union of ``intervals`` covers."""
    total, reach = 0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def _critical(units: Sequence[Unit], mine: list[int], finished: np.ndarray, category: list[str]) -> CriticalPath:
    """Back from the rank's last node to the step's start through the dependencies that
    finished last."""
    parts = dict.fromkeys(CATEGORIES, 0)
    if not mine:
        return CriticalPath(0, 0, 0, 0, 0, 0)
    current: int | None = max(mine, key=lambda i: (int(finished[i]), -i))
    assert current is not None
    length, steps = int(finished[current]), 0
    while current is not None:
        before = max(units[current].deps, key=lambda d: (int(finished[d]), -d), default=None)
        parts[category[current]] += int(finished[current]) - (int(finished[before]) if before is not None else 0)
        steps += 1
        current = before
    return CriticalPath(length, parts["compute"], parts["communication"], parts["memory"], parts["other"], steps)


# -- bounds ----------------------------------------------------------------------------------------------


def graph_bounds(spec: FabricSpec, graph: ExecutionGraph, run: Run = Run(), *, cards: Sequence[int] | None = None,
                 precision: str = "bf16", efficiency: float = COMPUTE_EFFICIENCY) -> tuple[int, int]:
    """(lower, upper): the graph's critical path with communication free (infinite bandwidth,
    no latency), and the time of all its nodes run one after another, each alone on the fabric
    (communication timed on ``run``'s engine). A step time outside them is wrong."""
    placed = collective_ranks(spec, cards, least=1)
    run = replace(run, observer=None).settled("flow", allowed=("data", "timing", "flow"), workload="graph", spec=spec)
    lowered = lower(spec, graph, placed, precision=precision, efficiency=efficiency, distinct_buffers=False)
    nodes = {(rank.rank, node.id): node for rank in graph.ranks for node in rank.nodes}
    longest: list[int] = []
    upper = 0
    for unit in lowered.units:
        weight = _alone_compute_ps(spec, lowered, unit, nodes, precision, efficiency)
        longest.append(weight + max((longest[d] for d in unit.deps), default=0))
        upper += weight if _unit_category(unit, nodes) in ("compute", "memory", "other") else \
            _alone_comm_ps(spec, run, lowered, unit)
    return max(longest, default=0), upper


def _alone_comm_ps(spec: FabricSpec, run: Run, lowered: Lowered, unit: Unit) -> int:
    op = lowered.plan.ops[unit.done]
    if isinstance(op, (Collective, Send, Read)):
        alone = Plan((replace(op, deps=()),))
        return run.executor.run_plan(spec, run, alone).execution.duration_ps
    assert isinstance(op, Delay)  # a receive: its time is its send's
    return 0


# -- timeline --------------------------------------------------------------------------------------------


def _draw(timeline: Observer, graph: ExecutionGraph, lowered: Lowered, times: Execution) -> None:
    """Every node as a slice on its rank's track for what it is (compute, communication, memory,
    other), at its virtual times."""
    nodes = {(rank.rank, node.id): node for rank in graph.ranks for node in rank.nodes}
    spans = []
    for unit in lowered.units:
        start = min(times.started_of(op) for op in unit.ops)
        end = times.finished_of(unit.done)
        lane = _unit_category(unit, nodes)
        for rank, node_id in unit.members:
            node = nodes[(rank, node_id)]
            args = (("node", node_id), ("flops", node.flops), ("bytes", node.size or node.memory_bytes))
            spans.append((f"rank {rank}", lane, start, end, node.name or node.kind.value, args))
    for owner, lane, start, end, name, args in sorted(spans, key=lambda s: (int(s[0].split()[1]), s[1], s[2])):
        timeline.span(owner, lane, start, end, name, args)

