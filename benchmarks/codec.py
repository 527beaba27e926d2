"""OISA message codecs side by side: construct (the normative schema), oisa's fast codec, and a
plain ``struct`` reference of the same layout.

The reference is the floor of what Python can do for this layout: it writes and reads every
field of the header (the bit fields of the flags and telemetry bytes too), with one ``struct``
call, no objects and no checks. Before timing, the benchmark makes sure it writes the same
bytes as the fast codec and reads back the same fields, so that the floor is a floor of the
same work. The fast codec does that work plus what a codec must (check every message against
the opcode table, build a :class:`Message`). Every decoder is called as the emulation calls
``decode_message``: on a buffer, giving back what it read and the offset after it. All three run
on the same mix of messages in one process, taking turns; a rate is a codec's best round, a
ratio the median over rounds of the ratio within each round.

    python benchmarks/codec.py [--messages N] [--rounds N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
import time
from collections.abc import Callable

from oisa.wire.oisa import (
    OPCODES,
    CollDtype,
    CollExt,
    CollOp,
    Message,
    Opcode,
    decode_message,
    decode_message_construct,
    encode_message,
    encode_message_construct,
)

_HEADER = struct.Struct(">BBBBHHHHQ")
_HEADER_SIZE = _HEADER.size
_COLL = struct.Struct(">HHBBH")
_COLL_REDUCE = int(Opcode.COLL_REDUCE)
_ADDRESS_MASK = (1 << 57) - 1
# The two bit-field bytes split once for each of their 256 values, as a careful hand-written
# decoder would.
_FLAG_BITS = tuple((b >> 5, b >> 4 & 1, b >> 3 & 1, b >> 2 & 1, b >> 1 & 1, b & 1) for b in range(256))
_TELEMETRY_BITS = tuple((b >> 5, b & 31) for b in range(256))
# Even a decoder without checks must know where a message ends.
_CARRIES_PAYLOAD = frozenset(int(op) for op, info in OPCODES.items() if info.has_payload)


def mix(count: int) -> list[Message]:
    """A plausible mix: loads and stores, DMA writes and their completions, read data."""
    kinds = [
        Message(Opcode.LOAD, 1, 2, tag=3, length=64, address=0x1000),
        Message(Opcode.STORE, 1, 2, length=64, address=0x2000, payload=bytes(64), ro=True),
        Message(Opcode.DMA_WR, 1, 2, tag=4, length=256, address=0x3000, payload=bytes(256), tc=2, ec=True),
        Message(Opcode.CPL, 2, 1, tag=4, length=256, load=3, hops=2),
        Message(Opcode.CPL_D, 2, 1, tag=3, length=64, address=0x1000, payload=bytes(64), hops=1),
    ]
    return [kinds[i % len(kinds)] for i in range(count)]


# Not in the timed mix (the emulation sends contributions only to switches that reduce), but the
# reference must write and read the layout's collective extension as the codec does.
COLLECTIVE = Message(Opcode.COLL_REDUCE, 1, 0x8000, length=8, payload=bytes(8), ro=True,
                     coll=CollExt(group=3, members=4, op=CollOp.SUM, dtype=CollDtype.FLOAT32))


def struct_encode(m: Message) -> bytes:
    head = _HEADER.pack(m.opcode, m.tc << 5 | m.ns << 4 | m.ro << 3 | m.ido << 2 | m.ep << 1 | m.ec, m.aux,
                        m.load << 5 | m.hops, m.src, m.dst, m.tag, m.length, m.address)
    if m.coll is not None:
        head += _COLL.pack(m.coll.group, m.coll.members, m.coll.op, m.coll.dtype, 0)
    return head + m.payload


def struct_decode(data: bytes, offset: int = 0) -> tuple[tuple[object, ...], int]:
    """Every field in the order of the header, then the payload; and the offset after it."""
    opcode, flags, aux, tele, src, dst, tag, length, address = _HEADER.unpack_from(data, offset)
    tc, ns, ro, ido, ep, ec = _FLAG_BITS[flags]
    load, hops = _TELEMETRY_BITS[tele]
    start = offset + _HEADER_SIZE
    coll = None
    if opcode == _COLL_REDUCE:
        coll = _COLL.unpack_from(data, start)[:4]
        start += _COLL.size
    end = start + length if opcode in _CARRIES_PAYLOAD else start
    return (opcode, tc, ns, ro, ido, ep, ec, aux, load, hops, src, dst, tag, length, address & _ADDRESS_MASK, coll,
            data[start:end]), end


def check_reference(messages: list[Message]) -> None:
    """The reference writes the fast codec's bytes and reads back the fields it wrote."""
    for m in messages:
        frame = encode_message(m)
        if struct_encode(m) != frame:
            raise SystemExit(f"the struct reference writes other bytes than the codec for {m}")
        fields, end = struct_decode(frame)
        coll = m.coll and (m.coll.group, m.coll.members, m.coll.op, m.coll.dtype)
        expected = (m.opcode, m.tc, m.ns, m.ro, m.ido, m.ep, m.ec, m.aux, m.load, m.hops, m.src, m.dst, m.tag,
                    m.length, m.address, coll, m.payload)
        if fields != expected or end != len(frame):
            raise SystemExit(f"the struct reference reads {fields} back from {m}")


CODECS: dict[str, tuple[Callable[[Message], bytes], Callable[[bytes], object]]] = {
    "construct (normative schema)": (encode_message_construct, decode_message_construct),
    "oisa fast codec": (encode_message, decode_message),
    "plain struct reference": (struct_encode, struct_decode),
}


def elapsed(fn: Callable[[object], object], items: list) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    messages = mix(args.messages)
    check_reference([*messages[:5], COLLECTIVE])
    frames = [encode_message(m) for m in messages]
    slow = max(1, args.messages // 20)  # construct is slow: time it on fewer messages
    # The codecs take turns in every round, so that a noisy neighbour on a shared machine slows
    # all of them rather than one. Rates are each codec's best round; a ratio is taken within
    # each round, between codecs timed moments apart, and the median over rounds is reported.
    rates: dict[str, dict[str, list[float]]] = {name: {"encode": [], "decode": []} for name in CODECS}
    for _ in range(args.rounds):
        for name, (encode, decode) in CODECS.items():
            count = slow if name.startswith("construct") else args.messages
            for direction, fn, items in (("encode", encode, messages[:count]), ("decode", decode, frames[:count])):
                rates[name][direction].append(count / elapsed(fn, items))
    reference = rates["plain struct reference"]
    results = {
        name: {direction: {"per_second": max(r[direction]),
                           "vs_struct": statistics.median(a / b for a, b in zip(r[direction], reference[direction]))}
               for direction in ("encode", "decode")}
        for name, r in rates.items()
    }
    print(f"OISA messages, mix of LOAD/STORE/DMA_WR/CPL/CPL_D; rates best of {args.rounds} rounds, "
          f"ratios median of the rounds")
    print(f"{'codec':<30} {'encode/s':>12} {'decode/s':>12} {'enc vs struct':>14} {'dec vs struct':>14}")
    for name, r in results.items():
        enc, dec = r["encode"], r["decode"]
        print(f"{name:<30} {enc['per_second']:>12,.0f} {dec['per_second']:>12,.0f} "
              f"{enc['vs_struct']:>13.2f}x {dec['vs_struct']:>13.2f}x")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
