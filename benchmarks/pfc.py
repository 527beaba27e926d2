"""PFC's pause coupling on the flow engine against timing mode (issue 20, item 4).

On ``switched-64`` (PFC on every priority, RoCE-mode ECN; DCQCN on as shipped, and off), an
N-to-1 incast with a victim flow from the first sender to an idle card (``oisa scenario
incast``'s cards), and an all-to-all of 8 cards, all starting at once. Per case: the incast
flows' median and last completion, the victim's slowdown (beside the incast over alone), and
the all-to-all's median and 99th percentile, from timing mode, from the flow engine, and from
the flow engine without the coupling (max-min fair rates only), with the flow engine's error
against timing mode. One run measures all three side by side.

    python benchmarks/pfc.py [--sizes 512KiB,2MiB,8MiB] [--senders 4,8]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))

from oisa.fabric import load_fabric
from oisa.fabric.ethernet_config import DcqcnConfig
from oisa.fabric.spec import FabricSpec
from oisa.flow import run_plan
from oisa.plan import PlanBuilder, Send
from oisa.units import parse_size
from oisa.workload import Run
from oisa.workload.engines import ENGINES
from oisa.workload.incast import alltoall_cards, incast_cards

_STRIDE = 64 << 20  # each write lands in a region of its own at its receiver


def times(spec: FabricSpec, engine: str, flows: list[tuple[int, int, int]]) -> list[int]:
    """Each flow's completion (ps after the start), all starting at once, on ``engine``: timing
    mode, the flow engine, or the flow engine without pause coupling (``flow, uncoupled``)."""
    builder, offsets = PlanBuilder(), {}
    for src, dst, size in flows:
        offsets[dst] = offsets.get(dst, -_STRIDE) + _STRIDE
        builder.add(Send(rank=src, peer=dst, size=size, local=0, remote=offsets[dst]))
    plan = builder.build()
    if engine == "timing":
        execution = ENGINES["timing"].run_plan(spec, Run(engine="timing"), plan).execution
    else:
        execution = run_plan(spec, plan, pauses=engine == "flow").execution
    return [int(execution.finished[index] - execution.start_ps) for index in range(len(plan.ops))]


ENGINE_NAMES = ("timing", "flow", "flow, uncoupled")


def incast_row(spec: FabricSpec, senders: int, size: int) -> dict[str, tuple[float, float, float]]:
    """Per engine: the incast flows' median and last completion (us) and the victim's slowdown."""
    receiver, chosen, idle = incast_cards(spec, senders)
    assert idle is not None
    flows, victim = [(src, receiver, size) for src in chosen], (chosen[0], idle, size)
    out = {}
    for engine in ENGINE_NAMES:
        *hot, beside = times(spec, engine, [*flows, victim])
        alone = times(spec, engine, [victim])[0]
        out[engine] = (float(np.median(hot)) / 1e6, max(hot) / 1e6, beside / alone)
    return out


def alltoall_row(spec: FabricSpec, cards: int, size: int) -> dict[str, tuple[float, float]]:
    """Per engine: an all-to-all's median and 99th-percentile completion (us)."""
    chosen = alltoall_cards(spec, cards)
    flows = [(src, dst, size) for src in chosen for dst in chosen if src != dst]
    return {engine: (float(np.percentile(done, 50)) / 1e6, float(np.percentile(done, 99)) / 1e6)
            for engine in ENGINE_NAMES for done in [times(spec, engine, flows)]}


def _error(model: float, reference: float) -> str:
    return f"{model / reference - 1:+.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="512KiB,2MiB,8MiB", help="bytes per flow (default 512KiB,2MiB,8MiB)")
    parser.add_argument("--senders", default="4,8", help="incast senders (default 4,8)")
    args = parser.parse_args()
    sizes = [parse_size(text) for text in args.sizes.split(",")]
    senders = [int(text) for text in args.senders.split(",")]
    shipped = load_fabric("switched-64")
    without = dataclasses.replace(shipped, nics=tuple(dataclasses.replace(nic, dcqcn=DcqcnConfig(enabled=False))
                                                      for nic in shipped.nics))
    print("incast on switched-64, PFC on; times in us; victim = its time beside the incast over alone")
    print("| DCQCN | senders | size | timing p50 / last / victim | flow p50 / last / victim | flow error "
          "(last, victim) | uncoupled victim |")
    print("|---|---|---|---|---|---|---|")
    for dcqcn, spec in (("on", shipped), ("off", without)):
        for count in senders:
            for size in sizes:
                row = incast_row(spec, count, size)
                (tp, tl, tv), (fp, fl, fv), (_, _, uv) = (row[name] for name in ENGINE_NAMES)
                print(f"| {dcqcn} | {count} | {size >> 10} KiB | {tp:.1f} / {tl:.1f} / {tv:.2f}x "
                      f"| {fp:.1f} / {fl:.1f} / {fv:.2f}x | {_error(fl, tl)}, {_error(fv, tv)} | {uv:.2f}x |",
                      flush=True)
    print()
    print("all-to-all of 8 cards on switched-64 (DCQCN on); times in us")
    print("| size | timing p50 / p99 | flow p50 / p99 | flow error (p50, p99) | uncoupled p50 / p99 |")
    print("|---|---|---|---|---|")
    for size in sizes:
        row = alltoall_row(shipped, 8, size)
        (tp, t99), (fp, f99), (up, u99) = (row[name] for name in ENGINE_NAMES)
        print(f"| {size >> 10} KiB | {tp:.1f} / {t99:.1f} | {fp:.1f} / {f99:.1f} "
              f"| {_error(fp, tp)}, {_error(f99, t99)} | {up:.1f} / {u99:.1f} |", flush=True)


if __name__ == "__main__":
    main()
