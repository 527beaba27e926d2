"""QoS on a link: traffic classes in virtual channels with credits of their own, and the arbiter
that shares a busy link between channels by weight (deficit round robin) or by strict priority."""

import pytest

from oisa.link import LinkConfig
from oisa.link.arbitration import QUANTUM_BYTES, QosPolicy, VcArbiter
from oisa.testing.link import LinkPair
from oisa.wire.oisa import Message, Opcode


def test_busy_channels_share_bytes_by_weight():
    arbiter = VcArbiter(QosPolicy((0,) * 7 + (1,), (1, 3)))
    sent = [0, 0]
    sizes = {0: 4112, 1: 80}  # a 4 KiB write beside small ones: bytes, not messages, are shared
    for _ in range(20_000):
        vc = arbiter.pick(sizes)
        sent[vc] += sizes[vc]
    assert sent[1] / sent[0] == pytest.approx(3, rel=0.02)


def test_strict_priority_serves_the_highest_channel_first():
    arbiter = VcArbiter(QosPolicy((0,) * 7 + (1,), (1, 1), "strict"))
    assert [arbiter.pick({0: 100, 1: 100}) for _ in range(5)] == [1] * 5
    assert arbiter.pick({0: 100}) == 0


def test_a_channel_with_nothing_to_send_keeps_no_earnings():
    arbiter = VcArbiter(QosPolicy((0,) * 7 + (1,), (1, 1)))
    for _ in range(50):
        arbiter.pick({0: 64})  # channel 1 idle all along: it must not bank turns for later
    picks = [arbiter.pick({0: 64, 1: 64}) for _ in range(2 * QUANTUM_BYTES // 64)]
    assert abs(picks.count(0) - picks.count(1)) <= QUANTUM_BYTES // 64


def test_classes_get_channels_in_order_and_the_rest_share_channel_0():
    policy = QosPolicy.for_classes({7: 8, 3: 2})
    assert policy.tc_to_vc == (0, 0, 0, 1, 0, 0, 0, 2) and policy.weights == (1, 2, 8)
    assert QosPolicy.for_classes({0: 1, 7: 4}).tc_to_vc == (0, 0, 0, 0, 0, 0, 0, 1)
    with pytest.raises(ValueError):
        QosPolicy((0,) * 8, (0,))
    with pytest.raises(ValueError):
        QosPolicy((0,) * 8, (1,), "fair")


def _writes(tc: int, count: int, length: int) -> list[Message]:
    return [Message(Opcode.MEM_WR, 0, 1, length=length, address=index * length, payload=bytes(length), tc=tc)
            for index in range(count)]


def _arrivals(config: LinkConfig) -> list[int]:
    """Where, among 40 bulk writes queued first, 8 small writes of class 7 queued after arrive."""
    pair = LinkPair(config)
    pair.run_until_quiet(10_000_000)
    for message in _writes(0, 40, 4096) + _writes(7, 8, 64):
        pair.send("a", message)
    assert pair.run_until_quiet(1_000_000_000)
    delivered = pair.delivered("b")
    assert len(delivered) == 48
    return [index for index, message in enumerate(delivered) if message.tc == 7]


def test_small_messages_of_a_heavier_class_overtake_a_bulk_queue():
    fifo = _arrivals(LinkConfig())
    assert fifo == list(range(40, 48))  # one channel: in the order queued
    weighted = _arrivals(LinkConfig().with_qos(QosPolicy.for_classes({0: 1, 7: 8})))
    assert max(weighted) < 8  # each channel its turn: the small ones go within the first few bulk writes
    strict = _arrivals(LinkConfig().with_qos(QosPolicy.for_classes({0: 1, 7: 1}, "strict")))
    assert strict == list(range(8))


def test_a_link_config_refuses_a_policy_that_is_not_its_own():
    with pytest.raises(ValueError, match="with_qos"):
        LinkConfig(qos=QosPolicy.for_classes({0: 1, 7: 8}))
