"""The three flow-control classes, which PCIe defines and OISA adopts.

PCIe sorts every transaction into posted, non-posted and completion traffic, gives each its own
credits (``UpdateFC`` DLLPs name the class) and builds the deadlock-freedom argument of its
ordering rules on them. OISA keeps the same three, so its opcode table, its credit returns and
the ordering table of :mod:`oisa.transaction.ordering` speak of the same classes as PCIe's TLPs
and DLLPs. The enum lives here, beside the families rather than in one of them, so that the PCIe
family need not know OISA's and the OISA family need not know PCIe's.
"""

from __future__ import annotations

import enum

__all__ = ["FcClass"]


class FcClass(enum.IntEnum):
    """Flow-control class; also the ordering class of the ordering table."""

    POSTED = 0
    NON_POSTED = 1
    COMPLETION = 2
