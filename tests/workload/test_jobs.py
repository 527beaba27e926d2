"""Several workloads at once (``oisa run FABRIC --jobs FILE``): each job alone and together in one
simulation, what sharing cost each, and a jobs file's wrong entries named one line each."""

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from oisa.cli import main
from oisa.device.isolation import Window
from oisa.errors import ConfigError
from oisa.fabric import load_fabric
from oisa.fabric.tenancy import tenancy
from oisa.graph import write_graph
from oisa.report.jobs import jobs_json, jobs_text
from oisa.sim.faults import FaultModel
from oisa.workload.execute import _group_id
from oisa.workload.jobs import Job, job_set, load_jobs, run_jobs
from oisa.workload.run import Run
from tests.graph.helpers import data_parallel

VICTIM = """
[[jobs]]
name = "victim"
workload = "loadstore"
cards = [0, 4]
{victim_class}
[jobs.options]
accesses = 60
background = 0
"""
AGGRESSOR = """
[[jobs]]
name = "aggressor"
workload = "allreduce"
cards = [1, 2, 3, 5, 6, 7]
{aggressor_class}
[jobs.options]
size = "1MiB"
"""


@pytest.fixture(scope="module")
def spec():
    return load_fabric("two-switch-8")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobs.toml"
    path.write_text(text)
    return path


def both(victim_class: str = "", aggressor_class: str = "") -> str:
    return VICTIM.format(victim_class=victim_class) + AGGRESSOR.format(aggressor_class=aggressor_class)


@pytest.fixture(scope="module")
def shared(spec, tmp_path_factory):
    path = write(tmp_path_factory.mktemp("jobs"), both())
    return run_jobs(spec, Run(), load_jobs(path, spec))


def test_a_latency_job_beside_an_all_reduce_on_a_shared_trunk_waits_longer(shared):
    victim, aggressor = shared.jobs
    assert (victim.job.name, aggressor.job.name) == ("victim", "aggressor")
    assert shared.mode == "timing"
    # alone, every load crosses an idle trunk: all take the same time
    assert victim.alone.latency.p99_ps == victim.alone.latency.min_ps
    # together, the all-reduce's steps cross the trunk the loads take
    assert victim.p99_slowdown > 2 and victim.slowdown > 1
    assert victim.together.latency.p99_ps == victim.together.result.idle["load"].p99_ps
    # the aggressor's time alone is what its workload reports on its own
    assert aggressor.alone.duration_ps == aggressor.alone.result.time_ps
    assert aggressor.together.duration_ps >= aggressor.alone.duration_ps
    assert shared.end_ps == max(report.together.end_ps for report in shared.jobs)


def test_the_report_has_every_job_alone_and_together(shared):
    doc = jobs_json(shared)
    assert [job["name"] for job in doc["jobs"]] == ["victim", "aggressor"]
    victim = doc["jobs"][0]
    assert set(victim) == {"name", "workload", "cards", "tenant", "traffic_class", "alone", "together", "slowdown",
                           "p99_slowdown"}
    assert set(victim["alone"]) == {"start_ps", "end_ps", "time_ps", "latency", "result"}
    assert victim["together"]["result"]["workload"] == "loadstore" and victim["cards"] == [0, 4]
    assert victim["p99_slowdown"] == round(shared.jobs[0].p99_slowdown, 6)
    text = jobs_text(shared)
    assert "victim" in text and "aggressor" in text and "p99 slowdown" in text


def test_the_command_line_runs_a_jobs_file(tmp_path, capsys):
    path = write(tmp_path, both())
    assert main(["run", "two-switch-8", "--jobs", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["workload"] == "jobs" and len(doc["jobs"]) == 2


def test_the_command_line_refuses_workload_options_beside_a_jobs_file(tmp_path, capsys):
    path = write(tmp_path, both())
    assert main(["run", "two-switch-8", "--jobs", str(path), "-w", "p2p"]) != 0
    assert "--jobs" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--outages", "x.toml"], ["--tamper", "0.1"], ["--substitute", "0.1"]])
def test_the_command_line_refuses_options_that_act_on_one_run_beside_a_jobs_file(tmp_path, capsys, extra):
    path = write(tmp_path, both())
    assert main(["run", "two-switch-8", "--jobs", str(path), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--jobs: {extra[0]}" in err


def test_jobs_run_on_the_cards_of_their_tenants_with_the_tenancy_enforced(spec, tmp_path):
    t = tenancy(spec, {"a": [0, 4], "b": [1, 5]}, [Window("a", 4, 0, 1 << 24, True, True),
                                                   Window("b", 5, 0, 1 << 24, True, True)])
    path = write(tmp_path, """
[[jobs]]
workload = "p2p"
cards = [0, 4]
tenant = "a"
options = { size = "64KiB" }

[[jobs]]
workload = "p2p"
cards = [1, 5]
tenant = "b"
options = { size = "64KiB" }
""")
    result = run_jobs(spec, Run(tenancy=t), load_jobs(path, spec, t))
    assert result.mode == "data" and result.isolation is not None and not any(result.isolation.values())
    assert all(report.together.result.verified for report in result.jobs)
    assert [(r.together.result.src, r.together.result.dst) for r in result.jobs] == [(0, 4), (1, 5)]


ROOT = Path(__file__).parents[2]

BAD = {
    "unknown workload": ('[[jobs]]\nworkload = "nope"\ncards = [0, 1]\n', "jobs[0].workload", "no such workload"),
    "unknown option": ('[[jobs]]\nworkload = "p2p"\ncards = [0, 1]\noptions = { sizes = 4 }\n',
                       "jobs[0].options.sizes", "no such option"),
    "bad option value": ('[[jobs]]\nworkload = "p2p"\ncards = [0, 1]\noptions = { size = "lots" }\n',
                         "jobs[0].options.size", ""),
    "card outside the fabric": ('[[jobs]]\nworkload = "p2p"\ncards = [0, 99]\n', "jobs[0].cards", "card 99"),
    "overlapping cards": ('[[jobs]]\nworkload = "p2p"\ncards = [0, 1]\n[[jobs]]\nworkload = "p2p"\ncards = [1, 2]\n',
                          "jobs[1].cards", "card 1 is also job 'job0'"),
    "an option's card outside the job": ('[[jobs]]\nworkload = "p2p"\ncards = [0, 1]\noptions = { dst = 5 }\n',
                                         "jobs[0].options.dst", "not one of the job's cards"),
    "a tenant without a tenancy": ('[[jobs]]\nworkload = "p2p"\ncards = [0, 1]\ntenant = "a"\n', "jobs[0].tenant",
                                   "no tenancy"),
    "a traffic class beyond 7": ('[[jobs]]\nworkload = "p2p"\ncards = [0, 1]\nclass = 8\n', "jobs[0].class", "0 to 7"),
    "an unknown key": ('[[jobs]]\nworkload = "p2p"\ncards = [0, 1]\ncard = 3\n', "jobs[0].card", "unknown key"),
    "two jobs of one name": ('[[jobs]]\nname = "x"\nworkload = "p2p"\ncards = [0, 1]\n[[jobs]]\nname = "x"\n'
                             'workload = "p2p"\ncards = [2, 3]\n', "jobs[1].name", "also jobs[0]"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_wrong_entry_is_one_line_naming_it(spec, tmp_path, case):
    text, key, words = BAD[case]
    with pytest.raises(ConfigError) as caught:
        load_jobs(write(tmp_path, text), spec)
    assert caught.value.key == key and words in str(caught.value) and "\n" not in str(caught.value)


def test_cards_outside_a_tenant_are_named(spec, tmp_path):
    t = tenancy(spec, {"a": [0, 4]}, [])
    path = write(tmp_path, '[[jobs]]\nworkload = "p2p"\ncards = [0, 1]\ntenant = "a"\n')
    with pytest.raises(ConfigError, match="card 1 is not tenant 'a'") as caught:
        load_jobs(path, spec, t)
    assert caught.value.key == "jobs[0].cards"


def test_a_workload_that_reaches_past_its_cards_is_named(spec, tmp_path):
    # loadstore streams from three other cards by default: outside the job
    path = write(tmp_path, '[[jobs]]\nworkload = "loadstore"\ncards = [0, 4]\noptions = { accesses = 5 }\n')
    with pytest.raises(ConfigError, match="sent from card 1, which is not one of its cards"):
        run_jobs(spec, Run(), load_jobs(path, spec))


QOS = '\n[qos]\nweights = { 7 = 8 }\n'


@pytest.fixture(scope="module")
def weighted(spec, tmp_path_factory):
    path = write(tmp_path_factory.mktemp("jobs"), both(victim_class="class = 7") + QOS)
    return run_jobs(spec, Run(), load_jobs(path, spec))


def test_a_weighted_class_bounds_the_victims_p99_and_the_aggressor_pays_little(shared, weighted):
    fifo_victim, fifo_aggressor = shared.jobs
    victim, aggressor = weighted.jobs
    assert weighted.qos == {"policy": "weighted", "tc_to_vc": [0, 0, 0, 0, 0, 0, 0, 1], "vc_weights": [1, 8],
                            "quantum_bytes": 4096}
    assert victim.job.traffic_class == 7 and aggressor.job.traffic_class == 0
    # alone, a class has the links to itself: the policy changes nothing
    assert victim.alone.duration_ps == fifo_victim.alone.duration_ps
    assert aggressor.alone.duration_ps == fifo_aggressor.alone.duration_ps
    assert fifo_victim.p99_slowdown > 3 * victim.p99_slowdown and victim.p99_slowdown < 1.5
    assert 1.0 <= aggressor.slowdown < 1.1


BAD_QOS = {
    "a class beyond 7": ('weights = { 9 = 2 }', "qos.weights.9", "0 to 7"),
    "a weight of 0": ('weights = { 7 = 0 }', "qos.weights.7", "1 or more"),
    "an unknown arbitration": ('arbitration = "fair"', "qos.arbitration", "'weighted' or 'strict'"),
    "an unknown key": ('weight = { 7 = 2 }', "qos.weight", "unknown key"),
}


@pytest.mark.parametrize("case", list(BAD_QOS))
def test_a_wrong_qos_entry_is_one_line_naming_it(spec, tmp_path, case):
    line, key, words = BAD_QOS[case]
    with pytest.raises(ConfigError) as caught:
        load_jobs(write(tmp_path, '[[jobs]]\nworkload = "p2p"\ncards = [0, 1]\n[qos]\n' + line + "\n"), spec)
    assert caught.value.key == key and words in str(caught.value)


def test_data_and_timing_mode_agree_on_the_victims_p99_under_a_policy(spec):
    """Timing mode sends segments in parts of a quantum where classes meet, so that the victim
    waits behind what data mode's message-by-message arbitration makes it wait behind; without a
    policy its whole segments make it wait longer. The figures are the README's."""
    slowdowns = {}
    for weights in (None, {7: 8}):
        jobs = job_set(spec, [Job("victim", "loadstore", (0, 4), {"accesses": 30, "background": 0}, traffic_class=7),
                              Job("aggressor", "allreduce", (1, 2, 3, 5, 6, 7), {"size": 256 * 1024})],
                       weights=weights)
        data, timing = (run_jobs(spec, Run(engine=engine), jobs).jobs[0] for engine in ("data", "timing"))
        assert data.alone.latency.p99_ps == timing.alone.latency.p99_ps
        slowdowns[weights is not None] = (round(data.p99_slowdown, 2), round(timing.p99_slowdown, 2))
        if weights is not None:
            assert data.together.latency.p99_ps == pytest.approx(timing.together.latency.p99_ps, rel=0.1)
    assert slowdowns == {False: (2.16, 2.73), True: (1.07, 1.12)}


def test_a_trace_runs_as_a_job_beside_another(spec, tmp_path):
    write_graph(data_parallel(4, size=1 << 20), tmp_path / "dp")
    jobs = job_set(spec, [Job("train", "graph", (0, 1, 4, 5), {"graph": str(tmp_path / "dp")}),
                          Job("bulk", "alltoall", (2, 3, 6, 7), {"size": 1 << 20})])
    train, bulk = run_jobs(spec, Run(), jobs).jobs
    assert train.together.result.step_ps == train.together.duration_ps > 0
    assert bulk.together.result.time_ps == bulk.together.duration_ps


def test_the_readme_figures(tmp_path, capsys, load_benchmark):
    figures = {}
    for name in ("two-switch-8-victim", "two-switch-8-victim-qos"):
        assert main(["run", "two-switch-8", "--jobs", str(ROOT / "jobs" / f"{name}.toml"), "--json"]) == 0
        figures[name] = json.loads(capsys.readouterr().out)["jobs"]
    fifo, qos = figures["two-switch-8-victim"], figures["two-switch-8-victim-qos"]
    assert [fifo[0]["alone"]["time_ps"], fifo[0]["alone"]["latency"]["p99_ps"], fifo[1]["alone"]["time_ps"]] == [
        212_308_000, 1_415_380, 99_548_178]
    assert [fifo[0]["together"]["time_ps"], fifo[0]["together"]["latency"]["p99_ps"],
            fifo[1]["together"]["time_ps"]] == [250_872_760, 10_956_006, 99_548_178]
    assert round(fifo[0]["slowdown"], 2) == 1.18 and round(fifo[0]["p99_slowdown"], 2) == 7.74
    assert qos[0]["alone"] == {**fifo[0]["alone"], "result": qos[0]["alone"]["result"]}
    assert [qos[0]["together"]["time_ps"], qos[0]["together"]["latency"]["p99_ps"], qos[1]["together"]["time_ps"]] == [
        217_143_566, 1_602_560, 100_542_427]
    rows = {(row["victim"], row["aggressor"], row["policy"]): row for row in load_benchmark("qos").measure(
        "two-switch-8", "timing")}
    quoted = {
        ("loadstore 64 B", "allreduce 4 MiB", "none (FIFO)"): (1.18, 7.74, 1.000),
        ("loadstore 64 B", "allreduce 4 MiB", "weighted 8:1"): (1.02, 1.13, 1.010),
        ("loadstore 64 B", "allreduce 4 MiB", "strict"): (1.01, 1.04, 1.007),
        ("loadstore 64 B", "alltoall 1 MiB", "none (FIFO)"): (1.07, 2.96, 1.000),
        ("loadstore 64 B", "alltoall 1 MiB", "weighted 8:1"): (1.01, 1.10, 1.025),
        ("p2p 1 MiB", "alltoall 1 MiB", "none (FIFO)"): (1.58, 2.08, 1.149),
        ("p2p 1 MiB", "alltoall 1 MiB", "weighted 1:1"): (1.49, 1.96, 1.434),
        ("p2p 1 MiB", "alltoall 1 MiB", "weighted 8:1"): (1.07, 1.12, 1.419),
        ("p2p 1 MiB", "alltoall 1 MiB", "strict"): (1.02, 1.04, 1.435),
    }
    for key, (victim, p99, aggressor) in quoted.items():
        row = rows[key]
        assert (round(row["victim_slowdown"], 2), round(row["victim_p99_slowdown"], 2),
                round(row["aggressor_slowdown"], 3)) == (victim, p99, aggressor), key


def test_the_json_keys_are_the_documented_ones(weighted):
    text = (ROOT / "specs" / "cli-json.md").read_text()
    body = text.split("## `oisa run FABRIC --jobs FILE`\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([\w.\[\]]+)` \|", body, re.M))
    doc = jobs_json(weighted)
    keys = {key for key, value in doc.items() if not isinstance(value, dict) and key != "jobs"}
    keys |= {f"{key}.{inner}" for key, value in doc.items() if isinstance(value, dict) and key != "link"
             for inner in value}
    keys |= {"link", "qos", "jobs[].together"}
    keys |= {f"jobs[].{key}" for key in doc["jobs"][0] if key not in ("alone", "together")}
    keys |= {f"jobs[].alone.{key}" for key in doc["jobs"][0]["alone"]}
    assert keys == documented
    assert set(doc["jobs"][0]["together"]) == set(doc["jobs"][0]["alone"])


def test_jobs_in_their_classes_keep_their_data_under_link_faults(spec):
    """Lost, duplicated and corrupted flits are replayed per link whatever their channel: each
    job's bytes still arrive whole, with the policy on."""
    jobs = job_set(spec, [Job("a", "p2p", (0, 4), {"size": 64 * 1024}, traffic_class=7),
                          Job("b", "p2p", (1, 5), {"size": 64 * 1024})], weights={7: 4})
    faults = FaultModel(ber=1e-7, drop=0.002, duplicate=0.002)
    result = run_jobs(spec, Run(engine="data", seed=3, faults=faults), jobs)
    assert all(report.together.result.verified and report.alone.result.verified for report in result.jobs)
    assert result.link["flits_replayed"] > 0


def test_jobs_reducing_in_the_same_switches_get_groups_of_their_own():
    """Both jobs' plans number their in-switch group 1 and start at the same addresses: the
    switches hand the second job another id, so neither job's contributions are combined with
    the other's (data mode checks every result against numpy) and both run together."""
    supernode = load_fabric("supernode-64")
    options = {"size": 64 * 1024, "algorithm": "in-switch"}
    jobs = job_set(supernode, [Job("a", "allreduce", (8, 9, 10, 11), options),
                               Job("b", "allreduce", (12, 13, 14, 15), options)])
    result = run_jobs(supernode, Run(engine="data"), jobs)
    assert all(report.together.result.verified for report in result.jobs)


def test_a_switch_keeps_one_id_per_plan_group_and_members():
    plane = SimpleNamespace(name="plane0", groups={}, group_ids={})  # what _group_id reads of a switch
    assert _group_id(plane, 1, [8, 9]) == 1
    assert _group_id(plane, 1, [12, 13]) == 2  # 1 is taken by other members
    assert _group_id(plane, 2, [8, 9]) == 3  # another group of the same cards: an id of its own
    assert _group_id(plane, 1, [12, 13]) == 2 and _group_id(plane, 1, [8, 9]) == 1  # asked again: the same
    assert plane.groups == {1: [8, 9], 2: [12, 13], 3: [8, 9]}
