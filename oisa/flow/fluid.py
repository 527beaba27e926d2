"""The flows in flight: bytes left, rates, and the next time one of them drains.

Between two events nothing changes the rates, so every flow drains at its rate like a fluid and
the next event is the earliest of the flows' ``left / rate``. Flows are added and removed in
batches (all those that start, or drain, at one instant) and the rates are recomputed once per
batch, by :func:`~oisa.flow.maxmin.max_min_rates` over the flows still in flight. Flow ids are
array indices and never reused; the entries of the flows that have drained are dropped from the
matrix whenever they come to outnumber the live ones. Max-min rates are set component by component
of the graph of flows and the resources they share, so after a batch only the flows connected to
those that started or drained are filled again (unless they are most of them): the others keep
their rates.

A flow may have an owner (the card whose port its bytes leave by): a card sends what it was
asked first, first, so on each link leaving a card its flows queue oldest first, and a flow
fills only what the flows ahead of it in the longest queue it stands in left (priority levels
of :func:`~oisa.flow.maxmin.max_min_rates`); flows of one card that leave by different links
share equally, as do flows without an owner.

A flow may stand for several identical ones (``multiplicity``: the same route, size, cap and
start, as the lanes of one pair of a collective's phase): its rate is each one's, and its share of
every resource it crosses counts that many times, so a flow standing for ``k`` and the ``k``
flows themselves get the same rates (a test holds them equal). Such a flow has no owner:
identical flows of one owner would queue apart.

A flow may be added parked: routed and counted, but not moving until :meth:`Fluid.start` (a
transfer queued behind its card's busy DMA engines).

Flows that drain within :data:`TIE_PS` of one another drain together: the engine's times are
whole picoseconds, and a tie broken by rounding would cost a rate computation for nothing.
"""

from __future__ import annotations

import numpy as np

from oisa.flow.maxmin import max_min_rates
from oisa.flow.pfc import PauseCoupling

__all__ = ["TIE_PS", "Fluid"]

TIE_PS = 1.0


class Fluid:
    """Flows over resources of ``capacity`` (bytes per ps); ``tail[r]`` is the node resource
    ``r`` leaves from (-1 for a group of links); ``pauses``, where the fabric has lossless
    switches, couples the flows that share a link PFC pauses (:mod:`oisa.flow.pfc`)."""

    def __init__(self, capacity: np.ndarray, tail: np.ndarray, pauses: PauseCoupling | None = None) -> None:
        self.capacity = capacity
        self.tail = tail
        self.pauses = pauses
        self.left = np.zeros(0)
        self.rate = np.zeros(0)
        self.cap = np.zeros(0)
        self.owner = np.zeros(0, dtype=np.int64)
        self.alive = np.zeros(0, dtype=bool)
        self.parked = np.zeros(0, dtype=bool)
        self.count = 0  # flow ids handed out
        self.live = 0
        self._live_ids = np.zeros(0, np.int64)  # the ids of the live flows, in order
        self.recomputed = 0  # how many times rates were computed: the engine's event count
        self._entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._flow = np.zeros(0, np.int64)
        self._resource = np.zeros(0, np.int64)
        self._weight = np.zeros(0)
        self._dirty = False
        self._changed: list[np.ndarray] = []  # flows started, added moving or removed since the last computation
        self._computed = False  # rates were computed once: from then on only where flows changed

    def add(self, flow: np.ndarray, resource: np.ndarray, weight: np.ndarray, size: np.ndarray,
            cap: np.ndarray, owner: np.ndarray | int = -1, parked: np.ndarray | None = None,
            multiplicity: np.ndarray | None = None) -> np.ndarray:
        """New flows of ``size`` bytes (entries index them from 0), owned by ``owner`` (-1:
        none), those marked in ``parked`` waiting for :meth:`start`, each standing for
        ``multiplicity`` identical flows (None: one; more only without an owner); returns their
        ids, which grow with the order flows were added in."""
        count = len(size)
        if multiplicity is not None:
            assert not (np.any(np.asarray(owner) >= 0) and (multiplicity != 1).any()), "owned flows queue apart"
            weight = weight * multiplicity[flow]
        ids = np.arange(self.count, self.count + count)
        self._grow(self.count + count)
        self.left[ids] = size
        self.cap[ids] = cap
        self.owner[ids] = owner
        self.rate[ids] = 0.0
        moving = np.ones(count, dtype=bool) if parked is None else ~parked
        self.alive[ids] = moving
        self.parked[ids] = ~moving
        self.count += count
        self.live += int(moving.sum())
        self._live_ids = np.concatenate([self._live_ids, ids[moving]])
        self._entries.append((flow + ids[0], resource, weight))
        self._changed.append(ids[moving])
        self._dirty = True
        return ids

    def start(self, ids: np.ndarray) -> None:
        """Parked flows ``ids`` move from now."""
        if not len(ids):
            return
        self.parked[ids] = False
        self.alive[ids] = True
        self.live += len(ids)
        self._live_ids = np.sort(np.concatenate([self._live_ids, ids]))
        self._changed.append(np.asarray(ids, dtype=np.int64))
        self._dirty = True

    def remove(self, ids: np.ndarray) -> None:
        self.alive[ids] = False
        self.left[ids] = 0.0
        self.rate[ids] = 0.0
        self.live -= len(ids)
        self._live_ids = self._live_ids[self.alive[self._live_ids]]
        self._changed.append(np.asarray(ids, dtype=np.int64))
        self._dirty = True

    def advance(self, elapsed: float) -> None:
        """Let ``elapsed`` ps of draining pass at the current rates."""
        if elapsed > 0 and self.live:
            live = self._live_ids
            self.left[live] -= self.rate[live] * elapsed

    def next_drain(self) -> float:
        """Ps from now until the first live flow drains (inf if none will)."""
        if not self.live:
            return np.inf
        self._rates()
        live = self._live_ids
        rates = self.rate[live]
        moving = rates > 0
        if not moving.any():
            return np.inf
        return float(np.min(np.maximum(self.left[live][moving], 0.0) / rates[moving]))

    def drained(self) -> np.ndarray:
        """Ids of the live flows with no more than :data:`TIE_PS` of bytes left."""
        live = self._live_ids
        left, rate = self.left[live], self.rate[live]
        return live[(left <= rate * TIE_PS) | (left <= 1e-9)]

    def rates(self) -> np.ndarray:
        """The current rate of every flow id (0 for those drained)."""
        self._rates()
        return self.rate

    # -- internals ---------------------------------------------------------------------------------------

    def _grow(self, size: int) -> None:
        if size <= len(self.left):
            return
        grown = max(size, 2 * len(self.left), 64)
        for name, kind in (("left", np.float64), ("rate", np.float64), ("cap", np.float64), ("owner", np.int64),
                           ("alive", bool), ("parked", bool)):
            array = np.zeros(grown, dtype=kind)
            array[:len(getattr(self, name))] = getattr(self, name)
            setattr(self, name, array)

    def _rates(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        if self._entries:
            self._flow = np.concatenate([self._flow, *(e[0] for e in self._entries)])
            self._resource = np.concatenate([self._resource, *(e[1] for e in self._entries)])
            self._weight = np.concatenate([self._weight, *(e[2] for e in self._entries)])
            self._entries = []
        changed = np.unique(np.concatenate(self._changed)) if self._changed else np.zeros(0, np.int64)
        self._changed = []
        touched = np.zeros(len(self.capacity), dtype=bool)  # resources whose flows changed
        touched[self._resource[np.isin(self._flow, changed)]] = True
        waiting = (self.alive | self.parked)[self._flow]
        if waiting.sum() * 2 < len(waiting):  # the drained outnumber the others: drop their entries for good
            self._flow, self._resource = self._flow[waiting], self._resource[waiting]
            self._weight = self._weight[waiting]
        keep = self.alive[self._flow]
        live = self._live_ids
        if not len(live):
            return
        resource, weight = self._resource[keep], self._weight[keep]
        flow = np.searchsorted(live, self._flow[keep])  # entries by live flow (live ids are in order)
        if self._computed:  # only the flows connected to those that changed: the others keep their rates
            inside = self._connected(resource, flow, touched, np.searchsorted(live, changed[self.alive[changed]]),
                                     len(live))
            if 2 * int(inside.sum()) < len(live):
                live = live[inside]
                entries = inside[flow]
                resource, weight = resource[entries], weight[entries]
                flow = (np.cumsum(inside) - 1)[flow[entries]]
        self._computed = True
        if not len(live):
            return
        fair = max_min_rates if self.pauses is None else self.pauses.rates
        self.rate[live] = fair(resource, flow, weight, self.capacity, len(live), self.cap[live],
                               self._priority(self.owner[live], resource, flow))
        self.recomputed += 1

    def _connected(self, resource: np.ndarray, flow: np.ndarray, touched: np.ndarray, changed: np.ndarray,
                   flows: int) -> np.ndarray:
        """Which of the ``flows`` live flows (a mask) are connected to the ``touched`` resources
        or the ``changed`` flows (live positions) through the live entries (``resource``,
        ``flow``): max-min rates are set component by component of the flow-resource graph, so
        only these can move (a 10,000-card training step's events each end a phase inside one
        server or pipeline)."""
        inside = np.zeros(flows, dtype=bool)
        inside[changed] = True
        reached = touched.copy()
        reached[resource[inside[flow]]] = True
        while True:
            hit = flow[reached[resource]]
            new = hit[~inside[hit]]
            if not len(new):
                return inside
            inside[new] = True
            reached[resource[inside[flow]]] = True

    def _priority(self, owner: np.ndarray, resource: np.ndarray, flow: np.ndarray) -> np.ndarray | None:
        """Each live flow's level: its place in the queue of the busiest link leaving its owner,
        oldest first (``owner`` in id order, so the queue order is the flows' order; ``resource``
        and ``flow`` are the entries, flows numbered as ``owner``)."""
        leaving = np.flatnonzero(self.tail[resource] == np.where(owner[flow] >= 0, owner[flow], -2))
        if not len(leaving):
            return None
        links, flows = resource[leaving], flow[leaving]
        order = np.lexsort((flows, links))  # by link, then oldest first
        links, flows = links[order], flows[order]
        first = np.r_[True, links[1:] != links[:-1]]
        starts = np.flatnonzero(first)
        place = np.arange(len(links)) - np.repeat(starts, np.diff(np.r_[starts, len(links)]))
        if not place.any():
            return None
        level = np.zeros(len(owner), dtype=np.int64)
        np.maximum.at(level, flows, place)
        return level
