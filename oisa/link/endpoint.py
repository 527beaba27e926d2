"""One end of an OISA link, sans-IO: messages in, flits out; flits in, messages out.

The link promises what PCIe's data link layer promises: every message crosses exactly once, in
order, uncorrupted, or the link retrains, and if retraining fails it goes down and says so.

* **Sequence numbers and replay.** Every data flit gets a 12-bit sequence number and stays in
  the replay buffer until acknowledged. A NAK, or the replay timer running out, replays the
  buffer from the oldest unacknowledged flit (go-back-N, oldest first). Each replay without
  forward progress counts; ``replay_limit`` of them in a row make the link retrain.
* **Acknowledgements.** Every outgoing data flit carries the latest ACK; when no data goes the
  other way, a standalone ACK follows every ``ack_every`` flits or after ``ack_delay``. A bad
  flit (CRC) or a gap in the sequence is answered by one NAK until in-order flits resume.
* **Credits.** Messages wait per virtual channel and class until the peer has buffer for them
  (:mod:`oisa.link.credits`); credits come back piggybacked on data flits and in CREDIT
  flits. Where a blocked message may be overtaken is the ordering rule's decision.
* **Retraining.** RETRAIN / RETRAIN_DONE control flits carry the handshake; the replay buffer
  survives it; ``retrain_attempts`` unanswered attempts take the link down.

Time enters as an argument (``now``, integer picoseconds): the driver asks :meth:`next_frame`
whenever the wire is free, feeds :meth:`receive_frame` with what arrives and calls
:meth:`on_timer` at :meth:`next_deadline`. The control state machine is the table in
:mod:`oisa.link.states`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from oisa.errors import CrcError, FrameError, IntegrityError, LinkDownError, RemoteProtocolError
from oisa.link.arbitration import QosPolicy, VcArbiter
from oisa.link.credits import (
    DATA_MODULUS,
    HDR_MODULUS,
    MAX_MESSAGE_CREDITS,
    CreditKey,
    ReceiveCredits,
    SendCredits,
    credits_needed,
)
from oisa.link.framing import StreamPacker, StreamUnpacker
from oisa.link.security import LinkSecurity
from oisa.link.states import TRANSITIONS, Action, LinkInput, LinkState, transition
from oisa.units import format_time
from oisa.wire.oisa import (
    FLIT_OVERHEAD,
    SEQ_MODULUS,
    AckKind,
    ControlCode,
    CreditReturn,
    FcClass,
    Flit,
    FlitKind,
    Message,
    check_flit_size,
    decode_flit,
    encode_data_flit,
    encode_flit,
    encode_message,
)

__all__ = ["LinkConfig", "LinkEndpoint", "LinkStats", "PassRule"]

PassRule = Callable[[Message, Message], bool]
"""May the later message be sent before the earlier one (both waiting in one virtual channel)?"""

_CONTROL_INPUTS = {
    ControlCode.ACK: LinkInput.ACK, ControlCode.CREDIT: LinkInput.CREDIT, ControlCode.INIT_FC1: LinkInput.INIT_FC1,
    ControlCode.INIT_FC2: LinkInput.INIT_FC2, ControlCode.RETRAIN: LinkInput.RETRAIN,
    ControlCode.RETRAIN_DONE: LinkInput.RETRAIN_DONE, ControlCode.NOP: LinkInput.NOP,
    ControlCode.CREDIT_POLL: LinkInput.CREDIT_POLL,
}
_HALF = SEQ_MODULUS // 2
_HANDLERS = {action: f"_do_{action.value}" for action in Action}  # the method that carries out each action
# receive_frame processes data flits on an active link without looking the transition up: it
# is this entry of the table, which must stay what it is.
assert TRANSITIONS[(LinkState.ACTIVE, LinkInput.DATA)] == (LinkState.ACTIVE, Action.PROCESS)


@dataclass(frozen=True)
class LinkConfig:
    """Parameters of one link's link layer (both ends use the same).

    ``buffers`` gives the receive buffer of each class in every virtual channel, as
    ``(header credits, data credits of 16 bytes)``; 0 means infinite (the default for
    completions, which an endpoint reserves room for when it asks).

    ``credit_poll_ps`` is for links that can lose control flits: a sender that has waited that
    long for credits, or has been owed some that long, sends CREDIT_POLL, and the peer answers
    with all its allocations, so a lost credit return can neither stall the link for good nor
    leave credits missing (PCIe sends UpdateFC periodically for the same reason). Unanswered or
    fruitless polls back off, doubling up to 16 times the interval. On a link that loses nothing
    it stays off, and a sender blocked for good is a deadlock the emulation reports.

    ``init_attempts`` and ``init_timeout_ps`` bound initialisation: an end that is not active
    after that many advertisements (INIT_FC1 and INIT_FC2 together), or that long after the
    physical link came up, fails, and the link is down. PCIe bounds link training the same way,
    by time: each training state of its LTSSM gives up after a timeout, 24 ms in Polling.Active
    and Configuration.Linkwidth.Start, 48 ms in Polling.Configuration (PCI Express Base
    Specification 6.2, sections 4.2.7.2.1 and 4.2.7.3.1, as summarised in
    https://github.com/edwin3663/pcie-ltssm-clarity-companion, ``states/``); oisa models no
    physical training, so the 24 ms applies to credit initialisation. The attempt count is an
    assumption: a link whose flits arrive intact even one time in five completes initialisation
    within 64 advertisements all but certainly ((4/5)^64 is below 1e-6), and a worse one could
    not retrain (a handshake each way within ``retrain_attempts``) anyway. A larger count only
    makes a broken fabric slower to report: the emulation pays for every advertisement of every
    link.
    """

    flit_size: int = 256
    vcs: int = 1
    tc_to_vc: tuple[int, ...] = (0, 0, 0, 0, 0, 0, 0, 0)
    buffers: tuple[tuple[FcClass, int, int], ...] = (
        (FcClass.POSTED, 64, 1024), (FcClass.NON_POSTED, 64, 1024), (FcClass.COMPLETION, 0, 0))
    replay_buffer: int = 256
    replay_timeout_ps: int = 1_000_000
    replay_limit: int = 4
    ack_every: int = 8
    ack_delay_ps: int = 50_000
    credit_delay_ps: int = 50_000
    init_resend_ps: int = 1_000_000
    init_attempts: int = 64
    init_timeout_ps: int = 24_000_000_000
    retrain_time_ps: int = 1_000_000
    retrain_attempts: int = 3
    credit_poll_ps: int | None = None
    qos: QosPolicy | None = None  # how the channels share the link (None: strict priority, highest first)

    def __post_init__(self) -> None:
        check_flit_size(self.flit_size)
        if self.qos is not None and (self.qos.vcs, self.qos.tc_to_vc) != (self.vcs, self.tc_to_vc):
            raise ValueError("a QoS policy's channels and class map are the link's (LinkConfig.with_qos)")
        if not 1 <= self.vcs <= 8 or len(self.tc_to_vc) != 8 or not all(0 <= v < self.vcs for v in self.tc_to_vc):
            raise ValueError("tc_to_vc maps each of the 8 traffic classes to one of the link's 1-8 VCs")
        for cls, hdr, data in self.buffers:
            if not (0 <= hdr < HDR_MODULUS // 2 and (data == 0 or MAX_MESSAGE_CREDITS <= data < DATA_MODULUS // 2)):
                raise ValueError(f"{cls.name} buffer: header credits 0-{HDR_MODULUS // 2 - 1}, data credits 0 "
                                 f"(infinite) or {MAX_MESSAGE_CREDITS}-{DATA_MODULUS // 2 - 1} (one 4 KiB message "
                                 f"must fit)")
        if self.init_attempts < 1 or self.init_timeout_ps < 1 or self.init_resend_ps < 1:
            raise ValueError("initialisation needs at least one advertisement, a resend interval and a timeout")
        if not 1 <= self.replay_buffer < _HALF:
            raise ValueError(f"the replay buffer holds 1 to {_HALF - 1} flits (half the sequence space)")

    def with_qos(self, policy: QosPolicy) -> LinkConfig:
        """This link with ``policy``'s channels, each with credits of its own (the buffers above,
        per channel: an assumption that a channel alone can fill the link, as one does now)."""
        return replace(self, vcs=policy.vcs, tc_to_vc=policy.tc_to_vc, qos=policy)

    def receive_buffers(self) -> dict[CreditKey, tuple[int, int]]:
        return {(vc, cls): (hdr, data) for vc in range(self.vcs) for cls, hdr, data in self.buffers}


@dataclass
class LinkStats:
    """What happened at this end of the link."""

    flits_sent: int = 0  # new data flits
    flits_replayed: int = 0
    control_sent: int = 0
    flits_received: int = 0  # data flits accepted in order
    messages_sent: int = 0
    messages_received: int = 0
    message_bytes_sent: int = 0
    crc_errors: int = 0  # flits refused because their CRC or length was wrong
    duplicates: int = 0
    out_of_sequence: int = 0
    naks_sent: int = 0
    naks_received: int = 0
    acks_sent: int = 0  # standalone ACK flits
    replays: int = 0  # replays started (NAK or timer)
    replay_timeouts: int = 0
    retrains: int = 0
    credit_stalls: int = 0  # flit opportunities where messages waited for credits
    replay_stalls: int = 0  # flit opportunities where the replay buffer was full
    mac_failures: int = 0  # encrypted flits refused because their MAC did not verify (then NAKed, as a bad CRC)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(slots=True)
class _Waiting:
    order: int
    message: Message
    hdr: int
    data: int


def _order_of(waiting: _Waiting) -> int:
    return waiting.order


@dataclass(slots=True)
class _Sent:
    seq: int
    payload: bytes
    first_msg: int


@dataclass
class _Tx:
    """Transmit-side sequence and replay state."""

    next_seq: int = 0
    acked: int = SEQ_MODULUS - 1  # last sequence number acknowledged (PCIe's ACKD_SEQ)
    buffer: deque[_Sent] = field(default_factory=deque)
    cursor: int | None = None  # next replay buffer index to retransmit, while replaying
    deadline: int | None = None  # replay timer
    replay_num: int = 0
    invocations: int = 0  # data flits sealed so far: the next one's invocation counter (encrypted links)


@dataclass
class _Rx:
    """Receive-side sequence and acknowledgement state."""

    expected: int = 0
    received_any: bool = False
    nak_scheduled: bool = False
    nak_pending: bool = False
    ack_pending: int = 0
    ack_deadline: int | None = None
    ack_due: bool = False
    invocations: int = 0  # data flits opened so far: the counter the next in-order flit was sealed with


class LinkEndpoint:
    """One end of a link. See the module documentation for what it promises."""

    def __init__(self, config: LinkConfig | None = None, *, may_pass: PassRule | None = None,
                 name: str = "link", security: LinkSecurity | None = None) -> None:
        self.config = config or LinkConfig()
        self.name = name
        self._security = security  # encrypts data flits' payloads (oisa.link.security), or None
        self.capacity = self.config.flit_size - FLIT_OVERHEAD - (security.mac_bytes if security else 0)
        self.state = LinkState.DOWN
        self.stats = LinkStats()
        self.failure: str | None = None
        self._may_pass = may_pass
        self._send_credits = SendCredits()
        self._receive_credits = ReceiveCredits(self.config.receive_buffers())
        self._waiting: dict[int, dict[FcClass, deque[_Waiting]]] = {
            vc: {cls: deque() for cls in FcClass} for vc in range(self.config.vcs)}
        qos = self.config.qos
        self._arbiter = VcArbiter(qos) if qos is not None and qos.vcs > 1 else None
        self._order = 0
        self._waiting_count = 0  # messages in self._waiting
        self._waiting_bytes = 0
        self._packer = StreamPacker()
        self._unpacker = StreamUnpacker()
        self._tx = _Tx()
        self._rx = _Rx()
        self._control: deque[Flit] = deque()
        self.committed: list[Message] = []  # messages put into the flit stream; the driver drains it
        self._init_deadline: int | None = None
        self._init_started = 0
        self._init_sent = 0  # advertisements sent since the physical link came up
        self._credit_deadline: int | None = None
        self._credit_due = False
        self._credit_cycle = 0
        self._retrain_deadline: int | None = None
        self._stalled = False  # the last choice found messages waiting for credits and sent none
        self._poll_deadline: int | None = None
        self._poll_backoff = 1
        self._retrain_attempt = 0
        self._peer_answered = False
        self._retrain_joined = False

    # -- what the upper layer calls ----------------------------------------------------------

    def start(self, now: int) -> None:
        """The physical link is up: begin flow-control initialisation."""
        self._init_started = now
        self._input(LinkInput.LINK_UP, now)

    def queue(self, message: Message) -> None:
        """Queue a message for the peer; it goes when credits and ordering allow."""
        if self.state is LinkState.FAILED:
            raise LinkDownError(f"{self.name} is down: {self.failure}")
        hdr, data = credits_needed(message)
        vc = self.config.tc_to_vc[message.tc]
        self._order += 1
        self._waiting[vc][message.info.fc_class].append(_Waiting(self._order, message, hdr, data))
        self._waiting_count += 1
        self._waiting_bytes += message.wire_size

    def release(self, message: Message, now: int) -> None:
        """The consumer is done with a received message: free its buffer space (credits return)."""
        hdr, data = credits_needed(message)
        self._receive_credits.release((self.config.tc_to_vc[message.tc], message.info.fc_class), hdr, data)
        if self._receive_credits.changed and self._credit_deadline is None and not self._credit_due:
            self._credit_deadline = now + self.config.credit_delay_ps

    @property
    def waiting(self) -> int:
        """Messages queued and not yet committed to a flit."""
        return self._waiting_count

    @property
    def queued_bytes(self) -> int:
        """Stream bytes waiting for a flit, and bytes of messages waiting for credits."""
        return self._packer.queued_bytes + self._waiting_bytes

    @property
    def partial_bytes(self) -> int:
        """Bytes received of a message that has started and not yet finished arriving: a driver
        that forwards cut-through learns from it when a message's head came in."""
        return self._unpacker.pending_bytes

    @property
    def unacknowledged(self) -> int:
        return len(self._tx.buffer)

    @property
    def idle(self) -> bool:
        """Nothing left to send or to be acknowledged."""
        return not (self._waiting_count or self._packer.queued_bytes or self._tx.buffer or self._control)

    def credit_keys(self) -> list[CreditKey]:
        """The (virtual channel, class) pairs whose credits the peer has advertised."""
        return sorted(self._send_credits.initial)

    def send_credits(self, key: CreditKey) -> tuple[float, float]:
        """Header and data credits we may still use towards the peer (inf where unlimited)."""
        return self._send_credits.available(key)

    def receive_occupancy(self, key: CreditKey) -> tuple[int, int]:
        return self._receive_credits.occupancy(key)

    def advertised(self, key: CreditKey) -> tuple[int, int]:
        """What the peer advertised for ``key`` at initialisation (0 = infinite)."""
        return self._send_credits.initial[key]

    # -- transmit ---------------------------------------------------------------------------

    def next_frame(self, now: int) -> bytes | None:
        """The next flit to put on the wire now, or None if nothing may go."""
        state = self.state
        if state in (LinkState.DOWN, LinkState.FAILED):
            return None
        if self._control:
            return self._send_control(self._control.popleft())
        if state is not LinkState.ACTIVE:
            return None
        data = self._next_data_flit(now)
        if data is not None:
            return data
        rx = self._rx
        if rx.nak_pending or (rx.ack_pending and (rx.ack_pending >= self.config.ack_every or rx.ack_due)):
            self.stats.acks_sent += 1
            return self._send_control(Flit(FlitKind.CONTROL, ControlCode.ACK))
        if self._credit_due and self._receive_credits.changed:
            entries = [self._receive_credits.current(key) for key in sorted(self._receive_credits.changed)]
            self._receive_credits.changed.clear()
            self._credit_due = False
            return self._send_control(Flit(FlitKind.CONTROL, ControlCode.CREDIT, entries=entries))
        return None

    def _next_data_flit(self, now: int) -> bytes | None:
        tx = self._tx
        if tx.cursor is not None:
            sent = tx.buffer[tx.cursor]
            tx.cursor = tx.cursor + 1 if tx.cursor + 1 < len(tx.buffer) else None
            self.stats.flits_replayed += 1
            return self._encode_data(sent, now)
        if len(tx.buffer) >= self.config.replay_buffer:
            if self._waiting_count or self._packer.queued_bytes:
                self.stats.replay_stalls += 1
            return None
        room = self.capacity - self._packer.queued_bytes
        if room > 0:
            self._commit(room)
        if self.config.credit_poll_ps and self._poll_deadline is None and (self._stalled or self._owed()):
            self._poll_deadline = now + self.config.credit_poll_ps * self._poll_backoff
        if not self._packer.queued_bytes:
            return None
        payload, first = self._packer.next_payload(self.capacity)
        if self._security is not None:  # sealed once: a replay resends the same ciphertext
            payload = self._security.send.seal(tx.invocations, _authenticated(tx.next_seq, first), payload)
            tx.invocations += 1
        sent = _Sent(tx.next_seq, payload, first)
        tx.next_seq = (tx.next_seq + 1) % SEQ_MODULUS
        tx.buffer.append(sent)
        if tx.deadline is None:
            tx.deadline = now + self.config.replay_timeout_ps
        self.stats.flits_sent += 1
        return self._encode_data(sent, now)

    def _encode_data(self, sent: _Sent, now: int) -> bytes:
        credit = self._piggyback_credit()
        ack_kind, ack_seq = self._take_ack()
        return encode_data_flit(sent.seq, sent.first_msg, sent.payload, ack_kind, ack_seq, credit,
                                self.config.flit_size)

    def _send_control(self, flit: Flit) -> bytes:
        if flit.code is not ControlCode.RETRAIN and flit.code is not ControlCode.RETRAIN_DONE:
            self._attach_ack(flit)
        self.stats.control_sent += 1
        return encode_flit(flit, self.config.flit_size)

    def _attach_ack(self, flit: Flit) -> None:
        flit.ack_kind, flit.ack_seq = self._take_ack()

    def _take_ack(self) -> tuple[AckKind, int]:
        """The ACK or NAK the next flit carries (NONE before anything arrived); it settles
        whatever acknowledgement was pending."""
        rx = self._rx
        rx.ack_pending = 0
        rx.ack_deadline = None
        rx.ack_due = False
        if rx.nak_pending:
            rx.nak_pending = False
            self.stats.naks_sent += 1
            return AckKind.NAK, (rx.expected - 1) % SEQ_MODULUS
        if rx.received_any:
            return AckKind.ACK, (rx.expected - 1) % SEQ_MODULUS
        return AckKind.NONE, 0

    def _piggyback_credit(self) -> CreditReturn | None:
        credits = self._receive_credits
        if credits.changed:
            key = min(credits.changed)
            credits.changed.discard(key)
            if not credits.changed:
                self._credit_deadline = None
                self._credit_due = False
            return credits.current(key)
        finite = credits.finite
        if not finite:
            return None
        self._credit_cycle = (self._credit_cycle + 1) % len(finite)
        return credits.current(finite[self._credit_cycle])

    def _commit(self, room: int) -> None:
        """Move messages the peer has credits for into the stream, enough to fill ``room`` bytes."""
        while room > 0:
            if not self._waiting_count:
                self._stalled = False  # nothing waits, so nothing waits for credits
                return
            chosen = self._choose()
            if chosen is None:
                return
            vc, entry = chosen
            key = (vc, entry.message.info.fc_class)
            self._send_credits.consume(key, entry.hdr, entry.data)
            self._waiting[vc][key[1]].popleft()
            self._waiting_count -= 1
            self._waiting_bytes -= entry.message.wire_size
            encoded = encode_message(entry.message)
            self._packer.push(encoded)
            self.committed.append(entry.message)
            self.stats.messages_sent += 1
            self.stats.message_bytes_sent += len(encoded)
            room -= len(encoded)

    def _choose(self) -> tuple[int, _Waiting] | None:
        """The next message to send: highest virtual channel first (or the channel the QoS
        arbiter picks); within it the oldest head of a class that has credits and may pass every
        older head still waiting."""
        if self._arbiter is not None:
            return self._choose_arbitrated(self._arbiter)
        stalled = False
        for vc in range(self.config.vcs - 1, -1, -1):
            heads = [q[0] for q in self._waiting[vc].values() if q]
            if len(heads) > 1:
                heads.sort(key=_order_of)
            for index, head in enumerate(heads):
                key = (vc, head.message.info.fc_class)
                if not self._send_credits.can_send(key, head.hdr, head.data):
                    stalled = True
                    continue
                if all(self._passes(head.message, older.message) for older in heads[:index]):
                    self._stalled = False
                    return vc, head
        if stalled:
            self.stats.credit_stalls += 1
        self._stalled = stalled
        return None

    def _choose_arbitrated(self, arbiter: VcArbiter) -> tuple[int, _Waiting] | None:
        """:meth:`_choose` under a QoS policy: each channel's candidate as above, and the
        arbiter's pick among the channels that have one (a channel out of credits blocks none
        of the others: their credits are their own)."""
        stalled = False
        candidates: dict[int, _Waiting] = {}
        for vc in range(self.config.vcs):
            heads = [q[0] for q in self._waiting[vc].values() if q]
            if len(heads) > 1:
                heads.sort(key=_order_of)
            for index, head in enumerate(heads):
                if not self._send_credits.can_send((vc, head.message.info.fc_class), head.hdr, head.data):
                    stalled = True
                    continue
                if all(self._passes(head.message, older.message) for older in heads[:index]):
                    candidates[vc] = head
                    break
        if not candidates:
            if stalled:
                self.stats.credit_stalls += 1
            self._stalled = stalled
            return None
        self._stalled = False
        vc = arbiter.pick({vc: head.message.wire_size for vc, head in candidates.items()})
        return vc, candidates[vc]

    def _passes(self, later: Message, earlier: Message) -> bool:
        return self._may_pass is not None and self._may_pass(later, earlier)

    # -- receive ----------------------------------------------------------------------------

    def receive_frame(self, frame: bytes, now: int) -> list[Message]:
        """Take one frame from the wire; return the messages it completed, in order.

        The caller hands each returned message to its consumer and calls :meth:`release` when
        the consumer is done with it.
        """
        if len(frame) != self.config.flit_size:
            self._bad_flit()  # cut short or run long on the wire: as good as a CRC error
            return []
        try:
            flit = decode_flit(frame, self.config.flit_size)
        except CrcError:
            self._bad_flit()
            return []
        except FrameError as exc:  # the CRC was right, so the peer built it this way
            raise RemoteProtocolError(f"{self.name}: the peer sent a malformed flit: {exc}") from exc
        if flit.kind is FlitKind.DATA:
            if self.state is LinkState.ACTIVE:
                return self._process(flit, now)  # the table's entry for data while active, taken directly
            return self._input(LinkInput.DATA, now, flit) or []
        return self._input(_CONTROL_INPUTS[flit.code], now, flit) or []

    def _bad_flit(self) -> None:
        self.stats.crc_errors += 1
        if self.state in (LinkState.ACTIVE, LinkState.FC_INIT2):
            self._schedule_nak()

    def _schedule_nak(self) -> None:
        rx = self._rx
        if not rx.nak_scheduled:
            rx.nak_scheduled = rx.nak_pending = True

    def _process(self, flit: Flit, now: int) -> list[Message]:
        if flit.ack_kind is not AckKind.NONE:
            self._acknowledged(flit.ack_kind, flit.ack_seq, now)
        if flit.credit is not None:
            self._send_credits.update(flit.credit)
        for entry in flit.entries:
            self._send_credits.update(entry)
        if flit.kind is not FlitKind.DATA:
            return []
        rx = self._rx
        ahead = (flit.seq - rx.expected) % SEQ_MODULUS
        if ahead == 0 and self._security is not None:
            try:
                flit.payload = self._security.receive.open(rx.invocations, _authenticated(flit.seq, flit.first_msg),
                                                           flit.payload)
            except IntegrityError:  # altered, or not this place's flit: refused like a bad CRC, then replayed
                self.stats.mac_failures += 1
                self._schedule_nak()
                return []
            rx.invocations += 1
        if ahead == 0:
            rx.expected = (rx.expected + 1) % SEQ_MODULUS
            rx.received_any = True
            rx.nak_scheduled = False
            rx.ack_pending += 1
            if rx.ack_deadline is None and not rx.ack_due:
                rx.ack_deadline = now + self.config.ack_delay_ps
            self.stats.flits_received += 1
            try:
                messages = self._unpacker.feed(flit.payload)
            except FrameError as exc:
                raise RemoteProtocolError(f"{self.name}: the peer's message stream is malformed: {exc}") from exc
            for message in messages:
                hdr, data = credits_needed(message)
                self._receive_credits.arrived((self.config.tc_to_vc[message.tc], message.info.fc_class), hdr, data)
            self.stats.messages_received += len(messages)
            return messages
        if ahead >= _HALF:
            self.stats.duplicates += 1
            rx.ack_pending = max(rx.ack_pending, 1)  # tell the sender again what we have, now
            rx.ack_deadline, rx.ack_due = None, True
        else:
            self.stats.out_of_sequence += 1
            self._schedule_nak()
        return []

    def _acknowledged(self, kind: AckKind, seq: int, now: int) -> None:
        tx = self._tx
        progress = (seq - tx.acked) % SEQ_MODULUS
        if progress > len(tx.buffer):
            raise RemoteProtocolError(f"{self.name}: {kind.name} for sequence number {seq}, which was never sent "
                                      f"(last acknowledged {tx.acked}, next {tx.next_seq})")
        if kind is AckKind.NAK:
            self.stats.naks_received += 1
        if progress:
            for _ in range(progress):
                tx.buffer.popleft()
            tx.acked = seq
            tx.replay_num = 0
            if tx.cursor is not None:
                tx.cursor = max(0, tx.cursor - progress) if tx.buffer else None
            tx.deadline = now + self.config.replay_timeout_ps if tx.buffer else None
        if kind is AckKind.NAK and tx.buffer:
            self._replay(now)

    def _replay(self, now: int) -> None:
        tx = self._tx
        tx.replay_num += 1
        self.stats.replays += 1
        if tx.replay_num >= self.config.replay_limit:
            self._input(LinkInput.REPLAY_ROLLOVER, now)
            return
        tx.cursor = 0
        tx.deadline = now + self.config.replay_timeout_ps

    # -- timers -----------------------------------------------------------------------------

    def next_deadline(self) -> int | None:
        """The earliest time :meth:`on_timer` has something to do, if any."""
        # (asked after every event by whoever drives the endpoint, so written out rather than
        # as a list to take the minimum of)
        earliest = self._tx.deadline
        for t in (self._rx.ack_deadline, self._credit_deadline, self._init_deadline, self._retrain_deadline,
                  self._poll_deadline):
            if t is not None and (earliest is None or t < earliest):
                earliest = t
        return earliest

    def on_timer(self, now: int) -> None:
        tx = self._tx
        if tx.deadline is not None and now >= tx.deadline:
            tx.deadline = None
            if tx.buffer and self.state is LinkState.ACTIVE:
                self.stats.replay_timeouts += 1
                self._replay(now)
        if self._init_deadline is not None and now >= self._init_deadline:
            self._init_deadline = None
            if self.state in (LinkState.FC_INIT1, LinkState.FC_INIT2):  # (else activated meanwhile)
                stuck = f"stuck in {self.state.name}"
                if now >= self._init_started + self.config.init_timeout_ps:
                    self.failure = (f"initialisation failed: not done {format_time(self.config.init_timeout_ps)} "
                                    f"after the link came up ({self._init_sent} advertisements, {stuck})")
                    self._input(LinkInput.INIT_EXHAUSTED, now)
                elif self._init_sent >= self.config.init_attempts:
                    self.failure = f"initialisation failed: {self._init_sent} advertisements went unanswered ({stuck})"
                    self._input(LinkInput.INIT_EXHAUSTED, now)
                else:
                    self._send_init(now)
        if self._retrain_deadline is not None and now >= self._retrain_deadline:
            self._retrain_deadline = None
            if self._peer_answered:
                self._input(LinkInput.RETRAIN_COMPLETE, now)
            elif self._retrain_attempt < self.config.retrain_attempts:
                self._input(LinkInput.RETRAIN_TIMEOUT, now)
            else:
                self._input(LinkInput.RETRAIN_EXHAUSTED, now)
        if self._poll_deadline is not None and now >= self._poll_deadline:
            self._poll(now)
        rx = self._rx
        if rx.ack_deadline is not None and now >= rx.ack_deadline:
            rx.ack_deadline, rx.ack_due = None, True
        if self._credit_deadline is not None and now >= self._credit_deadline:
            self._credit_deadline, self._credit_due = None, True

    def _owed(self) -> bool:
        """Some credits we used have not come back (yet, or because their return was lost)."""
        credits = self._send_credits
        return any(start and left != start for key, initial in credits.initial.items()
                   for left, start in zip(credits.available(key), initial))

    def _poll(self, now: int) -> None:
        """Still waiting for credits, or still owed some: ask for them, and wait longer before
        asking again. Owed credits alone are worth asking for too: their return may have been
        lost while nothing else was going to make the peer send its allocations again."""
        self._poll_deadline = None
        if not (self._stalled or self._owed()) or self.state is not LinkState.ACTIVE:
            self._poll_backoff = 1
            return
        self._control.append(Flit(FlitKind.CONTROL, ControlCode.CREDIT_POLL))
        self._poll_backoff = min(self._poll_backoff * 2, 16)
        assert self.config.credit_poll_ps is not None
        self._poll_deadline = now + self.config.credit_poll_ps * self._poll_backoff

    # -- the state machine --------------------------------------------------------------------

    def _input(self, event: LinkInput, now: int, flit: Flit | None = None) -> list[Message] | None:
        self.state, action = transition(self.state, event)
        handler: Callable[[int, Flit | None], list[Message] | None] = getattr(self, _HANDLERS[action])
        return handler(now, flit)

    def _do_ignore(self, now: int, flit: Flit | None) -> None:
        return None

    def _do_advertise(self, now: int, flit: Flit | None) -> None:
        self._send_init(now)

    def _send_init(self, now: int) -> None:
        code = ControlCode.INIT_FC1 if self.state is LinkState.FC_INIT1 else ControlCode.INIT_FC2
        self._control.append(Flit(FlitKind.CONTROL, code, entries=self._receive_credits.advertisement()))
        self._init_sent += 1
        self._init_deadline = min(now + self.config.init_resend_ps, self._init_started + self.config.init_timeout_ps)

    def _do_record_credits(self, now: int, flit: Flit | None) -> None:
        assert flit is not None
        for entry in flit.entries:
            self._send_credits.advertise(entry)
        if self._send_credits.knows(self._receive_credits.keys):
            self._input(LinkInput.PEER_CREDITS_KNOWN, now)

    def _do_finish_init(self, now: int, flit: Flit | None) -> None:
        self._init_deadline = None

    def _do_send_credits(self, now: int, flit: Flit | None) -> None:
        entries = [self._receive_credits.current(key) for key in self._receive_credits.keys]
        self._control.append(Flit(FlitKind.CONTROL, ControlCode.CREDIT, entries=entries))

    def _do_process(self, now: int, flit: Flit | None) -> list[Message]:
        assert flit is not None
        return self._process(flit, now)

    def _do_activate_and_process(self, now: int, flit: Flit | None) -> list[Message]:
        self._init_deadline = None
        return self._do_process(now, flit)

    def _do_start_retrain(self, now: int, flit: Flit | None) -> None:
        self.stats.retrains += 1
        self._retrain_attempt = 1
        self._peer_answered = self._retrain_joined = False
        self._begin_retrain(now)

    def _do_join_retrain(self, now: int, flit: Flit | None) -> None:
        self.stats.retrains += 1
        self._retrain_attempt = 1
        self._peer_answered = self._retrain_joined = True
        self._begin_retrain(now)

    def _begin_retrain(self, now: int) -> None:
        self._control = deque(f for f in self._control if f.code in (ControlCode.RETRAIN, ControlCode.RETRAIN_DONE))
        self._control.append(Flit(FlitKind.CONTROL, ControlCode.RETRAIN))
        self._tx.cursor = None
        self._tx.deadline = None
        self._retrain_deadline = now + self.config.retrain_time_ps

    def _do_peer_retraining(self, now: int, flit: Flit | None) -> None:
        self._peer_answered = True
        # The side that joined answers every RETRAIN, in case its first answer was lost; the
        # side that started never answers, so the two cannot echo each other forever.
        if self._retrain_joined and flit is not None and flit.code is ControlCode.RETRAIN:
            self._control.append(Flit(FlitKind.CONTROL, ControlCode.RETRAIN))

    def _do_retry_retrain(self, now: int, flit: Flit | None) -> None:
        self._retrain_attempt += 1
        self._begin_retrain(now)

    def _do_finish_retrain(self, now: int, flit: Flit | None) -> None:
        self._control.append(Flit(FlitKind.CONTROL, ControlCode.RETRAIN_DONE))
        tx = self._tx
        tx.replay_num = 0
        if tx.buffer:
            tx.cursor = 0
            tx.deadline = now + self.config.replay_timeout_ps

    def _do_fail_init(self, now: int, flit: Flit | None) -> None:
        self._control.clear()  # (on_timer wrote the failure: it knows the state the link was stuck in)
        self._tx.deadline = None

    def _do_fail(self, now: int, flit: Flit | None) -> None:
        self.failure = (f"retraining failed: {self.config.retrain_attempts} attempts went unanswered "
                        f"({len(self._tx.buffer)} flits unacknowledged)")
        self._control.clear()
        self._tx.deadline = None



def _authenticated(seq: int, first_msg: int) -> bytes:
    """The header fields an encrypted flit's MAC covers besides its payload."""
    return seq.to_bytes(2, "big") + first_msg.to_bytes(2, "big")
