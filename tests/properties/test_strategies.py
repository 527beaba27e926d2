"""The public strategies draw valid, buildable objects: transactions a requester accepts and
splits exactly, patterns of the named shapes, fabrics that build, mixes of accelerators, and
fault models within their bounds."""

import itertools
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from oisa.fabric import FIDELITIES, build
from oisa.sim import Kernel
from oisa.testing import strategies as oisa_st
from oisa.transaction import Requester
from oisa.wire.oisa import OPCODES


@given(oisa_st.transactions())
def test_transactions_are_split_into_requests_that_cover_them_exactly(transaction):
    requester = Requester(1, max_payload=4096, max_read_request=4096, tags=1 << 16)
    transaction.submit(requester, dst=2)
    issued, _ = requester.next_requests(0)
    requests = [request for request, _ in issued]
    assert {r.opcode for r in requests} == {transaction.opcode}
    assert all(r.length in OPCODES[r.opcode].lengths and r.ro == transaction.relaxed for r in requests)
    covered = [(r.address, r.length) for r in requests]
    assert covered[0][0] == transaction.address
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(covered))
    assert sum(n for _, n in covered) == transaction.size
    if transaction.kind == "write":
        assert b"".join(r.payload for r in requests) == transaction.data


@given(st.lists(st.integers(0, 20), min_size=2, max_size=6, unique=True).flatmap(
    lambda cards: st.tuples(st.just(cards), st.sampled_from(oisa_st.SHAPES).flatmap(
        lambda shape: st.tuples(st.just(shape), oisa_st.traffic_patterns(cards=st.just(cards),
                                                                        shapes=st.just(shape)))))))
def test_traffic_patterns_have_their_shape(drawn):
    cards, (shape, flows) = drawn
    assert flows and all(f.src != f.dst and {f.src, f.dst} <= set(cards) and f.size > 0 for f in flows)
    sources, targets = Counter(f.src for f in flows), Counter(f.dst for f in flows)
    if shape == "incast":
        assert len(targets) == 1 and len(flows) == len(cards) - 1
    elif shape == "all_to_all":
        assert len({(f.src, f.dst) for f in flows}) == len(cards) * (len(cards) - 1) == len(flows)
    elif shape == "permutation":
        assert set(sources.values()) == set(targets.values()) == {1} and len(flows) == len(cards)


@given(oisa_st.topologies())
def test_topologies_are_small_checked_fabrics_that_build(spec):
    accelerators = [c for c in spec.cards if c.device.role == "accelerator"]
    assert 2 <= len(accelerators) <= 8
    assert [c.id for c in accelerators] == list(range(len(accelerators)))
    fabric = build(spec, Kernel(0), None, FIDELITIES["data"])
    assert set(fabric.cards) == {c.id for c in spec.cards}


@given(oisa_st.topology_pairs())
def test_topology_pairs_deploy_the_same_cards_both_ways(pair):
    supernode, switched = pair
    assert {s.kind.value for s in supernode.switches} == {"oisa"} and switched.nics
    def accelerators(spec):
        return [(c.id, c.device.name, c.server) for c in spec.cards if c.device.role == "accelerator"]
    assert accelerators(supernode) == accelerators(switched)


@given(oisa_st.device_mixes())
def test_device_mixes_are_distinct_accelerators(names):
    assert len(set(names)) == len(names) >= 1
    assert set(names) <= set(oisa_st.accelerator_profiles())


def test_device_mixes_include_the_plugged_in_vendor():
    assert "example-gpu" in oisa_st.accelerator_profiles()


@given(oisa_st.fault_schedules(down_at=oisa_st.link_down_times()))
def test_fault_schedules_stay_within_their_bounds(model):
    assert model.ber <= 1e-6 and model.drop <= 0.01 and model.duplicate <= 0.01 and model.control_drop <= 0.05
    assert model.down_at is None or model.down_at >= 0
