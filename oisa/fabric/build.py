"""Building a running fabric inside a kernel from a :class:`~oisa.fabric.spec.FabricSpec`.

The frame-level engines build the same fabric at one of two :class:`Fidelity` levels, which
differ in the links and in the cards' :class:`~oisa.device.movement.Movement`:

* ``data``: real bytes. OISA links run the link layer over flits (replay, credits, faults);
  PCIe and Ethernet links carry messages as frames sized by their framing.
* ``timing``: no bytes, for sizes data would take too long to move. Every link is a frame link
  sized by its framing (OISA's included), and cards move segments of many messages at once
  (see :class:`~oisa.wire.oisa.message.Message` ``count``).

Which fidelity a run gets is decided above, once, by the engine it runs on; nothing built here
asks again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from oisa.config import Figure
from oisa.device import Card
from oisa.device.isolation import CardGuard, Policy, Refusals, SwitchGuard
from oisa.device.movement import DataMovement, Movement
from oisa.device.timing import TimingMovement
from oisa.errors import UsageError
from oisa.fabric.dcqcn import roce_nics
from oisa.fabric.framing import head_bytes
from oisa.fabric.nodes import Forwarder, Reducer
from oisa.fabric.roce import EthernetSwitch, RoceDomain
from oisa.fabric.routes import Framing as LinkFraming
from oisa.fabric.routes import link_framing
from oisa.fabric.routing import PathChooser, next_hops
from oisa.fabric.spec import FabricSpec, LinkKind, LinkSpec
from oisa.link import LinkConfig, LinkEndpoint
from oisa.link.arbitration import QosPolicy
from oisa.link.credits import DATA_CREDIT_BYTES, DATA_MODULUS, HDR_MODULUS, MAX_MESSAGE_CREDITS
from oisa.link.security import KEY_BYTES, MAC_SIZES, FlitCipher, LinkSecurity
from oisa.sim import FramePort, Framing, Kernel, LinkPort, Port, Signal, Wire, connect, connect_frames
from oisa.sim.arbitrated import ArbitratedFramePort
from oisa.sim.credited import UPDATE_FC_BYTES, CreditedFramePort, ReceiveBuffer, connect_credited
from oisa.sim.ethernet import EthernetPort
from oisa.sim.faults import FaultModel, WireFaults
from oisa.transaction.ordering import may_pass
from oisa.units import S, serialisation_ps
from oisa.wire.oisa import FcClass, Message

__all__ = ["CRYPTO_LATENCY_PS", "FIDELITIES", "LINK_TIMER_RULES", "BringUp", "Fabric", "Fidelity", "Link",
           "LinkEncryption", "Mode", "build", "link_config"]

Mode = Literal["data", "timing"]


@dataclass(frozen=True)
class Fidelity:
    """How much of the protocol a frame-level engine builds: ``name`` is the mode results report."""

    name: Mode
    movement: Callable[[Card], Movement]  # the cards' half of the engine
    link_layer: bool  # OISA links run the link layer over real flits (else they are frame links)

    @property
    def moves_bytes(self) -> bool:
        return self.link_layer


FIDELITIES: dict[str, Fidelity] = {
    "data": Fidelity("data", DataMovement, link_layer=True),
    "timing": Fidelity("timing", TimingMovement, link_layer=False),
}
CRYPTO_LATENCY_PS = Figure(4_000, assumption="AES-GCM adds 4 ns to every flit's crossing of an encrypted link: a "
                           "pipelined encryptor at the sender and decryptor with MAC check at the receiver, a few "
                           "cycles each at 1-2 GHz; no vendor publishes an IDE or UALinkSec pipeline depth, so this is "
                           "ours")


@dataclass(frozen=True)
class LinkEncryption:
    """Every OISA link encrypted (:mod:`oisa.link.security`): ``mac_bytes`` of MAC per data flit
    (12, IDE's 96 bits, or 16) and ``latency_ps`` added to each crossing. Each link has a key per
    direction, drawn from the run's seed (key exchange is not modelled)."""

    mac_bytes: int = 12
    latency_ps: int = int(CRYPTO_LATENCY_PS.value)

    def __post_init__(self) -> None:
        if self.mac_bytes not in MAC_SIZES:
            raise UsageError(f"the MAC is one of {', '.join(map(str, MAC_SIZES))} bytes", parameter="mac_bytes",
                             value=self.mac_bytes)
        if isinstance(self.latency_ps, bool) or not isinstance(self.latency_ps, int) or self.latency_ps < 0:
            raise UsageError("a latency in picoseconds, 0 or more", parameter="latency_ps", value=self.latency_ps)


def receive_buffer_credits(rate_bps: int, round_trip_ps: int) -> int:
    """Data credits (16-byte units) of a receive buffer that keeps a link busy:
    :data:`RECEIVE_BUFFER_ROUND_TRIPS` of what the link carries in one credit round trip, at least
    :data:`RECEIVE_BUFFER_FLOOR_BYTES`, within what the 16-bit credit counters can track."""
    bytes_needed = int(RECEIVE_BUFFER_ROUND_TRIPS.value) * rate_bps * round_trip_ps // (8 * S)
    credits = -(-max(bytes_needed, int(RECEIVE_BUFFER_FLOOR_BYTES.value)) // DATA_CREDIT_BYTES)
    return max(MAX_MESSAGE_CREDITS, min(credits, DATA_MODULUS // 2 - 1))


# The link-layer timers of an OISA link, in flit times and round trips of that link. OISA's data
# link layer is not public (the team's protocol facts, section 7: a gap), so each rule is ours,
# marked as an assumption with the practice it follows; `specs/link-layer.md` lists them.
ACK_DELAY_FLITS = Figure(20, assumption="a receiver holds an ACK at most 20 flit times for more flits to coalesce "
                         "with; it sends one every `ack_every` (8) flits anyway, as CXL's link layer acknowledges "
                         "8 flits at a time (protocol facts 3), so the delay binds only when traffic thins")
REPLAY_MARGIN_FLITS = Figure(16, assumption="the replay timer allows a credit round trip plus 16 flit times; "
                             "PCIe scales its REPLAY_TIMER with width and payload size (protocol facts 4.3) and asks "
                             "for at least 375 flits in flit mode (4.4), sized for long channels with retimers, "
                             "whereas a chip-to-chip link's round trip is known, so a tighter timer replays sooner")
INIT_RESEND_ROUND_TRIPS = Figure(2, assumption="initialisation flits are sent again after two round trips without "
                                 "an answer, as PCIe sends its InitFC1 and InitFC2 DLLPs again until the peer's arrive "
                                 "(protocol facts 4.3 gives the two phases)")
RETRAIN_FLOOR_PS = Figure(1_000_000, assumption="retraining takes at least 1 us (or four round trips on longer "
                          "links): PCIe's Recovery exchanges training sets for microseconds; no OISA figure is public")
RETRAIN_ROUND_TRIPS = Figure(4, assumption="see RETRAIN_FLOOR_PS")
CREDIT_POLL_ROUND_TRIPS = Figure(4, assumption="where the wire can lose control flits, a sender without credits "
                                 "asks again after four round trips (CXL's credit return is not retried; ours must be, "
                                 "since faults may drop it)")
RECEIVE_BUFFER_ROUND_TRIPS = Figure(2, assumption="a receive buffer holds what the link carries in two credit round "
                                    "trips: one keeps the link busy while credits travel back (the bandwidth-delay "
                                    "rule credit-based links are sized by), the second gives a consumer that falls "
                                    "behind for a moment headroom; OISA's buffer sizes are not public")
RECEIVE_BUFFER_FLOOR_BYTES = Figure(16 * 1024, assumption="at least 16 KiB per receive buffer, four of the largest "
                                    "messages (4 KiB payload), so short links still pipeline whole messages")
HEADER_CREDIT_DIVISOR = Figure(4, assumption="one header credit per four data credits (64 B of payload): room "
                               "for as many messages as the data buffer holds at an average 64 B, which bounds "
                               "small stores and reads by data credits, not headers")
LINK_TIMER_RULES: tuple[tuple[str, str, Figure], ...] = (
    ("buffers", "data credits: RECEIVE_BUFFER_ROUND_TRIPS round trips at the link's rate",
     RECEIVE_BUFFER_ROUND_TRIPS),
    ("buffers", "data credits: at least RECEIVE_BUFFER_FLOOR_BYTES", RECEIVE_BUFFER_FLOOR_BYTES),
    ("buffers", "header credits: data credits / HEADER_CREDIT_DIVISOR", HEADER_CREDIT_DIVISOR),
    ("ack_delay_ps", "ACK_DELAY_FLITS flit times", ACK_DELAY_FLITS),
    ("replay_timeout_ps", "round trip + REPLAY_MARGIN_FLITS flit times", REPLAY_MARGIN_FLITS),
    ("init_resend_ps", "INIT_RESEND_ROUND_TRIPS round trips", INIT_RESEND_ROUND_TRIPS),
    ("retrain_time_ps", "max(RETRAIN_FLOOR_PS, RETRAIN_ROUND_TRIPS round trips)", RETRAIN_FLOOR_PS),
    ("credit_poll_ps", "CREDIT_POLL_ROUND_TRIPS round trips, only with faults", CREDIT_POLL_ROUND_TRIPS),
)


def pcie_receive_buffer(spec: LinkSpec, forwarding_ps: int, max_payload: int) -> ReceiveBuffer:
    """The credits one end of PCIe link ``spec`` advertises, for a receiver that frees a TLP's
    buffer ``forwarding_ps`` after its head is in (its node's latency: a switch or NIC frees it
    as the TLP leaves; a card at once).

    Posted data credits follow the rule OISA links are sized by (:func:`receive_buffer_credits`):
    :data:`RECEIVE_BUFFER_ROUND_TRIPS` credit round trips at the link's rate, at least
    :data:`RECEIVE_BUFFER_FLOOR_BYTES`, where the round trip here includes the time the node
    holds a TLP before it frees it, so that a buffer freed on forwarding still keeps the link busy
    (a 400G NIC behind Gen5 x16: about 62 KiB; above the 2,047 unscaled data credits, 32 KiB, a
    receiver advertises with PCIe 4.0's scaled flow control). Header credits: one per
    :data:`HEADER_CREDIT_DIVISOR` data credits, and at least a full buffer's worth of
    ``max_payload`` TLPs. Non-posted requests get a buffer of the same size (they carry data
    here too: an OISA DMA write is non-posted, answered by a completion)."""
    round_trip = (2 * spec.latency_ps + forwarding_ps + serialisation_ps(max_payload + 24, spec.rate_bps)
                  + serialisation_ps(UPDATE_FC_BYTES, spec.rate_bps))
    data_bytes = max(int(RECEIVE_BUFFER_ROUND_TRIPS.value) * spec.rate_bps * round_trip // (8 * S),
                     int(RECEIVE_BUFFER_FLOOR_BYTES.value))
    data = -(-data_bytes // DATA_CREDIT_BYTES)
    headers = max(data // int(HEADER_CREDIT_DIVISOR.value), -(-data_bytes // max_payload))
    return ReceiveBuffer(headers, data, headers, data)


def link_config(spec: LinkSpec, faults: FaultModel) -> LinkConfig:
    """Link-layer timing and buffers for an OISA link of this rate and latency.

    An acknowledgement needs a round trip, the wait for a flit already on the reverse wire and
    the receiver's acknowledgement delay; the replay timer allows that plus a margin (the rules
    and their provenance: :data:`LINK_TIMER_RULES`). Credit polling is on only where the wire can
    lose control flits.
    """
    flit_time = serialisation_ps(spec.flit_size, spec.rate_bps)
    ack_delay = ACK_DELAY_FLITS.value * flit_time
    round_trip = 2 * spec.latency_ps + 2 * flit_time + ack_delay
    data_credits = receive_buffer_credits(spec.rate_bps, round_trip)
    header_credits = min(HDR_MODULUS // 2 - 1, data_credits // int(HEADER_CREDIT_DIVISOR.value))
    return LinkConfig(
        flit_size=spec.flit_size,
        buffers=((FcClass.POSTED, header_credits, data_credits), (FcClass.NON_POSTED, header_credits, data_credits),
                 (FcClass.COMPLETION, 0, 0)),
        replay_timeout_ps=round_trip + REPLAY_MARGIN_FLITS.value * flit_time,
        ack_delay_ps=ack_delay,
        credit_delay_ps=ack_delay,
        init_resend_ps=INIT_RESEND_ROUND_TRIPS.value * round_trip,
        retrain_time_ps=max(RETRAIN_FLOOR_PS.value, RETRAIN_ROUND_TRIPS.value * round_trip),
        credit_poll_ps=CREDIT_POLL_ROUND_TRIPS.value * round_trip if faults.active else None,
    )


@dataclass(frozen=True)
class BringUp:
    """What bringing the fabric up took: the virtual time until every link end was active, and
    the frames, bytes and link-layer counts of initialisation (which a workload's own figures
    leave out)."""

    time_ps: int
    frames: int
    wire_bytes: int
    link: dict[str, int]


@dataclass
class Link:
    """A built link: its spec and the port at each end."""

    spec: LinkSpec
    a: Port
    b: Port

    @property
    def ports(self) -> tuple[Port, Port]:
        return self.a, self.b


class Fabric:
    """Cards, switches, NICs and links of one fabric, instantiated in ``kernel`` at ``fidelity``.

    ``faults``, if given, applies to every OISA link instead of the fabric file's settings.
    ``policy``, if given, is a tenancy's, enforced by every card and at every port that faces a
    card (:mod:`oisa.device.isolation`); what they refuse is counted in ``refusals``.
    ``encryption``, if given, encrypts every OISA link: in data mode each flit's payload is sealed
    with AES-GCM; in timing mode the flits carry the MAC's bytes and the latency all the same.
    ``qos``, if given, puts every OISA link's traffic classes in virtual channels with credits of
    their own and arbitrates between them at every egress, card and switch alike
    (:mod:`oisa.link.arbitration`; in timing mode :mod:`oisa.sim.arbitrated`).
    """

    def __init__(self, spec: FabricSpec, kernel: Kernel, faults: FaultModel | None, fidelity: Fidelity,
                 policy: Policy | None = None, encryption: LinkEncryption | None = None,
                 qos: QosPolicy | None = None) -> None:
        self.encryption = encryption
        self.qos = qos  # how traffic classes share every OISA link (oisa.link.arbitration), or None
        if not fidelity.moves_bytes and faults is not None and faults.active:
            raise UsageError("faults need data mode: timing mode moves no bytes for bits to flip", parameter="faults")
        self.spec = spec
        self.kernel = kernel
        self.fidelity = fidelity
        self.brought_up: BringUp | None = None  # the first bring_up's, once done
        self.chooser = PathChooser(kernel.seed)
        self.cards = {c.id: Card(kernel, c.id, c.device, c.name, movement=fidelity.movement) for c in spec.cards}
        self.roce = RoceDomain(notified=_notified(spec))
        self.forwarders = {
            **{s.id: Forwarder(kernel, s.id, s.name, latency_ps=int(s.latency.value), cut_through=s.cut_through,
                               chooser=self.chooser, telemetry=s.kind is LinkKind.OISA,
                               reduction=Reducer(int(s.reduction_rate.value), int(s.reduction_buffer.value))
                               if s.reduction and s.reduction_rate and s.reduction_buffer else None)
               for s in spec.switches if s.buffering is None},
            **{s.id: EthernetSwitch(kernel, s.id, s.name, latency_ps=int(s.latency.value), cut_through=s.cut_through,
                                    chooser=self.chooser, buffering=s.buffering, domain=self.roce)
               for s in spec.switches if s.buffering is not None},
            **{n.id: Forwarder(kernel, n.id, n.name, latency_ps=int(n.latency.value), cut_through=False,
                               chooser=self.chooser) for n in spec.nics},
        }
        self._mtu = {n.id: n.mtu for n in spec.nics}
        self._framings: dict[tuple[LinkFraming, int], Framing] = {}  # links framed alike share one function
        self._fault_seeds = np.random.SeedSequence(kernel.seed).spawn(2 * len(spec.links))
        self.links = [self._link(index, link, faults or link.faults) for index, link in enumerate(spec.links)]
        self.roce_nics = roce_nics(kernel, spec, self.links, self.roce)
        self._pace_nics()
        self._route()
        self.refusals: Refusals | None = None
        if policy is not None:
            self._guard(policy)

    def _guard(self, policy: Policy) -> None:
        """Give every card and forwarder its checks; each port whose far end is a card learns
        which card that is (source validation needs it)."""
        refusals = self.refusals = Refusals()
        cards = frozenset(self.cards)
        for card_id, card in self.cards.items():
            card.guard = CardGuard(card_id, policy, refusals, cards)
        for forwarder in self.forwarders.values():
            forwarder.guard = SwitchGuard(policy, refusals, cards)
        for link in self.links:
            for near, port, far in ((link.spec.a, link.a, link.spec.b), (link.spec.b, link.b, link.spec.a)):
                if far in self.cards:
                    node = self._node(near)
                    assert node.guard is not None
                    node.guard.card_on_port[id(port)] = far

    def _node(self, node_id: int) -> Card | Forwarder:
        return self.cards[node_id] if node_id in self.cards else self.forwarders[node_id]

    def _link(self, index: int, spec: LinkSpec, faults: FaultModel) -> Link:
        wire_names = self.spec.wire_names(spec)
        ports: list[Port]
        encrypted = self.encryption if spec.kind is LinkKind.OISA else None
        latency = spec.latency_ps + (encrypted.latency_ps if encrypted else 0)
        if spec.kind is LinkKind.OISA and self.fidelity.link_layer:
            config = link_config(spec, faults)
            if self.qos is not None:
                config = config.with_qos(self.qos)
            securities = self._link_keys(index, encrypted) if encrypted else (None, None)
            link_ports = []
            for direction, name in enumerate(wire_names):
                wire_faults = None
                if faults.active:
                    wire_faults = WireFaults(faults, np.random.default_rng(self._fault_seeds[2 * index + direction]))
                wire = Wire(self.kernel, rate_bps=spec.rate_bps, latency_ps=latency, name=name, faults=wire_faults)
                endpoint = LinkEndpoint(config, may_pass=may_pass, name=name, security=securities[direction])
                link_ports.append(LinkPort(self.kernel, endpoint, wire, name))
            connect(link_ports[0], link_ports[1])
            ports = list(link_ports)
        elif spec.kind is LinkKind.ETHERNET and self._buffered(spec):
            framing, head = self._framing(spec)
            mtu = link_framing(self.spec, spec, self._mtu).mtu
            ethernet_ports = [EthernetPort(self.kernel, rate_bps=spec.rate_bps, latency_ps=latency, framing=framing,
                                           head_bytes=head, name=name, mtu=mtu) for name in wire_names]
            connect_frames(ethernet_ports[0], ethernet_ports[1])
            ports = list(ethernet_ports)
        elif spec.kind is LinkKind.PCIE:
            framing, head = self._framing(spec)
            max_payload = self.spec.pcie_max_payload(spec)
            credited = [CreditedFramePort(self.kernel, rate_bps=spec.rate_bps, latency_ps=latency, framing=framing,
                                          head_bytes=head, name=name,
                                          buffer=pcie_receive_buffer(spec, self._holds_for(end), max_payload))
                        for name, end in zip(wire_names, (spec.a, spec.b))]
            connect_credited(credited[0], credited[1])
            ports = list(credited)
        else:
            framing, head = self._framing(spec)
            if spec.kind is LinkKind.OISA and self.qos is not None:
                frame_ports: list[FramePort] = [
                    ArbitratedFramePort(self.kernel, rate_bps=spec.rate_bps, latency_ps=latency, framing=framing,
                                        head_bytes=head, name=name, policy=self.qos) for name in wire_names]
            else:
                frame_ports = [FramePort(self.kernel, rate_bps=spec.rate_bps, latency_ps=latency, framing=framing,
                                         head_bytes=head, name=name) for name in wire_names]
            connect_frames(frame_ports[0], frame_ports[1])
            ports = list(frame_ports)
        self._node(spec.a).attach(ports[0])
        self._node(spec.b).attach(ports[1])
        return Link(spec, ports[0], ports[1])

    def _holds_for(self, node_id: int) -> int:
        """How long node ``node_id`` holds what comes in before it can free it (ps): a forwarder's
        latency; a card consumes at once."""
        forwarder = self.forwarders.get(node_id)
        return forwarder.latency_ps if forwarder is not None else 0

    def _pace_nics(self) -> None:
        """A forwarder with a credited (PCIe) port frees what came in on it only as it leaves:
        each of its other ports tells it when a message starts on the wire rather than when it is
        handed over, and an Ethernet port that cuts a segment into packets, part by part."""
        nics = {nic.id for nic in self.spec.nics}
        pfc = [(link, self._switch_pfc(link)) for link in self.links if link.spec.kind is LinkKind.ETHERNET]
        for forwarder in self.forwarders.values():
            if not any(isinstance(port, CreditedFramePort) for port in forwarder.ports):
                continue
            for port in forwarder.ports:
                if isinstance(port, FramePort):
                    port.commit_at_start = True
                if isinstance(port, EthernetPort):
                    port.part_committed = forwarder.part_committed
            if forwarder.node_id not in nics:
                continue
            for link, thresholds in pfc:
                if thresholds is not None and forwarder.node_id in (link.spec.a, link.spec.b):
                    port = link.a if link.spec.a == forwarder.node_id else link.b
                    if isinstance(port, EthernetPort):
                        port.receive_pfc = thresholds
                        forwarder.counts_ingress = True

    def _switch_pfc(self, link: Link) -> tuple[int, int, frozenset[int]] | None:
        """The PFC thresholds of the buffered switch at an end of Ethernet ``link`` (PFC on), which
        the NIC at its other end pauses it by: the NIC's receive buffer fills when its PCIe side
        is slower than the Ethernet (an assumption: NICs keep their receive thresholds private, so
        they take their switch's lossless configuration)."""
        for end in (link.spec.a, link.spec.b):
            switch = self.forwarders.get(end)
            if isinstance(switch, EthernetSwitch) and switch.buffering.pfc.enabled:
                config = switch.buffering.pfc
                return config.xoff_bytes, config.xon_bytes, frozenset(config.priorities)
        return None

    def _buffered(self, spec: LinkSpec) -> bool:
        """Whether an Ethernet link touches a switch with a buffer (then both ends queue frame by
        frame, so that PFC can pause either)."""
        return any(isinstance(self.forwarders.get(end), EthernetSwitch) for end in (spec.a, spec.b))

    def _link_keys(self, index: int, encryption: LinkEncryption) -> tuple[LinkSecurity, LinkSecurity]:
        """The two ends' ciphers of link ``index``: a key per direction, drawn from the run's seed
        (a stream of its own, so that encrypting changes no other random choice)."""
        rng = np.random.default_rng(np.random.SeedSequence(self.kernel.seed, spawn_key=(0x1DE, index)))
        forward, backward = rng.bytes(KEY_BYTES), rng.bytes(KEY_BYTES)
        mac = encryption.mac_bytes
        return (LinkSecurity(FlitCipher(forward, 0, mac), FlitCipher(backward, 1, mac)),
                LinkSecurity(FlitCipher(backward, 1, mac), FlitCipher(forward, 0, mac)))

    def _framing(self, spec: LinkSpec) -> tuple[Framing, int]:
        """The framing function of a frame link, and the bytes a cut-through node must see first
        (the same framing the flow engine prices links by: :func:`oisa.fabric.routes.link_framing`)."""
        framing = link_framing(self.spec, spec, self._mtu)
        mac = self.encryption.mac_bytes if self.encryption and spec.kind is LinkKind.OISA else 0
        key = (framing, mac)
        framed = self._framings.get(key)
        if framed is None:
            framed = self._framings[key] = _remembered(framing, mac)
        return framed, head_bytes(spec.kind, spec.flit_size)

    def _route(self) -> None:
        port_of = {}
        for index, link in enumerate(self.links):
            port_of[(link.spec.a, index)] = link.a
            port_of[(link.spec.b, index)] = link.b
        for node_id, table in next_hops(self.spec).items():
            routes = {dst: [port_of[(node_id, index)] for index in indices] for dst, indices in table.items()}
            self._node(node_id).routes = routes
        for card in self.cards.values():
            card.route = self._card_route(card)
        served = {nic.id: nic.card for nic in self.spec.nics if nic.card is not None}
        for link in self.links:  # the switches on either side of a NIC learn which card it serves
            for node_id, port, nic in ((link.spec.a, link.a, link.spec.b), (link.spec.b, link.b, link.spec.a)):
                if nic in served and node_id in self.forwarders:
                    self.forwarders[node_id].nic_of[served[nic]] = port

    def _card_route(self, card: Card) -> Callable[[Message], Port]:
        chooser = self.chooser

        def route(message: Message) -> Port:
            choices = card.routes.get(message.dst)
            if not choices:
                raise UsageError(f"{card.name} has no route to node {message.dst}")
            return choices[chooser.choose(card.node_id, message, len(choices))]

        return route

    def start(self) -> None:
        """Start the links (their link-layer initialisation, where it runs) and the cards' tasks."""
        for link in self.links:
            for port in link.ports:
                port.start()
        for card in self.cards.values():
            card.start()

    async def bring_up(self) -> BringUp:
        """Start everything and return once every link end can carry traffic, with what that
        took: a workload's figures start from here, so they never include link bring-up.

        Once up, a later call (a job's, on a fabric the jobs runner brought up for several) returns
        at once, with the first bring-up's time and the counters as they are now, so that what a
        workload subtracts is what the fabric had done before it started."""
        if self.brought_up is not None:
            frames, wire_bytes = self.wire_totals()
            return BringUp(self.brought_up.time_ps, frames, wire_bytes, self.link_totals())
        self.start()
        ends = [port for link in self.links for port in link.ports]
        up: Signal[None] = Signal(self.kernel, f"{len(ends)} link ends initialising")
        pending = [len(ends)]

        def one_up() -> None:
            pending[0] -= 1
            if pending[0] == 0:
                up.set(None)

        if not ends:
            up.set(None)
        for port in ends:
            port.when_up(one_up)
        await up.wait()
        frames, wire_bytes = self.wire_totals()
        self.brought_up = BringUp(self.kernel.now, frames, wire_bytes, self.link_totals())
        return self.brought_up

    def card(self, card_id: int) -> Card:
        self.spec.card(card_id)  # names the fabric's cards if the id is unknown
        return self.cards[card_id]

    def wire_totals(self) -> tuple[int, int]:
        """Frames and bytes put on every link so far, both directions."""
        frames = total = 0
        for link in self.links:
            for port in link.ports:
                port_frames, port_bytes = port.wire_totals()
                frames += port_frames
                total += port_bytes
        return frames, total

    def link_totals(self) -> dict[str, int]:
        """Link-layer counters summed over every OISA link end that runs the link layer."""
        return self._summed(lambda port: port.link_stats())

    def fault_totals(self) -> dict[str, int]:
        """What the wires' fault injection did, summed over every wire."""
        return self._summed(lambda port: port.fault_stats())

    def _summed(self, counters: Callable[[Port], dict[str, int]]) -> dict[str, int]:
        totals: dict[str, int] = {}
        for link in self.links:
            for port in link.ports:
                for key, value in counters(port).items():
                    totals[key] = totals.get(key, 0) + value
        return totals


def _remembered(framing: LinkFraming, mac_bytes: int) -> Framing:
    """``framing``'s frames function, remembering each answer: a message's frames and bytes
    depend only on its opcode, length, count and whether it has a collective extension, and a
    run sizes the same few shapes millions of times (each hop sizes a message two to four times)."""
    known: dict[tuple[int, int, int, bool], tuple[int, int]] = {}
    frames = framing.frames

    def framed(message: Message) -> tuple[int, int]:
        shape = (message.opcode, message.length, message.count, message.coll is None)
        answer = known.get(shape)
        if answer is None:
            answer = known[shape] = frames(message, mac_bytes)
        return answer

    return framed


def build(spec: FabricSpec, kernel: Kernel, faults: FaultModel | None, fidelity: Fidelity,
          policy: Policy | None = None, encryption: LinkEncryption | None = None,
          qos: QosPolicy | None = None) -> Fabric:
    return Fabric(spec, kernel, faults, fidelity, policy, encryption, qos)


def _notified(spec: FabricSpec) -> frozenset[int] | None:
    """The cards whose NIC runs DCQCN (whose ECN marks a notification point reads), or None if a
    NIC that serves no one card does (then any card's traffic may reach it)."""
    readers = [nic for nic in spec.nics if nic.dcqcn is not None and nic.dcqcn.enabled]
    if any(nic.card is None for nic in readers):
        return None
    return frozenset(nic.card for nic in readers if nic.card is not None)
