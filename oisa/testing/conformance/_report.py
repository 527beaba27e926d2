"""Running the whole kit against one adapter, and its report as text, JSON and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oisa.device.profile import DeviceProfile
from oisa.errors import UsageError
from oisa.testing import CONFORMANCE_EXAMPLES
from oisa.testing.conformance._registry import CASES, CaseResult, Context, Level, run_case
from oisa.testing.conformance._subject import Subject, subject

__all__ = ["DEFAULT_EXAMPLES", "ConformanceReport", "conformance_json", "conformance_text", "junit_xml",
           "run_cases", "run_conformance"]

DEFAULT_EXAMPLES = CONFORMANCE_EXAMPLES
_MARK = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}


@dataclass(frozen=True)
class ConformanceReport:
    adapter: str
    origin: str
    profile: str
    examples: int
    seed: int
    results: tuple[CaseResult, ...]

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    def failed(self, level: Level | None = None) -> list[str]:
        """IDs of the failed cases (of one level, if given)."""
        return [r.case.id for r in self.results if r.outcome == "failed" and level in (None, r.case.level)]

    @property
    def conforms(self) -> bool:
        """No MUST case failed."""
        return not self.failed(Level.MUST)


def run_conformance(adapter: str | Subject, *, profile: str | Path | DeviceProfile | None = None,
                    examples: int = DEFAULT_EXAMPLES, seed: int = 0,
                    cases: Iterable[str] | None = None) -> ConformanceReport:
    """Run the conformance cases (all, or the IDs in ``cases``) against a registered adapter,
    given by name (with ``profile``, or the first profile that selects it) or as a Subject.
    The name only finds the factory a card would use: the cases run as for any factory
    (:func:`run_cases`, what ``oisa.testing.check_adapter`` runs)."""
    under_test = adapter if isinstance(adapter, Subject) else subject(adapter, profile)
    return run_cases(under_test, examples=examples, seed=seed, cases=cases)


def run_cases(under_test: Subject, *, examples: int = DEFAULT_EXAMPLES, seed: int = 0,
              cases: Iterable[str] | None = None,
              stop: Callable[[CaseResult], bool] | None = None) -> ConformanceReport:
    """Run the cases (all, or the IDs in ``cases``, in that order) against ``under_test``; with
    ``stop``, stop after the first result it holds true of (the report then ends there). The
    budget and the case IDs are checked before any case runs: a mistake of the caller is never
    reported as the adapter's failure."""
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise UsageError("expected a whole number of examples, at least 1", parameter="examples", value=examples)
    chosen = list(CASES) if cases is None else list(cases)
    unknown = [case_id for case_id in chosen if case_id not in CASES]
    if unknown:
        raise UsageError(f"no conformance case {unknown[0]!r} (known: {', '.join(CASES)})")
    context = Context(under_test, examples, seed)
    results: list[CaseResult] = []
    for case_id in chosen:
        results.append(run_case(CASES[case_id], context))
        if stop is not None and stop(results[-1]):
            break
    return ConformanceReport(under_test.name, under_test.origin, under_test.profile.name, examples, seed,
                             tuple(results))


def conformance_text(report: ConformanceReport) -> str:
    lines = [f"Conformance of adapter {report.adapter} ({report.origin}), profile {report.profile}, "
             f"up to {report.examples} examples per case, seed {report.seed}"]
    width = max(len(r.case.id) for r in report.results) if report.results else 0
    for r in report.results:
        lines.append(f"  {_MARK[r.outcome]}  {r.case.id:<{width}}  {r.case.level.value:<6}  {r.case.rule}")
        if r.reason:
            lines.append(f"        {r.reason}")
        if r.example is not None:
            lines.append(f"        minimal example: {json.dumps(r.example)}")
    lines.append(f"{report.count('passed')} passed, {report.count('failed')} failed, {report.count('skipped')} skipped")
    return "\n".join(lines)


def conformance_json(report: ConformanceReport) -> dict[str, Any]:
    return {
        "adapter": report.adapter, "origin": report.origin, "profile": report.profile,
        "examples": report.examples, "seed": report.seed,
        "cases": [{"id": r.case.id, "level": r.case.level.value, "rule": r.case.rule,
                   "needs": r.case.needs.value if r.case.needs else None, "outcome": r.outcome,
                   "reason": r.reason or None, "example": r.example} for r in report.results],
        "passed": report.count("passed"), "failed": report.count("failed"), "skipped": report.count("skipped"),
        "conforms": report.conforms,
    }


def junit_xml(report: ConformanceReport) -> str:
    """The report as JUnit XML: one test case per conformance case; a failure's ``type`` is its
    level, so a SHOULD failure can be told from a MUST one."""
    suite = ET.Element("testsuite", name=f"oisa conformance: {report.adapter}", tests=str(len(report.results)),
                       failures=str(report.count("failed")), errors="0", skipped=str(report.count("skipped")),
                       time=f"{sum(r.seconds for r in report.results):.3f}")
    properties = ET.SubElement(suite, "properties")
    for name, value in (("adapter", report.adapter), ("origin", report.origin), ("profile", report.profile),
                        ("examples", report.examples), ("seed", report.seed)):
        ET.SubElement(properties, "property", name=name, value=str(value))
    for r in report.results:
        test = ET.SubElement(suite, "testcase", classname=f"oisa.conformance.{report.adapter}", name=r.case.id,
                             time=f"{r.seconds:.3f}")
        ET.SubElement(test, "properties").append(ET.Element("property", name="rule", value=r.case.rule))
        if r.outcome == "failed":
            failure = ET.SubElement(test, "failure", message=r.reason, type=r.case.level.value)
            failure.text = json.dumps(r.example) if r.example is not None else r.reason
        elif r.outcome == "skipped":
            ET.SubElement(test, "skipped", message=r.reason)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
