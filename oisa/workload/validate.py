"""Validation: a measured nccl-tests or rccl-tests table set beside what oisa gives for the same
collective, size by size, on a fabric that models the machine it was measured on.

Every size of the log is run as ``oisa run -w COLLECTIVE`` would run it (the collective library's
tuner choosing, the timing engine timing every frame), on the fabric's first cards (as many as
the log had ranks, in as many servers), with the log's element type, reduction, root and GPUs
per launching thread, and with a calibration of the library if one is given. The measured time
is the out-of-place one. Errors are relative, model against measurement; the summary is the
geometric-mean error over sizes, exp(mean |ln(model / measured)|) - 1, which is the same for time
and for bus bandwidth (one is the other's inverse times a constant), over sizes of 1 MiB and up
and over all sizes.

A calibration names the profile it adjusts; ``oisa calibrate`` writes them
(:mod:`oisa.ccl.calibrate`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from oisa.ccl import KINDS
from oisa.ccl.measurements import Measurement
from oisa.errors import UsageError
from oisa.fabric import FabricSpec
from oisa.units import MiB
from oisa.workload.collectives import CollectiveResult, run_collective
from oisa.workload.run import Run

__all__ = ["LARGE", "Comparison", "Validation", "geomean_error", "measurement_ranks", "validate"]

LARGE = MiB  # "large" sizes start here: the goal for them is tighter


@dataclass(frozen=True)
class Comparison:
    """One size: measured and modelled time (us) and bus bandwidth (GB/s), and what ran."""

    size: int
    measured_us: float
    model_us: float
    measured_busbw: float
    model_busbw: float
    result: CollectiveResult

    @property
    def time_error(self) -> float:
        return self.model_us / self.measured_us - 1

    @property
    def busbw_error(self) -> float:
        return self.measured_us / self.model_us - 1


@dataclass(frozen=True)
class Validation:
    measurement: Measurement
    fabric: str
    calibration: str | None
    comparisons: tuple[Comparison, ...]

    @property
    def large_error(self) -> float | None:
        """Geometric-mean error over sizes of 1 MiB and up (None if the log has none)."""
        large = [c for c in self.comparisons if c.size >= LARGE]
        return geomean_error(large) if large else None

    @property
    def all_error(self) -> float:
        """Geometric-mean error over every size."""
        return geomean_error(self.comparisons)


def geomean_error(comparisons: tuple[Comparison, ...] | list[Comparison]) -> float:
    """exp(mean |ln(model / measured)|) - 1 over ``comparisons``."""
    return math.exp(sum(abs(math.log(c.model_us / c.measured_us)) for c in comparisons) / len(comparisons)) - 1


def measurement_ranks(spec: FabricSpec, measurement: Measurement) -> tuple[int, ...]:
    """The fabric's cards the log's ranks map to: its first accelerators, in as many servers as
    the log's ranks ran on (rank r on host h to the r-th card, which must sit in the h-th server)."""
    cards = [c for c in spec.cards if c.device.role == "accelerator"]
    if len(cards) < measurement.ranks:
        raise UsageError(f"{measurement.source} has {measurement.ranks} ranks; fabric {spec.name} has "
                         f"{len(cards)} accelerators", parameter="fabric", value=spec.name)
    ranks = cards[:measurement.ranks]
    servers = {c.server for c in ranks}
    if measurement.hosts and len(servers) != measurement.servers:
        raise UsageError(f"{measurement.source} ran on {measurement.servers} hosts; the first {measurement.ranks} "
                         f"cards of {spec.name} sit in {len(servers)} servers", parameter="fabric", value=spec.name)
    return tuple(c.id for c in ranks)


def validate(spec: FabricSpec, measurement: Measurement, run: Run = Run(engine="timing"), *,
             calibration: str | None = None, progress: Callable[[int], None] | None = None) -> Validation:
    """Run every size of ``measurement`` on ``spec`` and compare; ``progress(size)`` after each."""
    ranks = measurement_ranks(spec, measurement)
    kind = KINDS[measurement.collective]
    comparisons = []
    for row in measurement.rows:
        extra: dict[str, object] = {}
        if kind.reduces:
            extra["op"] = row.op
        if kind.rooted:
            extra["root"] = max(0, row.root)
        if calibration is not None:
            extra["calibration"] = calibration
        result = run_collective(spec, measurement.collective, run, size=row.size, cards=ranks, dtype=row.dtype,
                                gpus_per_thread=measurement.gpus_per_thread, **extra)
        model_us = result.time_ps / 1e6
        comparisons.append(Comparison(row.size, row.time_us, model_us, row.busbw, result.busbw / 1e9, result))
        if progress is not None:
            progress(row.size)
    return Validation(measurement, spec.name, calibration, tuple(comparisons))

