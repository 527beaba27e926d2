"""The virtual-time clock: a heap of timed callbacks that trio's run loop drives.

Trio asks its clock how long to sleep (``deadline_to_sleep_time``) only when no task is
runnable. That is the moment an event-driven simulator would pop its next event, so this clock
does exactly that: it pops callbacks in ``(time, sequence)`` order, and when an instant has
woken tasks it hands them to trio and says "sleep zero seconds" so they run. Most events (a
frame arriving, a link becoming free) are plain callbacks that never touch trio; only events
that wake a task cost a task switch.

Determinism. Ties at the same picosecond are broken by the order in which events were
scheduled (a sequence number in every heap entry). An instant runs all its callbacks first,
then the tasks they woke, in the order they were woken; a wake-up asked for by a task is an
event at the current instant like any other, so what tasks do at an instant forms the next
round ("delta cycle", as hardware simulators call it) of the same instant.

Trio runs a batch of runnable tasks in an order it randomises on purpose (it reverses the batch
with probability one half). :func:`in_wake_order` pins that coin so a batch runs in wake order;
where that is not possible (a trio without the hook) the clock releases one task per pass
instead, which is slower but orders the same.
Trio's own deadlines (``trio.sleep``) still work, at virtual time, but several of them ending
at the same instant wake in trio's order; oisa code uses :meth:`Kernel.sleep` instead.

Interrupts. Trio defers Ctrl-C while its run loop (this clock included) is running and delivers
it between task batches. A run can go a long way on callbacks alone (a link retrying while no
task has anything to do), so the clock hands control back to trio after every slice of
:data:`EVENTS_PER_SLICE` events, at a point where that changes nothing about the order.

The end of a run. Once the run has its result, or has failed, :meth:`VirtualClock.stop` drops
every scheduled callback: what trio does while it winds the tasks down is not part of the run,
so timers due later (a completion timeout, a retry) neither run nor move the clock. Wake-ups
already on their way still arrive, since a task waiting for one cannot be cancelled.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from heapq import heappop, heappush
from typing import Any

import outcome
import trio

__all__ = ["EVENTS_PER_SLICE", "VirtualClock", "in_wake_order"]

EVENTS_PER_SLICE = 2_000
"""Callbacks the clock runs before it lets trio look at signals and I/O: under 0.2 s of wall time even
when every callback builds a flit, for about 1% more passes of trio's loop on a run of callbacks alone."""


class _AlwaysReverse(random.Random):
    """Stands in for trio's scheduler coin: trio reverses each batch and then pops from its
    end, so reversing every time runs the batch in the order the tasks were woken."""

    def random(self) -> float:
        return 0.0


@contextmanager
def in_wake_order() -> Iterator[bool]:
    """Make trio run each batch of tasks in wake order while the block runs.

    Yields whether that worked. It relies on two private names of trio's scheduler: the coin
    ``_r`` and the flag ``_ALLOW_DETERMINISTIC_SCHEDULING`` that trio's Hypothesis plugin sets
    (it sorts batches by task creation and shuffles them with a seeded coin: deterministic, but
    not wake order). Both are restored afterwards. If this trio has neither, it yields False and
    changes nothing, and the clock releases one task per pass instead.
    """
    run_module = getattr(getattr(trio, "_core", None), "_run", None)
    coin = getattr(run_module, "_r", None)
    flag = getattr(run_module, "_ALLOW_DETERMINISTIC_SCHEDULING", None)
    if not isinstance(coin, random.Random) or not isinstance(flag, bool):
        yield False
        return
    run_module._r = _AlwaysReverse()  # type: ignore[union-attr]
    run_module._ALLOW_DETERMINISTIC_SCHEDULING = False  # type: ignore[union-attr]
    try:
        yield True
    finally:
        run_module._r = coin  # type: ignore[union-attr]
        run_module._ALLOW_DETERMINISTIC_SCHEDULING = flag  # type: ignore[union-attr]


def _runner_reschedule() -> Callable[[trio.lowlevel.Task, Any], None]:
    """``trio.lowlevel.reschedule`` without its public wrapper, which looks the run up and sets
    up interrupt protection on every call: the clock runs inside trio's run loop, which has
    both already, and releases a task for nearly every event. It relies on the private name
    of the run context; a trio without it gets the public function."""
    run_module = getattr(getattr(trio, "_core", None), "_run", None)
    runner = getattr(getattr(run_module, "GLOBAL_RUN_CONTEXT", None), "runner", None)
    reschedule = getattr(runner, "reschedule", None)
    return reschedule if callable(reschedule) else trio.lowlevel.reschedule


def _reraise(exc: BaseException) -> None:
    raise exc


class VirtualClock(trio.abc.Clock):
    """Integer-picosecond clock that runs scheduled callbacks between trio's task batches."""

    def __init__(self) -> None:
        self.now: int = 0
        self._heap: list[tuple[int, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._next_seq = 0
        self.released: deque[tuple[trio.lowlevel.Task, Any]] = deque()  # woken at this instant, for trio
        self.in_callback = False  # callbacks of an instant are running
        self.batch_release = False
        self.events_run = 0
        self.on_stall: Callable[[], bool] = lambda: False
        self.on_error: Callable[[BaseException], None] = _reraise
        self.failure: BaseException | None = None
        self.stopped = False

    # -- scheduling ------------------------------------------------------------------------

    def call_at(self, time_ps: int, fn: Callable[..., Any], args: tuple[Any, ...] = ()) -> None:
        if time_ps < self.now:
            raise ValueError(f"cannot schedule in the past: {time_ps} ps < now {self.now} ps")
        if self.stopped:
            return  # the run is over: nothing more happens in it
        self._next_seq += 1
        heappush(self._heap, (time_ps, self._next_seq, fn, args))

    def wake(self, task: trio.lowlevel.Task, value: Any = None) -> None:
        """Make ``task`` runnable with ``value`` once this instant's callbacks have run.

        Called from a callback, the task joins the list of tasks this instant releases at
        once; called from a task, the wake-up is an event at the current instant like any
        other, so it takes effect in the next delta cycle, in the order it was asked for.
        """
        if self.in_callback or self.stopped:
            self.released.append((task, value))
        else:
            self.call_at(self.now, self._release, (task, value))

    def _release(self, task: trio.lowlevel.Task, value: Any) -> None:
        self.released.append((task, value))

    def stop(self) -> None:
        """The run has its result or has failed: drop every scheduled callback but the wake-ups
        already arranged, and schedule nothing more."""
        if self.stopped:
            return
        self.stopped = True
        release = self._release
        arranged = sorted(entry for entry in self._heap if entry[2] == release)
        self._heap.clear()
        self.released.extend(args for _, _, _, args in arranged)

    @property
    def pending(self) -> int:
        return len(self._heap)

    # -- trio.abc.Clock ---------------------------------------------------------------------

    def start_clock(self) -> None:
        self.now = 0

    def current_time(self) -> float:
        return self.now / 1e12

    def deadline_to_sleep_time(self, deadline: float) -> float:
        released = self.released
        if not released and not self.stopped:
            limit = math.inf if deadline == math.inf else math.ceil(deadline * 1e12)
            self._run_callbacks(limit)
            if self.failure is not None:
                # A callback raised: no further events run; the kernel raises the error in a task,
                # where trio can unwind the run properly.
                self.stop()
                self.on_error(self.failure)
                return 0.0
            if not released and self._heap and self._heap[0][0] <= limit:
                return 0.0  # a slice ran out: let trio deliver signals, then carry on
        if released:
            reschedule = _runner_reschedule()
            if self.batch_release:
                for task, value in released:
                    reschedule(task, outcome.Value(value))
                released.clear()
            else:
                task, value = released.popleft()
                reschedule(task, outcome.Value(value))
            return 0.0
        if deadline == math.inf:
            # Nothing scheduled and nothing runnable: let the kernel decide (it raises a
            # deadlock in its watchdog task); if it does not, trio simply waits for I/O.
            return 0.0 if self.on_stall() else 86400.0
        self.now = max(self.now, math.ceil(deadline * 1e12))
        while self.current_time() < deadline:
            self.now += 1
        return 0.0

    def _run_callbacks(self, limit: float) -> None:
        """Run instants, each to the end, until one releases a task or ``limit`` is passed, or
        a slice of events has run without releasing any (stopping then, even inside an instant,
        changes nothing: the rest of the instant still runs before any task)."""
        heap = self._heap
        released = self.released
        slice_ends = self.events_run + EVENTS_PER_SLICE
        self.in_callback = True
        try:
            while heap and heap[0][0] <= limit and not released:
                instant = self.now = heap[0][0]
                while heap and heap[0][0] == instant:
                    if self.events_run >= slice_ends and not released:
                        return
                    _, _, fn, args = heappop(heap)
                    self.events_run += 1
                    fn(*args)
        except Exception as exc:  # handed to the kernel, which raises it in a task
            self.failure = exc
        finally:
            self.in_callback = False
