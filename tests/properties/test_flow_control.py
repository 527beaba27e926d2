"""Flow control: no sender ever goes beyond its credits (so no receive buffer overflows: the
link layer would also raise), every credit comes back once traffic has settled, and all
traffic completes within a bound on virtual time, all-to-all incast included."""

from hypothesis import event, given
from hypothesis import strategies as st

from oisa.testing import strategies as oisa_st

from .support import DATA_MODE, FAULTS, CreditWatch, accelerators, bound_ps, run_traffic

LINK_LAYER = st.sampled_from(["supernode", "mesh"])  # the kinds whose card links run OISA's link layer


def check_flow_control(spec, flows, run, watch) -> None:
    assert run.end_ps <= bound_ps(spec, flows)
    assert watch.reports > 0 and run.link_ends
    overdrawn = {name: low for name, low in watch.lowest.items() if low < 0}
    assert not overdrawn, f"senders went beyond their credits: {overdrawn}"
    for end in run.link_ends:
        assert end.credits == end.advertised, f"{end.name} did not get all its credits back"
        assert all(held == (0, 0) for held in end.occupancy.values()), f"{end.name} still holds messages"
        assert end.unacknowledged == 0 and end.waiting == 0, f"{end.name} has flits or messages left"


@DATA_MODE
@given(spec=oisa_st.topologies(kinds=LINK_LAYER), data=st.data(), seed=st.integers(0, 2**16))
def test_credits_are_never_overdrawn_and_all_come_back(spec, data, seed):
    flows = data.draw(oisa_st.traffic_patterns(cards=st.just(accelerators(spec)), sizes=st.integers(1, 4 * 1024),
                                               max_flows=6))
    watch = CreditWatch()
    run = run_traffic(spec, flows, seed=seed, settle=True, observer=watch)
    check_flow_control(spec, flows, run, watch)


@DATA_MODE
@given(spec=oisa_st.topologies(kinds=LINK_LAYER), data=st.data(), faults=FAULTS, seed=st.integers(0, 2**16))
def test_credits_all_come_back_and_traffic_completes_under_faults(spec, data, faults, seed):
    flows = data.draw(oisa_st.traffic_patterns(cards=st.just(accelerators(spec)), sizes=st.integers(1, 4 * 1024),
                                               max_flows=6))
    watch = CreditWatch()
    run = run_traffic(spec, flows, seed=seed, faults=faults, settle=True, observer=watch)
    check_flow_control(spec, flows, run, watch)


@DATA_MODE
@given(spec=oisa_st.topologies(kinds=LINK_LAYER, layouts=st.sampled_from([(2, 2), (1, 3), (3, 1), (1, 4)])),
       data=st.data(), seed=st.integers(0, 2**16))
def test_all_to_all_incast_completes_without_overrunning_a_buffer(spec, data, seed):
    """Every card writes to every other at once, in copies big enough that the switches'
    egress towards each card queues and back-pressure reaches the senders."""
    flows = data.draw(oisa_st.traffic_patterns(cards=st.just(accelerators(spec)), shapes=st.just("all_to_all"),
                                               kinds=st.just("write"), sizes=st.integers(4 * 1024, 8 * 1024),
                                               start_offsets=st.just(0)))
    watch = CreditWatch()
    run = run_traffic(spec, flows, seed=seed, settle=True, observer=watch)
    check_flow_control(spec, flows, run, watch)
    assert all(run.verified)
    event(f"lowest credit count left: {min(watch.lowest.values()) // 256 * 256}+")
