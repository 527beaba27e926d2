"""In-switch all-reduce: every rank sends its buffer to the switches that reduce, each switch a
share of it, and the switches write the reduction into every rank's output.

NVIDIA's NVLink SHARP (NCCL's NVLS algorithm, ``src/transport/nvls.cc``) and InfiniBand SHARP
(CollNet) do this in NVSwitch and in the network switches; OISA puts the same offload into its
switch chips (``COLL_REDUCE``, ``specs/oisa-protocol.md``). Every rank moves its buffer once each
way, whatever the number of ranks, so the bus bandwidth nccl-tests computes, 2 (n - 1) / n times
the algorithm bandwidth, can exceed the links' rate (nccl-tests ``doc/PERFORMANCE.md``: "AllReduce
(In-Network Reduction)"). Only the Simple protocol, as NCCL allows for NVLS and CollNet
(``src/graph/tuning.cc``).
"""

from __future__ import annotations

from oisa.ccl.schedule import Context, Emitter, Flowbook, Layout, layout, parts
from oisa.plan import Await, Contribute, Delay

__all__ = ["AllReduce", "available"]


def available(ctx: Context) -> str | None:
    topology = ctx.topology
    if not topology.reducing_switches:
        return "no switch that reduces (reduction = true) reaches every rank"
    lacking = [topology.ranks[r] for r in range(ctx.n) if not topology.offloads(r)]
    if lacking:
        return (f"every card must start contributions (capability collective_offload); {len(lacking)} cannot "
                f"(cards {', '.join(map(str, lacking[:4]))}{', ...' if len(lacking) > 4 else ''})")
    return None


def _shares(ctx: Context) -> list[tuple[int, int, int]]:
    """(switch, offset, size): the buffer shared out over the reducing switches (every channel
    takes the same paths, so they move as one lane)."""
    offset, size = ctx.share(ctx.lanes(1)[0])
    switches = ctx.topology.reducing_switches
    shares = parts(size, len(switches), ctx.call.itemsize)
    return [(s, offset + o, n) for s, (o, n) in zip(switches, shares, strict=True)]


class AllReduce:
    """Contributions to every reducing switch, results awaited in the output."""

    @staticmethod
    def layout(ctx: Context) -> Layout:
        return layout(ctx, 1, 0, 0)

    @staticmethod
    def emit(ctx: Context, em: Emitter) -> None:
        call = ctx.call
        for card in call.ranks:
            for switch, offset, size in _shares(ctx):
                if size > 0:
                    em.add(Contribute(card, switch, call.group, ctx.n, call.output + offset, call.input + offset, size,
                                      call.dtype, call.op))
                    em.add(Await(card, call.output + offset, size))
            busy = ctx.protocol.busy_ps(call.size, ctx.channels)  # the card's channels copy the whole buffer
            if busy:
                em.add(Delay(card, busy))

    @staticmethod
    def flows(ctx: Context, book: Flowbook) -> None:
        flows = []
        shares = [(switch, size) for switch, _, size in _shares(ctx) if size > 0]
        for switch, size in shares:
            for card in ctx.call.ranks:
                flows += [(card, switch, float(size)), (switch, card, float(size))]
        # a card's channels copy its whole buffer, which its flows to the switches share
        book.close(1, latency=False, switch_flows=flows, width=ctx.channels / max(1, len(shares)))
