"""Components that fail during a frame-level run, and what the fabric does about them.

A run's outages (:class:`Outage`, from ``Run.outages`` or a fault file's ``[[outage]]`` entries)
name a component of the fabric by the name the fabric file gives it and a time from the start
of the workload (link bring-up left out, as every figure):

* a **card** dies: it stops answering (it drops what reaches it, sends nothing, and nothing it
  started ever finishes). Its links stay up, as those of a hung GPU do, so the link layer sees
  nothing: its peers learn of it from their requesters' completion timeouts
  (:mod:`oisa.transaction.requester`, within PCIe's ranges), never by waiting for ever;
* a **link** fails (``"a->b"``, either direction naming the link) or a **switch** fails (a
  plane of the supernode, a leaf, a NIC: any forwarding node), with every link it has;
* a link **down-trains** to fewer lanes (``lanes``): it goes on at that share of its rate.

What a failed link or switch does: from the failure on it takes nothing in. A frame on its way
into it is not lost: the sender's link layer keeps every flit until it is acknowledged and, when
it declares the link down, hands what it holds back to its node (ASSUMPTION: OISA's public
principles name data-layer retransmission, not what becomes of a dead link's replay buffer; PCIe
discards it, which would need end-to-end retry that neither PCIe nor OISA has, so we take the
kinder choice that lets routing matter). What a failed switch already holds drains out of it
(ASSUMPTION, the same reason). The link layer declares the link down after
:func:`detection_ps`: ``replay_limit`` replays without progress (PCIe's REPLAY_NUM rolls over on
the fourth, and the link retrains: PCI Express Base Specification 6.0, section 3.6.2.1, as the
team's protocol facts section 4.3 give it) and then ``retrain_attempts`` retraining handshakes
that go unanswered (:class:`oisa.link.LinkConfig`; :mod:`oisa.link.endpoint` goes FAILED then).
At that instant the fabric's routes are computed again without the failed component
(:func:`oisa.fabric.routing.next_hops`; ASSUMPTION: the fabric manager installs them everywhere at
once) and what the link layer held leaves by them. Before it, nodes still choose the failed
component, and what they send there waits the same way. A repair undoes the failure: the
component takes traffic again and the routes use it from then.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from oisa.device import Card
from oisa.errors import SimulationError, UsageError
from oisa.fabric.build import Fabric, link_config
from oisa.fabric.nodes import Forwarder
from oisa.fabric.routing import next_hops
from oisa.fabric.spec import FabricSpec, LinkSpec
from oisa.sim import FramePort, LinkPort, Port
from oisa.sim.faults import FaultModel
from oisa.units import format_time
from oisa.wire.oisa import Message

__all__ = ["Failover", "Outage", "detection_ps", "failover_of", "resolve"]


@dataclass(frozen=True)
class Outage:
    """``component`` (a node's name, or a link as ``"a->b"``) fails ``at_ps`` after the workload
    starts; ``repair_ps``, if given, is when it works again; ``lanes``, for a link, makes the
    failure a down-training to that many lanes instead of the link's loss."""

    component: str
    at_ps: int
    repair_ps: int | None = None
    lanes: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.component, str) or not self.component:
            raise UsageError("an outage names a component (a node, or a link as a->b)", parameter="outages",
                             value=self.component)
        for name in ("at_ps", "repair_ps", "lanes"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise UsageError(f"{self.component}: {name} is a whole number, 0 or more", parameter="outages",
                                 value=value)
        if self.repair_ps is not None and self.repair_ps <= self.at_ps:
            raise UsageError(f"{self.component}: the repair ({self.repair_ps} ps) is not after the failure "
                             f"({self.at_ps} ps)", parameter="outages", value=self.repair_ps)
        if self.lanes == 0:
            raise UsageError(f"{self.component}: a link down-trains to 1 lane or more (a link with none has failed: "
                             f"leave lanes out)", parameter="outages", value=0)


def detection_ps(link: LinkSpec) -> int:
    """How long after ``link`` stops carrying its link layer declares it down: ``replay_limit``
    replay timeouts (the last one rolls REPLAY_NUM over) and ``retrain_attempts`` retraining
    attempts, from the link's own link-layer configuration (:func:`oisa.fabric.build.link_config`)."""
    config = link_config(link, FaultModel())
    return config.replay_limit * config.replay_timeout_ps + config.retrain_attempts * config.retrain_time_ps


@dataclass(frozen=True)
class _Target:
    """An outage resolved against a fabric: the card, switch or links it takes down."""

    kind: str  # "card", "switch", "link" or "lanes"
    node: int | None
    links: tuple[int, ...]


def resolve(spec: FabricSpec, outage: Outage) -> _Target:
    """What of ``spec`` ``outage`` names; a name that is no node or link is refused, naming it."""
    ids = {node.name: node.id for node in spec.nodes()}
    if "->" in outage.component:
        a_name, _, b_name = outage.component.partition("->")
        a, b = ids.get(a_name.strip()), ids.get(b_name.strip())
        links = tuple(i for i, link in enumerate(spec.links) if {link.a, link.b} == {a, b} and a is not None)
        if not links:
            raise UsageError(f"fabric {spec.name} has no link {outage.component}", parameter="outages",
                             value=outage.component)
        if outage.lanes is not None:
            widest = min(int(spec.links[i].lanes.value) for i in links)
            if outage.lanes >= widest:
                raise UsageError(f"{outage.component} has {widest} lanes: down-training leaves fewer",
                                 parameter="outages", value=outage.lanes)
        return _Target("lanes" if outage.lanes is not None else "link", None, links)
    node = ids.get(outage.component)
    if node is None:
        raise UsageError(f"fabric {spec.name} has no node {outage.component!r} (a card, switch or NIC; a link is "
                         f"written a->b)", parameter="outages", value=outage.component)
    if outage.lanes is not None:
        raise UsageError(f"{outage.component}: lanes are a link's (write it a->b)", parameter="outages",
                         value=outage.lanes)
    if any(card.id == node for card in spec.cards):
        if outage.repair_ps is not None:
            raise UsageError(f"{outage.component}: a card that died lost its memory and its part of the work; it "
                             f"comes back only in a new run", parameter="outages", value=outage.repair_ps)
        return _Target("card", node, ())
    return _Target("switch", node, tuple(i for i, link in enumerate(spec.links) if node in (link.a, link.b)))


class _Cut:
    """The one way out a node has to a target that every path to has failed: what is sent there
    ends the run with a :class:`~oisa.errors.SimulationError` naming the node and the target (the
    fabric is cut in two), raised once, from the kernel, however many nodes send at that instant."""

    def __init__(self, failover: Failover, name: str) -> None:
        self.failover = failover
        self.name = name

    def send(self, message: Message, tail_ready_ps: int | None = None) -> None:
        self.failover.cut(self.name, message)

    def attach(self, owner: object) -> None:
        """Nothing is attached to a way that leads nowhere."""

    def start(self) -> None:
        """Nothing runs on it."""

    def when_up(self, callback: Callable[[], None]) -> None:
        """It never comes up."""

    def release(self, message: Message) -> None:
        """Nothing arrives on it."""

    def queue_delay(self) -> int:
        return 0

    @property
    def rate_bps(self) -> int:
        return 1  # nothing waits on a way that leads nowhere: what is sent ends the run at once

    def wire_totals(self) -> tuple[int, int]:
        return 0, 0

    def link_stats(self) -> dict[str, int]:
        return {}

    def fault_stats(self) -> dict[str, int]:
        return {}


@dataclass
class _State:
    """One failed link's: when it failed, when that was detected, what waits to leave again."""

    failed_ps: int
    detected_ps: int | None = None
    held: list[tuple[int, Message]] = field(default_factory=list)


_FAILOVERS: weakref.WeakKeyDictionary[Fabric, Failover] = weakref.WeakKeyDictionary()


def failover_of(fabric: Fabric) -> Failover | None:
    """The failover running ``fabric``'s outages, if it has any."""
    return _FAILOVERS.get(fabric)


class Failover:
    """Runs ``outages`` on a built ``fabric``: arms them once every link end is up, takes the
    components down, detects, reroutes and repairs. What happened is in :meth:`summary`."""

    def __init__(self, fabric: Fabric, outages: Sequence[Outage]) -> None:
        self.fabric = fabric
        self.kernel = fabric.kernel
        self.outages = tuple(outages)
        self.targets = [resolve(fabric.spec, outage) for outage in self.outages]
        self.start_ps: int | None = None
        self.down_links: set[int] = set()  # failed and detected: routes leave them out
        self.down_nodes: set[int] = set()
        self.failed_cards: dict[int, int] = {}  # card -> when it died
        self.events: list[dict[str, object]] = []
        self.resent = 0
        self._links: dict[int, _State] = {}
        self._detected_now: list[int] = []  # links detected at this instant, not yet rerouted around
        self._cut: SimulationError | None = None  # what ends the run if the fabric is cut in two
        built: list[Card | Forwarder] = [*fabric.cards.values(), *fabric.forwarders.values()]
        self._targets = {dst for node in built for dst in node.routes}  # what routes lead to before any failure
        self._failed_ports: dict[int, tuple[int, int]] = {}  # id of a failed link end -> (link, the far node)
        self._port_of: dict[tuple[int, int], Port] = {}
        for index, link in enumerate(fabric.links):
            self._port_of[(link.spec.a, index)] = link.a
            self._port_of[(link.spec.b, index)] = link.b
        ends = [port for link in fabric.links for port in link.ports]
        pending = [len(ends)]

        def one_up() -> None:
            pending[0] -= 1
            if pending[0] == 0:
                self._arm()

        for port in ends:
            port.when_up(one_up)
        if not ends:
            self.kernel.call_at(0, self._arm)
        _FAILOVERS[fabric] = self

    # -- the schedule -----------------------------------------------------------------------------

    def _arm(self) -> None:
        start = self.start_ps = self.kernel.now
        for outage, target in zip(self.outages, self.targets):
            self.kernel.call_at(start + outage.at_ps, self._fail, outage, target)
            if outage.repair_ps is not None:
                self.kernel.call_at(start + outage.repair_ps, self._repair, outage, target)

    def _since_start(self) -> int:
        return self.kernel.now - (self.start_ps or 0)

    def _fail(self, outage: Outage, target: _Target) -> None:
        self.events.append({"component": outage.component, "kind": target.kind, "failed_ps": self._since_start()})
        if target.kind == "card":
            assert target.node is not None
            self.failed_cards[target.node] = self._since_start()
            self.fabric.cards[target.node].fail()
            return
        if target.kind == "lanes":
            assert outage.lanes is not None
            for index in target.links:
                self._set_rate(index, self.fabric.links[index].spec.rate_bps * outage.lanes
                               // int(self.fabric.links[index].spec.lanes.value))
            return
        latest = 0
        for index in target.links:
            latest = max(latest, self._take_down(index, target.node))
        self.kernel.call_at(self.kernel.now + latest, self._node_detected, target.node, outage.component)

    def _take_down(self, index: int, node: int | None) -> int:
        """Link ``index`` stops taking traffic at the failed end(s): at the ``node`` end if a node
        failed, at both if the link did. Returns the time until detection."""
        link = self.fabric.links[index]
        if index in self._links:
            return 0  # already down (a switch whose link had failed)
        self._links[index] = _State(self.kernel.now)
        for near, port, far in ((link.spec.a, link.a, link.spec.b), (link.spec.b, link.b, link.spec.a)):
            if node is None or near == node:
                self._failed_ports[id(port)] = (index, far)
                self._node(near).intercept = self._intercept
        delay = detection_ps(link.spec)
        self.kernel.call_at(self.kernel.now + delay, self._detected, index)
        return delay

    def _detected(self, index: int) -> None:
        state = self._links.get(index)
        if state is None or state.detected_ps is not None:
            return  # repaired before it was detected
        state.detected_ps = self.kernel.now
        self.down_links.add(index)
        if not self._detected_now:  # links detected at one instant (a switch's) are rerouted around once
            self.kernel.call_at(self.kernel.now, self._reroute_detected)
        self._detected_now.append(index)

    def _reroute_detected(self) -> None:
        """Routes without the links just detected, then what they held leaves by those routes."""
        detected, self._detected_now = self._detected_now, []
        self._reroute()
        for index in detected:
            state = self._links.get(index)
            if state is not None:
                held, state.held = state.held, []
                for sender, message in held:
                    self._resend(sender, message)

    def _node_detected(self, node: int | None, component: str) -> None:
        if node is not None and any(index in self._links for index in self._links_of(node)):
            self.down_nodes.add(node)
            self._reroute()
        for event in self.events:
            if event["component"] == component and "detected_ps" not in event:
                event["detected_ps"] = self._since_start()

    def _links_of(self, node: int) -> list[int]:
        return [i for i, link in enumerate(self.fabric.spec.links) if node in (link.a, link.b)]

    def _repair(self, outage: Outage, target: _Target) -> None:
        self.events.append({"component": outage.component, "kind": target.kind, "repaired_ps": self._since_start()})
        if target.kind == "lanes":
            for index in target.links:
                self._set_rate(index, self.fabric.links[index].spec.rate_bps)
            return
        for index in target.links:
            state = self._links.pop(index, None)
            for port in self.fabric.links[index].ports:
                self._failed_ports.pop(id(port), None)
            self.down_links.discard(index)
            if state is not None:
                for sender, message in state.held:
                    self._resend(sender, message)
        if target.node is not None:
            self.down_nodes.discard(target.node)
        self._reroute()

    # -- what the failed ends do ----------------------------------------------------------------------

    def _node(self, node_id: int) -> Card | Forwarder:
        return self.fabric.cards[node_id] if node_id in self.fabric.cards else self.fabric.forwarders[node_id]

    def _intercept(self, port: Port, message: Message) -> bool:
        """What reaches a node on ``port``: taken (True) if that end has failed, else left to the node."""
        failed = self._failed_ports.get(id(port))
        if failed is None:
            return False
        port.release(message)
        self._bounced(*failed, message)
        return True

    def _bounced(self, index: int, sender: int, message: Message) -> None:
        """``message``, sent by ``sender``, reached a failed end of link ``index``: its link layer
        keeps it until the link is declared down, then it leaves by the new routes."""
        state = self._links[index]
        if state.detected_ps is None:
            state.held.append((sender, message))
        else:
            self._resend(sender, message)

    def cut(self, node: str, message: Message) -> None:
        """``node`` sent ``message`` towards a target every path to which has failed."""
        if self._cut is None:
            self._cut = SimulationError(f"{node} cannot reach node {message.dst} at {format_time(self.kernel.now)}: "
                                        f"every path to it uses a failed component (the fabric is cut)")
            self.kernel.call_at(self.kernel.now, self._end_cut)

    def _end_cut(self) -> None:
        assert self._cut is not None
        raise self._cut

    def _resend(self, sender: int, message: Message) -> None:
        self.resent += 1
        card = self.fabric.cards.get(sender)
        if card is not None:
            if card.failed_at is not None:
                return
            choices = card.routes[message.dst]
            choices[self.fabric.chooser.choose(sender, message, len(choices))].send(message)
            return
        forwarder: Forwarder = self.fabric.forwarders[sender]
        forwarder.egress(message).send(message)

    def _reroute(self) -> None:
        """Every node's routes again, leaving out what has failed and been detected."""
        hops = next_hops(self.fabric.spec, down_links=self.down_links, down_nodes=self.down_nodes)
        nodes: dict[int, Card | Forwarder] = {**self.fabric.cards, **self.fabric.forwarders}
        for node_id, node in nodes.items():
            if node_id in self.down_nodes:
                continue  # a failed switch keeps its table for what drains out of it
            table = hops.get(node_id, {})
            cut: list[Port] = [_Cut(self, node.name)]
            node.routes = {dst: [self._port_of[(node_id, index)] for index in table[dst]] if dst in table else cut
                           for dst in self._targets if dst != node_id}

    def _set_rate(self, index: int, rate_bps: int) -> None:
        """Link ``index`` carries ``rate_bps`` each way from now (a down-training, or its repair)."""
        for port in self.fabric.links[index].ports:
            if isinstance(port, FramePort):
                port.rate_bps = rate_bps
            else:
                assert isinstance(port, LinkPort)
                port.wire.set_rate(rate_bps)

    # -- what it did ------------------------------------------------------------------------------------

    def summary(self) -> dict[str, object]:
        """The outages as they happened: each failure, its detection and repair (ps from the
        workload's start), the messages re-sent by new routes, the cards that died and what
        they dropped."""
        return {
            "events": [dict(event) for event in self.events],
            "resent": self.resent,
            "failed_cards": sorted(self.failed_cards),
            "dropped_at_failed_cards": sum(self.fabric.cards[c].dropped for c in self.failed_cards),
        }

