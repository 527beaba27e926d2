"""Point to point: write a random buffer from one card into another, read it back, compare.

The write is timed from submission until the last completion returns to the writer (so the
bytes are known to be in the peer's memory); the read is timed from submission until the last
byte has arrived. Bandwidths are payload bytes over those times, so they include every overhead
of the protocol and can never exceed the link's rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oisa.errors import UsageError, VerificationError
from oisa.fabric import Fabric, FabricSpec, Mode, build
from oisa.sim import Kernel
from oisa.sim.faults import FaultModel
from oisa.sim.observe import Observer
from oisa.units import S

__all__ = ["P2PResult", "default_pair", "run_p2p"]

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
    mode: Mode
    frames: int
    wire_bytes: int
    messages: int
    verified: bool | None  # None in timing mode: no bytes moved
    end_ps: int
    link: dict[str, int]
    faults: dict[str, int]


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


def run_p2p(spec: FabricSpec, *, src: int | None = None, dst: int | None = None, size: int, seed: int = 0,
            faults: FaultModel | None = None, mode: Mode = "data", observer: Observer | None = None) -> P2PResult:
    """Run the point-to-point workload on a fresh instance of ``spec``.

    ``src`` and ``dst`` default to :func:`default_pair`. ``faults``, if given, replaces the
    fault model of every link. In ``timing`` mode no bytes move and nothing is verified.
    ``observer`` (a capture, a timeline) sees the run and is closed when it ends.
    """
    default_src, default_dst = default_pair(spec)
    src = default_src if src is None else src
    dst = default_dst if dst is None else dst
    if src == dst:
        raise UsageError(f"--src and --dst are both {src}: point to point needs two cards")
    for card_id in (src, dst):
        spec.card(card_id)
    kernel = Kernel(seed)
    kernel.observer = observer
    fabric = build(spec, kernel, faults, mode)
    try:
        return kernel.run(_p2p, fabric, src, dst, size)
    finally:
        if observer is not None:
            observer.close()


async def _p2p(fabric: Fabric, src: int, dst: int, size: int) -> P2PResult:
    kernel = fabric.kernel
    fabric.start()
    writer, peer = fabric.card(src), fabric.card(dst)
    readback = _aligned(_SRC_BUFFER + size)
    data = None
    if fabric.mode == "data":
        data = kernel.rng.integers(0, 256, size, dtype=np.uint8)
        writer.memory.write(_SRC_BUFFER, data)

    written = await writer.dma_write(dst, _DST_BUFFER, _SRC_BUFFER, size)
    read = await writer.dma_read(dst, _DST_BUFFER, readback, size)
    for transfer in (written, read):
        if not transfer.ok:
            raise VerificationError(f"the {transfer.kind} failed: {transfer.error}")
    verified = None
    if data is not None:
        verified = bool(np.array_equal(peer.memory.read_array(_DST_BUFFER, size), data)
                        and np.array_equal(writer.memory.read_array(readback, size), data))
        if not verified:
            raise VerificationError(f"card {src} read back different bytes from what it wrote to card {dst}")
    frames, wire_bytes = fabric.wire_totals()
    return P2PResult(
        fabric=fabric.spec.name, seed=kernel.seed, src=src, dst=dst, size=size, mode=fabric.mode,
        write=Phase(written.finished_ps - written.submitted_ps, size),
        read=Phase(read.finished_ps - read.submitted_ps, size),
        frames=frames, wire_bytes=wire_bytes, messages=sum(c.messages_sent for c in fabric.cards.values()),
        verified=verified, end_ps=kernel.now, link=fabric.link_totals(), faults=fabric.fault_totals(),
    )


def _aligned(address: int, alignment: int = 1 << 20) -> int:
    return -(-address // alignment) * alignment
