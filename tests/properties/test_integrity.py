"""Integrity: every byte written is read back unchanged, on every kind of fabric, with and
without faults on the links (the link layer replays what the wire corrupts or loses)."""

from hypothesis import event, given
from hypothesis import strategies as st

from oisa.testing import strategies as oisa_st

from .support import DATA_MODE, FAULTS, accelerators, run_traffic


def check_integrity(spec, flows, run) -> None:
    assert run.verified is not None and len(run.verified) == len(flows)
    broken = [flow for flow, ok in zip(flows, run.verified) if not ok]
    assert not broken, f"bytes differ after {broken}"


@DATA_MODE
@given(spec=oisa_st.topologies(), data=st.data(), seed=st.integers(0, 2**16))
def test_every_byte_written_is_read_back_unchanged(spec, data, seed):
    flows = data.draw(oisa_st.traffic_patterns(cards=st.just(accelerators(spec)), sizes=st.integers(1, 4 * 1024),
                                               max_flows=8))
    check_integrity(spec, flows, run_traffic(spec, flows, seed=seed))


@DATA_MODE
@given(spec=oisa_st.topologies(), data=st.data(), faults=FAULTS, seed=st.integers(0, 2**16))
def test_every_byte_written_is_read_back_unchanged_under_faults(spec, data, faults, seed):
    flows = data.draw(oisa_st.traffic_patterns(cards=st.just(accelerators(spec)), sizes=st.integers(1, 4 * 1024),
                                               max_flows=8))
    run = run_traffic(spec, flows, seed=seed, faults=faults)
    check_integrity(spec, flows, run)
    event("faults injected and recovered" if sum(run.faults.values()) else "clean wires")
