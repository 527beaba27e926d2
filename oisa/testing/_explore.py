"""Run a property over generated inputs with Hypothesis and hand back the minimal failure.

The conformance kit and ``oisa fuzz`` both need the same thing from Hypothesis: a fixed number
of examples from a fixed seed (so a run can be repeated exactly), no example database (nothing
remembered between runs, nothing written to the working directory), and, when the property
fails, the shrunk input itself rather than a printed report, so that it can be shown, saved
and replayed. Hypothesis runs the minimal failing example last, so the last input seen to fail
is the one to keep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as fixed_seed
from hypothesis import strategies as st

__all__ = ["Counterexample", "Exploration", "PropertyFailed", "describe_error", "explore", "require"]

T = TypeVar("T")


@dataclass(frozen=True)
class Counterexample(Generic[T]):
    """The smallest input Hypothesis found that fails the property, and how it failed."""

    example: T
    error: str


@dataclass(frozen=True)
class Exploration(Generic[T]):
    """What one run found: the inputs tried (up to and including the first that failed, before
    shrinking), and the counterexample if any."""

    examples: int
    seed: int
    failure: Counterexample[T] | None

    @property
    def passed(self) -> bool:
        return self.failure is None


class PropertyFailed(AssertionError):
    """A checked property does not hold. Raised explicitly, never by ``assert``: asserts vanish
    under ``python -O``, and pytest rewrites them (and their messages) in every module of a
    distribution that ships a pytest plugin, as oisa does."""


def require(condition: object, message: str) -> None:
    """Raise PropertyFailed(``message``) unless ``condition`` holds."""
    if not condition:
        raise PropertyFailed(message)


def describe_error(exc: BaseException) -> str:
    """One line: an assertion's own message, anything else with its type (an unexpected
    exception is itself the finding)."""
    text = " ".join(str(exc).split())
    if isinstance(exc, AssertionError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def explore(strategy: st.SearchStrategy[T], check: Callable[[T], None], *, examples: int,
            seed: int) -> Exploration[T]:
    """Try ``check`` on up to ``examples`` inputs drawn from ``strategy``, deterministically for
    ``seed``; a check fails by raising. Errors of Hypothesis itself (an unsatisfiable strategy)
    propagate: they are bugs of the caller, not findings."""
    failures: list[Counterexample[T]] = []
    tried = first_failure = 0

    @fixed_seed(seed)
    @settings(max_examples=examples, database=None, deadline=None, derandomize=False,
              verbosity=Verbosity.quiet, report_multiple_bugs=False, print_blob=False,
              phases=(Phase.explicit, Phase.generate, Phase.target, Phase.shrink),
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(example: T) -> None:
        nonlocal tried, first_failure
        tried += 1
        try:
            check(example)
        except Exception as exc:
            if not failures:
                first_failure = tried
            failures.append(Counterexample(example, describe_error(exc)))
            raise

    try:
        run()
    except Exception:
        if not failures:
            raise
        return Exploration(first_failure, seed, failures[-1])
    return Exploration(tried, seed, None)
