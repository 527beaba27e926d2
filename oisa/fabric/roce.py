"""An Ethernet switch with a shared buffer, ECN marking and PFC: the switched baseline as deployed.

Every message (a packet, or a timing-mode part of at most one MTU: :mod:`oisa.sim.ethernet`) that
enters an :class:`EthernetSwitch` takes room in its shared buffer from the moment its head is in
until the egress port starts sending it; it is charged to its ingress port's priority group and to
its egress queue. Admission, in the order a switch's memory manager checks:

1. the shared pool must have room, or the frame is dropped;
2. on a lossless priority (PFC on), the ingress priority group may hold at most XOFF plus its
   headroom; above XOFF the switch sends the upstream a PFC pause for that priority, and once
   the group drains to XON a resume. A frame beyond the headroom is dropped (the headroom was too
   small for the link: the loader refuses such settings, but a frame of a lossy priority never
   pauses anything);
3. on a lossy priority (PFC off), an egress queue may hold at most ``alpha`` times the free
   buffer (dynamic thresholds): a full queue drops;
4. an admitted frame is ECN-marked with the RED probability of the egress queue's depth
   (DCQCN's switch side); the mark travels with the frame to the receiving NIC.

A paused egress port stops sending that priority, so what is behind it stays in this switch's
buffer, charged to the ingress groups it came in on, which pause their own upstreams in turn:
pauses propagate hop by hop towards the senders, and flows that share a paused port with the
congested one (victims) stop with it.

Among equal next hops, the switch picks by a seeded hash of the packet's RoCEv2 5-tuple, or sprays
(:mod:`oisa.fabric.ecmp`).

What marks, control packets and sequence numbers ride on a message is kept in a
:class:`RoceDomain` beside it (a :class:`~oisa.wire.oisa.Message` has no field for a RoCE header's
ECN bits or PSN).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oisa.fabric.ecmp import flow_hash
from oisa.fabric.ethernet_config import EthernetBuffering
from oisa.fabric.nodes import Forwarder
from oisa.fabric.routing import PathChooser
from oisa.sim import Kernel, Port
from oisa.sim.ethernet import EthernetPort
from oisa.wire.oisa import Message

__all__ = ["ROCE_COUNTERS", "EthernetSwitch", "RoceDomain", "SwitchCounters", "roce_totals"]


@dataclass
class RoceDomain:
    """What travels beside the messages of one fabric's Ethernet, by message identity: ECN marks,
    packet sequence numbers (go-back-N) and what a control packet (CNP, ACK, NAK) says. Each
    entry leaves with its message at the NIC that receives it, or with a drop.

    A mark is kept only for a message to one of the ``notified`` cards (None: every card), those
    whose NIC runs DCQCN and so reads it: a NIC without DCQCN has nothing that would take it
    off, and a switch counts the marks it makes either way."""

    notified: frozenset[int] | None = None
    marks: set[int] = field(default_factory=set)
    psn: dict[int, int] = field(default_factory=dict)
    control: dict[int, Any] = field(default_factory=dict)

    def forget(self, message: Message) -> None:
        key = id(message)
        self.marks.discard(key)
        self.psn.pop(key, None)
        self.control.pop(key, None)


@dataclass
class SwitchCounters:
    drops: int = 0
    ecn_marks: int = 0
    pauses_sent: int = 0
    resumes_sent: int = 0
    max_buffer_bytes: int = 0


class EthernetSwitch(Forwarder):
    """A shared-buffer Ethernet switch with per-priority queues, ECN and PFC."""

    def __init__(self, kernel: Kernel, node_id: int, name: str, *, latency_ps: int, cut_through: bool,
                 chooser: PathChooser, buffering: EthernetBuffering, domain: RoceDomain) -> None:
        super().__init__(kernel, node_id, name, latency_ps=latency_ps, cut_through=cut_through, chooser=chooser)
        self.buffering = buffering
        self.domain = domain
        self.counters = SwitchCounters()
        self.used = 0
        self.ingress_bytes: dict[tuple[int, int], int] = defaultdict(int)  # (id(port), priority) -> bytes held
        self.egress_bytes: dict[tuple[int, int], int] = defaultdict(int)
        self.pausing: set[tuple[int, int]] = set()  # ingress groups whose upstream we have paused
        self._admitted: dict[int, tuple[Port, Port, int, int]] = {}  # id(message) -> ingress, egress, priority, size
        # a stream of its own per switch, so that marking changes no other random choice of the run
        self.rng = np.random.default_rng(np.random.SeedSequence(kernel.seed, spawn_key=(0xEC7, node_id)))
        self.hash_seed = int(np.random.SeedSequence(kernel.seed, spawn_key=(0xEC3, node_id)).generate_state(1)[0])
        self._turn: dict[int, int] = defaultdict(int)

    def egress(self, message: Message) -> Port:
        """Among equal next hops, the one the packet's 5-tuple hashes to (or the next in turn, when
        spraying); a NIC's own card keeps to that NIC, as in :class:`Forwarder`."""
        choices = self.routes.get(message.dst)
        if not choices or len(choices) == 1 or any(self.nic_of.get(card) in choices
                                                   for card in (message.src, message.dst)):
            return super().egress(message)
        if self.buffering.ecmp == "spray":
            turn = self._turn[message.dst]
            self._turn[message.dst] = turn + 1
            return choices[turn % len(choices)]
        return choices[flow_hash(message, self.hash_seed) % len(choices)]

    def admit(self, port: Port, message: Message, egress: Port) -> bool:
        config = self.buffering
        size = _wire_bytes(egress, message)
        priority = message.tc & 7
        lossless = config.pfc.enabled and priority in config.pfc.priorities
        group = (id(port), priority)
        queue = (id(egress), priority)
        free = config.buffer.total_bytes - self.used
        if size > free:
            return self._drop(port, message)
        if lossless:
            if self.ingress_bytes[group] + size > config.pfc.xoff_bytes + config.pfc.headroom_bytes:
                return self._drop(port, message)
        elif self.egress_bytes[queue] + size > config.buffer.alpha * free:
            return self._drop(port, message)
        chance = config.ecn.probability(self.egress_bytes[queue])
        if chance and (chance >= 1.0 or self.rng.random() < chance):
            notified = self.domain.notified
            if notified is None or message.dst in notified:
                self.domain.marks.add(id(message))
            self.counters.ecn_marks += 1
        self.used += size
        self.counters.max_buffer_bytes = max(self.counters.max_buffer_bytes, self.used)
        self.ingress_bytes[group] += size
        self.egress_bytes[queue] += size
        self._admitted[id(message)] = (port, egress, priority, size)
        if lossless and self.ingress_bytes[group] > config.pfc.xoff_bytes and group not in self.pausing:
            self.pausing.add(group)
            _ethernet(port).send_pfc(priority, True)
            self.counters.pauses_sent += 1
        return True

    def _drop(self, port: Port, message: Message) -> bool:
        self.counters.drops += 1
        self.domain.forget(message)
        port.release(message)
        if self.kernel.observer is not None:
            self.kernel.observer.dropped(self.name, self.kernel.now, message)
        return False

    def committed(self, message: Message) -> None:
        entry = self._admitted.pop(id(message), None)
        if entry is not None:
            port, egress, priority, size = entry
            group = (id(port), priority)
            self.used -= size
            self.ingress_bytes[group] -= size
            self.egress_bytes[(id(egress), priority)] -= size
            if group in self.pausing and self.ingress_bytes[group] <= self.buffering.pfc.xon_bytes:
                self.pausing.discard(group)
                _ethernet(port).send_pfc(priority, False)
                self.counters.resumes_sent += 1
        super().committed(message)


def _wire_bytes(port: Port, message: Message) -> int:
    return _ethernet(port).framing(message)[1]


def _ethernet(port: Port) -> EthernetPort:
    if not isinstance(port, EthernetPort):
        raise TypeError(f"{port.name}: a buffered Ethernet switch needs Ethernet ports on every link")
    return port


ROCE_COUNTERS = ("pauses_sent", "pauses_received", "paused_ps", "max_queue_bytes", "ecn_marks", "cnps", "drops",
                 "retransmits", "timeouts")
"""What a run on RoCE reports, summed over the fabric (``max_queue_bytes``: the deepest Ethernet
egress queue, a switch's or a NIC's; ``paused_ps``: the time ports spent paused, summed)."""


def roce_totals(forwarders: Iterable[object], ports: Iterable[object], nics: Iterable[Any]) -> dict[str, int] | None:
    """The RoCE counters of a built fabric (its forwarders, its links' ports, its RoCE NICs), or
    None where it has neither a buffered Ethernet switch nor a RoCE NIC: nothing there to count."""
    switches = [node for node in forwarders if isinstance(node, EthernetSwitch)]
    nics = list(nics)
    if not switches and not nics:
        return None
    totals = dict.fromkeys(ROCE_COUNTERS, 0)
    for switch in switches:
        totals["pauses_sent"] += switch.counters.pauses_sent
        totals["ecn_marks"] += switch.counters.ecn_marks
        totals["drops"] += switch.counters.drops
    for port in ports:
        if isinstance(port, EthernetPort):
            totals["pauses_received"] += port.pauses_received
            totals["paused_ps"] += port.time_paused()
            totals["max_queue_bytes"] = max(totals["max_queue_bytes"], port.max_queue_bytes)
    for nic in nics:
        totals["cnps"] += nic.counters.cnps_sent
        totals["retransmits"] += nic.counters.retransmits
        totals["timeouts"] += nic.counters.timeouts
    return totals
