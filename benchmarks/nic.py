"""The switched baseline's NICs: traffic both ways through a NIC against one way, and what the
frame engines' Ethernet ports cost in processor time.

``ratios``: cards 0 and 4 of ``switched-64`` (two servers, so every byte crosses both NICs and
the leaf) exchange ``size`` bytes both ways (``sendrecv``) and send them one way
(``broadcast``), direct algorithm, simple protocol, one channel, in the timing and flow engines.
A PCIe Gen5 x16 link (63 GB/s) feeds each 400G NIC (50 GB/s): both ways should take as long as
one way, as the flow engine says, when the NIC takes in only what it can send
(:mod:`oisa.sim.credited`).

``cpu``: processor time of commands whose cost is the Ethernet ports (each run in a process of
its own, measured by ``resource.getrusage(RUSAGE_CHILDREN)``).

    python benchmarks/nic.py [ratios] [cpu] [--sizes 4,16,64] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from oisa.fabric import load_fabric
from oisa.units import MiB
from oisa.workload.collectives import run_collective
from oisa.workload.run import Run

CPU_COMMANDS = (
    ("oisa run switched-64 -w allreduce --size 64MiB --no-data",
     [sys.executable, "-m", "oisa", "run", "switched-64", "-w", "allreduce", "--size", "64MiB", "--no-data"]),
    ("oisa run switched-64 -w training --model gpt2-xl --cards 0,4 --no-data",
     [sys.executable, "-m", "oisa", "run", "switched-64", "-w", "training", "--model", "gpt2-xl", "--cards", "0,16",
      "--no-data"]),
)


def ratios(sizes: list[int]) -> list[dict[str, Any]]:
    spec = load_fabric("switched-64")
    rows = []
    for size in sizes:
        row: dict[str, Any] = {"size_mib": size}
        for engine in ("timing", "flow"):
            for collective in ("sendrecv", "broadcast"):
                result = run_collective(spec, collective, Run(engine=engine), size=size * MiB, cards=[0, 4],
                                        algorithm="direct", protocol="simple", channels=1)
                row[f"{engine}_{collective}_us"] = result.time_ps / 1e6
            row[f"{engine}_ratio"] = row[f"{engine}_sendrecv_us"] / row[f"{engine}_broadcast_us"]
        rows.append(row)
    return rows


def cpu() -> list[dict[str, Any]]:
    rows = []
    for label, command in CPU_COMMANDS:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        rows.append({"command": label, "cpu_s": round(after.ru_utime + after.ru_stime
                                                      - before.ru_utime - before.ru_stime, 1)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="*", choices=["ratios", "cpu"], default=[])
    parser.add_argument("--sizes", default="4,16,64", help="MiB, comma-separated (ratios)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    parts = args.parts or ["ratios", "cpu"]
    out: dict[str, Any] = {}
    if "ratios" in parts:
        out["ratios"] = ratios([int(size) for size in args.sizes.split(",")])
        print("| size | timing both ways (us) | timing one way (us) | timing ratio | flow both ways (us) "
              "| flow one way (us) | flow ratio |")
        print("|---|---|---|---|---|---|---|")
        for row in out["ratios"]:
            print(f"| {row['size_mib']} MiB | {row['timing_sendrecv_us']:,.2f} | {row['timing_broadcast_us']:,.2f} "
                  f"| {row['timing_ratio']:.3f} | {row['flow_sendrecv_us']:,.2f} | {row['flow_broadcast_us']:,.2f} "
                  f"| {row['flow_ratio']:.3f} |", flush=True)
    if "cpu" in parts:
        out["cpu"] = cpu()
        print("\n| command | processor time (s) |")
        print("|---|---|")
        for row in out["cpu"]:
            print(f"| `{row['command']}` | {row['cpu_s']} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
