"""``oisa sweep`` on the study's executors: every size of every fabric is one task.

A sweep is planned (and checked) here as :func:`oisa.workload.sweep.sweep` plans it; each
size then runs where the executor puts it, and the results are put back in size order, so the
table is the one a serial sweep prints. A size that fails fails the sweep, as it does serially:
its error comes back as data (a :class:`~oisa.errors.UsageError` with its parameter, or a
:class:`~oisa.errors.PointError` naming what was raised) and is raised here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from oisa.errors import NO_VALUE, OisaError, PointError, UsageError
from oisa.fabric import FabricSpec
from oisa.study.executors import Executor, Lost
from oisa.workload.run import Run
from oisa.workload.sweep import Sweep, SweepPlan, plan_sweep, sweep_size

__all__ = ["sweeps"]


def sweeps(specs: Sequence[FabricSpec], collective: str, runs: Sequence[Run], executor: Executor, *, min_size: int,
           max_size: int, factor: int = 2, progress: Callable[[str, int], None] | None = None,
           **options: Any) -> list[Sweep]:
    """One sweep per fabric (``runs[i]`` for ``specs[i]``), every size of every fabric a task on
    ``executor``; ``progress(fabric name, size)`` after each size completes."""
    plans = [plan_sweep(spec, collective, run, min_size=min_size, max_size=max_size, factor=factor, **options)
             for spec, run in zip(specs, runs, strict=True)]
    tasks = [(plan, size) for plan in plans for size in plan.sizes]
    if progress is not None:  # sizes that hold no whole element per card are done already
        for plan in plans:
            for size in plan.skipped:
                progress(plan.spec.name, size)
    results: dict[int, Any] = {}
    for index, outcome in executor.run(_size, tasks):
        if isinstance(outcome, Lost):
            raise PointError("WorkerLost", f"{tasks[index][0].spec.name} at {tasks[index][1]} B: {outcome.message}")
        kind, value = outcome
        if kind != "ok":
            raise _error(kind, value)
        results[index] = value
        if progress is not None:
            progress(tasks[index][0].spec.name, tasks[index][1])
    out, at = [], 0
    for plan in plans:
        out.append(Sweep(tuple(results[at + i] for i in range(len(plan.sizes))), plan.skipped))
        at += len(plan.sizes)
    return out


def _size(task: tuple[SweepPlan, int]) -> tuple[str, Any]:
    """One size, where a worker runs it: the result, or the error as data."""
    plan, size = task
    try:
        return "ok", sweep_size(plan, size)
    except UsageError as exc:
        given = () if exc.value is NO_VALUE else (exc.value,)  # the sentinel does not survive pickling
        return "usage", (exc.problem, exc.parameters, given, exc.remedy)
    except OisaError as exc:
        return "error", (type(exc).__name__, str(exc))


def _error(kind: str, value: Any) -> OisaError:
    if kind == "usage":
        problem, parameters, given, remedy = value
        return UsageError(problem, parameter=parameters or None, value=given[0] if given else NO_VALUE, remedy=remedy)
    return PointError(*value)
