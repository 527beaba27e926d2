"""The CXL.mem adapter: memory devices whose native interface is CXL.mem (CXL-memory-like).

A CXL.mem device answers one host over one link; on an OISA fabric many cards ask it. Its
adapter is the bridge chip that lets them share it, as a CXL switch would: it presents every
request to the device as coming from one host (LD-ID 0), giving each a tag of its own, and
puts the asking card and its tag back on the response. In between, every request and response
is a real CXL.mem message on the device's side (:mod:`oisa.transaction.cxl_bridge`).

A CXL.mem device only answers: it starts nothing, so its transfer plan is CXL.mem line reads
and writes for completeness, and its capability is CXL.mem alone.
"""

from __future__ import annotations

from dataclasses import replace

from oisa.device.adapter import Capability, DeviceAdapter, TransferPlan
from oisa.device.profile import DeviceProfile
from oisa.errors import BridgeError
from oisa.transaction.cxl_bridge import LdTable, OutstandingCxlRequests, cxl_to_message, message_to_cxl
from oisa.wire.cxl import decode_cxl_mem, encode_cxl_mem
from oisa.wire.oisa import Message, Opcode

__all__ = ["CxlMemAdapter"]

_HOST = 0xFFFF  # the one host the device sees: the adapter itself
_TAGS = 1 << 16


class CxlMemAdapter(DeviceAdapter):
    name = "cxl-mem"
    native = "cxl"
    summary = "CXL.mem M2S/S2M messages (68B-flit field layout) through the CXL bridge"
    capabilities = frozenset({Capability.CXL_MEM})

    def __init__(self, card_id: int, profile: DeviceProfile) -> None:
        super().__init__(card_id, profile)
        self._lds = LdTable.single(_HOST, card_id)
        # one memory of requests per direction of conversion (see the PCIe adapter)
        self._to_cxl = OutstandingCxlRequests()
        self._from_cxl = OutstandingCxlRequests()
        self._asked: dict[int, tuple[int, int]] = {}  # device-side tag -> (asking card, its tag)
        self._tag_of: dict[tuple[int, int], int] = {}
        self._next_tag = 0

    def transfer_plan(self) -> TransferPlan:
        return TransferPlan(Opcode.CXL_MEM_WR, Opcode.CXL_MEM_RD, 64, 64)

    def to_native(self, message: Message) -> bytes:
        if message.info.is_request:
            key = (message.src, message.tag)
            fresh = key not in self._tag_of
            local = self._local_tag(*key)
            try:
                return encode_cxl_mem(message_to_cxl(replace(message, src=_HOST, tag=local), self._lds,
                                                     outstanding=self._to_cxl))
            except BridgeError:
                if fresh:  # it never reached the device: forget the tag
                    del self._asked[local], self._tag_of[key]
                raise
        else:
            tag = self._tag_of.get((message.dst, message.tag))
            if tag is None:
                raise BridgeError(f"OISA {Opcode(message.opcode).name}: field 'tag' {message.tag} answers no "
                                  f"request this device was asked", field="tag")
            message = replace(message, dst=_HOST, tag=tag)
        return encode_cxl_mem(message_to_cxl(message, self._lds, outstanding=self._to_cxl))

    def from_native(self, frame: bytes) -> Message:
        native = decode_cxl_mem(frame)
        if native.tag not in self._asked:  # checked first: converting records the request
            raise BridgeError(f"CXL.mem field 'tag': device-side tag {native.tag} was given to no request that "
                              f"crossed this adapter", field="tag")
        message = cxl_to_message(native, self._lds, outstanding=self._from_cxl)
        card, tag = self._asked[message.tag]
        if message.info.is_request:
            return replace(message, src=card, tag=tag)
        del self._asked[message.tag]
        del self._tag_of[(card, tag)]
        return replace(message, dst=card, tag=tag)

    def _local_tag(self, card: int, tag: int) -> int:
        if (card, tag) in self._tag_of:
            return self._tag_of[(card, tag)]
        if len(self._asked) >= _TAGS:
            raise BridgeError("field 'tag': all 65536 device-side tags are in use", field="tag")
        while self._next_tag in self._asked:
            self._next_tag = (self._next_tag + 1) % _TAGS
        local = self._next_tag
        self._asked[local] = (card, tag)
        self._tag_of[(card, tag)] = local
        return local
