"""Collective results: one run as text or JSON, and sweeps as the table nccl-tests prints.

nccl-tests users read a sweep as rows of size, count, type, reduction, root, time, algorithm
bandwidth and bus bandwidth, with ``#`` lines around them and the average bus bandwidth at the
end; the text here keeps that shape so the figures can be laid beside real ones. JSON and CSV
carry the same columns with units in their names (keys: ``specs/cli-json.md``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from oisa.report.failures import outage_json, outage_rows
from oisa.report.p2p import isolation_json, isolation_rows
from oisa.report.roce import roce_json, roce_rows
from oisa.units import format_size, format_time
from oisa.workload.collectives import COLLECTIVES, CollectiveResult

__all__ = ["SWEEP_COLUMNS", "collective_json", "collective_text", "sweep_csv", "sweep_json", "sweep_text"]

SWEEP_COLUMNS = ("size_bytes", "count", "type", "redop", "root", "time_us", "algbw_GBps", "busbw_GBps", "wrong",
                 "mode", "algorithm", "protocol", "channels", "model_time_us")


def tuner_json(result: CollectiveResult) -> dict[str, Any]:
    """What the library's tuner compared and why it chose what ran."""
    return {
        "library": result.library,
        "calibration": result.calibration,
        "model_time_ps": result.model_time_ps,
        "reason": result.reason,
        "candidates": [{"algorithm": c.algorithm, "protocol": c.protocol, "channels": c.channels,
                        "time_ps": None if c.time_ps is None else round(c.time_ps), "unavailable": c.reason}
                       for c in result.tuner],
    }


def collective_json(result: CollectiveResult) -> dict[str, Any]:
    return {
        "workload": result.collective,
        "fabric": result.fabric,
        "seed": result.seed,
        "algorithm": result.algorithm,
        "protocol": result.protocol,
        "channels": result.channels,
        "tuner": tuner_json(result),
        "ranks": list(result.ranks),
        "size_bytes": result.size,
        "count": result.count,
        "dtype": result.dtype,
        "op": result.op,
        "root": result.root,
        "mode": result.mode,
        "time_ps": result.time_ps,
        "algbw_GBps": round(result.algbw / 1e9, 6),
        "busbw_GBps": round(result.busbw / 1e9, 6),
        "wire": {"frames": result.frames, "bytes": result.wire_bytes},
        "end_time_ps": result.end_ps,
        "verified": result.verified,
        **isolation_json(result.isolation),
        **outage_json(result.outages, result.failed_cards, result.detected_ps),
        **roce_json(result.roce),
    }


def collective_text(result: CollectiveResult) -> str:
    kind = COLLECTIVES[result.collective]
    rows = [
        ("fabric", result.fabric),
        ("workload", f"{result.collective} ({result.algorithm}), {format_size(result.size)} of {result.dtype}"
                     f"{', ' + result.op if kind.reduces else ''}, {len(result.ranks)} cards, seed {result.seed}, "
                     f"{result.mode} mode"),
        ("library", f"{result.library}{' calibrated by ' + result.calibration if result.calibration else ''}: "
                    f"{result.algorithm}, {result.protocol} protocol, {result.channels} channel"
                    f"{'s' if result.channels != 1 else ''} ({result.reason})"),
        ("tuner", _tuner_text(result)),
        ("time", f"{format_time(result.time_ps)}  (the library's cost model expected "
                 f"{format_time(result.model_time_ps)})"),
        ("algbw", f"{result.algbw / 1e9:.2f} GB/s"),
        ("busbw", f"{result.busbw / 1e9:.2f} GB/s  (algbw x {kind.bus_factor(len(result.ranks)):.3f}, as nccl-tests "
                  f"counts {result.collective})"),
        ("on the wire", f"{result.frames} frames, {result.wire_bytes} bytes"),
        *roce_rows(result.roce),
        ("data", "verified against numpy" if result.verified is not None else f"not moved ({result.mode} mode)"),
        *isolation_rows(result.isolation),
        *outage_rows(result.outages, result.failed_cards, result.detected_ps),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _tuner_text(result: CollectiveResult) -> str:
    """The best time of each algorithm and protocol the tuner priced, cheapest first."""
    priced = [(c.time_ps, c) for c in result.tuner if c.time_ps is not None]
    priced.sort(key=lambda pair: pair[0])
    shown = [f"{c.algorithm}/{c.protocol} x{c.channels} {format_time(time)}" for time, c in priced[:6]]
    more = f" and {len(priced) - 6} more" if len(priced) > 6 else ""
    unavailable = [f"{c.algorithm} ({c.reason})" for c in result.tuner if c.time_ps is None]
    return ", ".join(shown) + more + (f"; not possible: {'; '.join(unavailable)}" if unavailable else "")


def _row(result: CollectiveResult) -> dict[str, Any]:
    kind = COLLECTIVES[result.collective]
    return {
        "size_bytes": result.size,
        "count": result.count,
        "type": result.dtype,
        "redop": result.op if kind.reduces else "none",
        "root": result.root if result.collective == "broadcast" else -1,
        "time_us": round(result.time_ps / 1e6, 3),
        "algbw_GBps": round(result.algbw / 1e9, 3),
        "busbw_GBps": round(result.busbw / 1e9, 3),
        "wrong": 0 if result.verified else None,
        "mode": result.mode,
        "algorithm": result.algorithm,
        "protocol": result.protocol,
        "channels": result.channels,
        "model_time_us": round(result.model_time_ps / 1e6, 3),
    }


def _algorithm(results: Sequence[CollectiveResult]) -> str:
    """The algorithm every size ran, or ``auto`` where the tuner chose differently by size."""
    names = {result.algorithm for result in results}
    return names.pop() if len(names) == 1 else "auto"


def _average_busbw(results: Sequence[CollectiveResult]) -> float:
    return sum(r.busbw for r in results) / len(results) / 1e9 if results else 0.0


def sweep_json(results: Sequence[CollectiveResult], skipped: Sequence[int] = ()) -> dict[str, Any]:
    first = results[0]
    return {
        "fabric": first.fabric,
        "collective": first.collective,
        "algorithm": _algorithm(results),
        "library": first.library,
        "ranks": list(first.ranks),
        "seed": first.seed,
        "rows": [_row(result) for result in results],
        "skipped_sizes": list(skipped),
        "avg_busbw_GBps": round(_average_busbw(results), 3),
    }


def sweep_csv(results: Sequence[CollectiveResult]) -> str:
    out = io.StringIO()
    columns = [column for column in SWEEP_COLUMNS if column != "algorithm"]
    writer = csv.DictWriter(out, fieldnames=["fabric", "collective", "algorithm", "ranks", *columns],
                            lineterminator="\n")
    writer.writeheader()
    for result in results:
        writer.writerow({"fabric": result.fabric, "collective": result.collective, "ranks": len(result.ranks),
                         **_row(result)})
    return out.getvalue()


def sweep_text(results: Sequence[CollectiveResult], skipped: Sequence[int] = ()) -> str:
    first = results[0]
    lines = [
        f"# oisa sweep: {first.collective} ({_algorithm(results)}) on {first.fabric}, {len(first.ranks)} cards, "
        f"seed {first.seed}, library {first.library}",
        "# times are virtual; busbw as nccl-tests defines it; "
        "#wrong is N/A where no data moved (timing and flow modes);",
        "# algo/proto/ch: what the library's tuner chose for each size",
        "#",
        f"# {'size':>12} {'count':>12} {'type':>8} {'redop':>6} {'root':>5} {'time':>10} {'algbw':>8} "
        f"{'busbw':>8} {'#wrong':>7}  algo/proto/ch",
        f"# {'(B)':>12} {'(elements)':>12} {'':>8} {'':>6} {'':>5} {'(us)':>10} {'(GB/s)':>8} {'(GB/s)':>8} {'':>7}",
    ]
    for result in results:
        row = _row(result)
        wrong = "N/A" if row["wrong"] is None else str(row["wrong"])
        lines.append(f"  {row['size_bytes']:>12} {row['count']:>12} {row['type']:>8} {row['redop']:>6} "
                     f"{row['root']:>5} {row['time_us']:>10.2f} {row['algbw_GBps']:>8.2f} {row['busbw_GBps']:>8.2f} "
                     f"{wrong:>7}  {row['algorithm']}/{row['protocol']}/{row['channels']}")
    if skipped:
        lines.append(f"# skipped {', '.join(map(str, skipped))} B: no whole element per card")
    lines.append(f"# Avg bus bandwidth    : {_average_busbw(results):.3f} GB/s")
    return "\n".join(lines)
