"""What a failure that does not stop a job costs it while it lasts, measured frame by frame.

A lost plane, a card's lost link to a plane, or a link down-trained to fewer lanes leaves the
job running on less bandwidth until repair (:mod:`oisa.workload.failures`, "degrades"). How much
less is not simply the failed element's share of the links: the collective's algorithm and the
traffic's spread decide (a card's lost link moves only that card's traffic onto its other links;
data sprayed evenly over a card's links goes at the pace of its slowest). So it is measured: the same all-reduce on
a frame-level fabric with the failure in force and without it (:mod:`oisa.fabric.outages`,
timing engine), and the share of bandwidth kept is the ratio of the two runs' times per byte (two
sizes, so that fixed costs, the failure's detection among them, cancel).

The fabric measured is the scale-up domain of the cluster in small: a supernode of two servers
of four cards with as many planes as the cluster's cards are joined to (the catalog's
``supernode-64`` with those parameters), as large as a frame-level run takes quickly. How a
degradation slows the job is :func:`progress`: a step whose collectives take ``comm_share`` of its
time runs that part at the kept bandwidth.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from oisa.errors import UsageError
from oisa.fabric import load_fabric
from oisa.fabric.outages import Outage
from oisa.units import MiB
from oisa.workload.collectives import run_collective
from oisa.workload.run import Run

__all__ = ["MEASURED_CLASSES", "Degradation", "measure", "progress"]

_SIZES = (8 * MiB, 24 * MiB)  # all-reduce sizes whose difference the share is taken over (bandwidth-bound)
_SERVERS, _PER_SERVER = 2, 4


@dataclass(frozen=True)
class Degradation:
    """One failure's measured cost: ``kept`` is the all-reduce bandwidth left (degraded over
    healthy), ``outage`` what failed on ``fabric`` (``planes`` planes), from ``times_ps``: the
    healthy and degraded runs at the two sizes."""

    cls: str
    outage: str
    fabric: str
    planes: int
    kept: float
    times_ps: tuple[tuple[int, int], tuple[int, int]]


# class of the failure model -> what fails on the measured fabric (a card's link loses half its lanes: "lanes")
MEASURED_CLASSES = {
    "scale-up-switch": lambda lanes: Outage("plane0", 0),
    "scale-up-link": lambda lanes: Outage("s0.gpu0->plane0", 0),
    "scale-up-lanes": lambda lanes: Outage("s0.gpu0->plane0", 0, lanes=max(1, lanes // 2)),
}


@cache
def measure(planes: int, seed: int = 0) -> tuple[Degradation, ...]:
    """Each of :data:`MEASURED_CLASSES` measured on a supernode of 8 cards on ``planes`` planes
    (a ring all-reduce, timing engine, seeded)."""
    if isinstance(planes, bool) or not isinstance(planes, int) or planes < 2:
        raise UsageError("a degradation is measured where a card has 2 planes or more", parameter="planes",
                         value=planes)
    spec = load_fabric("supernode-64", parameters={"servers": _SERVERS, "cards_per_server": _PER_SERVER,
                                                   "planes": planes, "memory_pools": []})
    lanes = int(spec.links[0].lanes.value)

    def times(outages: tuple[Outage, ...]) -> tuple[int, int]:
        small, large = (run_collective(spec, "allreduce", Run(seed=seed, engine="timing", outages=outages), size=size,
                                       algorithm="ring").time_ps for size in _SIZES)
        return small, large

    healthy = times(())
    out = []
    for cls, outage_of in MEASURED_CLASSES.items():
        outage = outage_of(lanes)
        degraded = times((outage,))
        kept = (healthy[1] - healthy[0]) / (degraded[1] - degraded[0])
        what = outage.component + (f" down to {outage.lanes} of {lanes} lanes" if outage.lanes else "")
        out.append(Degradation(cls, what, f"supernode-64 ({_SERVERS}x{_PER_SERVER} cards, {planes} planes)", planes,
                               kept, (healthy, degraded)))
    return tuple(out)


def progress(kept: float, comm_share: float) -> float:
    """The job's pace while a degradation that keeps ``kept`` of the collective bandwidth is in
    force, for a step whose collectives take ``comm_share`` of its time (1: a step bound by them,
    the most a degradation can cost)."""
    if not 0.0 <= comm_share <= 1.0:
        raise UsageError("a share of the step's time, from 0 to 1", parameter="comm_share", value=comm_share)
    return 1.0 / ((1.0 - comm_share) + comm_share / kept)
