"""The p2p benchmark runs end to end on a small fabric, and its figures come from the run."""

import json

import pytest


@pytest.fixture(scope="module")
def benchmark(load_benchmark):
    return load_benchmark("p2p")


def test_prints_a_line_and_writes_json(benchmark, tmp_path, capsys):
    out = tmp_path / "run.json"
    assert benchmark.main(["--fabric", "pair", "--size", "4KiB", "--repeat", "2", "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("p2p of 4KiB on pair, data mode")
    assert lines[2].split()[-1] == "True"
    run = json.loads(out.read_text())
    assert run["verified"] is True and run["size"] == 4096 and len(run["wall_runs_s"]) == 2
    assert run["wall_s"] == min(run["wall_runs_s"]) and run["frames"] > 0 and run["write_ps"] > 0
