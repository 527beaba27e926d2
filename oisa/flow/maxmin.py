"""Max-min fair rates by progressive filling, over a sparse resource-by-flow matrix.

Every flow's rate rises at the same pace until a resource it uses is full (or it reaches its
own cap); the flows on that resource then keep the rate they have, the others keep rising.
Flows may come in priority levels: level 0 fills first, level 1 then fills what it left, and so
on (a card serves its oldest transfer first, as its requester does).
What a flow takes of a resource is its rate times its weight there (the share of its bytes
that crosses the resource, times the wire bytes each payload byte costs on it), so one matrix
multiplication per step gives every resource's load. Each step freezes at least one resource,
so a pattern with a few kinds of bottleneck takes a few steps whatever the number of flows: no
Python loop runs per flow.

This module is pure arithmetic: it knows neither fabrics nor plans.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["max_min_rates"]

_TOLERANCE = 1e-9  # relative: a resource within this of full is full, a flow this near its cap is capped


def max_min_rates(weights: sparse.csr_matrix, capacity: np.ndarray, cap: np.ndarray | None = None,
                  priority: np.ndarray | None = None) -> np.ndarray:
    """Rates (payload per unit of time, as ``capacity``) of the flows that are the columns of
    ``weights`` (resources x flows), max-min fair under ``capacity`` per resource and ``cap``
    per flow (None or inf: no cap of its own), level by level of ``priority`` (None: all one
    level). A flow that crosses no resource and has no cap would rise for ever: it gets inf."""
    flows = weights.shape[1]
    cap = np.full(flows, np.inf) if cap is None else np.asarray(cap, dtype=np.float64)
    if priority is None or flows == 0 or priority.min() == priority.max():
        return _fill(weights, capacity.astype(np.float64, copy=True), capacity, cap)
    rates = np.zeros(flows)
    residual = capacity.astype(np.float64, copy=True)
    by_column = weights.tocsc()
    for level in np.unique(priority):
        columns = np.flatnonzero(priority == level)
        part = by_column[:, columns].tocsr()
        rates[columns] = _fill(part, residual, capacity, cap[columns])  # takes its share of residual
        np.maximum(residual, 0.0, out=residual)
    return rates


def _fill(weights: sparse.csr_matrix, residual: np.ndarray, capacity: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Progressive filling of ``weights``' flows into ``residual`` (consumed in place)."""
    flows = weights.shape[1]
    rates = np.zeros(flows)
    if flows == 0:
        return rates
    by_flow = weights.T.tocsr()
    rising = np.ones(flows, dtype=bool)
    level = 0.0
    while rising.any():
        demand = weights @ rising.astype(np.float64)  # what one more unit of rate costs each resource
        used = demand > 0
        step = np.inf
        if used.any():
            step = float(np.min(residual[used] / demand[used]))
        headroom = float(np.min(cap[rising])) - level
        step = max(0.0, min(step, headroom))
        if not np.isfinite(step):
            rates[rising] = np.inf
            break
        level += step
        residual -= step * demand
        full = used & (residual <= _TOLERANCE * capacity)
        frozen = (by_flow @ full.astype(np.float64)) > 0
        frozen |= cap <= level * (1 + _TOLERANCE)
        frozen &= rising
        if not frozen.any():  # rounding left every resource a hair short: freeze at the tightest one
            tightest = np.flatnonzero(used)[np.argmin(residual[used] / np.maximum(demand[used], 1e-300))]
            frozen = rising & (by_flow[:, [tightest]].toarray().ravel() > 0)
        rates[frozen] = level
        rising &= ~frozen
    return rates
