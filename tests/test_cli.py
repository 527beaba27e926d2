"""The oisa command: output, JSON, and one-line errors for everything a user can get wrong."""

import json
import subprocess
import sys

import pytest

from oisa.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_run_prints_a_verified_report(capsys):
    status, out, err = run(capsys, "run", "pair", "--workload", "p2p", "--size", "64KiB")
    assert status == 0 and err == ""
    assert "verified" in out and "GB/s" in out


def test_run_json_is_one_object_and_the_same_for_the_same_seed(capsys):
    outputs = [run(capsys, "run", "pair", "--size", "1MiB", "--json", "--seed", "5")[1] for _ in range(2)]
    assert outputs[0] == outputs[1]
    result = json.loads(outputs[0])
    assert result["verified"] is True
    assert result["size_bytes"] == 1 << 20
    assert 0 < result["write"]["bandwidth_GBps"] <= 100  # the pair's link: 4 x 200 Gb/s


@pytest.mark.parametrize(
    ("argv", "status", "fragment"),
    [
        (["run", "no-such-fabric"], 1, "no fabric named 'no-such-fabric'"),
        (["run", "/nonexistent/fabric.toml"], 1, "/nonexistent/fabric.toml: no such file"),
        (["run", "--size", "12 parsecs"], 2, "--size"),
        (["run", "--size", "0"], 2, "greater than zero"),
        (["run", "--workload", "dance"], 2, "'dance'"),
        (["run", "--src", "3"], 2, "--src 3: fabric pair has no card 3"),
        (["run", "--bogus"], 2, "--bogus"),
        (["fly"], 2, "'fly'"),
    ],
)
def test_mistakes_give_one_line_and_a_nonzero_status(capsys, argv, status, fragment):
    code, out, err = run(capsys, *argv)
    assert code == status
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("oisa: error: ")
    assert fragment in err


def test_malformed_toml_names_the_file_and_line(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ncards = [1,, 2]\n')
    code, _, err = run(capsys, "run", str(bad))
    assert code == 1 and str(bad) in err and "line" in err


def test_a_fabric_with_an_unknown_key_names_the_key(capsys, tmp_path):
    from pathlib import Path

    text = Path("fabrics/pair.toml").read_text().replace("flit_size = 256", "flit_sise = 256")
    path = tmp_path / "typo.toml"
    path.write_text(text)
    code, _, err = run(capsys, "run", str(path))
    assert code == 1 and "links[0].flit_sise" in err and "unknown key" in err


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]])
def test_help_explains_every_option(capsys, argv):
    code, out, _ = run(capsys, *argv)
    assert code == 0
    if argv[0] == "run":
        for option in ("--workload", "--size", "--src", "--dst", "--seed", "--json"):
            assert option in out


def test_the_installed_script_runs():
    done = subprocess.run([sys.executable, "-m", "oisa.cli", "run", "--size", "4KiB", "--json"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verified"] is True


def test_decode_and_encode_round_trip_through_the_command(capsys):
    frame = "12010000000100020005000800000000000010006162636465666768"
    code, out, _ = run(capsys, "decode", "--format", "oisa-msg", frame)
    assert code == 0 and json.loads(out)["opcode"] == "DMA_WR"
    code, again, _ = run(capsys, "encode", "--format", "oisa-msg", out.strip())
    assert code == 0 and again.strip() == frame


def test_decode_reads_lines_reports_bad_ones_and_goes_on(capsys, monkeypatch):
    import io

    lines = "00000000b362\nnot-hex\n00000000b363\n0000000f\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    code, out, _ = run(capsys, "decode", "-f", "pcie-dllp")
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(results) == 4
    assert results[0] == {"kind": "ACK", "seq": 0}
    assert "not a hex string" in results[1]["error"]
    assert "crc" in results[2]["error"] and "at byte 4" in results[2]["error"]
    assert "truncated" in results[3]["error"]


def test_encode_names_a_missing_field(capsys):
    code, out, _ = run(capsys, "encode", "-f", "pcie-dllp", '{"kind": "NAK"}')
    assert code == 1 and "'seq'" in json.loads(out)["error"] and "missing" in json.loads(out)["error"]


def test_run_a_collective_checks_it_against_numpy(capsys):
    status, out, err = run(capsys, "run", "mesh-8", "-w", "allreduce", "-s", "16KiB", "--algorithm", "direct")
    assert status == 0 and err == ""
    assert "allreduce (direct)" in out and "verified against numpy" in out and "busbw" in out


def test_compare_a_collective_prints_ratios(capsys):
    status, out, _ = run(capsys, "compare", "mesh-8", "mesh-8", "-w", "alltoall", "-s", "64KiB", "--json")
    result = json.loads(out)
    assert status == 0 and result["workload"] == "alltoall"
    assert result["ratio_b_over_a"] == {"time": 1.0, "algbw": 1.0, "busbw": 1.0}


def test_sweep_prints_the_nccl_tests_table_and_writes_csv_and_a_plot(capsys, tmp_path):
    csv_path, png = tmp_path / "sweep.csv", tmp_path / "sweep.png"
    status, out, err = run(capsys, "sweep", "mesh-8", "-c", "allgather", "-b", "8", "-e", "4KiB", "-f", "8",
                           "--csv", str(csv_path), "--plot", str(png))
    assert status == 0 and err == ""  # not a terminal: no progress bar
    rows = [line.split() for line in out.splitlines() if not line.startswith("#")]
    assert [int(row[0]) for row in rows] == [64, 512, 4096]  # 8 B holds no float per card on 8 cards
    assert "# skipped 8 B" in out and "# Avg bus bandwidth" in out
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("fabric,collective,algorithm,ranks,size_bytes") and len(lines) == 4
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_of_two_fabrics_gives_one_sweep_each(capsys):
    status, out, _ = run(capsys, "sweep", "mesh-8", "pair", "-b", "1KiB", "-e", "2KiB", "--json", "--no-data")
    result = json.loads(out)
    assert status == 0 and [s["fabric"] for s in result["sweeps"]] == ["mesh-8", "pair"]
    assert all(row["mode"] == "timing" and row["wrong"] is None for s in result["sweeps"] for row in s["rows"])


@pytest.mark.parametrize(("argv", "fragment"), [
    (["run", "-w", "p2p", "--algorithm", "ring"], "--algorithm: not an option of p2p (it takes --src, --dst, --size)"),
    (["run", "mesh-8", "-w", "allreduce", "--src", "1"], "--src: not an option of allreduce"),
    (["run", "-w", "training", "--size", "4KiB"], "--size: not an option of training"),
    (["run", "-w", "training", "--ber", "1e-6"], "the fault options: faults need an engine that moves bytes"),
    (["run", "-w", "training", "--data"], "--engine data: training runs on timing"),
    (["run", "-w", "p2p", "--shard"], "--shard: not an option of p2p"),
    (["run", "-w", "allreduce", "--root", "0"], "--root: not an option of allreduce"),
    (["run", "-w", "training", "--model", "gpt2-xl", "--precision", "int4"],
     "--precision int4: card0 (h100-like) has no such rate"),
    (["run", "mesh-8", "-w", "allreduce", "--cards", "0,x"], "comma-separated list"),
    (["run", "mesh-8", "-w", "allreduce", "--cards", "0,99"], "99"),
    (["sweep", "mesh-8", "-b", "1KiB", "-e", "8"], "--max 8: the largest size must be at least the smallest"),
    (["sweep", "mesh-8", "-f", "1"], "--factor 1"),
    (["sweep", "mesh-8", "-e", "64", "--plot", "/nonexistent/dir/x.png"], "--plot /nonexistent/dir/x.png: no such"),
    (["sweep", "mesh-8", "-e", "64", "--csv", "/nonexistent/dir/x.csv"], "--csv /nonexistent/dir/x.csv: no such"),
])
def test_collective_mistakes_are_one_line(capsys, argv, fragment):
    status, out, err = run(capsys, *argv)
    assert status != 0 and out == ""
    assert err.startswith("oisa: error:") and fragment in err and err.count("\n") == 1


def _small_log(tmp_path):
    """The first sizes of a shipped rccl-tests table (quick to run): its header and rows up to 4 KiB."""
    from pathlib import Path

    lines = Path("validation/mi300x-8/all_reduce_perf_hisohara-aac8.txt").read_text().splitlines()
    end = lines.index(next(line for line in lines if line.strip().startswith("8192 ")))
    path = tmp_path / "all_reduce_perf_small.txt"
    path.write_text("\n".join(lines[:end]) + "\n")
    return path


def test_calibrate_writes_an_overlay_that_run_and_validate_apply(capsys, tmp_path):
    log, fabric, overlay = _small_log(tmp_path), "validation/mi300x-8/mi300x-8.toml", tmp_path / "fit.toml"
    status, out, err = run(capsys, "calibrate", str(log), "--fabric", fabric, "--collective", "allreduce", "-o",
                           str(overlay), "--fit", "launch.latency")
    assert status == 0 and err == "" and "launch.latency" in out and "rms log residual" in out
    assert 'calibrates = "rccl-like"' in overlay.read_text()
    status, out, _ = run(capsys, "run", fabric, "-w", "allreduce", "--size", "4KiB", "--calibration", str(overlay))
    assert status == 0 and f"calibrated by {overlay}" in out
    plot = tmp_path / "fit.png"
    status, out, _ = run(capsys, "validate", str(log), "--fabric", fabric, "--collective", "allreduce",
                         "--calibration", str(overlay), "--plot", str(plot), "--quiet")
    assert status == 0 and "geometric-mean error" in out and plot.stat().st_size > 0


@pytest.mark.parametrize(("body", "fragment"), [
    ("#  size count type redop root time algbw busbw #wrong time algbw busbw #wrong\n8 2 float sum -1 x y z 0\n",
     "line 2"),
    ("nothing here\n", "no table of results"),
])
def test_a_malformed_log_is_one_line_naming_it(capsys, tmp_path, body, fragment):
    log = tmp_path / "all_reduce_perf_bad.txt"
    log.write_text(body)
    for argv in (["validate", str(log), "--fabric", "mesh-8"], ["calibrate", str(log), "--fabric", "mesh-8",
                                                                "-o", str(tmp_path / "x.toml")]):
        status, out, err = run(capsys, *argv)
        assert status != 0 and out == ""
        assert err.startswith("oisa: error:") and err.count("\n") == 1 and fragment in err and str(log) in err


def test_validate_refuses_a_fabric_too_small_for_the_log(capsys):
    status, _, err = run(capsys, "validate", "validation/mi300x-2x8/all_reduce_perf_hisohara-aac10.txt",
                         "--fabric", "mesh-8")
    assert status != 0 and "16 ranks" in err and err.count("\n") == 1
