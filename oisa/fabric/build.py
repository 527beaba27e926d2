"""Building a running fabric inside a kernel from a :class:`~oisa.fabric.spec.FabricSpec`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oisa.device import Card
from oisa.fabric.spec import FabricSpec, LinkSpec
from oisa.link import LinkConfig, LinkEndpoint
from oisa.link.credits import DATA_CREDIT_BYTES, DATA_MODULUS, HDR_MODULUS, MAX_MESSAGE_CREDITS
from oisa.sim import Kernel, LinkPort, Wire, connect
from oisa.sim.faults import FaultModel, WireFaults
from oisa.transaction.ordering import may_pass
from oisa.units import S, serialisation_ps
from oisa.wire.opcodes import FcClass

__all__ = ["Fabric", "Link", "build"]


@dataclass
class Link:
    """A built link: its spec and the port at each end."""

    spec: LinkSpec
    a: LinkPort
    b: LinkPort

    @property
    def ports(self) -> tuple[LinkPort, LinkPort]:
        return self.a, self.b


def link_config(spec: LinkSpec, faults: FaultModel) -> LinkConfig:
    """Link-layer timing for a link of this rate and latency.

    An acknowledgement needs a round trip, the wait for a flit already on the reverse wire and
    the receiver's acknowledgement delay; the replay timer allows that plus a margin of 16 flit
    times, like PCIe's timer that scales with link width and payload size. Credit polling is on
    only where the wire can lose control flits.
    """
    flit_time = serialisation_ps(spec.flit_size, spec.rate_bps)
    ack_delay = 20 * flit_time
    round_trip = 2 * spec.latency_ps + 2 * flit_time + ack_delay
    data_credits = receive_buffer_credits(spec.rate_bps, round_trip)
    header_credits = min(HDR_MODULUS // 2 - 1, data_credits // 4)
    return LinkConfig(
        flit_size=spec.flit_size,
        buffers=((FcClass.POSTED, header_credits, data_credits), (FcClass.NON_POSTED, header_credits, data_credits),
                 (FcClass.COMPLETION, 0, 0)),
        replay_timeout_ps=round_trip + 16 * flit_time,
        ack_delay_ps=ack_delay,
        credit_delay_ps=ack_delay,
        init_resend_ps=2 * round_trip,
        retrain_time_ps=max(1_000_000, 4 * round_trip),
        credit_poll_ps=4 * round_trip if faults.active else None,
    )


def receive_buffer_credits(rate_bps: int, round_trip_ps: int) -> int:
    """Data credits (16-byte units) of a receive buffer that keeps a link busy: twice what the
    link carries in one credit round trip (the classic bandwidth-delay rule with headroom for
    the consumer), at least 16 KiB, within what the 16-bit credit counters can track."""
    bytes_needed = 2 * rate_bps * round_trip_ps // (8 * S)
    credits = -(-max(bytes_needed, 16 * 1024) // DATA_CREDIT_BYTES)
    return max(MAX_MESSAGE_CREDITS, min(credits, DATA_MODULUS // 2 - 1))


class Fabric:
    """Cards and links of one fabric, instantiated in ``kernel``.

    ``faults`` applies to every link whose spec gives none of its own.
    """

    def __init__(self, spec: FabricSpec, kernel: Kernel, faults: FaultModel | None = None) -> None:
        self.spec = spec
        self.kernel = kernel
        self.cards = {c.id: Card(kernel, c.id, c.device, c.name) for c in spec.cards}
        self._fault_seeds = np.random.SeedSequence(kernel.seed).spawn(2 * len(spec.links))
        self.links = [self._link(index, link, faults or link.faults) for index, link in enumerate(spec.links)]

    def _link(self, index: int, spec: LinkSpec, faults: FaultModel) -> Link:
        config = link_config(spec, faults)
        ports = []
        for direction, (here, there) in enumerate(((spec.a, spec.b), (spec.b, spec.a))):
            name = f"{self.cards[here].name}->{self.cards[there].name}"
            wire_faults = None
            if faults.active:
                rng = np.random.default_rng(self._fault_seeds[2 * index + direction])
                wire_faults = WireFaults(faults, rng)
            wire = Wire(self.kernel, rate_bps=spec.rate_bps, latency_ps=spec.latency_ps, name=name,
                        faults=wire_faults)
            port = LinkPort(self.kernel, LinkEndpoint(config, may_pass=may_pass, name=name), wire, name)
            self.cards[here].attach(port)
            self.cards[here].routes[there] = port
            ports.append(port)
        connect(ports[0], ports[1])
        return Link(spec, ports[0], ports[1])

    def start(self) -> None:
        for link in self.links:
            for port in link.ports:
                port.start()
        for card in self.cards.values():
            card.start()

    def card(self, card_id: int) -> Card:
        self.spec.card(card_id)  # names the fabric's cards if the id is unknown
        return self.cards[card_id]

    def wire_totals(self) -> tuple[int, int]:
        """Frames and bytes put on every wire so far, both directions."""
        wires = [port.wire for link in self.links for port in link.ports]
        return sum(w.frames for w in wires), sum(w.bytes for w in wires)


    def link_totals(self) -> dict[str, int]:
        """Link-layer counters summed over every link end."""
        totals: dict[str, int] = {}
        for link in self.links:
            for port in link.ports:
                for key, value in port.endpoint.stats.as_dict().items():
                    totals[key] = totals.get(key, 0) + value
        return totals

    def fault_totals(self) -> dict[str, int]:
        """What the wires' fault injection did, summed over every wire."""
        totals: dict[str, int] = {}
        for link in self.links:
            for port in link.ports:
                if port.wire.faults is not None:
                    for key, value in port.wire.faults.stats.as_dict().items():
                        totals[key] = totals.get(key, 0) + value
        return totals


def build(spec: FabricSpec, kernel: Kernel, faults: FaultModel | None = None) -> Fabric:
    return Fabric(spec, kernel, faults)
