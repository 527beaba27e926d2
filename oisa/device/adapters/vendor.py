"""The vendor-descriptor adapter: cards whose native interface is a DMA-descriptor link (the
MI300X-, Ascend- and MTT-like cards, whose real links xGMI, HCCS/UB and MTLink are undocumented).

Their native frames are VDESC descriptors (:mod:`oisa.wire.vdesc.descriptor`): little-endian, 32-byte
headers, inline data and a CRC-32C, a format designed for oisa to show that the adapter
interface carries anything. The bridge (:mod:`oisa.transaction.vdesc_bridge`) maps every OISA
operation but CXL.mem onto a descriptor, so these cards copy with DMA writes that are
acknowledged (early, if a switch may), and can contribute to in-switch reductions.
"""

from __future__ import annotations

from oisa.device.adapter import Capability, DeviceAdapter, TransferPlan
from oisa.transaction.vdesc_bridge import message_to_vdesc, vdesc_to_message
from oisa.wire.oisa import Message, Opcode
from oisa.wire.vdesc import decode_vdesc, encode_vdesc

__all__ = ["VendorDescriptorAdapter"]


class VendorDescriptorAdapter(DeviceAdapter):
    name = "vendor-descriptor"
    native = "vendor"
    summary = "VDESC DMA descriptors (little-endian, CRC-32C), oisa's vendor-proprietary example format"
    integrity = "CRC-32C"  # of every byte before it (oisa/wire/vdesc.py)
    capabilities = frozenset({Capability.DMA, Capability.LOAD_STORE, Capability.ATOMICS, Capability.MESSAGES,
                              Capability.EARLY_COMPLETION, Capability.COLLECTIVE_OFFLOAD})

    def transfer_plan(self) -> TransferPlan:
        return TransferPlan(Opcode.DMA_WR, Opcode.DMA_RD, int(self.profile.max_payload.value),
                            int(self.profile.max_read_request.value))

    def to_native(self, message: Message) -> bytes:
        return encode_vdesc(message_to_vdesc(message))

    def from_native(self, frame: bytes) -> Message:
        return vdesc_to_message(decode_vdesc(frame))
