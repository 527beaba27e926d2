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

__all__ = ["VirtualClock", "in_wake_order"]


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


def _reraise(exc: BaseException) -> None:
    raise exc


class VirtualClock(trio.abc.Clock):
    """Integer-picosecond clock that runs scheduled callbacks between trio's task batches."""

    def __init__(self) -> None:
        self.now: int = 0
        self._heap: list[tuple[int, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._next_seq = 0
        self._released: deque[tuple[trio.lowlevel.Task, Any]] = deque()
        self._in_callback = False
        self.batch_release = False
        self.events_run = 0
        self.on_stall: Callable[[], bool] = lambda: False
        self.on_error: Callable[[BaseException], None] = _reraise
        self.failure: BaseException | None = None

    # -- scheduling ------------------------------------------------------------------------

    def call_at(self, time_ps: int, fn: Callable[..., Any], args: tuple[Any, ...] = ()) -> None:
        if time_ps < self.now:
            raise ValueError(f"cannot schedule in the past: {time_ps} ps < now {self.now} ps")
        self._next_seq += 1
        heappush(self._heap, (time_ps, self._next_seq, fn, args))

    def wake(self, task: trio.lowlevel.Task, value: Any = None) -> None:
        """Make ``task`` runnable with ``value`` once this instant's callbacks have run.

        Called from a callback, the task joins the list of tasks this instant releases at
        once; called from a task, the wake-up is an event at the current instant like any
        other, so it takes effect in the next delta cycle, in the order it was asked for.
        """
        if self._in_callback:
            self._released.append((task, value))
        else:
            self.call_at(self.now, self._release, (task, value))

    def _release(self, task: trio.lowlevel.Task, value: Any) -> None:
        self._released.append((task, value))

    @property
    def pending(self) -> int:
        return len(self._heap)

    # -- trio.abc.Clock ---------------------------------------------------------------------

    def start_clock(self) -> None:
        self.now = 0

    def current_time(self) -> float:
        return self.now / 1e12

    def deadline_to_sleep_time(self, deadline: float) -> float:
        released = self._released
        if not released and self.failure is None:
            self._run_callbacks(math.inf if deadline == math.inf else math.ceil(deadline * 1e12))
            if self.failure is not None:
                # A callback raised: no further events run; the kernel raises the error in a task,
                # where trio can unwind the run properly.
                self.on_error(self.failure)
                return 0.0
        if released:
            reschedule = trio.lowlevel.reschedule
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
        """Run instants, each to the end, until one releases a task or ``limit`` is passed."""
        heap = self._heap
        released = self._released
        self._in_callback = True
        try:
            while heap and heap[0][0] <= limit and not released:
                instant = self.now = heap[0][0]
                while heap and heap[0][0] == instant:
                    _, _, fn, args = heappop(heap)
                    self.events_run += 1
                    fn(*args)
        except Exception as exc:  # noqa: BLE001 - handed to the kernel, which raises it in a task
            self.failure = exc
        finally:
            self._in_callback = False
