"""The JSON of a fixed set of commands, pinned: restructuring the code must not change a figure.

Each line of ``data/cli-baseline/commands.txt`` is an ``oisa`` command; ``NN.json`` beside it is
what that command printed when the baseline was taken. A change that moves figures on purpose
(a model corrected) regenerates the files with ``OISA_REGENERATE_BASELINE=1 pytest
tests/test_cli_baseline.py`` and says why in its commit; a refactoring never does.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from oisa.cli import main

BASELINE = Path(__file__).parent / "data" / "cli-baseline"
COMMANDS = [line for line in (BASELINE / "commands.txt").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("index", range(len(COMMANDS)), ids=[c.split(" --json")[0] for c in COMMANDS])
def test_json_is_unchanged(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    command = COMMANDS[index]
    assert main(shlex.split(command)) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    path = BASELINE / f"{index + 1:02d}.json"
    if os.environ.get("OISA_REGENERATE_BASELINE"):
        path.write_text(printed)
    assert json.loads(printed) == json.loads(path.read_text()), command
