"""A progress bar for long runs, on standard error, and only where someone is watching.

Results go to standard output and must stay clean for pipes, so the bar draws on standard
error, and not at all when that is not a terminal or the user said ``--quiet``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["progress_bar", "wanted"]


def wanted(quiet: bool) -> bool:
    """Whether to draw: not asked to be quiet, and standard error is a terminal."""
    return not quiet and sys.stderr.isatty()


@contextmanager
def progress_bar(total: int, description: str, *, enabled: bool) -> Iterator[Callable[[str], None]]:
    """Yield ``step(label)``, to call once per finished unit of ``total``; draws nothing unless
    ``enabled``. The bar disappears when done, leaving only the results."""
    if not enabled:
        yield lambda label: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda label: bar.update(task, advance=1, description=f"{description} {label}")
