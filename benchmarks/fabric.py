"""Point-to-point matrix over every ordered pair of cards of a fabric: what it costs to emulate.

For each of the N x (N - 1) pairs of GPU cards, one after another in one run: the latency of a
small write (data mode, every byte real, the link layer running) and the bandwidth of a large
write (timing mode). We report the emulator's wall time, its peak memory, and frames put on
the wire per wall second, and summarise the matrix (same server and across servers).

    python benchmarks/fabric.py [--fabric supernode-64] [--small 64] [--large 1MiB] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time

from oisa.fabric import FabricSpec, build, load_fabric
from oisa.sim import Kernel
from oisa.units import S, parse_size


def matrix(spec: FabricSpec, size: int, mode: str) -> tuple[dict[tuple[int, int], int], int, float]:
    """Write time of every ordered pair of GPU cards, frames on the wire, wall seconds."""
    cards = [c.id for c in spec.cards if c.server is not None] or [c.id for c in spec.cards]
    kernel = Kernel(seed=0)
    fabric = build(spec, kernel, mode=mode)  # type: ignore[arg-type]
    times: dict[tuple[int, int], int] = {}

    async def main() -> None:
        fabric.start()
        for src in cards:
            card = fabric.card(src)
            if mode == "data":
                card.memory.write(0, bytes(range(256)) * (size // 256 + 1))
            for dst in cards:
                if dst != src:
                    transfer = await card.dma_write(dst, 0, 0, size)
                    times[(src, dst)] = transfer.finished_ps - transfer.submitted_ps

    start = time.perf_counter()
    kernel.run(main)
    wall = time.perf_counter() - start
    return times, fabric.wire_totals()[0], wall


def summary(spec: FabricSpec, times: dict[tuple[int, int], int]) -> dict[str, list[float]]:
    server = {c.id: c.server for c in spec.cards}
    groups: dict[str, list[float]] = {"same server": [], "across servers": []}
    for (src, dst), value in times.items():
        groups["same server" if server[src] == server[dst] else "across servers"].append(value)
    return {name: [min(v), statistics.median(v), max(v)] for name, v in groups.items() if v}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fabric", default="supernode-64")
    parser.add_argument("--small", default="64", help="bytes of the latency write (data mode)")
    parser.add_argument("--large", default="1MiB", help="bytes of the bandwidth write (timing mode)")
    parser.add_argument("--json", help="also write the matrix and figures to this file")
    args = parser.parse_args(argv)
    spec = load_fabric(args.fabric)
    small, large = parse_size(args.small), parse_size(args.large)

    latency, small_frames, small_wall = matrix(spec, small, "data")
    bandwidth, large_frames, large_wall = matrix(spec, large, "timing")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux -> MiB
    pairs = len(latency)

    print(f"{args.fabric}: {pairs} ordered pairs of cards")
    print(f"{'pass':<34} {'wall':>8} {'frames':>10} {'frames/s':>10}")
    for label, wall, frames in ((f"latency, {small} B, data mode", small_wall, small_frames),
                                (f"bandwidth, {large} B, timing mode", large_wall, large_frames)):
        print(f"{label:<34} {wall:>7.1f}s {frames:>10} {frames / wall:>10,.0f}")
    print(f"{'both':<34} {small_wall + large_wall:>7.1f}s   peak memory {peak:,.0f} MiB")
    print()
    print(f"{'write of ' + str(small) + ' B (us)':<28} {'min':>8} {'median':>8} {'max':>8}")
    for name, (low, mid, high) in summary(spec, latency).items():
        print(f"  {name:<26} {low / 1e6:>8.3f} {mid / 1e6:>8.3f} {high / 1e6:>8.3f}")
    print(f"{'bandwidth of ' + str(large) + ' B (GB/s)':<28} {'min':>8} {'median':>8} {'max':>8}")
    for name, (low, mid, high) in summary(spec, bandwidth).items():
        rates = "".join(f" {large * S / time / 1e9:>8.1f}" for time in (high, mid, low))
        print(f"  {name:<26}{rates}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"fabric": args.fabric, "pairs": pairs, "wall_s": small_wall + large_wall, "peak_mib": peak,
                       "frames": small_frames + large_frames,
                       "latency_ps": {f"{s}-{d}": v for (s, d), v in latency.items()},
                       "large_write_ps": {f"{s}-{d}": v for (s, d), v in bandwidth.items()}}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
