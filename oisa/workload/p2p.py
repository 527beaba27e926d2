"""Point to point: write a random buffer from one card into another, read it back, compare.

The write is timed from submission until the last completion returns to the writer (so the
bytes are known to be in the peer's memory); the read is timed from submission until the last
byte has arrived. Bandwidths are payload bytes over those times, so they include every overhead
of the protocol and can never exceed the link's rate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from oisa.errors import UsageError, VerificationError
from oisa.fabric import Fabric, FabricSpec
from oisa.plan import PlanBuilder, Read, Send
from oisa.units import MiB, S
from oisa.workload.registry import CARD, SIZE, Option, workload
from oisa.workload.run import Run, check_memory

__all__ = ["P2PResult", "default_pair", "pair_of", "run_p2p"]

_SRC_BUFFER = 0x0
_DST_BUFFER = 0x0


@dataclass(frozen=True)
class Phase:
    """One timed direction of the transfer."""

    time_ps: int
    size: int

    @property
    def bandwidth(self) -> float:
        """Bytes per second."""
        return self.size * S / self.time_ps if self.time_ps else 0.0


@dataclass(frozen=True)
class P2PResult:
    fabric: str
    seed: int
    src: int
    dst: int
    size: int
    write: Phase
    read: Phase
    mode: str  # the engine that ran it
    frames: int
    wire_bytes: int
    messages: int
    verified: bool | None  # None in timing mode: no bytes moved
    end_ps: int
    link: dict[str, int]
    faults: dict[str, int]
    bringup_ps: int  # bringing the links up, before the write was submitted
    bringup_frames: int
    bringup_bytes: int
    engine_note: str | None = None  # why auto picked the engine, where it did
    isolation: dict[str, int] | None = None  # what a tenancy's checks refused, by kind (None: no tenancy)
    outages: dict[str, object] | None = None  # what the run's outages did (None: it had none)
    encryption: dict[str, int] | None = None  # encrypted links and attacks on them (None: neither)
    roce: dict[str, int] | None = None  # PFC, ECN and DCQCN counters (None: no RoCE in the fabric)


def default_pair(spec: FabricSpec) -> tuple[int, int]:
    """The first card and the first card of another server (the case a switched deployment
    handles worst), or the first two cards if the fabric does not say where cards sit."""
    first = spec.cards[0]
    for card in spec.cards[1:]:
        if first.server is not None and card.server is not None and card.server != first.server:
            return first.id, card.id
    if len(spec.cards) < 2:
        raise UsageError(f"fabric {spec.name} has one card: point to point needs two")
    return first.id, spec.cards[1].id


_SRC_HELP = "card that starts the transfers (default: the first card)"
_DST_HELP = "card at the other end (default: the first card in another server, or the second card)"
_HOLDS = 4  # copies of the buffer data mode keeps: the random source, and the source's, peer's and read-back memory


@workload("p2p", summary="card SRC writes a random buffer into card DST, reads it back and compares",
          result=P2PResult, engines=("data", "timing", "flow"), options=(
              Option("src", CARD, _SRC_HELP), Option("dst", CARD, _DST_HELP),
              Option("size", SIZE, "bytes to move", minimum=1, short="s")))
def run_p2p(spec: FabricSpec, run: Run = Run(), *, src: int | None = None, dst: int | None = None,
            size: int = MiB) -> P2PResult:
    """Run the point-to-point workload on a fresh instance of ``spec`` (or a catalog name).

    ``src`` and ``dst`` default to :func:`default_pair`; given one, the other is the first card
    of the pair that is not it. ``auto`` runs on the data engine, or on the flow engine for a
    fabric beyond what the frame-level engines take; on the timing and flow engines no bytes
    move and nothing is verified.
    """
    src, dst = pair_of(spec, src, dst)
    run = run.settled("data", allowed=("data", "timing", "flow"), workload="p2p", spec=spec)
    check_memory(spec, ((src, _aligned(_SRC_BUFFER + size) + size), (dst, _DST_BUFFER + size)), parameter="size",
                 value=size)
    run.check_holds(_HOLDS * size, parameter="size", value=size)
    plan = PlanBuilder()
    written = plan.add(Send(src, dst, size, local=_SRC_BUFFER, remote=_DST_BUFFER, confirmed=True))
    plan.add(Read(src, dst, size, local=_aligned(_SRC_BUFFER + size), remote=_DST_BUFFER, deps=(written,)))
    outcome = run.executor.run_plan(spec, run, plan.build(), prepare=functools.partial(_fill, src, size),
                                    check=functools.partial(_compare, src, dst, size))
    times = outcome.execution
    return P2PResult(
        fabric=spec.name, seed=run.seed, src=src, dst=dst, size=size, mode=run.engine,
        write=Phase(int(times.finished[0] - times.started[0]), size),
        read=Phase(int(times.finished[1] - times.started[1]), size),
        frames=outcome.frames, wire_bytes=outcome.wire_bytes, messages=outcome.messages, verified=outcome.checked,
        end_ps=times.end_ps, link=outcome.link, faults=outcome.faults, bringup_ps=outcome.bringup.time_ps,
        bringup_frames=outcome.bringup.frames, bringup_bytes=outcome.bringup.wire_bytes,
        engine_note=run.chosen if run.engine == "flow" else None, isolation=outcome.isolation, roce=outcome.roce,
        outages=outcome.outages,
        encryption=link_security(run, outcome.link, outcome.faults))


def link_security(run: Run, link: dict[str, int], faults: dict[str, int]) -> dict[str, int] | None:
    """What a run with encrypted links, or with attacks on its links, reports about them: the MAC
    size (0: not encrypted), flits refused by their MAC, and what the attacker did."""
    attacked = run.faults is not None and bool(run.faults.tamper or run.faults.substitute)
    if run.encryption is None and not attacked:
        return None
    return {"mac_bytes": run.encryption.mac_bytes if run.encryption else 0,
            "mac_failures": link.get("mac_failures", 0), "frames_tampered": faults.get("frames_tampered", 0),
            "frames_substituted": faults.get("frames_substituted", 0)}


def pair_of(spec: FabricSpec, src: int | None, dst: int | None) -> tuple[int, int]:
    """Two different cards: those given, and for one not given the first of the default pair
    (:func:`default_pair`) that is not the other."""
    default_src, default_dst = default_pair(spec)
    if src is None and dst is None:
        return default_src, default_dst
    if src is None:
        src = default_src if dst != default_src else default_dst
    if dst is None:
        dst = default_dst if src != default_dst else default_src
    if src == dst:
        raise UsageError("the same card: this needs two", parameter=("src", "dst"), value=src)
    spec.card(src), spec.card(dst)
    return src, dst


def _fill(src: int, size: int, fabric: Fabric) -> np.ndarray:
    """Random bytes in the writer's buffer; returns them, to compare with where they went."""
    data = fabric.kernel.rng.integers(0, 256, size, dtype=np.uint8)
    fabric.card(src).memory.write(_SRC_BUFFER, data)
    return data


def _compare(src: int, dst: int, size: int, fabric: Fabric, data: np.ndarray) -> bool:
    """The bytes landed at the peer and came back intact; anything else is an error."""
    landed = fabric.card(dst).memory.read_array(_DST_BUFFER, size)
    back = fabric.card(src).memory.read_array(_aligned(_SRC_BUFFER + size), size)
    if not (np.array_equal(landed, data) and np.array_equal(back, data)):
        raise VerificationError(f"card {src} read back different bytes from what it wrote to card {dst}")
    return True


def _aligned(address: int, alignment: int = 1 << 20) -> int:
    return -(-address // alignment) * alignment
