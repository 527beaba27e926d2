"""Waiting primitives built on the kernel's park/wake, so every wake-up is deterministic.

trio's own channels and events wake tasks directly, which lets trio pick the order of tasks
released at the same instant. These release through the kernel's heap instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import trio

from oisa.sim._kernel import Kernel

__all__ = ["Inbox", "Signal"]

T = TypeVar("T")


class Inbox(Generic[T]):
    """Unbounded FIFO; callbacks and tasks put into it, tasks take from it.

    Waiting consumers are served in the order they started waiting. ``get_all`` hands a
    consumer everything that has piled up, so a burst of arrivals costs one task switch rather
    than one per item.
    """

    __slots__ = ("_items", "_kernel", "_waiters", "name")
    idle = True  # a task waiting here waits for work, not for an answer (the kernel's deadlock report says so)

    def __init__(self, kernel: Kernel, name: str = "inbox") -> None:
        self._kernel = kernel
        self._items: deque[T] = deque()
        self._waiters: deque[trio.lowlevel.Task] = deque()
        self.name = name

    def __len__(self) -> int:
        return len(self._items)

    def __str__(self) -> str:
        return f"waiting on {self.name}"

    def put(self, item: T) -> None:
        self._items.append(item)
        waiters = self._waiters
        while waiters and not self._kernel.wake(waiters.popleft()):
            pass  # that waiter was cancelled; try the next

    async def _wait_for_items(self) -> None:
        items = self._items
        while not items:
            task = trio.lowlevel.current_task()
            self._waiters.append(task)
            try:
                await self._kernel.parking(task, self)
            except BaseException:
                if task in self._waiters:
                    self._waiters.remove(task)
                raise

    async def get(self) -> T:
        items = self._items
        while not items:  # (_wait_for_items, written out: a consumer comes here for every item)
            task = trio.lowlevel.current_task()
            self._waiters.append(task)
            try:
                await self._kernel.parking(task, self)
            except BaseException:
                if task in self._waiters:
                    self._waiters.remove(task)
                raise
        return items.popleft()

    async def get_all(self) -> list[T]:
        if not self._items:
            await self._wait_for_items()
        items = list(self._items)
        self._items.clear()
        return items


class Signal(Generic[T]):
    """A value that arrives once; any number of tasks may wait for it, and any number of
    callbacks may follow it (:meth:`then`)."""

    __slots__ = ("_callbacks", "_kernel", "_value", "_waiters", "is_set", "name")

    def __init__(self, kernel: Kernel, name: str = "signal") -> None:
        self._kernel = kernel
        self._waiters: list[trio.lowlevel.Task] = []
        self._callbacks: list[Callable[[], None]] = []
        self._value: T | None = None
        self.is_set = False
        self.name = name

    def set(self, value: T) -> None:
        if self.is_set:
            raise RuntimeError(f"{self.name} was set twice")
        self.is_set = True
        self._value = value
        waiters, self._waiters = self._waiters, []
        for task in waiters:
            self._kernel.wake(task)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            self._kernel.call_at(self._kernel.now, callback)

    def then(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the signal is set, in an event of its own at that instant
        (so that it never runs inside whatever set the signal), without a task switch."""
        if self.is_set:
            self._kernel.call_at(self._kernel.now, callback)
        else:
            self._callbacks.append(callback)

    async def wait(self) -> T:
        if not self.is_set:
            task = trio.lowlevel.current_task()
            self._waiters.append(task)
            try:
                await self._kernel.park(f"waiting for {self.name}")
            except BaseException:
                if task in self._waiters:
                    self._waiters.remove(task)
                raise
        return self._value  # type: ignore[return-value]
