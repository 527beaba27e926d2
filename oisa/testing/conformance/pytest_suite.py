"""The conformance kit as pytest tests: one class, one test per case, the adapter a fixture.

Run it against any registered adapter with ``pytest --oisa-adapter NAME`` (oisa's pytest
plugin collects :class:`TestAdapterConformance`), or keep it in your own test suite by
subclassing :class:`AdapterConformance`::

    from oisa.testing.conformance.pytest_suite import AdapterConformance

    class TestAcmeConformance(AdapterConformance):
        adapter = "acme-gpu"

A failed MUST case fails its test; a failed SHOULD case is reported as an expected failure
(``xfail``) with the reason; an inapplicable case is skipped with the reason.
"""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

from oisa.testing.conformance import CASES, DEFAULT_EXAMPLES, Level, Subject, subject
from oisa.testing.conformance._registry import Context, run_case

__all__ = ["AdapterConformance", "TestAdapterConformance"]


class AdapterConformance:
    """Every conformance case against the adapter the ``oisa_adapter`` fixture returns."""

    adapter: ClassVar[str]  # registered adapter name
    profile: ClassVar[str | None] = None  # profile name or path; default: the first that selects the adapter
    examples: ClassVar[int] = DEFAULT_EXAMPLES
    seed: ClassVar[int] = 0

    @pytest.fixture
    def oisa_adapter(self) -> Subject:
        """The adapter under test; override to build it another way."""
        return subject(self.adapter, self.profile)

    @pytest.fixture
    def oisa_budget(self) -> tuple[int, int]:
        """(examples per case, seed)."""
        return self.examples, self.seed

    @pytest.mark.parametrize("case_id", list(CASES))
    def test_case(self, oisa_adapter: Subject, oisa_budget: tuple[int, int], case_id: str) -> None:
        examples, seed = oisa_budget
        test = CASES[case_id]
        result = run_case(test, Context(oisa_adapter, examples, seed))
        if result.outcome == "skipped":
            pytest.skip(result.reason)
        if result.outcome == "failed":
            text = f"{case_id} ({test.level.value}): {test.rule}\n{result.reason}"
            if result.example is not None:
                text += f"\nminimal example: {json.dumps(result.example)}"
            if test.level is Level.SHOULD:
                pytest.xfail(text)
            pytest.fail(text, pytrace=False)


class TestAdapterConformance(AdapterConformance):
    """What ``pytest --oisa-adapter NAME`` runs: the adapter and budget come from the options."""

    @pytest.fixture
    def oisa_adapter(self, pytestconfig: pytest.Config) -> Subject:
        return subject(pytestconfig.getoption("oisa_adapter"), pytestconfig.getoption("oisa_profile"))

    @pytest.fixture
    def oisa_budget(self, pytestconfig: pytest.Config) -> tuple[int, int]:
        return pytestconfig.getoption("oisa_examples") or DEFAULT_EXAMPLES, pytestconfig.getoption("oisa_seed")
