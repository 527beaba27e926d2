"""Isolation: a tenancy probed by its own tenants, legitimately and adversarially, with proof.

Every window of the tenancy is first used as granted: a card of its tenant writes a random
pattern into it (if it may write) and reads it back (if it may read). Then every card attacks,
one attempt at a time: reads and writes at random addresses of random cards (mostly outside
its grants, some inside), into other partitions, and writes that claim another card's source
ID. Each attempt is judged by byte-level rules that do not use the enforcement code
(:func:`judge`):

* bytes of the target outside the writer's write grants never change (a spoofed write changes
  nothing at all);
* a read that is not wholly granted fails, and its landing buffer is not touched; one that is
  wholly granted returns exactly the target's bytes;
* a write wholly granted leaves exactly what was written, and succeeds unless the card proves
  its posted writes landed by reading their last bytes back (a flush read) and its tenant may
  not read them: a write-only window takes posted writes, but refuses the flush read, as an
  IOMMU mapping without read permission faults a read (the transfer then reports CA).

A write that is only partly granted may land its granted pieces: posted writes are split into
requests of the card's maximum payload, each checked on its own, as an IOMMU checks each DMA
request (see :mod:`oisa.device.isolation`). Any breach ends the run with
:class:`~oisa.errors.VerificationError`; the report counts attempts and what the fabric refused.
Attempts come from the run's seed here, or from Hypothesis (:mod:`oisa.testing.isolation`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from oisa.device.card import Card
from oisa.device.movement import FLUSH_BYTES
from oisa.errors import UsageError, VerificationError
from oisa.fabric import Fabric, FabricSpec
from oisa.fabric.tenancy import Tenancy
from oisa.units import format_size
from oisa.wire.oisa import Message, Opcode
from oisa.workload.registry import COUNT, SIZE, Headline, Option, Renderer, workload
from oisa.workload.run import Run

__all__ = ["ATTEMPT_KINDS", "Attempt", "IsolationResult", "judge", "probe", "run_isolation"]

ATTEMPT_KINDS = ("read", "write", "spoof")
_SPOOF_BYTES = 64  # a forged write: one store's worth
_SETTLE_PS = 50_000_000  # 50 us: a forged write has long crossed any catalog fabric (or been dropped) by then


@dataclass(frozen=True)
class Attempt:
    """One access: card ``src`` reads or writes ``size`` bytes of card ``dst`` at ``address``;
    a ``spoof`` is a write sent by ``src`` claiming to come from card ``claimed``."""

    kind: str
    src: int
    dst: int
    address: int
    size: int
    claimed: int | None = None


@dataclass
class Tally:
    """Attempts of one kind: how many were tried, wholly granted, and failed at the requester."""

    tried: int = 0
    granted: int = 0
    failed: int = 0


@dataclass(frozen=True)
class IsolationResult:
    fabric: str
    seed: int
    mode: str
    tenants: int
    windows: int
    partitions: int
    legitimate_bytes: int  # written and read back through the windows, as granted
    attempts: dict[str, Tally]
    refusals: dict[str, int]  # what the fabric refused, by kind (oisa.device.isolation.Refusals)
    end_ps: int
    verified: bool = field(default=True)


def granted_bytes(tenancy: Tenancy, src: int, dst: int, address: int, size: int, *, write: bool) -> np.ndarray:
    """Which of the ``size`` bytes at ``address`` of card ``dst`` card ``src`` may read (or
    write): a mask, from the tenancy's tables alone. Cards of different partitions grant nothing."""
    mask = np.zeros(size, dtype=bool)
    tenant = next((name for name, cards in tenancy.tenants.items() if src in cards), None)
    same = any(src in p.cards and dst in p.cards for p in tenancy.partitions)
    if tenant is None or not same:
        return mask
    for window in tenancy.windows:
        if window.tenant == tenant and window.card == dst and (window.write if write else window.read):
            low, high = max(window.base, address), min(window.end, address + size)
            if low < high:
                mask[low - address:high - address] = True
    return mask


def judge(attempt: Attempt, granted: np.ndarray, before: bytes, after: bytes, sent: bytes, *, ok: bool,
          landing_before: bytes = b"", landing_after: bytes = b"", confirmable: bool = True) -> str | None:
    """What an attempt broke, or None. ``before``/``after``: the target's bytes around it;
    ``sent``: what a write carried; ``landing_*``: a read's local buffer around it;
    ``confirmable``: whether a granted write must also report success (see the module's rules)."""
    if attempt.kind == "read":
        if granted.all():
            if not ok:
                return "a wholly granted read failed"
            if landing_after != before:
                return "a granted read returned other bytes than the target holds"
        elif ok or landing_after != landing_before:
            return "a read outside the grants returned data"
        return None
    old, new, data = (np.frombuffer(b, dtype=np.uint8) for b in (before, after, sent))
    outside = ~granted if attempt.kind == "write" else np.ones(len(old), dtype=bool)
    if (new[outside] != old[outside]).any():
        first = int(np.flatnonzero(outside & (new != old))[0])
        return f"byte {attempt.address + first:#x} of card {attempt.dst} changed outside the writer's grants"
    if attempt.kind == "write" and granted.all() and (new != data).any():
        return "a wholly granted write did not land"
    if attempt.kind == "write" and granted.all() and confirmable and not ok:
        return "a wholly granted write reported failure"
    return None


async def probe(fabric: Fabric, tenancy: Tenancy, attempts: list[Attempt], rng: np.random.Generator,
                ) -> tuple[int, dict[str, Tally]]:
    """Use every window as granted, then make ``attempts`` one at a time, judging each; raise
    VerificationError at the first breach. Returns the legitimate bytes moved and the tallies."""
    legitimate = 0
    for window in tenancy.windows:
        user = next((c for c in tenancy.tenants[window.tenant] if c != window.card and
                     any(c in p.cards and window.card in p.cards for p in tenancy.partitions)), None)
        if user is None:
            continue
        size = min(window.size, 4096)
        for kind, wanted in (("write", window.write), ("read", window.read)):
            if wanted:
                await _attempt(fabric, tenancy, Attempt(kind, user, window.card, window.base, size), rng)
                legitimate += size
    tallies = {kind: Tally() for kind in ATTEMPT_KINDS}
    for attempt in attempts:
        ok, granted = await _attempt(fabric, tenancy, attempt, rng)
        tally = tallies[attempt.kind]
        tally.tried += 1
        tally.granted += granted
        tally.failed += not ok
    return legitimate, tallies


async def _attempt(fabric: Fabric, tenancy: Tenancy, attempt: Attempt, rng: np.random.Generator) -> tuple[bool, bool]:
    """Make one attempt and judge it; (did the requester see success, was it wholly granted)."""
    if attempt.kind == "spoof":  # one aligned store's worth, which any card's native format can carry
        attempt = replace(attempt, address=attempt.address - attempt.address % _SPOOF_BYTES)
    src, dst = fabric.card(attempt.src), fabric.card(attempt.dst)
    size = _SPOOF_BYTES if attempt.kind == "spoof" else attempt.size
    before = dst.memory.read(attempt.address, size)
    local, landing = _buffers(src, size)
    sent = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    src.memory.write(local, sent)
    landing_before = src.memory.read(landing, size)
    granted = granted_bytes(tenancy, attempt.src, attempt.dst, attempt.address, size, write=attempt.kind != "read")
    if attempt.kind == "spoof":
        if attempt.claimed is None or attempt.claimed == attempt.src:
            raise UsageError("a spoofed write claims another card's source ID", parameter="claimed",
                             value=attempt.claimed)
        src.send(Message(Opcode.MEM_WR, attempt.claimed, attempt.dst, length=size, address=attempt.address,
                         payload=sent))
        await fabric.kernel.sleep(_SETTLE_PS)
        ok, granted = False, np.zeros(size, dtype=bool)
    elif attempt.kind == "write":
        ok = (await src.dma_write(attempt.dst, attempt.address, local, size)).ok
    else:
        ok = (await src.dma_read(attempt.dst, attempt.address, landing, size)).ok
    flushed = min(FLUSH_BYTES, size)  # a card whose writes are posted reads their last bytes back
    readable = granted_bytes(tenancy, attempt.src, attempt.dst, attempt.address + size - flushed, flushed, write=False)
    confirmable = not src.plan.flush or bool(readable.all())
    breach = judge(attempt, granted, before, dst.memory.read(attempt.address, size), sent, ok=ok,
                   landing_before=landing_before, landing_after=src.memory.read(landing, size),
                   confirmable=confirmable)
    if breach is not None:
        raise VerificationError(f"isolation breached by {attempt}: {breach}")
    return ok, bool(granted.all())


def _buffers(card: Card, size: int) -> tuple[int, int]:
    """Where card keeps what it writes and where its reads land: the top of its memory."""
    top = card.profile.capacity
    return top - 2 * size, top - size


def adversarial(spec: FabricSpec, tenancy: Tenancy, count: int, size: int, rng: np.random.Generator) -> list[Attempt]:
    """``count`` attempts per card of the tenancy, random in kind, target, address and size; a
    third of the reads and writes aim inside a window of the attacker's tenant, the rest anywhere."""
    capacity = {card.id: card.device.capacity for card in spec.cards}
    cards = sorted(card for cards in tenancy.tenants.values() for card in cards)
    attempts = []
    for src in cards:
        tenant = next(name for name, owned in tenancy.tenants.items() if src in owned)
        own = [w for w in tenancy.windows if w.tenant == tenant and w.card != src]
        others = [card for card in capacity if card != src]
        for _ in range(count):
            kind = ATTEMPT_KINDS[int(rng.integers(0, 3))]
            length = int(rng.integers(1, size + 1))
            if own and kind != "spoof" and rng.random() < 1 / 3:
                window = own[int(rng.integers(0, len(own)))]
                dst, address = window.card, window.base + int(rng.integers(0, window.size))
            else:
                dst = others[int(rng.integers(0, len(others)))]
                address = int(rng.integers(0, capacity[dst] - 4 * size))
            address = min(address, capacity[dst] - 4 * size)  # clear of the attacker's own buffers at the top
            claimed = others[int(rng.integers(0, len(others)))] if kind == "spoof" else None
            attempts.append(Attempt(kind, src, dst, address, length, claimed))
    return attempts


def _title(r: IsolationResult) -> str:
    return (f"isolation, {r.tenants} tenants, {r.windows} windows, {r.partitions} partitions, seed {r.seed}, "
            f"{r.mode} mode")


def _json(r: IsolationResult) -> dict[str, Any]:
    return {"workload": "isolation", "fabric": r.fabric, "seed": r.seed, "mode": r.mode, "tenants": r.tenants,
            "windows": r.windows, "partitions": r.partitions, "legitimate_bytes": r.legitimate_bytes,
            "attempts": {kind: {"tried": t.tried, "granted": t.granted, "failed": t.failed}
                         for kind, t in r.attempts.items()},
            "isolation": dict(r.refusals), "end_time_ps": r.end_ps, "verified": r.verified}


def _text(r: IsolationResult) -> str:
    lines = [f"fabric       {r.fabric}", f"workload     {_title(r)}",
             f"granted use  {format_size(r.legitimate_bytes)} written and read back through the windows"]
    for kind, t in r.attempts.items():
        if kind == "spoof":
            lines.append(f"{kind:<12} {t.tried} writes sent claiming another card's source ID")
        else:
            lines.append(f"{kind:<12} {t.tried} tried, {t.granted} wholly inside the grants, {t.failed} failed at "
                         f"the requester")
    lines.append("refused      " + ", ".join(f"{value} {key}" for key, value in r.refusals.items()))
    lines.append("isolation    held: no byte outside a tenant's grants was read or changed")
    return "\n".join(lines)


def _headlines(r: IsolationResult) -> list[Headline]:
    return [Headline("end_time", "virtual time", r.end_ps, "time")]


@workload("isolation", summary="a tenancy probed: each window used as granted, then random and spoofed "
          "accesses by every card, each checked byte by byte", result=IsolationResult, engines=("data",), options=(
              Option("attempts", COUNT, "adversarial attempts per card", minimum=1),
              Option("size", SIZE, "largest bytes per attempt", minimum=1, short="s")),
          renderer=Renderer(_json, _text, _title, _headlines))
def run_isolation(spec: FabricSpec, run: Run = Run(), *, attempts: int = 16, size: int = 4096) -> IsolationResult:
    """Probe the run's tenancy on ``spec``: ``attempts`` adversarial accesses per card, each of
    up to ``size`` bytes, after every window is used as granted."""
    if run.tenancy is None:
        raise UsageError("the isolation workload probes a tenancy: give one", parameter="tenancy")
    run = run.settled("data", allowed=("data",), workload="isolation", spec=spec)
    tenancy = run.tenancy
    assert tenancy is not None
    return run.frame_engine.execute(spec, run, _isolation, tenancy, attempts, size)


async def _isolation(fabric: Fabric, run: Run, tenancy: Tenancy, count: int, size: int) -> IsolationResult:
    await fabric.bring_up()
    start = fabric.kernel.now
    rng = fabric.kernel.rng
    legitimate, tallies = await probe(fabric, tenancy, adversarial(fabric.spec, tenancy, count, size, rng), rng)
    assert fabric.refusals is not None
    return IsolationResult(fabric.spec.name, run.seed, run.engine, len(tenancy.tenants), len(tenancy.windows),
                           len(tenancy.partitions), legitimate, tallies, fabric.refusals.as_dict(),
                           fabric.kernel.now - start)
