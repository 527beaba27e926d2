"""Golden vectors: chosen frames of every format, as hex with their decoded fields.

They live in ``specs/vectors/<format>.json``, next to the specification they illustrate, and
the test suite checks that the code still decodes every hex string to the recorded fields and
encodes the fields back to the same hex: a change of layout cannot pass unnoticed. After an
intended change, ``python -m oisa.vectors`` rewrites the files from the cases below.

The PCIe DLLP "Ack, sequence 0" vector reproduces a published CRC (antmicro/warp-pipe,
``tests/test_crc.cc``, Crc16Correct: 0x62B3, sent little-endian).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oisa.transaction.vdesc_bridge import message_to_vdesc
from oisa.wire.cxl import (
    S2MDRS,
    S2MNDR,
    DevLoad,
    M2SReq,
    M2SReqOpcode,
    M2SRwD,
    M2SRwDOpcode,
    S2MDRSOpcode,
    S2MNDROpcode,
    encode_cxl_mem,
    pack_cxl_mem,
)
from oisa.wire.formats import FORMATS, FormatOptions
from oisa.wire.oisa import (
    AckKind,
    CollDtype,
    CollExt,
    CollOp,
    ControlCode,
    CreditReturn,
    CxlNdrOp,
    FcClass,
    Flit,
    FlitKind,
    Message,
    Opcode,
    Status,
    encode_flit,
    encode_message,
)
from oisa.wire.pcie import Dllp, DllpType, Tlp, TlpType, encode_dllp, encode_tlp
from oisa.wire.vdesc import encode_vdesc

__all__ = ["CASES", "check", "render", "write"]

Case = tuple[str, Callable[[], bytes]]


def _two_messages_in_a_flit() -> bytes:
    stream = encode_message(Message(Opcode.LOAD, 3, 9, tag=1, length=64, address=0x2000)) + encode_message(
        Message(Opcode.STORE, 3, 9, tag=0, length=8, address=0x3000, payload=b"OISA-flt"))
    return encode_flit(Flit(FlitKind.DATA, seq=41, ack_kind=AckKind.ACK, ack_seq=17,
                            credit=CreditReturn(0, FcClass.POSTED, 130, 2100), first_msg=0, payload=stream), 256)


CASES: dict[str, list[Case]] = {
    "oisa-msg": [
        ("DMA write of 8 bytes, early completion allowed", lambda: encode_message(Message(
            Opcode.DMA_WR, 1, 2, tag=5, length=8, address=0x1000, payload=b"abcdefgh", ec=True))),
        ("DMA read of 4 KiB", lambda: encode_message(Message(Opcode.DMA_RD, 7, 63, tag=0x1234, length=4096,
                                                             address=0x40_0000_0000))),
        ("completion with 4 bytes of data, congestion seen 2 hops out", lambda: encode_message(Message(
            Opcode.CPL_D, 2, 1, tag=5, length=4, address=0x1000, payload=b"\x01\x02\x03\x04", load=5, hops=2))),
        ("unsupported request", lambda: encode_message(Message(Opcode.CPL, 2, 1, tag=6, aux=Status.UR))),
        ("64-byte load, relaxed ordering", lambda: encode_message(Message(Opcode.LOAD, 0, 1, length=64,
                                                                          address=0x80, ro=True))),
        ("compare-and-swap of 8-byte values", lambda: encode_message(Message(
            Opcode.CAS, 4, 5, tag=9, length=16, address=0x100, payload=bytes(range(16))))),
        ("CXL.mem read of one line", lambda: encode_message(Message(Opcode.CXL_MEM_RD, 10, 64, tag=77, length=64,
                                                                    address=0x10040))),
        ("CXL.mem Cmp-E response", lambda: encode_message(Message(Opcode.CXL_NDR, 64, 10, tag=77,
                                                                  aux=CxlNdrOp.CMP_E))),
        ("in-switch sum of two float32", lambda: encode_message(Message(
            Opcode.COLL_REDUCE, 3, 1000, length=8, address=0x8000, payload=bytes(8),
            coll=CollExt(group=2, members=64, op=CollOp.SUM, dtype=CollDtype.FLOAT32)))),
        ("vendor message 0x7e on traffic class 3", lambda: encode_message(Message(Opcode.MSG, 1, 2, aux=0x7E,
                                                                                  tc=3))),
    ],
    "oisa-flit": [
        ("data flit: a load and a store share it", _two_messages_in_a_flit),
        ("INIT_FC1: posted, non-posted and infinite completion credits", lambda: encode_flit(Flit(
            FlitKind.CONTROL, ControlCode.INIT_FC1, entries=[CreditReturn(0, FcClass.POSTED, 64, 1024),
                                                            CreditReturn(0, FcClass.NON_POSTED, 64, 1024),
                                                            CreditReturn(0, FcClass.COMPLETION, 0, 0)]), 256)),
        ("standalone NAK: sequence 99 was the last good flit", lambda: encode_flit(Flit(
            FlitKind.CONTROL, ControlCode.ACK, ack_kind=AckKind.NAK, ack_seq=99), 256)),
        ("RETRAIN", lambda: encode_flit(Flit(FlitKind.CONTROL, ControlCode.RETRAIN), 256)),
    ],
    "pcie-tlp": [
        ("MRd, 3DW, 1 DW at 0xdeadbeec", lambda: encode_tlp(Tlp(
            TlpType.MRD_32, length=1, requester_id=0x0100, tag=0x0F, first_be=0xF, address=0xDEADBEEC))),
        ("MWr, 4DW, 16 bytes above 4 GiB, relaxed ordering", lambda: encode_tlp(Tlp(
            TlpType.MWR_64, attr=0b010, length=4, requester_id=0x0300, tag=0x21, last_be=0xF, first_be=0xF,
            address=0x1_0000_0040, data=bytes(range(16))))),
        ("CplD, 4 bytes, byte count 4", lambda: encode_tlp(Tlp(
            TlpType.CPLD, length=1, completer_id=0x0200, requester_id=0x0100, tag=0x0F, byte_count=4,
            lower_address=0x6C, data=b"\xca\xfe\xf0\x0d"))),
        ("configuration read, type 0, register 0x10", lambda: encode_tlp(Tlp(
            TlpType.CFGRD0, length=1, requester_id=0x0000, tag=1, first_be=0xF, completer_id=0x0108,
            register=0x4))),
        ("FetchAdd, 4-byte operand", lambda: encode_tlp(Tlp(
            TlpType.FETCHADD_32, length=1, requester_id=0x0100, tag=2, first_be=0xF, address=0x1000,
            data=b"\x00\x00\x00\x01"))),
    ],
    "pcie-dllp": [
        ("Ack, sequence 0 (CRC 0x62b3, antmicro/warp-pipe tests/test_crc.cc)",
         lambda: encode_dllp(Dllp(DllpType.ACK, seq=0))),
        ("UpdateFC-P, VC0, 32 headers, 512 data credits", lambda: encode_dllp(Dllp(
            DllpType.UPDATE_FC_P, vc=0, hdr_fc=32, data_fc=512))),
        ("InitFC1-Cpl, VC1, infinite", lambda: encode_dllp(Dllp(DllpType.INIT_FC1_CPL, vc=1))),
        ("Nak, sequence 4095", lambda: encode_dllp(Dllp(DllpType.NAK, seq=4095))),
    ],
    "cxl-mem": [
        ("M2S Req MemRd", lambda: encode_cxl_mem(M2SReq(M2SReqOpcode.MEM_RD, tag=0x42, address=0x1000))),
        ("M2S RwD MemWr of one line", lambda: encode_cxl_mem(M2SRwD(
            M2SRwDOpcode.MEM_WR, tag=0x43, address=0x1040, data=bytes(range(64))))),
        ("S2M NDR Cmp, light load", lambda: encode_cxl_mem(S2MNDR(S2MNDROpcode.CMP, tag=0x43,
                                                                  dev_load=DevLoad.LIGHT_LOAD))),
        ("S2M DRS MemData", lambda: encode_cxl_mem(S2MDRS(S2MDRSOpcode.MEM_DATA, tag=0x42,
                                                         data=bytes(64)))),
    ],
    "vdesc": [
        ("COPY_WRITE of 8 bytes, early acknowledgement allowed", lambda: encode_vdesc(message_to_vdesc(Message(
            Opcode.DMA_WR, 4, 12, tag=7, length=8, address=0x2000, payload=b"vdesc-ok", ec=True)))),
        ("READ_RESPONSE of 4 bytes", lambda: encode_vdesc(message_to_vdesc(Message(
            Opcode.CPL_D, 12, 4, tag=8, length=4, address=0x2000, payload=b"\x01\x02\x03\x04")))),
    ],
    "cxl-flit": [
        ("protocol flit carrying two M2S Req MemRd (host to device)", lambda: pack_cxl_mem([
            M2SReq(M2SReqOpcode.MEM_RD, tag=1, address=0x1000), M2SReq(M2SReqOpcode.MEM_RD, tag=2, address=0x1040),
        ])[0]),
    ],
}


def render() -> dict[str, list[dict[str, Any]]]:
    """Every case as ``{"name", "hex", "fields"}``, the fields decoded by the code of today."""
    out: dict[str, list[dict[str, Any]]] = {}
    for fmt, cases in CASES.items():
        out[fmt] = [{"name": name, "hex": (frame := build()).hex(),
                     "fields": FORMATS[fmt].decode(frame, FormatOptions())} for name, build in cases]
    return out


def write(root: Path) -> list[Path]:
    directory = root / "specs" / "vectors"
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt, vectors in render().items():
        path = directory / f"{fmt}.json"
        path.write_text(json.dumps(vectors, indent=2) + "\n")
        written.append(path)
    return written


def check(root: Path) -> list[str]:
    """Problems with the committed vectors: each must decode to its fields and encode back."""
    problems = []
    for path in sorted((root / "specs" / "vectors").glob("*.json")):
        fmt = path.stem
        for vector in json.loads(path.read_text()):
            frame = bytes.fromhex(vector["hex"])
            if FORMATS[fmt].decode(frame, FormatOptions()) != vector["fields"]:
                problems.append(f"{path.name}: {vector['name']}: decodes to other fields now")
            elif FORMATS[fmt].encode(vector["fields"], FormatOptions()) != frame:
                problems.append(f"{path.name}: {vector['name']}: encodes to other bytes now")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oisa.vectors", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: here)")
    args = parser.parse_args(argv)
    for path in write(args.root):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
