"""The oisa command never hangs, never shows a traceback and never loses a result (issue 15).

Runs that could hang run in a child process with a time limit, so that a regression fails the
test instead of stopping the suite.
"""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from oisa.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def oisa(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the command in a child process; a run that outlives ``timeout`` fails the test."""
    try:
        return subprocess.run([sys.executable, "-m", "oisa.cli", *argv], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"oisa {' '.join(argv)} still ran after {timeout} s")


def assert_one_error_line(done: subprocess.CompletedProcess[str], fragment: str = "") -> None:
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("oisa: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert fragment in done.stderr


def test_timers_left_at_the_end_of_a_run_do_not_finish_a_transfer_twice(capsys):
    """Flush reads still in flight when the load/store result is in used to time out during
    teardown and finish their transfer twice (issue 15, item 11)."""
    status, out, err = run(capsys, "run", "supernode-64", "-w", "loadstore", "--background", "1", "--accesses", "5",
                           "--data")
    assert (status, err) == (0, "")
    assert "verified" in out


@pytest.mark.parametrize("seed", ["3", "4"])
def test_a_link_losing_nearly_every_control_flit_ends_in_one_line(seed):
    """Seed 3 ended in a TrioInternalError (a link failing while trio wound the run down) and
    seed 4 never ended (issue 15, item 6): the first error of the run is the one reported."""
    assert_one_error_line(oisa("run", "pair", "--control-drop", "0.99", "--seed", seed, timeout=30))


@pytest.mark.parametrize("faults", [["--ber", "3e-3"], ["--ber", "1e-2"], ["--ber", "0.5"], ["--link-down-at", "0ns"],
                                    ["--link-down-at", "1ps"], ["--link-down-at", "100ns"]])
def test_a_link_that_cannot_initialise_ends_the_run_in_one_line(faults):
    """These runs retried link initialisation for ever (issue 15, items 1 and 2)."""
    done = oisa("run", "pair", "--size", "4KiB", *faults, timeout=30)
    assert_one_error_line(done, "link card0->card1 went down")
    assert "initialisation failed" in done.stderr


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """``oisa devices | head -0``: the write fails with EPIPE; no traceback about it."""
    process = subprocess.Popen([sys.executable, "-m", "oisa", "devices"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    with process.stderr:
        err = process.stderr.read()
    assert (process.wait(timeout=60), err) == (1, "")


def test_encode_names_a_number_with_too_many_digits(capsys):
    """Python refuses to convert integers of more than 4,300 digits (issue 15, item 8)."""
    status, out, err = run(capsys, "encode", "-f", "oisa-msg", '{"opcode": "DMA_WR", "tag": ' + "9" * 5000 + "}")
    assert (status, err) == (1, "")
    assert "5000 digits" in json.loads(out)["error"]


@pytest.mark.parametrize("nesting", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000])
def test_encode_names_json_nested_too_deeply(capsys, monkeypatch, nesting):
    monkeypatch.setattr("sys.stdin", io.StringIO(nesting + "\n"))
    status, out, err = run(capsys, "encode", "-f", "oisa-msg")
    assert (status, err) == (1, "")
    assert "nested" in json.loads(out)["error"]


def test_decode_refuses_a_flit_size_that_no_flit_has(capsys):
    status, out, err = run(capsys, "decode", "-f", "oisa-flit", "--flit-size", "-1", "00" * 64)
    assert (status, out) == (2, "")
    assert err.startswith("oisa: error: ") and err.count("\n") == 1
    assert "--flit-size" in err and "-1" in err and "multiple of 32" in err


def test_decode_says_a_hex_string_has_an_odd_number_of_digits(capsys):
    status, out, _ = run(capsys, "decode", "-f", "pcie-dllp", "00000000b36")
    assert status == 1
    assert "odd number of hex digits (11)" in json.loads(out)["error"]


@pytest.mark.parametrize(("content", "fragment"), [
    (bytes(range(256)), "not a text file"),
    (b"\x89PNG\r\n\x1a\n", "not a text file"),
    (b"oisa fuzz failure?", "not JSON"),
    (b"[" * 100_000, "nested"),
    (b'{"oisa_fuzz": 1, "target": "link", "input": ' + b"7" * 5000 + b"}", "5000 digits"),
])
def test_fuzz_replay_of_a_file_that_is_not_a_failure_record_is_one_line(capsys, tmp_path, content, fragment):
    """A binary file gave a UnicodeDecodeError traceback (issue 15, item 9)."""
    path = tmp_path / "failure.json"
    path.write_bytes(content)
    status, out, err = run(capsys, "fuzz", "--replay", str(path))
    assert (status, out) == (2, "")
    assert err.startswith(f"oisa: error: {path}: ") and err.count("\n") == 1
    assert fragment in err


@pytest.mark.parametrize(("path", "fragment"), [("DIR", "is a directory, not a fabric file"),
                                                ("/dev/null", "is not a regular file")])
def test_a_fabric_path_that_is_not_a_file_says_what_it_is(capsys, tmp_path, path, fragment):
    """Both used to say "no such file" (issue 15, item 18)."""
    path = str(tmp_path) if path == "DIR" else path
    status, out, err = run(capsys, "run", path)
    assert (status, out) == (1, "")
    assert err.startswith(f"oisa: error: {path}: {fragment}") and err.count("\n") == 1


def test_a_bad_device_file_of_a_fabric_is_named_once(capsys, tmp_path):
    device = tmp_path / "gpu.toml"
    device.write_text((ROOT / "devices" / "h100-like.toml").read_text().replace('adapter = "pcie-tlp"', "adapter = 7"))
    fabric = tmp_path / "fabric.toml"
    fabric.write_text((ROOT / "fabrics" / "pair.toml").read_text().replace('"h100-like"', f"'{device}'"))
    status, _, err = run(capsys, "run", str(fabric))
    assert status == 1 and err.count("\n") == 1
    assert err.count(str(device)) == 1 and "adapter: expected a string, got int 7" in err


def test_the_keys_a_link_knows_include_faults(capsys, tmp_path):
    fabric = tmp_path / "fabric.toml"
    fabric.write_text((ROOT / "fabrics" / "pair.toml").read_text().replace("flit_size = 256", "flit_sise = 256"))
    _, _, err = run(capsys, "run", str(fabric))
    assert "unknown key 'flit_sise' (known here: " in err and "faults" in err.split("known here: ")[1]


def test_link_down_at_takes_bare_nanoseconds_as_a_fabric_file_does(capsys):
    with_unit = run(capsys, "run", "pair", "--size", "4KiB", "--link-down-at", "300ns")
    bare = run(capsys, "run", "pair", "--size", "4KiB", "--link-down-at", "300")
    assert bare == with_unit and bare[0] == 1 and "went down" in bare[2]
    _, out, _ = run(capsys, "run", "--help")
    assert "a bare number is nanoseconds" in " ".join(out.split())


def test_the_readme_decode_example_decodes(capsys):
    """It was a memory write without its data (issue 15, item 19)."""
    [line] = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("oisa decode ")]
    argv = line.split("#")[0].split()[1:]
    status, out, err = run(capsys, *argv)
    assert (status, err) == (0, "")
    assert "error" not in json.loads(out)


@pytest.mark.parametrize("argv", [["run", "pair", "--size", "4KiB", "--trace="],
                                  ["run", "pair", "--size", "4KiB", "--pcap="],
                                  ["sweep", "pair", "-c", "allreduce", "-b", "8", "-e", "16", "--csv="],
                                  ["compare", "pair", "mesh-8", "--size", "4KiB", "--plot="]])
def test_an_empty_output_file_name_is_refused(capsys, argv):
    """An empty ``--trace`` or ``--csv`` was taken for no file at all: the run went on and wrote
    nothing (found by tests/test_misuse_properties.py)."""
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, "")
    assert err == f"oisa: error: Invalid value for '{argv[-1][:-1]}': an empty file name\n"


def test_loadstore_accesses_beyond_the_sources_buffers_are_refused(capsys):
    """10^14 accesses asked numpy for 5.7 PiB: a MemoryError traceback (found by the properties)."""
    status, out, err = run(capsys, "run", "pair", "-w", "loadstore", "--accesses", "99999999999999")
    assert (status, out) == (2, "")
    assert err == ("oisa: error: --accesses 99999999999999: at most 65,536 accesses of 64 B: their data must fit in "
                   "SRC's 4MiB buffers\n")
