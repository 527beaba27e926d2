"""The trio runtime: virtual time, deterministic waiting, and the wires links run on.

``Kernel`` runs an emulation; ``Inbox`` and ``Signal`` are how tasks wait for each other;
``Wire`` is one direction of a physical link (serialisation at a rate, then propagation).
"""

from oisa.sim._kernel import Kernel
from oisa.sim._sync import Inbox, Signal
from oisa.sim.wire import LinkPort, Wire, connect

__all__ = ["Inbox", "Kernel", "LinkPort", "Signal", "Wire", "connect"]
