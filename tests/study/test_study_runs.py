"""Studies run for real: in this process, on a pool of processes and on a Dask LocalCluster of
two worker processes; a worker killed mid-study, Ctrl-C and resuming all end in the table a
serial run gives; a failing point is recorded and the others go on."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from oisa.cli import main
from oisa.study import DaskCluster, InProcess, LocalPool, load_study, run_study

# 12 points of 0.1-0.5 s each on mesh-8 and pair; p2p from card 5 fails on pair (2 cards), so 1 point fails.
STUDY = """
name = "runs"
engines = ["timing"]
seeds = [0, 1]

[[fabrics]]
fabric = "mesh-8"
[fabrics.grid]
"parameters.link.lanes" = [8, 16]

[[fabrics]]
fabric = "pair"

[[workloads]]
workload = "allreduce"
[workloads.grid]
size = ["256KiB"]
channels = [1, 2]

[[workloads]]
workload = "p2p"
[workloads.grid]
src = 5
dst = 0
size = "64KiB"
"""
POINTS = 3 * (2 + 1) * 2  # fabric variants x (allreduce channels + p2p) x seeds
FAILING = 2  # p2p on pair, both seeds


def _study(tmp_path: Path, text: str = STUDY) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(textwrap.dedent(text))
    return path


def _table(folder: Path) -> list[dict]:
    return pq.read_table(folder / "results.parquet").to_pylist()


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> list[dict]:
    """The table of the study run in this process, one point after another: what every other
    way of running it must give."""
    folder = tmp_path_factory.mktemp("serial")
    study = load_study(_study(folder), output=folder / "out")
    report = run_study(study, InProcess())
    assert (report.points, report.ok, report.failed, report.crashed, report.ran) == (POINTS, POINTS - FAILING,
                                                                                      FAILING, 0, POINTS)
    return _table(folder / "out")


def test_a_failing_point_is_recorded_and_the_others_go_on(serial):
    failed = [row for row in serial if row["status"] == "failed"]
    assert len(failed) == FAILING
    assert all(row["fabric"] == "pair" and "src=5" in row["error"] and row["result.workload"] is None
               for row in failed)
    ok = [row for row in serial if row["status"] == "ok"]
    assert all(row["error"] is None and row["result.end_time_ps"] > 0 for row in ok)
    # every figure of the result is a column, and each row's inputs are what its result says it ran
    assert all(row["result.seed"] == row["seed"] and row["result.workload"] == row["workload"] for row in ok)
    lanes = {row["fabric.parameters.link.lanes"]: row["result.busbw_GBps"] for row in ok
             if row["workload"] == "allreduce" and row["option.channels"] == 1 and row["seed"] == 0}
    assert lanes[16] > lanes[8]  # wider links, more bandwidth: the override reached the run


def test_a_process_pool_gives_the_serial_table_and_a_resume_runs_nothing(tmp_path, serial, capsys):
    path = _study(tmp_path)
    assert main(["study", str(path), "-o", str(tmp_path / "out"), "-j", "2", "-q"]) == 1  # a point failed
    out = capsys.readouterr().out
    assert f"{POINTS} points: {POINTS - FAILING} ok, {FAILING} failed, 0 crashed, 0 left" in out
    assert "a pool of 2 local processes" in out and "not ok: fabric=pair" in out
    assert _table(tmp_path / "out") == serial
    assert len(list((tmp_path / "out" / "points").glob("*.json"))) == POINTS
    assert main(["study", str(path), "-o", str(tmp_path / "out"), "--json", "-q"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["ran"], report["resumed"], report["failed"]) == (0, POINTS, FAILING)
    assert _table(tmp_path / "out") == serial
    # --retry-failed runs the failed points again, and only those
    assert main(["study", str(path), "-o", str(tmp_path / "out"), "--json", "-q", "-j", "1", "--retry-failed"]) == 1
    assert json.loads(capsys.readouterr().out)["ran"] == FAILING


def _kill_one_when_running(folder: Path, pids, killed: list[int]) -> threading.Thread:
    """A thread that kills one worker process (SIGKILL) once the study has recorded its first
    point, while the workers are busy with the next ones."""
    def kill() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list((folder / "points").glob("*.json")):
            time.sleep(0.02)
        for pid in pids():
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def _pool_workers() -> list[int]:
    """This process's pool workers (spawned; not the resource tracker)."""
    return [child.pid for child in psutil.Process().children()
            if any("spawn_main" in part for part in child.cmdline())]


def test_a_pool_worker_killed_mid_study_is_replaced_and_the_table_is_complete(tmp_path, serial):
    study = load_study(_study(tmp_path), output=tmp_path / "out")
    killed: list[int] = []
    thread = _kill_one_when_running(tmp_path / "out", _pool_workers, killed)
    report = run_study(study, LocalPool(2))
    thread.join()
    assert killed, "no worker was killed: the study ended before the killer saw a point"
    assert (report.ok, report.failed, report.crashed) == (POINTS - FAILING, FAILING, 0)
    assert _table(tmp_path / "out") == serial


def test_a_dask_worker_killed_mid_study_is_retried_and_the_table_is_complete(tmp_path, serial):
    from distributed import Client, LocalCluster

    study = load_study(_study(tmp_path), output=tmp_path / "out")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        before = sorted(client.run(os.getpid).values())
        killed: list[int] = []
        thread = _kill_one_when_running(tmp_path / "out", lambda: before[:1], killed)
        with DaskCluster(scheduler=cluster.scheduler_address) as executor:
            report = run_study(study, executor)
        thread.join()
        assert killed
        assert sorted(client.run(os.getpid).values()) != before  # the nanny started a new worker
    assert (report.ok, report.failed, report.crashed) == (POINTS - FAILING, FAILING, 0), report.errors
    assert _table(tmp_path / "out") == serial


def test_a_local_cluster_from_the_command_line(tmp_path, serial, capsys):
    assert main(["study", str(_study(tmp_path)), "-o", str(tmp_path / "out"), "--local-cluster", "2", "-q",
                 "--plot", "x=option.channels y=result.busbw_GBps hue=fabric.parameters.link.lanes"]) == 1
    assert "a Dask LocalCluster of 2 worker processes" in capsys.readouterr().out
    assert _table(tmp_path / "out") == serial
    assert (tmp_path / "out" / "plot.png").stat().st_size > 10_000


def test_ctrl_c_leaves_a_consistent_partial_table_and_the_study_resumes(tmp_path, serial):
    path = _study(tmp_path)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "oisa", "study", str(path), "-o", str(out), "-j", "1", "-q"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "points").glob("*.json"))) < 2:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "oisa: interrupted"
    assert "interrupted" in stdout
    partial = _table(out)
    done = len(list((out / "points").glob("*.json")))
    assert 2 <= len(partial) == done < POINTS
    # the same rows as the whole table's (whose columns are more: it holds workloads not run yet)
    present = [{key: value for key, value in row.items() if value is not None} for row in partial]
    assert present == [{key: value for key, value in row.items() if value is not None} for row in serial
                       if row["point"] in {r["point"] for r in partial}]
    # and running it again finishes it, running only what was left
    finished = subprocess.run([*command[:-1], "--json", "-q"], capture_output=True, text=True, timeout=300,
                              check=False)
    assert finished.returncode == 1  # the failing points
    report = json.loads(finished.stdout)
    assert (report["resumed"], report["ran"]) == (done, POINTS - done)
    assert _table(out) == serial


def test_sweep_on_a_pool_prints_what_a_serial_sweep_prints(capsys):
    argv = ["sweep", "pair", "mesh-8", "-b", "1KiB", "-e", "16KiB", "-f", "4", "--json", "-q"]
    assert main([*argv, "-j", "1"]) == 0
    serial_sweep = capsys.readouterr().out
    assert main([*argv, "-j", "2"]) == 0
    assert capsys.readouterr().out == serial_sweep
