"""Collectives as plans, built by hand: what the flow engine's tests and its agreement benchmark
(``flow_agreement.py``) run, plans whose phases and operations are written out here rather than
tuned by the collective library (``oisa.ccl``, which ``scale.py`` runs), so that they check the
engine alone.

Each function returns one :class:`~oisa.plan.Collective` carrying its traffic twice, as the
library's will: ``phases`` for the flow engine (one repeated pattern per ring pass) and
``expand()`` for the frame-level engines (a send per rank per step). The two describe the same
timing: a ring step is every rank sending one chunk to the next while it reduces what it got
(the reduction streams through its memory alongside the transfers, as a pipelined kernel does),
and the next step starts once the step's bytes have landed and its reductions are done, on
every rank (expanded, a zero-length delay that waits for the whole step stands for that). The
expanded reductions are therefore timed, not computed: these plans are for the timing and flow
engines, not for checking bytes (the library's plans are).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from oisa.fabric import FabricSpec
from oisa.fabric.clos import ClusterRouting
from oisa.plan import Collective, Delay, Flows, Phase, PrimitiveOp, Reduce, Send

__all__ = ["allreduce", "alltoall", "domains_of", "hierarchical_allreduce", "ring_allreduce"]

_SLOT = 1 << 32  # where a rank keeps what its neighbour sends at each step: far above its buffers
_OUTPUT = 1 << 31


def ring_allreduce(ranks: Sequence[int], size: int) -> Collective:
    """Ring all-reduce of ``size`` bytes per rank: n - 1 steps of reduce-scatter then n - 1 of
    all-gather, each step a chunk of size / n from every rank to the next."""
    ranks = tuple(ranks)
    n = len(ranks)
    chunk = -(-size // n)
    rings = [np.asarray(ranks, dtype=np.int64)]
    return Collective("allreduce", ranks, _ring_phases(rings, chunk), lambda: _ring_ops(rings, chunk, 2)[0],
                      info={"algorithm": "ring", "chunk": chunk})


def hierarchical_allreduce(domains: Sequence[Sequence[int]], size: int) -> Collective:
    """All-reduce over domains of equal size d (servers, supernodes): a ring reduce-scatter
    inside every domain, a ring all-reduce of each 1/d share across the domains (card i of
    every domain in one ring), a ring all-gather inside every domain."""
    groups = np.asarray(domains, dtype=np.int64)
    d = groups.shape[1]
    ranks = tuple(int(r) for r in groups.ravel())
    inner = -(-size // d)
    outer = -(-inner // groups.shape[0])
    inside, across = list(groups), list(groups.T)
    phases = (_ring_phases(inside, inner)[0], *_ring_phases(across, outer), _ring_phases(inside, inner)[1])

    def expand() -> list[PrimitiveOp]:
        ops: list[PrimitiveOp] = []
        ready: tuple[int, ...] = ()
        for rings, chunk, passes in ((inside, inner, 1), (across, outer, 2), (inside, inner, -1)):
            ops, ready = _ring_ops(rings, chunk, passes, ops, ready)
        return ops

    return Collective("allreduce", ranks, phases, expand, info={"algorithm": "hierarchical ring", "domain": d})


def allreduce(spec: FabricSpec, ranks: Sequence[int], size: int) -> Collective:
    """A hierarchical ring over the fabric's scale-up domains where it has several, else one ring."""
    domains = domains_of(spec, ranks)
    if domains is None or len(domains) == 1:
        return ring_allreduce(ranks, size)
    return hierarchical_allreduce(domains, size)


def alltoall(spec: FabricSpec, ranks: Sequence[int], size: int) -> Collective:
    """All-to-all of ``size`` bytes per rank: rank i's block j (size / n bytes) goes to rank j.
    Each rank sends to as many ranks at a time as the cards have DMA engines (the fewest of
    them; 4 on the catalog's GPUs), in rounds of consecutive shifts: with 4, round k sends to
    ranks i + 4k + 1 ... i + 4k + 4. One phase per round; expanded, a rank's round waits for
    its sends of the round before."""
    ranks = tuple(ranks)
    peers = min(int(spec.card(rank).device.dma_engines.value) for rank in set(ranks))
    n = len(ranks)
    block = size // n
    array = np.asarray(ranks, dtype=np.int64)
    rounds = [range(first, min(first + peers, n)) for first in range(1, n, peers)]
    position = np.arange(n)
    phases = []
    for shifts in rounds:
        src = np.tile(array, len(shifts))
        dst = array[(np.tile(position, len(shifts)) + np.repeat(np.asarray(shifts), n)) % n]
        phases.append(Phase(Flows.of(src, dst, block)))

    def expand() -> list[PrimitiveOp]:
        ops: list[PrimitiveOp] = []
        ready: tuple[int, ...] = ()
        for shifts in rounds:  # a round starts once the one before has landed everywhere
            sent = []
            for shift in shifts:
                for i in range(n):
                    peer = (i + shift) % n
                    sent.append(len(ops))
                    ops.append(Send(ranks[i], ranks[peer], block, 0, _OUTPUT + (i * n + peer) * block, deps=ready))
            ops.append(Delay(ranks[0], 0, deps=tuple(sent)))
            ready = (len(ops) - 1,)
        return ops

    return Collective("alltoall", ranks, tuple(phases), expand,
                      info={"algorithm": "direct, in rounds", "block": block, "peers": peers})


def domains_of(spec: FabricSpec, ranks: Sequence[int]) -> list[list[int]] | None:
    """``ranks`` grouped by the scale-up domain of a cluster fabric (None for other fabrics, or
    when the ranks do not fill whole domains alike)."""
    if not isinstance(spec.routing, ClusterRouting):
        return None
    per = spec.routing.layout.domain_cards
    groups: dict[int, list[int]] = {}
    for rank in ranks:
        groups.setdefault(rank // per, []).append(rank)
    sizes = {len(group) for group in groups.values()}
    return list(groups.values()) if len(sizes) == 1 else None


def _ring_phases(rings: list[np.ndarray], chunk: int) -> tuple[Phase, Phase]:
    """The two passes of ring all-reduces over ``rings`` (all the same length), run at once."""
    src = np.concatenate(rings)
    dst = np.concatenate([np.roll(ring, -1) for ring in rings])
    n = len(rings[0])
    flows = Flows.of(src, dst, chunk)
    reduce_scatter = Phase(flows, repeat=n - 1, memory_bytes=3 * chunk, memory_ranks=tuple(int(r) for r in src))
    return reduce_scatter, Phase(flows, repeat=n - 1)


def _ring_ops(rings: list[np.ndarray], chunk: int, passes: int, ops: list[PrimitiveOp] | None = None,
              ready: tuple[int, ...] = ()) -> tuple[list[PrimitiveOp], tuple[int, ...]]:
    """The primitive operations of ring passes over ``rings`` (all at once), appended to
    ``ops``: ``passes`` 2 is reduce-scatter then all-gather, 1 only reduce-scatter, -1 only
    all-gather. Every step starts once the step before has ended everywhere (``ready``, at the
    first) and ends once all its sends have landed and its reductions, which stream alongside the
    transfers, are done: as a phase's repetitions. Returns the ops and what the next pass waits for."""
    ops = [] if ops is None else ops
    n = len(rings[0])
    steps = [True] * (n - 1) * (passes in (1, 2)) + [False] * (n - 1) * (passes in (-1, 2))
    for step, reducing in enumerate(steps):
        step_ops = []
        for ring in rings:
            for position in range(n):
                rank, peer = int(ring[position]), int(ring[(position + 1) % n])
                step_ops.append(len(ops))
                ops.append(Send(rank, peer, chunk, 0, _SLOT + step * chunk, deps=ready))
                if reducing:
                    step_ops.append(len(ops))
                    ops.append(Reduce(rank, _OUTPUT, (0, _SLOT), chunk, "float32", "sum", deps=ready))
        ops.append(Delay(int(rings[0][0]), 0, deps=tuple(step_ops)))  # the step's end, everywhere
        ready = (len(ops) - 1,)
    return ops, ready
