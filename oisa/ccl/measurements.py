"""Measurements of real collectives, read from the standard output of nccl-tests and rccl-tests
(``all_reduce_perf``, ``all_gather_perf``, ``reduce_scatter_perf``, ``alltoall_perf``,
``broadcast_perf``, ``reduce_perf``, ``sendrecv_perf``), exactly as those tools print it.

What the tools print (NVIDIA/nccl-tests ``src/common.cu``, and ROCm/rccl-tests' copy of it): a
header of ``#`` lines (``# nThread 1 nGpus 8 minBytes ...``, the ``Rank N ... on HOST device D``
lines, the two or three column header lines), possibly lines of the library's own about
versions, then one row per size: size in bytes, element count, type, reduction, root, then for
the out-of-place and the in-place run the time in microseconds, the algorithm and bus bandwidths
in GB/s and the count of wrong elements; ``#`` lines close the table. The tools do not print the
collective's name, so it is inferred from the rows: the ratio of bus to algorithm bandwidth is
nccl-tests' factor for the collective (``doc/PERFORMANCE.md``), the reduction says whether it
reduces, the root whether it has one. All-gather and all-to-all have the same factor and neither
reduces nor has a root; the binary's name in the file name, or the caller, tells them apart.

A line that is none of these is an error naming its number (:class:`~oisa.errors.LogError`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from oisa.ccl.kinds import KINDS
from oisa.errors import LogError

__all__ = ["Measurement", "Row", "read_log"]

_TYPES = {"int8": "int8", "char": "int8", "uint8": "uint8", "int32": "int32", "int": "int32", "uint32": "uint32",
          "int64": "int64", "uint64": "uint64", "half": "float16", "float16": "float16", "float": "float32",
          "float32": "float32", "double": "float64", "float64": "float64", "bfloat16": "bfloat16"}
_OPS = {"sum": "sum", "prod": "prod", "max": "max", "min": "min", "avg": "avg", "none": "none"}
_BINARIES = {"all_reduce": "allreduce", "all_gather": "allgather", "reduce_scatter": "reducescatter",
             "alltoall": "alltoall", "broadcast": "broadcast", "sendrecv": "sendrecv", "reduce": "reduce"}
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_ROW = re.compile(rf"^\s*(\d+)\s+(\d+)\s+(\w+)\s+(\w+)\s+(-?\d+)((?:\s+(?:{_NUMBER}|N/A))+)\s*$")
_RANK = re.compile(r"^#\s*Rank\s+(\d+)\b.*?\bon\s+(\S+)\s+device\s+(\d+)", re.IGNORECASE)
_THREADS = re.compile(r"^#\s*nThread\s+(\d+)\s+nGpus\s+(\d+)\b")


@dataclass(frozen=True)
class Row:
    """One size: nccl-tests' size and count, the out-of-place and in-place times (us) and bus
    bandwidths (GB/s), as printed."""

    line: int
    size: int
    count: int
    dtype: str
    op: str
    root: int
    time_us: float
    algbw: float
    busbw: float
    in_place_time_us: float | None
    in_place_busbw: float | None


@dataclass(frozen=True)
class Measurement:
    """A whole log: the collective, its ranks (``hosts`` for each rank, where printed), the GPUs
    each thread drove (nccl-tests' ``-g``: their kernels launch one after another), and the rows."""

    source: str
    collective: str
    ranks: int
    hosts: tuple[str, ...]
    gpus_per_thread: int
    rows: tuple[Row, ...]

    @property
    def servers(self) -> int:
        """Hosts the ranks ran on (1 where the log does not say)."""
        return len(set(self.hosts)) or 1


def read_log(path: str | Path, collective: str | None = None) -> Measurement:
    """The measurement in the log at ``path``; ``collective`` names it where the rows cannot (an
    all-gather from an all-to-all) and the file name does not."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise LogError("no such file", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LogError(f"cannot read: {exc}", source=source) from None
    return parse_log(text, source, collective)


def parse_log(text: str, source: str, collective: str | None = None) -> Measurement:
    """The measurement in ``text`` (a log's contents; ``source`` names it in errors)."""
    ranks: dict[int, str] = {}
    gpus_per_thread = 1
    rows: list[Row] = []
    header = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            threads = _THREADS.match(line.strip())
            if threads:
                gpus_per_thread = int(threads.group(2))
            rank = _RANK.match(line.strip())
            if rank:
                ranks[int(rank.group(1))] = rank.group(2)
            if re.search(r"\bsize\b.*\bcount\b.*\btype\b", line):
                header = True
            continue
        match = _ROW.match(line)
        if match:
            if not header:
                raise LogError("a table row before the table's column header (size, count, type, ...): not the "
                               "output of one nccl-tests run", source=source, line=number)
            rows.append(_row(match, number, source))
        elif header or rows:
            raise LogError(f"not a row of the table (size, count, type, redop, root, then time, algbw, busbw and "
                           f"#wrong out of place and in place): {line.strip()[:60]!r}", source=source, line=number)
    if not rows:
        raise LogError("no table of results in it (is it the standard output of an nccl-tests or rccl-tests binary?)",
                       source=source)
    n = len(ranks) or _ranks_from_factor(rows, source)
    name = collective or _collective(rows, n, source)
    if name not in KINDS:
        raise LogError(f"no such collective {name!r} (known: {', '.join(KINDS)})", source=source)
    hosts = tuple(ranks[r] for r in sorted(ranks))
    return Measurement(source, name, n, hosts, gpus_per_thread, tuple(rows))


def _row(match: re.Match[str], number: int, source: str) -> Row:
    size, count, type_name, op, root = match.group(1, 2, 3, 4, 5)
    values = match.group(6).split()
    if len(values) != 8:
        raise LogError(f"expected 8 figures after the root (time, algbw, busbw, #wrong, out of place and in place), "
                       f"found {len(values)}", source=source, line=number)
    if type_name not in _TYPES:
        raise LogError(f"unknown element type {type_name!r} (known: {', '.join(sorted(_TYPES))})", source=source,
                       line=number)
    if op not in _OPS:
        raise LogError(f"unknown reduction {op!r} (known: {', '.join(_OPS)})", source=source, line=number)
    figures = [None if value == "N/A" else float(value) for value in values]
    time_us, algbw, busbw = figures[0], figures[1], figures[2]
    if time_us is None or algbw is None or busbw is None or time_us <= 0:
        raise LogError("the out-of-place time and bandwidths must be numbers, the time above 0", source=source,
                       line=number)
    return Row(number, int(size), int(count), _TYPES[type_name], _OPS[op], int(root), time_us, algbw, busbw,
               figures[4], figures[6])


def _factor(rows: list[Row]) -> float | None:
    """nccl-tests' bus bandwidth factor, from the rows whose bandwidths are printed precisely."""
    ratios = [row.busbw / row.algbw for row in rows if row.algbw >= 1.0]
    return sum(ratios) / len(ratios) if ratios else None


def _ranks_from_factor(rows: list[Row], source: str) -> int:
    factor = _factor(rows)
    if factor is not None and 1.05 < factor < 2:  # all-reduce: 2 (n - 1) / n
        return round(2 / (2 - factor))
    if factor is not None and 0.4 < factor < 0.99:  # (n - 1) / n
        return round(1 / (1 - factor))
    raise LogError("the log lists no ranks (no '# Rank N ... on HOST device D' lines) and its bandwidths do not tell "
                   "how many there were", source=source)


def _collective(rows: list[Row], n: int, source: str) -> str:
    """The collective the rows are of, from their bus bandwidth factor, reduction and root."""
    factor = _factor(rows)
    reduces, rooted = rows[0].op != "none", rows[0].root >= 0
    if factor is None:
        raise LogError("every row's bandwidth is too small to tell which collective it is: name it", source=source)
    name = source.rsplit("/", 1)[-1]
    for binary, collective in _BINARIES.items():
        if name.startswith(binary + "_perf") or f"/{binary}_perf" in source:
            return collective
    candidates = {"allreduce": 2 * (n - 1) / n, "reducescatter": (n - 1) / n, "allgather": (n - 1) / n, "reduce": 1.0,
                  "broadcast": 1.0, "sendrecv": 1.0}
    matching = [c for c, f in candidates.items() if abs(factor - f) <= 0.02 * f
                and KINDS[c].reduces == reduces and KINDS[c].rooted == rooted]
    if len(matching) == 1 and matching[0] != "allgather":
        return matching[0]
    raise LogError(f"the rows (bus/algorithm bandwidth {factor:.3f}, reduction {rows[0].op}, root {rows[0].root}) "
                   f"could be {' or '.join(matching + (['alltoall'] if 'allgather' in matching else [])) or 'none'}: "
                   f"name the collective", source=source)
