"""Sweeps: one collective over a range of sizes, as ``nccl-tests -b MIN -e MAX -f FACTOR`` runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oisa.ccl import DTYPES
from oisa.errors import UsageError
from oisa.fabric import FabricSpec
from oisa.units import format_size
from oisa.workload.collectives import COLLECTIVES, CollectiveResult, collective_ranks, normalised_count, run_collective
from oisa.workload.registry import checked_run, fabric_spec, find
from oisa.workload.run import Run

__all__ = ["Sweep", "SweepPlan", "plan_sweep", "sweep", "sweep_size", "sweep_sizes"]


@dataclass(frozen=True)
class Sweep:
    results: tuple[CollectiveResult, ...]
    skipped: tuple[int, ...]  # sizes that hold no whole element per card


def sweep_sizes(min_size: int, max_size: int, factor: int = 2) -> list[int]:
    """``min_size``, times ``factor``, ... up to ``max_size`` (both ends included)."""
    for name, value in (("min_size", min_size), ("max_size", max_size), ("factor", factor)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"expected an integer, not {type(value).__name__}", parameter=name, value=value)
    if min_size < 1:
        raise UsageError("the smallest size must be 1 byte or more", parameter="min_size", value=min_size)
    if max_size < min_size:
        raise UsageError(f"the largest size must be at least the smallest, {min_size}", parameter="max_size",
                         value=max_size)
    if factor < 2:
        raise UsageError("would never reach the largest size: it must be 2 or more", parameter="factor", value=factor)
    sizes, size = [], min_size
    while size <= max_size:
        sizes.append(size)
        size *= factor
    return sizes


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep runs, checked before anything runs: the sizes that hold a whole element per
    card, in order, the ones skipped, and the options every size runs with (``cards`` fixed to
    the ranks)."""

    spec: FabricSpec
    collective: str
    run: Run
    max_size: int
    sizes: tuple[int, ...]
    skipped: tuple[int, ...]
    options: dict[str, Any]


def plan_sweep(spec: FabricSpec | str, collective: str, run: Run = Run(), *, min_size: int, max_size: int,
               factor: int = 2, **options: Any) -> SweepPlan:
    """Check a sweep's arguments (as :func:`sweep` takes them) and say which sizes it runs."""
    spec, run = fabric_spec(spec), checked_run(run)
    sizes = sweep_sizes(min_size, max_size, factor)
    if not isinstance(collective, str) or collective not in COLLECTIVES:
        raise UsageError(f"no such collective (known: {', '.join(COLLECTIVES)})", parameter="collective",
                         value=collective)
    if "size" in options:
        raise UsageError("a sweep sets the sizes itself (min_size, max_size, factor)", parameter="size")
    checked = find(collective).checked(options, spec)
    ranks = collective_ranks(spec, checked["cards"])
    itemsize = DTYPES[checked["dtype"]].itemsize
    run_sizes, skipped = [], []
    for size in sizes:
        try:
            normalised_count(collective, size, itemsize, len(ranks))
        except UsageError:
            skipped.append(size)
        else:
            run_sizes.append(size)
    if not run_sizes:
        raise UsageError(f"no size from {min_size} to {max_size} B holds a whole element per card",
                         parameter="min_size", value=min_size)
    return SweepPlan(spec, collective, run, max_size, tuple(run_sizes), tuple(skipped), {**options, "cards": ranks})


def sweep_size(plan: SweepPlan, size: int) -> CollectiveResult:
    """One size of ``plan``, a fresh run with the plan's seed. A size the cards cannot hold is
    refused as ``max_size``'s fault, which let it in."""
    try:
        return run_collective(plan.spec, plan.collective, plan.run, size=size, **plan.options)
    except UsageError as exc:
        if exc.parameters != ("size",):
            raise
        raise UsageError(f"at {format_size(size)}: {exc.problem}", parameter="max_size",
                         value=plan.max_size) from None


def sweep(spec: FabricSpec | str, collective: str, run: Run = Run(), *, min_size: int, max_size: int, factor: int = 2,
          progress: Callable[[int], None] | None = None, **options: Any) -> Sweep:
    """Run ``collective`` at every size of :func:`sweep_sizes`, with the collective's other
    ``options`` (algorithm, protocol, channels, cards, dtype, op, root, calibration); ``progress(size)``
    is called after each. Every size is a fresh run with the same seed (:func:`sweep_size`);
    ``oisa.study`` runs the same sizes on a process pool or a Dask cluster."""
    plan = plan_sweep(spec, collective, run, min_size=min_size, max_size=max_size, factor=factor, **options)
    if progress is not None and not callable(progress):
        raise UsageError(f"expected a function of the size just run, or None, not {type(progress).__name__}",
                         parameter="progress")
    results = []
    for size in sweep_sizes(min_size, max_size, factor):
        if size in plan.sizes:
            results.append(sweep_size(plan, size))
        if progress is not None:
            progress(size)
    return Sweep(tuple(results), plan.skipped)
