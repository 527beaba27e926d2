"""Checks a vendor runs on their own objects, built by factories they hand over, the way
``trio.testing.check_two_way_stream(maker)`` checks a stream: from a test, with no registration
and nothing to configure::

    from oisa.testing import check_adapter, check_link

    def test_acme_adapter():
        check_adapter(lambda card: AcmeAdapter(card, load_profile("acme-x1.toml")))

    def test_acme_link():
        check_link(lambda: (AcmeEndpoint("a"), AcmeEndpoint("b")))

Each returns quietly when the object keeps every rule and raises :class:`CheckFailed` (an
``AssertionError``, so any test runner reports it as a failure) naming the rule broken, what
went wrong and the minimal example Hypothesis shrank the failure to. The same seed tries the
same examples, so a failure is repeated exactly by running the check again.

The name-based conformance kit (``oisa conformance NAME``, ``pytest --oisa-adapter NAME``) is a
front end to :func:`check_adapter`'s cases: it finds the factory a card would use (the
registered class with a profile) and runs the same cases through the same code.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from typing import Any

from oisa.errors import UsageError
from oisa.link import PassRule
from oisa.testing import CONFORMANCE_EXAMPLES
from oisa.testing._explore import explore
from oisa.testing._link_script import SETTLE_PS, check_script, link_inputs
from oisa.testing.conformance import AdapterFactory, CaseResult, ConformanceReport, Level, factory_subject, run_cases
from oisa.testing.link import PairFactory, SansIOLinkEndpoint

__all__ = ["LINK_EXAMPLES", "CheckFailed", "ConformanceWarning", "check_adapter", "check_link"]

LINK_EXAMPLES = 100  # generated runs of the link per check_link


class CheckFailed(AssertionError):
    """A check found a rule broken. ``rule`` names it (a conformance case's ID and level, or the
    link's promise), ``reason`` says what went wrong, ``example`` is the minimal input that shows
    it (JSON-able, None where nothing is generated) and ``report``, for :func:`check_adapter`,
    the conformance report up to the failure."""

    def __init__(self, rule: str, reason: str, example: Any = None, report: ConformanceReport | None = None) -> None:
        self.rule = rule
        self.reason = reason
        self.example = example
        self.report = report
        text = f"{rule}: {reason}"
        if example is not None:
            text += f"\nminimal example: {json.dumps(example)}"
        super().__init__(text)


class ConformanceWarning(UserWarning):
    """A SHOULD case failed: the adapter conforms, but not as well as it should."""


def _case_text(result: CaseResult) -> str:
    return f"{result.case.id} ({result.case.level.value}: {result.case.rule})"


def check_adapter(make_adapter: AdapterFactory, *, examples: int = CONFORMANCE_EXAMPLES, seed: int = 0,
                  cases: Iterable[str] | None = None, strict: bool = False) -> ConformanceReport:
    """Hold the adapter ``make_adapter(card_id)`` builds to oisa's conformance cases
    (``specs/conformance.md``), in order, with up to ``examples`` generated examples per case
    from ``seed``: all of them, or the IDs in ``cases``.

    The factory builds a fresh adapter for the card with that id whenever a case needs one
    (adapters may keep state per card), with the device profile its cards would have: the kit
    reads the profile off the adapter (``DeviceAdapter.__init__`` keeps it), and in the
    end-to-end cases two cards of that profile on one OISA link carry the factory's adapters.
    The adapter need not be registered.

    The first failed MUST case raises :class:`CheckFailed` with the case's ID, what went wrong
    and the minimal example, and no case after it runs. A failed SHOULD case is issued as a
    :class:`ConformanceWarning` (``strict``: raised as CheckFailed, like a MUST case). A case
    the adapter's capabilities make inapplicable is skipped. Returns the report of every case
    run. Arguments that cannot be used raise :class:`~oisa.errors.UsageError` naming the
    keyword before any case runs.
    """
    if not isinstance(strict, bool):
        raise UsageError("expected True or False", parameter="strict", value=strict)
    under_test = factory_subject(make_adapter)

    def stops(result: CaseResult) -> bool:
        return result.outcome == "failed" and (strict or result.case.level is Level.MUST)

    report = run_cases(under_test, examples=examples, seed=seed, cases=cases, stop=stops)
    for result in report.results:
        if result.outcome == "failed" and not stops(result):
            warnings.warn(ConformanceWarning(f"{_case_text(result)}: {result.reason}"), stacklevel=2)
    if report.results and stops(report.results[-1]):
        last = report.results[-1]
        raise CheckFailed(_case_text(last), last.reason, last.example, report)
    return report


def check_link(make_pair: PairFactory, *, examples: int = LINK_EXAMPLES, seed: int = 0,
               may_pass: PassRule | None = None, settle_ps: int = SETTLE_PS) -> None:
    """Hold the two link endpoints ``make_pair()`` builds (fresh and unstarted, each call; oisa's
    :class:`~oisa.link.LinkEndpoint` or any that follow its sans-IO interface,
    :class:`~oisa.testing.link.SansIOLinkEndpoint`) to what a link promises, over ``examples``
    generated runs from ``seed``.

    Each run queues generated messages at both ends and drives the pair over a wire that drops,
    corrupts and duplicates a script of its first frames, with a fast or a slow consumer; after
    every step what each end has received must be what the other sent, once each, in the order
    sent (with ``may_pass``, the endpoints' rule for letting a blocked message be overtaken:
    only the overtakings it permits), credits must stay between none and what was advertised,
    and no end may hold more received messages than it advertised room for. Within
    ``settle_ps`` of virtual time every message must have arrived and the link be quiet, never
    gone down for good.

    The first broken promise raises :class:`CheckFailed` with what went wrong and the minimal
    run (messages, fault script, consumer), which ``oisa fuzz --replay`` can rerun on oisa's
    own endpoints. What the endpoints raise themselves is reported the same way.
    """
    if not callable(make_pair):
        raise UsageError("expected a callable: make_pair() -> (endpoint, endpoint)", parameter="make_pair",
                         value=type(make_pair).__name__)
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise UsageError("expected a whole number of examples, at least 1", parameter="examples", value=examples)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError("a seed is an integer, 0 or more", parameter="seed", value=seed)
    if isinstance(settle_ps, bool) or not isinstance(settle_ps, int) or settle_ps < 1:
        raise UsageError("expected a positive number of picoseconds", parameter="settle_ps", value=settle_ps)
    _require_pair(make_pair)

    def check(example: dict[str, Any]) -> None:
        check_script(make_pair, example, may_pass=may_pass, settle_ps=settle_ps)

    found = explore(link_inputs(), check, examples=examples, seed=seed)
    if found.failure is not None:
        raise CheckFailed("every message once, in order, within credits", found.failure.error,
                          found.failure.example)


def _require_pair(make_pair: PairFactory) -> None:
    """A factory that does not give two endpoints is the caller's mistake, said before any run."""
    pair = make_pair()
    if not (isinstance(pair, tuple) and len(pair) == 2):
        raise UsageError(f"make_pair() returned {type(pair).__name__}, not a tuple of two endpoints",
                         parameter="make_pair")
    for which, endpoint in zip("ab", pair):
        if not isinstance(endpoint, SansIOLinkEndpoint):
            missing = [name for name in ("start", "queue", "release", "next_frame", "receive_frame", "next_deadline",
                                         "on_timer", "idle", "failure", "credit_keys", "send_credits", "advertised")
                       if not hasattr(endpoint, name)]
            raise UsageError(f"endpoint {which} ({type(endpoint).__name__}) lacks {', '.join(missing)} of the sans-IO "
                             f"link interface (oisa.testing.link.SansIOLinkEndpoint)", parameter="make_pair")
