"""What a packet capture costs: one point-to-point run without observers, with an observer that
does nothing (every hook called), and with a pcapng capture of every frame.

Each variant runs ``--repeat`` times; the table shows the best wall time, its ratio to the run
without observers, and the packets and bytes the capture wrote.

    python benchmarks/capture.py [--fabric pair] [--size 1MiB] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from oisa.fabric import load_fabric
from oisa.observe import Capture
from oisa.sim.observe import Observer
from oisa.units import parse_size
from oisa.workload import Run, run_p2p


def best_wall(run: Callable[[], object], repeat: int) -> float:
    walls = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        walls.append(time.perf_counter() - start)
    return min(walls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fabric", default="pair")
    parser.add_argument("--size", default="1MiB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    spec, size = load_fabric(args.fabric), parse_size(args.size)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.pcapng"
        packets = 0

        def captured() -> None:
            nonlocal packets
            capture = Capture(path)
            run_p2p(spec, Run(seed=1, observer=capture), size=size)
            packets = capture.packets

        walls = {
            "no observer": best_wall(lambda: run_p2p(spec, Run(seed=1), size=size), args.repeat),
            "observer that does nothing": best_wall(lambda: run_p2p(spec, Run(seed=1, observer=Observer()), size=size),
                                                    args.repeat),
            "pcapng capture, every frame": best_wall(captured, args.repeat),
        }
        file_bytes = path.stat().st_size
    base = walls["no observer"]
    print(f"{spec.name}, p2p {args.size} (write and read back), data mode, best of {args.repeat}")
    print(f"{'variant':<30} {'wall s':>8} {'ratio':>7}")
    for name, wall in walls.items():
        print(f"{name:<30} {wall:8.3f} {wall / base:7.2f}")
    print(f"capture: {packets} packets, {file_bytes / 2**20:.1f} MiB")
    if args.json:
        args.json.write_text(json.dumps({"fabric": spec.name, "size": size, "repeat": args.repeat, "wall_s": walls,
                                         "packets": packets, "file_bytes": file_bytes}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
