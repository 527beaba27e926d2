"""OISA message codecs side by side: construct (the normative schema), oisa's fast codec, and a
plain ``struct`` reference of the same layout.

The reference is the floor of what Python can do for this layout: one ``struct`` call and a
concatenation, no objects, no checks. The fast codec does the same work plus everything a
decoder must do (build a :class:`Message`, check it against the opcode table). All three run
on the same mix of messages in one process, taking turns, best of several rounds.

    python benchmarks/codec.py [--messages N] [--rounds N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from collections.abc import Callable

from oisa.wire import Message, Opcode, decode_message, encode_message
from oisa.wire.message import decode_message_construct, encode_message_construct

_HEADER = struct.Struct(">BBBBHHHHQ")


def mix(count: int) -> list[Message]:
    """A plausible mix: loads and stores, DMA writes and their completions, read data."""
    kinds = [
        Message(Opcode.LOAD, 1, 2, tag=3, length=64, address=0x1000),
        Message(Opcode.STORE, 1, 2, length=64, address=0x2000, payload=bytes(64)),
        Message(Opcode.DMA_WR, 1, 2, tag=4, length=256, address=0x3000, payload=bytes(256)),
        Message(Opcode.CPL, 2, 1, tag=4, length=256),
        Message(Opcode.CPL_D, 2, 1, tag=3, length=64, address=0x1000, payload=bytes(64)),
    ]
    return [kinds[i % len(kinds)] for i in range(count)]


def struct_encode(m: Message) -> bytes:
    return _HEADER.pack(m.opcode, m.tc << 5, m.aux, 0, m.src, m.dst, m.tag, m.length, m.address) + m.payload


def struct_decode(data: bytes) -> tuple[int, ...]:
    fields = _HEADER.unpack_from(data)
    return fields + (data[20:],)


CODECS: dict[str, tuple[Callable[[Message], bytes], Callable[[bytes], object]]] = {
    "construct (normative schema)": (encode_message_construct, decode_message_construct),
    "oisa fast codec": (encode_message, lambda data: decode_message(data)[0]),
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
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    messages = mix(args.messages)
    frames = [encode_message(m) for m in messages]
    slow = max(1, args.messages // 20)  # construct is slow: time it on fewer messages
    # The codecs take turns in every round, so that a noisy neighbour on a shared machine slows
    # all of them rather than one; each keeps its best round.
    results = {name: {"encode": 0.0, "decode": 0.0} for name in CODECS}
    for _ in range(args.rounds):
        for name, (encode, decode) in CODECS.items():
            count = slow if name.startswith("construct") else args.messages
            for direction, fn, items in (("encode", encode, messages[:count]), ("decode", decode, frames[:count])):
                results[name][direction] = max(results[name][direction], count / elapsed(fn, items))
    reference = results["plain struct reference"]
    print(f"OISA messages, mix of LOAD/STORE/DMA_WR/CPL/CPL_D, best of {args.rounds}")
    print(f"{'codec':<30} {'encode/s':>12} {'decode/s':>12} {'enc vs struct':>14} {'dec vs struct':>14}")
    for name, r in results.items():
        print(f"{name:<30} {r['encode']:>12,.0f} {r['decode']:>12,.0f} "
              f"{r['encode'] / reference['encode']:>13.2f}x {r['decode'] / reference['decode']:>13.2f}x")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
