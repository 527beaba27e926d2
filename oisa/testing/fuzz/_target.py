"""What every fuzz target is: a strategy of JSON-able inputs and a check that raises on a bad one.

Inputs are plain JSON values (hex strings for bytes, field dicts for messages) so that the
minimal failing input Hypothesis finds can be printed, saved to a file and replayed as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

__all__ = ["FuzzTarget"]


@dataclass(frozen=True)
class FuzzTarget:
    name: str  # as --target names it: wire:FMT, link, adapter:NAME
    summary: str  # the properties checked, for --help and the report
    inputs: st.SearchStrategy[Any]
    check: Callable[[Any], None]  # raises (AssertionError, or the code's own exception) on a failure
