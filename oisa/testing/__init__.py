"""What oisa's users test their own work with: checks they run on their own adapters and link
layers, built by factories (:func:`check_adapter`, :func:`check_link`, the
:class:`LinkStateMachine`; :mod:`oisa.testing.checks`), public Hypothesis strategies for frames
and messages (``oisa.testing.strategies``), the adapter conformance kit by registered name
(``oisa.testing.conformance``, also a pytest plugin) and the fuzzer (``oisa.testing.fuzz``).

This package module itself stays light: the command line reads the defaults below without
importing Hypothesis, and the pytest plugin imports it in every test run of everyone who has
oisa installed. The checks load when first named (``oisa.testing.check_adapter``).

What it must not know: nothing of oisa is closed to it. The rule runs the other way: only the
command line and the spec generator import it, no layer does.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["CONFORMANCE_EXAMPLES", "FUZZ_EXAMPLES", "CheckFailed", "ConformanceWarning", "LinkStateMachine",
           "check_adapter", "check_link", "link_state_machine"]

CONFORMANCE_EXAMPLES = 25  # generated examples per conformance case (end-to-end cases run a few fabrics)
FUZZ_EXAMPLES = 100  # generated inputs per fuzz run

_LAZY = {"CheckFailed": "oisa.testing.checks", "ConformanceWarning": "oisa.testing.checks",
         "check_adapter": "oisa.testing.checks", "check_link": "oisa.testing.checks",
         "LinkStateMachine": "oisa.testing.link_machine", "link_state_machine": "oisa.testing.link_machine"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
