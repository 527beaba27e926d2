"""A 3D-parallel training step as an execution graph on the flow engine: what it costs to emulate
as the card count grows.

For each card count, in a fresh process (so its peak memory is its own): the step of ``--model``
with ``--tp`` x ``--pp`` model parallelism and the rest data parallelism on the first N cards of
``--fabric`` is synthesised, lowered to a plan (collectives tuned by the library) and timed on
the flow engine. We report the wall time of each part, the process's processor time (the wall
time on a loaded machine is not the emulator's alone) and peak resident memory, the
graph's size, and from the result the step time, the share of peak FLOPs and its decomposition
(see ``oisa.workload.graph.Utilization``); then how wall time and memory grow per doubling of
cards. Several fabrics (``--fabric a,b``) run one after the other; ``--plot`` draws each one's
largest run's waterfall, side by side.

    python benchmarks/training.py [--fabric cluster-1k-switched,supernode-1024] [--cards 64,256,1024]
        [--model gpt3-175b] [--tp 8] [--pp 8] [--zero 1] [--microbatches 16] [--seq N] [--layers-per-node 12]
        [--json FILE] [--plot FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import resource
import subprocess
import sys
import time
from typing import Any

from oisa.fabric import load_fabric
from oisa.workload import Run
from oisa.workload.graph import run_execution_graph
from oisa.workload.graph_parallel import synthesised

LAYOUT = ("model", "tp", "pp", "zero", "microbatches", "seq", "layers_per_node")


def measure(fabric: str, cards: int, layout: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """One step on the first ``cards`` cards of ``fabric``: its figures, and the result."""
    start = time.perf_counter()
    spec = load_fabric(fabric)
    loaded = time.perf_counter()
    placed = tuple(card.id for card in spec.cards if card.device.role == "accelerator")[:cards]
    if len(placed) < cards:
        raise SystemExit(f"fabric {fabric} has {len(placed)} accelerators, not {cards}")
    graph = synthesised(spec, cards=placed, **layout)
    built = time.perf_counter()
    result = run_execution_graph(spec, graph, Run(engine="flow"), cards=placed)
    done = time.perf_counter()
    parts = result.utilization
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures = {
        "fabric": fabric, "cards": cards, **layout, "nodes": result.nodes,
        "wall_s": {"load": loaded - start, "synthesise": built - loaded, "lower_and_run": done - built,
                   "total": done - start},
        "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mib": usage.ru_maxrss / 1024,
        "step_ps": result.step_ps, "peak_share": result.peak_share, "collectives": result.collectives,
        "utilization": vars(parts),
    }
    return figures, result


def growth(rows: list[dict[str, Any]], key: Any) -> float | None:
    """How ``key`` of the rows grows per doubling of cards, from the first row to the last."""
    first, last = rows[0], rows[-1]
    doublings = math.log2(last["cards"] / first["cards"]) if last["cards"] > first["cards"] else 0
    a, b = key(first), key(last)
    return (b / a) ** (1 / doublings) if doublings and a > 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fabric", default="cluster-1k-switched", help="fabrics, comma-separated")
    parser.add_argument("--cards", default="64,256,1024", help="card counts, comma-separated")
    parser.add_argument("--model", default="gpt3-175b")
    parser.add_argument("--tp", type=int, default=8)
    parser.add_argument("--pp", type=int, default=8)
    parser.add_argument("--zero", type=int, default=1)
    parser.add_argument("--microbatches", type=int, default=16)
    parser.add_argument("--seq", type=int, help="tokens per sequence (default: the model's)")
    parser.add_argument("--layers-per-node", type=int, default=12)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--plot", help="draw each fabric's largest run's share of peak as a waterfall (PNG)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child: FABRIC:CARDS, pickled to stdout
    args = parser.parse_args(argv)
    layout = {name: getattr(args, name) for name in LAYOUT if getattr(args, name) is not None}
    if args.one is not None:
        fabric, cards = args.one.rsplit(":", 1)
        sys.stdout.buffer.write(pickle.dumps(measure(fabric, int(cards), layout)))
        return 0
    report: dict[str, Any] = {}
    largest = []
    for fabric in args.fabric.split(","):
        rows, last = run_fabric(fabric, [int(text) for text in args.cards.split(",")], args, argv)
        if not rows:
            return 1
        largest.append(last)
        report[fabric] = {"rows": rows, "wall_growth": growth(rows, lambda r: r["wall_s"]["total"]),
                          "cpu_growth": growth(rows, lambda r: r["cpu_s"]),
                          "memory_growth": growth(rows, lambda r: r["peak_rss_mib"])}
        if report[fabric]["wall_growth"] is not None:
            print(f"per doubling of cards: wall x{report[fabric]['wall_growth']:.2f}, processor time "
                  f"x{report[fabric]['cpu_growth']:.2f}, peak memory x{report[fabric]['memory_growth']:.2f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)
    if args.plot:
        from oisa.report.plot import plot_waterfall

        plot_waterfall(largest, args.plot)
    return 0


def run_fabric(fabric: str, counts: list[int], args: argparse.Namespace,
               argv: list[str] | None) -> tuple[list[dict[str, Any]], Any]:
    """Each card count on ``fabric`` in a child process, printed as it ends: the rows, and the
    largest run's result (none and nothing if a child failed)."""
    print(f"{args.model}, tp {args.tp} x pp {args.pp} x dp, ZeRO {args.zero}, {args.microbatches} micro-batches, "
          f"on {fabric}, flow engine")
    print(f"{'cards':>6} {'nodes':>9} {'synth':>7} {'lower+run':>10} {'total':>8} {'cpu':>8} {'peak RSS':>9} "
          f"{'step':>10} {'peak share':>10}  lost to: kernels, exposed comm, memory/host, idle")
    rows, last = [], None
    for cards in counts:
        child = subprocess.run([sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]),
                                "--one", f"{fabric}:{cards}"], capture_output=True, check=False)
        if child.returncode:
            lines = child.stderr.decode(errors="replace").strip().splitlines() or ["(no message)"]
            print(f"\n{fabric}, {cards} cards: {lines[-1]}", file=sys.stderr)
            return [], None
        row, last = pickle.loads(child.stdout)
        rows.append(row)
        wall, parts = row["wall_s"], row["utilization"]
        print(f"{cards:>6,} {row['nodes']:>9,} {wall['synthesise']:>6.1f}s {wall['lower_and_run']:>9.1f}s "
              f"{wall['total']:>7.1f}s {row['cpu_s']:>7.1f}s {row['peak_rss_mib']:>6.0f}MiB "
              f"{row['step_ps'] / 1e12:>9.3f}s {row['peak_share']:>10.1%}  {parts['kernels_lost']:.1%}, "
              f"{parts['communication']:.1%}, {parts['other']:.1%}, {parts['idle']:.1%}")
    return rows, last


if __name__ == "__main__":
    raise SystemExit(main())
