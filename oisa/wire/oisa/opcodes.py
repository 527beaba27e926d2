"""The OISA opcode table: what each message is, which flow-control class it travels in, and
which lengths it may carry. Both codecs and the transaction layer read this one table.

The classes are PCIe's three (posted, non-posted, completion: :mod:`oisa.wire.fc_class`) because the deadlock-freedom
argument of the ordering rules rests on them, and CXL.mem's request/response split maps onto
them without loss (a CXL request that expects an NDR or DRS is non-posted).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from oisa.wire.fc_class import FcClass

__all__ = [
    "OPCODES",
    "STATUS_MEANING",
    "CollDtype",
    "CollOp",
    "CxlDrsOp",
    "CxlNdrOp",
    "Opcode",
    "OpcodeInfo",
    "Status",
]


class Opcode(enum.IntEnum):
    # PCIe-style memory, atomics and messages
    MEM_WR = 0x01
    MEM_RD = 0x02
    FETCH_ADD = 0x03
    SWAP = 0x04
    CAS = 0x05
    MSG = 0x06
    MSG_D = 0x07
    # OISA-native load/store (fine grained) and DMA (bulk)
    STORE = 0x10
    LOAD = 0x11
    DMA_WR = 0x12
    DMA_RD = 0x13
    # CXL.mem-style (64-byte lines)
    CXL_MEM_RD = 0x20
    CXL_MEM_WR = 0x21
    CXL_MEM_INV = 0x22
    # Collective offload: a contribution the switch reduces
    COLL_REDUCE = 0x30
    # Completions
    CPL = 0x80
    CPL_D = 0x81
    CXL_NDR = 0x82
    CXL_DRS = 0x83


class Status(enum.IntEnum):
    """Completion status, PCIe's encoding (RRS was called CRS before PCIe 6.0)."""

    SC = 0  # successful completion
    UR = 1  # unsupported request
    RRS = 2  # request retry status (configuration requests only)
    CA = 4  # completer abort


STATUS_MEANING = {
    Status.SC: "successful completion",
    Status.UR: "unsupported request (address outside the target's memory, or an opcode it does not serve)",
    Status.RRS: "request retry status (configuration requests only; CRS before PCIe 6.0)",
    Status.CA: "completer abort",
}


class CxlNdrOp(enum.IntEnum):
    """S2M NDR opcodes (CXL.mem), carried in ``aux`` of a CXL_NDR message."""

    CMP = 0
    CMP_S = 1
    CMP_E = 2
    CMP_M = 3


class CxlDrsOp(enum.IntEnum):
    """S2M DRS opcodes (CXL.mem), carried in ``aux`` of a CXL_DRS message."""

    MEM_DATA = 0
    MEM_DATA_NXM = 1


class CollOp(enum.IntEnum):
    SUM = 0
    PROD = 1
    MIN = 2
    MAX = 3


class CollDtype(enum.IntEnum):
    """Element types a switch can reduce; the value's low nibble is log2 of the element size."""

    INT8 = 0x00
    UINT8 = 0x10
    FLOAT16 = 0x21
    BFLOAT16 = 0x31
    INT32 = 0x02
    FLOAT32 = 0x12
    INT64 = 0x03
    FLOAT64 = 0x13

    @property
    def itemsize(self) -> int:
        return 1 << (self.value & 0x0F)


@dataclass(frozen=True, slots=True)
class OpcodeInfo:
    """One row of the opcode table.

    ``lengths`` is the set of legal values of the ``length`` field (a ``range`` or a tuple);
    ``has_payload`` says whether ``length`` bytes of payload follow the header (for reads
    ``length`` is the number of bytes asked for and nothing follows). ``aux`` names what the
    ``aux`` byte carries for this opcode, and ``aux_values`` its legal values.
    """

    opcode: Opcode
    fc_class: FcClass
    has_payload: bool
    lengths: range | tuple[int, ...]
    aux: str
    aux_values: range | tuple[int, ...]
    family: str
    summary: str

    @property
    def is_request(self) -> bool:
        return self.fc_class is not FcClass.COMPLETION

    @property
    def expects_completion(self) -> bool:
        return self.fc_class is FcClass.NON_POSTED


_ANY_LENGTH = range(1, 4097)
_ZERO = (0,)
_BYTE = range(256)
_STATUS = tuple(int(s) for s in Status)

OPCODES: dict[int, OpcodeInfo] = {
    info.opcode: info
    for info in (
        OpcodeInfo(Opcode.MEM_WR, FcClass.POSTED, True, _ANY_LENGTH, "reserved", _ZERO, "pcie",
                   "memory write (PCIe MWr); no completion"),
        OpcodeInfo(Opcode.MEM_RD, FcClass.NON_POSTED, False, _ANY_LENGTH, "reserved", _ZERO, "pcie",
                   "memory read (PCIe MRd); answered by CPL_D"),
        OpcodeInfo(Opcode.FETCH_ADD, FcClass.NON_POSTED, True, (4, 8), "reserved", _ZERO, "atomic",
                   "AtomicOp FetchAdd; payload is the addend; answered by CPL_D with the old value"),
        OpcodeInfo(Opcode.SWAP, FcClass.NON_POSTED, True, (4, 8), "reserved", _ZERO, "atomic",
                   "AtomicOp unconditional swap; answered by CPL_D with the old value"),
        OpcodeInfo(Opcode.CAS, FcClass.NON_POSTED, True, (8, 16), "reserved", _ZERO, "atomic",
                   "AtomicOp compare-and-swap; payload is compare then swap value; CPL_D has the old value"),
        OpcodeInfo(Opcode.MSG, FcClass.POSTED, False, _ZERO, "message code", _BYTE, "pcie",
                   "message without data (PCIe Msg); aux is the message code"),
        OpcodeInfo(Opcode.MSG_D, FcClass.POSTED, True, _ANY_LENGTH, "message code", _BYTE, "pcie",
                   "message with data (PCIe MsgD); aux is the message code"),
        OpcodeInfo(Opcode.STORE, FcClass.POSTED, True, range(1, 257), "reserved", _ZERO, "load/store",
                   "fine-grained store of up to 256 B (OISA load/store mode); no completion"),
        OpcodeInfo(Opcode.LOAD, FcClass.NON_POSTED, False, range(1, 257), "reserved", _ZERO, "load/store",
                   "fine-grained load of up to 256 B; answered by CPL_D"),
        OpcodeInfo(Opcode.DMA_WR, FcClass.NON_POSTED, True, _ANY_LENGTH, "reserved", _ZERO, "dma",
                   "bulk DMA write of up to 4 KiB; answered by CPL (possibly early, see ec)"),
        OpcodeInfo(Opcode.DMA_RD, FcClass.NON_POSTED, False, _ANY_LENGTH, "reserved", _ZERO, "dma",
                   "bulk DMA read of up to 4 KiB; answered by one or more CPL_D"),
        OpcodeInfo(Opcode.CXL_MEM_RD, FcClass.NON_POSTED, False, (64,), "reserved", _ZERO, "cxl",
                   "CXL.mem M2S Req MemRd of one 64-byte line; answered by CXL_DRS"),
        OpcodeInfo(Opcode.CXL_MEM_WR, FcClass.NON_POSTED, True, (64,), "reserved", _ZERO, "cxl",
                   "CXL.mem M2S RwD MemWr of one 64-byte line; answered by CXL_NDR Cmp"),
        OpcodeInfo(Opcode.CXL_MEM_INV, FcClass.NON_POSTED, False, (64,), "reserved", _ZERO, "cxl",
                   "CXL.mem M2S Req MemInv of one 64-byte line; answered by CXL_NDR"),
        OpcodeInfo(Opcode.COLL_REDUCE, FcClass.POSTED, True, _ANY_LENGTH, "reserved", _ZERO, "collective",
                   "contribution to an in-switch reduction; followed by the 8-byte collective extension"),
        OpcodeInfo(Opcode.CPL, FcClass.COMPLETION, False, range(0, 4097), "status", _STATUS, "completion",
                   "completion without data; aux is the status; length is the byte count completed"),
        OpcodeInfo(Opcode.CPL_D, FcClass.COMPLETION, True, _ANY_LENGTH, "status", _STATUS, "completion",
                   "completion with data; address is that of the first byte it carries"),
        OpcodeInfo(Opcode.CXL_NDR, FcClass.COMPLETION, False, _ZERO, "NDR opcode",
                   tuple(int(o) for o in CxlNdrOp), "cxl", "CXL.mem S2M NDR (no-data response)"),
        OpcodeInfo(Opcode.CXL_DRS, FcClass.COMPLETION, True, (64,), "DRS opcode",
                   tuple(int(o) for o in CxlDrsOp), "cxl", "CXL.mem S2M DRS (data response, one line)"),
    )
}
