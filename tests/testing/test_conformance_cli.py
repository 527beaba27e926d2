"""`oisa conformance`: each case with its ID, level and outcome, the closing counts, JSON, JUnit
XML, and an exit status that only a failed MUST case makes non-zero."""

import json
import xml.etree.ElementTree as ET

import pytest

from oisa.device.adapter import Capability
from oisa.device.adapters.vendor import VendorDescriptorAdapter
from oisa.testing.conformance import CASES
from tests.testing.support import WrongStatusAdapter, oisa, profile_file, register


def test_every_case_is_listed_with_its_outcome_and_the_counts_close(capsys, tmp_path):
    report = tmp_path / "junit.xml"
    status, out, err = oisa(capsys, "conformance", "example-xlink", "-n", "5", "--junit-xml", str(report))
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("Conformance of adapter example-xlink (plug-in (oisa-example-vendor)), profile "
                               "example-gpu")
    for case in CASES.values():
        mark = "SKIP" if case.id == "ADP-EARLY-001" else "PASS"
        assert f"  {mark}  {case.id:<17}  {case.level.value:<6}  {case.rule}" in lines
    assert "        needs capability early_completion, which example-xlink does not declare" in lines
    assert lines[-1] == "14 passed, 0 failed, 1 skipped"

    suite = ET.parse(report).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("15", "0", "1")
    assert [test.get("name") for test in suite.iter("testcase")] == list(CASES)


def test_json_has_every_case(capsys):
    status, out, _ = oisa(capsys, "conformance", "cxl-mem", "-n", "5", "--json")
    result = json.loads(out)
    assert status == 0 and result["conforms"] is True
    assert (result["passed"], result["failed"], result["skipped"]) == (10, 0, 5)  # its frames carry no CRC
    assert [case["id"] for case in result["cases"]] == list(CASES)
    assert {case["outcome"] for case in result["cases"]} == {"passed", "skipped"}


def test_a_failed_must_case_fails_the_command(capsys, monkeypatch, tmp_path):
    register(monkeypatch, WrongStatusAdapter)
    report, profile = tmp_path / "junit.xml", profile_file(tmp_path, WrongStatusAdapter.name)
    status, out, _ = oisa(capsys, "conformance", WrongStatusAdapter.name, "--profile", profile, "-n", "10",
                          "--junit-xml", str(report))
    assert status == 1
    assert "  FAIL  ADP-STATUS-001" in out
    assert "field 'aux' 1 (UR) came back as 4 (CA)" in out or "field 'aux' 4 (CA) came back as 1 (UR)" in out
    assert out.splitlines()[-1] == "14 passed, 1 failed, 0 skipped"
    [failure] = ET.parse(report).getroot().iter("failure")
    assert failure.get("type") == "MUST" and "minimal" not in failure.get("message")
    assert json.loads(failure.text)["request"]  # the minimal example, as JSON
    # the same seed finds the same minimal example
    again = [oisa(capsys, "conformance", WrongStatusAdapter.name, "--profile", profile, "-n", "10", "--case",
                  "ADP-STATUS-001", "--json")[1] for _ in range(2)]
    assert again[0] == again[1] and json.loads(again[0])["cases"][0]["example"] == json.loads(failure.text)


class UnderDeclared(VendorDescriptorAdapter):
    """Carries atomics but does not say so."""

    name = "under-declared"
    capabilities = VendorDescriptorAdapter.capabilities - {Capability.ATOMICS}


def test_a_failed_should_case_is_reported_but_does_not_fail_the_command(capsys, monkeypatch, tmp_path):
    register(monkeypatch, UnderDeclared)
    status, out, _ = oisa(capsys, "conformance", UnderDeclared.name, "--profile",
                          profile_file(tmp_path, UnderDeclared.name), "--case", "ADP-CAPS-002", "--case",
                          "ADP-CAPS-001")
    assert status == 0
    assert "  FAIL  ADP-CAPS-002  SHOULD" in out
    assert "carries FETCH_ADD, SWAP, CAS but does not declare atomics" in out
    assert out.splitlines()[-1] == "1 passed, 1 failed, 0 skipped"


@pytest.mark.parametrize(("argv", "status", "fragment"), [
    (["conformance", "nvlink"], 1, "no device adapter named 'nvlink' (registered: cxl-mem, example-xlink, pcie-tlp, "
                                   "vendor-descriptor"),
    (["conformance", "pcie-tlp", "--case", "ADP-NOPE-001"], 2, "no conformance case 'ADP-NOPE-001'"),
    (["conformance", "pcie-tlp", "--profile", "mi300x-like"], 2, "selects adapter 'vendor-descriptor', not "
                                                                 "'pcie-tlp'"),
    (["conformance", "pcie-tlp", "-n", "0"], 2, "--examples"),
    (["conformance", "pcie-tlp", "--junit-xml", "/nonexistent/dir/report.xml", "--case", "ADP-DECL-001"], 2,
     "no such directory"),
])
def test_mistakes_give_one_line(capsys, argv, status, fragment):
    code, out, err = oisa(capsys, *argv)
    assert (code, out) == (status, "")
    assert err.count("\n") == 1 and err.startswith("oisa: error: ") and fragment in err
