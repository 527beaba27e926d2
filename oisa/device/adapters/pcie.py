"""The PCIe-TLP adapter: cards whose native interface is PCIe (H100-like, Kunlun-like).

Every message the card sends or receives is a real TLP on its native side, through the PCIe
bridge (:mod:`oisa.transaction.pcie_bridge`). Two PCIe habits shape such a card's traffic:

* **Posted writes.** PCIe writes (MWr) carry no completion, at most the Max Payload Size each.
  Bulk copies therefore go as MEM_WR of ``max_payload`` bytes, and the card reads the last word
  back afterwards: the read cannot pass the writes, so its completion proves they landed.
* **Addresses name the target.** PCIe routes memory requests by address, so peer memory
  appears to the device as one window per card, like a BAR: byte ``a`` of card ``c`` is PCIe
  address ``c * 2**40 + a``. The adapter turns the window back into OISA's ``dst`` and address.

Requester and completer ids are card ids (one function per card). Operations PCIe cannot say
(DMA with completion, collectives, CXL.mem) do not reach the device: the card's OISA endpoint
handles them when they arrive, and the card never starts them.
"""

from __future__ import annotations

from dataclasses import replace

from oisa.device.adapter import Capability, DeviceAdapter, TransferPlan
from oisa.device.profile import DeviceProfile
from oisa.errors import BridgeError
from oisa.transaction.pcie_bridge import OutstandingRequests, message_to_tlp, tlp_to_message
from oisa.wire.oisa import Message, Opcode
from oisa.wire.pcie import TLP_TYPES, TlpGroup, decode_tlp, encode_tlp

__all__ = ["WINDOW_BITS", "PcieTlpAdapter"]

WINDOW_BITS = 40  # each card's memory window: 1 TiB
_WINDOW_MASK = (1 << WINDOW_BITS) - 1
_BY_ADDRESS = (TlpGroup.MEMORY, TlpGroup.ATOMIC)


class PcieTlpAdapter(DeviceAdapter):
    name = "pcie-tlp"
    native = "pcie"
    summary = "PCIe transaction layer packets (non-flit mode) through the PCIe bridge"
    capabilities = frozenset({Capability.DMA, Capability.LOAD_STORE, Capability.ATOMICS, Capability.MESSAGES})

    def __init__(self, card_id: int, profile: DeviceProfile) -> None:
        super().__init__(card_id, profile)
        # The bridge remembers each request in the direction it crossed, to rebuild its
        # completions; every message here crosses both ways (to the native side and back), so
        # each way keeps its own memory.
        self._to_pcie = OutstandingRequests()
        self._from_pcie = OutstandingRequests()

    def transfer_plan(self) -> TransferPlan:
        return TransferPlan(Opcode.MEM_WR, Opcode.MEM_RD, int(self.profile.max_payload.value),
                            int(self.profile.max_read_request.value), relaxed=True)

    def to_native(self, message: Message) -> bytes:
        if message.opcode not in (Opcode.MSG, Opcode.MSG_D):
            # requests address the target's window; completions carry addresses in the
            # window of the card that completes them
            owner = message.dst if message.info.is_request else message.src
            if message.address > _WINDOW_MASK:
                raise BridgeError(f"OISA {Opcode(message.opcode).name}: field 'address' {message.address:#x} is "
                                  f"beyond a card's {WINDOW_BITS}-bit PCIe window", field="address")
            message = replace(message, address=(owner << WINDOW_BITS) | message.address)
        return encode_tlp(message_to_tlp(message, outstanding=self._to_pcie))

    def from_native(self, frame: bytes) -> Message:
        tlp = decode_tlp(frame)
        group = TLP_TYPES[tlp.kind].group
        if group in _BY_ADDRESS:
            message = tlp_to_message(tlp, dst=tlp.address >> WINDOW_BITS, outstanding=self._from_pcie)
        else:
            message = tlp_to_message(tlp, outstanding=self._from_pcie)
        if group is not TlpGroup.MESSAGE:
            message.address &= _WINDOW_MASK
        return message
