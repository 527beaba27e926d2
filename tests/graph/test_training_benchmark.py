"""benchmarks/training.py, run small: its table, its JSON, the waterfall, and a layout that does
not fit said in one line."""

from __future__ import annotations

import json


def test_the_benchmark_runs_small(load_benchmark, tmp_path, capsys):
    benchmark = load_benchmark("training")
    small = ["--model", "mixtral-8x7b", "--tp", "2", "--pp", "2", "--microbatches", "2", "--seq", "512",
             "--layers-per-node", "16"]
    assert benchmark.main(["--fabric", "mesh-8", "--cards", "4,8", *small, "--json", str(tmp_path / "b.json"),
                           "--plot", str(tmp_path / "b.png")]) == 0
    out = capsys.readouterr().out
    assert "per doubling of cards" in out
    rows = json.loads((tmp_path / "b.json").read_text())["mesh-8"]["rows"]
    assert [row["cards"] for row in rows] == [4, 8] and all(row["peak_rss_mib"] > 0 < row["cpu_s"] for row in rows)
    for row in rows:
        parts = row["utilization"]
        assert abs(1 - parts["kernels_lost"] - parts["communication"] - parts["other"] - parts["idle"]
                   - row["peak_share"]) < 1e-9
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
    assert benchmark.main(["--fabric", "supernode-64", "--cards", "4", *small]) == 1
    assert "would hold" in capsys.readouterr().err
