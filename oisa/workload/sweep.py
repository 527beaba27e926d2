"""Sweeps: one collective over a range of sizes, as ``nccl-tests -b MIN -e MAX -f FACTOR`` runs it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from oisa.errors import UsageError
from oisa.fabric import FabricSpec
from oisa.workload.collectives import COLLECTIVES, DTYPES, CollectiveResult, ModeChoice, collective_ranks, normalised_count, \
    run_collective

__all__ = ["Sweep", "sweep", "sweep_sizes"]


@dataclass(frozen=True)
class Sweep:
    results: tuple[CollectiveResult, ...]
    skipped: tuple[int, ...]  # sizes that hold no whole element per card


def sweep_sizes(min_size: int, max_size: int, factor: int = 2) -> list[int]:
    """``min_size``, times ``factor``, ... up to ``max_size`` (both ends included)."""
    if min_size < 1 or max_size < min_size:
        raise UsageError(f"sizes run from --min {min_size} up to --max {max_size}: --min must be 1 or more and "
                         f"--max at least --min")
    if factor < 2:
        raise UsageError(f"--factor {factor} would never reach --max: it must be 2 or more")
    sizes, size = [], min_size
    while size <= max_size:
        sizes.append(size)
        size *= factor
    return sizes


def sweep(spec: FabricSpec, collective: str, *, min_size: int, max_size: int, factor: int = 2,
          algorithm: str = "auto", cards: Sequence[int] | None = None, dtype: str = "float32", op: str = "sum",
          root: int = 0, seed: int = 0, mode: ModeChoice = "auto",
          progress: Callable[[int], None] | None = None) -> Sweep:
    """Run ``collective`` at every size of :func:`sweep_sizes`; ``progress(size)`` is called
    after each. Every size is a fresh run with the same seed."""
    sizes = sweep_sizes(min_size, max_size, factor)
    if collective not in COLLECTIVES:
        raise UsageError(f"unknown collective {collective!r} (known: {', '.join(COLLECTIVES)})")
    if dtype not in DTYPES:
        raise UsageError(f"unknown element type {dtype!r} (known: {', '.join(DTYPES)})")
    ranks = collective_ranks(spec, cards)
    itemsize = np.dtype(DTYPES[dtype][0]).itemsize
    results, skipped = [], []
    for size in sizes:
        try:
            normalised_count(collective, size, itemsize, len(ranks))
        except UsageError:
            skipped.append(size)
        else:
            results.append(run_collective(spec, collective, size=size, algorithm=algorithm, cards=ranks, dtype=dtype,
                                          op=op, root=root, seed=seed, mode=mode))
        if progress is not None:
            progress(size)
    if not results:
        raise UsageError(f"no size from {min_size} to {max_size} B holds a whole element per card")
    return Sweep(tuple(results), tuple(skipped))
