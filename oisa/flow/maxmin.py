"""Max-min fair rates by progressive filling, over a sparse resource-by-flow incidence.

Every flow's rate rises at the same pace until a resource it uses is full (or it reaches its
own cap); the flows on that resource then keep the rate they have, the others keep rising.
Flows may come in priority levels: level 0 fills first, level 1 then fills what it left, and so
on (a card serves its oldest transfer first, as its requester does).

The incidence is given as its nonzero entries (resource, flow, weight): what a flow takes of a
resource is its rate times its weight there (the share of its bytes that crosses the resource,
times the wire bytes each payload byte costs on it). One weighted count of the entries of the
flows still rising gives every resource's load per unit of rate, and one count of the full
resources' entries gives the flows they stop: a step costs time in proportion to the entries
left, and each step freezes at least one resource, so a pattern with a few kinds of bottleneck
takes a few steps whatever the number of flows. No Python loop runs per flow or per resource.

This module is pure arithmetic: it knows neither fabrics nor plans.
"""

from __future__ import annotations

import numpy as np

__all__ = ["max_min_rates"]

_TOLERANCE = 1e-9  # relative: a resource within this of full is full, a flow this near its cap is capped


def max_min_rates(resource: np.ndarray, flow: np.ndarray, weight: np.ndarray, capacity: np.ndarray,
                  flows: int, cap: np.ndarray | None = None, priority: np.ndarray | None = None) -> np.ndarray:
    """Rates (payload per unit of time, as ``capacity``) of ``flows`` flows with incidence entries
    (``resource[i]``, ``flow[i]``, ``weight[i]``), max-min fair under ``capacity`` per resource
    and ``cap`` per flow (None or inf: no cap of its own), level by level of ``priority`` (None:
    all one level). A flow that crosses no resource and has no cap would rise for ever: inf."""
    cap = np.full(flows, np.inf) if cap is None else np.asarray(cap, dtype=np.float64)
    used, local = np.unique(resource, return_inverse=True)  # only the resources some flow crosses
    local = local.reshape(-1)
    residual = capacity[used].astype(np.float64)
    full_below = _TOLERANCE * capacity[used]
    if priority is None or flows == 0 or priority.min() == priority.max():
        return _fill(local, flow, weight, residual, full_below, np.ones(flows, dtype=bool), cap)
    rates = np.zeros(flows)
    level_of_entry = priority[flow]
    for level in np.unique(priority):
        entries = level_of_entry == level
        rates += _fill(local[entries], flow[entries], weight[entries], residual, full_below, priority == level, cap)
        np.maximum(residual, 0.0, out=residual)
    return rates


def _fill(resource: np.ndarray, flow: np.ndarray, weight: np.ndarray, residual: np.ndarray, full_below: np.ndarray,
          rising: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Progressive filling of the ``rising`` flows over the given entries into ``residual``
    (consumed in place; a resource is full below ``full_below``); rates of the other flows
    are 0 here."""
    flows = len(rising)
    rates = np.zeros(flows)
    rising = rising.copy()
    size = len(residual)
    capped = bool(np.isfinite(cap[rising]).any())
    level = 0.0
    while True:
        live = rising[flow]
        if not live.any():
            rates[rising] = np.inf if not capped else np.minimum(cap[rising], np.inf)
            rising[:] = False
            break
        resource, flow, weight = resource[live], flow[live], weight[live]  # only entries of flows still rising
        demand = np.bincount(resource, weight, minlength=size)  # what one more unit of rate costs each resource
        used = demand > 0
        step = float((residual[used] / demand[used]).min())
        if capped:
            step = min(step, float(cap[rising].min()) - level)
        step = max(0.0, step)
        level += step
        residual -= step * demand
        full = used & (residual <= full_below)
        frozen = np.zeros(flows, dtype=bool)
        frozen[flow[full[resource]]] = True
        if capped:
            frozen |= rising & (cap <= level * (1 + _TOLERANCE))
        if not frozen.any():  # rounding left every resource a hair short: freeze at the tightest one
            candidates = np.flatnonzero(used)
            tightest = candidates[np.argmin(residual[candidates] / demand[candidates])]
            frozen[flow[resource == tightest]] = True
        rates[frozen] = level
        rising &= ~frozen
        if not rising.any():
            break
    return rates
