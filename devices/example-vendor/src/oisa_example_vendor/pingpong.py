"""``pingpong``: a round-trip latency probe between two cards, the workload this plug-in adds.

Card SRC writes SIZE bytes into card DST; as soon as they have landed, DST writes the same bytes
back; as soon as those have landed at SRC, the next round trip starts: ROUNDS of them. A round
trip is timed from the moment SRC starts its write until the last byte of the answer has landed
in SRC's memory (as a core polling a flag there would see it), so it holds both directions'
latency, serialisation and every protocol overhead, and nothing of the time between rounds.

The bytes travel on: each round trip SRC sends what the last one brought back (two buffers, in
turn), so in data mode a byte altered on any of the 2 x ROUNDS crossings is still wrong at the
end, where both cards' memories are compared with the random bytes SRC started with. On the
timing and flow engines no bytes move and nothing is verified.

Everything oisa needs to know about the workload is in the ``@workload`` declaration below:
its name and summary, its options (their defaults are the keyword defaults of the function),
the engines it runs on, its result type and how that result is shown (:data:`RENDERER`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from oisa.errors import VerificationError
from oisa.fabric import Fabric, FabricSpec
from oisa.plan import PlanBuilder, Send
from oisa.units import format_size, format_time
from oisa.workload import Headline, Renderer, Run
from oisa.workload.p2p import pair_of
from oisa.workload.registry import CARD, COUNT, SIZE, Option, workload
from oisa.workload.run import check_memory

__all__ = ["RENDERER", "PingPongResult", "percentile", "run_pingpong"]

_ENGINES = ("data", "timing", "flow")
_PEER_BUFFER = 0x0  # where DST receives, and what it sends back from
_ALIGN = 1 << 20  # SRC's two buffers start on MiB boundaries: 0 and the first boundary past SIZE
_HOLDS = 4  # copies of SIZE bytes data mode keeps: the random bytes, SRC's two buffers and DST's


@dataclass(frozen=True)
class PingPongResult:
    """One run: every round trip's time (ps, in order) and what crossed the wire."""

    fabric: str
    seed: int
    src: int
    dst: int
    size: int
    mode: str  # the engine that ran it
    round_trips_ps: tuple[int, ...]
    frames: int
    wire_bytes: int
    messages: int
    verified: bool | None  # None where no bytes moved (timing and flow engines)
    end_ps: int

    @property
    def min_ps(self) -> int:
        return min(self.round_trips_ps)

    @property
    def p50_ps(self) -> int:
        return percentile(self.round_trips_ps, 50)

    @property
    def p99_ps(self) -> int:
        return percentile(self.round_trips_ps, 99)

    @property
    def max_ps(self) -> int:
        return max(self.round_trips_ps)


def percentile(values: tuple[int, ...], share: float) -> int:
    """The nearest-rank percentile: the smallest value at least ``share`` percent of them do not
    exceed. Always one of the values measured, never an interpolation between two."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share / 100 * len(ordered)) - 1)]


# -- rendering: what oisa run, oisa compare and --json show ---------------------------------------------


def _json(result: PingPongResult) -> dict[str, Any]:
    return {
        "workload": "pingpong",
        "fabric": result.fabric,
        "seed": result.seed,
        "src": result.src,
        "dst": result.dst,
        "size_bytes": result.size,
        "rounds": len(result.round_trips_ps),
        "mode": result.mode,
        "round_trip_ps": {"min": result.min_ps, "p50": result.p50_ps, "p99": result.p99_ps, "max": result.max_ps},
        "round_trips_ps": list(result.round_trips_ps),
        "wire": {"frames": result.frames, "bytes": result.wire_bytes, "messages": result.messages},
        "end_time_ps": result.end_ps,
        "verified": result.verified,
    }


def _title(result: PingPongResult) -> str:
    return (f"pingpong, card {result.src} <-> card {result.dst}, {format_size(result.size)} each way, "
            f"{len(result.round_trips_ps)} round trips, seed {result.seed}, {result.mode} mode")


def _text(result: PingPongResult) -> str:
    rows = [
        ("fabric", result.fabric),
        ("workload", _title(result)),
        ("round trip", f"min {format_time(result.min_ps)}, p50 {format_time(result.p50_ps)}, "
                       f"p99 {format_time(result.p99_ps)}, max {format_time(result.max_ps)}"),
        ("wire", f"{result.frames} frames, {format_size(result.wire_bytes)}, {result.messages} messages"),
        ("finished at", format_time(result.end_ps)),
        ("data", {True: "verified", None: "not moved"}[result.verified]),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def _headlines(result: PingPongResult) -> list[Headline]:
    return [Headline("round_trip_min", "round trip, min", result.min_ps, "time"),
            Headline("round_trip_p50", "round trip, p50", result.p50_ps, "time"),
            Headline("round_trip_p99", "round trip, p99", result.p99_ps, "time")]


RENDERER = Renderer(to_json=_json, to_text=_text, title=_title, headlines=_headlines)


# -- the workload -----------------------------------------------------------------------------------------


@workload("pingpong", summary="card SRC and card DST bounce SIZE bytes back and forth ROUNDS times: round-trip "
          "latency, min, p50 and p99", result=PingPongResult, engines=_ENGINES, renderer=RENDERER, options=(
              Option("src", CARD, "card that starts each round trip (default: the first card)"),
              Option("dst", CARD, "card that answers (default: the first card in another server, or the second card)"),
              Option("size", SIZE, "bytes each way, per round trip", minimum=1, short="s"),
              Option("rounds", COUNT, "round trips to time", minimum=1)))
def run_pingpong(spec: FabricSpec, run: Run = Run(), *, src: int | None = None, dst: int | None = None,
                 size: int = 64, rounds: int = 100) -> PingPongResult:
    """Time ``rounds`` round trips of ``size`` bytes between ``src`` and ``dst`` on a fresh
    instance of ``spec`` (or a catalog name). The cards default as for ``p2p``. ``auto`` runs
    on the data engine, or on the flow engine for a fabric beyond what the frame-level engines
    take."""
    src, dst = pair_of(spec, src, dst)
    run = run.settled("data", allowed=_ENGINES, workload="pingpong", spec=spec)
    buffers = (0, _aligned(size))
    check_memory(spec, ((src, buffers[1] + size), (dst, _PEER_BUFFER + size)), parameter="size", value=size)
    run.check_holds(_HOLDS * size, parameter="size", value=size)
    plan = PlanBuilder()
    pings: list[int] = []
    pongs: list[int] = []
    for index in range(rounds):
        ping = plan.add(Send(src, dst, size, local=buffers[index % 2], remote=_PEER_BUFFER,
                             deps=(pongs[-1],) if pongs else ()))
        pings.append(ping)
        pongs.append(plan.add(Send(dst, src, size, local=_PEER_BUFFER, remote=buffers[(index + 1) % 2],
                                   deps=(ping,))))
    outcome = run.executor.run_plan(spec, run, plan.build(), prepare=functools.partial(_fill, src, buffers[0], size),
                                    check=functools.partial(_compare, src, dst, buffers[rounds % 2], size))
    times = outcome.execution
    trips = tuple(times.finished_of(pong) - times.started_of(ping) for ping, pong in zip(pings, pongs))
    return PingPongResult(fabric=spec.name, seed=run.seed, src=src, dst=dst, size=size, mode=run.engine,
                          round_trips_ps=trips, frames=outcome.frames, wire_bytes=outcome.wire_bytes,
                          messages=outcome.messages, verified=outcome.checked, end_ps=times.end_ps)


def _fill(src: int, address: int, size: int, fabric: Fabric) -> np.ndarray:
    """Random bytes (from the run's seed) in SRC's first buffer; returns them, for the check."""
    data = fabric.kernel.rng.integers(0, 256, size, dtype=np.uint8)
    fabric.card(src).memory.write(address, data)
    return data


def _compare(src: int, dst: int, last: int, size: int, fabric: Fabric, data: np.ndarray) -> bool:
    """What the last round trip brought back to SRC, and what DST last received, are the bytes
    SRC started with: every crossing carried them intact."""
    for card_id, address, what in ((dst, _PEER_BUFFER, f"card {dst} last received"),
                                   (src, last, f"card {src} got back")):
        got = fabric.card(card_id).memory.read_array(address, size)
        wrong = np.flatnonzero(got != data)
        if wrong.size:
            raise VerificationError(f"what {what} differs from what card {src} first sent in {wrong.size} of "
                                    f"{size} bytes, the first at byte {int(wrong[0])}")
    return True


def _aligned(address: int) -> int:
    return -(-address // _ALIGN) * _ALIGN
