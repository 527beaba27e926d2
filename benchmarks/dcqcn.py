"""DCQCN at 400 Gb/s: four flows joining and leaving one bottleneck, with three parameter sets.

The shape reproduced is Peng et al., "Barre: Empowering Simplified and Versatile Programmable
Congestion Control in High-Speed AI Clusters", USENIX ATC 2025, section 6.3, figure 12 and table
2: four clients on one ToR write to one server over 400 Gb/s BlueField-3 NICs, joining one by one
and then leaving one by one. With NVIDIA's default DCQCN parameters the server's link is poorly
used (197.7 Gb/s at one point) and the shares "remained unfair throughout the experiment"; with
the parameters of their table 2 (CNPs every 0-2 us, at most 1-4 us between cuts, cuts of 2-20%,
a 20-100 us increase timer, 8-20 Mb/s additive steps) "the system rapidly becomes stable and
achieves fair bandwidth sharing" near full use of the server's link.

Here four cards of switched-64 write to a fifth, joining every ``--join`` microseconds, each
``--size`` bytes, so they also leave one by one. The switch runs ECN marking without PFC (NVIDIA's
"roce lossy" mode; with PFC on, pauses share the link among the senders and DCQCN is not what is
measured) over its 160 MB shared buffer, so nothing drops and the shares are DCQCN's. Per
parameter set and per number of active flows, over the 50 us windows in which that many are
active: the link's use (what the flows deliver over what one flow alone gets), Jain's fairness
index (over the windows in which anything moved), and the worst flow's distance from its fair
share. The sets:

* ``connectx``: the NICs' factory defaults, what switched-64 ships (oisa.fabric.ethernet_config);
* ``tuned``: the middle of each range of Barre's table 2 (min_time_between_cnps 1 us,
  rate_reduce_monitor_period 2.5 us, rpg_min_dec_fac 89%, rpg_time_reset 60 us, rpg_ai_rate
  14 Mb/s), the rest as ``connectx``;
* ``paper``: the DCQCN paper's 40 Gb/s set (DCQCN_PAPER) with its 5 KB/200 KB marking thresholds.

    python benchmarks/dcqcn.py [--size 24MiB] [--join 250] [--sets connectx,tuned,paper]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).parents[1]))

from oisa.fabric import FabricSpec, load_fabric
from oisa.fabric.ethernet_config import DCQCN_PAPER, DcqcnConfig
from oisa.units import US, parse_size
from oisa.workload.incast import incast_cards
from tests.fabric.roce_support import Shares, bottleneck_shares

WINDOW_PS = 50 * US
SENDERS = 4
LOSSY = {"parameters.ethernet_switch.pfc.enabled": False}


def _dcqcn(config: DcqcnConfig) -> dict[str, object]:
    """``config`` as fabric overrides of switched-64's [parameters.nic.dcqcn]."""
    keys = {"cnp_interval": f"{config.cnp_interval_ps}ps", "g": config.g, "alpha_timer": f"{config.alpha_timer_ps}ps",
            "rate_timer": f"{config.rate_timer_ps}ps", "byte_counter": config.byte_counter,
            "fast_recovery": config.fast_recovery, "rate_ai": f"{config.rate_ai_bps}bps",
            "rate_hai": f"{config.rate_hai_bps}bps", "min_rate": f"{config.min_rate_bps}bps",
            "rate_decrease_interval": f"{config.rate_decrease_interval_ps}ps",
            "clamp_target_always": config.clamp_target_always, "min_dec_factor": config.min_dec_factor}
    return {f"parameters.nic.dcqcn.{key}": value for key, value in keys.items()}


TUNED = DcqcnConfig(cnp_interval_ps=1 * US, rate_decrease_interval_ps=2500 * 1000, min_dec_factor=0.89,
                    rate_timer_ps=60 * US, rate_ai_bps=14_000_000)
SETS: dict[str, dict[str, object]] = {
    "connectx": {},
    "tuned": _dcqcn(TUNED),
    "paper": {**_dcqcn(DCQCN_PAPER), "parameters.ethernet_switch.ecn.kmin": "5KB",
              "parameters.ethernet_switch.ecn.kmax": "200KB"},
}


class Phase(NamedTuple):
    """The windows in which ``active`` flows ran, while flows were joining (``stage`` "joining")
    or after all had (``"leaving"``): mean use of the link, mean Jain index, the worst miss."""

    stage: str
    active: int
    windows: int
    use: float
    jain: float
    worst_miss: float


def phases(shares: Shares, senders: list[int], capacity_gbps: float) -> list[Phase]:
    """Group the whole windows in which no flow starts or ends by how many flows were active and
    whether all had joined yet, and measure each group."""
    groups: dict[tuple[str, int], list[list[float]]] = {}
    bounds = list(zip(shares.started_ps, shares.finished_ps, strict=True))
    for window in range(max(shares.finished_ps) // shares.window_ps):
        start, end = window * shares.window_ps, (window + 1) * shares.window_ps
        if any(start < edge < end for pair in bounds for edge in pair):
            continue
        active = [card for card, (began, done) in zip(senders, bounds, strict=True) if began <= start and done >= end]
        if active:
            stage = "joining" if start < max(shares.started_ps) else "leaving"
            groups.setdefault((stage, len(active)), []).append([shares.gbps(card, window) for card in active])
    out = []
    for (stage, count), rows in sorted(groups.items(), key=lambda item: (item[0][0] != "joining", -item[0][1]
                                                                         if item[0][0] != "joining" else item[0][1])):
        fair = capacity_gbps / count
        use = sum(sum(row) for row in rows) / len(rows) / capacity_gbps
        moving = [row for row in rows if any(row)]  # Jain's index is undefined where nothing moved
        jain = sum(sum(row) ** 2 / (count * sum(r * r for r in row)) for row in moving) / len(moving) if moving else 1.0
        worst = max(abs(rate - fair) / fair for row in rows for rate in row)
        out.append(Phase(stage, count, len(rows), use, jain, worst))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="24MiB", help="bytes each flow writes (default 24MiB)")
    parser.add_argument("--join", type=int, default=250, help="microseconds between the flows' starts (default 250)")
    parser.add_argument("--sets", default=",".join(SETS), help=f"parameter sets, of {', '.join(SETS)}")
    args = parser.parse_args(argv)
    size = parse_size(args.size, "--size")
    chosen = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SETS]
    if unknown:
        parser.error(f"unknown set {unknown[0]!r} (known: {', '.join(SETS)})")
    print(f"{SENDERS} flows of {args.size} into one card of switched-64, joining {args.join} us apart; ECN, no PFC; "
          f"50 us windows")
    print(f"{'set':<9} {'phase':<9} {'flows':>5} {'windows':>7} {'link use':>8} {'Jain':>6} {'worst miss':>10}")
    for name in chosen:
        spec = _spec(SETS[name])
        receiver, senders, _ = incast_cards(spec, SENDERS)
        alone = bottleneck_shares(spec, senders[:1], receiver, [size], window_ps=WINDOW_PS)
        capacity = max(alone.gbps(senders[0], w) for w in range(len(alone.delivered[senders[0]])))
        starts = [index * args.join * US for index in range(SENDERS)]
        shares = bottleneck_shares(spec, senders, receiver, [size] * SENDERS, window_ps=WINDOW_PS, starts_ps=starts)
        for phase in phases(shares, senders, capacity):
            print(f"{name:<9} {phase.stage:<9} {phase.active:>5} {phase.windows:>7} {phase.use:>8.1%} "
                  f"{phase.jain:>6.3f} {phase.worst_miss:>10.1%}")
    return 0


def _spec(overrides: dict[str, object]) -> FabricSpec:
    return load_fabric("switched-64", {"servers": SENDERS + 1, "cards_per_server": 1, "devices": ["mi300x-like"]},
                       overrides={**LOSSY, **overrides})


if __name__ == "__main__":
    sys.exit(main())
