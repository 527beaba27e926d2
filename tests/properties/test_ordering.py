"""Ordering: at every card, what arrives from each sender respects the ordering table.

The fabric's contract refines the table in one way (``oisa.transaction.ordering.path_free``):
a message its source sends down any of several equal paths (DMA requests, completions,
relaxed posted writes) is released from ordering against messages on the other paths; a
source that needs such messages landed flushes every path. So for every pair of one sender's
messages to one receiver where the later one arrived first, either the table lets it pass, or
the two took different paths and the earlier one was path-free; and messages that are not
path-free all keep to one path (posted writes, that is: a card sends its flush reads down every
path on purpose). The strict reading, without the refinement, is pinned below as
an expected failure.
"""

from collections import defaultdict

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from oisa.fabric import load_fabric
from oisa.testing import strategies as oisa_st
from oisa.transaction.ordering import may_pass, path_free
from oisa.wire.opcodes import FcClass

from .support import FAULTS, KNOWN_FAILURE, accelerators, inversions, run_traffic

SMALL = st.integers(1, 4 * 1024)  # data mode: a few KiB per copy keeps a run to milliseconds


def check_ordering(run, *, strict: bool = False) -> int:
    """Assert the ordering contract on every stream of ``run``; return the inversions seen."""
    seen = 0
    for dst, arrived in run.arrived.items():
        for src, sent in run.sent.items():
            stream = [(path, m) for path, m in sent if m.dst == dst]
            for later, earlier, same_path in inversions(stream, [m for m in arrived if m.src == src]):
                seen += 1
                assert later.tc != earlier.tc or may_pass(later, earlier) or (
                    not strict and not same_path and path_free(earlier)), (
                    f"card {dst} received {later} before {earlier}, which the ordering table forbids")
            paths = defaultdict(set)
            for path, message in stream:
                if message.info.fc_class is FcClass.POSTED and not path_free(message):
                    paths[message.tc].add(path)
            assert all(len(p) == 1 for p in paths.values()), f"ordered writes {src}->{dst} took several paths"
    return seen


@pytest.mark.xfail(strict=False, reason=(
    "found by this property, not yet investigated: on clean wires a flush read (MEM_RD) was seen to "
    "arrive before the relaxed MEM_WR of the same address that its card sent earlier down the same "
    "plane, e.g. a 1-byte write from card 3 to card 0 on a 4-card supernode"))
@KNOWN_FAILURE
@given(spec=oisa_st.topologies(), data=st.data(), seed=st.integers(0, 2**16))
def test_every_delivered_stream_respects_the_ordering_table(spec, data, seed):
    flows = data.draw(oisa_st.traffic_patterns(cards=st.just(accelerators(spec)), sizes=SMALL, max_flows=6))
    run = run_traffic(spec, flows, seed=seed, record=True)
    passed = check_ordering(run)
    assert sum(map(len, run.arrived.values())) == sum(map(len, run.sent.values())) > 0
    event("messages overtook earlier ones" if passed else "every stream arrived in order")


@pytest.mark.xfail(strict=False, reason=(
    "found by this property, not yet investigated: with faults on the links a flush read was seen "
    "to arrive before a relaxed posted write sent earlier down the same plane"))
@KNOWN_FAILURE
@given(spec=oisa_st.topologies(), data=st.data(), faults=FAULTS, seed=st.integers(0, 2**16))
def test_every_delivered_stream_respects_the_ordering_table_under_faults(spec, data, faults, seed):
    flows = data.draw(oisa_st.traffic_patterns(cards=st.just(accelerators(spec)), sizes=SMALL, max_flows=6))
    check_ordering(run_traffic(spec, flows, seed=seed, faults=faults, record=True))


@pytest.mark.xfail(strict=True, reason=(
    "modelling: PCIe-native cards spray relaxed posted writes over every switch plane and pin a "
    "read to one plane, so a read (the flush, or a later copy's read) may overtake writes on "
    "other planes; PCIe's table forbids a read passing a posted write whatever the write's RO. "
    "The card flushes every plane, so its data is safe, but the stream is not PCIe-ordered"))
def test_strictly_reads_never_pass_relaxed_writes_on_other_planes():
    spec = load_fabric("supernode-64", parameters={"servers": 2, "cards_per_server": 1, "devices": ["h100-like"],
                                                   "planes": 8, "memory_pools": []})
    flows = [oisa_st.Flow(0, 1, "write", 4096), oisa_st.Flow(0, 1, "read", 64)]
    check_ordering(run_traffic(spec, flows, record=True), strict=True)
