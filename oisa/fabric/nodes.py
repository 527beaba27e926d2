"""Switches and NICs: nodes that forward messages between their ports.

Every forwarding node takes a message in on one port and, ``latency`` later, sends it out of
the port its routing table picks. What differs is set by the spec:

* an **OISA switch** chip is cut-through (it forwards once the head is in, in both engines:
  in data mode the link layer delivers whole messages and says when their first flit came), raises the
  message's telemetry (``hops``, and ``load`` to its egress queue's level: OISA's "intelligent
  sensing"), and may reduce collective contributions addressed to it (:mod:`oisa.fabric.reducer`);
* a **PCIe switch** is cut-through;
* an **Ethernet switch** is cut-through or store-and-forward, as configured;
* an **RDMA NIC** is store-and-forward between its PCIe side and its Ethernet side, with its
  processing time as the latency; the packet overheads of RDMA are in the Ethernet framing.

On OISA links (data mode) and PCIe links (both modes: :mod:`oisa.sim.credited`) an ingress
buffer is freed (its credits go back upstream) only when the message has been committed to the
egress link, so back-pressure travels hop by hop: a NIC whose Ethernet side is slower than its
PCIe side takes in only as fast as it sends, and the card behind it holds the rest of a copy.
"""

from __future__ import annotations

from collections.abc import Callable

from oisa.device.isolation import SwitchGuard, Verdict
from oisa.errors import SimulationError
from oisa.fabric.reducer import Reducer
from oisa.fabric.routing import PathChooser
from oisa.sim import Kernel, Port
from oisa.sim.ethernet import EthernetPort
from oisa.transaction import refusal
from oisa.units import NS
from oisa.wire.oisa import Message, Opcode

__all__ = ["LOAD_STEP_PS", "Forwarder"]

LOAD_STEP_PS = 125 * NS  # one telemetry load level per 125 ns of egress queueing (level 7: 875 ns or more)

class Forwarder:
    """A switch or NIC in the emulation."""

    def __init__(self, kernel: Kernel, node_id: int, name: str, *, latency_ps: int, cut_through: bool,
                 chooser: PathChooser, reduction: Reducer | None = None, telemetry: bool = False) -> None:
        self.kernel = kernel
        self.node_id = node_id
        self.name = name
        self.latency_ps = latency_ps
        self.cut_through = cut_through
        self.chooser = chooser
        self.reduction = reduction
        self.telemetry = telemetry
        self.ports: list[Port] = []
        self.routes: dict[int, list[Port]] = {}
        self.nic_of: dict[int, Port] = {}  # card -> the port towards the NIC that serves it, if adjacent
        self.groups: dict[int, list[int]] = {}  # collective group -> member cards (set by the workload)
        self.group_ids: dict[tuple[int, tuple[int, ...]], int] = {}  # (a plan's group, its members) -> its id here
        self.forwarded = 0
        self.guard: SwitchGuard | None = None  # a tenancy's ingress checks (oisa.device.isolation)
        self._held: dict[int, tuple[Port, Message]] = {}
        self.counts_ingress = False  # its Ethernet ports hold what comes in against PFC thresholds (a NIC)
        self._parts_left: dict[int, int] = {}  # id(message) -> its messages not yet gone, once an egress cut it
        self.intercept: Callable[[Port, Message], bool] | None = None  # takes what reaches a failed port (outages)

    forwards = True  # what arrives is passed on, so frame ports hand it over once forwarding can start

    def attach(self, port: Port) -> None:
        port.attach(self)
        self.ports.append(port)

    def receive(self, port: Port, message: Message, head_ps: int, tail_ps: int) -> None:
        if self.counts_ingress and isinstance(port, EthernetPort):
            port.took(message)  # a NIC's receive buffer, which pauses its switch port when full
        if self.intercept is not None and self.intercept(port, message):
            return
        if self.guard is not None:
            verdict = self.guard.screen(port, message)
            if verdict is not Verdict.PASS:
                self._refuse(port, message, verdict, tail_ps)
                return
        if message.dst == self.node_id:
            if message.opcode is Opcode.COLL_REDUCE and self.reduction is not None:
                self.reduction.contribute(self, port, message, tail_ps)
                return
            raise SimulationError(f"{self.name} received a {Opcode(message.opcode).name} addressed to itself, which "
                                  f"it cannot serve")
        egress = self.egress(message)
        if not self.admit(port, message, egress):
            return
        if self.telemetry:
            message.hops = min(31, message.hops + 1)
            message.load = max(message.load, min(7, egress.queue_delay() // LOAD_STEP_PS))
        self._held[id(message)] = (port, message)
        # Forwarding starts ``latency`` after the head is in: the port says when that was, as
        # this node's mode makes it (the head bytes for a cut-through node, the first whole frame
        # for a store-and-forward one). A link port hands over whole messages at their tail, so a
        # message that spans many flits crosses a cut-through switch as it would flit by flit,
        # as long as the switch's latency covers the flits behind the head.
        ready = max(self.kernel.now, head_ps + self.latency_ps)
        self.kernel.call_at(ready, egress.send, message, tail_ps + self.latency_ps)
        self.forwarded += 1
        if self.kernel.observer is not None:
            self.kernel.observer.forwarded(self.name, self.kernel.now, message)

    def admit(self, port: Port, message: Message, egress: Port) -> bool:
        """Whether ``message``, in on ``port`` for ``egress``, finds room (an unbounded queue always
        does; a switch with a shared buffer, :mod:`oisa.fabric.roce`, may drop it)."""
        return True

    def _refuse(self, port: Port, message: Message, verdict: Verdict, tail_ps: int) -> None:
        """Drop ``message`` at its ingress port; answer a refused request back out of that port,
        ``latency`` after its tail is in (a spoofed one gets no answer: its source is a lie)."""
        port.release(message)
        if verdict is Verdict.DROP:
            return
        for answer in refusal(message, verdict.status, responder=self.node_id):
            self.kernel.call_at(max(self.kernel.now, tail_ps + self.latency_ps), port.send, answer)

    def committed(self, message: Message) -> None:
        held = self._held.pop(id(message), None)
        if held is not None:
            held[0].release(held[1])

    def part_committed(self, part: Message, whole: Message) -> None:
        """A part of ``whole`` (an egress port cut it: a NIC cuts segments into MTU-sized packets)
        has gone: free that much of the ingress buffer ``whole`` came from, all of it with the last."""
        key = id(whole)
        held = self._held.get(key)
        if held is None:
            return
        left = self._parts_left.get(key, whole.count) - part.count
        if left > 0:
            self._parts_left[key] = left
            held[0].release(part)
            return
        self._parts_left.pop(key, None)
        del self._held[key]
        held[0].release(part)

    def egress(self, message: Message) -> Port:
        """The port ``message`` leaves by."""
        choices = self.routes.get(message.dst)
        if not choices:
            raise SimulationError(f"{self.name} has no route to node {message.dst}")
        if len(choices) > 1 and self.nic_of:
            # leaving a server through the source card's NIC, or entering it through the
            # destination card's: the pairing a NIC's ``card`` declares
            for card in (message.src, message.dst):
                port = self.nic_of.get(card)
                if port is not None and port in choices:
                    return port
        return choices[self.chooser.choose(self.node_id, message, len(choices))]
