"""PFC's pause coupling on the flow engine (oisa/flow/pfc.py), on hand-made resources: a victim
that shares a paused link with a hot flow goes at the hot flow's pace, the pauses climb through
lossless switches only, and a fabric without them keeps plain max-min fair rates."""

import numpy as np
import pytest

from oisa.flow.maxmin import max_min_rates
from oisa.flow.pfc import PauseCoupling

# Nodes: NICs 0-3, receiver NICs 4 (the incast's) and 5 (the victim's), a leaf switch 6, and a
# second switch 7 between NIC 0 and the leaf. Resources (unit capacity): 0: 0->7, 1: 7->6,
# 2-4: NICs 1-3 -> 6, 5: 6->4, 6: 6->5, 7: 4->6 (the answers' way back), 8: 7->5.
TAIL = np.array([0, 7, 1, 2, 3, 6, 6, 4, 7])
HEAD = np.array([7, 6, 6, 6, 6, 4, 5, 6, 5])
CAPACITY = np.ones(9)


def coupling(lossless_nodes: list[int]) -> PauseCoupling:
    lossless = np.zeros(8, dtype=bool)
    lossless[lossless_nodes] = True
    return PauseCoupling(TAIL, HEAD, lossless[TAIL], lossless)


def incast(victim_route: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Four writes into NIC 4 (flows 0-3; flow 0 from NIC 0 through switch 7, with answers coming
    back over resource 7) and a victim (flow 4) from NIC 0 along ``victim_route``."""
    routes = [[0, 1, 5], [2, 5], [3, 5], [4, 5], victim_route]
    flow = np.array([f for f, route in enumerate(routes) for _ in route] + [0])
    resource = np.array([r for route in routes for r in route] + [7])
    weight = np.array([1.0] * (len(flow) - 1) + [0.005])
    return resource, flow, weight


def rates(pauses: PauseCoupling | None, victim_route: list[int]) -> np.ndarray:
    resource, flow, weight = incast(victim_route)
    if pauses is None:
        return max_min_rates(resource, flow, weight, CAPACITY, 5)
    return pauses.rates(resource, flow, weight, CAPACITY, 5, np.full(5, np.inf), None)


def test_a_victim_on_a_paused_link_goes_at_the_hot_flows_pace():
    fair = rates(None, [0, 1, 6])
    assert fair[:4] == pytest.approx([0.25] * 4) and fair[4] == pytest.approx(0.75)
    coupled = rates(coupling([6, 7]), [0, 1, 6])
    assert coupled[:4] == pytest.approx([0.25] * 4)  # the incast keeps its fair share
    assert coupled[4] == pytest.approx(0.25)  # the victim waits with it: its links into both switches pause


def test_pauses_climb_through_lossless_switches_only():
    # the victim leaves switch 7 by its own link (8): it shares only link 0 (NIC 0 -> switch 7) with
    # the hot flow, which the leaf's pauses reach by climbing through switch 7
    assert rates(coupling([6, 7]), [0, 8])[4] == pytest.approx(0.25)
    # if switch 7 does not run PFC, its buffer takes the leaf's pauses and link 0 never pauses
    assert rates(coupling([6]), [0, 8])[4] == pytest.approx(0.75)


def test_answers_the_other_way_are_not_paused():
    # a flow leaving the incast's receiver (over resource 7, which the hot flow's answers use) is
    # not a victim: the answers' link leads into the leaf but carries none of the hot payload
    resource, flow, weight = incast([0, 1, 6])
    resource = np.concatenate([resource, [7, 6]])
    flow = np.concatenate([flow, [5, 5]])
    weight = np.concatenate([weight, [1.0, 1.0]])
    out = coupling([6, 7]).rates(resource, flow, weight, CAPACITY, 6, np.full(6, np.inf), None)
    assert out[5] > 0.5


def test_without_a_saturated_lossless_port_the_rates_are_max_min_fair():
    resource, flow, weight = incast([0, 1, 6])
    uncapped = np.full(5, np.inf)
    assert coupling([6, 7]).paused_caps(resource, flow, weight, CAPACITY * 10, np.full(5, 0.1), uncapped) is None
    assert np.array_equal(rates(coupling([]), [0, 1, 6]), rates(None, [0, 1, 6]))


def test_flows_held_back_by_their_own_caps_pause_nobody():
    # the four incast flows capped at a quarter each fill the leaf's port exactly: nothing queues
    resource, flow, weight = incast([0, 1, 6])
    cap = np.array([0.25, 0.25, 0.25, 0.25, np.inf])
    coupled = coupling([6, 7]).rates(resource, flow, weight, CAPACITY, 5, cap, None)
    assert coupled[4] == pytest.approx(0.75)
