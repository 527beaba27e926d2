"""Running a study: the points not yet done, on an executor, each recorded as it completes.

What is done is read from the output folder first (:class:`~oisa.study.store.Store`), so
running a study again resumes it: points recorded ok or failed are skipped (``retry_failed``
runs the failed ones again), points lost with their worker (crashed) run again. An interrupt
(Ctrl-C) stops the executor; the points recorded so far stay, and the table is assembled from
them either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from oisa.study.design import Study
from oisa.study.executors import Executor, Lost
from oisa.study.points import CRASHED, FAILED, OK, plan_points, run_point
from oisa.study.store import Store, Table

__all__ = ["StudyReport", "run_study"]


@dataclass(frozen=True)
class StudyReport:
    """What a study run did: its points, how many were found done, how many ran now, how they
    ended (over every point recorded), whether it was interrupted, the table, and wall time."""

    study: Study
    points: int
    resumed: int
    ran: int
    ok: int
    failed: int
    crashed: int
    interrupted: bool
    table: Table
    executor: str
    wall_s: float
    errors: tuple[tuple[dict[str, object], str], ...]  # (inputs, error) of each failed or crashed point

    @property
    def left(self) -> int:
        return self.points - self.ok - self.failed - self.crashed


def run_study(study: Study, executor: Executor, *, retry_failed: bool = False,
              progress: Callable[[int, int, int], Callable[[bool], None]] | None = None) -> StudyReport:
    """Run what is not done of ``study`` on ``executor``. ``progress(total, ok, failed)`` (the
    points already recorded), if given, is called once before anything runs and returns
    ``tick(failed)``, called per point as it completes."""
    start = time.perf_counter()
    points = plan_points(study)
    store = Store(study.output)
    store.prepare()
    records = store.recorded(points)
    skip = (OK,) if retry_failed else (OK, FAILED)
    todo = [p for p in points if records.get(p.key, {}).get("status") not in skip]
    resumed = len(points) - len(todo)
    running = {p.key for p in todo}
    failed_before = sum(1 for p in points if p.key not in running and records[p.key]["status"] != OK)
    tick = progress(len(points), resumed - failed_before, failed_before) if progress is not None else None
    ran, interrupted = 0, False
    try:
        for index, outcome in executor.run(run_point, todo):
            point = todo[index]
            records[point.key] = store.write(point, _crashed(outcome) if isinstance(outcome, Lost) else outcome)
            ran += 1
            if tick is not None:
                tick(records[point.key]["status"] != OK)
    except KeyboardInterrupt:
        interrupted = True
        # what is on disk is the truth: the interrupt may have landed between a record written
        # and its being noted here, and that point is done
        records = store.recorded(points)
    table = store.assemble(points, records)
    statuses = [records[p.key]["status"] for p in points if p.key in records]
    errors = tuple((records[p.key]["inputs"], _error_text(records[p.key])) for p in points
                   if p.key in records and records[p.key]["status"] != OK)
    return StudyReport(study, len(points), resumed, ran, statuses.count(OK), statuses.count(FAILED),
                       statuses.count(CRASHED), interrupted, table, executor.description,
                       round(time.perf_counter() - start, 3), errors)


def _crashed(lost: Lost) -> dict[str, object]:
    return {"status": CRASHED, "error": {"type": "WorkerLost", "message": lost.message}, "result": None,
            "wall_s": None, "cpu_s": None}


def _error_text(record: dict[str, object]) -> str:
    error = record.get("error")
    assert isinstance(error, dict)
    return f"{error['type']}: {error['message']}"
