"""What every workload does around its own steps: a fresh kernel and fabric, the observer
attached and closed, and its tasks started together and awaited."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from oisa.fabric import FabricSpec, Mode, build
from oisa.sim import Kernel, Signal
from oisa.sim.faults import FaultModel
from oisa.sim.observe import Observer

__all__ = ["all_of", "run_on", "then_set"]

T = TypeVar("T")


def run_on(spec: FabricSpec, workload: Callable[..., Awaitable[T]], *args: Any, seed: int,
           faults: FaultModel | None, mode: Mode, observer: Observer | None) -> T:
    """Run ``workload(fabric, *args)`` on a fresh instance of ``spec`` and return its result.

    ``observer`` (a capture, a timeline) sees the run and is closed when it ends, even when it
    ends in an error, so what was gathered until then is kept.
    """
    kernel = Kernel(seed)
    kernel.observer = observer
    fabric = build(spec, kernel, faults, mode)
    try:
        return kernel.run(workload, fabric, *args)
    finally:
        if observer is not None:
            observer.close()


async def all_of(kernel: Kernel, tasks: Sequence[tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]]]) -> None:
    """Start every ``(async_fn, args)`` at this instant, in order, and return when all are done."""
    finished: list[Signal[None]] = []
    for index, (async_fn, args) in enumerate(tasks):
        done: Signal[None] = Signal(kernel, f"task {index} of {len(tasks)}")
        finished.append(done)
        kernel.spawn(then_set, async_fn, args, done, name=f"workload.{index}")
    for done in finished:
        await done.wait()


async def then_set(async_fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], done: Signal[None]) -> None:
    """Run ``async_fn(*args)``, then set ``done``: a task others can wait for."""
    await async_fn(*args)
    done.set(None)
