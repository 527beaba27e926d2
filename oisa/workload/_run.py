"""What workloads made of tasks share: starting several at one instant and awaiting them all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from oisa.sim import Kernel, Signal

__all__ = ["all_of", "then_set"]


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
