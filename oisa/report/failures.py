"""The failures scenario as text, JSON (keys: ``specs/cli-json.md``) and a plot: per fabric, what
fails and whether it stops the job, goodput against checkpoint interval, and the optima. And the
outages of a frame-level run (:func:`outage_rows`, :func:`outage_json`): what failed, when it was
detected and repaired, and the ranks a collective shrank away; nothing where there were none."""

from __future__ import annotations

from typing import Any

from oisa.errors import UsageError
from oisa.units import format_time
from oisa.workload.failures import CROSS_CHECKS, HOUR, LLAMA3, ClusterGoodput, FailuresResult, IntervalGoodput

__all__ = ["failures_json", "failures_text", "outage_json", "outage_rows", "plot_failures"]


def outage_json(outages: dict[str, Any] | None, failed_cards: tuple[int, ...] = (), detected_ps: int | None = None,
                *, shrinkable: bool = True) -> dict[str, Any]:
    """The JSON keys of a run's outages (none where it had none); ``shrinkable`` for a collective,
    which says what it shrank away."""
    if outages is None and not failed_cards:
        return {}
    if not shrinkable:
        return {"outages": outages}
    return {"outages": outages, "shrunk": {"failed_cards": list(failed_cards), "detected_ps": detected_ps}}


def outage_rows(outages: dict[str, Any] | None, failed_cards: tuple[int, ...] = (),
                detected_ps: int | None = None) -> list[tuple[str, str]]:
    """Report lines for a run's outages (none where it had none)."""
    rows = []
    if failed_cards:
        rows.append(("shrunk", f"cards {', '.join(map(str, failed_cards))} failed (detected at "
                               f"{format_time(detected_ps or 0)}); the survivors ran it again"))
    for event in (outages or {}).get("events", []):
        what = [f"{label} at {format_time(event[key])}" for key, label in
                (("failed_ps", "failed"), ("detected_ps", "detected"), ("repaired_ps", "repaired")) if key in event]
        rows.append(("outage", f"{event['component']} ({event['kind']}): {', '.join(what)}"))
    if outages and outages.get("resent"):
        rows.append(("rerouted", f"{outages['resent']} messages held at failed links left again by new routes"))
    return rows


def _duration(seconds: float) -> str:
    if seconds >= 2 * 24 * HOUR:
        return f"{seconds / (24 * HOUR):.3g} d"
    if seconds >= 2 * HOUR:
        return f"{seconds / HOUR:.3g} h"
    if seconds >= 120:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:.3g} s"


def _row_json(row: IntervalGoodput) -> dict[str, float]:
    return {"interval_s": row.interval_s, "goodput": row.goodput, "low": row.low, "high": row.high}


def failures_json(result: FailuresResult) -> dict[str, Any]:
    return {
        "scenario": "failures",
        "seed": result.seed,
        "horizon_s": result.horizon_s,
        "write_s": result.write_s,
        "restart_s": result.restart_s,
        "repair_s": result.repair_s,
        "replicas": result.replicas,
        "classes": [{"name": c.name, "mtbf_h": c.mtbf_h, "source": c.source, "assumption": c.assumption}
                    for c in result.classes.values()],
        "clusters": [{
            "fabric": c.inventory.fabric,
            "cards": c.inventory.cards,
            "counts": c.inventory.counts,
            "groups": [{"class": g.cls, "count": g.count, "interrupts": g.interrupts, "share": g.share}
                       for g in c.inventory.groups],
            "mtbi_s": c.mtbi_s,
            "expected_interruptions": c.expected_interruptions,
            "interruptions": c.interruptions,
            "degradations": c.degradations,
            "degraded_time": c.degraded_time,
            "degraded_worst": c.degraded_worst,
            "young_s": c.young_s,
            "daly_s": c.daly_s,
            "best": _row_json(c.best),
            "at_young": _row_json(c.at_young),
            "at_daly": _row_json(c.at_daly),
            "intervals": [_row_json(row) for row in c.rows],
            **_measured_json(c),
        } for c in result.clusters],
    }


def _measured_json(cluster: ClusterGoodput) -> dict[str, Any]:
    """What a measured degradation adds to a cluster (nothing where none was measured)."""
    if cluster.degraded_goodput is None:
        return {}
    return {"measured": [{"class": d.cls, "outage": d.outage, "fabric": d.fabric, "kept": d.kept}
                         for d in cluster.measured],
            "degraded_goodput": cluster.degraded_goodput}


def _measured_text(cluster: ClusterGoodput) -> list[str]:
    if cluster.degraded_goodput is None:
        return []
    lines = ["  measured frame by frame (ring all-reduce, timing engine) on "
             f"{cluster.measured[0].fabric}: bandwidth kept"]
    lines += [f"    {d.cls:<16}{d.kept:>8.1%}  ({d.outage})" for d in cluster.measured]
    lines.append(f"  best goodput less degradations at the measured pace: {cluster.degraded_goodput:.2%} "
                 f"(without: {cluster.best.goodput:.2%})")
    return lines


def failures_text(result: FailuresResult) -> str:
    lines = [f"Failures and goodput over {_duration(result.horizon_s)}, seed {result.seed}, "
             f"{result.replicas} schedules per fabric; checkpoint write {_duration(result.write_s)}, "
             f"restart {_duration(result.restart_s)}, repair of what only degrades {_duration(result.repair_s)}.",
             "Goodput is useful compute over wall time (a share: the step time is not needed for it).", ""]
    for cluster in result.clusters:
        lines += _cluster_text(cluster)
    intervals = [row.interval_s for row in result.clusters[0].rows] if result.clusters else []
    if intervals:
        lines.append("Goodput against checkpoint interval (mean of the schedules):")
        header = f"  {'fabric':<24}{'cards':>8}" + "".join(f"{_duration(i):>10}" for i in intervals)
        lines.append(header + f"{'best':>20}{'Young':>20}{'Daly':>20}")
        for c in result.clusters:
            cells = "".join(f"{row.goodput:>10.2%}" for row in c.rows)
            optima = "".join(f"{f'{o.goodput:.2%} @ {_duration(o.interval_s)}':>20}"
                             for o in (c.best, c.at_young, c.at_daly))
            lines.append(f"  {c.inventory.fabric:<24}{c.inventory.cards:>8}{cells}{optima}")
        lines.append("")
    lines.append(f"Rates per component (mean time between failures of one component); source unless said: "
                 f"{LLAMA3.source}:")
    for cls in result.classes.values():
        note = f" [{cls.assumption}]" if cls.assumption else ""
        lines.append(f"  {cls.name:<16}{cls.mtbf_h:>14,.0f} h  {cls.source.removeprefix(LLAMA3.source + ': ')}{note}")
    lines.append("Cross-checks (job MTBF elsewhere): " + "; ".join(
        text + " -> " + ", ".join(f"{n:,} cards {h:.3g} h" for n, h in figures.items())
        for text, figures in CROSS_CHECKS))
    return "\n".join(lines)


def _cluster_text(c: ClusterGoodput) -> list[str]:
    inv = c.inventory
    counts = ", ".join(f"{key.replace('_', ' ')} {value:,}" for key, value in inv.counts.items())
    lines = [f"{inv.fabric}: {counts}",
             f"  job MTBI {_duration(c.mtbi_s)}; interruptions expected {c.expected_interruptions:.1f}, "
             f"drawn {c.interruptions:.1f}; degradations drawn {c.degradations:.1f}, "
             f"some bandwidth lost {c.degraded_time:.1%} of the time, the worst-placed card's loss averaged "
             f"{c.degraded_worst:.2%}"]
    for group in inv.groups:
        what = "interrupts" if group.interrupts else f"degrades: loses {group.share:.3g} of its stage's bandwidth"
        lines.append(f"    {group.cls:<16}{group.count:>10,}  {what}")
    lines.append(f"  optimum: Young {_duration(c.young_s)}, Daly {_duration(c.daly_s)}, simulation's best "
                 f"{_duration(c.best.interval_s)} ({c.best.goodput:.2%}; at Young {c.at_young.goodput:.2%})")
    lines += _measured_text(c)
    lines.append("")
    return lines


def plot_failures(result: FailuresResult, path: str) -> None:
    """Goodput against checkpoint interval, one line per fabric, the optima marked."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError("needs matplotlib: pip install 'oisa[plot]'", parameter="plot") from None
    matplotlib.use("Agg")  # files only: no screen needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for c in result.clusters:
        rows = sorted(c.rows, key=lambda row: row.interval_s)
        [line] = axes.plot([row.interval_s / 60 for row in rows], [row.goodput for row in rows], marker="o",
                           label=f"{c.inventory.fabric} ({c.inventory.cards:,} cards)")
        axes.plot([c.best.interval_s / 60], [c.best.goodput], marker="*", markersize=12, color=line.get_color())
        axes.axvline(c.daly_s / 60, color=line.get_color(), linestyle=":", linewidth=1)
    axes.set_xscale("log")
    axes.set_xlabel("checkpoint interval (min); star: best found, dotted: Daly's optimum")
    axes.set_ylabel("goodput (useful compute / wall time)")
    axes.set_title(f"Goodput over {_duration(result.horizon_s)}, seed {result.seed}")
    axes.legend(fontsize="small")
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=110)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}", parameter="plot") from None
    finally:
        plt.close(figure)
