"""``--plot x=COLUMN y=COLUMN hue=COLUMN``: a study's table drawn with matplotlib (the ``plot``
extra): one line per value of ``hue`` (or bars, where ``x`` is not a number), ``y`` averaged
over the points that share ``x`` and ``hue`` (several seeds, say) with their spread as error
bars. Only points that ran ok are drawn."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oisa.errors import UsageError

__all__ = ["PlotSpec", "parse_plot", "plot_table"]

_KEYS = ("x", "y", "hue")


@dataclass(frozen=True)
class PlotSpec:
    x: str
    y: str
    hue: str | None = None


def parse_plot(text: str) -> PlotSpec:
    """``"x=option.size y=result.busbw_GBps hue=fabric"`` (pairs split by spaces or commas)."""
    if not isinstance(text, str):
        raise UsageError("expected text like 'x=COLUMN y=COLUMN hue=COLUMN'", parameter="plot", value=text)
    given: dict[str, str] = {}
    for part in text.replace(",", " ").split():
        key, equals, column = part.partition("=")
        if not equals or key not in _KEYS or not column:
            raise UsageError(f"{part!r} is not one of x=COLUMN, y=COLUMN, hue=COLUMN", parameter="plot", value=text)
        if key in given:
            raise UsageError(f"{key} is given twice", parameter="plot", value=text)
        given[key] = column
    missing = [key for key in ("x", "y") if key not in given]
    if missing:
        raise UsageError(f"no {missing[0]}=COLUMN", parameter="plot", value=text)
    return PlotSpec(given["x"], given["y"], given.get("hue"))


def plot_table(spec: PlotSpec, columns: Sequence[str], rows: Sequence[dict[str, Any]], path: str | Path,
               title: str) -> None:
    """Draw ``spec`` from the table's ``rows`` into the PNG file ``path``."""
    for key in _KEYS:
        column = getattr(spec, key)
        if column is not None and column not in columns:
            near = [c for c in columns if column.split(".")[-1] in c][:6]
            raise UsageError(f"{key}: no column {column!r} in the table" +
                             (f" (did you mean {', '.join(near)}?)" if near else f" (columns: {', '.join(columns)})"),
                             parameter="plot")
    drawn = [row for row in rows if row.get("status") == "ok" and row.get(spec.x) is not None
             and _number(row.get(spec.y)) is not None]
    if not drawn:
        raise UsageError(f"no point that ran ok has a number in {spec.y!r} to draw", parameter="plot")
    groups: dict[str, dict[Any, list[float]]] = {}
    for row in drawn:
        hue = str(row.get(spec.hue)) if spec.hue else spec.y
        groups.setdefault(hue, {}).setdefault(row[spec.x], []).append(float(row[spec.y]))
    numeric_x = all(_number(row[spec.x]) is not None for row in drawn)
    try:
        import matplotlib
    except ImportError:
        raise UsageError("needs matplotlib: pip install 'oisa[plot]'", parameter="plot") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 4.2))
    labels = sorted({str(x) for by_x in groups.values() for x in by_x}) if not numeric_x else []
    width = 0.8 / max(1, len(groups))
    for number, (hue, by_x) in enumerate(sorted(groups.items())):
        xs = sorted(by_x, key=lambda x: float(x) if numeric_x else str(x))
        means = [sum(by_x[x]) / len(by_x[x]) for x in xs]
        spread = [[m - min(by_x[x]) for m, x in zip(means, xs)], [max(by_x[x]) - m for m, x in zip(means, xs)]]
        if numeric_x:
            axes.errorbar([float(x) for x in xs], means, yerr=spread, marker="o", markersize=3, capsize=2, label=hue)
        else:
            positions = [labels.index(str(x)) + (number - (len(groups) - 1) / 2) * width for x in xs]
            axes.bar(positions, means, width, yerr=spread, capsize=2, label=hue)
    if numeric_x:
        values = [float(row[spec.x]) for row in drawn]
        if min(values) > 0 and max(values) / min(values) >= 100:
            axes.set_xscale("log", base=2 if all(math.log2(v).is_integer() for v in values) else 10)
    else:
        axes.set_xticks(range(len(labels)), labels, rotation=30)
    axes.set_xlabel(spec.x)
    axes.set_ylabel(spec.y)
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    if spec.hue:
        axes.legend(title=spec.hue)
    try:
        figure.savefig(path, dpi=110, bbox_inches="tight")
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot write the plot to {path}: {exc}", parameter="plot_file") from None
    finally:
        plt.close(figure)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
