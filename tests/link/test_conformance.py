"""Named link-layer conformance cases, each stating the rule it checks.

They mirror the link-protocol cases of PCI-SIG compliance testing (replay on NAK, REPLAY_TIMER,
REPLAY_NUM rollover, duplicate discard, bad LCRC answered by NAK, replay order, buffer kept over
retraining, Ack of an unsent sequence number) for oisa's link layer.
"""

import pytest

from oisa.errors import LinkDownError, RemoteProtocolError
from oisa.link import LinkConfig, LinkState
from oisa.testing.link import LinkPair
from oisa.wire.oisa import AckKind, ControlCode, FcClass, Flit, FlitKind, Message, Opcode, decode_flit, encode_flit

CONFIG = LinkConfig(replay_timeout_ps=600_000, retrain_time_ps=500_000)


def case(case_id, rule):
    return pytest.mark.case(case_id, rule)


def stores(count, size=200):
    return [Message(Opcode.STORE, 0, 1, tag=i, length=size, payload=bytes([i % 251]) * size) for i in range(count)]


def is_data(frame):
    return frame[0] == FlitKind.DATA


def seq_of(frame):
    return decode_flit(frame, CONFIG.flit_size).seq


class Script:
    """A fault hook that does one thing to chosen frames (at most ``times`` of them) and
    records every frame that went by."""

    def __init__(self, action, when, times=None):
        self.action, self.when, self.left = action, when, times
        self.seen: list[tuple[str, bytes]] = []

    def __call__(self, direction, frame):
        self.seen.append((direction, frame))
        if self.left != 0 and self.when(direction, frame, len(self.seen)):
            self.left = None if self.left is None else self.left - 1
            return self.action(frame)
        return [frame]


def corrupt(frame):
    data = bytearray(frame)
    data[40] ^= 0x10
    return [bytes(data)]


def drop(frame):
    return []


def duplicate(frame):
    return [frame, frame]


def data_seqs(script, direction="a->b"):
    return [seq_of(frame) for d, frame in script.seen if d == direction and is_data(frame)]


def run(pair, messages):
    for message in messages:
        pair.send("a", message)
    assert pair.run_until_quiet(100_000_000)
    assert pair.delivered("b") == messages


@case("LL-01", "a NAK makes the sender replay from the flit after the one the NAK names")
def test_ll01_replay_on_nak():
    script = Script(corrupt, lambda d, f, n: d == "a->b" and is_data(f) and seq_of(f) == 3, times=1)
    pair = LinkPair(CONFIG, fault=script)
    run(pair, stores(12))
    assert pair.b.stats.naks_sent == 1 and pair.a.stats.naks_received == 1
    seqs = data_seqs(script)
    assert seqs.count(3) == 2 and seqs[seqs.index(3) + 1:].count(3) == 1


@case("LL-02", "when the replay timer expires the whole unacknowledged buffer is replayed")
def test_ll02_replay_on_timer_expiry():
    pair = LinkPair(CONFIG)
    pair.run_for(1_000_000)  # initialised
    # then lose the first acknowledgements coming back: only the timer can recover
    pair.fault = Script(drop, lambda d, f, n: d == "b->a", times=3)
    run(pair, stores(4))
    assert pair.a.stats.replay_timeouts >= 1 and pair.a.stats.flits_replayed >= 1
    assert pair.b.stats.duplicates >= 1


@case("LL-03", "the replay counter rolling over (4 replays without progress) retrains the link")
def test_ll03_replay_rollover_retrains():
    # lose three flits the first time and in each of three replays: the fourth replay rolls over
    script = Script(drop, lambda d, f, n: d == "a->b" and is_data(f), times=3 * CONFIG.replay_limit)
    pair = LinkPair(CONFIG, fault=script)
    run(pair, stores(3, size=216))  # one 236-byte message per flit
    assert pair.a.stats.replays == CONFIG.replay_limit
    assert pair.a.stats.retrains == 1 and pair.b.stats.retrains == 1


@case("LL-04", "a flit received twice is discarded; the message is delivered once")
def test_ll04_duplicates_are_discarded():
    script = Script(duplicate, lambda d, f, n: d == "a->b" and is_data(f))
    pair = LinkPair(CONFIG, fault=script)
    run(pair, stores(10))
    assert pair.b.stats.duplicates == pair.a.stats.flits_sent


@case("LL-05", "a flit with a bad CRC is discarded and answered by a NAK")
def test_ll05_bad_crc_is_answered_by_nak():
    script = Script(corrupt, lambda d, f, n: d == "a->b" and is_data(f) and seq_of(f) == 0, times=1)
    pair = LinkPair(CONFIG, fault=script)
    run(pair, stores(2))
    assert pair.b.stats.crc_errors == 1 and pair.b.stats.naks_sent == 1


@case("LL-06", "replayed flits go out in their original order, oldest first")
def test_ll06_replay_in_original_order():
    script = Script(corrupt, lambda d, f, n: d == "a->b" and is_data(f) and seq_of(f) == 2, times=1)
    pair = LinkPair(CONFIG, fault=script)
    run(pair, stores(20, size=230))
    seqs = data_seqs(script)
    replay = seqs[seqs.index(2, seqs.index(2) + 1):]
    first_run = sorted(set(replay))
    assert replay[: len(first_run)] == first_run


@case("LL-07", "the replay buffer survives retraining: what was unacknowledged is delivered after it")
def test_ll07_replay_buffer_survives_retrain():
    script = Script(drop, lambda d, f, n: d == "a->b" and is_data(f) and n < 80)
    pair = LinkPair(CONFIG, fault=script)
    messages = stores(6)
    for message in messages:
        pair.send("a", message)
    pair.run_for(3 * CONFIG.replay_timeout_ps)
    unacked = pair.a.unacknowledged
    assert unacked > 0
    assert pair.run_until_quiet(100_000_000)
    assert pair.a.stats.retrains >= 1
    assert pair.delivered("b") == messages


@case("LL-08", "an ACK for a sequence number that was never sent is a fatal protocol error")
def test_ll08_ack_for_unsent_sequence_is_fatal():
    pair = LinkPair(CONFIG)
    pair.run_for(1_000_000)
    assert pair.a.state is LinkState.ACTIVE
    bogus = encode_flit(Flit(FlitKind.CONTROL, ControlCode.ACK, ack_kind=AckKind.ACK, ack_seq=17), CONFIG.flit_size)
    with pytest.raises(RemoteProtocolError, match="never sent"):
        pair.a.receive_frame(bogus, pair.now)


@case("LL-09", "with its credits exhausted the sender stalls, and loses nothing")
def test_ll09_credit_exhaustion_stalls_without_loss():
    config = LinkConfig(buffers=((FcClass.POSTED, 2, 256), (FcClass.NON_POSTED, 2, 256), (FcClass.COMPLETION, 0, 0)))
    pair = LinkPair(config, release_delay_ps=2_000_000)  # a slow consumer
    messages = stores(12)
    for message in messages:
        pair.send("a", message)
    pair.run_for(1_500_000)
    assert len(pair.delivered("b")) <= 2  # only as many as the buffer holds
    assert pair.a.stats.credit_stalls > 0
    assert pair.run_until_quiet(1_000_000_000)
    assert pair.delivered("b") == messages


@case("LL-10", "when retraining fails the link is down for good and says so")
def test_ll10_failed_retraining_takes_the_link_down():
    pair = LinkPair(CONFIG, fault=Script(drop, lambda d, f, n: pair.now > 200_000))
    pair.send("a", stores(1)[0])
    pair.run_for(50_000_000)
    assert pair.a.state is LinkState.FAILED
    with pytest.raises(LinkDownError, match="retraining failed"):
        pair.send("a", stores(1)[0])


@case("LL-11", "initialisation that gets no answer gives up after init_attempts advertisements and says so")
def test_ll11_unanswered_initialisation_takes_the_link_down():
    pair = LinkPair(CONFIG, fault=lambda direction, frame: [])
    pair.run_for(2 * CONFIG.init_attempts * CONFIG.init_resend_ps)
    for end in (pair.a, pair.b):
        assert end.state is LinkState.FAILED
        assert f"initialisation failed: {CONFIG.init_attempts} advertisements" in end.failure
        assert "FC_INIT1" in end.failure
    assert pair.frames_sent == 2 * CONFIG.init_attempts
    with pytest.raises(LinkDownError, match="initialisation failed"):
        pair.send("a", stores(1)[0])


@case("LL-12", "initialisation gives up after init_timeout even with advertisements left")
def test_ll12_initialisation_is_bounded_in_time():
    config = LinkConfig(init_resend_ps=10_000_000, init_timeout_ps=25_000_000, init_attempts=1000)
    pair = LinkPair(config, fault=lambda direction, frame: [])
    pair.run_for(100_000_000)
    assert pair.a.state is LinkState.FAILED and pair.b.state is LinkState.FAILED
    assert pair.frames_sent == 2 * 3  # at 0, 10 and 20 us; the link gives up at 25 us
    assert "25.000 us" in pair.a.failure


@case("LL-13", "an end left in FC_INIT2 (its peer active, the peer's answers lost) gives up too")
def test_ll13_an_end_stuck_in_fc_init2_gives_up():
    # once a has b's credits, nothing from a reaches b: b's INIT_FC2 makes a active, and b
    # waits in FC_INIT2 for proof that a is
    script = Script(drop, lambda d, f, n: d == "a->b" and pair.a.state is not LinkState.FC_INIT1)
    pair = LinkPair(CONFIG, fault=script)
    pair.run_for(2 * CONFIG.init_attempts * CONFIG.init_resend_ps)
    assert pair.a.state is LinkState.ACTIVE
    assert pair.b.state is LinkState.FAILED and "FC_INIT2" in pair.b.failure
