"""What clusters of 64 to 102,400 cards cost to emulate on the flow engine, beside the timing engine.

Three workloads at 64, 256, 1,024, 4,096, 10,240, 16,384 and 102,400 cards: p2p (a 64 MiB
write and read back between cards in different servers), all-to-all of 64 MiB per card, and an
all-reduce of 1 GiB per card, both collectives as the collective library plans them (``oisa.ccl``:
the tuner's pick of algorithm, protocol and channels, which the table names). Every run is a
fresh process, so its peak memory (``ru_maxrss``) is its own, stopped after ``--timeout`` seconds
(default 600) and reported as not finished; the table gives the wall time (building the fabric
and the tuner's pricing apart) and the process's processor time (on a shared machine the wall time is not
the emulator's alone), the peak memory, the engine's events (rate computations for flow,
clock callbacks for timing), the virtual time and the figure the workload reports, then the
growth exponents of wall time against cards fitted over the flow runs (log-log least squares),
with and without building the fabric. The timing engine runs beside where it can in reasonable
time (``--timing-cards``, default 64).

The fabrics: ``--family switched`` (the default) is ``cluster-1k-switched`` made smaller
(two tiers) up to 4,096 cards, ``cluster-10k-switched`` (three tiers) at 10,240 and, made
larger, at 16,384, and ``cluster-100k-switched``; ``--family supernode`` is one OISA pod
(``supernode-1024`` made smaller) up to 1,024 cards, then ``cluster-10k-supernode`` and
``cluster-100k-supernode``.

Then two checks the targets ask for: on ``supernode-64`` the 64 MiB all-reduce on both engines
(the flow engine at least 20x faster, within 5%), and the shortcut that makes 100,000 cards
affordable (a collective's repeated steps computed once and skipped over) against running every
step one by one at 1,024 cards: the virtual times must be equal.

    python benchmarks/scale.py [--cards 64,256,...] [--workloads p2p,alltoall,allreduce]
                               [--family switched|supernode] [--timing-cards 64] [--timeout 600] [--json FILE]
    python benchmarks/scale.py --build      # only building the catalog's clusters: time and memory
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from oisa import catalog
from oisa.ccl import Call, kind, normalised_count
from oisa.fabric import FabricSpec, load_fabric
from oisa.plan import Collective, Plan
from oisa.units import GiB, MiB, S
from oisa.workload import Run, run_p2p
from oisa.workload.collectives import collective_ranks, plan_call
from oisa.workload.engines import ENGINES

CARDS = (64, 256, 1024, 4096, 10240, 16384, 102400)
WORKLOADS = ("p2p", "alltoall", "allreduce")
SIZES = {"p2p": 64 * MiB, "alltoall": 64 * MiB, "allreduce": GiB}
# Targets of issue 18 on this 2-core machine: (workload, cards) -> (wall seconds, peak GiB or None)
TARGETS = {("allreduce", 10240): (60.0, 4.0), ("allreduce", 102400): (600.0, 16.0), ("alltoall", 1024): (60.0, None)}
# flows x rounds an all-to-all may route here: 1,024 cards take 1e6 and 9 s; 4,096 cards (1.7e7) ran past 25 min
FLOW_STEP_BUDGET = 5e6
SPEEDUP_TARGET = 20.0
AGREEMENT = 0.05


def fabric(family: str, cards: int) -> FabricSpec:
    """The fabric of ``family`` with ``cards`` cards (see the module's docstring)."""
    if family == "supernode":
        if cards <= 1024:
            return load_fabric("supernode-1024", parameters={"servers": cards // 4, "servers_per_domain": cards // 4})
        name = "cluster-10k-supernode" if cards <= 16384 else "cluster-100k-supernode"
        return load_fabric(name) if cards in (10240, 102400) else load_fabric(name, parameters={"servers": cards // 4})
    if cards in (10240, 102400):
        return load_fabric("cluster-10k-switched" if cards == 10240 else "cluster-100k-switched")
    if cards > 8192:  # three tiers, as the 10k cluster, with more pods
        return load_fabric("cluster-10k-switched", parameters={"servers": cards // 8})
    servers = cards // 8
    scale_out = _table("cluster-1k-switched", "scale_out")
    per_leaf = min(64, servers)
    leaves = 8 * (servers // per_leaf)
    spines = next(s for s in range(1, per_leaf + 1) if per_leaf % s == 0 and leaves * per_leaf // s <= 128)
    scale_out.update(servers_per_leaf=per_leaf, uplinks=per_leaf, spines=spines)
    return load_fabric("cluster-1k-switched", parameters={"servers": servers, "scale_out": scale_out})


def _table(name: str, key: str) -> dict[str, Any]:
    return tomllib.loads(catalog.resolve("fabrics", name).read_text())["parameters"][key]


def one(workload: str, family: str, cards: int, engine: str) -> dict[str, Any]:
    """Run one configuration in this process and measure it."""
    started = time.perf_counter()
    spec = fabric(family, cards)
    built = time.perf_counter() - started
    run = Run(engine=engine)
    out: dict[str, Any] = {"workload": workload, "family": family, "cards": cards, "engine": engine,
                           "fabric": spec.name.split("[")[0], "build_s": round(built, 3)}
    if workload == "p2p":
        result = run_p2p(spec, run, size=SIZES["p2p"])
        out.update(virtual_ps=result.end_ps, figure=f"write {result.write.bandwidth / 1e9:.1f} GB/s", events=None)
    else:
        size = SIZES[workload]
        if engine == "flow" and workload == "alltoall" and cards * (cards - 1) > FLOW_STEP_BUDGET:
            out.update(skipped=f"{cards * (cards - 1):.1e} flows in distinct rounds, to route one by one: beyond this "
                               f"benchmark's budget")
            return out
        tuning = time.perf_counter()
        collective = library_plan(spec, workload, size)
        out["tune_s"] = round(time.perf_counter() - tuning, 3)
        outcome = ENGINES[engine].run_plan(spec, run, Plan((collective,)))
        duration = outcome.execution.end_ps
        factor = kind(workload).bus_factor(len(collective.ranks))
        info = collective.info
        out.update(virtual_ps=duration, events=outcome.events,
                   algorithm=f"{info['algorithm']}/{info['protocol']}/{info['channels']}",
                   figure=f"busbw {size * S / duration * factor / 1e9:.1f} GB/s")
    out["wall_s"] = round(time.perf_counter() - started, 3)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 3)
    out["peak_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def library_plan(spec: FabricSpec, collective: str, size: int, **forced: Any) -> Collective:
    """``collective`` of ``size`` bytes over every accelerator of ``spec``, as the collective
    library plans it: tuned, within what ``forced`` (algorithm, protocol, channels) fixes."""
    ranks = collective_ranks(spec)
    call = Call(collective, ranks, normalised_count(collective, size, 4, len(ranks)), "float32", "sum", 0)
    return plan_call(spec, call, **forced).collective


def shortcut(cards: int = 1024) -> dict[str, Any]:
    """The library's 1 GiB ring all-reduce over ``cards`` cards with repeated steps skipped and
    run one by one."""
    from oisa.flow import run_plan

    spec = fabric("switched", cards)
    collective = library_plan(spec, "allreduce", GiB, algorithm="ring")
    times = {}
    for fast in (True, False):
        started = time.perf_counter()
        run = run_plan(spec, Plan((collective,)), fast_forward=fast)
        times[fast] = (run.execution.end_ps, round(time.perf_counter() - started, 2), run.events)
    return {"cards": cards, "skipped_ps": times[True][0], "skipped_wall_s": times[True][1],
            "skipped_events": times[True][2], "one_by_one_ps": times[False][0],
            "one_by_one_wall_s": times[False][1], "one_by_one_events": times[False][2],
            "equal": times[True][0] == times[False][0]}


def supernode_64() -> dict[str, Any]:
    """The 64 MiB all-reduce over supernode-64's 64 cards on both engines."""
    spec = load_fabric("supernode-64")
    plan = Plan((library_plan(spec, "allreduce", 64 * MiB),))
    out: dict[str, Any] = {}
    for engine in ("flow", "timing"):
        started = time.perf_counter()
        outcome = ENGINES[engine].run_plan(spec, Run(engine=engine), plan)
        out[engine] = {"wall_s": round(time.perf_counter() - started, 3), "virtual_ps": outcome.execution.end_ps}
    out["speedup"] = round(out["timing"]["wall_s"] / out["flow"]["wall_s"], 1)
    out["error"] = (out["flow"]["virtual_ps"] - out["timing"]["virtual_ps"]) / out["timing"]["virtual_ps"]
    return out


def build_one(name: str) -> dict[str, Any]:
    started = time.perf_counter()
    spec = load_fabric(name)
    from oisa.fabric.routes import routes_of

    routes_of(spec)
    nodes = len(spec.cards) + len(spec.switches) + len(spec.nics)
    return {"fabric": name, "cards": len(spec.cards), "nodes": nodes, "links": len(spec.links),
            "build_s": round(time.perf_counter() - started, 2),
            "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _fresh(*args: str, timeout: float | None = None) -> dict[str, Any]:
    """This script's ``--one``/``--build-one`` in a fresh process, stopped after ``timeout``
    seconds; its JSON line."""
    try:
        done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"unfinished": f"not finished in {timeout:.0f} s"}
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def fitted_exponent(measured: list[tuple[int, float]]) -> float | None:
    """Slope of log(seconds) against log(cards) over ``(cards, seconds)``, least squares."""
    points = [(math.log(cards), math.log(seconds)) for cards, seconds in measured]
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)


def _row(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"| {r['workload']} | {r['cards']:,} | {r['engine']} | error: {r['error']} | | | | | | | |"
    if "unfinished" in r:
        return f"| {r['workload']} | {r['cards']:,} | {r['engine']} | {r['unfinished']} | | | | | | | |"
    if "skipped" in r:
        return f"| {r['workload']} | {r['cards']:,} | {r['engine']} | not run: {r['skipped']} | | | | | | | |"
    events = "" if r.get("events") is None else f"{r['events']:,}"
    target = TARGETS.get((r["workload"], r["cards"])) if r["engine"] == "flow" else None
    verdict = ""
    if target is not None:
        wall_ok = r["wall_s"] <= target[0]
        memory_ok = target[1] is None or r["peak_mib"] <= target[1] * 1024
        verdict = f"{'met' if wall_ok and memory_ok else 'MISSED'} ({target[0]:.0f} s" + (
            f", {target[1]:.0f} GiB)" if target[1] else ")")
    tune = f", {r['tune_s']:.2f}" if "tune_s" in r else ""
    return (f"| {r['workload']} | {r['cards']:,} | {r['engine']} | {r['wall_s']:.2f} ({r['build_s']:.2f}{tune}) | "
            f"{r['cpu_s']:.2f} | "
            f"{r['peak_mib']:.0f} | {events} | {r['virtual_ps'] / 1e6:,.1f} us | {r.get('algorithm', '')} | "
            f"{r['figure']} | {verdict} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", default=",".join(map(str, CARDS)))
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--family", choices=("switched", "supernode"), default="switched")
    parser.add_argument("--timing-cards", type=int, default=64, help="run timing mode beside up to this many cards")
    parser.add_argument("--timeout", type=float, default=600.0, help="stop a run after this many seconds")
    parser.add_argument("--json", help="also write every row to this file")
    parser.add_argument("--build", action="store_true", help="only build the catalog clusters, each in a fresh process")
    parser.add_argument("--one", nargs=4, metavar=("WORKLOAD", "FAMILY", "CARDS", "ENGINE"), help=argparse.SUPPRESS)
    parser.add_argument("--build-one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        workload, family, cards, engine = args.one
        print(json.dumps(one(workload, family, int(cards), engine)))
        return
    if args.build_one:
        print(json.dumps(build_one(args.build_one)))
        return
    if args.build:
        names = ("cluster-1k-switched", "supernode-1024", "cluster-10k-switched", "cluster-10k-supernode",
                 "cluster-100k-switched", "cluster-100k-supernode")
        rows = [_fresh("--build-one", name) for name in names]
        print("| fabric | cards | nodes | links | build s | peak MiB | bytes per node and link |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            per = r["peak_mib"] * 2**20 / (r["nodes"] + r["links"])
            print(f"| {r['fabric']} | {r['cards']:,} | {r['nodes']:,} | {r['links']:,} | {r['build_s']} | "
                  f"{r['peak_mib']} | {per:.0f} |")
        return
    rows = []
    print("| workload | cards | engine | wall s (build, tune) | processor s | peak MiB | events | virtual | pick "
          "| figure | target |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for workload in args.workloads.split(","):
        for cards in (int(c) for c in args.cards.split(",")):
            engines = ["flow"] + (["timing"] if cards <= args.timing_cards else [])
            for engine in engines:
                row = {"workload": workload, "cards": cards, "engine": engine,
                       **_fresh("--one", workload, args.family, str(cards), engine, timeout=args.timeout)}
                rows.append(row)
                print(_row(row), flush=True)
    for workload in args.workloads.split(","):
        ran = [r for r in rows if r["workload"] == workload and r["engine"] == "flow" and "wall_s" in r]
        whole = fitted_exponent([(r["cards"], r["wall_s"]) for r in ran])
        engine = fitted_exponent([(r["cards"], max(r["wall_s"] - r["build_s"], 1e-3)) for r in ran])
        if whole is not None and engine is not None:
            print(f"{workload}: on the flow engine wall time grows as cards^{whole:.2f}, the run without building the "
                  f"fabric as cards^{engine:.2f}")
    check = supernode_64()
    print(f"supernode-64, 64 MiB all-reduce: flow {check['flow']['wall_s']} s, timing {check['timing']['wall_s']} s "
          f"({check['speedup']}x, target {SPEEDUP_TARGET:.0f}x: "
          f"{'met' if check['speedup'] >= SPEEDUP_TARGET else 'MISSED'}); "
          f"virtual {check['flow']['virtual_ps'] / 1e6:.1f} against {check['timing']['virtual_ps'] / 1e6:.1f} us "
          f"({check['error'] * 100:+.2f}%, target within {AGREEMENT * 100:.0f}%: "
          f"{'met' if abs(check['error']) <= AGREEMENT else 'MISSED'})")
    skipped = shortcut()
    print(f"the shortcut at {skipped['cards']:,} cards (1 GiB ring all-reduce): {skipped['skipped_ps']:,} ps in "
          f"{skipped['skipped_wall_s']} s ({skipped['skipped_events']:,} events) skipping repeated steps, "
          f"{skipped['one_by_one_ps']:,} ps in {skipped['one_by_one_wall_s']} s ({skipped['one_by_one_events']:,} "
          f"events) one by one: {'equal' if skipped['equal'] else 'DIFFERENT'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "supernode_64": check, "shortcut": skipped}, indent=1))


if __name__ == "__main__":
    main()
