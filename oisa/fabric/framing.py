"""How many bytes a message takes on each kind of link: the framing overheads, from the formats.

Bandwidth a workload reaches comes out of these sizes and the links' rates; nothing is typed in.

* **OISA** (timing mode; data mode puts real flits on the wire): messages are packed back to
  back into the flit stream, ``flit_size - 20`` payload bytes per flit (specs/oisa-protocol.md
  §3), each message a 20-byte header (+8 for collectives) and its payload.
* **PCIe**: each message becomes TLPs of at most the link's Max Payload Size; each TLP is a
  header (3DW, 12 bytes, for completions; 4DW, 16 bytes, for requests, whose peer addresses
  lie above 4 GiB) plus 8 bytes of framing token, sequence number and LCRC on the wire (the
  count cocotbext-pcie's ``Tlp.get_wire_size`` uses for Gen3+ non-flit mode).
* **Ethernet** (RoCEv2, the RDMA of a conventional cluster): each message becomes packets of
  at most the RDMA MTU of payload; each packet costs preamble and start delimiter (8), an
  Ethernet header (14), IPv4 (20), UDP (8), the InfiniBand base transport header (12), the
  invariant CRC (4), the frame check sequence (4) and the inter-frame gap (12): 82 bytes, plus
  a 16-byte RDMA extended transport header once per message (IEEE 802.3; RFC 791; RFC 768;
  InfiniBand Architecture Specification, annex A17 "RoCEv2").
"""

from __future__ import annotations

from oisa.config import Figure
from oisa.fabric.spec import LinkKind
from oisa.wire.oisa import FLIT_OVERHEAD, Message

__all__ = ["ETHERNET_PACKET_OVERHEAD", "PCIE_TLP_OVERHEAD", "ethernet_frames", "head_bytes", "oisa_frames",
           "pcie_frames"]

PCIE_TLP_OVERHEAD = 8  # framing token + sequence number + LCRC, Gen3+ non-flit mode
PCIE_REQUEST_HEADER = 16
PCIE_COMPLETION_HEADER = 12
ETHERNET_PACKET_OVERHEAD = 8 + 14 + 20 + 8 + 12 + 4 + 4 + 12
RDMA_EXTENDED_HEADER = 16


PCIE_HEAD_BYTES = Figure(24, assumption="a cut-through PCIe switch routes on the framing token with the sequence "
                         "number (4 B) and a 4DW header (16 B), and starts forwarding one 4 B symbol group later; no "
                         "vendor publishes the point its pipeline decides at")
ETHERNET_HEAD_BYTES = Figure(64, assumption="a cut-through Ethernet switch forwards once a frame's first 64 bytes, "
                             "the minimum frame, are in (the fragment-free variant of cut-through); it routes on the "
                             "first 34-54 (Ethernet and IP headers), so this is at most 30 bytes' time too late")


def head_bytes(kind: LinkKind, flit_size: int) -> int:
    """What a cut-through node takes in of a frame before it forwards it: one OISA flit, a PCIe
    TLP's first 24 bytes, an Ethernet frame's first 64 (the frame ports of
    :class:`~oisa.fabric.build.Fabric` use the same; a test holds them together)."""
    if kind is LinkKind.OISA:
        return flit_size
    return int((PCIE_HEAD_BYTES if kind is LinkKind.PCIE else ETHERNET_HEAD_BYTES).value)


def _chunks(payload: int, limit: int) -> int:
    return max(1, -(-payload // limit))


def oisa_frames(message: Message, flit_size: int, mac_bytes: int = 0) -> tuple[int, int]:
    """Flits and wire bytes for ``message`` (all ``count`` of them) in an OISA flit stream; on an
    encrypted link each flit gives ``mac_bytes`` of its payload to the MAC."""
    stream = message.count * message.wire_size
    flits = -(-stream // (flit_size - FLIT_OVERHEAD - mac_bytes))
    return flits, flits * flit_size


def pcie_frames(message: Message, max_payload: int) -> tuple[int, int]:
    """TLPs and wire bytes for ``message`` on a PCIe link with Max Payload Size ``max_payload``."""
    payload = message.length if message.info.has_payload else 0
    tlps = _chunks(payload, max_payload)
    header = PCIE_REQUEST_HEADER if message.info.is_request else PCIE_COMPLETION_HEADER
    return message.count * tlps, message.count * (tlps * (header + PCIE_TLP_OVERHEAD) + payload)


def ethernet_frames(message: Message, mtu: int) -> tuple[int, int]:
    """Packets and wire bytes for ``message`` carried by RoCEv2 with RDMA MTU ``mtu``."""
    payload = message.length if message.info.has_payload else 0
    packets = _chunks(payload, mtu)
    return message.count * packets, message.count * (packets * ETHERNET_PACKET_OVERHEAD + RDMA_EXTENDED_HEADER
                                                     + payload)
