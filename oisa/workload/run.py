"""A run: everything about *how* to run a workload that is not the workload itself.

One frozen :class:`Run` value (seed, engine, faults, observer, limits) is built once, by the
command line or by a script, and passed whole to whatever runs; nothing below it re-derives any
of these from elsewhere. A workload that is asked for the ``auto`` engine settles it once
(:meth:`Run.settled`), by its own rule, and everything after sees the settled value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from oisa.errors import UsageError
from oisa.sim.faults import FaultModel
from oisa.sim.observe import Observer
from oisa.workload.engines import ENGINES, Engine, FrameEngine

__all__ = ["AUTO", "DATA_LIMIT", "Limits", "Run"]

AUTO = "auto"
# "auto" moves real bytes, and checks them, while a run's inputs over all cards stay within this:
# data mode builds and checks every frame, some 2,000 messages per wall second (README).
DATA_LIMIT = 1024 * 1024
_MEMORY_SHARE = 0.75  # the share of this machine's memory a run may plan to take: assumption, room for the rest


def _available_memory() -> int:
    """Physical memory of this machine, in bytes (what a run's data may at most take)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # a platform without sysconf: do not refuse on a guess
        return 1 << 62


@dataclass(frozen=True)
class Limits:
    """What a run may cost: ``data_bytes`` is the most input (over all cards) ``auto`` moves as
    real bytes; ``memory_bytes`` the most memory a run may plan to take before it is refused
    (None: three quarters of this machine's memory)."""

    data_bytes: int = DATA_LIMIT
    memory_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in ("data_bytes", "memory_bytes"):
            value = getattr(self, name)
            if value is None and name == "memory_bytes":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UsageError("expected a number of bytes, 0 or more", parameter=name, value=value)

    @property
    def memory(self) -> int:
        """The memory a run may plan to take, in bytes."""
        return self.memory_bytes if self.memory_bytes is not None else int(_available_memory() * _MEMORY_SHARE)


@dataclass(frozen=True)
class Run:
    """How to run: ``seed`` fixes every random choice; ``engine`` is a name of
    :data:`~oisa.workload.engines.ENGINES` or ``auto`` (the workload picks); ``faults``, if
    given, replaces every OISA link's fault model; ``observer`` (a capture, a timeline) sees the
    run and is closed when it ends."""

    seed: int = 0
    engine: str = AUTO
    faults: FaultModel | None = None
    observer: Observer | None = field(default=None, compare=False)
    limits: Limits = Limits()

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UsageError("a seed is an integer, 0 or more", parameter="seed", value=self.seed)
        if self.engine != AUTO and self.engine not in ENGINES:
            raise UsageError(f"no such engine (engines: {', '.join(ENGINES)}, or {AUTO})", parameter="engine",
                             value=self.engine)
        if self.faults is not None and not isinstance(self.faults, FaultModel):
            raise UsageError("expected an oisa.sim.faults.FaultModel", parameter="faults",
                             value=type(self.faults).__name__)
        if self.observer is not None and not isinstance(self.observer, Observer):
            raise UsageError("expected an oisa.sim.observe.Observer", parameter="observer",
                             value=type(self.observer).__name__)
        if not isinstance(self.limits, Limits):
            raise UsageError("expected an oisa.workload.run.Limits", parameter="limits",
                             value=type(self.limits).__name__)

    def settled(self, auto: str, *, allowed: tuple[str, ...], workload: str) -> Run:
        """This run with its engine decided: ``auto`` if it was left to the workload, and
        checked against the engines ``workload`` runs on."""
        name = auto if self.engine == AUTO else self.engine
        if name not in allowed:
            raise UsageError(f"{workload} runs on {' or '.join(allowed)}", parameter="engine", value=name)
        if self.faults is not None and self.faults.active and not ENGINES[name].moves_bytes:
            raise UsageError(f"faults need an engine that moves bytes; {workload} runs on {name}, which has no bits "
                             f"to flip", parameter="faults")
        return self if name == self.engine else replace(self, engine=name)

    @property
    def executor(self) -> Engine:
        """The engine this (settled) run executes on."""
        if self.engine == AUTO:
            raise RuntimeError("the run's engine was never settled: call Run.settled first")
        return ENGINES[self.engine]

    @property
    def frame_engine(self) -> FrameEngine:
        """The frame-level engine this (settled) run executes on, for workloads that steer
        cards directly."""
        engine = self.executor
        if not isinstance(engine, FrameEngine):
            raise UsageError("this workload runs only on a frame-level engine", parameter="engine", value=self.engine)
        return engine

    @property
    def moves_bytes(self) -> bool:
        """Whether this (settled) run moves real bytes, so that there is data to check."""
        return self.executor.moves_bytes
