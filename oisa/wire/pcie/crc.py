"""The three CRCs of PCIe (non-flit mode): LCRC, ECRC and the DLLP CRC, bit order included.

The specification describes each CRC as a shift register (an MSB-first LFSR) and then says two
things about bit order that decide the bytes on the wire:

* the data enter the register **bit 0 of each byte first** (PCIe serialises every byte least
  significant bit first), starting with byte 0;
* the remainder is **complemented** and **mapped with its bit order reversed**: remainder bit
  31 (15 for the DLLP CRC) becomes bit 0 of the first CRC byte, and so on.

Feeding bits LSB-first into an MSB-first register and reversing the result is exactly the
"reflected" form of a CRC, whose register comes out already reversed. So:

* **LCRC** (32 bits, polynomial 0x04C11DB7, register preset to 0xFFFFFFFF) is the Ethernet /
  zlib CRC-32, ``zlib.crc32``, over the 2-byte sequence-number field and the whole TLP (ECRC
  included), and the 4 LCRC bytes are that value **little-endian**. A receiver that runs the
  CRC over the TLP *and* its LCRC gets the constant residue 0x2144DF1C.
* **ECRC** (the TLP digest, present when TD is 1) is the same CRC over the TLP header and data,
  computed as if the two *variant* bits were 1: bit 0 of the Type field (byte 0, bit 0: a
  bridge may turn a CfgRd1 into a CfgRd0) and EP (byte 2, bit 6: a switch may poison a TLP).
  Then the ECRC survives those two changes in the fabric. Its 4 bytes are little-endian too.
* **DLLP CRC** (16 bits, polynomial 0x100B, preset 0xFFFF) is the reflected CRC-16 with
  polynomial 0xD008 (0x100B bit-reversed), complemented, over the 4 DLLP bytes, sent as 2 bytes
  **little-endian**. The CRC over all 6 DLLP bytes leaves the residue 0x556F uncomplemented.

Sources that agree on all of this (read, not copied): the LCRC and DLLP CRC of
alexforencich/cocotbext-pcie (``cocotbext/pcie/core/dllp.py``), antmicro/warp-pipe
(``src/crc.c``, whose ``tests/test_crc.cc`` vectors our tests reuse), the PCIe decoder of
ngscopeclient/scopehal (``PCIeDataLinkDecoder.cpp``, which decodes captured waveforms; an
earlier version spelled out the MSB-first LFSR and the bit swap), and the Wireshark dissector of
cyrozap/agilent-pcie-analyzer-re (``wireshark/proto_pcie.c``), which checks LCRC, ECRC (with
DW0 OR ``0x01004000``, the two variant bits) and DLLP CRCs of real analyzer captures.
"""

from __future__ import annotations

import zlib

__all__ = ["DLLP_CRC_RESIDUE", "LCRC_RESIDUE", "dllp_crc16", "ecrc32", "lcrc32"]

LCRC_RESIDUE = 0x2144DF1C
"""``lcrc32(sequence field + TLP + LCRC)`` of every good wrapped TLP."""

DLLP_CRC_RESIDUE = 0x556F
"""The CRC register after all 6 bytes of a good DLLP, before the complement:
``dllp_crc16(dllp) ^ 0xFFFF``."""

_DLLP_POLY_REFLECTED = 0xD008  # 0x100B with its 16 bits reversed


def _reflected_table16(poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte
        for _ in range(8):
            reg = (reg >> 1) ^ poly if reg & 1 else reg >> 1
        table.append(reg)
    return tuple(table)


_DLLP_TABLE = _reflected_table16(_DLLP_POLY_REFLECTED)


def dllp_crc16(data: bytes | bytearray | memoryview) -> int:
    """The 16-bit CRC of a DLLP's first 4 bytes; write it little-endian after them."""
    reg = 0xFFFF
    for byte in data:
        reg = (reg >> 8) ^ _DLLP_TABLE[(reg ^ byte) & 0xFF]
    return reg ^ 0xFFFF


def lcrc32(data: bytes | bytearray | memoryview) -> int:
    """The LCRC over the sequence-number field and the TLP; write it little-endian after them."""
    return zlib.crc32(data)


def ecrc32(tlp: bytes | bytearray | memoryview) -> int:
    """The ECRC of a TLP (header and data, without the digest); write it little-endian after them.

    The variant bits (Type[0] and EP) count as 1 whatever their value, so only the first
    double word needs rewriting; the rest is fed to zlib as it is.
    """
    head = bytes((tlp[0] | 0x01, tlp[1], tlp[2] | 0x40, tlp[3]))
    return zlib.crc32(memoryview(tlp)[4:], zlib.crc32(head))
