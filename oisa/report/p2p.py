"""Point-to-point results as text for people and as JSON with stable keys for programs.

The JSON keys are documented in ``specs/cli-json.md``; a test checks that every key produced is
documented there and the other way round.
"""

from __future__ import annotations

from typing import Any

from oisa.report.failures import outage_json, outage_rows
from oisa.report.roce import roce_json, roce_rows
from oisa.units import format_size, format_time
from oisa.workload import P2PResult, Phase

__all__ = ["FAULT_KEYS", "LINK_KEYS", "isolation_json", "isolation_rows", "p2p_json", "p2p_text"]

LINK_KEYS = ("flits_sent", "flits_replayed", "control_sent", "naks_sent", "replays", "replay_timeouts", "retrains",
             "crc_errors", "duplicates", "credit_stalls")
FAULT_KEYS = ("bits_flipped", "frames_corrupted", "frames_dropped", "frames_duplicated", "control_dropped",
              "frames_lost_down")


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
        "mode": result.mode,
        "write": _phase(result.write),
        "read": _phase(result.read),
        "wire": {"frames": result.frames, "bytes": result.wire_bytes, "messages": result.messages},
        "end_time_ps": result.end_ps,
        "bringup": {"time_ps": result.bringup_ps, "frames": result.bringup_frames, "bytes": result.bringup_bytes},
        "link": {key: result.link.get(key, 0) for key in LINK_KEYS},
        "faults": {key: result.faults.get(key, 0) for key in FAULT_KEYS},
        "verified": result.verified,
        **isolation_json(result.isolation),
        **outage_json(result.outages, shrinkable=False),
        **({} if result.encryption is None else {"encryption": dict(result.encryption)}),
        **roce_json(result.roce),
    }


def isolation_rows(refusals: dict[str, int] | None) -> list[tuple[str, str]]:
    """The text report's line for what a tenancy's checks refused (none without a tenancy)."""
    if refusals is None:
        return []
    return [("refused", ", ".join(f"{value} {key}" for key, value in refusals.items()) + " (tenancy enforced)")]


def isolation_json(refusals: dict[str, int] | None) -> dict[str, Any]:
    """A run with a tenancy reports what its checks refused, by kind; one without, nothing."""
    return {} if refusals is None else {"isolation": dict(refusals)}


def p2p_text(result: P2PResult) -> str:
    rows = [
        ("fabric", result.fabric),
        ("workload", f"p2p, card {result.src} -> card {result.dst}, {format_size(result.size)}, seed {result.seed}, "
                     f"{result.mode} mode"),
        ("write", f"{format_time(result.write.time_ps)}   {result.write.bandwidth / 1e9:.2f} GB/s"),
        ("read back", f"{format_time(result.read.time_ps)}   {result.read.bandwidth / 1e9:.2f} GB/s"),
        ("on the wire", f"{result.frames} frames, {result.wire_bytes} bytes, {result.messages} messages"),
        ("link bring-up", f"{format_time(result.bringup_ps)}, {result.bringup_frames} frames, "
                          f"{result.bringup_bytes} bytes (before the write; not in the figures above)"),
        ("link layer", ", ".join(f"{result.link[key]} {key.replace('_', ' ')}" for key in LINK_KEYS)
         if result.link else "none modelled on these links"),
        *roce_rows(result.roce),
        ("virtual time", format_time(result.end_ps)),
        ("data", "verified" if result.verified else f"not moved ({result.mode} mode)"),
    ]
    if result.engine_note:
        rows.insert(2, ("engine", result.engine_note))
    if any(result.faults.values()):
        rows.insert(-2, ("faults injected", ", ".join(f"{value} {key.replace('_', ' ')}"
                                                      for key, value in result.faults.items() if value)))
    rows.extend(isolation_rows(result.isolation))
    rows.extend(outage_rows(result.outages))
    if result.encryption is not None:
        shown = result.encryption
        rows.append(("encryption", (f"AES-GCM, {shown['mac_bytes']}-byte MAC per flit" if shown["mac_bytes"] else
                                    "none") + f"; {shown['frames_tampered']} flits tampered and "
                                    f"{shown['frames_substituted']} substituted on the wire, {shown['mac_failures']} "
                                    f"refused by their MAC"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
