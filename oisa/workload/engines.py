"""The engines a workload can run on, as a small registry: what each is and how it runs.

``data`` builds every frame and checks real bytes; ``timing`` times every frame and moves no
bytes. Both are frame-level engines: they build the fabric inside a virtual-time kernel at a
:class:`~oisa.fabric.Fidelity` and run there either a :class:`~oisa.plan.Plan`
(:meth:`FrameEngine.run_plan`, what workloads describe) or, for workloads that steer cards
directly, a coroutine (:meth:`FrameEngine.execute`). They refuse fabrics beyond the run's
``limits.frame_cards`` (and node ids the wire's 16 bits cannot carry), naming the engine that
takes them. ``flow`` (:class:`FlowEngine`) times plans by max-min fair rates over the fabric's
routes (:mod:`oisa.flow`), for clusters of any size; it builds nothing and moves no bytes. An
engine is chosen once, in the :class:`~oisa.workload.run.Run`; the cards' half of a frame-level
one is the :class:`~oisa.device.movement.Movement` the fidelity gives them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from oisa.errors import AccessDenied, SimulationDeadlock, UsageError
from oisa.fabric import FIDELITIES, BringUp, Fabric, FabricSpec, Fidelity, build
from oisa.fabric.outages import Failover, failover_of
from oisa.fabric.roce import roce_totals
from oisa.flow import run_plan as run_flow_plan
from oisa.plan import Execution, Plan
from oisa.sim import Kernel
from oisa.workload.execute import execute

if TYPE_CHECKING:
    from oisa.workload.run import Run

__all__ = ["ENGINES", "WIRE_NODE_IDS", "Engine", "ExecuteHook", "FlowEngine", "FrameEngine", "Outcome",
           "hooked_execution"]

WIRE_NODE_IDS = 0xFFFF  # the highest node id an OISA message can address: what the frame-level engines can build

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    """A plan's run: its timings, and what the fabric counted while it ran (frames and bytes
    on the wire, messages the cards sent, link-layer and fault-injection counters), bringing
    the links up left out and reported apart in ``bringup``. ``checked`` is what the workload's
    check of the cards' memory returned (None where no bytes moved). ``events`` is what the
    engine did to get there: callbacks its clock ran (frame-level), or times it computed rates
    (flow)."""

    execution: Execution
    frames: int
    wire_bytes: int
    messages: int
    bringup: BringUp
    link: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    checked: Any = None
    events: int = 0
    isolation: dict[str, int] | None = None  # what a tenancy's checks refused, by kind (None: no tenancy)
    outages: dict[str, object] | None = None  # what the run's outages did (Failover.summary; None: none)
    roce: dict[str, int] | None = None  # PFC, ECN, DCQCN counters (oisa.fabric.roce.ROCE_COUNTERS; None: no RoCE)


ExecuteHook = Callable[["FrameEngine", FabricSpec, "Run", Callable[..., Awaitable[Any]], tuple[Any, ...]], Any]
"""What :meth:`FrameEngine.execute` hands its work to inside :func:`hooked_execution`."""
_EXECUTE_HOOK: ContextVar[ExecuteHook | None] = ContextVar("oisa_execute_hook", default=None)


@contextmanager
def hooked_execution(hook: ExecuteHook | None) -> Iterator[None]:
    """Within this block, :meth:`FrameEngine.execute` calls ``hook(engine, spec, run, workload,
    args)`` and returns what it returns, in place of simulating (None: simulate as usual; the
    hook itself runs with none). This is how several workloads' simulations become one: the jobs
    runner (:mod:`oisa.workload.jobs`) gathers each workload's simulation, runs them all in one
    fabric, and hands each workload back its own part, so any workload runs beside others
    unchanged."""
    token = _EXECUTE_HOOK.set(hook)
    try:
        yield
    finally:
        _EXECUTE_HOOK.reset(token)


Prepare = Callable[[Fabric], Any]  # before the plan: put the inputs in the cards' memory; returns what check needs
Check = Callable[[Fabric, Any], Any]  # after it: compare the cards' memory with what it should hold


@dataclass(frozen=True)
class Engine(ABC):
    """What every engine is: a name, a line saying what it does, and whether bytes move."""

    name: str
    summary: str

    @property
    @abstractmethod
    def moves_bytes(self) -> bool:
        """Whether the engine moves real bytes, so that there is data to check."""

    @abstractmethod
    def run_plan(self, spec: FabricSpec, run: Run, plan: Plan, *, prepare: Prepare | None = None,
                 check: Check | None = None) -> Outcome:
        """Run ``plan`` on a fresh instance of ``spec``. Where bytes move, ``prepare(fabric)``
        runs first and ``check(fabric, prepared)`` after, and its answer is the outcome's
        ``checked``."""


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
        was gathered until then is kept. (Inside :func:`hooked_execution`, the hook does it.)"""
        hook = _EXECUTE_HOOK.get()
        if hook is not None:
            with hooked_execution(None):
                return hook(self, spec, run, workload, args)
        self.check_size(spec, run)
        kernel = Kernel(run.seed)
        kernel.observer = run.observer
        try:
            policy = run.tenancy.policy() if run.tenancy is not None else None
            fabric: Fabric = build(spec, kernel, run.faults, self.fidelity, policy, run.encryption)
            if run.outages:
                Failover(fabric, run.outages)
            try:
                return kernel.run(workload, fabric, run, *args)
            except SimulationDeadlock:
                refusals = fabric.refusals
                if refusals is None or not refusals.total:
                    raise
                # posted writes refused by the tenancy leave their receivers waiting for ever
                raise AccessDenied(f"the run stalled after the tenancy refused accesses ({refusals.as_dict()}): "
                                   f"what they carried never arrived; give the cards windows for the addresses the "
                                   f"workload uses, and keep it within one partition") from None
        finally:
            if run.observer is not None:
                run.observer.close()

    def run_plan(self, spec: FabricSpec, run: Run, plan: Plan, *, prepare: Prepare | None = None,
                 check: Check | None = None) -> Outcome:
        return self.execute(spec, run, _plan_run, plan, prepare, check)

    def check_size(self, spec: FabricSpec, run: Run) -> None:
        """Refuse, before building anything, a fabric beyond what this engine takes."""
        cards = len(spec.cards)
        if cards > run.limits.frame_cards:
            raise UsageError(f"the {self.name} engine takes at most {run.limits.frame_cards:,} cards, building every "
                             f"frame; fabric {spec.name} has {cards:,}: the flow engine takes any number",
                             parameter="engine", value=self.name, remedy=("engine", "flow"))
        highest = max((node.id for node in spec.nodes()), default=0)
        if highest > WIRE_NODE_IDS:
            raise UsageError(f"the {self.name} engine builds OISA messages, whose node ids have 16 bits; fabric "
                             f"{spec.name} numbers its nodes up to {highest:,}: the flow engine takes it",
                             parameter="engine", value=self.name, remedy=("engine", "flow"))


@dataclass(frozen=True)
class FlowEngine(Engine):
    """The flow-level engine: plans timed by max-min fair rates, for fabrics of any size."""

    @property
    def moves_bytes(self) -> bool:
        return False

    def run_plan(self, spec: FabricSpec, run: Run, plan: Plan, *, prepare: Prepare | None = None,
                 check: Check | None = None) -> Outcome:
        """Time ``plan`` on ``spec``; no bytes move, so ``prepare`` and ``check`` are not called."""
        flow = run_flow_plan(spec, plan, seed=run.seed, memory_limit=run.limits.memory)
        return Outcome(flow.execution, round(flow.frames), round(flow.wire_bytes), round(flow.messages),
                       BringUp(0, 0, 0, {}), events=flow.events)


async def _plan_run(fabric: Fabric, run: Run, plan: Plan, prepare: Prepare | None, check: Check | None) -> Outcome:
    bringup = await fabric.bring_up()
    moving = run.moves_bytes
    prepared = prepare(fabric) if moving and prepare is not None else None
    execution = await execute(fabric, plan, data=moving)
    checked = check(fabric, prepared) if moving and check is not None else None
    frames, wire_bytes = fabric.wire_totals()
    link = {key: value - bringup.link.get(key, 0) for key, value in fabric.link_totals().items()}
    return Outcome(execution, frames - bringup.frames, wire_bytes - bringup.wire_bytes,
                   sum(c.messages_sent for c in fabric.cards.values()), bringup, link, fabric.fault_totals(), checked,
                   fabric.kernel.clock.events_run,
                   fabric.refusals.as_dict() if fabric.refusals is not None else None,
                   _outages(fabric), _roce(fabric))


def _roce(fabric: Fabric) -> dict[str, int] | None:
    ports = (port for link in fabric.links for port in link.ports)
    return roce_totals(fabric.forwarders.values(), ports, fabric.roce_nics)


def _outages(fabric: Fabric) -> dict[str, object] | None:
    failover = failover_of(fabric)
    return failover.summary() if failover is not None else None


ENGINES: dict[str, Engine] = {e.name: e for e in (
    FrameEngine("data", "every frame built and CRC-checked, real bytes moved and verified", FIDELITIES["data"]),
    FrameEngine("timing", "every frame timed, no bytes: for sizes data mode would take too long to move",
                FIDELITIES["timing"]),
    FlowEngine("flow", "transfers as flows with max-min fair rates, no frames: for clusters of thousands of cards"),
)}
