"""Where a study keeps what it has done: one JSON file per point, and the table made of them.

Each point's outcome is written the moment it comes back, to ``OUTPUT/points/KEY.json``,
through a temporary file renamed into place, so a file there is always whole: a study killed
at any instant has lost at most the points that were running. The table
(``OUTPUT/results.parquet`` and ``OUTPUT/results.csv``) is assembled from those files, in the
study's order, whenever a study ends, interrupted or not, and replaced the same way, so it is
always a consistent picture of the points done so far.

One row per point: ``point`` (its key), ``status`` (ok, failed, crashed), ``error``, the inputs
(``fabric``, ``fabric.FIELD.PATH``, ``workload``, ``option.NAME``, ``engine``, ``seed``), then
every figure of the result as ``result.KEY.PATH`` (nested objects flattened; arrays as JSON text).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oisa.errors import ConfigError
from oisa.study.points import CRASHED, FAILED, OK, Point, oisa_version

__all__ = ["Store", "Table", "flatten"]

FORMAT = 1  # of a point file


@dataclass(frozen=True)
class Table:
    """The assembled table: its column names, its rows (dicts), and the files written."""

    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    parquet: Path
    csv: Path


class Store:
    """The output folder of one study."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.points = output / "points"

    def prepare(self) -> None:
        try:
            self.points.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot make the study's output folder: {exc.strerror or exc}",
                              source=str(self.output)) from None

    def recorded(self, points: Iterable[Point]) -> dict[str, dict[str, Any]]:
        """The records already on disk for ``points``, by key. A file that cannot be read as a
        record of this key (edited by hand, say) counts as not done: the point runs again."""
        found = {}
        for point in points:
            try:
                record = json.loads((self.points / f"{point.key}.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and record.get("key") == point.key and record.get("status") in (OK, FAILED,
                                                                                                        CRASHED):
                found[point.key] = record
        return found

    def write(self, point: Point, outcome: dict[str, Any]) -> dict[str, Any]:
        """Record ``point``'s outcome, atomically; return the record."""
        record = {"format": FORMAT, "oisa": oisa_version(), "key": point.key, "inputs": point.inputs, **outcome}
        _replace(self.points / f"{point.key}.json", json.dumps(record, indent=1, default=str) + "\n")
        return record

    def assemble(self, points: Sequence[Point], records: dict[str, dict[str, Any]]) -> Table:
        """Write the table of the points that have a record, in the study's order."""
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        rows = [row(records[point.key]) for point in points if point.key in records]
        columns: dict[str, None] = {}
        for one in rows:
            columns.update(dict.fromkeys(one))
        arrays = [_column([one.get(name) for one in rows]) for name in columns]
        table = pa.table(arrays, names=list(columns)) if columns else pa.table({})
        parquet, csv = self.output / "results.parquet", self.output / "results.csv"
        _replace_with(parquet, lambda path: pq.write_table(table, path))
        _replace_with(csv, lambda path: pa_csv.write_csv(table, path))
        return Table(tuple(columns), tuple(rows), parquet, csv)


def row(record: dict[str, Any]) -> dict[str, Any]:
    """A point's record as one row of the table."""
    error = record.get("error")
    out: dict[str, Any] = {"point": record["key"], "status": record["status"],
                           "error": f"{error['type']}: {error['message']}" if error else None}
    out.update(record.get("inputs", {}))
    out.update(flatten(record.get("result") or {}, "result."))
    return out


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted keys; arrays kept whole (the table writes them as JSON text)."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            out.update(flatten(item, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = item
    return out


def _column(values: list[Any]) -> Any:
    """One column as Arrow takes it: booleans, integers, numbers (integers and numbers mixed
    become numbers), and anything else as text (arrays and objects as JSON)."""
    import pyarrow as pa

    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, pa.bool_())
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        if all(-2**63 <= v < 2**63 for v in present):
            return pa.array(values, pa.int64())
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return pa.array([None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values], pa.string())


def _replace(path: Path, text: str) -> None:
    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
    _replace_with(path, write)


def _replace_with(path: Path, write: Any) -> None:
    """Write ``path`` through ``write(temporary path)`` and a rename: never half a file."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException as exc:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):  # a full disk, a folder taken away: the path and why, not a traceback
            raise ConfigError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None
        raise
