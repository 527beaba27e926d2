"""What a Perfetto timeline costs: one point-to-point run with and without ``--trace``.

Three ways to run the same workload, each in a fresh process (so peak memory is its own):

* ``off``: no observer, what ``oisa run`` does without ``--trace``;
* ``hooks``: a do-nothing :class:`~oisa.sim.observe.Observer`, the price of the emulation's
  hook calls alone (any capture pays it);
* ``timeline``: :class:`~oisa.observe.timeline.Timeline` writing the trace.

Each is run ``--repeat`` times, the three interleaved. The table shows the best wall time and
the best CPU time of the process (the least disturbed by the rest of a shared machine), the
spread of wall times, the ratios to ``off``, peak memory, and the trace's size.

    python benchmarks/timeline.py [--fabric supernode-64] [--size 1MiB] [--no-data] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from oisa.fabric import load_fabric
from oisa.sim.observe import Observer
from oisa.units import parse_size
from oisa.workload import Run, run_p2p

VARIANTS = ("off", "hooks", "timeline")


def one(variant: str, fabric: str, size: int, mode: str, trace: Path) -> dict[str, float]:
    """Run the workload once in this process and measure it."""
    spec = load_fabric(fabric)
    observer: Observer | None = None
    if variant == "hooks":
        observer = Observer()
    elif variant == "timeline":
        from oisa.observe import Timeline  # loaded only here, as the CLI does

        observer = Timeline(trace, spec)
    start, cpu = time.perf_counter(), time.process_time()
    result = run_p2p(spec, Run(engine=mode, observer=observer), size=size)  # type: ignore[arg-type]
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"wall_s": wall, "cpu_s": cpu, "frames": result.frames,
            "peak_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "trace_bytes": trace.stat().st_size if variant == "timeline" else 0,
            "packets": getattr(observer, "packets", 0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fabric", default="supernode-64")
    parser.add_argument("--size", default="1MiB")
    parser.add_argument("--no-data", action="store_true", help="timing mode")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)  # a child process's single run
    parser.add_argument("--trace", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size, mode = parse_size(args.size), "timing" if args.no_data else "data"
    if args.one:
        print(json.dumps(one(args.one, args.fabric, size, mode, Path(args.trace))))
        return 0

    runs: dict[str, list[dict[str, float]]] = {variant: [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory() as scratch:
        trace = Path(scratch, "run.perfetto")
        for _ in range(args.repeat):
            for variant in VARIANTS:  # interleaved, so drift in the machine's load hits all three
                child = subprocess.run([sys.executable, __file__, "--one", variant, "--fabric", args.fabric, "--size",
                                        args.size, "--trace", str(trace)] + (["--no-data"] if args.no_data else []),
                                       capture_output=True, text=True)
                if child.returncode:
                    last = (child.stderr.strip().splitlines() or ["no output"])[-1]
                    raise SystemExit(f"the {variant} run failed: {last}")
                runs[variant].append(json.loads(child.stdout))

    best = {key: {variant: min(r[key] for r in results) for variant, results in runs.items()}
            for key in ("wall_s", "cpu_s")}
    print(f"{args.fabric}, p2p {args.size}, {mode} mode, {runs['off'][0]['frames']:.0f} frames, "
          f"best of {args.repeat} runs each")
    print(f"{'':<10} {'wall':>8} {'spread':>7} {'ratio':>6} {'cpu':>8} {'ratio':>6} {'peak memory':>12} {'trace':>10} "
          f"{'packets':>8}")
    for variant, results in runs.items():
        walls = [r["wall_s"] for r in results]
        wall, cpu, last = best["wall_s"][variant], best["cpu_s"][variant], results[-1]
        trace_size = f"{last['trace_bytes'] / 2**20:.2f} MiB" if last["trace_bytes"] else "-"
        print(f"{variant:<10} {wall:>7.2f}s {max(walls) - wall:>6.2f}s {wall / best['wall_s']['off']:>5.2f}x "
              f"{cpu:>7.2f}s {cpu / best['cpu_s']['off']:>5.2f}x {max(r['peak_MiB'] for r in results):>8.0f} MiB "
              f"{trace_size:>10} {last['packets']:>8.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"fabric": args.fabric, "size": size, "mode": mode, "runs": runs},
                                              indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
