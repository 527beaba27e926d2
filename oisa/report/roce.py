"""A run report's RoCE counters: PFC pauses, time paused, the deepest queue, ECN marks, CNPs,
drops and retransmissions, for runs on a fabric with buffered Ethernet switches or RoCE NICs.

A run on a fabric without them has none to report (``None``): its text shows no line and its
JSON no ``roce`` object, rather than a row of zeros.
"""

from __future__ import annotations

from typing import Any

from oisa.fabric.roce import ROCE_COUNTERS
from oisa.units import format_size, format_time

__all__ = ["roce_json", "roce_rows"]


def roce_rows(counters: dict[str, int] | None) -> list[tuple[str, str]]:
    """The text report's line (none without RoCE)."""
    if counters is None:
        return []
    pauses = f"{counters['pauses_sent']} pauses sent, {counters['pauses_received']} received"
    paused = f"{format_time(counters['paused_ps'])} paused"
    queue = f"deepest queue {format_size(counters['max_queue_bytes'])}" if counters["max_queue_bytes"] else \
        "deepest queue 0"
    marks = f"{counters['ecn_marks']} ECN marks, {counters['cnps']} CNPs"
    losses = f"{counters['drops']} drops, {counters['retransmits']} retransmits"
    return [("RoCE", f"{pauses}, {paused}, {queue}, {marks}, {losses}")]


def roce_json(counters: dict[str, int] | None) -> dict[str, Any]:
    """``{"roce": {...}}`` with every counter of :data:`~oisa.fabric.roce.ROCE_COUNTERS`, or
    nothing on a fabric without RoCE."""
    return {} if counters is None else {"roce": {key: counters.get(key, 0) for key in ROCE_COUNTERS}}
