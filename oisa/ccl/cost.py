"""The library's cost model of a call: latency plus size over bandwidth, phase by phase.

NCCL's tuner prices every algorithm and protocol as a latency plus the bytes over a bandwidth
(``ncclTopoGetAlgoTime`` in ``src/graph/tuning.cc``), both taken from tables filled at start-up
from its topology search. This model has the same shape, but reads both off the plan the library
would run: for each phase of the call, the handshake of a step (the protocol's, over a network hop
if the phase crosses one), the links' latency along the routes, the time the busiest link needs
for the phase's bytes (framing and protocol flags included), the time one channel's threads need
to copy theirs, or, where a card starts more copies by DMA than it has engines, the waves of
round trips its engines work through (each copy holds an engine until its completion returns),
whichever is longest, and the
reductions' time through memory; times the steps the phase repeats; plus the launch and the
algorithm's base latency. Where a phase's connections pipeline many steps (a chain's or a tree's
pieces), at least their steps over the connection's window (:data:`oisa.ccl.schedule.STEPS`)
times a step's handshake, crossing and transfer: long handshakes (a network hop's) then bound
the rate, as they do in NCCL, whose connections hold ``NCCL_STEPS`` steps.

What does not depend on the library's fitted figures (the links each phase loads, how much) is
worked out once per call and plan shape (:class:`PhaseCost`), so that a calibration can price the
same plans under thousands of parameter sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oisa.ccl.kinds import Call
from oisa.ccl.library import Library
from oisa.ccl.schedule import STEPS, PhaseShape, Protocol, protocol
from oisa.ccl.topology import Topology
from oisa.plan import Phase
from oisa.units import S

__all__ = ["PhaseCost", "estimate_ps", "phase_costs"]


@dataclass(frozen=True)
class PhaseCost:
    """What one phase costs that the library's fitted figures do not change: ``repeat`` steps,
    each with a handshake (``handshake``; over the network for a share ``network`` of them: a
    repeated phase passes its hops in turn and costs their mean, a single step its slowest
    hop's, as :meth:`oisa.ccl.schedule.Flowbook.close` prices it), ``route_ps`` of link
    and forwarder latency, ``transfer_ps`` for the busiest link, ``largest_flow`` wire bytes in its
    largest flow per channel of its lane (what one channel's threads copy), ``dma_ps`` for the
    busiest card's DMA engines and ``memory_ps`` of reductions through memory; ``window_steps``
    the steps each connection pipelines where the window binds (else 0), ``window_network``
    whether one of them crosses the network."""

    repeat: int
    handshake: bool
    network: float
    route_ps: float
    transfer_ps: float
    largest_flow: float
    dma_ps: float
    memory_ps: float
    window_steps: int = 0
    window_network: bool = False


def phase_costs(topology: Topology, phases: tuple[Phase, ...], shapes: tuple[PhaseShape, ...],
                proto: Protocol) -> tuple[PhaseCost, ...]:
    """The costs of ``phases``, built with protocol ``proto``: their flows each carry the channels
    of a lane (``shapes``, as :class:`~oisa.ccl.schedule.Flowbook` recorded them), their
    handshakes say how many of a step's hops cross the network (the phase's latency between the
    protocol's two; none where it has no latency)."""
    flagged = proto.efficiency < 1.0
    out = []
    capacity = topology.capacities
    for phase, shape in zip(phases, shapes, strict=True):
        flows = phase.flows
        routed = topology.routes(flows.src, flows.dst)
        loads = np.bincount(routed.resource, weights=routed.per_byte * flows.size[routed.flow],
                            minlength=len(capacity))
        transfer = float(np.max(loads / capacity)) * S if len(loads) else 0.0
        latencies = routed.latency_ps
        memory = 0.0
        if phase.memory_bytes and phase.memory_ranks:
            memory = phase.memory_bytes / topology.slowest_memory(phase.memory_ranks) * S
        largest = float(flows.size.max()) / shape.width if len(flows) else 0.0
        if not len(flows):
            route_ps = 0.0
        else:
            route_ps = float(latencies.sum()) / len(latencies) if phase.repeat > 1 else float(latencies.max())
        spread = proto.net_step_ps - proto.step_ps
        crossing = bool(routed.network.any())
        network = min(1.0, max(0.0, (phase.latency_ps - proto.step_ps) / spread)) if spread else float(crossing)
        # transfers between ranks, up to the first that is not (to or from a switch): a card's copies
        between = np.logical_and.accumulate(topology.between_ranks(flows.src, flows.dst))
        dma = _dma_ps(topology, flows.src[between], routed.stores[between], latencies[between], flagged)
        handshake = bool(between.all()) and phase.latency_ps > 0
        out.append(PhaseCost(phase.repeat, handshake, network, route_ps, transfer, largest, dma, memory,
                             shape.steps, crossing))
    return tuple(out)


def _dma_ps(topology: Topology, src: np.ndarray, stores: np.ndarray, latency: np.ndarray, flagged: bool) -> float:
    """The longest a card's DMA engines take to work through the copies it starts (each holds an
    engine for a round trip; LL and LL128 copy data and flags apart), where it starts more than
    it has engines."""
    by_dma = ~stores
    cards, position = np.unique(src[by_dma], return_inverse=True)
    if not len(cards):
        return 0.0
    copies = np.bincount(position, minlength=len(cards)) * (2 if flagged else 1)
    round_trip = np.zeros(len(cards))
    np.maximum.at(round_trip, position, 2.0 * latency[by_dma])
    engines = topology.card_dma_engines[cards]
    waves = -(-copies // engines)
    return float(np.max(np.where(waves > 1, waves * round_trip, 0.0)))


def estimate_ps(library: Library, call: Call, algorithm: str, protocol_name: str, channels: int,
                costs: tuple[PhaseCost, ...], start_ps: int) -> float:
    """The model's time for the call (ps), given its phases' costs and its start latency."""
    proto = protocol(library, protocol_name, channels, algorithm)
    total = float(start_ps)
    for cost in costs:
        handshake = (cost.network * proto.net_step_ps + (1 - cost.network) * proto.step_ps) if cost.handshake else 0
        copying = cost.largest_flow * proto.efficiency / proto.channel_rate * S if proto.channel_rate > 0 else 0.0
        moving = max(cost.transfer_ps, copying, cost.dma_ps)
        phase = cost.repeat * (handshake + cost.route_ps + moving + cost.memory_ps)
        if cost.window_steps:
            step = proto.sync_ps(cost.window_network) + cost.route_ps + moving / cost.window_steps
            phase = max(phase, cost.window_steps / STEPS * step)
        total += phase
    return total
