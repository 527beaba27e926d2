"""Conformance cases as data: an ID that never changes, the rule, MUST or SHOULD, and the
capability an adapter must declare for the case to apply; and running them.

A case's check raises :class:`CaseFailed` (with the minimal example Hypothesis found, if the
case generates its inputs) or :class:`CaseSkipped`; anything else it raises is the adapter's
own exception and fails the case too, reported by type.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from hypothesis import strategies as st

from oisa.device.adapter import Capability
from oisa.errors import UsageError
from oisa.testing._explore import describe_error, explore
from oisa.testing.conformance._exchanges import carried_kinds
from oisa.testing.conformance._subject import Kind, Role, Subject

__all__ = ["CASES", "Case", "CaseFailed", "CaseResult", "CaseSkipped", "Context", "Level", "case", "run_case"]

T = TypeVar("T")


class Level(enum.StrEnum):
    """RFC 2119: a MUST failure makes the adapter non-conforming, a SHOULD failure is a warning."""

    MUST = "MUST"
    SHOULD = "SHOULD"


class CaseFailed(Exception):
    """The adapter broke the case's rule; ``example`` is the minimal input (JSON-able), if any."""

    def __init__(self, reason: str, example: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.example = example


class CaseSkipped(Exception):
    """The case does not apply to this adapter (the message says why)."""


@dataclass(eq=False)
class Context:
    """What a case runs against: the adapter, and the budget of generated examples."""

    subject: Subject
    examples: int
    seed: int

    def __post_init__(self) -> None:
        # A seed the tool cannot use must be refused here: in a case, the error it causes would
        # read as the adapter's failure. Cards' randomness (numpy) takes non-negative integers.
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UsageError(f"the seed must be a non-negative integer, not {self.seed!r}")

    @cached_property
    def carried(self) -> frozenset[Kind]:
        """Request kinds the adapter carries, by role (see :func:`carried_kinds`)."""
        return carried_kinds(self.subject)

    def roles(self) -> list[Role]:
        return sorted({role for _, role in self.carried})

    def explore(self, strategy: st.SearchStrategy[T], check: Callable[[T], None], show: Callable[[T], Any], *,
                examples: int | None = None) -> None:
        """Run ``check`` on examples from ``strategy``; on failure raise CaseFailed with the
        minimal example, as ``show`` puts it (JSON-able)."""
        found = explore(strategy, check, examples=examples or self.examples, seed=self.seed)
        if found.failure is not None:
            raise CaseFailed(found.failure.error, show(found.failure.example))


@dataclass(frozen=True)
class Case:
    id: str
    level: Level
    rule: str
    needs: Capability | None
    check: Callable[[Context], None] = field(repr=False, compare=False)


@dataclass(frozen=True)
class CaseResult:
    case: Case
    outcome: str  # "passed", "failed" or "skipped"
    reason: str = ""
    example: Any = None
    seconds: float = 0.0  # wall time, for JUnit reports only: results never depend on it


CASES: dict[str, Case] = {}


def case(case_id: str, level: Level, rule: str, *, needs: Capability | None = None
         ) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    """Register the decorated check as case ``case_id``."""

    def register(check: Callable[[Context], None]) -> Callable[[Context], None]:
        if case_id in CASES:
            raise ValueError(f"conformance case {case_id} is defined twice")
        CASES[case_id] = Case(case_id, level, rule, needs, check)
        return check

    return register


def run_case(test: Case, context: Context) -> CaseResult:
    """Run one case; its outcome never raises (but KeyboardInterrupt does)."""
    started = time.perf_counter()

    def result(outcome: str, reason: str = "", example: Any = None) -> CaseResult:
        return CaseResult(test, outcome, reason, example, time.perf_counter() - started)

    if test.needs is not None and test.needs not in context.subject.cls.capabilities:
        return result("skipped", f"needs capability {test.needs.value}, which {context.subject.name} does not declare")
    try:
        test.check(context)
    except CaseSkipped as skip:
        return result("skipped", str(skip))
    except CaseFailed as failure:
        return result("failed", failure.reason, failure.example)
    except Exception as exc:
        return result("failed", f"raised {describe_error(exc)}")
    return result("passed")
