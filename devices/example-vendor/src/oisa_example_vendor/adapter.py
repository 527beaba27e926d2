"""The XLink adapter of Example Semiconductor: the template a GPU vendor copies to join oisa.

Example Semiconductor and its native link, XLink, are invented. The card speaks XLink frames;
oisa speaks OISA messages (:class:`oisa.wire.oisa.message.Message`). This module is the whole bridge
between the two, in three parts a vendor replaces with its own:

1. **The frame layout** (:data:`HEADER`, :data:`LAYOUT`, :data:`CHECKSUM`): the bytes the device
   puts on its native interface.
2. **The op-code map** (:class:`XLinkOp`, :data:`TO_OISA`): which native operation means which OISA
   opcode, and, by omission, what cannot cross (:data:`CANNOT_CARRY` says why).
3. **The adapter** (:class:`ExampleXLinkAdapter`): what the card declares it can do, how it moves
   bulk data, and the two conversions. The card calls them on every message crossing its
   boundary, so a field the frame loses is lost for real and a bad frame stops real traffic.

XLink frame, all fields little-endian (the device's DMA engines are little-endian; OISA
messages are big-endian, and the adapter is where byte order changes)::

    byte  0      op         XLink op code (XLinkOp)
    byte  1      flags      bits 0-2 traffic class, 3 no-snoop, 4 relaxed ordering,
                            5 ID-based ordering, 6 poisoned, 7 early completion
    byte  2      status     completion status (PCIe encoding, as OISA); 0 on requests
    byte  3      telemetry  bits 0-4 hops, bits 5-7 load (congestion 0-7)
    bytes 4-5    src        sending card id
    bytes 6-7    dst        receiving card id
    bytes 8-9    tag        matches completions to requests
    bytes 10-11  length     payload bytes, or bytes asked for by a read
    bytes 12-19  address    byte address; bits 57-63 must be zero
    bytes 20-    payload    ``length`` bytes for WRITE, PUT and DATA, none otherwise
    last 2       checksum   CRC-16/XMODEM of every byte before it

Every OISA field has a home in the frame, so a message survives the round trip whole. A native
format that lacks a field (no telemetry, say) must either rebuild it from adapter state or
refuse, with :class:`~oisa.errors.BridgeError`, the messages whose value it would lose.
"""

from __future__ import annotations

import binascii
import enum
import struct
from typing import ClassVar

from oisa.device.adapter import Capability, DeviceAdapter, TransferPlan
from oisa.errors import BridgeError, CrcError, FrameError
from oisa.wire.oisa import ADDRESS_BITS, OPCODES, Message, Opcode, check_message

__all__ = ["CANNOT_CARRY", "CHECKSUM", "FMT", "HEADER", "LAYOUT", "TO_OISA", "TO_XLINK", "ExampleXLinkAdapter",
           "XLinkOp"]

FMT = "xlink"  # the format name every FrameError starts with

# -- 1. The frame layout (replace with your device's) -----------------------------------------

HEADER = struct.Struct("<BBBBHHHHQ")  # op, flags, status, telemetry, src, dst, tag, length, address
# CRC-16/XMODEM, which the standard library computes (binascii.crc_hqx): it catches every burst
# of up to 16 flipped bits. Use whatever check your hardware computes on its frames.
CHECKSUM = struct.Struct("<H")

# Field name and first byte, in frame order: errors name the field a bad byte belongs to.
LAYOUT: tuple[tuple[str, int], ...] = (
    ("op", 0), ("flags", 1), ("status", 2), ("telemetry", 3), ("src", 4), ("dst", 6),
    ("tag", 8), ("length", 10), ("address", 12), ("payload", HEADER.size),
)
OFFSET = dict(LAYOUT)

_RESERVED_ADDRESS = ~((1 << ADDRESS_BITS) - 1) & 0xFFFF_FFFF_FFFF_FFFF  # bits 57-63


# -- 2. The op-code map (replace with your device's operations) --------------------------------

class XLinkOp(enum.IntEnum):
    """XLink's own op codes. They need not match OISA's numbering: the map below translates."""

    WRITE = 0x1  # bulk write, acknowledged by ACK
    READ = 0x2  # bulk read, answered by DATA
    PUT = 0x3  # small store (up to 256 B), no answer
    GET = 0x4  # small load (up to 256 B), answered by DATA
    ACK = 0x8  # completion without data
    DATA = 0x9  # completion with data


TO_OISA: dict[XLinkOp, Opcode] = {
    XLinkOp.WRITE: Opcode.DMA_WR,
    XLinkOp.READ: Opcode.DMA_RD,
    XLinkOp.PUT: Opcode.STORE,
    XLinkOp.GET: Opcode.LOAD,
    XLinkOp.ACK: Opcode.CPL,
    XLinkOp.DATA: Opcode.CPL_D,
}
TO_XLINK: dict[Opcode, XLinkOp] = {opcode: op for op, opcode in TO_OISA.items()}

# Why each family of OISA opcodes that XLink lacks cannot cross, for the BridgeError message.
# Arriving messages of these kinds are not lost: the card's OISA endpoint serves them itself.
CANNOT_CARRY: dict[str, str] = {
    "pcie": "XLink has no PCIe memory requests or messages (it moves data with WRITE and READ)",
    "atomic": "XLink has no atomic operations",
    "cxl": "XLink has no CXL.mem line protocol",
    "collective": "XLink cards do not contribute to in-switch reductions",
}


# -- 3. The adapter ----------------------------------------------------------------------------

class ExampleXLinkAdapter(DeviceAdapter):
    """Bridges an Example Semiconductor card's XLink frames and OISA messages.

    Stateless: every XLink frame carries all that its OISA message says, so no request needs
    remembering to rebuild a completion (a PCIe bridge, by contrast, must remember each read to
    fill in byte counts).
    """

    name: ClassVar[str] = "example-xlink"  # the entry-point name; profiles select it with adapter = "..."
    native: ClassVar[str] = "vendor"  # a profile using this adapter must say native = "vendor"
    summary: ClassVar[str] = "Example Semiconductor XLink (invented): DMA and load/store, CRC-16 frames"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.DMA, Capability.LOAD_STORE})
    profiles: ClassVar[tuple[str, ...]] = ("oisa_example_vendor:profiles/example-gpu.toml",)
    # Every frame ends in a checksum over all the bytes before it: declare it, and the kit checks
    # that a frame with any byte changed is refused (ADP-INTEGRITY-001). None if yours has none.
    integrity: ClassVar[str | None] = "CRC-16/XMODEM"

    def transfer_plan(self) -> TransferPlan:
        """Bulk copies use acknowledged WRITE and READ (DMA_WR, DMA_RD): the ACK of each write
        says it has landed, so no read-back flush is needed. Sizes come from the profile."""
        return TransferPlan(write=Opcode.DMA_WR, read=Opcode.DMA_RD,
                            max_write=int(self.profile.max_payload.value),
                            max_read=int(self.profile.max_read_request.value))

    def to_native(self, message: Message) -> bytes:
        """The XLink frame for ``message``; :class:`BridgeError` if XLink has no such operation."""
        check_message(message)  # a malformed message is the sender's bug; say so before packing
        op = TO_XLINK.get(message.opcode)
        if op is None:
            info = OPCODES[message.opcode]
            why = CANNOT_CARRY.get(info.family, "XLink has no such operation")
            raise BridgeError(f"{self.name}: {info.opcode.name} cannot cross to XLink: {why}")
        flags = (message.tc | message.ns << 3 | message.ro << 4 | message.ido << 5
                 | message.ep << 6 | message.ec << 7)
        telemetry = message.hops | message.load << 5
        body = HEADER.pack(op, flags, message.aux, telemetry, message.src, message.dst, message.tag,
                           message.length, message.address) + message.payload
        return body + CHECKSUM.pack(binascii.crc_hqx(body, 0))

    def from_native(self, frame: bytes) -> Message:
        """The OISA message an XLink frame stands for.

        Raises :class:`FrameError` (:class:`CrcError` for a bad checksum) naming the field and
        its byte offset. The frame's size follows from ``op`` and ``length``, so those are read
        first; the checksum is checked before any other field is trusted.
        """
        data = bytes(frame)
        if len(data) < HEADER.size:
            raise _truncated(data, f"shorter than the {HEADER.size}-byte header")
        raw_op, flags, status, telemetry, src, dst, tag, length, address = HEADER.unpack_from(data)
        if raw_op not in TO_OISA:
            raise _error(f"unknown op 0x{raw_op:02x} (known: {', '.join(op.name for op in XLinkOp)})", "op")
        op = XLinkOp(raw_op)
        info = OPCODES[TO_OISA[op]]
        if length not in info.lengths:
            raise _error(f"{length} is not a legal length for {op.name} "
                         f"({min(info.lengths)} to {max(info.lengths)})", "length")
        payload_size = length if info.has_payload else 0
        size = HEADER.size + payload_size + CHECKSUM.size
        if len(data) < size:
            raise _truncated(data, f"a {op.name} frame of length {length} is {size} bytes", size)
        if len(data) > size:
            raise FrameError(f"{len(data) - size} bytes after the end of the frame ({op.name} with length "
                             f"{length} is {size} bytes)", fmt=FMT, offset=size)
        (stored,) = CHECKSUM.unpack_from(data, size - CHECKSUM.size)
        computed = binascii.crc_hqx(data[:size - CHECKSUM.size], 0)
        if stored != computed:
            raise CrcError(f"checksum 0x{stored:04x} does not match the frame's contents (0x{computed:04x})",
                           fmt=FMT, field="checksum", offset=size - CHECKSUM.size)
        if status not in info.aux_values:
            raise _error(f"{status} is not a legal status for {op.name}", "status")
        if address & _RESERVED_ADDRESS:
            raise _error(f"address 0x{address:x} sets reserved bits 57-63", "address")
        return Message(
            TO_OISA[op], src, dst, tag=tag, length=length, address=address,
            payload=data[HEADER.size:HEADER.size + payload_size],
            tc=flags & 0b111, ns=bool(flags & 1 << 3), ro=bool(flags & 1 << 4), ido=bool(flags & 1 << 5),
            ep=bool(flags & 1 << 6), ec=bool(flags & 1 << 7), aux=status,
            load=telemetry >> 5, hops=telemetry & 0b11111,
        )


def _error(message: str, field: str) -> FrameError:
    return FrameError(message, fmt=FMT, field=field, offset=OFFSET[field])


def _truncated(data: bytes, why: str, size: int | None = None) -> FrameError:
    """A frame that ends early, naming the field it ends in: the checksum if the cut is past
    the payload of a frame ``size`` bytes long, else the field whose byte is missing."""
    cut = len(data)
    if size is not None and cut >= size - CHECKSUM.size:
        field = "checksum"
    else:
        field = [name for name, start in LAYOUT if start <= cut][-1]
    return FrameError(f"truncated: {cut} bytes ({why})", fmt=FMT, field=field, offset=cut)
