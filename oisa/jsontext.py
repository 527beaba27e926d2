"""JSON text from users and files, read into one typed error whatever the text holds.

Python's ``json`` module fails in three ways: ``JSONDecodeError`` for bad syntax, ``ValueError``
for an integer of more digits than Python converts (4,300 by default: a guard against the
quadratic cost of converting huge decimals), and ``RecursionError`` for arrays or objects
nested deeper than the interpreter's recursion limit. Every command and file reader of oisa
that takes JSON goes through :func:`parse_json`, which turns all three into a
:class:`~oisa.errors.UsageError` saying what is wrong.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from oisa.errors import UsageError

__all__ = ["parse_json"]


def parse_json(text: str) -> Any:
    """The value ``text`` holds; UsageError saying what is wrong if it is not JSON oisa can read
    (the caller adds where the text came from)."""
    try:
        return json.loads(text, parse_int=_integer)
    except json.JSONDecodeError as exc:
        raise UsageError(f"not JSON: {exc}") from None
    except RecursionError:
        raise UsageError(f"not JSON oisa can read: arrays or objects nested more than about "
                         f"{sys.getrecursionlimit()} deep") from None


def _integer(digits: str) -> int:
    try:
        return int(digits)
    except ValueError:
        raise UsageError(f"not JSON oisa can read: an integer of {len(digits.lstrip('-'))} digits, more than the "
                         f"{sys.get_int_max_str_digits()} Python converts") from None
