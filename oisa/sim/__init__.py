"""The trio runtime: virtual time, deterministic waiting, and the wires links run on.

``Kernel`` runs an emulation; ``Inbox`` and ``Signal`` are how tasks wait for each other;
``Wire`` is one direction of a physical link (serialisation at a rate, then propagation) and
``LinkPort`` runs the OISA link layer over one; ``FramePort`` carries whole messages sized by
their framing, for links without a modelled link layer and for timing mode.

What it must not know: ``device``, ``fabric`` and ``workload``. The kernel, wires and ports serve
any model built on them; cards and fabrics are built on top.
"""

from oisa.sim._kernel import Kernel
from oisa.sim._sync import Inbox, Signal
from oisa.sim.frames import FramePort, Framing, connect_frames
from oisa.sim.ports import Port, PortOwner
from oisa.sim.wire import LinkPort, Wire, connect

__all__ = ["FramePort", "Framing", "Inbox", "Kernel", "LinkPort", "Port", "PortOwner", "Signal", "Wire", "connect",
           "connect_frames"]
