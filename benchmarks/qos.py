"""What a QoS policy buys a latency-sensitive job beside a bandwidth-hungry one, and what it costs
the latter: every pair of victim and aggressor below, under each policy, on a fabric where they
share a link (two-switch-8's trunk by default).

The victim runs on cards 0 and 4 (one on each switch) in traffic class 7, the aggressor on the
other six in class 0; each runs alone and then beside the other (``oisa.workload.jobs``). The
table gives the victim's slowdown and p99 slowdown (its p99 latency together over alone: each
load's for loadstore, each transfer's for p2p) and the aggressor's slowdown, per policy: none
(one channel, in arrival order), weighted round robin at 1:1 and 8:1 (class 7 : class 0), and
strict priority for class 7.

    python benchmarks/qos.py [--fabric two-switch-8] [--engine timing] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from oisa.fabric import load_fabric
from oisa.workload.jobs import Job, job_set, run_jobs
from oisa.workload.run import Run

VICTIMS: dict[str, tuple[str, dict[str, Any]]] = {
    "loadstore 64 B": ("loadstore", {"accesses": 100, "background": 0}),
    "p2p 1 MiB": ("p2p", {"size": 1 << 20}),
}
AGGRESSORS: dict[str, tuple[str, dict[str, Any]]] = {
    "allreduce 4 MiB": ("allreduce", {"size": 4 << 20}),
    "alltoall 1 MiB": ("alltoall", {"size": 1 << 20}),
}
POLICIES: dict[str, tuple[dict[int, int] | None, str]] = {
    "none (FIFO)": (None, "weighted"),
    "weighted 1:1": ({7: 1, 0: 1}, "weighted"),
    "weighted 8:1": ({7: 8, 0: 1}, "weighted"),
    "strict": ({7: 1, 0: 1}, "strict"),
}
VICTIM_CARDS = (0, 4)
AGGRESSOR_CARDS = (1, 2, 3, 5, 6, 7)


def measure(fabric: str, engine: str, seed: int = 0) -> list[dict[str, Any]]:
    spec = load_fabric(fabric)
    rows = []
    for victim_name, (victim, victim_options) in VICTIMS.items():
        for aggressor_name, (aggressor, aggressor_options) in AGGRESSORS.items():
            for policy_name, (weights, arbitration) in POLICIES.items():
                jobs = job_set(spec, [Job("victim", victim, VICTIM_CARDS, victim_options, traffic_class=7),
                                      Job("aggressor", aggressor, AGGRESSOR_CARDS, aggressor_options)],
                               weights=weights, arbitration=arbitration)
                result = run_jobs(spec, Run(seed=seed, engine=engine), jobs)
                hit, hitter = result.jobs
                rows.append({"victim": victim_name, "aggressor": aggressor_name, "policy": policy_name,
                             "victim_slowdown": round(hit.slowdown, 4),
                             "victim_p99_alone_ps": hit.alone.latency.p99_ps if hit.alone.latency else None,
                             "victim_p99_together_ps": hit.together.latency.p99_ps if hit.together.latency else None,
                             "victim_p99_slowdown": round(hit.p99_slowdown, 4) if hit.p99_slowdown else None,
                             "aggressor_slowdown": round(hitter.slowdown, 4)})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    header = ("victim", "aggressor", "policy", "victim slowdown", "victim p99 slowdown", "aggressor slowdown")
    lines = [header] + [(row["victim"], row["aggressor"], row["policy"], f"{row['victim_slowdown']:.2f}x",
                         f"{row['victim_p99_slowdown']:.2f}x", f"{row['aggressor_slowdown']:.3f}x") for row in rows]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) if column < 3 else cell.rjust(width)
                               for column, (cell, width) in enumerate(zip(line, widths))) for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fabric", default="two-switch-8")
    parser.add_argument("--engine", default="timing", choices=("timing", "data"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    rows = measure(args.fabric, args.engine, args.seed)
    print(f"{args.fabric}, {args.engine} mode, seed {args.seed}: victim on cards {VICTIM_CARDS} (class 7), aggressor "
          f"on {AGGRESSOR_CARDS} (class 0)")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"fabric": args.fabric, "engine": args.engine, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
