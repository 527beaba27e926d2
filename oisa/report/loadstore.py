"""Load/store latency distributions as text and JSON (keys: ``specs/cli-json.md``)."""

from __future__ import annotations

from typing import Any

from oisa.units import format_size, format_time
from oisa.workload.loadstore import LatencyStats, LoadStoreResult

__all__ = ["STAT_KEYS", "loadstore_json", "loadstore_text"]

STAT_KEYS = ("count", "min_ps", "p50_ps", "p90_ps", "p99_ps", "max_ps", "mean_ps")


def _stats(stats: LatencyStats | None) -> dict[str, int] | None:
    return None if stats is None else {key: getattr(stats, key) for key in STAT_KEYS}


def loadstore_json(result: LoadStoreResult) -> dict[str, Any]:
    loaded = result.loaded or {}
    return {
        "workload": "loadstore",
        "fabric": result.fabric,
        "seed": result.seed,
        "src": result.src,
        "dst": result.dst,
        "size_bytes": result.size,
        "accesses": result.accesses,
        "mode": result.mode,
        "latency": {kind: {"idle": _stats(result.idle[kind]), "loaded": _stats(loaded.get(kind))}
                    for kind in ("load", "store")},
        "background": {"cards": list(result.background), "bytes": result.background_bytes},
        "wire": {"frames": result.frames, "bytes": result.wire_bytes},
        "end_time_ps": result.end_ps,
        "verified": result.verified,
    }


def loadstore_text(result: LoadStoreResult) -> str:
    lines = [f"fabric       {result.fabric}",
             f"workload     loadstore, card {result.src} -> card {result.dst}, {format_size(result.size)} accesses, "
             f"{result.accesses} of each, seed {result.seed}, {result.mode} mode",
             f"{'':19}" + "".join(f"{name:>12}" for name in ("min", "p50", "p90", "p99", "max"))]
    phases = [("idle", result.idle)] + ([("loaded", result.loaded)] if result.loaded else [])
    for kind in ("load", "store"):
        for phase, stats in phases:
            row = stats[kind]
            lines.append(f"{kind:<6} {phase:<12}" + "".join(
                f"{format_time(value):>12}" for value in (row.min_ps, row.p50_ps, row.p90_ps, row.p99_ps, row.max_ps)))
    if result.background:
        lines.append(f"background   cards {', '.join(map(str, result.background))} streaming DMA writes into card "
                     f"{result.dst} during the loaded phase: {result.background_bytes / 1e6:.1f} MB moved")
    lines.append(f"on the wire  {result.frames} frames, {result.wire_bytes} bytes")
    lines.append("data         " + {True: "verified (loads returned, stores left, the right bytes)",
                                   None: "not moved (timing mode)"}[result.verified])
    return "\n".join(lines)
