"""Degradations measured frame by frame (issue 21, item 4): the bandwidth a lost plane, a lost
scale-up link or a down-trained link leaves an all-reduce comes from frame-level runs, and the
goodput model takes it off while the degradation lasts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from oisa.errors import UsageError
from oisa.fabric import load_fabric
from oisa.workload.degradation import measure, progress
from oisa.workload.failures import HOUR, run_failures


def test_the_kept_bandwidth_is_what_the_frame_level_runs_give() -> None:
    measured = {d.cls: d for d in measure(4)}
    assert set(measured) == {"scale-up-switch", "scale-up-link", "scale-up-lanes"}
    for degradation in measured.values():
        (h_small, h_large), (d_small, d_large) = degradation.times_ps
        assert degradation.kept == (h_large - h_small) / (d_large - d_small)
        assert 0.5 < degradation.kept < 1.0  # slower, and not by more than the lost element could explain
    # a link at half its lanes holds back the whole sprayed transfer: it costs more than losing it,
    # whose traffic the card's other links take (what a share of the links would not say)
    assert measured["scale-up-lanes"].kept < measured["scale-up-link"].kept
    # the README's figures, 4 planes and 8
    assert [round(measured[c].kept, 3) for c in ("scale-up-switch", "scale-up-link", "scale-up-lanes")] == [
        0.771, 0.875, 0.559]
    assert [round(d.kept, 3) for d in measure(8)] == [0.901, 0.965, 0.647]


def test_progress_is_the_pace_of_a_step_that_spends_a_share_in_collectives() -> None:
    assert progress(0.8, 1.0) == pytest.approx(0.8)
    assert progress(0.8, 0.0) == 1.0
    assert progress(0.5, 0.5) == pytest.approx(1 / 1.5)
    with pytest.raises(UsageError, match="comm_share"):
        progress(0.8, 1.5)


def test_degradations_lower_goodput_by_the_measured_pace() -> None:
    spec = load_fabric("cluster-10k-switched")
    plain = run_failures([spec], 0, horizon_s=24 * HOUR, replicas=2)
    [cluster] = run_failures([spec], 0, horizon_s=24 * HOUR, replicas=2, measure_degradation=True).clusters
    assert plain.clusters[0].degraded_goodput is None and plain.clusters[0].measured == ()
    assert cluster.measured == measure(4, 0)  # cluster-10k-switched's cards are on 4 planes
    assert cluster.degraded_goodput is not None
    assert cluster.degraded_goodput < cluster.best.goodput == plain.clusters[0].best.goodput
    assert (round(cluster.best.goodput, 4), round(cluster.degraded_goodput, 4)) == (0.8980, 0.8591)  # the README
    half = run_failures([spec], 0, horizon_s=24 * HOUR, replicas=2, measure_degradation=True, comm_share=0.5)
    assert cluster.degraded_goodput < half.clusters[0].degraded_goodput < cluster.best.goodput
    with pytest.raises(UsageError, match="comm_share"):
        run_failures([spec], 0, comm_share=2.0)


def test_measured_json_keys_are_exactly_the_documented_ones() -> None:
    from oisa.report.failures import failures_json

    text = (Path(__file__).resolve().parents[2] / "specs" / "cli-json.md").read_text()
    body = text.split("## `oisa scenario failures --measure-degradation`\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([\w.\[\]]+)` \|", body, re.M))
    spec = load_fabric("cluster-10k-switched")
    plain = failures_json(run_failures([spec], 0, horizon_s=HOUR, intervals=[600.0], replicas=1))["clusters"][0]
    out = failures_json(run_failures([spec], 0, horizon_s=HOUR, intervals=[600.0], replicas=1,
                                       measure_degradation=True))["clusters"][0]
    keys = {f"clusters[].{k}" for k in set(out) - set(plain)} | {f"clusters[].measured[].{k}" for k in
                                                                  out["measured"][0]}
    assert keys == documented
