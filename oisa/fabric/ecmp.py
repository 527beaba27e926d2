"""ECMP as an Ethernet switch does it: a seeded hash of the packet's RoCEv2 UDP 5-tuple, or spraying.

A RoCEv2 packet is UDP to port 4791; its source port is chosen by the sending NIC per queue pair
(from a hash of the QP number, in the dynamic range 49152-65535, so that flows of one host pair
spread over paths: RoCEv2, InfiniBand Architecture Specification annex A17.3.3). A switch picks
the next hop from a hash of (source IP, destination IP, protocol, source port, destination port)
with a seed of its own (switch ASICs hash with a per-switch seed so that tiers do not correlate):
every packet of a flow takes the same path, and two flows may well take the same one, which is
what halves throughput in a real all-to-all. Spraying sends each packet of a flow on the next path
in turn (adaptive routing in its simplest form), which balances load and reorders packets.

Each card's address is ``10.x.y.z`` from its node id, and each flow (source card, destination
card) is one queue pair.
"""

from __future__ import annotations

import struct
import zlib

from oisa.wire.oisa import Message

__all__ = ["ECMP_MODES", "ROCE_UDP_PORT", "flow_hash", "udp_source_port"]

ROCE_UDP_PORT = 4791  # IANA: RoCEv2
UDP = 17
ECMP_MODES = ("hash", "spray")


def _ip(node: int) -> int:
    return 0x0A000000 | (node & 0xFFFFFF)


def udp_source_port(src: int, dst: int) -> int:
    """The UDP source port a NIC gives the queue pair from card ``src`` to card ``dst``."""
    return 0xC000 | (zlib.crc32(struct.pack(">II", src, dst)) & 0x3FFF)


def flow_hash(message: Message, seed: int) -> int:
    """A switch's hash (CRC-32 over the 5-tuple, seeded) of the packet carrying ``message``."""
    header = struct.pack(">IIBHH", _ip(message.src), _ip(message.dst), UDP, udp_source_port(message.src, message.dst),
                         ROCE_UDP_PORT)
    return _finalise(zlib.crc32(header, seed & 0xFFFFFFFF))


def _finalise(value: int) -> int:
    """MurmurHash3's 32-bit finaliser: CRC-32 is linear, so flows whose headers differ in the same
    bits (cards a and a + 4 to b and b + 4) would land on the same path for every seed; switch
    ASICs fold and mix their CRCs for the same reason."""
    value ^= value >> 16
    value = (value * 0x85EBCA6B) & 0xFFFFFFFF
    value ^= value >> 13
    value = (value * 0xC2B2AE35) & 0xFFFFFFFF
    return value ^ (value >> 16)
