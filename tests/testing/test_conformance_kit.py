"""The conformance kit: every adapter oisa ships passes it (the example plug-in's own tests run
it on XLink), and each deliberately broken adapter fails exactly the cases about its bug."""

import pytest

from oisa.testing.conformance import run_conformance, subject
from tests.testing.support import ByteDroppingAdapter, ReorderingAdapter, WrongStatusAdapter, register

EXAMPLES = 10


@pytest.mark.parametrize(("name", "skipped"), [
    ("pcie-tlp", {"ADP-EARLY-001", "ADP-INTEGRITY-001"}),  # TLPs without the optional ECRC
    ("vendor-descriptor", set()),
    ("cxl-mem", {"ADP-PLAN-001", "ADP-EARLY-001", "ADP-E2E-001", "ADP-E2E-002", "ADP-INTEGRITY-001"}),
])
def test_every_shipped_adapter_passes(name, skipped):
    report = run_conformance(name, examples=EXAMPLES, seed=1)
    assert report.failed() == [], [(r.case.id, r.reason) for r in report.results if r.outcome == "failed"]
    assert {r.case.id for r in report.results if r.outcome == "skipped"} == skipped
    assert report.conforms


@pytest.mark.parametrize(("broken", "failing"), [
    (ReorderingAdapter, {"ADP-ORDER-001"}),
    (ByteDroppingAdapter, {"ADP-PAYLOAD-001", "ADP-E2E-001", "ADP-E2E-002"}),
    (WrongStatusAdapter, {"ADP-STATUS-001"}),
])
def test_a_broken_adapter_fails_exactly_the_cases_about_its_bug(monkeypatch, broken, failing):
    profile = register(monkeypatch, broken)
    report = run_conformance(subject(broken.name, profile), examples=EXAMPLES, seed=1)
    assert set(report.failed()) == failing, [(r.case.id, r.reason) for r in report.results]
    assert not report.conforms
    for result in report.results:
        if result.outcome == "failed":
            assert result.reason and result.example is not None  # the minimal example, to replay
