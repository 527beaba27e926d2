"""A run: everything about *how* to run a workload that is not the workload itself.

One frozen :class:`Run` value (seed, engine, faults, observer, limits) is built once, by the
command line or by a script, and passed whole to whatever runs; nothing below it re-derives any
of these from elsewhere. A workload that is asked for the ``auto`` engine settles it once
(:meth:`Run.settled`), by its own rule, and everything after sees the settled value; on a fabric
beyond what the frame-level engines take, ``auto`` settles on ``flow`` where the workload runs
there, and the settled run says why (:attr:`Run.chosen`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from oisa.errors import UsageError
from oisa.fabric import FabricSpec
from oisa.fabric.build import LinkEncryption
from oisa.fabric.loader import memory_budget
from oisa.fabric.outages import Outage
from oisa.fabric.tenancy import Tenancy
from oisa.sim.faults import FaultModel
from oisa.sim.observe import Observer
from oisa.units import format_size
from oisa.workload.engines import ENGINES, Engine, FrameEngine

__all__ = ["AUTO", "DATA_LIMIT", "FRAME_CARDS", "Limits", "Run", "check_memory"]

AUTO = "auto"
# "auto" moves real bytes, and checks them, while a run's inputs over all cards stay within this:
# data mode builds and checks every frame, some 2,000 messages per wall second (README).
DATA_LIMIT = 1024 * 1024
# The most cards the frame-level engines build: a 64 MiB ring all-reduce in timing mode takes
# 5.7 s at 64 cards and 22.7 s at 128 on the reference machine, about four times more for twice
# the cards, so about half an hour at 1,024 (DESIGN.md, "Time and speed"); beyond, the flow engine.
FRAME_CARDS = 1024


@dataclass(frozen=True)
class Limits:
    """What a run may cost: ``data_bytes`` is the most input (over all cards) ``auto`` moves as
    real bytes; ``memory_bytes`` the most memory a run may plan to take before it is refused
    (None: three quarters of this machine's memory); ``frame_cards`` the most cards the
    frame-level engines build."""

    data_bytes: int = DATA_LIMIT
    memory_bytes: int | None = None
    frame_cards: int = FRAME_CARDS

    def __post_init__(self) -> None:
        for name in ("data_bytes", "memory_bytes", "frame_cards"):
            value = getattr(self, name)
            if value is None and name == "memory_bytes":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                what = "cards" if name == "frame_cards" else "bytes"
                raise UsageError(f"expected a number of {what}, 0 or more", parameter=name, value=value)

    @property
    def memory(self) -> int:
        """The memory a run may plan to take, in bytes."""
        return self.memory_bytes if self.memory_bytes is not None else memory_budget()


@dataclass(frozen=True)
class Run:
    """How to run: ``seed`` fixes every random choice; ``engine`` is a name of
    :data:`~oisa.workload.engines.ENGINES` or ``auto`` (the workload picks); ``faults``, if
    given, replaces every OISA link's fault model; ``observer`` (a capture, a timeline) sees the
    run and is closed when it ends. ``chosen`` says why ``auto`` settled on the engine it did
    (None where the engine was asked for). ``tenancy``, if given, is enforced by the fabric's
    cards and switches (:mod:`oisa.fabric.tenancy`); it needs the data engine, whose requests
    are real, and ``auto`` then settles on it. ``encryption``, if given, encrypts every OISA link
    (:class:`~oisa.fabric.build.LinkEncryption`), on the frame-level engines. ``outages`` are
    components that fail during the run (:class:`~oisa.fabric.outages.Outage`), on the
    frame-level engines too."""

    seed: int = 0
    engine: str = AUTO
    faults: FaultModel | None = None
    observer: Observer | None = field(default=None, compare=False)
    limits: Limits = Limits()
    chosen: str | None = field(default=None, compare=False)
    tenancy: Tenancy | None = field(default=None, compare=False)
    encryption: LinkEncryption | None = None
    outages: tuple[Outage, ...] = ()  # components that fail mid-run (oisa.fabric.outages), frame-level engines

    def __post_init__(self) -> None:
        self._check_outages()
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UsageError("a seed is an integer, 0 or more", parameter="seed", value=self.seed)
        if not isinstance(self.engine, str) or (self.engine != AUTO and self.engine not in ENGINES):
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
        if self.encryption is not None and not isinstance(self.encryption, LinkEncryption):
            raise UsageError("expected an oisa.fabric.build.LinkEncryption", parameter="encryption",
                             value=type(self.encryption).__name__)
        if self.tenancy is not None and not isinstance(self.tenancy, Tenancy):
            raise UsageError("expected an oisa.fabric.tenancy.Tenancy", parameter="tenancy",
                             value=type(self.tenancy).__name__)

    def _check_outages(self) -> None:
        if not isinstance(self.outages, tuple) or not all(isinstance(o, Outage) for o in self.outages):
            raise UsageError("expected a tuple of oisa.fabric.outages.Outage", parameter="outages",
                             value=type(self.outages).__name__)

    def settled(self, auto: str, *, allowed: tuple[str, ...], workload: str, spec: FabricSpec | None = None) -> Run:
        """This run with its engine decided: ``auto`` if it was left to the workload (or
        ``flow``, if ``spec`` has more cards than the frame-level engines take and the workload
        runs on it), and checked against the engines ``workload`` runs on."""
        name, chosen = (auto, f"auto picked {auto} for {workload}") if self.engine == AUTO else (self.engine, None)
        if self.tenancy is not None:
            if self.engine == AUTO and "data" in allowed:
                name, chosen = "data", "auto picked data: tenants are enforced on real requests"
            elif name != "data":
                raise UsageError(f"tenants are enforced on real requests, which only the data engine builds; "
                                 f"{workload} was to run on {name}", parameter="tenancy", remedy=("engine", "data"))
        cards = len(spec.cards) if spec is not None else 0
        if self.engine == AUTO and cards > self.limits.frame_cards and "flow" in allowed:
            name = "flow"
            chosen = (f"auto picked flow: {cards:,} cards, more than the {self.limits.frame_cards:,} the frame-level "
                      f"engines take")
        if name not in allowed:
            raise UsageError(f"{workload} runs on {' or '.join(allowed)}", parameter="engine", value=name)
        if self.encryption is not None and name == "flow":
            raise UsageError("encrypted links are modelled flit by flit: the data or timing engine",
                             parameter="encryption", remedy=("engine", "timing"))
        if self.outages and name == "flow":
            raise UsageError("outages are run frame by frame: the data or timing engine (the goodput of failures at "
                             "cluster scale is oisa scenario failures)", parameter="outages",
                             remedy=("engine", "timing"))
        if self.faults is not None and self.faults.active and not ENGINES[name].moves_bytes:
            raise UsageError(f"faults need an engine that moves bytes; {workload} runs on {name}, which has no bits "
                             f"to flip", parameter="faults")
        engine = ENGINES[name]
        if self.observer is not None and not isinstance(engine, FrameEngine):
            self.observer.close()  # it will see nothing: what it opened is closed, not left behind
            raise UsageError(f"captures and timelines record frames; the {name} engine has none", parameter="observer",
                             remedy=("engine", "timing"))
        if spec is not None and isinstance(engine, FrameEngine):
            engine.check_size(spec, self)
        return replace(self, engine=name, chosen=chosen) if name != self.engine or chosen != self.chosen else self

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

    def check_holds(self, held: int, *, parameter: str, value: object, over: str = "") -> None:
        """Refuse, before anything runs, a (settled) run that moves real bytes and would hold
        ``held`` of them (``over``: where, as " over the 8 cards"), more than its limits allow;
        the error blames ``parameter`` and suggests timing mode."""
        if self.moves_bytes and held > self.limits.memory:
            raise UsageError(f"moving real bytes would hold about {format_size(held)}{over}, more than this run may "
                             f"take ({format_size(self.limits.memory)})", parameter=parameter, value=value,
                             remedy=("engine", "timing"))


def check_memory(spec: FabricSpec, needs: Iterable[tuple[int, int]], *, parameter: str, value: object) -> None:
    """Refuse, naming ``parameter``, a workload whose card cannot hold what it needs: ``needs``
    are (card id, bytes) pairs."""
    for card_id, need in needs:
        card = spec.card(card_id)
        if card.device.capacity < need:
            raise UsageError(f"needs {format_size(need)} of memory on {card.name} ({card.device.name}), which has "
                             f"{format_size(card.device.capacity)}", parameter=parameter, value=value)
