"""A study of 32 points run three ways: serially in one process, on a pool of 2 local processes
(``-j 2``) and on a Dask LocalCluster of 2 worker processes; the speedup of each over serial,
and what each costs per point beyond the runs themselves.

The points are all-reduces on ``mesh-8`` in timing mode (4 sizes from 128 MiB to 1 GiB x 2
channel counts x 4 seeds), 0.4-3 s each alone: points of a real study take seconds to minutes,
and what is measured is the executors, not the start of a process. (The sizes were 16 to
128 MiB until the timing engine's speed work brought those points to 0.16 s, less than what a
fresh worker process spends warming its caches.) For each way it prints:

- start: seconds to start the executor (processes, a cluster), and total: start, run, stop;
- run: wall seconds from the first point submitted to the last recorded, and the speedup of
  that over serial's (and of total over serial's total);
- the points' own wall and processor seconds, as each measured itself where it ran: processor
  time stays the same whatever runs it; wall time grows when processes share too few cores;
- overhead per point: (run wall x workers - the points' own wall) / points: pickling,
  scheduling, writing the records, and a worker's idle time at the end.

A shared machine gives less than its cores: the benchmark first times a pure-Python loop on 1
and on 2 processes, the most any executor can gain here now (the ceiling). Each way runs in a
fresh output folder (nothing resumed).

    python benchmarks/study.py [--seeds N] [--sizes N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from oisa.study import DaskCluster, InProcess, LocalPool, load_study, run_study

STUDY = """
name = "bench"
engines = ["timing"]
seeds = [{seeds}]

[[fabrics]]
fabric = "mesh-8"

[[workloads]]
workload = "allreduce"
[workloads.grid]
size = [{sizes}]
channels = [1, 2]
"""
SIZES = ('"128MiB"', '"256MiB"', '"512MiB"', '"1GiB"')
WAYS = {"serial": (InProcess, 1), "-j 2": (lambda: LocalPool(2), 2),
        "LocalCluster(2)": (lambda: DaskCluster(local_workers=2), 2)}


def study_text(seeds: int, sizes: int) -> str:
    return STUDY.format(seeds=", ".join(str(s) for s in range(seeds)), sizes=", ".join(SIZES[:sizes]))


def _burn(count: int) -> float:
    total = 0
    for i in range(count):
        total += i * i
    return float(total)


def ceiling(count: int = 10_000_000) -> float:
    """How much faster 4 equal pure-Python loops end on 2 processes than on 1, now."""
    start = time.perf_counter()
    for _ in range(4):
        _burn(count)
    alone = time.perf_counter() - start
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_burn, [1000, 1000]))  # started before timing
        start = time.perf_counter()
        list(pool.map(_burn, [count] * 4))
        return alone / (time.perf_counter() - start)


def measure(text: str, ways: list[str]) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "bench.toml"
        path.write_text(text)
        for way in ways:
            study = load_study(path, output=Path(scratch) / way)
            make, workers = WAYS[way]
            begin = time.perf_counter()
            with make() as executor:
                started = time.perf_counter()
                report = run_study(study, executor)
                ran = time.perf_counter() - started
            total = time.perf_counter() - begin
            records = [json.loads(p.read_text()) for p in (Path(scratch) / way / "points").glob("*.json")]
            assert report.ok == report.points == len(records), f"{way}: {report.failed} failed"
            own = sum(r["wall_s"] for r in records)
            rows.append({"way": way, "points": report.points, "workers": workers, "start_s": round(started - begin, 2),
                         "run_s": round(ran, 2), "total_s": round(total, 2), "points_wall_s": round(own, 2),
                         "points_cpu_s": round(sum(r["cpu_s"] for r in records), 2),
                         "overhead_ms_per_point": round((ran * workers - own) / report.points * 1e3, 1)})
    for row in rows:
        row["speedup_run"] = round(rows[0]["run_s"] / row["run_s"], 2)
        row["speedup_total"] = round(rows[0]["total_s"] / row["total_s"], 2)
    return rows


def table(rows: list[dict], limit: float) -> str:
    lines = [f"ceiling now (a pure-Python loop, 2 processes against 1): {limit:.2f}x", "",
             "| way | points | start (s) | run (s) | total (s) | speedup run / total | points' own wall / cpu (s) "
             "| overhead per point (ms) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['way']} | {r['points']} | {r['start_s']:.1f} | {r['run_s']:.1f} | {r['total_s']:.1f} | "
                     f"{r['speedup_run']:.2f}x / {r['speedup_total']:.2f}x | {r['points_wall_s']:.1f} / "
                     f"{r['points_cpu_s']:.1f} | {r['overhead_ms_per_point']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=4, help="seeds per point of the grid (default 4: 32 points)")
    parser.add_argument("--sizes", type=int, default=4, choices=range(1, 5), help="sizes (default 4)")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args()
    limit = ceiling()
    rows = measure(study_text(args.seeds, args.sizes), list(WAYS))
    print(table(rows, limit))
    if args.json:
        args.json.write_text(json.dumps({"ceiling": round(limit, 2), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
