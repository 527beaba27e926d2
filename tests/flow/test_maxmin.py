"""Max-min fair rates: the vectorised progressive filling against a plain one written for
clarity, on random resource-by-flow matrices; and the cases a reader checks by hand."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from oisa.flow import max_min_rates


def _rates(weights: np.ndarray, capacity: np.ndarray, cap: np.ndarray | None = None,
           priority: np.ndarray | None = None) -> np.ndarray:
    resource, flow = np.nonzero(weights)
    return max_min_rates(resource, flow, weights[resource, flow], capacity, weights.shape[1], cap, priority)


def _plain(weights: np.ndarray, capacity: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Progressive filling one flow at a time: raise every unfrozen flow until the first
    resource fills or flow reaches its cap, freeze what that blocks, repeat."""
    resources, flows = weights.shape
    rate = np.zeros(flows)
    frozen = [False] * flows
    while not all(frozen):
        best = np.inf
        for r in range(resources):
            rising = sum(weights[r, f] for f in range(flows) if not frozen[f])
            if rising > 0:
                left = capacity[r] - sum(weights[r, f] * rate[f] for f in range(flows))
                best = min(best, left / rising)
        for f in range(flows):
            if not frozen[f]:
                best = min(best, cap[f] - rate[f])
        for f in range(flows):
            if not frozen[f]:
                rate[f] += best
        for f in range(flows):
            if frozen[f]:
                continue
            full = any(weights[r, f] > 0 and capacity[r] - sum(weights[r, g] * rate[g] for g in range(flows))
                       <= 1e-9 * capacity[r] for r in range(resources))
            frozen[f] = full or rate[f] >= cap[f] * (1 - 1e-12)
    return rate


@st.composite
def problems(draw):
    resources, flows = draw(st.integers(1, 6)), draw(st.integers(1, 8))
    weights = np.zeros((resources, flows))
    for f in range(flows):
        for r in draw(st.lists(st.integers(0, resources - 1), min_size=1, max_size=resources, unique=True)):
            weights[r, f] = draw(st.sampled_from([0.25, 0.5, 1.0, 1.08, 1.17]))
    capacity = np.array([draw(st.sampled_from([10.0, 25.0, 50.0, 100.0])) for _ in range(resources)])
    cap = np.array([draw(st.sampled_from([np.inf, np.inf, 7.0, 30.0])) for _ in range(flows)])
    return weights, capacity, cap


@given(problems())
def test_vectorised_filling_gives_the_rates_plain_filling_gives(problem):
    weights, capacity, cap = problem
    rates = _rates(weights, capacity, cap)
    assert rates == pytest.approx(_plain(weights, capacity, cap), rel=1e-9)
    assert np.all(weights @ rates <= capacity * (1 + 1e-9))  # no resource over its capacity
    # max-min: every flow is capped, or crosses a full resource on which no flow gets more than it
    load = weights @ rates
    for f in range(weights.shape[1]):
        bottlenecks = [r for r in range(len(capacity)) if weights[r, f] and load[r] >= capacity[r] * (1 - 1e-9)
                       and all(rates[g] <= rates[f] * (1 + 1e-9) for g in np.flatnonzero(weights[r]))]
        assert rates[f] >= cap[f] * (1 - 1e-9) or bottlenecks


def test_two_flows_on_one_link_share_it_and_a_third_takes_what_it_leaves():
    # flows 0 and 1 share resource 0 (capacity 10); flow 1 also crosses resource 1 (capacity 3)
    weights = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    assert _rates(weights, np.array([10.0, 3.0])).tolist() == pytest.approx([8.5, 1.5, 1.5])


def test_a_lower_priority_level_fills_only_what_the_higher_left():
    rates = _rates(np.array([[1.0, 1.0, 1.0]]), np.array([12.0]), np.array([5.0, np.inf, np.inf]), np.array([0, 0, 1]))
    assert rates.tolist() == pytest.approx([5.0, 7.0, 0.0])


def test_overhead_weights_cost_capacity():
    # a flow whose messages cost 1.25 wire bytes per payload byte gets 80% of the link
    assert _rates(np.array([[1.25]]), np.array([100.0]))[0] == pytest.approx(80.0)
