"""A study file: which fabrics, workloads, engines and seeds, and how they are crossed.

A study is written in TOML (``specs/study.md`` has the full form)::

    name = "lanes"                       # default: the file's stem
    engines = ["timing"]                 # default: ["auto"]
    seeds = [0, 1]                       # default: [0]

    [[fabrics]]
    fabric = "mesh-8"                    # a catalog name or a path (relative to this file)
    [fabrics.grid]                       # any field of the fabric file, by dotted path
    "parameters.link.lanes" = [8, 16]
    [fabrics.sample]                     # ranges drawn by [sample]
    "parameters.link.latency" = { low = 50, high = 500, unit = "ns", log = true }

    [[workloads]]
    workload = "allreduce"               # a registered workload
    engines = ["timing", "flow"]         # optional: this workload's own engines
    [workloads.grid]                     # its options, checked by its declaration
    size = ["4KiB", "64KiB"]

    [sample]                             # only with ranges
    method = "latin-hypercube"           # or "random"
    points = 8
    seed = 0

In a grid an array lists the values to run and anything else is the one value (so a field
whose value is an array, like ``cards``, is written as an array of arrays). For each fabric
entry and each workload entry the study runs the product of their grids, times the samples
drawn over both entries' ranges (the same draws for every grid combination), times the
engines, times the seeds. Nothing here runs anything: this module reads and checks the file,
loading every fabric variant through the real fabric loader, and lists the points.

Every mistake in the file is one :class:`~oisa.errors.ConfigError` that names the study file
and the entry (``fabrics[0].grid.parameters.link.lanez``) and says what was wrong.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oisa.config import Table, load_toml
from oisa.errors import ConfigError, OisaError, UsageError
from oisa.fabric import FabricSpec
from oisa.fabric.loader import load_fabric
from oisa.units import parse_size
from oisa.workload import ENGINES
from oisa.workload.registry import Option, Workload, find
from oisa.workload.run import AUTO

__all__ = ["SAMPLE_METHODS", "FabricEntry", "Range", "Study", "Variant", "WorkloadEntry", "fabric_path", "load_study"]

SAMPLE_METHODS = ("latin-hypercube", "random")
_SAMPLED_KINDS = ("size", "count")  # workload options that are numbers, so a range can be drawn


@dataclass(frozen=True)
class Range:
    """A number drawn between ``low`` and ``high`` (uniformly, or uniformly in its logarithm);
    ``integer`` rounds it; ``unit`` is appended to it as text (``"ns"``: ``"137.5ns"``)."""

    low: float
    high: float
    log: bool = False
    integer: bool = False
    unit: str | None = None

    def value(self, unit_point: float) -> Any:
        """The value at ``unit_point`` (0 to 1) of the range."""
        if self.log:
            number = math.exp(math.log(self.low) + unit_point * (math.log(self.high) - math.log(self.low)))
        else:
            number = self.low + unit_point * (self.high - self.low)
        number = min(max(number, self.low), self.high)
        value: Any = round(number) if self.integer else round(number, 9)
        return f"{value}{self.unit}" if self.unit else value


@dataclass(frozen=True)
class FabricEntry:
    """One ``[[fabrics]]`` entry: the fabric as given, the file it resolved to, its grid axes
    (field path to values) and ranges (field path to range)."""

    index: int
    fabric: str
    grid: dict[str, tuple[Any, ...]]
    ranges: dict[str, Range]

    @property
    def key(self) -> str:
        return f"fabrics[{self.index}]"


@dataclass(frozen=True)
class WorkloadEntry:
    """One ``[[workloads]]`` entry: the workload, its engines, its option grid and ranges."""

    index: int
    workload: Workload
    engines: tuple[str, ...]
    grid: dict[str, tuple[Any, ...]]
    ranges: dict[str, Range]

    @property
    def key(self) -> str:
        return f"workloads[{self.index}]"


@dataclass(frozen=True)
class Variant:
    """One point's inputs before it is keyed: the fabric (as given, and loaded with its
    overrides), the workload and its options, the engine and the seed."""

    fabric: str
    overrides: tuple[tuple[str, Any], ...]
    spec: FabricSpec
    workload: str
    options: tuple[tuple[str, Any], ...]
    engine: str
    seed: int


@dataclass(frozen=True)
class Study:
    """A checked study file; :meth:`variants` lists its points in order."""

    name: str
    source: Path
    output: Path
    engines: tuple[str, ...]
    seeds: tuple[int, ...]
    fabrics: tuple[FabricEntry, ...]
    workloads: tuple[WorkloadEntry, ...]
    method: str
    points: int
    sample_seed: int
    specs: _Specs = field(repr=False, compare=False)

    def variants(self) -> Iterator[Variant]:
        """Every point, in the study's order: fabric entries, their grid, workload entries,
        their grid, samples, engines, seeds (the last varies fastest)."""
        specs = self.specs
        for fabric in self.fabrics:
            for workload in self.workloads:
                draws = _draws(self, fabric, workload)
                for fabric_values in _product(fabric.grid):
                    for option_values in _product(workload.grid):
                        for fabric_drawn, option_drawn in draws:
                            overrides = tuple({**fabric_values, **fabric_drawn}.items())
                            spec = specs.load(fabric, overrides)
                            options = tuple({**option_values, **option_drawn}.items())
                            for engine in workload.engines:
                                for seed in self.seeds:
                                    yield Variant(fabric.fabric, overrides, spec, workload.workload.name, options,
                                                  engine, seed)


class _Specs:
    """Fabric variants loaded once each through the real loader; a refusal names the study
    entry whose value the loader refused (or the fabric entry, if no override is to blame)."""

    def __init__(self, source: Path) -> None:
        self._source = source
        self._loaded: dict[tuple[str, str], FabricSpec] = {}

    def load(self, entry: FabricEntry, overrides: tuple[tuple[str, Any], ...]) -> FabricSpec:
        memo = (entry.fabric, repr(overrides))
        if memo not in self._loaded:
            try:
                self._loaded[memo] = load_fabric(fabric_path(self._source, entry.fabric), overrides=dict(overrides))
            except (ConfigError, UsageError) as exc:
                raise ConfigError(_one_line(str(exc)), source=str(self._source),
                                  key=_blamed(entry, overrides, exc)) from None
        return self._loaded[memo]


def _blamed(entry: FabricEntry, overrides: tuple[tuple[str, Any], ...], exc: OisaError) -> str:
    """The study entry a loader's refusal is about: the override whose field it names, else
    the fabric itself."""
    key = getattr(exc, "key", None) or ""
    for path, value in overrides:
        if key == path or key.startswith((path + ".", path + "[")):
            table = "grid" if path in entry.grid else "sample"
            return f"{entry.key}.{table}.{path}={value!r}"
    return f"{entry.key}.fabric"


def fabric_path(source: Path, fabric: str) -> str:
    """A catalog name as it is; a path relative to the study file's folder."""
    if fabric.endswith(".toml") or "/" in fabric or "\\" in fabric:
        path = Path(fabric)
        return str(path if path.is_absolute() else source.parent / path)
    return fabric


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _product(grid: dict[str, tuple[Any, ...]]) -> Iterator[dict[str, Any]]:
    names = list(grid)
    for values in itertools.product(*(grid[name] for name in names)):
        yield dict(zip(names, values))


def _draws(study: Study, fabric: FabricEntry, workload: WorkloadEntry) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The samples of this fabric and workload entry: ``points`` draws over both entries'
    ranges together (one empty draw if neither has ranges), as (overrides, options)."""
    ranges = [("fabric", name, r) for name, r in fabric.ranges.items()] + \
             [("option", name, r) for name, r in workload.ranges.items()]
    if not ranges:
        return [({}, {})]
    import numpy as np
    from scipy.stats import qmc  # scipy is a dependency; imported only where a study samples

    # the same seed for every entry pair: the draws depend on the study's [sample] and on
    # how many ranges there are, never on the order the entries are listed in
    if study.method == "latin-hypercube":
        unit = qmc.LatinHypercube(d=len(ranges), seed=np.random.default_rng(study.sample_seed)).random(study.points)
    else:
        unit = np.random.default_rng(study.sample_seed).random((study.points, len(ranges)))
    draws = []
    for row in unit:
        fabric_drawn = {name: r.value(float(x)) for (side, name, r), x in zip(ranges, row) if side == "fabric"}
        option_drawn = {name: r.value(float(x)) for (side, name, r), x in zip(ranges, row) if side == "option"}
        draws.append((fabric_drawn, option_drawn))
    return draws


# -- reading the file ---------------------------------------------------------------------------------


def load_study(path: str | Path, *, output: str | Path | None = None) -> Study:
    """Read and check the study file at ``path``: every entry, and every fabric variant it
    asks for loaded through the fabric loader. ``output`` replaces the file's output folder
    (default: ``NAME.study`` beside the file)."""
    if not isinstance(path, (str, Path)) or not str(path):
        raise UsageError("expected the path of a study file (TOML)", parameter="study", value=path)
    source = Path(path)
    doc = load_toml(source)
    name = doc.get("name", str, source.stem)
    if not name.strip():
        raise doc.error("an empty name", "name")
    written = doc.get("output", str, f"{name}.study")
    if not written:
        raise doc.error("an empty folder name", "output")
    out = Path(output) if output is not None else Path(written)
    if output is None and not out.is_absolute():
        out = source.parent / out
    engines = _engines(doc, "engines", (AUTO,))
    seeds = _seeds(doc)
    fabrics = tuple(_fabric_entry(table, index) for index, table in enumerate(_entries(doc, "fabrics")))
    workloads = tuple(_workload_entry(table, index, engines) for index, table in enumerate(_entries(doc, "workloads")))
    method, points, sample_seed = _sample(doc, any(f.ranges for f in fabrics) or any(w.ranges for w in workloads))
    doc.finish()
    study = Study(name, source, out, engines, seeds, fabrics, workloads, method, points, sample_seed, _Specs(source))
    for _ in study.variants():  # every fabric variant loads, or the entry that broke it is named
        pass
    return study


def _entries(doc: Table, name: str) -> list[Table]:
    tables = doc.tables(name)
    if not tables:
        raise doc.error(f"an empty array: a study needs at least one [[{name}]] entry", name)
    return tables


def _engines(table: Table, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    if key not in table:
        return default
    engines = table.get(key, list)
    if not engines:
        raise table.error("an empty array: no engine to run on", key)
    for index, engine in enumerate(engines):
        if not isinstance(engine, str) or (engine != AUTO and engine not in ENGINES):
            raise table.error(f"{engine!r} is not an engine (engines: {', '.join(ENGINES)}, or {AUTO})",
                              f"{key}[{index}]")
    return tuple(dict.fromkeys(engines))


def _seeds(doc: Table) -> tuple[int, ...]:
    seeds = doc.get("seeds", list, [0])
    if not seeds:
        raise doc.error("an empty array: no seed to run", "seeds")
    for index, seed in enumerate(seeds):
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise doc.error(f"{seed!r} is not a seed (an integer, 0 or more)", f"seeds[{index}]")
    return tuple(dict.fromkeys(seeds))


def _fabric_entry(table: Table, index: int) -> FabricEntry:
    fabric = table.get("fabric", str)
    if not fabric:
        raise table.error("an empty fabric name", "fabric")
    grid = _grid(table.table("grid", optional=True), _leaves)
    ranges = _ranges(table.table("sample", optional=True))
    _no_overlap(table, grid, ranges)
    table.finish()
    return FabricEntry(index, fabric, grid, ranges)


def _workload_entry(table: Table, index: int, engines: tuple[str, ...]) -> WorkloadEntry:
    name = table.get("workload", str)
    try:
        declared = find(name)
    except UsageError as exc:
        raise table.error(exc.problem, "workload") from None
    own = _engines(table, "engines", engines)
    for engine in own:
        if engine != AUTO and engine not in declared.engines:
            where = "engines" if "engines" in table else "workload"
            raise table.error(f"{declared.name} runs on {', '.join(declared.engines)} (or auto), not {engine}: give "
                              f"this workload its own engines = [...]", where)
    grid_table = table.table("grid", optional=True)
    grid = _grid(grid_table, _top_level)
    for option_name, values in grid.items():
        option = _option(grid_table, declared, option_name)
        grid[option_name] = tuple(_option_value(grid_table, option, f"{option_name}[{i}]", v)
                                  for i, v in enumerate(values))
    sample_table = table.table("sample", optional=True)
    ranges = _ranges(sample_table)
    for option_name, drawn in ranges.items():
        option = _option(sample_table, declared, option_name)
        if option.kind.name not in _SAMPLED_KINDS:
            raise sample_table.error(f"{option.name} is a {option.kind.name}, not a number: list its values in the "
                                     f"grid instead", option_name)
        if not drawn.integer or drawn.unit:
            raise sample_table.error(f"{option.name} is a whole number: give integer = true and no unit", option_name)
        for end in (drawn.low, drawn.high):
            _option_value(sample_table, option, option_name, int(end))
    _no_overlap(table, grid, ranges)
    table.finish()
    return WorkloadEntry(index, declared, own, grid, ranges)


def _option(table: Table, declared: Workload, name: str) -> Option:
    try:
        return declared.option(name)
    except UsageError as exc:
        raise table.error(exc.problem, name) from None


def _option_value(table: Table, option: Option, key: str, value: Any) -> Any:
    """``value`` as the workload's declaration checks it; sizes may carry units (``"64KiB"``)."""
    try:
        if option.kind.name == "size" and isinstance(value, str):
            value = parse_size(value, what=option.name)
        return option.check(value)
    except UsageError as exc:
        raise table.error(f"{value!r}: {exc.problem}", key) from None


def _no_overlap(table: Table, grid: Mapping[str, Any], ranges: Mapping[str, Any]) -> None:
    both = sorted(set(grid) & set(ranges))
    if both:
        raise table.error("both in the grid and sampled: give it one or the other", f"sample.{both[0]}")


def _grid(table: Table, leaves: Any) -> dict[str, tuple[Any, ...]]:
    """Each axis of ``table`` as a tuple of its values: an array lists them, anything else is
    the one value; an empty array is refused."""
    axes: dict[str, tuple[Any, ...]] = {}
    for path, value in leaves(table.data):
        if isinstance(value, list):
            if not value:
                raise table.error("an empty array: no value to run, so the grid has no points", path)
            axes[path] = tuple(value)
        else:
            axes[path] = (value,)
    _read_all(table)
    return axes


def _top_level(data: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Workload options are plain keys (a table as a value is a mistake the option check names)."""
    yield from data.items()


def _leaves(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Field paths of a grid written either way: quoted (``"parameters.link.lanes" = [..]``)
    or as nested tables (``parameters.link.lanes = [..]``); a figure table (with ``value``) is a
    value, not more path."""
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and "value" not in value and "low" not in value:
            yield from _leaves(value, path + ".")
        else:
            yield path, value


def _ranges(table: Table) -> dict[str, Range]:
    out = {}
    for path, value in _leaves(table.data):
        if not isinstance(value, dict):
            raise table.error(f"expected a range, like {{ low = 1, high = 8 }}, got {value!r}", path)
        out[path] = _range(Table(value, table.source, table.key(path)))
    _read_all(table)
    return out


def _read_all(table: Table) -> None:
    """Every key of ``table`` is an axis or a range, read above: mark them read for finish()."""
    for key in table.data:
        table.get(key, (str, int, float, bool, list, dict))


def _range(table: Table) -> Range:
    low, high = table.get("low", (int, float)), table.get("high", (int, float))
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise table.error(f"low ({low}) must be below high ({high}), both finite numbers")
    log = table.get("log", bool, False)
    if log and low <= 0:
        raise table.error("a logarithmic range needs low above 0", "low")
    integer = table.get("integer", bool, False)
    unit = table.get("unit", str, None)
    if unit is not None and not unit.strip():
        raise table.error("an empty unit", "unit")
    table.finish()
    return Range(float(low), float(high), log, integer, unit)


def _sample(doc: Table, has_ranges: bool) -> tuple[str, int, int]:
    if "sample" not in doc:
        if has_ranges:
            raise doc.error("ranges are given but no [sample] table says how many points to draw", "sample")
        return SAMPLE_METHODS[0], 1, 0
    table = doc.table("sample")
    if not has_ranges:
        raise table.error("nothing to sample: no entry has a sample table of ranges")
    method = table.get("method", str, SAMPLE_METHODS[0])
    if method not in SAMPLE_METHODS:
        raise table.error(f"{method!r} is not a method ({', '.join(SAMPLE_METHODS)})", "method")
    points = table.get("points", int)
    if points < 1:
        raise table.error(f"{points}: at least one point", "points")
    seed = table.get("seed", int, 0)
    if seed < 0:
        raise table.error(f"{seed}: a seed is 0 or more", "seed")
    table.finish()
    return method, points, seed
