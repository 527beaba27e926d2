"""The flow engine against the frame-level engines on what users run: the collective library's
plans and training steps, side by side in one run.

For every case it prints the virtual time on timing mode, on the flow engine, and on data mode
where that is affordable (``--data``), the flow engine's error against each, and the wall time
each engine took. Collectives run as ``oisa run -w COLLECTIVE -a ALGORITHM`` would (the library
of the cards plans them); training steps as ``oisa run -w training``.

    python benchmarks/engines.py [--quick] [--data]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from oisa.fabric import load_fabric
from oisa.workload import Run
from oisa.workload.collectives import run_collective
from oisa.workload.training import run_training

MiB = 1 << 20

# (fabric, parameters, collective, algorithm, sizes in MiB)
COLLECTIVES = [
    ("supernode-64", {"servers": 2, "memory_pools": []}, "alltoall", "direct", (1, 8, 32)),
    ("supernode-64", {"servers": 2, "memory_pools": []}, "allreduce", "direct", (1, 8)),
    ("supernode-64", None, "allreduce", "ring", (4, 64)),
    ("supernode-64", None, "allreduce", "tree", (4, 64)),
    ("supernode-64", None, "allreduce", "direct", (4, 64)),
    ("supernode-64", None, "allreduce", "hierarchical", (4, 64)),
    ("supernode-64", None, "alltoall", "direct", (4, 64)),
    ("switched-64", None, "allreduce", "auto", (4, 64)),
]
# (fabric, model, cards)
TRAINING = [
    ("supernode-64", "llama-7b", (0, 1)),
    ("supernode-64", "gpt2-xl", tuple(range(8))),
    ("switched-64", "gpt2-xl", tuple(range(8))),
]
DATA_BYTES = 64 * MiB  # data mode where all cards' inputs together stay within this


def _timed(call) -> tuple[int, float]:
    start = time.perf_counter()
    virtual = call()
    return virtual, time.perf_counter() - start


def _row(label: str, engines: dict[str, tuple[int, float]]) -> str:
    flow, _ = engines["flow"]
    cells = []
    for name in ("data", "timing"):
        if name in engines:
            virtual, _ = engines[name]
            cells.append(f"{virtual / 1e6:,.2f} | {(flow - virtual) / virtual:+.1%}")
        else:
            cells.append("| ")
    walls = " / ".join(f"{name} {wall:.1f}" for name, (_, wall) in engines.items())
    return f"| {label} | {flow / 1e6:,.2f} | {' | '.join(cells)} | {walls} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smallest size of each case, no training")
    parser.add_argument("--data", action="store_true", help=f"also data mode where all inputs fit in "
                                                             f"{DATA_BYTES // MiB} MiB (minutes per case)")
    args = parser.parse_args(argv)
    print("| case | flow us | data us | flow vs data | timing us | flow vs timing | wall s |")
    print("|---|---|---|---|---|---|---|")
    for fabric, parameters, collective, algorithm, sizes in COLLECTIVES:
        spec = load_fabric(fabric, parameters)
        for size in sizes[:1] if args.quick else sizes:
            engines: dict[str, tuple[int, float]] = {}
            modes = ["flow", "timing"]
            cards = sum(1 for c in spec.cards if c.device.role == "accelerator")
            if args.data and cards * size * MiB <= DATA_BYTES:
                modes.append("data")
            for mode in modes:
                engines[mode] = _timed(lambda mode=mode: run_collective(
                    spec, collective, Run(engine=mode), size=size * MiB, algorithm=algorithm).time_ps)  # noqa: B023 (called at once)
            print(_row(f"{collective} {algorithm}, {fabric} ({cards} cards), {size} MiB", engines), flush=True)
    if args.quick:
        return 0
    for fabric, model, cards in TRAINING:
        spec = load_fabric(fabric)
        engines = {mode: _timed(lambda mode=mode: run_training(spec, Run(engine=mode), model=model,  # noqa: B023
                                                               cards=list(cards)).step_ps)  # noqa: B023
                   for mode in ("flow", "timing")}
        print(_row(f"training step, {model}, {fabric}, cards {cards[0]}-{cards[-1]}", engines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
