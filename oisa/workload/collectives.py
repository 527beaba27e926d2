"""Collectives over any fabric, as the collective library (:mod:`oisa.ccl`) runs them, with
checked data.

A collective call is planned by the library (its algorithm, protocol and channel count tuned by
its cost model, or forced), then run on an engine as one :class:`~oisa.plan.Collective`
operation. With data (the default while all ranks' inputs together are small) every rank's buffer
holds random values and the result is compared with numpy's; ``timing`` mode moves no bytes,
for large sizes.

Sizes mean what they mean in nccl-tests: the whole per-rank buffer for all-reduce, broadcast,
reduce, send/receive and all-to-all, the whole gathered buffer for all-gather, the whole
scattered buffer for reduce-scatter. So do bus bandwidths (``bus_factor`` of
:data:`oisa.ccl.KINDS`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from oisa.ccl import (
    ALGORITHMS,
    DTYPES,
    KINDS,
    OPS,
    PROTOCOLS,
    Call,
    Candidate,
    Planned,
    Topology,
    algorithms_of,
    choose_library,
    kind,
    normalised_count,
    plan_collective,
)
from oisa.errors import CompletionTimeout, SimulationDeadlock, UsageError, VerificationError
from oisa.fabric import Fabric, FabricSpec
from oisa.plan import Plan
from oisa.units import MiB, S
from oisa.workload.recovery import ON_FAILURE, after, rank_failure
from oisa.workload.registry import CARDS, CHOICE, COUNT, SIZE, TEXT, Option, workload_family
from oisa.workload.run import Run, check_memory

__all__ = ["COLLECTIVES", "COLLECTIVE_OPTIONS", "CollectiveResult", "collective_ranks", "normalised_count",
           "plan_call", "run_collective"]

COLLECTIVES = KINDS
AUTO = "auto"

COLLECTIVE_OPTIONS = (
    Option("size", SIZE, "bytes, as nccl-tests counts the size of this collective", minimum=1, short="s"),
    Option("algorithm", CHOICE, "ring, tree, direct, hierarchical (inside servers, then across), in-switch (where "
           "switches reduce), or auto: the library's tuner picks by its cost model (as NCCL_ALGO forces one)",
           choices=(*ALGORITHMS, AUTO), short="a"),
    Option("protocol", CHOICE, "simple, ll or ll128, or auto: the tuner picks (as NCCL_PROTO forces one)",
           choices=(*PROTOCOLS, AUTO)),
    Option("channels", COUNT, "channels (parallel rings or trees) the call uses, as NCCL_MIN_NCHANNELS and "
           "NCCL_MAX_NCHANNELS set to it (default: the tuner's choice)", minimum=1),
    Option("cards", CARDS, "the cards that take part, in ring order (default: every card that can copy, by id)"),
    Option("dtype", CHOICE, "element type", choices=tuple(DTYPES)),
    Option("op", CHOICE, "reduction", choices=tuple(OPS)),
    Option("root", COUNT, "the rank that sends (broadcast) or receives the result (reduce)", minimum=0),
    Option("calibration", TEXT, "a calibration of the collective library (what oisa calibrate writes), applied to "
           "its profile"),
    Option("gpus_per_thread", COUNT, "GPUs one host thread drives in a group call, as nccl-tests' -g: their kernels "
           "launch one after another", minimum=1),
    Option("on_failure", CHOICE, "what the collective does when a rank dies (a run given outages): abort with the "
           "failed ranks, "
           "or shrink the communicator to the survivors and run again (as ncclCommShrink)", choices=ON_FAILURE),
)


@dataclass(frozen=True)
class CollectiveResult:
    fabric: str
    collective: str
    algorithm: str
    protocol: str
    channels: int
    library: str
    ranks: tuple[int, ...]
    size: int  # bytes, as nccl-tests counts them
    count: int  # elements in ``size``
    dtype: str
    op: str
    root: int
    mode: str  # the engine that ran it: data, timing or flow
    seed: int
    time_ps: int
    model_time_ps: int  # what the library's cost model expected
    tuner: tuple[Candidate, ...]  # what the tuner priced
    reason: str  # why it chose what it chose
    calibration: str | None
    verified: bool | None  # None in timing mode: no bytes moved
    frames: int
    wire_bytes: int
    end_ps: int
    isolation: dict[str, int] | None = None  # what a tenancy's checks refused, by kind (None: no tenancy)
    failed_cards: tuple[int, ...] = ()  # ranks (card ids) that died and were shrunk away (on_failure="shrink")
    detected_ps: int | None = None  # when the first of them was detected, from the collective's start
    outages: dict[str, object] | None = None  # what the run's outages did (None: it had none)
    roce: dict[str, int] | None = None  # PFC, ECN and DCQCN counters (None: no RoCE in the fabric)

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


def plan_call(spec: FabricSpec, call: Call, *, algorithm: str = AUTO, protocol: str = AUTO,
              channels: int | None = None, calibration: str | None = None,
              topology: Topology | None = None) -> Planned:
    """``call`` planned by the library its cards run, within what the caller forces."""
    if algorithm != AUTO and algorithm not in algorithms_of(call.collective):
        raise UsageError(f"{call.collective} has no such algorithm (it has: "
                         f"{', '.join(algorithms_of(call.collective))}, auto)", parameter="algorithm", value=algorithm)
    library = choose_library(spec, call.ranks, calibration)
    return plan_collective(call, topology or Topology(spec, call.ranks), library,
                           algorithm=None if algorithm == AUTO else algorithm,
                           protocol=None if protocol == AUTO else protocol, channels=channels)


@workload_family("collective", {name: k.summary for name, k in COLLECTIVES.items()},
                 result=CollectiveResult, engines=("data", "timing", "flow"), options=COLLECTIVE_OPTIONS,
                 only={"root": tuple(n for n, k in COLLECTIVES.items() if k.rooted),
                       "op": tuple(n for n, k in COLLECTIVES.items() if k.reduces)})
def run_collective(spec: FabricSpec, collective: str = "allreduce", run: Run = Run(), *, size: int = MiB,
                   algorithm: str = AUTO, protocol: str = AUTO, channels: int | None = None,
                   cards: Sequence[int] | None = None, dtype: str = "float32", op: str = "sum", root: int = 0,
                   calibration: str | None = None, gpus_per_thread: int = 1,
                   on_failure: str = "abort") -> CollectiveResult:
    """Run one collective of ``size`` bytes (nccl-tests' meaning) on a fresh instance of ``spec``.

    ``auto`` runs on the data engine, moving real data and checking it, when all ranks' inputs
    together stay within the run's ``limits.data_bytes``, on the timing engine otherwise, and on
    the flow engine on fabrics beyond the frame-level engines' reach; ``root`` is a rank index
    (broadcast, reduce). Where the run's outages kill ranks, ``on_failure`` says what the
    collective does (:mod:`oisa.workload.recovery`): ``abort`` with
    :class:`~oisa.errors.RankFailed`, or ``shrink`` its communicator and run again without them.
    """
    what = kind(collective)
    ranks = collective_ranks(spec, cards)
    if root >= len(ranks):
        raise UsageError(f"not a rank: there are {len(ranks)} (0 to {len(ranks) - 1})", parameter="root", value=root)
    if on_failure not in ON_FAILURE:
        raise UsageError(f"one of {', '.join(ON_FAILURE)}", parameter="on_failure", value=on_failure)
    itemsize = DTYPES[dtype].itemsize
    count = normalised_count(what.name, size, itemsize, len(ranks))
    call = Call(what.name, ranks, count, dtype, op, root, launchers=gpus_per_thread)
    # a size no card can hold is refused before the tuner prices it (its arrays are 64-bit)
    check_memory(spec, ((rank, call.input_bytes) for rank in call.ranks), parameter="size", value=call.size)
    fits = call.input_bytes * len(ranks) <= run.limits.data_bytes
    run = run.settled("data" if fits else "timing", allowed=("data", "timing", "flow"), workload=what.name, spec=spec)
    failed: tuple[int, ...] = ()  # cards lost to failures, in the order they were found
    lost_ps = 0  # time spent in attempts that a failure aborted
    first_detected: int | None = None
    while True:
        planned = plan_call(spec, call, algorithm=algorithm, protocol=protocol, channels=channels,
                            calibration=calibration)
        check_memory(spec, ((rank, planned.end) for rank in call.ranks), parameter="size", value=call.size)
        run.check_holds(planned.end * len(call.ranks), parameter="size", value=size,
                        over=f" over the {len(call.ranks)} cards")
        try:
            outcome = run.executor.run_plan(spec, run, Plan((planned.collective,)),
                                            prepare=functools.partial(_fill, call),
                                            check=functools.partial(_verify, call, planned.decision.algorithm))
            break
        except (CompletionTimeout, SimulationDeadlock) as stop:
            failure = rank_failure(stop, call.ranks)
            if failure is None:
                raise
            survivors = tuple(card for card in call.ranks if card not in failure.cards)
            rooted = what.rooted and call.ranks[call.root] in failure.cards
            if on_failure == "abort" or len(survivors) < 2 or rooted:
                raise failure from None
            failed += failure.cards
            first_detected = lost_ps + failure.detected_ps if first_detected is None else first_detected
            lost_ps += failure.detected_ps
            new_root = survivors.index(call.ranks[call.root]) if what.rooted else 0
            call = Call(what.name, survivors, normalised_count(what.name, size, itemsize, len(survivors)), dtype, op,
                        new_root, launchers=gpus_per_thread)
            run = replace(run, outages=after(run.outages, failure.detected_ps))
    times = outcome.execution
    decision = planned.decision
    return CollectiveResult(
        fabric=spec.name, collective=what.name, algorithm=decision.algorithm, protocol=decision.protocol,
        channels=decision.channels, library=planned.library.name, ranks=call.ranks, size=call.size, count=call.count,
        dtype=dtype, op=op, root=call.root, mode=run.engine, seed=run.seed, time_ps=lost_ps + times.duration_ps,
        model_time_ps=round(decision.time_ps), tuner=decision.candidates, reason=decision.reason,
        calibration=planned.library.calibration, verified=outcome.checked, frames=outcome.frames,
        wire_bytes=outcome.wire_bytes, end_ps=times.end_ps, isolation=outcome.isolation, roce=outcome.roce,
        failed_cards=failed, detected_ps=first_detected, outages=outcome.outages)


def _fill(call: Call, fabric: Fabric) -> list[np.ndarray]:
    """Random inputs in every rank's input buffer; returns them, to compute what must come out."""
    rng, numpy_type = fabric.kernel.rng, DTYPES[call.dtype].type
    elements = call.input_bytes // call.itemsize
    inputs = []
    for rank in call.ranks:
        if np.issubdtype(numpy_type, np.floating):
            values = rng.uniform(-1.0, 1.0, elements).astype(numpy_type)
        else:
            info = np.iinfo(numpy_type)
            values = rng.integers(max(info.min, -100), min(info.max, 100), elements, endpoint=True).astype(numpy_type)
        fabric.card(rank).memory.write(call.input, values)
        inputs.append(values)
    return inputs


def _verify(call: Call, algorithm: str, fabric: Fabric, inputs: list[np.ndarray]) -> bool:
    """Every rank's output holds what numpy computes from the inputs; anything else is an error."""
    numpy_type = DTYPES[call.dtype].type
    for rank, (offset, want) in _expected(call, inputs):
        card = fabric.card(call.ranks[rank])
        got = card.memory.read_array(call.output + offset, want.nbytes).view(numpy_type)
        if np.issubdtype(numpy_type, np.floating):
            tolerance = call.n * float(np.finfo(numpy_type).eps) * 8
            same = np.allclose(got, want, rtol=tolerance, atol=tolerance)
        else:
            same = np.array_equal(got, want)
        if not same:
            wrong = int(np.count_nonzero(~np.isclose(got, want))) if got.shape == want.shape else want.size
            raise VerificationError(f"{call.collective} ({algorithm}) on {card.name} (rank {rank}): {wrong} of "
                                    f"{want.size} elements differ from numpy's result")
    return True


def _expected(call: Call, inputs: list[np.ndarray]) -> list[tuple[int, tuple[int, np.ndarray]]]:
    """What each rank's output region must hold: (rank, (offset in it, values))."""
    n, name = call.n, call.collective
    if call.kind.reduces:
        total = functools.reduce(OPS[call.op], inputs).astype(inputs[0].dtype)
        if name == "reducescatter":
            block = total.size // n
            return [(r, (r * block * call.itemsize, total[r * block:(r + 1) * block])) for r in range(n)]
        if name == "reduce":
            return [(call.root, (0, total))]
        return [(r, (0, total)) for r in range(n)]
    if name == "allgather":
        return [(r, (0, np.concatenate(inputs))) for r in range(n)]
    if name == "alltoall":
        blocks = [np.split(values, n) for values in inputs]
        return [(r, (0, np.concatenate([blocks[j][r] for j in range(n)]))) for r in range(n)]
    if name == "broadcast":
        return [(r, (0, inputs[call.root])) for r in range(n)]
    return [(r, (0, inputs[(r - 1) % n])) for r in range(n)]  # sendrecv
