"""Several workloads at once: each job runs its workload on its own cards, all in one simulation.

A jobs file (``oisa run FABRIC --jobs JOBS.toml``) lists jobs, each a registered workload with
its options, on cards of its own::

    [[jobs]]
    name = "victim"             # optional (default job0, job1, ...)
    workload = "loadstore"      # any registered workload, traces (graph) included
    cards = [0, 4]
    tenant = "alpha"            # optional: the job's cards must be the tenant's (needs a tenancy)
    class = 7                   # optional: the traffic class (0-7) its cards' messages carry
    [jobs.options]
    accesses = 400
    background = 0

    [qos]                       # optional: traffic classes share the OISA links by policy
    arbitration = "weighted"    # or "strict": the highest class first
    weights = { 7 = 8 }         # class -> weight (the jobs' other classes: 1)

A workload's card options it is not given are filled from the job's cards: ``cards`` with all of
them, single cards (``src``, ``dst``) with the first, the second, ... in order. Every entry is
checked before anything runs, and a wrong one is one line naming it (``jobs[1].options.size``):
an unknown workload or option, a bad value, cards outside the fabric or the tenant, cards two
jobs share, options naming cards outside the job.

How it runs (:func:`run_jobs`): each workload is called as usual, and its simulation (what it
hands :meth:`~oisa.workload.engines.FrameEngine.execute`) is gathered instead of run
(:func:`~oisa.workload.engines.hooked_execution`). Then each job's simulation runs alone on a
fresh instance of the fabric, and all of them together on one instance, started at the same
instant once its links are up; then each workload is called again and handed what its
simulation returned, alone and together, so it builds its own result from it as ever. A job
that sends from a card outside its own is refused by name after its run alone. The figures:
each job's time (from the instant the jobs start to its end) alone and together, their ratio
(the slowdown), and the job's latency distribution (:data:`LATENCIES`) alone and together.

All jobs share one engine (the run's, or by default timing; data with a tenancy, which is
enforced on real requests); the flow engine times no frames and runs no jobs. A workload that
simulates more than once (a trace's lower bounds, say) has its first simulation run beside the
other jobs and the others run alone, as they would without jobs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from oisa.config import Table, load_toml
from oisa.errors import AccessDenied, ConfigError, OisaError, SimulationDeadlock, UsageError
from oisa.fabric import Fabric, FabricSpec, build
from oisa.fabric.tenancy import Tenancy
from oisa.link.arbitration import TRAFFIC_CLASSES, QosPolicy
from oisa.plan import Read, Send
from oisa.sim import Kernel, Signal
from oisa.units import parse_size
from oisa.workload.engines import FrameEngine, Outcome, hooked_execution
from oisa.workload.loadstore import LatencyStats, LoadStoreResult
from oisa.workload.registry import Workload, find
from oisa.workload.run import AUTO, Run

__all__ = ["LATENCIES", "Job", "JobReport", "JobRun", "JobSet", "JobsResult", "job_set", "load_jobs", "run_jobs"]



@dataclass(frozen=True)
class Job:
    """One job: ``workload`` with ``options`` on ``cards`` (of ``tenant``, if given), its cards'
    messages in ``traffic_class``."""

    name: str
    workload: str
    cards: tuple[int, ...]
    options: Mapping[str, Any]
    tenant: str | None = None
    traffic_class: int = 0


@dataclass(frozen=True)
class JobSet:
    """Checked jobs of one fabric, and the QoS policy of its OISA links (None: one channel, in
    arrival order, as without jobs)."""

    jobs: tuple[Job, ...]
    source: str = "<jobs>"
    qos: QosPolicy | None = None


# -- reading and checking -------------------------------------------------------------------------------


def load_jobs(path: str | Path, spec: FabricSpec, tenancy: Tenancy | None = None) -> JobSet:
    """Read the jobs file at ``path`` and check it against ``spec`` (and ``tenancy``)."""
    doc = load_toml(Path(path))
    jobs = []
    for index, entry in enumerate(doc.tables("jobs")):
        workload_name = entry.get("workload", str)
        options_table = entry.table("options", optional=True)
        raw_options = dict(options_table.data)
        jobs.append(Job(entry.get("name", str, f"job{index}"), workload_name, _card_list(entry, "cards"),
                        raw_options, entry.get("tenant", str, None), entry.get("class", int, 0)))
        entry.finish()
    weights: dict[int, int] | None = None
    arbitration = "weighted"
    if "qos" in doc:
        qos = doc.table("qos")
        arbitration = qos.get("arbitration", str, arbitration)
        given = qos.table("weights", optional=True)
        weights = {}
        for key in list(given.data):
            weight = given.get(key, int)
            if not key.isdigit() or not 0 <= int(key) < TRAFFIC_CLASSES:
                raise given.error(f"a traffic class is 0 to {TRAFFIC_CLASSES - 1}, not {key!r}", key)
            weights[int(key)] = weight
        given.finish()
        qos.finish()
    doc.finish()
    return job_set(spec, jobs, tenancy, source=str(path), weights=weights, arbitration=arbitration)


def job_set(spec: FabricSpec, jobs: Sequence[Job], tenancy: Tenancy | None = None, *, source: str = "<jobs>",
            weights: Mapping[int, int] | None = None, arbitration: str = "weighted") -> JobSet:
    """``jobs`` checked against ``spec`` and ``tenancy`` as a file's are (errors name the entry,
    with ``source`` as the file), their options completed with the job's cards. ``weights``
    (traffic class -> weight; None: no QoS) and ``arbitration`` make the QoS policy: a channel
    per class the jobs use or the weights name, the jobs' other classes weighing 1."""
    if not jobs:
        raise ConfigError("no jobs: give at least one [[jobs]] entry", source=source, key="jobs")
    checked: list[Job] = []
    names: dict[str, int] = {}
    owner: dict[int, str] = {}
    fabric_cards = {card.id for card in spec.cards}
    for index, job in enumerate(jobs):
        where = f"jobs[{index}]"
        if job.name in names:
            raise ConfigError(f"job name {job.name!r} is also jobs[{names[job.name]}]'s", source=source,
                              key=f"{where}.name")
        names[job.name] = index
        try:
            declared = find(job.workload)
        except UsageError as exc:
            raise ConfigError(str(exc), source=source, key=f"{where}.workload") from None
        if not job.cards:
            raise ConfigError("a job has at least one card", source=source, key=f"{where}.cards")
        for card in job.cards:
            if card not in fabric_cards:
                raise ConfigError(f"card {card} is not a card of fabric {spec.name}", source=source,
                                  key=f"{where}.cards")
            if card in owner:
                raise ConfigError(f"card {card} is also job {owner[card]!r}'s: jobs run on cards of their own",
                                  source=source, key=f"{where}.cards")
            owner[card] = job.name
        _check_tenant(job, tenancy, where, source)
        if isinstance(job.traffic_class, bool) or not 0 <= job.traffic_class < TRAFFIC_CLASSES:
            raise ConfigError(f"a traffic class is 0 to {TRAFFIC_CLASSES - 1}, not {job.traffic_class!r}",
                              source=source, key=f"{where}.class")
        checked.append(replace(job, options=_options(declared, job, spec, where, source)))
    return JobSet(tuple(checked), source, _qos(checked, weights, arbitration, source))


def _qos(jobs: Sequence[Job], weights: Mapping[int, int] | None, arbitration: str, source: str) -> QosPolicy | None:
    if weights is None:
        return None
    for tc, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
            raise ConfigError(f"a weight is an integer, 1 or more, not {weight!r}", source=source,
                              key=f"qos.weights.{tc}")
    if arbitration not in ("weighted", "strict"):
        raise ConfigError(f"arbitration is 'weighted' or 'strict', not {arbitration!r}", source=source,
                          key="qos.arbitration")
    classes = {job.traffic_class: 1 for job in jobs}
    return QosPolicy.for_classes({**classes, **weights}, arbitration)


def _check_tenant(job: Job, tenancy: Tenancy | None, where: str, source: str) -> None:
    if job.tenant is None:
        return
    if tenancy is None:
        raise ConfigError("a job names a tenant, but the run has no tenancy to check it against", source=source,
                          key=f"{where}.tenant")
    if job.tenant not in tenancy.tenants:
        raise ConfigError(f"unknown tenant {job.tenant!r} (tenants: {', '.join(tenancy.tenants)})", source=source,
                          key=f"{where}.tenant")
    outside = sorted(set(job.cards) - set(tenancy.cards_of(job.tenant)))
    if outside:
        raise ConfigError(f"card {outside[0]} is not tenant {job.tenant!r}'s (its cards: "
                          f"{list(tenancy.cards_of(job.tenant))})", source=source, key=f"{where}.cards")


def _options(declared: Workload, job: Job, spec: FabricSpec, where: str, source: str) -> dict[str, Any]:
    """The job's options, read (sizes may be written "4MiB"), checked by the workload's own
    declaration, and completed with the job's cards."""
    options: dict[str, Any] = {}
    for name, value in job.options.items():
        key = f"{where}.options.{name}"
        try:
            option = declared.option(name)
            options[name] = parse_size(value, name) if option.kind.name == "size" and isinstance(value, str) else value
        except OisaError as exc:
            raise ConfigError(str(exc), source=source, key=key) from None
    spare = list(job.cards)
    for option in declared.options:
        if option.kind.name == "cards":
            given = options.setdefault(option.name, job.cards)
            named = list(given) if isinstance(given, (list, tuple)) else [given]
        elif option.kind.name == "card":
            if option.name not in options and spare:
                options[option.name] = spare[0]
            named = [options.get(option.name)]
        else:
            continue
        for card in named:
            if card in spare:
                spare.remove(card)
            if card is not None and card not in job.cards:
                raise ConfigError(f"card {card!r} is not one of the job's cards {list(job.cards)}", source=source,
                                  key=f"{where}.options.{option.name}")
    try:
        declared.checked(options, spec)
    except UsageError as exc:
        raise ConfigError(str(exc), source=source,
                          key=f"{where}.options.{exc.parameter}" if exc.parameter else f"{where}.options") from None
    return options


def _card_list(entry: Table, key: str) -> tuple[int, ...]:
    cards = entry.get(key, list)
    if not all(isinstance(card, int) and not isinstance(card, bool) for card in cards):
        raise entry.error("expected a list of card ids, like [0, 1]", key)
    return tuple(cards)


# -- results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRun:
    """A job's run, alone or beside the others: its workload's own result, when it started and
    ended (ps, from the instant the jobs started), and its latency distribution (None where its
    workload has none: :data:`LATENCIES`)."""

    result: Any
    start_ps: int
    end_ps: int
    latency: LatencyStats | None

    @property
    def duration_ps(self) -> int:
        return self.end_ps - self.start_ps


@dataclass(frozen=True)
class JobReport:
    """One job alone and together, and what running beside the others cost it."""

    job: Job
    alone: JobRun
    together: JobRun

    @property
    def slowdown(self) -> float:
        """Its time together over its time alone."""
        return self.together.duration_ps / self.alone.duration_ps if self.alone.duration_ps else 1.0

    @property
    def p99_slowdown(self) -> float | None:
        """Its p99 latency together over alone (None: no latencies)."""
        if self.alone.latency is None or self.together.latency is None or not self.alone.latency.p99_ps:
            return None
        return self.together.latency.p99_ps / self.alone.latency.p99_ps


@dataclass(frozen=True)
class JobsResult:
    """Jobs run alone and together on one fabric. ``frames``, ``wire_bytes``, ``link`` and
    ``isolation`` are the whole fabric's while the jobs ran together; ``qos`` the arbitration
    policy the links used (None: none, one virtual channel)."""

    fabric: str
    seed: int
    mode: str
    jobs: tuple[JobReport, ...]
    end_ps: int
    bringup_ps: int
    frames: int
    wire_bytes: int
    link: dict[str, int]
    isolation: dict[str, int] | None
    qos: dict[str, Any] | None = None


def _transfer_latencies(outcome: Outcome) -> LatencyStats | None:
    """A plan's transfers (sends and reads, collective steps included), each from its start to
    its end."""
    execution = outcome.execution
    ops = execution.plan.ops
    chosen = [index for index, op in enumerate(ops) if isinstance(op, (Send, Read))]
    if not chosen:
        return None
    picked = np.asarray(chosen)
    durations = execution.finished[picked] - execution.started[picked]
    durations = durations[(execution.started[picked] >= 0) & (execution.finished[picked] >= 0)]
    return LatencyStats.of(durations.tolist()) if len(durations) else None


LATENCIES: dict[type, Callable[[Any], LatencyStats | None]] = {
    Outcome: _transfer_latencies,  # plans: each transfer's time
    LoadStoreResult: lambda result: result.idle["load"],  # its loads, one at a time (stores are posted)
}
"""A job's latency distribution, by what its simulation returns."""


# -- running ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Simulation:
    """What a workload handed the engine: the engine, the run, the coroutine and its arguments."""

    engine: FrameEngine
    run: Run
    coroutine: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...]


class _Gathered(BaseException):
    """Carries a workload's simulation out of it, unrun (a BaseException, so that no workload's
    own handling of errors takes it for one)."""

    def __init__(self, simulation: _Simulation) -> None:
        super().__init__("gathered")
        self.simulation = simulation


def run_jobs(spec: FabricSpec, run: Run, jobs: JobSet) -> JobsResult:
    """Run ``jobs`` on ``spec``: each alone, then all together in one simulation."""
    engine_name = run.engine if run.engine != AUTO else ("data" if run.tenancy is not None else "timing")
    if engine_name == "flow":
        raise UsageError("jobs share one fabric frame by frame: the data or timing engine", parameter="engine",
                         value="flow", remedy=("engine", "timing"))
    quiet = replace(run, engine=engine_name, observer=None)
    simulations = [_gather(spec, quiet, job, jobs.source, index) for index, job in enumerate(jobs.jobs)]
    alone = [_simulate(spec, quiet, [(job, simulation)], jobs)[0][0]
             for job, simulation in zip(jobs.jobs, simulations)]
    together, fabric = _simulate(spec, replace(run, engine=engine_name), list(zip(jobs.jobs, simulations)), jobs)
    reports = []
    for index, job in enumerate(jobs.jobs):
        reports.append(JobReport(job, _replayed(spec, quiet, job, alone[index]),
                                 _replayed(spec, quiet, job, together[index])))
    frames, wire_bytes = fabric.wire_totals()
    bringup = fabric.brought_up
    assert bringup is not None
    return JobsResult(spec.name, run.seed, engine_name, tuple(reports), fabric.kernel.now - bringup.time_ps,
                      bringup.time_ps, frames - bringup.frames, wire_bytes - bringup.wire_bytes,
                      {key: value - bringup.link.get(key, 0) for key, value in fabric.link_totals().items()},
                      fabric.refusals.as_dict() if fabric.refusals is not None else None,
                      jobs.qos.as_dict() if jobs.qos is not None else None)


def _gather(spec: FabricSpec, run: Run, job: Job, source: str, index: int) -> _Simulation:
    """Call the job's workload and take its simulation from it, unrun."""
    def gather(engine: FrameEngine, _spec: FabricSpec, settled: Run, coroutine: Callable[..., Awaitable[Any]],
               args: tuple[Any, ...]) -> Any:
        raise _Gathered(_Simulation(engine, settled, coroutine, args))

    try:
        with hooked_execution(gather):
            find(job.workload)(spec, run, **job.options)
    except _Gathered as gathered:
        return gathered.simulation
    except UsageError as exc:
        parameter = exc.parameter
        where = f"jobs[{index}].options.{parameter}" if parameter and parameter in job.options else f"jobs[{index}]"
        raise ConfigError(f"job {job.name!r}: {exc}", source=source, key=where) from None
    raise ConfigError(f"job {job.name!r}: workload {job.workload} ran nothing frame by frame", source=source,
                      key=f"jobs[{index}].workload")


@dataclass(frozen=True)
class _Ran:
    """A simulation's part of a run: what its coroutine returned, and when it started and ended."""

    returned: Any
    start_ps: int
    end_ps: int


def _simulate(spec: FabricSpec, run: Run, jobs: list[tuple[Job, _Simulation]],
              job_set: JobSet) -> tuple[list[_Ran], Fabric]:
    """Run the jobs' simulations in one fresh instance of ``spec``, all started the instant its
    links are up; every card's messages carry its job's traffic class, which the OISA links
    arbitrate by the jobs' QoS policy."""
    engine = jobs[0][1].engine
    engine.check_size(spec, run)
    kernel = Kernel(run.seed)
    kernel.observer = run.observer
    try:
        policy = run.tenancy.policy() if run.tenancy is not None else None
        fabric = build(spec, kernel, run.faults, engine.fidelity, policy, run.encryption, job_set.qos)
        for job, _ in jobs:
            for card in job.cards:
                fabric.card(card).traffic_class = job.traffic_class
        try:
            ran = kernel.run(_together, fabric, jobs)
        except SimulationDeadlock:
            refusals = fabric.refusals
            if refusals is None or not refusals.total:
                raise
            raise AccessDenied(f"the jobs stalled after the tenancy refused accesses ({refusals.as_dict()}): what "
                               f"they carried never arrived") from None
    finally:
        if run.observer is not None:
            run.observer.close()
    if len(jobs) == 1:
        _check_senders(fabric, jobs[0][0], job_set.source)
    return ran, fabric


async def _together(fabric: Fabric, jobs: list[tuple[Job, _Simulation]]) -> list[_Ran]:
    await fabric.bring_up()
    kernel = fabric.kernel
    start = kernel.now
    ran: list[_Ran | None] = [None] * len(jobs)
    finished: list[Signal[None]] = []
    for index, (job, simulation) in enumerate(jobs):
        done: Signal[None] = Signal(kernel, f"job {job.name}")
        finished.append(done)
        kernel.spawn(_one, fabric, simulation, ran, index, done, name=f"job.{job.name}")
    for done in finished:
        await done.wait()
    return [replace(r, start_ps=r.start_ps - start, end_ps=r.end_ps - start) for r in ran if r is not None]


async def _one(fabric: Fabric, simulation: _Simulation, ran: list[_Ran | None], index: int,
               done: Signal[None]) -> None:
    start = fabric.kernel.now
    returned = await simulation.coroutine(fabric, simulation.run, *simulation.args)
    ran[index] = _Ran(returned, start, fabric.kernel.now)
    done.set(None)


def _check_senders(fabric: Fabric, job: Job, source: str) -> None:
    """A job alone sent from its own cards only; anything else is a workload that reaches past
    them (a default that picks other cards), named."""
    strays = [card.node_id for card in fabric.cards.values() if card.messages_sent and card.node_id not in job.cards]
    if strays:
        raise ConfigError(f"job {job.name!r}'s {job.workload} sent from card {strays[0]}, which is not one of its "
                          f"cards {list(job.cards)}: give the workload options that keep it on them", source=source,
                          key="jobs")


def _replayed(spec: FabricSpec, run: Run, job: Job, ran: _Ran) -> JobRun:
    """Call the job's workload again, handing its (first) simulation what it returned in ``ran``."""
    handed = [False]

    def hand_back(engine: FrameEngine, _spec: FabricSpec, settled: Run, coroutine: Callable[..., Awaitable[Any]],
                  args: tuple[Any, ...]) -> Any:
        if handed[0]:
            return engine.execute(_spec, settled, coroutine, *args)  # a later simulation: alone, as ever
        handed[0] = True
        return ran.returned

    with hooked_execution(hand_back):
        result = find(job.workload)(spec, run, **job.options)
    latency = LATENCIES.get(type(ran.returned))
    return JobRun(result, ran.start_ps, ran.end_ps, latency(ran.returned) if latency is not None else None)
