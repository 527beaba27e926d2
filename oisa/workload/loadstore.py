"""Load/store: the latency of fine-grained accesses (64-256 B) from one card to another's memory.

A core on card SRC issues loads and stores, one at a time, to card DST: a load's latency runs
from issue until its data is back; a store's, from issue until it has landed in DST's memory
(stores are posted: nobody answers them, so DST's watch is what tells). This is done twice: on
an idle fabric, and while background cards stream bulk DMA writes into DST, so the accesses
queue behind them, the case where a fabric's queueing shows.

With data (the default when nothing runs in the background) the bytes are real: loads return
what DST holds and stores leave what SRC sent, both checked. Background streams move many
megabytes, so with them the run defaults to timing mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from oisa.device.card import Card
from oisa.errors import UsageError, VerificationError
from oisa.fabric import Fabric, FabricSpec
from oisa.units import format_size
from oisa.workload.p2p import pair_of
from oisa.workload.registry import CARD, COUNT, SIZE, Option, workload
from oisa.workload.run import Run

__all__ = ["LatencyStats", "LoadStoreResult", "run_loadstore"]

_REGION = 1 << 20  # loads read, and stores write, within this much of DST's memory
_LOADS_AT = 0x0
_STORES_AT = 0x40_0000
_SOURCE_AT = 0x80_0000  # SRC's own buffer of what it stores
_LANDING_AT = 0xC0_0000  # where SRC's loads put what they read
_BACKGROUND_AT = 0x100_0000  # where background streams write in DST (and read from in their own cards)
_BACKGROUND_COPY = 256 * 1024  # one DMA write of a background stream
# SRC keeps what a phase stores at _SOURCE_AT and what its loads read at _LANDING_AT, an access
# after another: either holds this much before running into the next region.
_ACCESS_BYTES = min(_LANDING_AT - _SOURCE_AT, _BACKGROUND_AT - _LANDING_AT)


@dataclass(frozen=True)
class LatencyStats:
    """A latency distribution, in picoseconds."""

    count: int
    min_ps: int
    p50_ps: int
    p90_ps: int
    p99_ps: int
    max_ps: int
    mean_ps: int

    @classmethod
    def of(cls, samples: Sequence[int]) -> LatencyStats:
        values = np.asarray(samples, dtype=np.int64)
        p50, p90, p99 = (round(float(np.percentile(values, q))) for q in (50, 90, 99))
        return cls(len(values), int(values.min()), p50, p90, p99, int(values.max()), round(float(values.mean())))


@dataclass(frozen=True)
class LoadStoreResult:
    fabric: str
    seed: int
    src: int
    dst: int
    size: int  # bytes per access
    accesses: int  # loads, and as many stores, per phase
    mode: str  # the engine that ran it: data or timing
    idle: dict[str, LatencyStats]  # "load", "store"
    loaded: dict[str, LatencyStats] | None  # the same under background traffic; None without background
    background: tuple[int, ...]  # cards streaming into DST during the loaded phase
    background_bytes: int
    frames: int
    wire_bytes: int
    end_ps: int
    verified: bool | None


@workload("loadstore", summary="64-256 B loads and stores from one card's core into another's memory, idle and "
          "while other cards stream DMA writes into it", result=LoadStoreResult, engines=("data", "timing"), options=(
              Option("src", CARD, "card whose core loads and stores (default: the first card)"),
              Option("dst", CARD, "card whose memory is accessed (default: the first card in another server, or "
                                  "the second card)"),
              Option("size", SIZE, "bytes per access, 1 to 256", minimum=1, short="s"),
              Option("accesses", COUNT, "loads, and as many stores, per phase", minimum=1),
              Option("background", COUNT, "cards streaming DMA writes into DST during the loaded phase (0: idle "
                                          "only; default: 3, or as many as the fabric has)", minimum=0)))
def run_loadstore(spec: FabricSpec, run: Run = Run(), *, src: int | None = None, dst: int | None = None,
                  size: int = 64, accesses: int = 200, background: int | None = None) -> LoadStoreResult:
    """Measure load and store latency from ``src`` to ``dst`` (default: the p2p pair), idle and
    with ``background`` other cards streaming DMA writes into ``dst`` (default: three, or as
    many as the fabric has besides the two). ``auto`` runs on the data engine when nothing
    streams, else on the timing engine."""
    if size > 256:
        raise UsageError("loads and stores carry 1 to 256 bytes (64 to 256 is typical)", parameter="size", value=size)
    if accesses * size > _ACCESS_BYTES:
        raise UsageError(f"at most {_ACCESS_BYTES // size:,} accesses of {size} B: their data must fit in SRC's "
                         f"{format_size(_ACCESS_BYTES)} buffers", parameter="accesses", value=accesses)
    src, dst = pair_of(spec, src, dst)
    streams = _background_cards(spec, src, dst, background)
    run = run.settled("timing" if streams else "data", allowed=("data", "timing"), workload="loadstore")
    return run.frame_engine.execute(spec, run, _loadstore, src, dst, size, accesses, streams)


_DEFAULT_BACKGROUND = 3


def _background_cards(spec: FabricSpec, src: int, dst: int, count: int | None) -> tuple[int, ...]:
    """The first ``count`` accelerators other than SRC and DST, by id (by default three, or all
    there are)."""
    others = [c.id for c in spec.cards if c.device.role == "accelerator" and c.id not in (src, dst)]
    if count is None:
        count = min(_DEFAULT_BACKGROUND, len(others))
    if count > len(others):
        raise UsageError(f"fabric {spec.name} has only {len(others)} other cards", parameter="background",
                         value=count)
    return tuple(others[:count])


async def _loadstore(fabric: Fabric, run: Run, src: int, dst: int, size: int, accesses: int,
                     streams: tuple[int, ...]) -> LoadStoreResult:
    kernel = fabric.kernel
    await fabric.bring_up()
    source, target = fabric.card(src), fabric.card(dst)
    data = run.moves_bytes
    if data:
        target.memory.write(_LOADS_AT, kernel.rng.integers(0, 256, _REGION, dtype=np.uint8))
        source.memory.write(_SOURCE_AT, kernel.rng.integers(0, 256, accesses * size, dtype=np.uint8))
    idle = await _probe(fabric, source, target, size, accesses, data)
    loaded, moved = None, 0
    if streams:
        stop: list[bool] = []
        copied = [0] * len(streams)
        for index, card in enumerate(streams):
            kernel.spawn(_stream, fabric.card(card), dst, index, copied, stop, name=f"background.{card}")
        loaded = await _probe(fabric, source, target, size, accesses, data)
        stop.append(True)
        moved = sum(copied)
    frames, wire_bytes = fabric.wire_totals()
    return LoadStoreResult(
        fabric=fabric.spec.name, seed=kernel.seed, src=src, dst=dst, size=size, accesses=accesses,
        mode=run.engine,
        idle=idle, loaded=loaded, background=streams, background_bytes=moved, frames=frames, wire_bytes=wire_bytes,
        end_ps=kernel.now, verified=True if data else None)


async def _probe(fabric: Fabric, source: Card, target: Card, size: int, accesses: int,
                 data: bool) -> dict[str, LatencyStats]:
    """``accesses`` loads, then as many stores, one at a time, at random aligned offsets."""
    kernel = fabric.kernel
    slots = _REGION // size
    loads, stores = [], []
    for index in range(accesses):
        offset = int(kernel.rng.integers(0, slots)) * size
        landing = _LANDING_AT + index * size
        done = await source.load(target.node_id, _LOADS_AT + offset, landing, size)
        if not done.ok:
            raise VerificationError(f"a load from card {target.node_id} failed: {done.error}")
        loads.append(done.finished_ps - done.submitted_ps)
        if data and source.memory.read(landing, size) != target.memory.read(_LOADS_AT + offset, size):
            raise VerificationError(f"a load from card {target.node_id} at {offset:#x} returned other bytes")
    for index in range(accesses):
        offset = int(kernel.rng.integers(0, slots)) * size
        landed = target.watch(_STORES_AT + offset, size)
        issued = kernel.now
        source.store(target.node_id, _STORES_AT + offset, _SOURCE_AT + index * size, size)
        await landed.wait()
        stores.append(kernel.now - issued)
        if data and target.memory.read(_STORES_AT + offset, size) != source.memory.read(_SOURCE_AT + index * size,
                                                                                        size):
            raise VerificationError(f"a store to card {target.node_id} at {offset:#x} left other bytes")
    return {"load": LatencyStats.of(loads), "store": LatencyStats.of(stores)}


async def _stream(card: Card, dst: int, index: int, copied: list[int], stop: list[bool]) -> None:
    """Bulk DMA writes into ``dst``, back to back, until the probe is done."""
    slot = _BACKGROUND_AT + index * _BACKGROUND_COPY
    while not stop:
        done = await card.dma_write(dst, slot, _BACKGROUND_AT, _BACKGROUND_COPY)
        if not done.ok:
            raise VerificationError(f"a background write from {card.name} failed: {done.error}")
        copied[index] += _BACKGROUND_COPY
