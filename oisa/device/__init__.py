"""Emulated GPUs: profiles from the device catalog, sparse memory, and the card itself.

What it must not know: ``fabric``, ``flow``, ``ccl`` and ``workload``. A card knows its own ports,
memory and rates, not how cards are joined nor what runs on them.
"""

from oisa.device.card import Card, Transfer
from oisa.device.memory import SparseMemory
from oisa.device.profile import DeviceProfile, load_profile

__all__ = ["Card", "DeviceProfile", "SparseMemory", "Transfer", "load_profile"]
