"""The collective library: how NCCL- and RCCL-like libraries run a collective on a fabric.

A call (collective, ranks, size, type, reduction, root) on a fabric becomes one
:class:`~oisa.plan.Collective`: the library looks at the fabric (:mod:`oisa.ccl.topology`), lays
its channels over disjoint links, planes and NICs (:mod:`oisa.ccl.channels`), prices every
algorithm, protocol and channel count with its cost model (:mod:`oisa.ccl.tuner`) unless the
caller forces them, and builds the chosen one twice over: as primitive operations with every
address (what the frame-level engines run, and data mode checks) and as phases of flows (what the
flow engine runs). Its parameters come from a library profile (:mod:`oisa.ccl.library`), chosen
by the cards' device profiles, which ``oisa calibrate`` can fit to nccl-tests measurements.

What it must not know: trio, ``sim``, ``flow`` and ``workload``. It reads fabric specifications
and device profiles only: it describes, the engines and workloads execute.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from oisa.ccl.algorithms import REGISTRY, Built, algorithms_of, build
from oisa.ccl.kinds import DTYPES, KINDS, OPS, Call, Kind, kind, normalised_count
from oisa.ccl.library import ALGORITHMS, GENERIC, PROTOCOLS, Library, apply_calibration, library_for, load_library
from oisa.ccl.schedule import Layout
from oisa.ccl.topology import Topology
from oisa.ccl.tuner import Candidate, Decision, tune
from oisa.fabric.spec import FabricSpec
from oisa.plan import Collective

__all__ = ["ALGORITHMS", "DTYPES", "GENERIC", "KINDS", "OPS", "PROTOCOLS", "REGISTRY", "Call", "Candidate",
           "Decision", "Kind", "Layout", "Library", "Planned", "Topology", "algorithms_of", "choose_library", "kind",
           "library_for", "load_library", "normalised_count", "plan_collective"]


@dataclass(frozen=True)
class Planned:
    """A call as the library runs it: the collective operation, where its buffers lie, and
    what the tuner chose and why."""

    collective: Collective
    layout: Layout
    decision: Decision
    library: Library

    @property
    def end(self) -> int:
        """The first address after the call's buffers, where the next call's may start."""
        return self.layout.end


def choose_library(spec: FabricSpec, ranks: tuple[int, ...], calibration: str | Path | None = None) -> Library:
    """The library the cards ``ranks`` run (the profile their devices name, or ``generic``),
    with a calibration overlay applied if given."""
    name = library_for([spec.card(rank).device.library for rank in ranks])
    library = load_library(name)
    return library if calibration is None else apply_calibration(library, calibration)


def plan_collective(call: Call, topology: Topology, library: Library, *, algorithm: str | None = None,
                    protocol: str | None = None, channels: int | None = None) -> Planned:
    """``call`` as ``library`` runs it on ``topology``'s fabric: tuned, within what is forced."""
    decision = tune(call, topology, library, algorithm=algorithm, protocol_name=protocol, channels=channels)
    info = {"library": library.name, "algorithm": decision.algorithm, "protocol": decision.protocol,
            "channels": decision.channels, "model_time_ps": decision.time_ps, "reason": decision.reason}
    built: Built = build(call, topology, library, decision.algorithm, decision.protocol, decision.channels, info)
    return Planned(built.collective, built.layout, decision, library)
