"""How closely the flow engine agrees with the frame-level engines: the error budget the README states.

Draws random small fabrics (2-8 cards) and random traffic with the same public strategies the
property tests use (``oisa.testing.strategies``), runs each on the flow engine and on timing mode
(data mode for the last class, at sizes it can move), and prints, per class, the relative error
of the flow engine's times: mean of its size, median, 90th percentile and worst, and the share
within the property tests' bounds (5% for transfers of 1 MiB and more, 20% or 500 ns for smaller
ones). Hypothesis draws the examples derandomized, so a run is repeatable.

* ``uncontended``: transfers that share no link, either way, with another of their pattern;
* ``contended, per transfer``: every transfer of every pattern, however it contends;
* ``contended, pattern``: when the last transfer of a pattern is done;
* ``collectives``: ring all-reduce and all-to-all (``plans.py``) by their phases against their
  operations on timing mode;
* ``against data mode``: contended patterns of 64-256 KiB transfers on up to 4 cards, per transfer.

    python benchmarks/flow_agreement.py [--examples 60] [--data-examples 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))

import plans

from oisa.flow import Network, run_plan
from oisa.plan import Plan
from oisa.testing import strategies as oisa_st
from oisa.workload import Run
from oisa.workload.engines import ENGINES
from tests.properties.support import accelerators
from tests.properties.test_flow_agreement import LARGE, SMALL, _links, _plan

MiB = 1 << 20


def _errors(engine: str, spec, flows) -> list[tuple[float, int, bool]]:
    """(relative error, size, within its bound) of each transfer of ``flows`` against ``engine``."""
    plan, ops = _plan(flows)
    frame = ENGINES[engine].run_plan(spec, Run(engine=engine), plan).execution
    fluid = run_plan(spec, plan).execution
    out = []
    for flow, index in zip(flows, ops):
        a = int(frame.finished[index] - frame.started[index])
        b = int(fluid.finished[index] - fluid.started[index])
        bound = 0.05 * a if flow.size >= MiB else max(0.2 * a, 500_000)
        out.append(((b - a) / a, flow.size, abs(b - a) <= bound))
    return out


def _makespan(spec, flows) -> tuple[float, int, bool]:
    plan, ops = _plan(flows)
    a = max(int(ENGINES["timing"].run_plan(spec, Run(engine="timing"), plan).execution.finished[i]) for i in ops)
    b = max(int(run_plan(spec, plan).execution.finished[i]) for i in ops)
    return (b - a) / a, min(f.size for f in flows), abs(b - a) <= 0.05 * a


def collect(examples: int, data_examples: int) -> dict[str, list[tuple[float, int, bool]]]:
    found: dict[str, list[tuple[float, int, bool]]] = {}
    quiet = settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                     suppress_health_check=list(HealthCheck))

    @quiet
    @given(spec=oisa_st.topologies(), data=st.data())
    def traffic(spec, data) -> None:
        flows = data.draw(oisa_st.traffic_patterns(cards=st.just(accelerators(spec)), sizes=st.one_of(LARGE, SMALL)))
        network, kept, taken = Network(spec, 0), [], set()
        for flow in flows:
            links = _links(network, flow)
            if not links & taken:
                kept.append(flow)
                taken |= links
        found.setdefault("uncontended", []).extend(_errors("timing", spec, kept))
        if len(kept) < len(flows):
            found.setdefault("contended, per transfer", []).extend(_errors("timing", spec, flows))
            found.setdefault("contended, pattern", []).append(_makespan(spec, flows))

    @quiet
    @given(spec=oisa_st.topologies(), per_rank=st.integers(1, 16), kind=st.sampled_from(["allreduce", "alltoall"]))
    def collectives(spec, per_rank, kind) -> None:
        ranks = accelerators(spec)
        size = per_rank * MiB * len(ranks)
        collective = plans.ring_allreduce(ranks, size) if kind == "allreduce" else plans.alltoall(spec, ranks, size)
        a = ENGINES["timing"].run_plan(spec, Run(engine="timing"), Plan((collective,))).execution.end_ps
        b = run_plan(spec, Plan((collective,))).execution.end_ps
        found.setdefault(f"collectives ({kind})", []).append(((b - a) / a, size, abs(b - a) <= 0.05 * a))

    @settings(max_examples=data_examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(spec=oisa_st.topologies(layouts=st.sampled_from([layout for layout in oisa_st.LAYOUTS
                                                                  if layout[0] * layout[1] <= 4])),
           data=st.data())
    def against_data(spec, data) -> None:
        flows = data.draw(oisa_st.traffic_patterns(cards=st.just(accelerators(spec)), max_flows=4,
                                                   sizes=st.integers(16, 64).map(lambda pages: pages * 4096)))
        found.setdefault("against data mode, per transfer", []).extend(_errors("data", spec, flows))

    traffic()
    collectives()
    against_data()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=60)
    parser.add_argument("--data-examples", type=int, default=20)
    args = parser.parse_args()
    print("| class | transfers | mean error | median | 90th pct | worst | within bound |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in collect(args.examples, args.data_examples).items():
        large, small = [r for r in rows if r[1] >= MiB], [r for r in rows if r[1] < MiB]
        for label, subset in ((">= 1 MiB", large), ("< 1 MiB", small)):
            if not subset:
                continue
            errors = np.abs([r[0] for r in subset])
            within = np.mean([r[2] for r in subset])
            print(f"| {name}, {label} | {len(subset)} | {errors.mean():.1%} | {np.median(errors):.1%} | "
                  f"{np.percentile(errors, 90):.1%} | {errors.max():.1%} | {within:.0%} |")


if __name__ == "__main__":
    main()
