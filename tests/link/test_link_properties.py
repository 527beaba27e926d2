"""Two endpoints and a faulty wire, driven by Hypothesis: every message arrives exactly once,
in order; credits and buffers stay within bounds; once faults stop, everything completes; error
counters agree with the faults injected."""

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from oisa.link import LinkConfig, LinkState
from oisa.testing import strategies as oisa_st
from oisa.testing.link import LinkPair
from oisa.transaction.ordering import may_pass
from oisa.wire.oisa import FcClass, Message, Opcode

SMALL = LinkConfig(buffers=((FcClass.POSTED, 8, 256), (FcClass.NON_POSTED, 4, 256), (FcClass.COMPLETION, 0, 0)),
                   replay_buffer=16, replay_timeout_ps=400_000, ack_every=4, credit_poll_ps=300_000)
# Bounded settle time once faults stop: retraining (3 attempts) plus replays of a full buffer.
SETTLE_PS = 20 * SMALL.replay_timeout_ps + 4 * SMALL.retrain_time_ps + 32 * SMALL.credit_poll_ps


class FaultyWire:
    """Decides the fate of each frame, and counts what it did."""

    def __init__(self) -> None:
        self.mode = "clean"
        self.rng = np.random.default_rng(0)
        self.corrupted: dict[str, list[bytes]] = {"a->b": [], "b->a": []}
        self.dropped = 0
        self.duplicated = 0

    def __call__(self, direction: str, frame: bytes) -> list[bytes]:
        if self.mode == "clean" or self.rng.random() > 0.3:
            return [frame]
        if self.mode == "corrupt":
            data = bytearray(frame)
            data[int(self.rng.integers(len(data)))] ^= 1 << int(self.rng.integers(8))
            self.corrupted[direction].append(corrupted := bytes(data))
            return [corrupted]
        if self.mode == "drop":
            self.dropped += 1
            return []
        self.duplicated += 1
        return [frame, frame]


class TwoEndpoints(RuleBasedStateMachine):
    """Strict first-in, first-out queues: delivery must be exactly the order of sending."""

    pass_rule = None

    def __init__(self) -> None:
        super().__init__()
        self.wire = FaultyWire()
        self.pair = LinkPair(SMALL, latency_ps=50_000, flit_time_ps=2_560, release_delay_ps=5_000,
                             may_pass=self.pass_rule, fault=self.wire)
        self.sent: dict[str, list[Message]] = {"a": [], "b": []}

    @rule(side=st.sampled_from("ab"),
          batch=st.lists(oisa_st.messages(opcodes=st.sampled_from([Opcode.STORE, Opcode.DMA_WR, Opcode.DMA_RD,
                                                                     Opcode.CPL_D, Opcode.MEM_WR]),
                                          max_length=st.just(600)), min_size=1, max_size=6))
    def send(self, side, batch):
        for message in batch:
            message.tc = 0
            self.pair.send(side, message)
        self.sent[side] += batch

    @rule(mode=st.sampled_from(["clean", "corrupt", "drop", "duplicate"]))
    def set_faults(self, mode):
        self.wire.rng = np.random.default_rng(len(self.sent["a"]) * 7 + len(self.sent["b"]))
        self.wire.mode = mode

    @rule(duration=st.integers(1_000, 500_000))
    def run(self, duration):
        self.pair.run_for(duration)

    @precondition(lambda self: all(e.state is not LinkState.FAILED for e in (self.pair.a, self.pair.b)))
    @rule()
    def faults_stop_and_everything_completes(self):
        self.wire.mode = "clean"
        assert self.pair.run_until_quiet(SETTLE_PS), "traffic did not complete after the faults stopped"
        for side, peer in (("a", "b"), ("b", "a")):
            assert self.same_messages(self.pair.delivered(peer), self.sent[side])

    @staticmethod
    def same_messages(delivered, sent):
        return delivered == sent

    @invariant()
    def delivered_in_order_and_once(self):
        for side, peer in (("a", "b"), ("b", "a")):
            delivered = self.pair.delivered(peer)
            assert delivered == self.sent[side][: len(delivered)]

    @invariant()
    def credits_stay_between_zero_and_what_was_advertised(self):
        for endpoint in (self.pair.a, self.pair.b):
            if endpoint.state not in (LinkState.ACTIVE, LinkState.FC_INIT2, LinkState.RETRAINING):
                continue
            for cls, hdr, data in SMALL.buffers:
                have_hdr, have_data = endpoint.send_credits((0, cls))
                assert 0 <= have_hdr <= (hdr or float("inf"))
                assert 0 <= have_data <= (data or float("inf"))

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
            still_travelling = sum(1 for _, frame in in_flight if any(frame is bad for bad in self.wire.corrupted[direction]))
            assert receiver.stats.crc_errors == len(self.wire.corrupted[direction]) - still_travelling
        if not (self.wire.duplicated or self.wire.dropped or any(self.wire.corrupted.values())):
            assert self.pair.a.stats.duplicates == self.pair.b.stats.duplicates == 0


class TwoEndpointsWithOrderingRules(TwoEndpoints):
    """Queues that let a message pass a blocked one where the ordering table allows: every
    message still arrives exactly once, and every overtaking is one the table permits."""

    pass_rule = staticmethod(may_pass)

    @staticmethod
    def same_messages(delivered, sent):
        return sorted(map(repr, delivered)) == sorted(map(repr, sent))

    @invariant()
    def delivered_in_order_and_once(self):
        for side, peer in (("a", "b"), ("b", "a")):
            position = {id(m): i for i, m in enumerate(self.sent[side])}
            delivered = self.pair.delivered(peer)
            indices = [position[id(m)] for m in delivered] if all(id(m) in position for m in delivered) else None
            if indices is None:  # received messages are new objects: match them by value, in order of sending
                indices = self._match(delivered, self.sent[side])
            assert len(set(indices)) == len(indices), "a message arrived twice"
            for later_pos, later in enumerate(indices):
                for earlier in indices[later_pos + 1:]:
                    if earlier < later:  # sent earlier, delivered later: it was overtaken
                        assert may_pass(self.sent[side][later], self.sent[side][earlier])

    @staticmethod
    def _match(delivered, sent):
        taken: set[int] = set()
        indices = []
        for message in delivered:
            index = next(i for i, m in enumerate(sent) if i not in taken and m == message)
            taken.add(index)
            indices.append(index)
        return indices


for machine in (TwoEndpoints, TwoEndpointsWithOrderingRules):
    machine.TestCase.settings = settings(settings(), stateful_step_count=30)
test_fifo_link = TwoEndpoints.TestCase
test_link_with_ordering_rules = TwoEndpointsWithOrderingRules.TestCase
