"""The fluid fills rates again only over the flows connected to those that started or drained:
whatever the batches, every live flow's rate is what max-min gives over all the live flows at
once (the components it skips keep rates that are still theirs)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from oisa.flow.fluid import Fluid
from oisa.flow.maxmin import max_min_rates

RESOURCES = 12


def _route(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries of ``count`` flows, each over one to three resources of one of three islands (so
    that the flow-resource graph has several components)."""
    flows, resources = [], []
    for flow in range(count):
        island = rng.integers(3) * (RESOURCES // 3)
        for resource in rng.choice(RESOURCES // 3, size=rng.integers(1, 4), replace=False):
            flows.append(flow)
            resources.append(island + resource)
    return np.asarray(flows), np.asarray(resources), rng.uniform(0.5, 2.0, len(flows))


@given(st.integers(0, 2**32 - 1), st.lists(st.tuples(st.integers(1, 6), st.integers(0, 4)), min_size=1, max_size=8))
def test_rates_are_max_min_over_every_live_flow(seed: int, batches: list[tuple[int, int]]) -> None:
    rng = np.random.default_rng(seed)
    capacity = rng.uniform(1.0, 10.0, RESOURCES)
    fluid = Fluid(capacity, np.full(RESOURCES, -1))
    entries: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    caps = {}
    for added, removed in batches:
        flow, resource, weight = _route(rng, added)
        cap = np.where(rng.random(added) < 0.3, rng.uniform(0.5, 3.0, added), np.inf)
        ids = fluid.add(flow, resource, weight, np.full(added, 1e6), cap)
        for index, flow_id in enumerate(ids.tolist()):
            mine = flow == index
            entries[flow_id] = (resource[mine], weight[mine])
            caps[flow_id] = cap[index]
        live = sorted(entries)
        gone = rng.choice(live, size=min(removed, len(live) - 1), replace=False) if len(live) > 1 else []
        if len(gone):
            fluid.remove(np.sort(np.asarray(gone)))
            for flow_id in np.asarray(gone).tolist():
                del entries[flow_id]
        live = sorted(entries)
        rates = fluid.rates()[live]
        column = np.repeat(np.arange(len(live)), [len(entries[f][0]) for f in live])
        expected = max_min_rates(np.concatenate([entries[f][0] for f in live]), column,
                                 np.concatenate([entries[f][1] for f in live]), capacity, len(live),
                                 np.asarray([caps[f] for f in live]))
        np.testing.assert_allclose(rates, expected, rtol=1e-9)
