"""Emulated GPUs: profiles from the device catalog, sparse memory, and the card itself."""

from oisa.device.card import Card, Transfer
from oisa.device.memory import SparseMemory
from oisa.device.profile import DeviceProfile, load_profile

__all__ = ["Card", "DeviceProfile", "SparseMemory", "Transfer", "load_profile"]
