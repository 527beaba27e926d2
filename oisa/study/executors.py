"""Where points run: in this process, on a pool of local processes, or on a Dask cluster.

Every executor takes a picklable function and a list of items and yields ``(index, value)``
as each item completes, in whatever order they complete; the caller records each at once. A
worker that dies mid-item is not the item's answer: the item runs again elsewhere, up to
:data:`ATTEMPTS` times, after which it comes back as :class:`Lost` (the study records it as
crashed, and runs it again when resumed). Ctrl-C belongs to this process alone: the pool's
processes ignore it, and on an interrupt (or any early exit) the executor cancels what has not
run and stops its workers, so nothing outlives the command.

- :class:`InProcess` runs items one after another here (``-j 1``): no process to start, and
  what the benchmark calls serial.
- :class:`LocalPool` is ``concurrent.futures``' process pool (``-j N``), started fresh (spawn)
  so workers share nothing with this process but the items; a broken pool (a worker killed)
  is replaced and what was in flight runs again.
- :class:`DaskCluster` submits to a ``dask.distributed`` scheduler (``--scheduler
  tcp://HOST:8786``) or to a ``LocalCluster`` it starts (``--local-cluster N``); the
  scheduler itself reruns the tasks of a lost worker (``distributed.scheduler.allowed-failures``).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from oisa.errors import ConfigError, UsageError

__all__ = ["ATTEMPTS", "DaskCluster", "Executor", "InProcess", "LocalPool", "Lost", "executor_for"]

ATTEMPTS = 3  # runs of an item whose worker died each time before it is given up (as Dask's default)


@dataclass(frozen=True)
class Lost:
    """An item whose worker died each time it ran it (or that the cluster could not run)."""

    message: str


class Executor(ABC):
    """Runs items; a context manager that releases its workers when left."""

    description: str

    @abstractmethod
    def run(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """``(index, function(items[index]))`` for every item as it completes (or ``Lost``)."""

    def close(self) -> None:  # noqa: B027 (a default: an executor with nothing to release keeps it)
        """Release the workers."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class InProcess(Executor):
    description = "this process"

    def run(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for index, item in enumerate(items):
            yield index, function(item)


class LocalPool(Executor):
    """``jobs`` processes on this machine."""

    def __init__(self, jobs: int) -> None:
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise UsageError("expected a number of processes, 1 or more", parameter="jobs", value=jobs)
        self.jobs = jobs
        self.description = f"a pool of {jobs} local process{'es' if jobs > 1 else ''}"

    def run(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        left = dict(enumerate(items))
        deaths: dict[int, int] = {}
        while left:
            workers = min(self.jobs, len(left))
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_ignore_interrupts)
            order = list(left)
            futures = {pool.submit(function, left[index]): index for index in order}
            clean = broken = False
            try:
                for future in as_completed(futures):
                    index = futures[future]
                    try:
                        value = future.result()
                    except BrokenProcessPool:
                        broken = True
                        break
                    del left[index]
                    yield index, value
                if broken:
                    # A worker died. Workers take items in the order submitted, one each, so the
                    # ones running were the first unfinished ones: each gets a strike; all run again.
                    for index in [index for index in order if index in left][:workers]:
                        deaths[index] = deaths.get(index, 0) + 1
                        if deaths[index] >= ATTEMPTS:
                            del left[index]
                            yield index, Lost(f"the worker process died each of the {ATTEMPTS} times it ran this")
                clean = True
            finally:
                _stop(pool, clean)


def _ignore_interrupts() -> None:
    """In a pool's worker: Ctrl-C is the parent's to handle (it stops the workers itself)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop(pool: ProcessPoolExecutor, clean: bool) -> None:
    """Shut ``pool`` down; after an interrupt or an error, without waiting for running items:
    its processes are terminated (Python 3.14 names this ``terminate_workers``; before it, the
    pool's process table is the only handle on them)."""
    if clean:
        pool.shutdown(wait=True)
        return
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    processes = list(dict(getattr(pool, "_processes", None) or {}).values())  # shutdown() forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


class DaskCluster(Executor):
    """A ``dask.distributed`` client: of the scheduler at ``scheduler``, or of a
    ``LocalCluster`` of ``local_workers`` single-threaded worker processes started here."""

    def __init__(self, *, scheduler: str | None = None, local_workers: int | None = None) -> None:
        if (scheduler is None) == (local_workers is None):
            raise UsageError("give a scheduler address or a number of local workers (one of them)",
                             parameter=("scheduler", "local_workers"))
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise UsageError("needs dask.distributed: pip install 'dask[distributed]'",
                             parameter="scheduler" if scheduler else "local_workers") from None
        self._cluster = None
        if local_workers is not None:
            if isinstance(local_workers, bool) or not isinstance(local_workers, int) or local_workers < 1:
                raise UsageError("expected a number of workers, 1 or more", parameter="local_workers",
                                 value=local_workers)
            self._cluster = LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self.client = Client(self._cluster)
            plural = "es" if local_workers > 1 else ""
            self.description = f"a Dask LocalCluster of {local_workers} worker process{plural}"
        else:
            assert scheduler is not None
            try:
                self.client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise ConfigError(f"cannot reach the Dask scheduler: {exc}", source=scheduler) from None
            workers = len(self.client.scheduler_info().get("workers", {}))
            self.description = f"the Dask scheduler at {scheduler} ({workers} worker{'s' if workers != 1 else ''} now)"

    def run(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        futures = {self.client.submit(function, item, pure=False): index for index, item in enumerate(items)}
        finished = False
        try:
            for future in as_completed(futures):
                index = futures[future]
                try:
                    value = future.result()
                except KilledWorker as exc:
                    value = Lost(f"every worker that ran it died ({exc})")
                except Exception as exc:  # the cluster could not run it: recorded, the others go on
                    value = Lost(f"the cluster could not run it: {type(exc).__name__}: {exc}")
                yield index, value
            finished = True
        finally:
            if not finished:
                self.client.cancel(list(futures))

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def executor_for(*, jobs: int | None = None, scheduler: str | None = None, local_cluster: int | None = None,
                 items: int | None = None) -> Executor:
    """The executor the options ask for: a Dask scheduler, a LocalCluster, or a pool of
    ``jobs`` processes (default: every core; one process, or fewer ``items`` than two, run here)."""
    given = [name for name, value in (("jobs", jobs), ("scheduler", scheduler), ("local_cluster", local_cluster))
             if value is not None]
    if len(given) > 1:
        raise UsageError("choose one place to run: jobs, scheduler or local_cluster", parameter=tuple(given))
    if scheduler is not None:
        return DaskCluster(scheduler=scheduler)
    if local_cluster is not None:
        return DaskCluster(local_workers=local_cluster)
    count = jobs if jobs is not None else (os.cpu_count() or 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UsageError("expected a number of processes, 1 or more", parameter="jobs", value=count)
    if items is not None:
        count = min(count, items)
    return InProcess() if count <= 1 else LocalPool(count)
