"""Throughput of the PCIe codecs: the fast struct codec against the normative construct one.

For a few representative frames (a header-only read, a completion with 64 bytes, a 4DW write
with 256 bytes and an ECRC, an UpdateFC DLLP, a wrapped TLP) we time encode and decode with
each codec in the same process and report frames per wall second, best of ``--repeat`` runs.

    python benchmarks/pcie_codec.py [--frames N] [--repeat N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from collections.abc import Callable
from typing import Any

from oisa.wire.pcie import (
    Dllp,
    DllpType,
    Tlp,
    TlpType,
    decode_dllp,
    decode_dllp_construct,
    decode_tlp,
    decode_tlp_construct,
    encode_dllp,
    encode_dllp_construct,
    encode_tlp,
    encode_tlp_construct,
    unwrap_tlp,
    unwrap_tlp_construct,
    wrap_tlp,
    wrap_tlp_construct,
)

TLPS = {
    "MRd 3DW, no data": Tlp(TlpType.MRD_32, length=16, requester_id=0x0100, tag=7, last_be=0xF, first_be=0xF,
                            address=0x8000_0000),
    "CplD, 64 B": Tlp(TlpType.CPLD, length=16, completer_id=0x0300, byte_count=64, requester_id=0x0100, tag=7,
                      data=bytes(64)),
    "MWr 4DW, 256 B, ECRC": Tlp(TlpType.MWR_64, td=True, length=64, requester_id=0x0100, last_be=0xF, first_be=0xF,
                                address=0x1_0000_0000, data=bytes(256)),
}
DLLP = Dllp(DllpType.UPDATE_FC_P, hdr_fc=32, data_fc=512)


def rate(work: Callable[[], Any], frames: int, repeat: int) -> float:
    return frames / min(timeit.repeat(work, number=frames, repeat=repeat))


def cases() -> list[tuple[str, str, Callable[[], Any], Callable[[], Any]]]:
    """(frame, operation, fast, construct) for every measurement."""
    out = []
    for name, tlp in TLPS.items():
        raw = encode_tlp(tlp)
        out.append((name, "encode", lambda t=tlp: encode_tlp(t), lambda t=tlp: encode_tlp_construct(t)))
        out.append((name, "decode", lambda r=raw: decode_tlp(r), lambda r=raw: decode_tlp_construct(r)))
    dllp = encode_dllp(DLLP)
    out.append(("UpdateFC-P DLLP", "encode", lambda: encode_dllp(DLLP), lambda: encode_dllp_construct(DLLP)))
    out.append(("UpdateFC-P DLLP", "decode", lambda: decode_dllp(dllp), lambda: decode_dllp_construct(dllp)))
    tlp = encode_tlp(TLPS["CplD, 64 B"])
    wrapped = wrap_tlp(1, tlp)
    out.append(("CplD wrapped (seq + LCRC)", "wrap", lambda: wrap_tlp(1, tlp), lambda: wrap_tlp_construct(1, tlp)))
    out.append(("CplD wrapped (seq + LCRC)", "unwrap", lambda: unwrap_tlp(wrapped),
                lambda: unwrap_tlp_construct(wrapped)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000, help="frames per timed run of the fast codec")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best one counts")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    rows = []
    print("| frame | operation | fast (frames/s) | construct (frames/s) | ratio |\n|---|---|---|---|---|")
    for frame, operation, fast, slow in cases():
        fast_rate = rate(fast, args.frames, args.repeat)
        slow_rate = rate(slow, max(1, args.frames // 20), args.repeat)
        rows.append(dict(frame=frame, operation=operation, fast=round(fast_rate), construct=round(slow_rate)))
        print(f"| {frame} | {operation} | {fast_rate:,.0f} | {slow_rate:,.0f} | {fast_rate / slow_rate:.0f}x |")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
