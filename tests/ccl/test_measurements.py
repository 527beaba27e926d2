"""nccl-tests and rccl-tests logs: every shipped table parses with the rows SOURCES.md counts, the
collective comes from the rows, and a malformed line is one LogError naming its number."""

from __future__ import annotations

from pathlib import Path

import pytest

from oisa.ccl.measurements import parse_log, read_log
from oisa.errors import LogError

VALIDATION = Path(__file__).resolve().parents[2] / "validation"

# file -> (rows, ranks, GPUs per thread, hosts), as validation/SOURCES.md describes them
TABLES = {
    "mi300x-8/all_reduce_perf_hisohara-aac8.txt": (31, 8, 1, 1),
    "mi300x-8/all_reduce_perf_amd-acceptance-doc.txt": (31, 8, 8, 1),
    "mi300x-8/all_reduce_perf_rccl-issue-1562.txt": (25, 8, 8, 1),
    "mi300x-2x8/all_reduce_perf_hisohara-aac10.txt": (32, 16, 1, 2),
    "mi355x-2x8/all_reduce_perf_hisohara-aac14.txt": (31, 16, 1, 2),
    "h100-2x8/all_reduce_perf_a3mega-ztan.txt": (31, 16, 1, 2),
    "h100-8/all_reduce_perf_nccl-tests-290.txt": (6, 8, 8, 1),
}

HEADER = """# nThread 1 nGpus 2 minBytes 8 maxBytes 64 step: 2(factor) warmup iters: 5 iters: 20
#  Rank  0 Group  0 Pid 1 on host-a device  0 [0x01] GPU
#  Rank  1 Group  0 Pid 1 on host-a device  1 [0x02] GPU
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
"""
ROW = ("          64            16     float     sum      -1    10.00    0.01    0.01      0    10.00    0.01    0.01"
       "      0")
FIGURES = "0.01    0.01      0    10.00    0.01    0.01"


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_shipped_table_parses(name: str) -> None:
    measurement = read_log(VALIDATION / name)
    rows, ranks, per_thread, hosts = TABLES[name]
    assert measurement.collective == "allreduce"
    assert (len(measurement.rows), measurement.ranks, measurement.gpus_per_thread, measurement.servers) == (
        rows, ranks, per_thread, hosts)
    sizes = [row.size for row in measurement.rows]
    assert sizes == sorted(sizes) and all(row.time_us > 0 for row in measurement.rows)


def test_a_grep_over_several_runs_is_not_a_log() -> None:
    with pytest.raises(LogError) as caught:
        read_log(VALIDATION / "mi325x-Nx8/all_reduce_perf_grep-rows_hisohara-aac11.txt")
    assert caught.value.line is not None


def test_the_collective_comes_from_the_bandwidth_factor() -> None:
    # 2 ranks: all-reduce's factor is 2(n-1)/n = 1; a row with busbw = algbw / 2 is reduce-scatter's
    reduce_scatter = ROW.replace(FIGURES, "6.40    3.20      0    10.00    6.40    3.20")
    assert parse_log(HEADER + reduce_scatter + "\n", "rs.txt").collective == "reducescatter"
    all_reduce = ROW.replace(FIGURES, "6.40    6.40      0    10.00    6.40    6.40")
    assert parse_log(HEADER + all_reduce + "\n", "ar.txt").collective == "allreduce"


@pytest.mark.parametrize(("text", "line", "words"), [
    (HEADER + ROW + "\n" + ROW.replace("float", "quaternion") + "\n", 7, "element type"),
    (HEADER + ROW + "\n" + ROW.replace("sum", "xor") + "\n", 7, "reduction"),
    (HEADER + ROW + "\nsomething else entirely\n", 7, "not a row"),
    (HEADER + ROW.rsplit(None, 4)[0] + "\n", 6, "8 figures"),
    (ROW + "\n" + HEADER, 1, "before the table"),
])
def test_a_malformed_line_is_named(text: str, line: int, words: str) -> None:
    with pytest.raises(LogError) as caught:
        parse_log(text, "bad.txt")
    assert caught.value.line == line
    assert words in str(caught.value) and "bad.txt" in str(caught.value)


def test_no_table_and_no_file_are_errors(tmp_path: Path) -> None:
    with pytest.raises(LogError, match="no table"):
        parse_log("# just a header\n", "empty.txt")
    with pytest.raises(LogError, match="no such file"):
        read_log(tmp_path / "missing.txt")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(LogError, match="cannot read"):
        read_log(binary)


def test_a_named_collective_must_exist() -> None:
    with pytest.raises(LogError, match="no such collective"):
        parse_log(HEADER + ROW + "\n", "x.txt", collective="allmagic")
