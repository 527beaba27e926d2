"""Collectives over any fabric, by the algorithms collective libraries use, with checked data.

Every card of the collective (a *rank*) runs its part as a task; ranks move data with DMA
writes into their peers' memory and learn that a peer's data has landed by watching the range
it fills (:meth:`oisa.device.card.Card.watch`), as a kernel polling a flag would. Reductions
on a card cost the time their reads and writes take through the card's memory. With data (the
default for small sizes) every rank's buffer holds real values and the result is compared with
numpy's; ``timing`` mode moves no bytes, for large sizes.

Sizes mean what they mean in nccl-tests: the whole per-rank buffer for all-reduce, broadcast
and send/receive and all-to-all, the whole gathered buffer for all-gather, the whole scattered
buffer for reduce-scatter. So do bus bandwidths (:data:`COLLECTIVES`, ``bus_factor``): the
algorithm bandwidth times the share of the data each rank must move over its links whatever
the algorithm, so that figures compare with the links' speed.

Buffers are symmetric: every rank keeps its input at the plan's base address (0 for a collective
run on its own), its output just after, and scratch space after that, at the same addresses on
every card.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from oisa.device.adapter import Capability
from oisa.device.card import Card, Transfer
from oisa.device.registry import adapter as registered_adapter
from oisa.errors import UsageError, VerificationError
from oisa.fabric import Fabric, FabricSpec, Mode
from oisa.sim import Signal
from oisa.units import MiB, S, format_size
from oisa.workload._run import all_of
from oisa.workload.execute import DTYPES, OPS
from oisa.workload.registry import CARDS, CHOICE, COUNT, SIZE, Option, workload_family
from oisa.workload.run import Run

__all__ = ["ALGORITHMS", "COLLECTIVES", "COLLECTIVE_OPTIONS", "DTYPES", "OPS", "Collective", "CollectiveResult",
           "choose_algorithm", "collective_ranks", "normalised_count", "rank_parts", "run_collective"]

_ALIGN = 1 << 16  # regions start on 64 KiB boundaries
_CHUNK_ALIGN = 64  # chunk boundaries inside a buffer, in bytes, as libraries align them
_PIPELINE_CHUNK = 512 * 1024  # what a pipelined tree or chain moves per step
_GROUP = 1  # the collective group in-switch reductions use


@dataclass(frozen=True)
class Collective:
    """One collective: what each rank gives and gets, and how nccl-tests counts its traffic.

    ``blocked`` collectives cut their buffer into one block per rank, so their element count
    is rounded down to a multiple of the number of ranks, as nccl-tests does.
    """

    name: str
    algorithms: tuple[str, ...]
    bus_factor: Callable[[int], float]
    reduces: bool
    blocked: bool
    summary: str


COLLECTIVES: dict[str, Collective] = {c.name: c for c in (
    Collective("allreduce", ("ring", "tree", "direct", "in-switch"), lambda n: 2 * (n - 1) / n, True, False,
               "every rank ends with the reduction of all ranks' buffers"),
    Collective("allgather", ("ring", "direct"), lambda n: (n - 1) / n, False, True,
               "every rank ends with all ranks' blocks, in rank order"),
    Collective("reducescatter", ("ring", "direct"), lambda n: (n - 1) / n, True, True,
               "rank r ends with block r of the reduction of all ranks' buffers"),
    Collective("alltoall", ("direct",), lambda n: (n - 1) / n, False, True,
               "rank r's block j goes to rank j, which keeps it as its block r"),
    Collective("broadcast", ("ring", "direct"), lambda n: 1.0, False, False,
               "every rank ends with the root's buffer"),
    Collective("sendrecv", ("direct",), lambda n: 1.0, False, False,
               "rank r sends its buffer to rank r+1 and receives rank r-1's (point to point, all at once)"),
)}


ALGORITHMS = ("ring", "tree", "direct", "in-switch")

COLLECTIVE_OPTIONS = (
    Option("size", SIZE, "bytes, as nccl-tests counts the size of this collective", minimum=1, short="s"),
    Option("algorithm", CHOICE, "ring, tree, direct, in-switch (all-reduce where the switches reduce), or auto "
           "(in-switch where it can, else ring)", choices=(*ALGORITHMS, "auto"), short="a"),
    Option("cards", CARDS, "the cards that take part, in ring order (default: every card that can copy, by id)"),
    Option("dtype", CHOICE, "element type", choices=tuple(DTYPES)),
    Option("op", CHOICE, "reduction", choices=tuple(OPS)),
    Option("root", COUNT, "the rank that sends", minimum=0),
)


@dataclass(frozen=True)
class CollectiveResult:
    fabric: str
    collective: str
    algorithm: str
    ranks: tuple[int, ...]
    size: int  # bytes, as nccl-tests counts them
    count: int  # elements in ``size``
    dtype: str
    op: str
    root: int
    mode: Mode
    seed: int
    time_ps: int
    verified: bool | None  # None in timing mode: no bytes moved
    frames: int
    wire_bytes: int
    end_ps: int

    @property
    def algbw(self) -> float:
        """Bytes per second: ``size`` over the time."""
        return self.size * S / self.time_ps if self.time_ps else 0.0

    @property
    def busbw(self) -> float:
        """Bytes per second as nccl-tests defines bus bandwidth for this collective."""
        return self.algbw * COLLECTIVES[self.collective].bus_factor(len(self.ranks))


def collective_ranks(spec: FabricSpec, cards: Sequence[int] | None = None, *, least: int = 2) -> tuple[int, ...]:
    """The cards that take part: those given, or every accelerator (not hosts or memory devices),
    in id order, which is ring order; at least ``least`` of them."""
    if cards is not None:
        for card in cards:
            spec.card(card)
        if len(set(cards)) != len(cards):
            raise UsageError("names a card twice", parameter="cards", value=list(cards))
        ranks = tuple(cards)
    else:
        ranks = tuple(c.id for c in spec.cards if c.device.role == "accelerator")
    if len(ranks) < least:
        raise UsageError(f"a collective needs {least} cards or more; fabric {spec.name} gives {len(ranks)}",
                         parameter="cards", value=list(ranks))
    return ranks


def choose_algorithm(spec: FabricSpec, collective: str, ranks: Sequence[int]) -> str:
    """What ``auto`` runs: in-switch all-reduce where the fabric's switches reduce and every rank
    can start a contribution, otherwise the collective's first (ring) algorithm."""
    kind = _collective(collective)
    if kind.name == "allreduce" and _in_switch_ready(spec, ranks):
        return "in-switch"
    return kind.algorithms[0]


@workload_family("collective", {name: kind.summary for name, kind in COLLECTIVES.items()},
                 result=CollectiveResult, engines=("data", "timing"), options=COLLECTIVE_OPTIONS,
                 only={"root": ("broadcast",), "op": tuple(n for n, k in COLLECTIVES.items() if k.reduces)})
def run_collective(spec: FabricSpec, collective: str = "allreduce", run: Run = Run(), *, size: int = MiB,
                   algorithm: str = "auto", cards: Sequence[int] | None = None, dtype: str = "float32",
                   op: str = "sum", root: int = 0) -> CollectiveResult:
    """Run one collective of ``size`` bytes (nccl-tests' meaning) on a fresh instance of ``spec``.

    ``auto`` runs on the data engine, moving real data and checking it, when all ranks' inputs
    together stay within the run's ``limits.data_bytes``, and on the timing engine otherwise;
    ``root`` is a rank index (for broadcast).
    """
    kind = COLLECTIVES[collective]
    ranks = collective_ranks(spec, cards)
    if algorithm == "auto":
        algorithm = choose_algorithm(spec, kind.name, ranks)
    if algorithm not in kind.algorithms:
        raise UsageError(f"{kind.name} has no such algorithm (it has: {', '.join(kind.algorithms)}, auto)",
                         parameter="algorithm", value=algorithm)
    if algorithm == "in-switch":
        _check_in_switch(spec, ranks)
    if root >= len(ranks):
        raise UsageError(f"not a rank: there are {len(ranks)} (0 to {len(ranks) - 1})", parameter="root", value=root)
    itemsize = np.dtype(DTYPES[dtype][0]).itemsize
    count = normalised_count(kind.name, size, itemsize, len(ranks))
    input_bytes = _input_count(kind, count, len(ranks)) * itemsize
    fits = input_bytes * len(ranks) <= run.limits.data_bytes
    run = run.settled("data" if fits else "timing", allowed=("data", "timing"), workload=kind.name)
    plan = _Plan(kind, algorithm, ranks, count, dtype, op, root)
    _check_capacity(spec, plan)
    if run.moves_bytes and plan.end * len(ranks) > run.limits.memory:
        raise UsageError(f"moving real bytes would hold about {format_size(plan.end * len(ranks))} over the "
                         f"{len(ranks)} cards, more than this run may take ({format_size(run.limits.memory)})",
                         parameter="size", value=size, remedy=("engine", "timing"))
    return run.frame_engine.execute(spec, run, _collective_run, plan)


def normalised_count(collective: str, size: int, itemsize: int, ranks: int) -> int:
    """Elements in ``size`` bytes, rounded down to whole blocks for blocked collectives; a size
    that holds no element (no block per rank) is an error naming the least that works."""
    kind = _collective(collective)
    count = size // itemsize
    if kind.blocked:
        count -= count % ranks
    if count <= 0:
        least = itemsize * (ranks if kind.blocked else 1)
        raise UsageError(f"holds no element{' per rank' if kind.blocked else ''} for {kind.name} on {ranks} ranks: "
                         f"the least is {least} B", parameter="size", value=size)
    return count


def _collective(name: str) -> Collective:
    if name not in COLLECTIVES:
        raise UsageError(f"no such collective (known: {', '.join(COLLECTIVES)})", parameter="collective", value=name)
    return COLLECTIVES[name]


def _reducing_switches(spec: FabricSpec) -> list[int]:
    return [s.id for s in spec.switches if s.reduction]


def _capabilities(spec: FabricSpec, card: int) -> frozenset[Capability]:
    return registered_adapter(spec.card(card).device.adapter).cls.capabilities


def _lacking_offload(spec: FabricSpec, ranks: Sequence[int]) -> list[int]:
    return [r for r in ranks if Capability.COLLECTIVE_OFFLOAD not in _capabilities(spec, r)]


def _in_switch_ready(spec: FabricSpec, ranks: Sequence[int]) -> bool:
    return bool(_reducing_switches(spec)) and not _lacking_offload(spec, ranks)


def _check_in_switch(spec: FabricSpec, ranks: Sequence[int]) -> None:
    if not _reducing_switches(spec):
        raise UsageError(f"fabric {spec.name} has no switch that reduces (reduction = true): in-switch all-reduce "
                         f"needs one", parameter="algorithm", value="in-switch")
    lacking = _lacking_offload(spec, ranks)
    if lacking:
        names = ", ".join(f"{spec.card(r).name} ({spec.card(r).device.name})" for r in lacking[:4])
        raise UsageError(f"in-switch all-reduce needs every card to start contributions (capability "
                         f"collective_offload); {len(lacking)} cannot: {names}{', ...' if len(lacking) > 4 else ''}. "
                         f"Pick other cards or another algorithm", parameter="algorithm", value="in-switch")


# -- the plan: who moves what where -------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What a collective moves: frozen, so that what is derived from it can be cached."""

    kind: Collective
    algorithm: str
    ranks: tuple[int, ...]
    count: int
    dtype: str
    op: str
    root: int
    base: int = 0  # where the input starts; the other regions follow it

    @property
    def n(self) -> int:
        return len(self.ranks)

    @property
    def itemsize(self) -> int:
        return np.dtype(DTYPES[self.dtype][0]).itemsize

    @property
    def input_bytes(self) -> int:
        return _input_count(self.kind, self.count, self.n) * self.itemsize

    @property
    def output_bytes(self) -> int:
        """The output region: the whole buffer (reduce-scatter keeps its block at its offset)."""
        return self.count * self.itemsize

    @property
    def input(self) -> int:
        return self.base

    @property
    def output(self) -> int:
        return _aligned(self.input + self.input_bytes)

    @property
    def scratch(self) -> int:
        return _aligned(self.output + self.output_bytes)

    @property
    def scratch_bytes(self) -> int:
        if self.algorithm in ("ring", "direct") and self.kind.reduces:
            return (self.n - 1) * self.slot_stride
        if self.algorithm == "tree":
            return 2 * _aligned(self.input_bytes)
        return 0

    @property
    def end(self) -> int:
        """The first address after every region of the plan, for whatever comes next."""
        return _aligned(self.scratch + self.scratch_bytes)

    def chunks(self, total: int) -> tuple[tuple[int, int], ...]:
        """``total`` bytes as one (offset, size) chunk per rank: exact blocks for blocked
        collectives, otherwise aligned chunks (the last ones may be short or empty)."""
        if self.kind.blocked:
            return _split(total, self.n, total // self.n)
        return _split(total, self.n, max(_CHUNK_ALIGN, self.itemsize))

    @functools.cached_property
    def slot_stride(self) -> int:
        """The room one scratch slot of a ring or direct reduction takes."""
        return _aligned_chunk(max(size for _, size in self.chunks(self.count * self.itemsize)))


def _input_count(kind: Collective, count: int, n: int) -> int:
    return count // n if kind.name == "allgather" else count


@functools.lru_cache(maxsize=64)
def _split(total: int, parts: int, unit: int) -> tuple[tuple[int, int], ...]:
    """``total`` bytes as ``parts`` chunks whose boundaries fall on multiples of ``unit``."""
    per = -(-total // parts)
    per = -(-per // unit) * unit
    return tuple((min(total, i * per), max(0, min(total, (i + 1) * per) - min(total, i * per))) for i in range(parts))


def _aligned(address: int) -> int:
    return -(-address // _ALIGN) * _ALIGN


def _aligned_chunk(size: int) -> int:
    return max(_CHUNK_ALIGN, -(-size // _CHUNK_ALIGN) * _CHUNK_ALIGN)


def _check_capacity(spec: FabricSpec, plan: _Plan) -> None:
    need = plan.scratch + plan.scratch_bytes
    for rank in plan.ranks:
        card = spec.card(rank)
        if card.device.capacity < need:
            raise UsageError(f"{plan.kind.name} needs {format_size(need)} of memory on every card; {card.name} "
                             f"({card.device.name}) has {format_size(card.device.capacity)}", parameter="size",
                             value=plan.count * plan.itemsize)


# -- running it ------------------------------------------------------------------------------------


class _Ranks:
    """The ranks of a running collective: their cards, and the steps every algorithm is made of."""

    def __init__(self, fabric: Fabric, plan: _Plan, data: bool) -> None:
        self.fabric = fabric
        self.plan = plan
        self.cards: list[Card] = [fabric.card(r) for r in plan.ranks]
        self.data = data
        self.numpy_type = DTYPES[plan.dtype][0]
        self.reduce_fn = OPS[plan.op][0]

    def write(self, rank: int, peer: int, remote: int, local: int, size: int) -> Transfer | None:
        """Start a DMA write from ``rank`` to ``peer`` (rank indices); nothing for no bytes."""
        if size <= 0:
            return None
        return self.cards[rank].post_write(self.plan.ranks[peer], remote, local, size)

    def expect(self, rank: int, address: int, size: int) -> Signal[None]:
        return self.cards[rank].watch(address, size)

    async def reduce(self, rank: int, target: int, sources: Sequence[int], size: int) -> None:
        """``target = op(sources...)`` in ``rank``'s memory, in the time its memory takes."""
        if size <= 0:
            return
        card = self.cards[rank]
        await card.stream_memory((len(sources) + 1) * size)
        if self.data:
            arrays = [card.memory.read_array(s, size).view(self.numpy_type) for s in sources]
            card.memory.write(target, functools.reduce(self.reduce_fn, arrays).astype(self.numpy_type))

    async def copy(self, rank: int, target: int, source: int, size: int) -> None:
        """A local copy in ``rank``'s memory."""
        if size <= 0 or target == source:
            return
        card = self.cards[rank]
        await card.stream_memory(2 * size)
        if self.data:
            card.memory.write(target, card.memory.read(source, size))

    @staticmethod
    async def settle(transfers: Sequence[Transfer | None]) -> None:
        """Wait for ``transfers`` and fail loudly if any did not complete."""
        for transfer in transfers:
            if transfer is not None:
                await transfer.wait()
                if not transfer.ok:
                    raise VerificationError(f"a {transfer.kind} to card {transfer.peer} failed: {transfer.error}")


def rank_parts(fabric: Fabric, collective: str, *, algorithm: str, ranks: Sequence[int], count: int, data: bool,
               dtype: str = "float32", op: str = "sum", root: int = 0,
               base: int = 0) -> tuple[list[Callable[[], Awaitable[None]]], int]:
    """One collective inside a running fabric, for workloads made of several (a training step's
    gradient buckets): each rank's part as a coroutine function to start when that rank is
    ready, and the first address after the collective's buffers, where the next may start."""
    kind = _collective(collective)
    if algorithm not in kind.algorithms:
        raise UsageError(f"{kind.name} has no such algorithm (it has: {', '.join(kind.algorithms)})",
                         parameter="algorithm", value=algorithm)
    if algorithm == "in-switch":
        _check_in_switch(fabric.spec, ranks)
    plan = _Plan(kind, algorithm, tuple(ranks), count, dtype, op, root, base)
    return _parts(_Ranks(fabric, plan, data)), plan.end


def _parts(ranks: _Ranks) -> list[Callable[[], Awaitable[None]]]:
    plan = ranks.plan
    if plan.algorithm == "in-switch":
        for switch in _reducing_switches(ranks.fabric.spec):
            ranks.fabric.forwarders[switch].groups[_GROUP] = list(plan.ranks)
    step = _ALGORITHMS[(plan.kind.name, plan.algorithm)]
    return [functools.partial(step, ranks, rank) for rank in range(plan.n)]


async def _collective_run(fabric: Fabric, run: Run, plan: _Plan) -> CollectiveResult:
    kernel = fabric.kernel
    await fabric.bring_up()
    ranks = _Ranks(fabric, plan, run.moves_bytes)
    inputs = _fill_inputs(ranks) if ranks.data else None
    start = kernel.now
    await all_of(kernel, [(part, ()) for part in _parts(ranks)])
    elapsed = kernel.now - start
    verified = None
    if inputs is not None:
        _verify(ranks, inputs)
        verified = True
    frames, wire_bytes = fabric.wire_totals()
    size = plan.count * plan.itemsize
    return CollectiveResult(
        fabric=fabric.spec.name, collective=plan.kind.name, algorithm=plan.algorithm, ranks=plan.ranks, size=size,
        count=plan.count, dtype=plan.dtype, op=plan.op, root=plan.root, mode=run.engine, seed=kernel.seed,
        time_ps=elapsed, verified=verified, frames=frames, wire_bytes=wire_bytes, end_ps=kernel.now)


def _fill_inputs(ranks: _Ranks) -> list[np.ndarray]:
    plan, rng = ranks.plan, ranks.fabric.kernel.rng
    elements = plan.input_bytes // plan.itemsize
    inputs = []
    for card in ranks.cards:
        if np.issubdtype(ranks.numpy_type, np.floating):
            values = rng.uniform(-1.0, 1.0, elements).astype(ranks.numpy_type)
        else:
            info = np.iinfo(ranks.numpy_type)
            values = rng.integers(max(info.min, -100), min(info.max, 100), elements, endpoint=True).astype(
                ranks.numpy_type)
        card.memory.write(plan.input, values)
        inputs.append(values)
    return inputs


def _verify(ranks: _Ranks, inputs: list[np.ndarray]) -> None:
    plan = ranks.plan
    expected = _expected(plan, inputs, ranks.reduce_fn)
    for rank, (card, (offset, want)) in enumerate(zip(ranks.cards, expected, strict=True)):
        got = card.memory.read_array(plan.output + offset, want.nbytes).view(ranks.numpy_type)
        if np.issubdtype(ranks.numpy_type, np.floating):
            tolerance = plan.n * float(np.finfo(ranks.numpy_type).eps) * 8
            same = np.allclose(got, want, rtol=tolerance, atol=tolerance)
        else:
            same = np.array_equal(got, want)
        if not same:
            wrong = int(np.count_nonzero(~np.isclose(got, want))) if got.shape == want.shape else want.size
            raise VerificationError(f"{plan.kind.name} ({plan.algorithm}) on {card.name} (rank {rank}): {wrong} of "
                                    f"{want.size} elements differ from numpy's result")


def _expected(plan: _Plan, inputs: list[np.ndarray], reduce_fn: Callable) -> list[tuple[int, np.ndarray]]:
    """What every rank's output region must hold: (offset in it, values)."""
    n, name = plan.n, plan.kind.name
    if plan.kind.reduces:
        total = functools.reduce(reduce_fn, inputs).astype(inputs[0].dtype)
        if name == "reducescatter":
            block = total.size // n
            return [(r * block * plan.itemsize, total[r * block:(r + 1) * block]) for r in range(n)]
        return [(0, total)] * n
    if name == "allgather":
        return [(0, np.concatenate(inputs))] * n
    if name == "alltoall":
        blocks = [np.split(values, n) for values in inputs]
        return [(0, np.concatenate([blocks[j][r] for j in range(n)])) for r in range(n)]
    if name == "broadcast":
        return [(0, inputs[plan.root])] * n
    return [(0, inputs[(r - 1) % n]) for r in range(n)]  # sendrecv


# -- the algorithms: one coroutine per rank ----------------------------------------------------------


def _slot(plan: _Plan, index: int) -> int:
    """Scratch slot ``index`` of a ring or direct reduction."""
    return plan.scratch + index * plan.slot_stride


def _ring_reduce_watches(ranks: _Ranks, r: int, shift: int) -> list[Signal[None]]:
    plan = ranks.plan
    chunks = plan.chunks(plan.count * plan.itemsize)
    return [ranks.expect(r, _slot(plan, s), chunks[(r + shift - 1 - s) % plan.n][1]) for s in range(plan.n - 1)]


async def _ring_reduce_scatter(ranks: _Ranks, r: int, shift: int, arrived: list[Signal[None]]) -> None:
    """Ring reduce-scatter into the output region: at step s rank r passes on its partial sum of
    chunk (r + shift - s); it ends holding the whole reduction of chunk (r + shift + 1)."""
    plan = ranks.plan
    n, nxt = plan.n, (r + 1) % plan.n
    chunks = plan.chunks(plan.count * plan.itemsize)
    sent = []
    for s in range(n - 1):
        offset, size = chunks[(r + shift - s) % n]
        source = (plan.input if s == 0 else plan.output) + offset
        sent.append(ranks.write(r, nxt, _slot(plan, s), source, size))
        await arrived[s].wait()
        offset, size = chunks[(r + shift - 1 - s) % n]
        await ranks.reduce(r, plan.output + offset, [plan.input + offset, _slot(plan, s)], size)
    await ranks.settle(sent)


def _output_watches(ranks: _Ranks, r: int, chunk_indices: Sequence[int]) -> list[Signal[None]]:
    plan = ranks.plan
    chunks = plan.chunks(plan.output_bytes)
    return [ranks.expect(r, plan.output + chunks[j][0], chunks[j][1]) for j in chunk_indices]


def _ring_gather_watches(ranks: _Ranks, r: int, first: int) -> list[Signal[None]]:
    return _output_watches(ranks, r, [(first - 1 - s) % ranks.plan.n for s in range(ranks.plan.n - 1)])


async def _ring_gather(ranks: _Ranks, r: int, first: int, source_of_first: int, arrived: list[Signal[None]]) -> None:
    """Ring all-gather in the output region: rank r starts with chunk ``first`` (read from
    ``source_of_first``) and at step s passes on chunk (first - s), received at step s - 1."""
    plan = ranks.plan
    n, nxt = plan.n, (r + 1) % plan.n
    chunks = plan.chunks(plan.output_bytes)
    sent = []
    for s in range(n - 1):
        offset, size = chunks[(first - s) % n]
        source = source_of_first if s == 0 else plan.output + offset
        sent.append(ranks.write(r, nxt, plan.output + offset, source, size))
        await arrived[s].wait()
    await ranks.settle(sent)


async def _allreduce_ring(ranks: _Ranks, r: int) -> None:
    plan = ranks.plan
    mine = (r + 1) % plan.n
    reduced, gathered = _ring_reduce_watches(ranks, r, 0), _ring_gather_watches(ranks, r, mine)
    await _ring_reduce_scatter(ranks, r, 0, reduced)
    await _ring_gather(ranks, r, mine, plan.output + plan.chunks(plan.output_bytes)[mine][0], gathered)


async def _reducescatter_ring(ranks: _Ranks, r: int) -> None:
    await _ring_reduce_scatter(ranks, r, -1, _ring_reduce_watches(ranks, r, -1))


async def _allgather_ring(ranks: _Ranks, r: int) -> None:
    plan = ranks.plan
    gathered = _ring_gather_watches(ranks, r, r)
    offset, size = plan.chunks(plan.output_bytes)[r]
    await ranks.copy(r, plan.output + offset, plan.input, size)
    await _ring_gather(ranks, r, r, plan.input, gathered)


def _direct_reduce_watches(ranks: _Ranks, r: int) -> list[Signal[None]]:
    plan = ranks.plan
    size = plan.chunks(plan.count * plan.itemsize)[r][1]
    return [ranks.expect(r, _slot(plan, i), size) for i in range(plan.n - 1)]


async def _direct_reduce(ranks: _Ranks, r: int, arrived: list[Signal[None]]) -> tuple[int, int]:
    """Every rank writes chunk j of its input to rank j, which reduces what it got into its
    output; returns rank r's reduced chunk."""
    plan = ranks.plan
    n = plan.n
    chunks = plan.chunks(plan.count * plan.itemsize)
    offset, size = chunks[r]
    sent = []
    for step in range(1, n):
        peer = (r + step) % n
        slot = r if r < peer else r - 1  # where peer keeps what this rank sends
        sent.append(ranks.write(r, peer, _slot(plan, slot), plan.input + chunks[peer][0], chunks[peer][1]))
    for signal in arrived:
        await signal.wait()
    await ranks.reduce(r, plan.output + offset, [plan.input + offset] + [_slot(plan, i) for i in range(n - 1)], size)
    await ranks.settle(sent)
    return offset, size


def _others_watches(ranks: _Ranks, r: int) -> list[Signal[None]]:
    """Watches over every other rank's chunk of rank r's output."""
    return _output_watches(ranks, r, [j for j in range(ranks.plan.n) if j != r])


async def _broadcast_from(ranks: _Ranks, r: int, offset: int, size: int, source: int,
                          arrived: list[Signal[None]]) -> None:
    """Rank r writes ``size`` bytes from ``source`` to every other rank's output at ``offset``
    and waits for every other rank's chunk."""
    plan = ranks.plan
    sent = [ranks.write(r, (r + step) % plan.n, plan.output + offset, source, size) for step in range(1, plan.n)]
    for signal in arrived:
        await signal.wait()
    await ranks.settle(sent)


async def _allreduce_direct(ranks: _Ranks, r: int) -> None:
    reduced, gathered = _direct_reduce_watches(ranks, r), _others_watches(ranks, r)
    offset, size = await _direct_reduce(ranks, r, reduced)
    await _broadcast_from(ranks, r, offset, size, ranks.plan.output + offset, gathered)


async def _reducescatter_direct(ranks: _Ranks, r: int) -> None:
    await _direct_reduce(ranks, r, _direct_reduce_watches(ranks, r))


async def _allgather_direct(ranks: _Ranks, r: int) -> None:
    plan = ranks.plan
    gathered = _others_watches(ranks, r)
    offset, size = plan.chunks(plan.output_bytes)[r]
    await ranks.copy(r, plan.output + offset, plan.input, size)
    await _broadcast_from(ranks, r, offset, size, plan.input, gathered)


async def _alltoall_direct(ranks: _Ranks, r: int) -> None:
    plan = ranks.plan
    n = plan.n
    blocks = plan.chunks(plan.output_bytes)
    arrived = _others_watches(ranks, r)
    sent = [ranks.write(r, (r + step) % n, plan.output + blocks[r][0], plan.input + blocks[(r + step) % n][0],
                        blocks[r][1]) for step in range(1, n)]
    await ranks.copy(r, plan.output + blocks[r][0], plan.input + blocks[r][0], blocks[r][1])
    for signal in arrived:
        await signal.wait()
    await ranks.settle(sent)


async def _sendrecv_direct(ranks: _Ranks, r: int) -> None:
    plan = ranks.plan
    arrived = ranks.expect(r, plan.output, plan.output_bytes)
    sent = ranks.write(r, (r + 1) % plan.n, plan.output, plan.input, plan.output_bytes)
    await arrived.wait()
    await ranks.settle([sent])


async def _broadcast_direct(ranks: _Ranks, r: int) -> None:
    plan = ranks.plan
    if r != plan.root:
        await ranks.expect(r, plan.output, plan.output_bytes).wait()
        return
    sent = [ranks.write(r, (r + step) % plan.n, plan.output, plan.input, plan.output_bytes) for step in range(1, plan.n)]
    await ranks.copy(r, plan.output, plan.input, plan.output_bytes)
    await ranks.settle(sent)


def _pipeline(total: int) -> tuple[tuple[int, int], ...]:
    """A buffer as the chunks a pipelined chain or tree moves one after another."""
    parts = max(1, min(64, -(-total // _PIPELINE_CHUNK)))
    return tuple(chunk for chunk in _split(total, parts, _CHUNK_ALIGN) if chunk[1])


async def _broadcast_ring(ranks: _Ranks, r: int) -> None:
    """A pipelined chain from the root: each rank passes every chunk on as soon as it has it."""
    plan = ranks.plan
    n = plan.n
    position = (r - plan.root) % n
    nxt = (r + 1) % n
    chunks = _pipeline(plan.output_bytes)
    arrived = [ranks.expect(r, plan.output + offset, size) for offset, size in chunks] if position else []
    sent = []
    for index, (offset, size) in enumerate(chunks):
        if position:
            await arrived[index].wait()
        if position < n - 1:
            source = (plan.input if position == 0 else plan.output) + offset
            sent.append(ranks.write(r, nxt, plan.output + offset, source, size))
    if position == 0:
        await ranks.copy(r, plan.output, plan.input, plan.output_bytes)
    await ranks.settle(sent)


async def _allreduce_tree(ranks: _Ranks, r: int) -> None:
    """A binary tree over the ranks, pipelined by chunks: partial sums flow up to rank 0 while
    finished chunks already flow back down."""
    plan = ranks.plan
    parent = (r - 1) // 2 if r else None
    children = [c for c in (2 * r + 1, 2 * r + 2) if c < plan.n]
    region = _aligned(plan.input_bytes)
    chunks = _pipeline(plan.input_bytes)
    from_children = [[ranks.expect(r, plan.scratch + i * region + offset, size) for offset, size in chunks]
                     for i in range(len(children))]
    from_parent = [ranks.expect(r, plan.output + offset, size) for offset, size in chunks] if parent is not None else []
    reduced = [Signal(ranks.fabric.kernel, f"rank {r} chunk {i} reduced") for i in range(len(chunks))]
    sent: list[Transfer | None] = []

    async def up() -> None:
        for index, (offset, size) in enumerate(chunks):
            for arrivals in from_children:
                await arrivals[index].wait()
            sources = [plan.input + offset] + [plan.scratch + i * region + offset for i in range(len(children))]
            if children:
                await ranks.reduce(r, plan.output + offset, sources, size)
            if parent is not None:
                where = plan.scratch + (r - 1) % 2 * region + offset  # this rank's slot at its parent
                sent.append(ranks.write(r, parent, where, (plan.output if children else plan.input) + offset, size))
            reduced[index].set(None)

    async def down() -> None:
        for index, (offset, size) in enumerate(chunks):
            await (reduced[index] if parent is None else from_parent[index]).wait()
            sent.extend(ranks.write(r, child, plan.output + offset, plan.output + offset, size) for child in children)

    await all_of(ranks.fabric.kernel, [(up, ()), (down, ())])
    await ranks.settle(sent)


async def _allreduce_in_switch(ranks: _Ranks, r: int) -> None:
    """Every rank sends its buffer to the reducing switches (each takes a share), which write
    the reduction into every rank's output."""
    plan = ranks.plan
    switches = _reducing_switches(ranks.fabric.spec)
    _, coll_dtype = DTYPES[plan.dtype]
    shares = _split(plan.input_bytes, len(switches), 4096)
    arrived = ranks.expect(r, plan.output, plan.input_bytes)
    for switch, (offset, size) in zip(switches, shares, strict=True):
        if size:
            ranks.cards[r].contribute(switch, _GROUP, plan.n, plan.output + offset, plan.input + offset, size,
                                      OPS[plan.op][1], coll_dtype)
    await arrived.wait()


_ALGORITHMS: dict[tuple[str, str], Callable] = {
    ("allreduce", "ring"): _allreduce_ring,
    ("allreduce", "tree"): _allreduce_tree,
    ("allreduce", "direct"): _allreduce_direct,
    ("allreduce", "in-switch"): _allreduce_in_switch,
    ("allgather", "ring"): _allgather_ring,
    ("allgather", "direct"): _allgather_direct,
    ("reducescatter", "ring"): _reducescatter_ring,
    ("reducescatter", "direct"): _reducescatter_direct,
    ("alltoall", "direct"): _alltoall_direct,
    ("broadcast", "ring"): _broadcast_ring,
    ("broadcast", "direct"): _broadcast_direct,
    ("sendrecv", "direct"): _sendrecv_direct,
}
