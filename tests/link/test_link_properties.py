"""oisa's link endpoints in the link state machine oisa ships to vendors
(:class:`oisa.testing.LinkStateMachine`): every message arrives exactly once, in order (or with
only the overtakings the ordering table permits); credits and buffers stay within bounds; once
faults stop, everything completes. On top of the shipped rules, what only oisa's endpoints
report: their own buffer occupancy, and error counters that agree with the faults injected."""

from hypothesis import settings
from hypothesis.stateful import invariant

from oisa.link import LinkConfig, LinkEndpoint
from oisa.testing import LinkStateMachine
from oisa.transaction.ordering import may_pass
from oisa.wire.oisa import FcClass

SMALL = LinkConfig(buffers=((FcClass.POSTED, 8, 256), (FcClass.NON_POSTED, 4, 256), (FcClass.COMPLETION, 0, 0)),
                   replay_buffer=16, replay_timeout_ps=400_000, ack_every=4, credit_poll_ps=300_000)

# Bounded settle time once faults stop: retraining (3 attempts) plus replays of a full buffer.
SETTLE_PS = 20 * SMALL.replay_timeout_ps + 4 * SMALL.retrain_time_ps + 32 * SMALL.credit_poll_ps


def fifo_pair():
    return LinkEndpoint(SMALL, name="a"), LinkEndpoint(SMALL, name="b")


def overtaking_pair():
    return LinkEndpoint(SMALL, may_pass=may_pass, name="a"), LinkEndpoint(SMALL, may_pass=may_pass, name="b")


class OisaEndpoints(LinkStateMachine):
    """Strict first-in, first-out queues: delivery must be exactly the order of sending."""

    make_pair = staticmethod(fifo_pair)
    settle_ps = SETTLE_PS

    @invariant()
    def receive_buffers_never_overflow(self):
        for endpoint in (self.pair.a, self.pair.b):
            for cls, hdr, data in SMALL.buffers:
                used_hdr, used_data = endpoint.receive_occupancy((0, cls))
                assert 0 <= used_hdr <= hdr or hdr == 0
                assert 0 <= used_data <= data or data == 0

    @invariant()
    def error_counters_agree_with_the_faults(self):
        """Every corrupted frame that has arrived was refused by its CRC, and nothing else was;
        without duplicating, dropping or corrupting faults there are no duplicates to discard."""
        for direction, receiver, sender in (("a->b", self.pair.b, "a"), ("b->a", self.pair.a, "b")):
            in_flight = self.pair.sides[sender].in_flight
            still_travelling = sum(1 for _, frame in in_flight
                                   if any(frame is bad for bad in self.wire.corrupted[direction]))
            assert receiver.stats.crc_errors == len(self.wire.corrupted[direction]) - still_travelling
        if not (self.wire.duplicated or self.wire.dropped or any(self.wire.corrupted.values())):
            assert self.pair.a.stats.duplicates == self.pair.b.stats.duplicates == 0


class OisaEndpointsWithOrderingRules(OisaEndpoints):
    """Queues that let a message pass a blocked one where the ordering table allows: every
    message still arrives exactly once, and every overtaking is one the table permits."""

    make_pair = staticmethod(overtaking_pair)
    may_pass = staticmethod(may_pass)


for machine in (OisaEndpoints, OisaEndpointsWithOrderingRules):
    machine.TestCase.settings = settings(settings(), stateful_step_count=30)
test_fifo_link = OisaEndpoints.TestCase
test_link_with_ordering_rules = OisaEndpointsWithOrderingRules.TestCase
