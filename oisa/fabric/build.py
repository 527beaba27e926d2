"""Building a running fabric inside a kernel from a :class:`~oisa.fabric.spec.FabricSpec`."""

from __future__ import annotations

from dataclasses import dataclass

from oisa.device import Card
from oisa.fabric.spec import FabricSpec, LinkSpec
from oisa.link import LinkEndpoint
from oisa.sim import Kernel, LinkPort, Wire, connect

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


class Fabric:
    """Cards and links of one fabric, instantiated in ``kernel``."""

    def __init__(self, spec: FabricSpec, kernel: Kernel) -> None:
        self.spec = spec
        self.kernel = kernel
        self.cards = {c.id: Card(kernel, c.id, c.device, c.name) for c in spec.cards}
        self.links = [self._link(link) for link in spec.links]

    def _link(self, spec: LinkSpec) -> Link:
        ports = []
        for here, there in ((spec.a, spec.b), (spec.b, spec.a)):
            name = f"{self.cards[here].name}->{self.cards[there].name}"
            wire = Wire(self.kernel, rate_bps=spec.rate_bps, latency_ps=spec.latency_ps, name=name)
            port = LinkPort(self.kernel, LinkEndpoint(flit_size=spec.flit_size), wire, name)
            self.cards[here].attach(port)
            self.cards[here].routes[there] = port
            ports.append(port)
        connect(ports[0], ports[1])
        return Link(spec, ports[0], ports[1])

    def start(self) -> None:
        for card in self.cards.values():
            card.start()

    def card(self, card_id: int) -> Card:
        self.spec.card(card_id)  # names the fabric's cards if the id is unknown
        return self.cards[card_id]

    def wire_totals(self) -> tuple[int, int]:
        """Frames and bytes put on every wire so far, both directions."""
        wires = [port.wire for link in self.links for port in link.ports]
        return sum(w.frames for w in wires), sum(w.bytes for w in wires)


def build(spec: FabricSpec, kernel: Kernel) -> Fabric:
    return Fabric(spec, kernel)
