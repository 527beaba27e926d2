"""Two fabrics, one workload: the results side by side and their ratios.

Every kind of result names its headline figures (:func:`headlines`); the comparison lays them
side by side with the ratio B / A, so one table serves every workload.
"""

from __future__ import annotations

from typing import Any

from oisa.errors import UsageError
from oisa.report.collectives import collective_json, collective_text
from oisa.report.loadstore import loadstore_json, loadstore_text
from oisa.report.p2p import p2p_json, p2p_text
from oisa.report.training import training_json, training_text, training_title
from oisa.units import format_size, format_time
from oisa.workload import P2PResult
from oisa.workload.collectives import CollectiveResult
from oisa.workload.loadstore import LoadStoreResult
from oisa.workload.registry import Headline, Renderer, workloads
from oisa.workload.training import TrainingResult

__all__ = ["Headline", "comparison_json", "comparison_text", "formatted", "headlines", "result_json", "result_text"]


def formatted(headline: Headline) -> str:
    """A headline figure in its unit."""
    if headline.kind == "time":
        return format_time(headline.value)
    if headline.kind == "rate":
        return f"{headline.value / 1e9:.2f} GB/s"
    if headline.kind == "per_s":
        return f"{headline.value:,.0f}/s"
    return f"{headline.value:.1%}"


def _p2p_title(r: P2PResult) -> str:
    return f"p2p, card {r.src} -> card {r.dst}, {format_size(r.size)}, seed {r.seed}, {r.mode} mode"


def _p2p_headlines(r: P2PResult) -> list[Headline]:
    return [Headline("write_time", "write time", r.write.time_ps, "time"),
            Headline("write_bandwidth", "write bandwidth", r.write.bandwidth, "rate"),
            Headline("read_time", "read time", r.read.time_ps, "time"),
            Headline("read_bandwidth", "read bandwidth", r.read.bandwidth, "rate")]


def _collective_title(r: CollectiveResult) -> str:
    return (f"{r.collective} ({r.algorithm}), {format_size(r.size)} of {r.dtype}, {len(r.ranks)} cards, "
            f"seed {r.seed}, {r.mode} mode")


def _collective_headlines(r: CollectiveResult) -> list[Headline]:
    return [Headline("time", "time", r.time_ps, "time"), Headline("algbw", "algbw", r.algbw, "rate"),
            Headline("busbw", "busbw", r.busbw, "rate")]


def _loadstore_title(r: LoadStoreResult) -> str:
    return (f"loadstore, card {r.src} -> card {r.dst}, {format_size(r.size)} accesses, {r.accesses} of each, "
            f"{len(r.background)} background cards, seed {r.seed}, {r.mode} mode")


def _loadstore_headlines(r: LoadStoreResult) -> list[Headline]:
    busy = r.loaded or r.idle
    phase = "loaded" if r.loaded else "idle"
    return [Headline("load_p50_idle", "load p50, idle", r.idle["load"].p50_ps, "time"),
            Headline("store_p50_idle", "store p50, idle", r.idle["store"].p50_ps, "time"),
            Headline(f"load_p99_{phase}", f"load p99, {phase}", busy["load"].p99_ps, "time"),
            Headline(f"store_p99_{phase}", f"store p99, {phase}", busy["store"].p99_ps, "time")]


def _training_headlines(r: TrainingResult) -> list[Headline]:
    return [Headline("step_time", "step time", r.step_ps, "time"),
            Headline("tokens_per_s", "tokens", r.tokens_per_s, "per_s"),
            Headline("exposed_communication", "exposed communication", r.exposed_comm_ps, "time"),
            Headline("scaling_efficiency", "scaling efficiency", r.scaling_efficiency, "share"),
            Headline("peak_share", "share of peak", r.peak_share, "share")]


# The built-in workloads' results; a plug-in workload brings its own Renderer in its declaration.
_RENDERERS: dict[type, Renderer] = {
    P2PResult: Renderer(p2p_json, p2p_text, _p2p_title, _p2p_headlines),
    CollectiveResult: Renderer(collective_json, collective_text, _collective_title, _collective_headlines),
    LoadStoreResult: Renderer(loadstore_json, loadstore_text, _loadstore_title, _loadstore_headlines),
    TrainingResult: Renderer(training_json, training_text, training_title, _training_headlines),
}


def _kind(result: Any) -> Renderer:
    renderer = _RENDERERS.get(type(result))
    if renderer is not None:
        return renderer
    for declared in workloads().values():
        if declared.result is type(result) and declared.renderer is not None:
            return declared.renderer
    raise UsageError(f"no workload declares how to show a {type(result).__name__}: give its declaration a "
                     f"Renderer", parameter="renderer")


def result_json(result: Any) -> dict[str, Any]:
    return _kind(result).to_json(result)


def result_text(result: Any) -> str:
    return _kind(result).to_text(result)


def headlines(result: Any) -> list[Headline]:
    return _kind(result).headlines(result)


def _ratio(b: float, a: float) -> float | None:
    return round(b / a, 6) if a else None


def comparison_json(a: Any, b: Any) -> dict[str, Any]:
    first, second = result_json(a), result_json(b)
    return {
        "workload": first["workload"],
        "a": first,
        "b": second,
        "ratio_b_over_a": {ha.key: _ratio(hb.value, ha.value) for ha, hb in zip(headlines(a), headlines(b),
                                                                                strict=True)},
    }


def comparison_text(a: Any, b: Any) -> str:
    rows = [("", a.fabric, b.fabric, f"{b.fabric} / {a.fabric}")]
    for ha, hb in zip(headlines(a), headlines(b), strict=True):
        rows.append((ha.label, formatted(ha), formatted(hb), f"{hb.value / ha.value:.2f}x" if ha.value else "-"))
    rows.append(("frames on the wire", str(a.frames), str(b.frames), f"{b.frames / a.frames:.2f}x" if a.frames
                 else "-"))
    rows.append(("data", _data(a.verified), _data(b.verified), ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return _kind(a).title(a) + "\n" + "\n".join(
        "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
        for row in rows)


def _data(verified: bool | None) -> str:
    return {True: "verified", None: "not moved"}[verified]
