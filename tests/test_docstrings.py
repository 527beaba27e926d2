"""Every module of the package opens by saying what it owns (issue 14, item 9): a docstring of at
least one sentence before any code, so the next engineer reads the why before the how."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "oisa"
MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_each_module_opens_with_a_docstring_that_says_what_it_owns(path: Path) -> None:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    first = doc.split("\n\n")[0].strip()
    assert len(first.split()) >= 4 and first[-1] in ".:)?", f"{path}: its docstring does not open with a sentence"
