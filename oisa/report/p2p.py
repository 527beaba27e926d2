"""Point-to-point results as text for people and as JSON with stable keys for programs.

The JSON keys are documented in ``specs/cli-json.md``; a test checks that every key produced is
documented there and the other way round.
"""

from __future__ import annotations

from typing import Any

from oisa.units import format_size, format_time
from oisa.workload import P2PResult, Phase

__all__ = ["p2p_json", "p2p_text"]


def _phase(phase: Phase) -> dict[str, Any]:
    return {"time_ps": phase.time_ps, "bandwidth_GBps": round(phase.bandwidth / 1e9, 6)}


def p2p_json(result: P2PResult) -> dict[str, Any]:
    return {
        "workload": "p2p",
        "fabric": result.fabric,
        "seed": result.seed,
        "src": result.src,
        "dst": result.dst,
        "size_bytes": result.size,
        "write": _phase(result.write),
        "read": _phase(result.read),
        "wire": {"frames": result.frames, "bytes": result.wire_bytes, "messages": result.messages},
        "end_time_ps": result.end_ps,
        "verified": result.verified,
    }


def p2p_text(result: P2PResult) -> str:
    rows = [
        ("fabric", result.fabric),
        ("workload", f"p2p, card {result.src} -> card {result.dst}, {format_size(result.size)}, seed {result.seed}"),
        ("write", f"{format_time(result.write.time_ps)}   {result.write.bandwidth / 1e9:.2f} GB/s"),
        ("read back", f"{format_time(result.read.time_ps)}   {result.read.bandwidth / 1e9:.2f} GB/s"),
        ("on the wire", f"{result.frames} frames, {result.wire_bytes} bytes, {result.messages} messages"),
        ("virtual time", format_time(result.end_ps)),
        ("data", "verified" if result.verified else "MISMATCH"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
