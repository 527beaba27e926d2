"""Two fabrics, one workload: the results side by side and their ratios."""

from __future__ import annotations

from typing import Any

from oisa.report.p2p import p2p_json
from oisa.units import format_size, format_time
from oisa.workload import P2PResult

__all__ = ["comparison_json", "comparison_text"]


def _ratio(b: float, a: float) -> float | None:
    return round(b / a, 6) if a else None


def comparison_json(a: P2PResult, b: P2PResult) -> dict[str, Any]:
    return {
        "workload": "p2p",
        "a": p2p_json(a),
        "b": p2p_json(b),
        "ratio_b_over_a": {
            "write_time": _ratio(b.write.time_ps, a.write.time_ps),
            "write_bandwidth": _ratio(b.write.bandwidth, a.write.bandwidth),
            "read_time": _ratio(b.read.time_ps, a.read.time_ps),
            "read_bandwidth": _ratio(b.read.bandwidth, a.read.bandwidth),
        },
    }


def comparison_text(a: P2PResult, b: P2PResult) -> str:
    rows = [
        ("", a.fabric, b.fabric, f"{b.fabric} / {a.fabric}"),
        ("write time", format_time(a.write.time_ps), format_time(b.write.time_ps),
         f"{b.write.time_ps / a.write.time_ps:.2f}x"),
        ("write bandwidth", f"{a.write.bandwidth / 1e9:.2f} GB/s", f"{b.write.bandwidth / 1e9:.2f} GB/s",
         f"{b.write.bandwidth / a.write.bandwidth:.2f}x"),
        ("read time", format_time(a.read.time_ps), format_time(b.read.time_ps),
         f"{b.read.time_ps / a.read.time_ps:.2f}x"),
        ("read bandwidth", f"{a.read.bandwidth / 1e9:.2f} GB/s", f"{b.read.bandwidth / 1e9:.2f} GB/s",
         f"{b.read.bandwidth / a.read.bandwidth:.2f}x"),
        ("frames on the wire", str(a.frames), str(b.frames), f"{b.frames / a.frames:.2f}x" if a.frames else "-"),
        ("data", _data(a), _data(b), ""),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    head = (f"p2p, card {a.src} -> card {a.dst}, {format_size(a.size)}, seed {a.seed}, {a.mode} mode")
    return head + "\n" + "\n".join("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in
                                             enumerate(zip(row, widths))).rstrip() for row in rows)


def _data(result: P2PResult) -> str:
    return {True: "verified", None: "not moved"}[result.verified]
