"""Messages per wall second through a pair of link endpoints, clean and with bit errors.

Two sans-IO endpoints (``oisa.testing.link.LinkPair``: 256-byte flits, 2.56 ns per flit, i.e.
800 Gb/s, and 100 ns of latency each way) carry a stream of messages from one to the other;
the wire flips bits at the given error rate, the CRC catches them, NAKs and replays repair
them. We report wall-clock throughput, and from the link's own counters the retransmission
overhead: flits sent again as a share of flits sent once. Every run checks that what arrived
is exactly what was sent.

    python benchmarks/link.py [--messages N] [--size BYTES] [--ber 1e-6 ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from oisa.testing.link import LinkPair, bit_errors, no_faults
from oisa.units import S
from oisa.wire.oisa import Message, Opcode


def run(count: int, size: int, ber: float, seed: int) -> dict[str, float]:
    messages = [Message(Opcode.MEM_WR, 0, 1, length=size, address=i * size, payload=bytes([i % 251]) * size)
                for i in range(count)]
    fault = bit_errors(np.random.default_rng(seed), ber) if ber else no_faults
    pair = LinkPair(fault=fault)
    start = time.perf_counter()
    for message in messages:
        pair.send("a", message)
    if not pair.run_until_quiet(10 * S):
        raise RuntimeError("the link did not drain")
    wall = time.perf_counter() - start
    if pair.delivered("b") != messages:
        raise RuntimeError("delivered messages differ from those sent")
    stats = pair.a.stats
    return {
        "ber": ber,
        "messages_per_s": count / wall,
        "flits_sent": stats.flits_sent,
        "flits_replayed": stats.flits_replayed,
        "retransmission_overhead_percent": 100 * stats.flits_replayed / stats.flits_sent,
        "naks": stats.naks_received,
        "crc_errors": pair.b.stats.crc_errors,
        "virtual_goodput_GBps": count * size / (pair.now / S) / 1e9,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--size", type=int, default=1024, help="payload bytes per message")
    parser.add_argument("--ber", type=float, nargs="+", default=[0.0, 1e-6])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    rows = [run(args.messages, args.size, ber, args.seed) for ber in args.ber]
    print(f"{args.messages} MEM_WR messages of {args.size} B through one link (800 Gb/s, 100 ns), seed {args.seed}")
    print(f"{'BER':>8} {'msgs/s':>10} {'flits':>8} {'replayed':>9} {'overhead':>9} {'NAKs':>6} {'goodput':>12}")
    for r in rows:
        print(f"{r['ber']:>8.0e} {r['messages_per_s']:>10,.0f} {r['flits_sent']:>8} {r['flits_replayed']:>9} "
              f"{r['retransmission_overhead_percent']:>8.2f}% {r['naks']:>6} {r['virtual_goodput_GBps']:>8.1f} GB/s")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
