"""Ring all-reduce of 64 MiB per card over a 64-card fabric in timing mode: what it costs to emulate.

Every configuration (fabric x size) runs two ways, ``--repeat`` times each (interleaved), every run
in a fresh process so that peak memory (``ru_maxrss``) is that configuration's own:

* ``plain``: :func:`~oisa.workload.collectives.run_collective` without an observer; its wall
  time, CPU time and peak memory are the headline figures, and frames per wall second use them;
* ``counted``: the same run with an :class:`~oisa.sim.observe.Observer` that counts what goes on
  the wire, for the figures the result does not carry. Its wall time is shown beside the plain
  one (``observed``) so the counting's own cost is visible and kept out of the headline.

The table shows the best wall and CPU times of the plain runs (the least disturbed by the rest of
a shared machine) and their highest peak memory.

What is counted, all summed over every link hop: *frames* on the wire (the result's own count,
from each link's framing); *segments*, the timing-mode messages the emulator actually moves
(one stands for many messages of the card's usual size); *messages*, what those segments stand
for; and *events*, the callbacks the virtual-time clock ran. ``mem`` is the process's peak
resident set (``ru_maxrss``), ``run mem`` what the run added to it after the imports and the
fabric's loading. The targets (wall under 10 s, peak memory under 1 GiB) are those of the
64-card 64 MiB ring all-reduce on ``supernode-64``; the other rows are held to them as context.

    python benchmarks/collectives.py [--fabrics supernode-64,switched-64] [--sizes 1MiB,8MiB,64MiB]
                                     [--algorithm ring] [--seed 0] [--repeat 1] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import trio

from oisa.fabric import load_fabric
from oisa.sim.observe import Observer
from oisa.units import format_size, parse_size
from oisa.workload import Run
from oisa.workload.collectives import run_collective

WALL_TARGET_S = 10.0
MEMORY_TARGET_MIB = 1024.0
VARIANTS = ("plain", "counted")
HEADLINE = ("supernode-64", 64 * 2**20)  # the configuration the targets are set for


class WireCounter(Observer):
    """Counts the segments put on frame links, the messages they stand for, and the frames they
    take; it also finds the run's clock, to read how many events it ran once the run is over."""

    def __init__(self) -> None:
        self.segments = 0
        self.messages = 0
        self.frames = 0
        self.clock: trio.abc.Clock | None = None  # the kernel's virtual clock, found during the run

    def message(self, link: str, start_ps: int, end_ps: int, arrival_ps: int, message: Any, frames: int,
                wire_bytes: int) -> None:
        if self.clock is None:
            self.clock = trio.lowlevel.current_clock()
        self.segments += 1
        self.messages += message.count
        self.frames += frames

    @property
    def events(self) -> int:
        """Callbacks the virtual clock ran over the whole run (it counts them as ``events_run``)."""
        return self.clock.events_run if self.clock is not None else 0  # type: ignore[attr-defined]


def one(variant: str, fabric: str, size: int, algorithm: str, seed: int) -> dict[str, Any]:
    """Run one configuration once in this process and measure it."""
    spec = load_fabric(fabric)
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    counter = WireCounter() if variant == "counted" else None
    start, cpu = time.perf_counter(), time.process_time()
    run = Run(engine="timing", seed=seed, observer=counter)
    result = run_collective(spec, "allreduce", run, size=size, algorithm=algorithm)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures: dict[str, Any] = {
        "wall_s": wall, "cpu_s": cpu, "peak_MiB": peak_kib / 1024, "run_MiB": (peak_kib - before_kib) / 1024,
        "cards": len(result.ranks), "size": result.size, "algorithm": result.algorithm, "time_ps": result.time_ps,
        "busbw_GBps": result.busbw / 1e9, "algbw_GBps": result.algbw / 1e9, "frames": result.frames,
        "wire_bytes": result.wire_bytes,
    }
    if counter is not None:
        if counter.frames != result.frames:
            raise SystemExit(f"the counter saw {counter.frames} frames, the fabric {result.frames}")
        figures.update(segments=counter.segments, messages=counter.messages, events=counter.events)
    return figures


def measure(fabric: str, size: int, algorithm: str, seed: int, repeat: int) -> dict[str, list[dict[str, Any]]]:
    """Both variants of one configuration ``repeat`` times, interleaved, each run in its own process."""
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    for _ in range(repeat):
        for variant in VARIANTS:
            child = subprocess.run([sys.executable, __file__, "--one", variant, "--fabrics", fabric, "--sizes",
                                    str(size), "--algorithm", algorithm, "--seed", str(seed)],
                                   capture_output=True, text=True)
            if child.returncode:
                last = (child.stderr.strip().splitlines() or ["no output"])[-1]
                raise SystemExit(f"the {variant} run of {fabric}, {format_size(size)} failed: {last}")
            runs[variant].append(json.loads(child.stdout))
    return runs


def row(fabric: str, plain: list[dict[str, Any]], counted: list[dict[str, Any]]) -> dict[str, Any]:
    """One line of the table: the plain runs' best wall and CPU times (the least disturbed by the
    rest of a shared machine) and their highest peak memory; the counted run's counts."""
    wall = min(r["wall_s"] for r in plain)
    peak = max(r["peak_MiB"] for r in plain)
    passed = wall < WALL_TARGET_S and peak < MEMORY_TARGET_MIB
    return {"fabric": fabric, **plain[-1], "wall_s": wall, "cpu_s": min(r["cpu_s"] for r in plain), "peak_MiB": peak,
            "run_MiB": max(r["run_MiB"] for r in plain), "wall_runs_s": [r["wall_s"] for r in plain],
            "observed_wall_s": min(r["wall_s"] for r in counted), "segments": counted[-1]["segments"],
            "messages": counted[-1]["messages"], "events": counted[-1]["events"],
            "frames_per_s": plain[-1]["frames"] / wall, "events_per_s": counted[-1]["events"] / wall,
            "target": "PASS" if passed else "FAIL"}


HEADER = (f"{'fabric':<13} {'cards':>5} {'size':>6} {'virtual':>10} {'busbw':>7} {'wall':>7} {'cpu':>7} "
          f"{'observed':>8} {'mem':>7} {'run mem':>7} {'frames':>11} {'segments':>9} {'messages':>10} "
          f"{'events':>9} {'frames/s':>10} {'events/s':>9} {'target':>6}")
UNITS = (f"{'':<13} {'':>5} {'':>6} {'us':>10} {'GB/s':>7} {'s':>7} {'s':>7} {'s':>8} {'MiB':>7} {'MiB':>7} "
         f"{'':>11} {'':>9} {'':>10} {'':>9} {'wall':>10} {'wall':>9} {'':>6}")


def format_row(r: dict[str, Any]) -> str:
    return (f"{r['fabric']:<13} {r['cards']:>5} {format_size(r['size']):>6} {r['time_ps'] / 1e6:>10.1f} "
            f"{r['busbw_GBps']:>7.1f} {r['wall_s']:>7.2f} {r['cpu_s']:>7.2f} {r['observed_wall_s']:>8.2f} "
            f"{r['peak_MiB']:>7.0f} {r['run_MiB']:>7.1f} {r['frames']:>11,} {r['segments']:>9,} {r['messages']:>10,} "
            f"{r['events']:>9,} {r['frames_per_s']:>10,.0f} {r['events_per_s']:>9,.0f} {r['target']:>6}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fabrics", default="supernode-64,switched-64", help="comma-separated fabric names or paths")
    parser.add_argument("--sizes", default="1MiB,8MiB,64MiB", help="comma-separated sizes per card")
    parser.add_argument("--algorithm", default="ring", help="all-reduce algorithm (ring, tree, direct, in-switch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each variant; the table shows the best")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)  # a child process's single run
    args = parser.parse_args(argv)
    fabrics, sizes = args.fabrics.split(","), [parse_size(s) for s in args.sizes.split(",")]
    if args.one:
        print(json.dumps(one(args.one, fabrics[0], sizes[0], args.algorithm, args.seed)))
        return 0

    print(f"all-reduce ({args.algorithm}), timing mode, size per card, seed {args.seed}, best of {args.repeat}, "
          f"each run in a fresh process; targets: wall < {WALL_TARGET_S:.0f} s, "
          f"peak memory < {MEMORY_TARGET_MIB / 1024:.0f} GiB")
    print(HEADER)
    print(UNITS)
    rows = []
    for fabric in fabrics:
        for size in sizes:
            runs = measure(fabric, size, args.algorithm, args.seed, args.repeat)
            rows.append(row(fabric, runs["plain"], runs["counted"]))
            print(format_row(rows[-1]), flush=True)
    print("frames, segments, messages: summed over every link hop; a segment stands for many messages; "
          "events: clock callbacks run; observed: wall time of the counting run")
    for r in rows:
        if (r["fabric"], r["size"]) == HEADLINE and r["algorithm"] == "ring":
            print(f"target run ({r['cards']} cards, {format_size(r['size'])} per card, ring, {r['fabric']}): "
                  f"{r['wall_s']:.1f} s wall (< {WALL_TARGET_S:.0f} s), {r['peak_MiB']:.0f} MiB peak "
                  f"(< {MEMORY_TARGET_MIB:.0f} MiB): {r['target']}")
    if args.json:
        args.json.write_text(json.dumps({"algorithm": args.algorithm, "seed": args.seed, "repeat": args.repeat,
                                         "mode": "timing",
                                         "targets": {"wall_s": WALL_TARGET_S, "peak_MiB": MEMORY_TARGET_MIB},
                                         "runs": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
