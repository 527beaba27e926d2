"""The engines a workload can run on, as a small registry: what each is and how it runs.

``data`` builds every frame and checks real bytes; ``timing`` times every frame and moves no
bytes. Both are frame-level engines: they build the fabric inside a virtual-time kernel at a
:class:`~oisa.fabric.Fidelity` and run there either a :class:`~oisa.plan.Plan`
(:meth:`FrameEngine.run_plan`, what workloads describe) or, for workloads that steer cards
directly, a coroutine (:meth:`FrameEngine.execute`). An engine is chosen once, in the
:class:`~oisa.workload.run.Run`; the cards' half of it is the
:class:`~oisa.device.movement.Movement` the fidelity gives them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from oisa.fabric import FIDELITIES, BringUp, Fabric, FabricSpec, Fidelity, build
from oisa.plan import Execution, Plan
from oisa.sim import Kernel
from oisa.workload.execute import execute

if TYPE_CHECKING:
    from oisa.workload.run import Run

__all__ = ["ENGINES", "Engine", "FrameEngine", "Outcome"]

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    """A plan's run: its timings, and what the fabric counted while it ran (frames and bytes
    on the wire, messages the cards sent, link-layer and fault-injection counters), bringing
    the links up left out and reported apart in ``bringup``. ``checked`` is what the workload's
    check of the cards' memory returned (None where no bytes moved)."""

    execution: Execution
    frames: int
    wire_bytes: int
    messages: int
    bringup: BringUp
    link: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    checked: Any = None


Prepare = Callable[[Fabric], Any]  # before the plan: put the inputs in the cards' memory; returns what check needs
Check = Callable[[Fabric, Any], Any]  # after it: compare the cards' memory with what it should hold


@dataclass(frozen=True)
class Engine:
    """What every engine is: a name, a line saying what it does, and whether bytes move."""

    name: str
    summary: str

    @property
    def moves_bytes(self) -> bool:
        raise NotImplementedError

    def run_plan(self, spec: FabricSpec, run: Run, plan: Plan, *, prepare: Prepare | None = None,
                 check: Check | None = None) -> Outcome:
        """Run ``plan`` on a fresh instance of ``spec``. Where bytes move, ``prepare(fabric)``
        runs first and ``check(fabric, prepared)`` after, and its answer is the outcome's
        ``checked``."""
        raise NotImplementedError


@dataclass(frozen=True)
class FrameEngine(Engine):
    """A frame-level engine: the fabric built at ``fidelity`` in a fresh kernel."""

    fidelity: Fidelity

    @property
    def moves_bytes(self) -> bool:
        return self.fidelity.moves_bytes

    def execute(self, spec: FabricSpec, run: Run, workload: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``workload(fabric, run, *args)`` on a fresh instance of ``spec`` and return its
        result. The run's observer sees it and is closed when it ends, even in an error, so what
        was gathered until then is kept."""
        kernel = Kernel(run.seed)
        kernel.observer = run.observer
        try:
            fabric: Fabric = build(spec, kernel, run.faults, self.fidelity)
            return kernel.run(workload, fabric, run, *args)
        finally:
            if run.observer is not None:
                run.observer.close()

    def run_plan(self, spec: FabricSpec, run: Run, plan: Plan, *, prepare: Prepare | None = None,
                 check: Check | None = None) -> Outcome:
        return self.execute(spec, run, _plan_run, plan, prepare, check)


async def _plan_run(fabric: Fabric, run: Run, plan: Plan, prepare: Prepare | None, check: Check | None) -> Outcome:
    bringup = await fabric.bring_up()
    moving = run.moves_bytes
    prepared = prepare(fabric) if moving and prepare is not None else None
    execution = await execute(fabric, plan, data=moving)
    checked = check(fabric, prepared) if moving and check is not None else None
    frames, wire_bytes = fabric.wire_totals()
    link = {key: value - bringup.link.get(key, 0) for key, value in fabric.link_totals().items()}
    return Outcome(execution, frames - bringup.frames, wire_bytes - bringup.wire_bytes,
                   sum(c.messages_sent for c in fabric.cards.values()), bringup, link, fabric.fault_totals(), checked)


ENGINES: dict[str, Engine] = {e.name: e for e in (
    FrameEngine("data", "every frame built and CRC-checked, real bytes moved and verified", FIDELITIES["data"]),
    FrameEngine("timing", "every frame timed, no bytes: for sizes data mode would take too long to move",
                FIDELITIES["timing"]),
)}
