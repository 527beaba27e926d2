"""A RoCE NIC's transport on its Ethernet port: DCQCN congestion control and go-back-N recovery.

One :class:`RoceNic` sits on each Ethernet port of a NIC, as the port's gate (what the NIC sends)
and intake (what it receives). A flow is one queue pair: the traffic from one card to another.

**DCQCN** (Zhu et al., "Congestion Control for Large-Scale RDMA Deployments", SIGCOMM 2015,
section 3 and figure 7), timed as ConnectX firmware runs it (the defaults, their sources and the
paper's own set, :data:`~oisa.fabric.ethernet_config.DCQCN_PAPER`, are in
:mod:`oisa.fabric.ethernet_config`):

* notification point (the receiving NIC): a packet that arrives ECN-marked makes it send the
  sender a CNP, at most one per flow per ``cnp_interval``;
* reaction point (the sending NIC): a CNP cuts the current rate by ``alpha / 2`` (never below
  ``min_dec_factor`` of itself), at most once per ``rate_decrease_interval`` (a CNP inside it
  cuts once it has passed); the target rate takes the current one first, always
  (``clamp_target_always``, the paper) or only if an increase event has raised the rate since the
  last cut (ConnectX's default), so that a burst of CNPs does not drag the target down with it.
  ``alpha`` is updated once per ``alpha_timer`` while the flow is held: towards 1 with gain ``g``
  if a CNP came in the period, towards 0 if none did. The rate climbs back on increase events, one
  per ``rate_timer`` (restarted by each cut) and one per ``byte_counter`` bytes sent: the first
  ``fast_recovery`` of them halve the distance to the target (fast recovery); then the target
  grows by ``rate_ai`` per event (additive increase), or by ``rate_hai`` times the rounds once
  both the timer and the byte counter have passed ``fast_recovery`` (hyper increase), and the
  rate halves its distance to it. A flow sends no faster than its rate: its packets are paced.

**Go-back-N** (with PFC off, where switches drop): every data packet of a flow carries a packet
sequence number; the receiver accepts only the next one in order and acknowledges it; a packet
out of order is discarded and answered with one NAK naming the one expected, on which the sender
sends again everything from it; a flow with packets unacknowledged for ``retransmit_timeout``
sends them all again (the lost packet was its last, so no later one could trigger a NAK). So every
byte is delivered once, in order, as an RC queue pair of a RoCE NIC delivers it.

CNPs, ACKs and NAKs are small packets (one RoCE header, no payload) that cross the switches like
any other, on priority :data:`CONTROL_PRIORITY`, served before data.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from copy import copy
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from oisa.fabric.ethernet_config import DcqcnConfig
from oisa.fabric.roce import RoceDomain
from oisa.fabric.spec import FabricSpec, LinkSpec
from oisa.sim import FramePort, Kernel
from oisa.sim.ethernet import EthernetPort
from oisa.units import S
from oisa.wire.oisa import Message, Opcode

__all__ = ["CONTROL_PRIORITY", "Control", "NicCounters", "RoceNic", "roce_nics"]

CONTROL_PRIORITY = 6  # CNPs and acknowledgements: above the data, as RoCE deployments map CNPs to a high priority


class Control(Enum):
    CNP = "cnp"
    ACK = "ack"
    NAK = "nak"


@dataclass
class NicCounters:
    cnps_sent: int = 0
    cnps_received: int = 0
    rate_cuts: int = 0
    retransmits: int = 0  # data packets sent again
    timeouts: int = 0
    out_of_order: int = 0  # data packets discarded by the receiver (after a loss, or duplicates)
    acks_sent: int = 0
    naks_sent: int = 0


@dataclass
class _Flow:
    """One queue pair's sending state."""

    line_bps: int
    rate_bps: float = 0.0  # current rate (Rc)
    target_bps: float = 0.0  # target rate (Rt)
    alpha: float = 1.0
    timer_rounds: int = 0
    byte_rounds: int = 0
    bytes_since: int = 0
    limited: bool = False  # below line rate: timers run
    next_free: int = 0  # when pacing lets the next packet go
    waiting: deque[tuple[Message, int | None]] = field(default_factory=deque)
    release_at: int | None = None
    next_cut_at: int = 0  # no cut before this (rate_decrease_interval after the last)
    cut_pending: bool = False  # a CNP waits for next_cut_at
    cnp_in_period: bool = False  # a CNP came in alpha's current period
    alpha_running: bool = False  # alpha's update timer is running
    raised: bool = False  # an increase event has raised the rate since the last cut
    rate_epoch: int = 0  # which cut the running increase timer belongs to
    next_psn: int = 0
    unacked: deque[tuple[int, Message]] = field(default_factory=deque)
    timer_armed: bool = False
    progress_at: int = 0

    def __post_init__(self) -> None:
        self.rate_bps = self.target_bps = float(self.line_bps)


@dataclass
class _Receiving:
    """One queue pair's receiving state."""

    expected: int = 0
    nak_sent: bool = False
    last_cnp: int | None = None


class RoceNic:
    """DCQCN and go-back-N on one Ethernet port of a NIC."""

    def __init__(self, kernel: Kernel, port: EthernetPort, config: DcqcnConfig, domain: RoceDomain, *,
                 reliable: bool) -> None:
        self.kernel = kernel
        self.port = port
        self.config = config
        self.domain = domain
        self.reliable = reliable  # go-back-N on (the fabric may drop)
        self.counters = NicCounters()
        self.flows: dict[tuple[int, int], _Flow] = {}
        self.receiving: dict[tuple[int, int], _Receiving] = {}
        port.gate = self
        port.intake = self.arrive

    # --- the sending side -------------------------------------------------------------------

    def submit(self, message: Message, tail_ready_ps: int | None) -> None:
        key = (message.src, message.dst)
        flow = self.flows.get(key)
        if flow is None:
            flow = self.flows[key] = _Flow(self.port.rate_bps)
        if not flow.waiting and flow.next_free <= self.kernel.now:
            self._release(flow, message, tail_ready_ps)
            return
        flow.waiting.append((message, tail_ready_ps))
        self._schedule(flow)

    def _schedule(self, flow: _Flow) -> None:
        if flow.waiting and flow.release_at is None:
            flow.release_at = max(self.kernel.now, flow.next_free)
            self.kernel.call_at(flow.release_at, self._released, flow)

    def _released(self, flow: _Flow) -> None:
        flow.release_at = None
        if flow.waiting and flow.next_free <= self.kernel.now:
            message, tail_ready = flow.waiting.popleft()
            self._release(flow, message, tail_ready)
        self._schedule(flow)

    def _release(self, flow: _Flow, message: Message, tail_ready_ps: int | None) -> None:
        """``message`` may go now: pace the flow's next one, number it, queue it on the port."""
        size = self.port.framing(message)[1]
        now = self.kernel.now
        flow.next_free = now + int(size * 8 * S / flow.rate_bps) if flow.limited else now
        if flow.limited:
            flow.bytes_since += size
            if flow.bytes_since >= self.config.byte_counter:
                flow.bytes_since = 0
                flow.byte_rounds += 1
                self._increase(flow)
        if self.reliable:
            self.domain.psn[id(message)] = flow.next_psn
            flow.unacked.append((flow.next_psn, message))
            flow.next_psn += 1
            self._arm(flow)
        self.port.enqueue(message, tail_ready_ps)

    def _congestion_notified(self, flow: _Flow) -> None:
        """A CNP arrived for ``flow``: it counts for alpha's current period, and cuts the rate now
        unless a cut came less than ``rate_decrease_interval`` ago (then once that has passed)."""
        flow.cnp_in_period = True
        now = self.kernel.now
        if now >= flow.next_cut_at:
            self._cut(flow)
        elif not flow.cut_pending:
            flow.cut_pending = True
            self.kernel.call_at(flow.next_cut_at, self._pending_cut, flow)

    def _pending_cut(self, flow: _Flow) -> None:
        flow.cut_pending = False
        self._cut(flow)

    def _cut(self, flow: _Flow) -> None:
        """DCQCN's rate decrease: the target takes the current rate (always, or, as ConnectX NICs
        do by default, only if an increase event has raised the rate since the last cut), and the
        rate falls by ``alpha / 2``, to no less than ``min_dec_factor`` of itself."""
        config = self.config
        if config.clamp_target_always or flow.raised:
            flow.target_bps = flow.rate_bps
        keep = max(1 - flow.alpha / 2, config.min_dec_factor)
        flow.rate_bps = max(float(config.min_rate_bps), flow.rate_bps * keep)
        flow.timer_rounds = flow.byte_rounds = flow.bytes_since = 0
        flow.raised = False
        flow.next_cut_at = self.kernel.now + config.rate_decrease_interval_ps
        self.counters.rate_cuts += 1
        flow.limited = True
        if not flow.alpha_running:
            flow.alpha_running = True
            self.kernel.call_later(config.alpha_timer_ps, self._alpha_timer, flow)
        flow.rate_epoch += 1  # the increase timer restarts from the cut
        self.kernel.call_later(config.rate_timer_ps, self._rate_timer, flow, flow.rate_epoch)

    def _alpha_timer(self, flow: _Flow) -> None:
        """Once per ``alpha_timer`` while the flow is held below line rate: alpha moves towards 1
        if a CNP came in the period, towards 0 if none did (gain ``g``)."""
        if not flow.limited:
            flow.alpha_running = False  # back at line rate: alpha rests until the next cut
            return
        g = self.config.g
        flow.alpha = (1 - g) * flow.alpha + (g if flow.cnp_in_period else 0.0)
        flow.cnp_in_period = False
        self.kernel.call_later(self.config.alpha_timer_ps, self._alpha_timer, flow)

    def _rate_timer(self, flow: _Flow, epoch: int) -> None:
        if not flow.limited or epoch != flow.rate_epoch:
            return  # back at line rate, or a later cut restarted the timer
        flow.timer_rounds += 1
        self._increase(flow)
        if flow.limited:
            self.kernel.call_later(self.config.rate_timer_ps, self._rate_timer, flow, epoch)

    def _increase(self, flow: _Flow) -> None:
        """A rate-increase event (timer or byte counter): fast recovery for the first
        ``fast_recovery`` of either kind, then additive increase, hyper increase once both have
        passed ``fast_recovery``; the rate halves its distance to the target."""
        config = self.config
        flow.raised = True
        rounds = max(flow.timer_rounds, flow.byte_rounds)
        if rounds > config.fast_recovery:
            both = min(flow.timer_rounds, flow.byte_rounds)
            if both > config.fast_recovery:
                flow.target_bps += (both - config.fast_recovery) * config.rate_hai_bps
            else:
                flow.target_bps += config.rate_ai_bps
        flow.target_bps = min(flow.target_bps, float(flow.line_bps))
        flow.rate_bps = (flow.target_bps + flow.rate_bps) / 2
        if flow.line_bps - flow.rate_bps < config.rate_ai_bps:
            flow.rate_bps = flow.target_bps = float(flow.line_bps)
            flow.limited = False

    # --- go-back-N at the sender ------------------------------------------------------------

    def _arm(self, flow: _Flow) -> None:
        flow.progress_at = self.kernel.now
        if not flow.timer_armed:
            flow.timer_armed = True
            self.kernel.call_later(self.config.retransmit_timeout_ps, self._timeout, flow)

    def _timeout(self, flow: _Flow) -> None:
        flow.timer_armed = False
        if not flow.unacked:
            return
        due = flow.progress_at + self.config.retransmit_timeout_ps
        if due > self.kernel.now:
            flow.timer_armed = True
            self.kernel.call_at(due, self._timeout, flow)
            return
        self.counters.timeouts += 1
        self._go_back(flow, flow.unacked[0][0])

    def _go_back(self, flow: _Flow, psn: int) -> None:
        """Send again every unacknowledged packet from ``psn`` on, in order (fresh copies: the
        first sending may still be in flight)."""
        for number, message in flow.unacked:
            if number < psn:
                continue
            again = copy(message)
            self.domain.psn[id(again)] = number
            self.counters.retransmits += 1
            self.port.enqueue(again, None)
        self._arm(flow)

    def _acknowledged(self, flow: _Flow, psn: int) -> None:
        while flow.unacked and flow.unacked[0][0] <= psn:
            flow.unacked.popleft()
        flow.progress_at = self.kernel.now

    # --- the receiving side -----------------------------------------------------------------

    def arrive(self, port: FramePort, message: Message, head_ps: int, tail_ps: int) -> None:
        control = self.domain.control.pop(id(message), None)
        if control is not None:
            self.kernel.call_at(max(self.kernel.now, tail_ps), self._control, control, message)
            return
        key = (message.src, message.dst)
        state = self.receiving.get(key)
        if state is None:
            state = self.receiving[key] = _Receiving()
        if id(message) in self.domain.marks:
            self.domain.marks.discard(id(message))
            self._notify(state, message)
        psn = self.domain.psn.pop(id(message), None)
        if psn is not None:
            if psn != state.expected:
                self.counters.out_of_order += 1
                if psn > state.expected and not state.nak_sent:
                    state.nak_sent = True
                    self._send_control(Control.NAK, message, state.expected)
                elif psn < state.expected:
                    self._send_control(Control.ACK, message, state.expected - 1)
                return
            state.expected += 1
            state.nak_sent = False
            self._send_control(Control.ACK, message, psn)
        port.owner.receive(port, message, head_ps, tail_ps)

    def _notify(self, state: _Receiving, message: Message) -> None:
        """An ECN-marked packet: the notification point's CNP, at most one per interval."""
        if not self.config.enabled:
            return
        now = self.kernel.now
        if state.last_cnp is not None and now - state.last_cnp < self.config.cnp_interval_ps:
            return
        state.last_cnp = now
        self.counters.cnps_sent += 1
        self._send_control(Control.CNP, message, 0)

    def _send_control(self, kind: Control, about: Message, psn: int) -> None:
        """A CNP, ACK or NAK about ``about``'s flow, back to its sender."""
        packet = Message(Opcode.MSG, about.dst, about.src, length=0, tc=CONTROL_PRIORITY)
        self.domain.control[id(packet)] = (kind, psn)
        if kind is Control.ACK:
            self.counters.acks_sent += 1
        elif kind is Control.NAK:
            self.counters.naks_sent += 1
        self.port.enqueue(packet, None)

    def _control(self, control: tuple[Control, int], packet: Message) -> None:
        kind, psn = control
        flow = self.flows.get((packet.dst, packet.src))
        if flow is None:
            return
        if kind is Control.CNP:
            self.counters.cnps_received += 1
            self._congestion_notified(flow)
        elif kind is Control.ACK:
            self._acknowledged(flow, psn)
        else:
            self._acknowledged(flow, psn - 1)
            self._go_back(flow, psn)


class _BuiltLink(Protocol):
    spec: LinkSpec

    @property
    def ports(self) -> tuple[object, object]: ...


def roce_nics(kernel: Kernel, spec: FabricSpec, links: Sequence[_BuiltLink], domain: RoceDomain) -> list[RoceNic]:
    """A :class:`RoceNic` on every NIC's Ethernet port that queues frame by frame: with the NIC's
    DCQCN where its ``[dcqcn]`` turns it on, and go-back-N wherever a buffered switch of the fabric
    runs without PFC (and so may drop)."""
    lossy = any(s.buffering is not None and not s.buffering.pfc.enabled for s in spec.switches)
    configs = {nic.id: nic.dcqcn or DcqcnConfig(enabled=False) for nic in spec.nics}
    out = []
    for link in links:
        for node, port in zip((link.spec.a, link.spec.b), link.ports):
            config = configs.get(node)
            if config is None or not isinstance(port, EthernetPort) or not (config.enabled or lossy):
                continue
            out.append(RoceNic(kernel, port, config, domain, reliable=lossy))
    return out
