"""Plans: what a workload asks an engine to do, as plain data.

Workloads describe and engines execute. A workload (or the collective library on its behalf)
produces a :class:`Plan`: operations on cards (sends, reads, local reductions and copies,
compute, fixed delays, in-switch contributions) and the dependencies between them. The data
and timing engines build every frame of it; the flow engine gives its transfers rates by
max-min fairness. All three read the same plan, so they cannot disagree about *what* runs, only
about how precisely they time it.

A collective call is one :class:`Collective` operation that carries two descriptions of the
same traffic, written side by side by the collective library: ``expand`` gives its primitive
operations with every address (what the frame-level engines run, and what data mode checks
byte for byte), and ``phases`` its traffic as repeated patterns of concurrent flows (what the
flow engine runs at 100,000 cards, where the primitive operations would number billions). Tests
hold the two to the same bytes between the same cards.

This module is a foundation: it imports nothing of oisa but its errors, and knows neither
fabrics nor engines nor trio. Ranks here are card ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from oisa.errors import UsageError

__all__ = ["Await", "Collective", "Compute", "Contribute", "Copy", "Delay", "Execution", "Flows", "Op", "Phase",
           "Plan", "PlanBuilder", "Read", "Reduce", "Send", "Stream"]


@dataclass(frozen=True, slots=True)
class Send:
    """``rank`` writes ``size`` bytes from its ``local`` address into ``peer``'s memory at
    ``remote`` (a DMA write). Done when the bytes have landed at the peer, as a receiver polling
    a flag sees it; with ``confirmed``, only once the sender knows (its completion or flush has
    come back), as a blocking DMA call returns. ``path`` pins the transfer to one of the equal
    paths (a channel on its plane or link), None lets the fabric spread it. With ``stores`` the
    sender's compute units write the bytes as stores, as a collective library's kernel does over
    a load/store fabric, instead of queueing a copy for one of its DMA engines: it starts at once
    however many copies are under way, and keeps to one path (stores are ordered)."""

    rank: int
    peer: int
    size: int
    local: int
    remote: int
    deps: tuple[int, ...] = ()
    path: int | None = None
    confirmed: bool = False
    stores: bool = False

    def __post_init__(self) -> None:
        if self.stores and (self.path is not None or self.confirmed):
            raise UsageError("stores keep to one path and are never confirmed: a send by stores takes neither a "
                             "path nor confirmed", parameter="plan")


@dataclass(frozen=True, slots=True)
class Read:
    """``rank`` reads ``size`` bytes of ``peer``'s memory at ``remote`` into its ``local``
    address (a DMA read). Done when the last byte is in."""

    rank: int
    peer: int
    size: int
    local: int
    remote: int
    deps: tuple[int, ...] = ()
    path: int | None = None


@dataclass(frozen=True, slots=True)
class Reduce:
    """``target = op(sources...)`` over ``size`` bytes of ``dtype`` in ``rank``'s memory: the
    reads and the write go through its memory."""

    rank: int
    target: int
    sources: tuple[int, ...]
    size: int
    dtype: str
    op: str
    deps: tuple[int, ...] = ()

    @property
    def memory_bytes(self) -> int:
        return (len(self.sources) + 1) * self.size


@dataclass(frozen=True, slots=True)
class Copy:
    """A local copy of ``size`` bytes in ``rank``'s memory."""

    rank: int
    target: int
    source: int
    size: int
    deps: tuple[int, ...] = ()

    @property
    def memory_bytes(self) -> int:
        return 2 * self.size


@dataclass(frozen=True, slots=True)
class Stream:
    """``size`` bytes through ``rank``'s memory with no data to check (an optimizer pass over
    state, say): it costs memory time and nothing else."""

    rank: int
    size: int
    deps: tuple[int, ...] = ()

    @property
    def memory_bytes(self) -> int:
        return self.size


@dataclass(frozen=True, slots=True)
class Compute:
    """``flops`` operations at ``rank``'s rate for ``dtype`` (the names of its profile's rates)."""

    rank: int
    flops: float
    dtype: str
    deps: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Delay:
    """A fixed cost on ``rank``: a kernel launch, a synchronisation, a proxy's progress."""

    rank: int
    duration_ps: int
    deps: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Contribute:
    """``rank`` sends ``size`` bytes at ``local`` to ``switch`` as its contribution to an
    in-switch reduction of ``group`` (``members`` cards); the switch writes the result to
    ``result`` in every member. Done once sent: the members learn of the result by an
    :class:`Await` on it."""

    rank: int
    switch: int
    group: int
    members: int
    result: int
    local: int
    size: int
    dtype: str
    op: str
    deps: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Await:
    """Done once ``size`` bytes have landed at ``address`` in ``rank``'s memory, written by
    whoever writes them (an in-switch reduction's result)."""

    rank: int
    address: int
    size: int
    deps: tuple[int, ...] = ()


@dataclass(frozen=True)
class Flows:
    """Transfers that run at once, as parallel arrays: ``src`` sends ``size`` bytes to ``dst``
    over equal path ``path`` (-1: spread over all of them)."""

    src: np.ndarray
    dst: np.ndarray
    size: np.ndarray
    path: np.ndarray

    @classmethod
    def of(cls, src: Sequence[int] | np.ndarray, dst: Sequence[int] | np.ndarray,
           size: Sequence[float] | np.ndarray | float, path: Sequence[int] | np.ndarray | int = -1) -> Flows:
        """Flows from sequences; ``size`` and ``path`` may be one value for all."""
        sources = np.asarray(src, dtype=np.int64)
        count = len(sources)
        sizes = np.broadcast_to(np.asarray(size, dtype=np.float64), (count,)).copy()
        paths = np.broadcast_to(np.asarray(path, dtype=np.int64), (count,)).copy()
        return cls(sources, np.asarray(dst, dtype=np.int64), sizes, paths)

    def __post_init__(self) -> None:
        lengths = {len(self.src), len(self.dst), len(self.size), len(self.path)}
        if len(lengths) != 1:
            raise UsageError("a flow set's arrays must have one length each", parameter="flows")
        if len(self.src) and (np.any(self.size < 0) or np.any(self.src == self.dst)):
            raise UsageError("flows move 0 bytes or more between two different cards", parameter="flows")

    def __len__(self) -> int:
        return len(self.src)

    @property
    def total(self) -> float:
        return float(self.size.sum())


@dataclass(frozen=True)
class Phase:
    """One repeated step of a collective, as the flow engine runs it: ``flows`` move at once,
    every rank of ``memory_ranks`` streams ``memory_bytes`` through its memory alongside them
    (a reduction pipelined with the transfers), and the step costs ``latency_ps`` more (the
    library's per-step synchronisation); it happens ``repeat`` times back to back. No flow moves
    faster than ``rate_cap`` bytes per second (what one channel's threads can copy, flags
    included; 0: no cap but the links'). ``queued``: each flow stands for one transfer its card
    issues at the step's start, which the card's DMA engines take in the order listed (a direct
    exchange); otherwise the flows are streams a pipeline's steps keep moving together.
    ``interleaved``: each flow stands for many pieces (a pipelined tree or chain), which a card's
    channels send in turn, piece by piece: a card's flows share its ports side by side rather
    than queue one whole flow behind another."""

    flows: Flows
    repeat: int = 1
    latency_ps: int = 0
    memory_bytes: float = 0.0
    memory_ranks: tuple[int, ...] = ()
    rate_cap: float = 0.0
    queued: bool = False
    interleaved: bool = False

    def __post_init__(self) -> None:
        if self.repeat < 1 or self.latency_ps < 0 or self.memory_bytes < 0 or self.rate_cap < 0:
            raise UsageError("a phase repeats once or more, with no negative latency or bytes", parameter="phase")


@dataclass(frozen=True)
class Collective:
    """A collective call across ``ranks``: ``expand()`` gives its primitive operations (their
    dependencies count within the list) and ``phases`` the same traffic as repeated flow
    patterns. ``name`` and ``info`` say what it is and how the library chose to run it."""

    name: str
    ranks: tuple[int, ...]
    phases: tuple[Phase, ...]
    expand: Callable[[], Sequence[PrimitiveOp]] = field(repr=False, compare=False)
    deps: tuple[int, ...] = ()
    info: dict[str, object] = field(default_factory=dict, compare=False)
    start_latency_ps: int = 0  # before the first phase: the launch of the library's kernel


PrimitiveOp = Send | Read | Reduce | Copy | Stream | Compute | Delay | Contribute | Await
Op = PrimitiveOp | Collective


@dataclass(frozen=True)
class Plan:
    """Operations in an order where every dependency comes first (ids are list indices)."""

    ops: tuple[Op, ...]

    def __post_init__(self) -> None:
        for index, op in enumerate(self.ops):
            for dep in op.deps:
                if not 0 <= dep < index:
                    raise UsageError(f"operation {index} depends on {dep}, which does not come before it",
                                     parameter="plan")

    def __len__(self) -> int:
        return len(self.ops)

    def dependents(self) -> list[list[int]]:
        """For every operation, the operations that wait for it, in plan order: what an engine
        starts as it finishes one."""
        out: list[list[int]] = [[] for _ in self.ops]
        for index, op in enumerate(self.ops):
            for dep in op.deps:
                out[dep].append(index)
        return out

    def cards(self) -> set[int]:
        """Every card an operation names."""
        out: set[int] = set()
        for op in self.ops:
            if isinstance(op, Collective):
                out.update(op.ranks)
            else:
                out.add(op.rank)
                if isinstance(op, (Send, Read)):
                    out.add(op.peer)
        return out

    def expanded(self) -> Plan:
        """The plan with every collective replaced by its primitive operations: what the
        frame-level engines run. A collective's first operations wait for its dependencies, and
        whatever waited for the collective waits for all of its operations."""
        return self.expansion()[0]

    def expansion(self) -> tuple[Plan, tuple[tuple[int, ...], ...]]:
        """:meth:`expanded`, and for each operation of this plan the ids of the expanded plan's
        operations that stand for it."""
        ops: list[Op] = []
        where: list[tuple[int, ...]] = []  # old id -> the new ids that stand for it
        for op in self.ops:
            deps = tuple(new for dep in op.deps for new in where[dep])
            if isinstance(op, Collective):
                base = len(ops)
                launched: dict[int, tuple[int, ...]] = {rank: deps for rank in op.ranks}
                if op.start_latency_ps:  # every rank launches the library's kernel first
                    for rank in op.ranks:
                        ops.append(Delay(rank, op.start_latency_ps, deps))
                        launched[rank] = (len(ops) - 1,)
                offset = len(ops)
                for primitive in op.expand():
                    shifted = tuple(offset + d for d in primitive.deps)
                    ops.append(_with_deps(primitive, shifted if primitive.deps else launched[primitive.rank]))
                where.append(tuple(range(base, len(ops))))
            else:
                ops.append(_with_deps(op, deps))
                where.append((len(ops) - 1,))
        return Plan(tuple(ops)), tuple(where)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)


def _with_deps(op: Op, deps: tuple[int, ...]) -> Op:
    fields = {name: getattr(op, name) for name in op.__dataclass_fields__}
    fields["deps"] = deps
    return type(op)(**fields)


@dataclass(frozen=True)
class Execution:
    """What an engine made of a plan: when each operation of ``plan`` started and finished
    (ps, absolute, -1 for an operation an engine does not time one by one) and when the whole
    plan was done, every operation finished and every transfer settled. ``plan`` is the plan the
    times index: the expanded one for the frame-level engines; ``origin`` gives, for each
    operation of the plan the engine was given, the ids in ``plan`` that stand for it (empty when
    the engine ran that plan as given)."""

    plan: Plan
    start_ps: int
    end_ps: int
    started: np.ndarray
    finished: np.ndarray
    origin: tuple[tuple[int, ...], ...] = ()

    @property
    def duration_ps(self) -> int:
        return self.end_ps - self.start_ps

    def _ids(self, op: int) -> tuple[int, ...]:
        return self.origin[op] if self.origin else (op,)

    def started_of(self, op: int) -> int:
        """When operation ``op`` of the given plan started (the first of what stands for it)."""
        return int(min(self.started[i] for i in self._ids(op)))

    def finished_of(self, op: int) -> int:
        """When operation ``op`` of the given plan finished (the last of what stands for it)."""
        return int(max(self.finished[i] for i in self._ids(op)))


class PlanBuilder:
    """Builds a plan one operation at a time; :meth:`add` returns the new operation's id."""

    def __init__(self) -> None:
        self._ops: list[Op] = []

    def add(self, op: Op) -> int:
        self._ops.append(op)
        return len(self._ops) - 1

    def __len__(self) -> int:
        return len(self._ops)

    def build(self) -> Plan:
        return Plan(tuple(self._ops))
