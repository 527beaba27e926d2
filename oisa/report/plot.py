"""Pictures of sweeps and comparisons, written to PNG with matplotlib (the ``plot`` extra)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oisa.errors import UsageError
from oisa.units import format_size

if TYPE_CHECKING:
    from oisa.workload.graph import GraphResult
    from oisa.workload.sweep import Sweep

__all__ = ["plot_bars", "plot_sweeps", "plot_waterfall"]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UsageError("needs matplotlib: pip install 'oisa[plot]'", parameter="plot") from None
    matplotlib.use("Agg")  # files only: no screen needed
    import matplotlib.pyplot as plt
    return plt


def _save(figure: Any, path: str | Path) -> None:
    try:
        figure.savefig(path, dpi=110, bbox_inches="tight")
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot write the plot to {path}: {exc}") from None


def plot_sweeps(sweeps: Sequence[Sweep], path: str | Path) -> None:
    """Bus bandwidth against size, one line per sweep (fabric), log-scaled sizes."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.5, 4.2))
    for sweep in sweeps:
        first = sweep.results[0]
        axes.plot([r.size for r in sweep.results], [r.busbw / 1e9 for r in sweep.results], marker="o",
                  markersize=3, label=f"{first.fabric} ({first.algorithm}, {len(first.ranks)} cards)")
    first = sweeps[0].results[0]
    axes.set_xscale("log", base=2)
    sizes = [r.size for r in sweeps[0].results]
    ticks = sizes[:: max(1, len(sizes) // 8)]
    axes.set_xticks(ticks, [format_size(size) for size in ticks], rotation=30)
    axes.set_xlabel("size")
    axes.set_ylabel("bus bandwidth (GB/s)")
    axes.set_title(f"{first.collective}, {first.dtype}: bus bandwidth (virtual time)")
    axes.grid(True, alpha=0.3)
    axes.legend()
    _save(figure, path)
    plt.close(figure)


def plot_bars(title: str, labels: Sequence[str], series: dict[str, Sequence[float]], unit: str,
              path: str | Path) -> None:
    """Grouped bars: one group per label, one bar per series (say, per fabric)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.5, 4.2))
    width = 0.8 / max(1, len(series))
    for index, (name, values) in enumerate(series.items()):
        positions = [i + (index - (len(series) - 1) / 2) * width for i in range(len(labels))]
        axes.bar(positions, values, width, label=name)
    axes.set_xticks(range(len(labels)), labels)
    axes.set_ylabel(unit)
    axes.set_title(title)
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend()
    _save(figure, path)
    plt.close(figure)


# -- execution graphs: the share of peak as a waterfall ------------------------------------------------


WATERFALL_TICKS = {"exposed communication": "exposed\ncomm.", "exposed memory and host": "memory,\nhost"}


def plot_waterfall(results: Sequence[GraphResult], path: str | Path) -> None:
    """Each result's share of peak FLOPs from 100% down through what the kernels, exposed
    communication, exposed memory and host work and idle time lose, to what the step achieves:
    one panel per result (say, a switched and a supernode fabric), side by side."""
    if not results:
        raise UsageError("no results to draw", parameter="results")
    plt = _pyplot()
    figure, panels = plt.subplots(1, len(results), figsize=(4.6 * len(results), 4.2), sharey=True, squeeze=False)
    for axes, result in zip(panels[0], results):
        steps = result.utilization.steps()
        level, bottoms, heights, colours = 1.0, [], [], []
        for index, (_, value) in enumerate(steps):
            if index in (0, len(steps) - 1):  # peak and achieved stand on the axis
                bottoms.append(0.0)
                heights.append(value)
                colours.append("tab:green" if index else "tab:grey")
            else:  # a loss hangs from the level before it
                level += value
                bottoms.append(level)
                heights.append(-value)
                colours.append("tab:red")
        labels = [WATERFALL_TICKS.get(label, label) for label, _ in steps]
        bars = axes.bar(range(len(steps)), [h * 100 for h in heights], bottom=[b * 100 for b in bottoms],
                        color=colours)
        for bar, (_, value) in zip(bars, steps):
            axes.annotate(f"{abs(value):.1%}", (bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height()),
                          ha="center", va="bottom", fontsize=8)
        axes.set_xticks(range(len(steps)), labels, fontsize=8)
        axes.set_title(f"{result.graph} on {result.fabric}: {len(result.ranks):,} ranks", fontsize=9)
        axes.grid(True, axis="y", alpha=0.3)
    panels[0][0].set_ylabel("share of peak FLOPs (%)")
    figure.suptitle("where the share of peak goes (one training step, virtual time)")
    _save(figure, path)
    plt.close(figure)
