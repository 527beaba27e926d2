"""Links that cannot come up: whatever the bit error rate (up to one bit in two) and whenever the
links are cut, a point-to-point run ends, verified or in a typed error, within a virtual time the
protocol's own bounds give (issue 15, items 1 and 2: such runs used to retry initialisation for
ever)."""

import trio
from hypothesis import event, given
from hypothesis import strategies as st

from oisa.errors import OisaError
from oisa.fabric import load_fabric
from oisa.fabric.build import link_config
from oisa.sim.faults import FaultModel
from oisa.sim.observe import Observer
from oisa.testing import strategies as oisa_st
from oisa.transaction.requester import COMPLETION_TIMEOUT_PS
from oisa.workload import Run, run_p2p

PAIR = load_fabric("pair")


class VirtualTimeLimit(Observer):
    """Finds the run's virtual clock (links report their credits as they start) and has it fail
    the run at ``limit_ps``: a run that would go on for ever fails the test instead of hanging
    it. Virtual time stops with the run, so the clock also tells when the run ended."""

    def __init__(self, limit_ps: int) -> None:
        self.limit_ps = limit_ps
        self.clock = None

    def link_state(self, *args: object) -> None:
        if self.clock is None:
            self.clock = trio.lowlevel.current_clock()
            self.clock.call_at(self.limit_ps, self._exceeded)

    def _exceeded(self) -> None:
        raise AssertionError(f"the run was still going at the bound of {self.limit_ps} ps")


def virtual_time_bound(faults: FaultModel) -> int:
    """Initialisation gives up after ``init_attempts`` advertisements (or ``init_timeout_ps``);
    after it, the write's flush read and the read back are each answered or time out."""
    config = link_config(PAIR.links[0], faults)
    initialisation = min(config.init_attempts * config.init_resend_ps, config.init_timeout_ps)
    return initialisation + 2 * COMPLETION_TIMEOUT_PS


# every rate from 0 to one bit in two, and each decade from 1e-8 up as often as the next
BIT_ERROR_RATES = st.floats(0.0, 0.5) | st.floats(-8.0, -0.31).map(lambda exponent: 10**exponent)


@given(ber=BIT_ERROR_RATES, down_at=oisa_st.link_down_times(), seed=st.integers(0, 2**16))
def test_a_run_over_any_bit_error_rate_or_cut_ends_in_bounded_virtual_time(ber, down_at, seed):
    faults = FaultModel(ber=ber, down_at=down_at)
    limit = VirtualTimeLimit(virtual_time_bound(faults))
    try:
        result = run_p2p(PAIR, Run(seed=seed, faults=faults, observer=limit), size=4096)
    except OisaError as error:
        event(type(error).__name__)
    else:
        assert result.verified
        event("verified")
    assert limit.clock is not None
    assert limit.clock.now < limit.limit_ps
