"""Every byte format oisa speaks, by the name ``oisa decode --format`` and ``oisa encode`` use.

Each format decodes one frame to plain fields and encodes fields back to bytes, through the
normative construct schemas (these are tools at the boundary, where being exact matters more
than being fast). Formats that need more than the bytes take it from :class:`FormatOptions`:
the flit size of an OISA link, the direction of a CXL flit.

This table sits above the protocol families: it imports all four, and none of them imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from oisa.wire.cxl import (
    cxl_flit_from_fields,
    cxl_flit_to_fields,
    cxl_mem_from_fields,
    decode_cxl_flit,
    decode_cxl_mem,
    encode_cxl_flit,
    encode_cxl_mem,
)
from oisa.wire.oisa import (
    decode_flit_construct,
    decode_message_construct,
    encode_flit_construct,
    encode_message_construct,
    flit_from_fields,
    flit_to_fields,
    message_from_fields,
    message_to_fields,
)
from oisa.wire.pcie import (
    decode_dllp_construct,
    decode_tlp_construct,
    dllp_from_fields,
    dllp_to_fields,
    encode_dllp_construct,
    encode_tlp_construct,
    tlp_from_fields,
    tlp_to_fields,
)
from oisa.wire.vdesc import decode_vdesc_construct, encode_vdesc_construct, vdesc_from_fields, vdesc_to_fields

__all__ = ["FORMATS", "FormatOptions", "WireFormat"]


@dataclass(frozen=True)
class FormatOptions:
    flit_size: int = 256  # oisa-flit
    direction: str = "m2s"  # cxl-flit: m2s (host to device) or s2m


@dataclass(frozen=True)
class WireFormat:
    name: str
    summary: str
    decode: Callable[[bytes, FormatOptions], dict[str, Any]]
    encode: Callable[[Mapping[str, Any], FormatOptions], bytes]


def _cxl_mem_fields(data: bytes, options: FormatOptions) -> dict[str, Any]:
    return decode_cxl_mem(data).to_fields()


FORMATS: dict[str, WireFormat] = {f.name: f for f in (
    WireFormat("oisa-msg", "OISA transaction message (specs/oisa-protocol.md §2)",
               lambda data, o: message_to_fields(decode_message_construct(data)),
               lambda fields, o: encode_message_construct(message_from_fields(fields))),
    WireFormat("oisa-flit", "OISA link flit, --flit-size bytes (specs/oisa-protocol.md §3)",
               lambda data, o: flit_to_fields(decode_flit_construct(data, o.flit_size)),
               lambda fields, o: encode_flit_construct(flit_from_fields(fields), o.flit_size)),
    WireFormat("pcie-tlp", "PCIe transaction layer packet, non-flit mode (specs/pcie.md)",
               lambda data, o: tlp_to_fields(decode_tlp_construct(data)),
               lambda fields, o: encode_tlp_construct(tlp_from_fields(fields))),
    WireFormat("pcie-dllp", "PCIe data link layer packet with its CRC-16 (specs/pcie.md)",
               lambda data, o: dllp_to_fields(decode_dllp_construct(data)),
               lambda fields, o: encode_dllp_construct(dllp_from_fields(fields))),
    WireFormat("cxl-mem", "one CXL.mem message in oisa's standalone framing (specs/cxl.md)",
               _cxl_mem_fields,
               lambda fields, o: encode_cxl_mem(cxl_mem_from_fields(fields))),
    WireFormat("cxl-flit", "CXL 68-byte flit, sent in --direction (specs/cxl.md)",
               lambda data, o: cxl_flit_to_fields(decode_cxl_flit(data, o.direction)),
               lambda fields, o: encode_cxl_flit(cxl_flit_from_fields(fields))),
    WireFormat("vdesc", "VDESC vendor DMA descriptor, the vendor-descriptor adapter's native frame (specs/vdesc.md)",
               lambda data, o: vdesc_to_fields(decode_vdesc_construct(data)),
               lambda fields, o: encode_vdesc_construct(vdesc_from_fields(fields))),
)}
