"""The CRCs of the formats oisa speaks.

* OISA flits: CRC-32 with the IEEE 802.3 polynomial 0x04C11DB7 (the polynomial of PCIe's
  LCRC), reflected, initial value and final XOR 0xFFFFFFFF, i.e. exactly ``zlib.crc32``. We
  chose it so that the hot path runs in C: every emulated flit is really checked.
* PCIe DLLPs: CRC-16, polynomial 0x100B, initial value 0xFFFF.
* CXL 68B flits: CRC-16, polynomial 0x1F053 (x^16 + x^12 + x^6 + x^4 + x + 1 plus x^16's
  implicit bit), initial value 0 and no reflection, as the XOR trees of the CXL specification.

PCIe and CXL define their CRCs over a particular bit order; :func:`crc16` is the generic
MSB-first table-driven form and the format modules fix the byte order they feed it.
"""

from __future__ import annotations

import zlib
from functools import cache

__all__ = ["crc16", "crc32"]


def crc32(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """CRC-32/ISO-HDLC (zlib's), as used by OISA flits."""
    return zlib.crc32(data, initial)


@cache
def _table16(poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte << 8
        for _ in range(8):
            reg = ((reg << 1) ^ poly) & 0xFFFF if reg & 0x8000 else (reg << 1) & 0xFFFF
        table.append(reg)
    return tuple(table)


def crc16(data: bytes | bytearray | memoryview, poly: int, initial: int) -> int:
    """MSB-first CRC-16 with generator ``poly`` (the x^16 term may be given or left out)."""
    table = _table16(poly & 0xFFFF)
    reg = initial
    for byte in data:
        reg = ((reg << 8) & 0xFFFF) ^ table[(reg >> 8) ^ byte]
    return reg
