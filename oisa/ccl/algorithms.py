"""Which algorithms run which collective, and building one: a call, an algorithm, a protocol and
a channel count become a :class:`~oisa.plan.Collective` whose ``expand`` gives its primitive
operations and whose ``phases`` give the same traffic as flows.

The table follows what the libraries offer (NCCL ``src/graph/tuning.cc``, the algorithms each
collective may use, 2.25): all-reduce by ring, tree, in-switch (NVLS, CollNet), and here also
direct and hierarchical; all-gather and reduce-scatter by ring (and direct); broadcast and reduce
by ring (and direct); all-to-all and send/receive point to point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol as Shape

from oisa.ccl import direct, hierarchical, inswitch, ring, tree
from oisa.ccl.kinds import Call
from oisa.ccl.library import Library
from oisa.ccl.schedule import Context, Emitter, Flowbook, Layout, Protocol, protocol
from oisa.ccl.topology import Topology
from oisa.plan import Collective, Delay, Phase, PrimitiveOp

__all__ = ["REGISTRY", "Algorithm", "Built", "algorithms_of", "build", "launch_floor_ps", "start_latency_ps"]


def _always(ctx: Context) -> str | None:
    return None


@dataclass(frozen=True)
class Algorithm:
    """One algorithm of one collective: its layout, its operations, its flows, and when it
    cannot run (a reason, or None)."""

    name: str
    layout: Callable[[Context], Layout]
    emit: Callable[[Context, Emitter], None]
    flows: Callable[[Context, Flowbook], None]
    available: Callable[[Context], str | None] = _always


class _Steps(Shape):
    """What an algorithm's class gives: how it lays a call out, emits it and counts its flows."""

    @staticmethod
    def layout(context: Context) -> Layout: ...

    @staticmethod
    def emit(context: Context, emitter: Emitter) -> None: ...

    @staticmethod
    def flows(context: Context, book: Flowbook) -> None: ...


def _entry(name: str, module: _Steps, available: Callable[[Context], str | None] = _always) -> Algorithm:
    return Algorithm(name, module.layout, module.emit, module.flows, available)


REGISTRY: dict[tuple[str, str], Algorithm] = {
    ("allreduce", "ring"): _entry("ring", ring.AllReduce),
    ("allreduce", "tree"): _entry("tree", tree.AllReduce),
    ("allreduce", "direct"): _entry("direct", direct.AllReduce),
    ("allreduce", "hierarchical"): _entry("hierarchical", hierarchical.AllReduce, hierarchical.available),
    ("allreduce", "in-switch"): _entry("in-switch", inswitch.AllReduce, inswitch.available),
    ("allgather", "ring"): _entry("ring", ring.AllGather),
    ("allgather", "direct"): _entry("direct", direct.AllGather),
    ("reducescatter", "ring"): _entry("ring", ring.ReduceScatter),
    ("reducescatter", "direct"): _entry("direct", direct.ReduceScatter),
    ("alltoall", "direct"): _entry("direct", direct.AllToAll),
    ("broadcast", "ring"): _entry("ring", ring.Broadcast),
    ("broadcast", "direct"): _entry("direct", direct.Broadcast),
    ("reduce", "ring"): _entry("ring", ring.Reduce),
    ("reduce", "direct"): _entry("direct", direct.Reduce),
    ("sendrecv", "direct"): _entry("direct", direct.SendRecv),
}


def algorithms_of(collective: str) -> tuple[str, ...]:
    return tuple(name for (kind, name) in REGISTRY if kind == collective)


def start_latency_ps(library: Library, call: Call, algorithm: str, protocol_name: str) -> int:
    """What a call costs before its first step: the kernel launch and the algorithm's base latency."""
    return library.value("launch.latency") + library.value(f"algorithms.{algorithm}.{protocol_name}")


def launch_floor_ps(library: Library, call: Call) -> int:
    """The least a call lasts when calls follow one another, as nccl-tests times them: one host
    thread launches the kernels of ``call.launchers`` GPUs (its ``-g``) one after another, and the
    next call cannot start on a GPU before its kernel is launched, so calls come no faster than
    the thread launches them."""
    return call.launchers * library.value("launch.per_gpu")


@dataclass(frozen=True)
class Built:
    """A call as the library would run it: the collective operation and its buffer layout."""

    collective: Collective
    layout: Layout
    protocol: Protocol
    operations: Callable[[], list[PrimitiveOp]]


def build(call: Call, topology: Topology, library: Library, algorithm: str, protocol_name: str, channels: int,
          info: dict[str, object] | None = None) -> Built:
    """``call`` by ``algorithm`` with ``protocol_name`` on ``channels`` channels, with ``info``
    (what the library chose and why) attached."""
    proto = protocol(library, protocol_name, channels, algorithm)
    ctx = Context(call, topology, proto, channels)
    entry = REGISTRY[(call.collective, algorithm)]
    where = entry.layout(ctx)
    book = Flowbook(call, topology, proto)
    entry.flows(ctx, book)
    phases: tuple[Phase, ...] = tuple(book.phases)

    start = start_latency_ps(library, call, algorithm, protocol_name)
    floor = launch_floor_ps(library, call) - start

    def operations() -> list[PrimitiveOp]:
        emitter = Emitter(call, topology, proto, where)
        entry.emit(ctx, emitter)
        if floor > 0:  # every rank is busy at least until the host has launched the next call
            for card in call.ranks:
                emitter.add(Delay(card, floor))
        return emitter.ops

    collective = Collective(call.collective, call.ranks, phases, operations, info=dict(info or {}),
                            start_latency_ps=start)
    return Built(collective, where, proto, operations)
