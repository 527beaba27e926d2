"""Failures at cluster scale (issue 21): the failure process, the mechanism read from the fabric,
the checkpoint/restart timeline and its optimum, the seed, and bad input."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oisa.cli import main
from oisa.errors import ConfigError, UsageError
from oisa.fabric import load_fabric
from oisa.workload.failures import (
    CLASSES,
    HOUR,
    daly_interval,
    draw_schedule,
    goodput_curve,
    inventory,
    parse_duration,
    read_fault_file,
    run_failures,
    simulate,
    young_interval,
)


@pytest.fixture(scope="module")
def switched_1k():
    return load_fabric("cluster-1k-switched")


@pytest.fixture(scope="module")
def supernode_64():
    return load_fabric("supernode-64")


def test_interruption_count_is_poisson_with_the_expected_mean(switched_1k):
    inv = inventory(switched_1k)
    horizon = 7 * 24 * HOUR
    expected = horizon / (inv.mtbi_h(CLASSES) * HOUR)
    counts = np.array([draw_schedule(inv, CLASSES, horizon, np.random.default_rng(seed)).interruptions(inv).size
                       for seed in range(400)])
    # The mean of 400 Poisson counts lies within 4 standard errors of the rate times the horizon,
    # and a Poisson process's variance equals its mean (dispersion near 1).
    assert abs(counts.mean() - expected) < 4 * math.sqrt(expected / counts.size)
    assert 0.75 < counts.var(ddof=1) / counts.mean() < 1.25


def test_the_1k_switched_cluster_is_counted_and_sorted_by_its_graph(switched_1k):
    inv = inventory(switched_1k)
    assert inv.counts["cards"] == 1024 and inv.counts["servers"] == 128 and inv.counts["nics"] == 1024
    assert inv.counts["leaves"] == 16 and inv.counts["fabric_switches"] == 8 and inv.counts["planes"] == 4
    kinds = {(g.cls, g.interrupts): g for g in inv.groups}
    # One NIC per card, one leaf per NIC: each is a single point of failure.
    for cls in ("card", "hbm", "host", "nic", "nic-link", "leaf"):
        assert (cls, True) in kinds
    # Four NVSwitch-like planes per card, 64 up-links per leaf over 8 spines: they only degrade.
    assert kinds[("scale-up-switch", False)].share == pytest.approx(1 / 4)
    assert kinds[("scale-up-switch", False)].count == 512
    assert kinds[("fabric-switch", False)].share == pytest.approx(1 / 8)
    assert ("scale-up-switch", True) not in kinds and ("fabric-switch", True) not in kinds


def test_the_supernodes_planes_and_links_only_degrade(supernode_64, tmp_path):
    inv = inventory(supernode_64)
    degrading = [g for g in inv.groups if g.cls in ("scale-up-switch", "scale-up-link")]
    assert degrading and all(not g.interrupts and g.share == pytest.approx(1 / 8) for g in degrading)
    # A plane and a link that fail at set times leave the interruptions as they were, and are
    # counted as degradations.
    path = tmp_path / "faults.toml"
    path.write_text('[[fault]]\nclass = "scale-up-switch"\nat = "1h"\nrepair = "3h"\n'
                    '[[fault]]\nclass = "scale-up-link"\nat = "2h"\nindex = 511\n')
    faults = read_fault_file(path).faults
    horizon = 24 * HOUR
    plain = draw_schedule(inv, CLASSES, horizon, np.random.default_rng(5))
    with_faults = draw_schedule(inv, CLASSES, horizon, np.random.default_rng(5), extra=faults)
    assert list(with_faults.interruptions(inv)) == list(plain.interruptions(inv))
    assert len(with_faults.events) == len(plain.events) + 2
    # The same card failing does stop the job.
    path.write_text('[[fault]]\nclass = "card"\nat = "1h"\n')
    stopped = draw_schedule(inv, CLASSES, horizon, np.random.default_rng(5), extra=read_fault_file(path).faults)
    assert HOUR in list(stopped.interruptions(inv))


def test_a_card_on_one_plane_is_stopped_by_that_plane(supernode_64):
    # Keep only the links of every card to plane0: then that plane, and each card's one link to
    # it, interrupt the job; the same rule that makes eight planes degrade.
    plane0 = next(s.id for s in supernode_64.switches if s.name == "plane0")
    planes = {s.id for s in supernode_64.switches}
    links = tuple(link for link in supernode_64.links if not ({link.a, link.b} & planes) or plane0 in (link.a, link.b))
    inv = inventory(replace(supernode_64, links=links))
    assert {(g.cls, g.interrupts) for g in inv.groups if g.cls.startswith("scale-up")} == {
        ("scale-up-switch", True), ("scale-up-link", True)}


def test_the_timeline_accounts_for_every_second():
    # No failure: each cycle of 1 h work and 60 s writing; the tail counts.
    quiet = simulate(np.array([]), 10 * HOUR, HOUR, 60.0, 600.0)
    assert quiet.interruptions == 0 and quiet.lost_s == 0
    assert quiet.useful_s + quiet.checkpoint_s == pytest.approx(10 * HOUR)
    # One failure 30 min into the second cycle: 30 min lost, 10 min restart.
    at = HOUR + 60 + 1800
    one = simulate(np.array([at]), 10 * HOUR, HOUR, 60.0, 600.0)
    assert one.lost_s == pytest.approx(1800) and one.restart_s == pytest.approx(600)
    assert one.useful_s + one.lost_s + one.checkpoint_s + one.restart_s == pytest.approx(10 * HOUR)
    # A second failure during the restart starts it again.
    two = simulate(np.array([at, at + 300]), 10 * HOUR, HOUR, 60.0, 600.0)
    assert two.restart_s == pytest.approx(900) and two.interruptions == 2


@settings(max_examples=12, deadline=None)
@given(mtbi_h=st.floats(1.0, 24.0), write_s=st.floats(10.0, 300.0), seed=st.integers(0, 2**32 - 1))
def test_goodput_is_greatest_near_the_young_daly_interval(mtbi_h, write_s, seed):
    mtbi = mtbi_h * HOUR
    horizon = 3000 * mtbi  # some 3,000 failures: long enough for the mean to settle
    rng = np.random.default_rng(seed)
    failures = np.cumsum(rng.exponential(mtbi, size=int(horizon / mtbi * 1.2) + 50))
    daly = daly_interval(write_s, mtbi)
    assert daly == pytest.approx(young_interval(write_s, mtbi), rel=0.2)
    grid = [daly * f for f in np.geomspace(1 / 8, 8, 25)]
    curve = goodput_curve([failures], horizon, [*grid, daly], write_s, 300.0)
    best = max(curve[:-1], key=lambda row: row.goodput)
    at_daly = curve[-1].goodput
    assert best.goodput - at_daly < 0.002
    assert daly / 2.5 < best.interval_s < daly * 2.5
    assert at_daly > curve[0].goodput and at_daly > curve[-2].goodput


def test_the_seed_fixes_the_result(switched_1k):
    def once(seed):
        result = run_failures([switched_1k], seed, horizon_s=7 * 24 * HOUR, replicas=3)
        return [(c.interruptions, c.degradations, c.best, c.rows) for c in result.clusters]

    assert once(11) == once(11)
    assert once(11) != once(12)


def test_bad_fault_files_are_refused_in_one_line_naming_the_entry(tmp_path):
    cases = {
        '[[fault]]\nclass = "gpu-fan"\nat = "1h"\n': "fault[0].class",
        '[[fault]]\nclass = "card"\nat = "-2h"\n': "fault[0].at",
        '[[fault]]\nclass = "card"\nat = "3h"\nrepair = "2h"\n': "fault[0].repair",
        '[[fault]]\nclass = "card"\nat = "1h"\nindex = -1\n': "fault[0].index",
        '[[fault]]\nclass = "card"\nwhen = "1h"\n': "fault[0].when",
        '[rates.card]\nmtbf = "0h"\nsource = "x"\n': "rates.card.mtbf",
        '[rates.card]\nmtbf = "1e400h"\nsource = "x"\n': "rates.card.mtbf",
        '[rates.card]\nmtbf = "5000h"\n': "rates.card",
        '[rates.gpu-fan]\nmtbf = "5000h"\nsource = "x"\n': "rates.gpu-fan",
        '[fauls]\n': "fauls",
        'rates = [\n': None,
    }
    for text, key in cases.items():
        path = tmp_path / "f.toml"
        path.write_text(text)
        with pytest.raises(ConfigError) as caught:
            read_fault_file(path)
        assert caught.value.key == key and "\n" not in str(caught.value).strip(), text


def test_a_fault_file_sets_rates_and_members(tmp_path, supernode_64):
    path = tmp_path / "f.toml"
    path.write_text('[rates.card]\nmtbf = "100h"\nassumption = "a bad batch"\n[[fault]]\nclass = "host"\nat = 60\n')
    read = read_fault_file(path)
    assert read.classes["card"].mtbf_h == 100 and read.classes["hbm"] == CLASSES["hbm"]
    inv = inventory(supernode_64)
    path.write_text('[[fault]]\nclass = "host"\nat = "1h"\nindex = 16\n')  # 16 servers: 0 to 15
    with pytest.raises(ConfigError, match="index 16: supernode-64 has 16 of class 'host'"):
        draw_schedule(inv, CLASSES, HOUR * 2, np.random.default_rng(0), extra=read_fault_file(path).faults)


@pytest.mark.parametrize(("call", "parameter"), [
    (lambda: parse_duration("5 fortnights", "horizon"), "horizon"),
    (lambda: parse_duration("0s", "horizon"), "horizon"),
    (lambda: parse_duration("nan", "restart"), "restart"),
    (lambda: run_failures([], 0, replicas=0), "replicas"),
    (lambda: run_failures([], 0, horizon_s=HOUR, intervals=[2 * HOUR]), "intervals"),
    (lambda: run_failures([], 0, restart_s=-1), "restart_s"),
])
def test_bad_arguments_are_refused_naming_the_parameter(call, parameter):
    with pytest.raises(UsageError) as caught:
        call()
    assert caught.value.parameter == parameter


def test_the_command_prints_goodput_and_refuses_bad_options(capsys, tmp_path):
    assert main(["scenario", "failures", "--fabrics", "supernode-64", "--horizon", "2d", "--intervals", "30min,2h",
                 "--replicas", "2", "--json", "-q"]) == 0
    out = json.loads(capsys.readouterr().out)
    [cluster] = out["clusters"]
    assert cluster["fabric"] == "supernode-64" and [r["interval_s"] for r in cluster["intervals"]] == [1800, 7200]
    assert 0 < cluster["best"]["goodput"] <= 1
    for argv, words in [
        (["--horizon", "soon"], "--horizon soon"),
        (["--intervals", "1h,9d"], "--intervals 1h,9d"),
        (["--model", "llama-7b"], "--model is not an option of the failures scenario"),
        (["--fabrics", "no-such-fabric"], "no-such-fabric"),
    ]:
        assert main(["scenario", "failures", "-q", *argv]) != 0
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err
    assert main(["scenario", "article", "--horizon", "1d", "-q"]) == 2
    assert "--horizon is not an option of the article scenario" in capsys.readouterr().err


def test_failures_json_keys_are_exactly_the_documented_ones(supernode_64):
    import re
    from pathlib import Path

    from oisa.report.failures import failures_json

    spec = (Path(__file__).resolve().parents[2] / "specs" / "cli-json.md").read_text()
    body = spec.split("## `oisa scenario failures`\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([\w.\[\]]+)` \|", body, re.M))
    out = failures_json(run_failures([supernode_64], 0, horizon_s=24 * HOUR, replicas=1))
    [cluster] = out["clusters"]
    keys = set(out) | {f"classes[].{k}" for k in out["classes"][0]} | {f"clusters[].{k}" for k in cluster}
    keys |= {f"clusters[].groups[].{k}" for k in cluster["groups"][0]}
    keys |= {f"clusters[].{name}.{k}" for name in ("best", "at_young", "at_daly") for k in cluster[name]}
    keys |= {f"clusters[].intervals[].{k}" for k in cluster["intervals"][0]}
    assert keys == documented


def test_degradation_is_measured_by_the_worst_card_not_summed():
    from oisa.workload.failures import _worst_over_time

    # Two planes of different supernodes down for overlapping hours: the job loses an eighth while
    # either is down, never a quarter; a quarter-share span in the middle takes over while it lasts.
    spans = [(0.0, 4.0, 0.125), (2.0, 6.0, 0.125), (3.0, 4.0, 0.25)]
    assert _worst_over_time(spans, 10.0, weighted=False) == pytest.approx(0.6)
    assert _worst_over_time(spans, 10.0, weighted=True) == pytest.approx((5 * 0.125 + 1 * 0.25) / 10)
