"""oisa's adapter conformance kit, run from this plug-in's own tests.

The kit's cases (``ADP-ROUNDTRIP-001`` and the rest, listed in oisa's specs/conformance.md)
check XLink against each rule with generated messages and end with two Example GPUs copying
data over a fabric. The same cases run from the command line, with more examples per case::

    oisa conformance example-xlink                  # every case, its outcome; exit 1 on a MUST failure
    pytest --oisa-adapter example-xlink             # the same as pytest tests, one per case

or as one test per case inside a test suite, by subclassing
``oisa.testing.conformance.pytest_suite.AdapterConformance`` (set ``adapter = "example-xlink"``).
"""

from oisa.testing.conformance import conformance_text, run_conformance


def test_xlink_passes_the_oisa_conformance_kit() -> None:
    report = run_conformance("example-xlink", examples=10, seed=0)
    assert report.conforms and not report.failed(), conformance_text(report)
    # XLink cards take no early completions, so the one case about them does not apply
    assert [r.case.id for r in report.results if r.outcome == "skipped"] == ["ADP-EARLY-001"]


def test_xlink_passes_check_adapter_from_a_factory() -> None:
    """The way a vendor checks an adapter in its own suite: hand over a factory, no name needed.
    A failure would raise oisa.testing.CheckFailed with the case, the reason and the minimal example."""
    from oisa_example_vendor.adapter import ExampleXLinkAdapter

    from oisa.device import load_profile
    from oisa.testing import check_adapter

    profile = load_profile("example-gpu")
    report = check_adapter(lambda card: ExampleXLinkAdapter(card, profile), examples=10, seed=0)
    assert report.conforms and [r.case.id for r in report.results if r.outcome == "skipped"] == ["ADP-EARLY-001"]
