"""oisa fuzz: every kind of target runs clean on oisa's own code, a run is fixed by its seed,
and a planted bug is found, shrunk, saved, and replayed until it is fixed."""

import json

import pytest

from oisa.device.adapters.vendor import VendorDescriptorAdapter
from oisa.testing.fuzz import _wire, failure_record, fuzz, replay
from oisa.wire.formats import FORMATS
from tests.testing.support import ByteDroppingAdapter, oisa, profile_file, register


@pytest.mark.parametrize("target", [*(f"wire:{fmt}" for fmt in sorted(FORMATS)), "link", "adapter:pcie-tlp",
                                    "adapter:cxl-mem", "adapter:example-xlink"])
def test_every_kind_of_target_passes(capsys, target):
    status, out, err = oisa(capsys, "fuzz", "--target", target, "--examples", "25", "--seed", "3")
    assert (status, err) == (0, "")
    assert out == f"{target}: 25 examples passed (seed 3)\n"


def test_the_json_summary_and_the_seed_fix_the_run(capsys):
    runs = [oisa(capsys, "fuzz", "-t", "adapter:vendor-descriptor", "-n", "20", "--seed", "7", "--json")[1]
            for _ in range(2)]
    assert runs[0] == runs[1]
    assert json.loads(runs[0]) == {"target": "adapter:vendor-descriptor", "seed": 7, "examples": 20, "passed": True,
                                   "error": None, "input": None, "saved": None, "replayed": None}


def test_a_broken_adapter_is_caught_saved_and_replayed_until_fixed(capsys, monkeypatch, tmp_path):
    register(monkeypatch, ByteDroppingAdapter)
    profile, saved = profile_file(tmp_path, ByteDroppingAdapter.name), tmp_path / "failure.json"
    argv = ["fuzz", "-t", "adapter:broken-drop", "--profile", profile, "-n", "50", "--save", str(saved)]
    status, out, err = oisa(capsys, *argv)
    assert status == 1 and err == ""
    assert out.startswith("adapter:broken-drop: FAILED at example ")
    assert "payload changed" in out and f"oisa fuzz --replay {saved}" in out
    record = json.loads(saved.read_text())
    assert record["target"] == "adapter:broken-drop" and record["profile"] == profile
    assert "payload changed" in record["error"]
    assert f"minimal input: {json.dumps(record['input'])}" in out
    # the same seed finds the same minimal input
    again = tmp_path / "again.json"
    assert oisa(capsys, *argv[:-1], str(again))[0] == 1
    assert json.loads(again.read_text()) == record

    status, out, _ = oisa(capsys, "fuzz", "--replay", str(saved))
    assert status == 1 and "still fails: " + record["error"] in out

    class Fixed(VendorDescriptorAdapter):
        name = "broken-drop"

    register(monkeypatch, Fixed)
    status, out, _ = oisa(capsys, "fuzz", "--replay", str(saved), "--json")
    assert status == 0 and json.loads(out)["passed"] is True


def test_a_fast_codec_that_drifts_from_its_schema_is_caught(monkeypatch):
    schema_decode, fast_decode, fast_encode = _wire.FAST_CODECS["vdesc"]

    def drifted(desc, options):  # the fast encoder forgets the traffic priority
        desc.priority = 0
        return fast_encode(desc, options)

    monkeypatch.setitem(_wire.FAST_CODECS, "vdesc", (schema_decode, fast_decode, drifted))
    result = fuzz("wire:vdesc", examples=100, seed=0)
    assert result.failure is not None
    assert result.failure.error == "the fast codec encodes the decoded frame to other bytes"
    record = json.loads(json.dumps(failure_record(result)))
    assert set(record["input"]) == {"hex", "options", "fields"}
    assert replay(record) == result.failure.error


@pytest.mark.parametrize(("argv", "status", "fragment"), [
    (["fuzz"], 2, "give --target TARGET to fuzz, or --replay FILE"),
    (["fuzz", "-t", "link", "--replay", "x.json"], 2, "(one of them)"),
    (["fuzz", "-t", "wire:nope"], 2, "no wire format 'nope' (known: cxl-flit,"),
    (["fuzz", "-t", "adapter:nope"], 1, "no device adapter named 'nope'"),
    (["fuzz", "-t", "carrier-pigeon"], 2, "no fuzz target 'carrier-pigeon': give wire:FMT"),
    (["fuzz", "--replay", "/nonexistent/failure.json"], 2, "cannot read"),
])
def test_mistakes_give_one_line(capsys, argv, status, fragment):
    code, out, err = oisa(capsys, *argv)
    assert (code, out) == (status, "")
    assert err.count("\n") == 1 and err.startswith("oisa: error: ") and fragment in err


def test_a_file_that_is_not_a_failure_record_is_refused(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"target": "link"}))
    code, _, err = oisa(capsys, "fuzz", "--replay", str(bad))
    assert code == 2 and "not an oisa fuzz failure file (missing oisa_fuzz, input)" in err
