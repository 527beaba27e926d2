"""The incast scenario's report: each fabric's incast (with its victim) and all-to-all side by side.

Completion times are p50 and p99 over the flows (ps in JSON); the RoCE counters are the run's
totals (:data:`oisa.fabric.roce.ROCE_COUNTERS`), zero on a fabric without Ethernet buffers.
"""

from __future__ import annotations

from typing import Any

from oisa.fabric.roce import ROCE_COUNTERS
from oisa.units import format_size, format_time
from oisa.workload.incast import IncastResult, IncastScenario

__all__ = ["incast_json", "incast_text"]


def _result_json(result: IncastResult) -> dict[str, Any]:
    return {
        "flows": len(result.flows.times_ps),
        "p50_ps": result.flows.p50_ps,
        "p99_ps": result.flows.p99_ps,
        "last_ps": result.flows.last_ps,
        "victim_ps": result.victim_ps,
        "victim_alone_ps": result.victim_alone_ps,
        "victim_slowdown": None if result.victim_slowdown is None else round(result.victim_slowdown, 4),
        **{key: result.counters.get(key, 0) for key in ROCE_COUNTERS},
    }


def incast_json(scenario: IncastScenario) -> dict[str, Any]:
    return {
        "scenario": "incast",
        "seed": scenario.seed,
        "senders": scenario.senders,
        "size_bytes": scenario.size,
        "alltoall_cards": scenario.alltoall_cards,
        "alltoall_size_bytes": scenario.alltoall_size,
        "fabrics": [{"fabric": incast.fabric, "incast": _result_json(incast), "alltoall": _result_json(alltoall)}
                    for incast, alltoall in scenario.rows],
    }


def _time(ps: int | None) -> str:
    return "-" if ps is None else format_time(ps)


def _rows(label: str, results: list[IncastResult]) -> list[list[str]]:
    victim = [f"{_time(r.victim_ps)} ({r.victim_slowdown:.2f}x alone)" if r.victim_slowdown else "-"
              for r in results]
    return [
        [f"{label} p50", *(_time(r.flows.p50_ps) for r in results)],
        [f"{label} p99", *(_time(r.flows.p99_ps) for r in results)],
        *([[f"{label} victim", *victim]] if label == "incast" else []),
        [f"{label} pauses sent", *(str(r.counters["pauses_sent"]) for r in results)],
        [f"{label} time paused", *(_time(r.counters["paused_ps"]) for r in results)],
        [f"{label} deepest queue", *(format_size(r.counters["max_queue_bytes"]) if r.counters["max_queue_bytes"]
                                     else "0" for r in results)],
        [f"{label} ECN marks", *(str(r.counters["ecn_marks"]) for r in results)],
        [f"{label} CNPs", *(str(r.counters["cnps"]) for r in results)],
        [f"{label} drops", *(str(r.counters["drops"]) for r in results)],
        [f"{label} retransmits", *(str(r.counters["retransmits"]) for r in results)],
    ]


def incast_text(scenario: IncastScenario) -> str:
    incasts = [incast for incast, _ in scenario.rows]
    alltoalls = [alltoall for _, alltoall in scenario.rows]
    header = ["", *(r.fabric for r in incasts)]
    table = [header, *_rows("incast", incasts), *_rows("all-to-all", alltoalls)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [f"incast: {scenario.senders} senders x {format_size(scenario.size)} to one card, a victim writing "
             f"{format_size(scenario.size)} from the first sender to an idle card; all-to-all: "
             f"{scenario.alltoall_cards} cards x {format_size(scenario.alltoall_size)} to each other; seed "
             f"{scenario.seed}, timing mode", ""]
    for row in table:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)
