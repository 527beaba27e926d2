"""The study's progress bar: points done, failed and left, and when the rest will be done.

Drawn with rich on standard error, and only where someone watches (a terminal, not
``--quiet``); results and the summary go to standard output. Points found done by an earlier
run count as done from the start, and the estimate of time left is made from the points run
now, not from those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["study_progress"]


@contextmanager
def study_progress(description: str, total: int, *, done: int, failed: int,
                   enabled: bool) -> Iterator[Callable[[bool], None]]:
    """Yield ``tick(failed)``, to call once per point as it completes; ``done`` and ``failed``
    points are recorded already. Draws nothing unless ``enabled``."""
    if not enabled:
        yield lambda failed_now: None
        return
    counts = {"done": done, "failed": failed}
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.fields[done]} done, {task.fields[failed]} failed, {task.fields[left]} left"),
               TextColumn("ETA"), TimeRemainingColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total, completed=done + failed, done=done, failed=failed,
                            left=total - done - failed)

        def tick(failed_now: bool) -> None:
            counts["failed" if failed_now else "done"] += 1
            bar.update(task, advance=1, done=counts["done"], failed=counts["failed"],
                       left=total - counts["done"] - counts["failed"])
        yield tick
