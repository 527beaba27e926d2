"""Point to point in data mode: what one verified transfer costs to emulate.

``oisa run supernode-64 --size 1MiB`` in a script: card 0 writes 1 MiB of random bytes into a
card of another server and reads them back, every frame built, CRC-checked and carried through
the link layer, and the bytes compared. We report the run's wall and CPU time, best of
``--repeat`` runs in this process (the fabric file is loaded once, before the clock starts; the
interpreter's start and oisa's imports are left out, as they are the same for every run), and
from the result the frames on the wire and frames per wall second. Every run must verify.

    python benchmarks/p2p.py [--fabric supernode-64] [--size 1MiB] [--repeat 3] [--seed 1] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from oisa.fabric import load_fabric
from oisa.units import format_size, parse_size
from oisa.workload import Run
from oisa.workload.p2p import run_p2p


def measure(fabric: str, size: int, repeat: int, seed: int) -> dict[str, Any]:
    spec = load_fabric(fabric)
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        result = run_p2p(spec, Run(seed=seed, engine="data"), size=size)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        if not result.verified:
            raise SystemExit("the transfer did not verify")
    wall = min(walls)
    return {"fabric": fabric, "size": size, "seed": seed, "wall_s": wall, "cpu_s": min(cpus), "wall_runs_s": walls,
            "frames": result.frames, "frames_per_s": result.frames / wall, "write_ps": result.write.time_ps,
            "read_ps": result.read.time_ps, "verified": result.verified}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fabric", default="supernode-64")
    parser.add_argument("--size", default="1MiB")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the figures are the best")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    r = measure(args.fabric, parse_size(args.size), args.repeat, args.seed)
    print(f"p2p of {format_size(r['size'])} on {r['fabric']}, data mode, seed {r['seed']}, best of {args.repeat}")
    print(f"{'wall':>8} {'cpu':>8} {'frames':>8} {'frames/s':>10} {'write':>10} {'read':>10} verified")
    print(f"{r['wall_s']:>7.2f}s {r['cpu_s']:>7.2f}s {r['frames']:>8,} {r['frames_per_s']:>10,.0f} "
          f"{r['write_ps'] / 1e6:>8.3f}us {r['read_ps'] / 1e6:>8.3f}us {r['verified']}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(r, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
