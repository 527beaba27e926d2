"""The kernel: runs an emulation under trio in virtual time and owns its tasks and randomness."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from typing import Any, TypeVar

import numpy as np
import outcome
import trio

from oisa.errors import SimulationDeadlock
from oisa.sim._clock import VirtualClock, in_wake_order
from oisa.sim.observe import Observer
from oisa.units import format_time

__all__ = ["Kernel"]

T = TypeVar("T")


class _Sleep:
    __slots__ = ("until",)

    def __init__(self, until: int) -> None:
        self.until = until

    def __str__(self) -> str:
        return f"sleeping until {format_time(self.until)}"


class Kernel:
    """Virtual-time runtime for one emulation run.

    Everything random in a run draws from :attr:`rng`, seeded from ``seed``, so a seed fixes
    every result. Time is :attr:`now`, in integer picoseconds.

    Tasks wait with :meth:`park` and are woken with :meth:`wake`; plain callbacks are scheduled
    with :meth:`call_at` / :meth:`call_later` and run without a task switch. When every task
    waits and nothing is scheduled, the run fails with :class:`SimulationDeadlock`, listing what
    each task was waiting for.

    ``batch_release=False`` releases one task per pass of trio's loop instead of all tasks
    woken at one instant; results are identical (the tests check it), only slower.
    """

    def __init__(self, seed: int = 0, *, batch_release: bool = True) -> None:
        self.seed = seed
        self.batch_release = batch_release
        self.rng = np.random.default_rng(seed)
        self.clock = VirtualClock()
        self.clock.on_stall = self._on_stall
        self.clock.on_error = self._on_error
        self._nursery: trio.Nursery | None = None
        self._watchdog: trio.lowlevel.Task | None = None
        self._deadlock_report = ""
        self._late_failure: BaseException | None = None
        self.observer: Observer | None = None  # captures and timelines; None costs nothing
        # What waits without a task: callbacks that each say what they wait for, added to a deadlock report,
        # and may fill in the deadlock's details (SimulationDeadlock's at_ps, failed, incomplete)
        self.waiting_reports: list[Callable[[], list[str]]] = []
        self.deadlock_details: list[Callable[[SimulationDeadlock], None]] = []

    # -- time -------------------------------------------------------------------------------

    @property
    def now(self) -> int:
        """Current virtual time in picoseconds."""
        return self.clock.now

    def call_at(self, time_ps: int, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` at virtual time ``time_ps``; ties run in scheduling order."""
        self.clock.call_at(time_ps, fn, args)

    def call_later(self, delay_ps: int, fn: Callable[..., Any], *args: Any) -> None:
        clock = self.clock
        clock.call_at(clock.now + delay_ps, fn, args)

    async def sleep(self, delay_ps: int) -> None:
        # The wake-up carries a token unique to this sleep, so that it cannot wake the task
        # from some later wait if this sleep was cancelled.
        token = _Sleep(self.clock.now + delay_ps)
        self.clock.call_at(token.until, self._end_sleep, (trio.lowlevel.current_task(), token))
        await self.park(token)

    def _end_sleep(self, task: trio.lowlevel.Task, token: _Sleep) -> None:
        if task.custom_sleep_data is token:
            self.wake(task)

    async def sleep_until(self, time_ps: int) -> None:
        await self.sleep(max(0, time_ps - self.clock.now))

    # -- parking tasks ----------------------------------------------------------------------
    #
    # A parked task keeps what it waits for in ``task.custom_sleep_data`` (the slot trio
    # reserves for custom sleep primitives); ``None`` there means "not parked, or a wake-up is
    # already on its way". That one slot is all the bookkeeping, which keeps a task switch cheap.

    async def park(self, reason: object) -> Any:
        """Suspend the current task until :meth:`wake` is called for it; return the value."""
        return await self.parking(trio.lowlevel.current_task(), reason)

    def parking(self, task: trio.lowlevel.Task, reason: object) -> Awaitable[Any]:
        """:meth:`park` for a caller that has the current task at hand: awaiting what it
        returns parks ``task``. (Waiting primitives await it directly, which spares a coroutine
        frame on every wait.)"""
        task.custom_sleep_data = reason

        def abort(_: Any) -> trio.lowlevel.Abort:
            if task.custom_sleep_data is None:
                return trio.lowlevel.Abort.FAILED  # a wake-up is on its way: let it arrive
            task.custom_sleep_data = None
            return trio.lowlevel.Abort.SUCCEEDED

        return trio.lowlevel.wait_task_rescheduled(abort)

    def wake(self, task: trio.lowlevel.Task, value: Any = None) -> bool:
        """Resume a parked task with ``value`` at the current instant.

        Returns False (and does nothing) if the task is not parked, for instance because it
        was cancelled while a wake-up was being arranged.
        """
        if task.custom_sleep_data is None:
            return False
        task.custom_sleep_data = None
        clock = self.clock
        if clock.in_callback or clock.stopped:  # (VirtualClock.wake, written out: every wake-up comes here)
            clock.released.append((task, value))
        else:
            clock.wake(task, value)
        return True

    # -- tasks ------------------------------------------------------------------------------

    def spawn(self, async_fn: Callable[..., Awaitable[Any]], *args: Any, name: str | None = None) -> None:
        """Start a background task that lives until the run ends.

        Trio starts new tasks in an order of its choosing, so a spawned task first parks and
        is released through the heap: tasks spawned at one instant start in spawn order.
        """
        if self._nursery is None:
            raise RuntimeError("Kernel.spawn() is only available inside Kernel.run()")
        slot: list[trio.lowlevel.Task] = []
        self._nursery.start_soon(self._start_when_released, slot, async_fn, args, name=name)
        self.clock.call_at(self.clock.now, self._release_start, (slot,))

    async def _start_when_released(self, slot: list[trio.lowlevel.Task],
                                   async_fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        slot.append(trio.lowlevel.current_task())
        try:
            await self.park("starting")
            await async_fn(*args)
        except BaseException:
            self.clock.stop()  # an error (or the cancellation that ends the run) ends virtual time
            raise

    def _release_start(self, slot: list[trio.lowlevel.Task]) -> None:
        if not slot or not self.wake(slot[0]):
            raise RuntimeError("a spawned task did not reach its starting point")

    def run(self, async_fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``async_fn(*args)`` to completion in virtual time and return its result.

        Background tasks started with :meth:`spawn` are cancelled when it returns, and
        :attr:`observer` is detached then (it saw the whole run). An error in
        any task ends the run and is raised here as itself (not wrapped in a group) when it is
        the only one; an interrupt (Ctrl-C) is raised as itself whatever else failed with it.
        Either way virtual time stops at that moment: nothing scheduled for later runs while
        trio winds the tasks down.
        """
        result: list[T] = []

        async def root() -> None:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._run_watchdog, name="oisa.watchdog")
                try:
                    result.append(await async_fn(*args))
                finally:
                    # The run is over: callbacks that would still fire while trio winds the tasks
                    # down (an ACK due later, a completion timeout) are not part of it, and
                    # observers must not see them.
                    self.clock.stop()
                    self.observer = None
                nursery.cancel_scope.cancel()

        try:
            with in_wake_order() if self.batch_release else nullcontext(False) as ordered:
                self.clock.batch_release = ordered
                trio.run(root, clock=self.clock)
        except BaseExceptionGroup as group:
            leaves = _leaf_exceptions(group)
            interrupts = [leaf for leaf in leaves if isinstance(leaf, KeyboardInterrupt)]
            if interrupts:
                raise interrupts[0] from None
            if len(leaves) == 1:
                raise leaves[0] from None
            raise
        finally:
            self._nursery = None
        if self._late_failure is not None:
            raise self._late_failure
        return result[0]

    async def _run_watchdog(self) -> None:
        self._watchdog = trio.lowlevel.current_task()

        def abort(_: Any) -> trio.lowlevel.Abort:
            self._watchdog = None
            return trio.lowlevel.Abort.SUCCEEDED

        failure = await trio.lowlevel.wait_task_rescheduled(abort)
        self.clock.stop()
        if failure is not None:
            raise failure
        deadlock = SimulationDeadlock(self._deadlock_report)
        for details in self.deadlock_details:
            details(deadlock)
        raise deadlock

    def _on_error(self, exc: BaseException) -> None:
        """A callback raised: end the run with that error, raised from the watchdog task.

        Called from inside trio's run loop, so it must not raise: if the watchdog has already
        gone (the run was ending anyway), the error is kept and :meth:`run` raises it after trio
        has finished, unless the run ended in an error of its own.
        """
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            if self._late_failure is None:
                self._late_failure = exc
            return
        trio.lowlevel.reschedule(watchdog, outcome.Value(exc))

    def _on_stall(self) -> bool:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return False
        parked = [task for task in _all_tasks(trio.lowlevel.current_root_task()) if task.custom_sleep_data is not None]
        # A task waiting for work on its own inbox (a DMA engine with nothing queued) blocks no one:
        # where others wait for something, idle ones are counted, not listed, so the report names
        # who waits for what.
        idle = [task for task in parked if getattr(task.custom_sleep_data, "idle", False)]
        blocked = [task for task in parked if task not in idle] or idle
        waiting = sorted(f"{task.name} ({task.custom_sleep_data})" for task in blocked)
        if blocked is not idle and idle:
            waiting.append(f"{len(idle)} tasks idle, waiting for work")
        self._deadlock_report = (
            f"deadlock at t={format_time(self.now)}: nothing is scheduled and every task waits: "
            + ("; ".join(waiting) if waiting else "no task parked by oisa")
        )
        for report in self.waiting_reports:
            self._deadlock_report += "".join(f"; {line}" for line in report())
        trio.lowlevel.reschedule(watchdog, outcome.Value(None))
        return True


def _leaf_exceptions(group: BaseExceptionGroup) -> list[BaseException]:
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            leaves.extend(_leaf_exceptions(exc))
        elif not isinstance(exc, trio.Cancelled):
            leaves.append(exc)
    return leaves


def _all_tasks(task: trio.lowlevel.Task | None) -> list[trio.lowlevel.Task]:
    if task is None:
        return []
    found = [task]
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            found.extend(_all_tasks(child))
    return found
