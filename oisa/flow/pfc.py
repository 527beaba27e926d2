"""PFC's pause coupling at its steady state: how a congested lossless port slows flows that never
cross it.

A switch with PFC on pauses the link an ingress port hangs off once the bytes that came in on it
and wait in its queues pass XOFF. Under a lasting overload of one egress (an incast), the ingress
ports that feed it stay near XOFF, so the links into them are paused part of the time, for every
packet of the priority, wherever it goes. A sender serves the flows queued on a link in turn, and
the bytes of the slowest flow held back by an overloaded egress (a *hot* flow, at its share of
that egress) are what keep the ingress above XOFF, so every flow on the link goes no faster than
that flow: the victim of head-of-line blocking, which a fair share of links does not see. An
egress is overloaded where the links that feed its flows could bring more than it sends (an
incast's several inputs), not where one link of its rate carries all it sends. The pauses climb: a paused
link fills the switch it leaves from, whose ingress ports pause the links into it in turn, along
the hot flows' routes back to their NICs (Guo et al., "RDMA over Commodity Ethernet at Scale",
SIGCOMM 2016, sections 3.1-3.2).

DCQCN does not lift the coupling here. In timing mode the incasts of ``benchmarks/pfc.py`` take
the same time to the picosecond with DCQCN on and off: RoCE-mode ECN marks at most 1% of the
packets, from 150 KB of egress queue, so the CNPs are few (22 for 8 x 2 MiB, ``oisa scenario
incast``) and cut rates that the pauses already hold lower. The flow engine models no rate cut:
at DCQCN's steady state the hot flows get the fair shares max-min fairness gives them anyway.

The coupling is the fixed point of: max-min fair rates; the hot flows (those at the largest rate
of an overloaded, saturated lossless egress, which is what holds them); the links their payload
crosses on the way there, climbing through lossless switches; every flow on such a link capped
at the pace of the slowest hot flow on it; and the fair rates again under those caps. An entry carries a
flow's payload (rather than its answers or requests the other way) if it weighs at least
:data:`PAYLOAD_SHARE` of the flow's heaviest entry: answers cost well under 1% of the payload's
wire bytes, and a sprayed payload spreads over fewer than 50 paths. This module knows nothing of
fabrics: resources, nodes and the flows' entries only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oisa.flow.maxmin import max_min_rates

__all__ = ["PAYLOAD_SHARE", "PauseCoupling"]

PAYLOAD_SHARE = 1 / 50
_ROUNDS = 8  # fixed-point rounds: the caps settle in two or three on the patterns tested
_TOLERANCE = 1e-6  # relative: a resource this near full is saturated, a rate this near the top is the top


@dataclass(frozen=True)
class PauseCoupling:
    """Per resource, the node it leaves (``tail``) and enters (``head``; both -1 for a group of
    links or a switch's reduction units, which neither pause nor are paused) and whether it
    leaves a switch whose PFC covers the flows' priority (``pausing``); per node, whether it is
    such a switch (``lossless``: a link into it can be paused)."""

    tail: np.ndarray
    head: np.ndarray
    pausing: np.ndarray
    lossless: np.ndarray

    def rates(self, resource: np.ndarray, flow: np.ndarray, weight: np.ndarray, capacity: np.ndarray, flows: int,
              cap: np.ndarray, priority: np.ndarray | None) -> np.ndarray:
        """Max-min fair rates (as :func:`~oisa.flow.maxmin.max_min_rates`), every flow on a paused
        link capped at the pace of the slowest hot flow that pauses it."""
        rates = max_min_rates(resource, flow, weight, capacity, flows, cap, priority)
        for _ in range(_ROUNDS):
            paused = self.paused_caps(resource, flow, weight, capacity, rates, cap)
            if paused is None:
                break
            coupled = max_min_rates(resource, flow, weight, capacity, flows, np.minimum(cap, paused), priority)
            settled = np.allclose(coupled, rates, rtol=_TOLERANCE, atol=0.0)
            rates = coupled
            if settled:
                break
        return rates

    def paused_caps(self, resource: np.ndarray, flow: np.ndarray, weight: np.ndarray, capacity: np.ndarray,
                    rates: np.ndarray, cap: np.ndarray) -> np.ndarray | None:
        """Each flow's cap from the links paused at ``rates`` (inf where none binds it), or None
        where none is: no lossless egress is overloaded, or none holds a flow back. A flow at its
        own ``cap`` is not held back by any egress: it would go no faster without it."""
        flows = len(cap)
        load = np.bincount(resource, weight * rates[flow], minlength=len(capacity))
        saturated = self.pausing & (load >= capacity * (1 - _TOLERANCE))
        if not saturated[resource].any():
            return None
        heaviest = np.zeros(flows)
        np.maximum.at(heaviest, flow, weight)
        payload = weight >= PAYLOAD_SHARE * heaviest[flow]
        at_saturated = saturated[resource] & self._overloaded(resource, flow, payload, capacity, saturated)[resource]
        if not at_saturated.any():
            return None
        top = np.zeros(len(capacity))
        np.maximum.at(top, resource[at_saturated], rates[flow[at_saturated]])
        held = rates < cap * (1 - _TOLERANCE)
        hot_entry = at_saturated & payload & held[flow] & (rates[flow] >= top[resource] * (1 - _TOLERANCE))
        hot = np.zeros(flows, dtype=bool)
        hot[flow[hot_entry]] = True
        paused_entry = self._climb(resource, flow, payload & hot[flow], hot_entry)
        if not paused_entry.any():
            return None
        pace = np.full(len(capacity), np.inf)
        np.minimum.at(pace, resource[paused_entry], rates[flow[paused_entry]])
        on_paused = np.isfinite(pace[resource])
        caps = np.full(flows, np.inf)
        np.minimum.at(caps, flow[on_paused], pace[resource[on_paused]])
        return caps

    def _overloaded(self, resource: np.ndarray, flow: np.ndarray, payload: np.ndarray, capacity: np.ndarray,
                    saturated: np.ndarray) -> np.ndarray:
        """Which ``saturated`` egresses the links feeding their flows could overfill: a queue builds
        only where those links together bring more than the egress sends (an incast's several
        inputs), not where one link of the same rate carries all it sends."""
        nodes = len(self.lossless)
        head = self.head[resource]
        feeding = np.flatnonzero(payload & (head >= 0))
        feeding = feeding[np.argsort(flow[feeding] * nodes + head[feeding], kind="stable")]
        keys = flow[feeding] * nodes + head[feeding]
        out = np.flatnonzero(saturated[resource] & payload)
        wanted = flow[out] * nodes + self.tail[resource[out]]
        low, high = np.searchsorted(keys, wanted, "left"), np.searchsorted(keys, wanted, "right")
        count = high - low
        egress = np.repeat(resource[out], count)
        starts = np.repeat(low - np.cumsum(count) + count, count) + np.arange(int(count.sum()))
        pairs = np.unique(np.stack([egress, resource[feeding[starts]]]), axis=1)
        brought = np.bincount(pairs[0], capacity[pairs[1]], minlength=len(capacity))
        return brought > capacity * (1 + _TOLERANCE)

    def _climb(self, resource: np.ndarray, flow: np.ndarray, candidates: np.ndarray,
               hot_entry: np.ndarray) -> np.ndarray:
        """The ``candidates`` entries (hot flows' payload) on links into the switch where their
        flow is held, and on links into a lossless switch such an entry leaves from, and so on."""
        nodes = len(self.lossless)
        head = self.head[resource]
        key = flow * nodes + np.maximum(head, 0)
        candidates = candidates & (head >= 0)
        reached = np.unique(flow[hot_entry] * nodes + self.tail[resource[hot_entry]])
        paused = np.zeros(len(flow), dtype=bool)
        while True:
            new = candidates & ~paused & np.isin(key, reached)
            if not new.any():
                return paused
            paused |= new
            upstream = self.tail[resource[new]]
            climbing = (upstream >= 0) & self.lossless[np.maximum(upstream, 0)]
            reached = np.union1d(reached, flow[new][climbing] * nodes + upstream[climbing])
